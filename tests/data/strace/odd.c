#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <unistd.h>
int main(void){
  int fd = open("/etc/hostname", O_RDONLY);
  mmap(0, 4096, PROT_READ, 0, -1, 0);
  mmap(0, 4096, PROT_READ, 0x3|MAP_ANONYMOUS, -1, 0);
  mmap(0, 4096, PROT_READ, 0x4|MAP_ANONYMOUS, -1, 0);
  mmap(0, 4096, PROT_READ|0x10, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
  mmap(0, 4096, 0x10, MAP_PRIVATE|MAP_ANONYMOUS|0x200, -1, 0);
  mmap(0, 4096, PROT_READ, MAP_PRIVATE, fd, 4096*3);
  void *p = mmap(0, 8192, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS|MAP_32BIT, -1, 0);
  void *q = mmap(0, 1<<20, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
  mremap(p, 8192, 16384, MREMAP_MAYMOVE|MREMAP_FIXED, q);
  mremap(q, 4096, 4096, 0);
  mremap(q, 4096, 4096, MREMAP_MAYMOVE|MREMAP_DONTUNMAP|0x40);
  mprotect(q, 4096, PROT_READ|PROT_GROWSDOWN);
  mprotect(q, 4096, 0x20);
  munmap(0, 0);
  brk(0);
  brk((void*)0x1000);
  int fd3 = dup3(fd, 9, O_CLOEXEC); close(fd3);
  int s = creat("/tmp/vs/x y>z", 0644); mmap(0, 4096, PROT_READ, MAP_SHARED, s, 0); close(s);
  unlink("/tmp/vs/x y>z");
  int m = memfd_create("myfd", 0); ftruncate(m, 4096); mmap(0, 4096, PROT_READ|PROT_WRITE, MAP_SHARED, m, 0);
  return 0;
}
