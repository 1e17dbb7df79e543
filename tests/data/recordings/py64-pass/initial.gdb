
Program stopped.
0x00007ffff7fe4b70 in _start () from /lib64/ld-linux-x86-64.so.2
process 2052
Mapped address spaces:

          Start Addr           End Addr       Size     Offset  Perms  objfile
            0x400000           0x41f000    0x1f000        0x0  r--p   /usr/bin/python3.11
            0x41f000           0x6d2000   0x2b3000    0x1f000  r-xp   /usr/bin/python3.11
            0x6d2000           0x945000   0x273000   0x2d2000  r--p   /usr/bin/python3.11
            0x945000           0xa85000   0x140000   0x544000  rw-p   /usr/bin/python3.11
            0xa85000           0xaca000    0x45000        0x0  rw-p   
      0x7ffff7fc2000     0x7ffff7fc6000     0x4000        0x0  r--p   [vvar]
      0x7ffff7fc6000     0x7ffff7fc8000     0x2000        0x0  r--p   [vvar_vclock]
      0x7ffff7fc8000     0x7ffff7fca000     0x2000        0x0  r-xp   [vdso]
      0x7ffff7fca000     0x7ffff7fcb000     0x1000        0x0  r--p   /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
      0x7ffff7fcb000     0x7ffff7ff1000    0x26000     0x1000  r-xp   /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
      0x7ffff7ff1000     0x7ffff7ffb000     0xa000    0x27000  r--p   /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
      0x7ffff7ffb000     0x7ffff7fff000     0x4000    0x31000  rw-p   /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
      0x7ffffffde000     0x7ffffffff000    0x21000        0x0  rw-p   [stack]
  0xffffffffff600000 0xffffffffff601000     0x1000        0x0  --xp   [vsyscall]
