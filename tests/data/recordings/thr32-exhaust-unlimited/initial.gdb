
Program stopped.
0x2aa915c0 in ?? () from /lib/ld-linux.so.2
process 5476
Mapped address spaces:

	Start Addr   End Addr       Size     Offset  Perms   objfile
	0x2aa6e000 0x2aa72000     0x4000        0x0  r--p   [vvar]
	0x2aa72000 0x2aa74000     0x2000        0x0  r--p   [vvar_vclock]
	0x2aa74000 0x2aa76000     0x2000        0x0  r-xp   [vdso]
	0x2aa76000 0x2aa77000     0x1000        0x0  r--p   /usr/lib32/ld-linux.so.2
	0x2aa77000 0x2aa9a000    0x23000     0x1000  r-xp   /usr/lib32/ld-linux.so.2
	0x2aa9a000 0x2aaa8000     0xe000    0x24000  r--p   /usr/lib32/ld-linux.so.2
	0x2aaa8000 0x2aaab000     0x3000    0x31000  rw-p   /usr/lib32/ld-linux.so.2
	0x56555000 0x56556000     0x1000        0x0  r--p   /tmp/vasim-record/threxhaust32
	0x56556000 0x56557000     0x1000     0x1000  r-xp   /tmp/vasim-record/threxhaust32
	0x56557000 0x56558000     0x1000     0x2000  r--p   /tmp/vasim-record/threxhaust32
	0x56558000 0x5655a000     0x2000     0x2000  rw-p   /tmp/vasim-record/threxhaust32
	0xfffdd000 0xffffe000    0x21000        0x0  rw-p   [stack]
