
Program stopped.
0x00007ffff7fe4b70 in _start () from /lib64/ld-linux-x86-64.so.2
process 2154
Mapped address spaces:

          Start Addr           End Addr       Size     Offset  Perms  objfile
      0x555555554000     0x555555555000     0x1000        0x0  r--p   /tmp/vasim-record/pthreads64
      0x555555555000     0x555555556000     0x1000     0x1000  r-xp   /tmp/vasim-record/pthreads64
      0x555555556000     0x555555557000     0x1000     0x2000  r--p   /tmp/vasim-record/pthreads64
      0x555555557000     0x555555559000     0x2000     0x2000  rw-p   /tmp/vasim-record/pthreads64
      0x7ffff7fc2000     0x7ffff7fc6000     0x4000        0x0  r--p   [vvar]
      0x7ffff7fc6000     0x7ffff7fc8000     0x2000        0x0  r--p   [vvar_vclock]
      0x7ffff7fc8000     0x7ffff7fca000     0x2000        0x0  r-xp   [vdso]
      0x7ffff7fca000     0x7ffff7fcb000     0x1000        0x0  r--p   /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
      0x7ffff7fcb000     0x7ffff7ff1000    0x26000     0x1000  r-xp   /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
      0x7ffff7ff1000     0x7ffff7ffb000     0xa000    0x27000  r--p   /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
      0x7ffff7ffb000     0x7ffff7fff000     0x4000    0x31000  rw-p   /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
      0x7ffffffde000     0x7ffffffff000    0x21000        0x0  rw-p   [stack]
  0xffffffffff600000 0xffffffffff601000     0x1000        0x0  --xp   [vsyscall]
