
Program stopped.
0xf7fe45c0 in ?? () from /lib/ld-linux.so.2
process 3757
Mapped address spaces:

	Start Addr   End Addr       Size     Offset  Perms   objfile
	0x56555000 0x56556000     0x1000        0x0  r--p   /tmp/vasim-record/threxhaust32
	0x56556000 0x56557000     0x1000     0x1000  r-xp   /tmp/vasim-record/threxhaust32
	0x56557000 0x56558000     0x1000     0x2000  r--p   /tmp/vasim-record/threxhaust32
	0x56558000 0x5655a000     0x2000     0x2000  rw-p   /tmp/vasim-record/threxhaust32
	0xf7fc1000 0xf7fc5000     0x4000        0x0  r--p   [vvar]
	0xf7fc5000 0xf7fc7000     0x2000        0x0  r--p   [vvar_vclock]
	0xf7fc7000 0xf7fc9000     0x2000        0x0  r-xp   [vdso]
	0xf7fc9000 0xf7fca000     0x1000        0x0  r--p   /usr/lib32/ld-linux.so.2
	0xf7fca000 0xf7fed000    0x23000     0x1000  r-xp   /usr/lib32/ld-linux.so.2
	0xf7fed000 0xf7ffb000     0xe000    0x24000  r--p   /usr/lib32/ld-linux.so.2
	0xf7ffb000 0xf7ffe000     0x3000    0x31000  rw-p   /usr/lib32/ld-linux.so.2
	0xfffdd000 0xffffe000    0x21000        0x0  rw-p   [stack]
