
Program stopped.
0xb7fe65c0 in ?? () from /lib/ld-linux.so.2
process 2272
Mapped address spaces:

	Start Addr   End Addr       Size     Offset  Perms   objfile
	0x41000000 0x41001000     0x1000        0x0  r--p   /tmp/vasim-record/pthreads32
	0x41001000 0x41002000     0x1000     0x1000  r-xp   /tmp/vasim-record/pthreads32
	0x41002000 0x41003000     0x1000     0x2000  r--p   /tmp/vasim-record/pthreads32
	0x41003000 0x41005000     0x2000     0x2000  rw-p   /tmp/vasim-record/pthreads32
	0xb7fc3000 0xb7fc7000     0x4000        0x0  r--p   [vvar]
	0xb7fc7000 0xb7fc9000     0x2000        0x0  r--p   [vvar_vclock]
	0xb7fc9000 0xb7fcb000     0x2000        0x0  r-xp   [vdso]
	0xb7fcb000 0xb7fcc000     0x1000        0x0  r--p   /usr/lib32/ld-linux.so.2
	0xb7fcc000 0xb7fef000    0x23000     0x1000  r-xp   /usr/lib32/ld-linux.so.2
	0xb7fef000 0xb7ffd000     0xe000    0x24000  r--p   /usr/lib32/ld-linux.so.2
	0xb7ffd000 0xb8000000     0x3000    0x31000  rw-p   /usr/lib32/ld-linux.so.2
	0xbffdf000 0xc0000000    0x21000        0x0  rw-p   [stack]
