#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <pthread.h>
#include <fcntl.h>
#include <unistd.h>
static void *thr(void *a){
  for (int i = 0; i < 20; i++) {
    void *p = mmap(0, 1<<16, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
    mprotect(p, 4096, PROT_NONE);
    p = mremap(p, 1<<16, 1<<18, MREMAP_MAYMOVE);
    munmap(p, 1<<18);
  }
  return a;
}
int main(void){
  void *p = malloc(300000); free(p);
  void *s = sbrk(0); brk((char*)s + 8192);
  int fd = open("/etc/passwd", O_RDONLY);
  void *m = mmap(0, 4096, PROT_READ, MAP_SHARED, fd, 0); munmap(m, 4096);
  int fd2 = dup(fd); dup2(fd2, 20); close(fd2); close(20); close(fd);
  mmap(0, 8192, PROT_READ, MAP_PRIVATE, 12345, 0);
  mmap(0, (size_t)-1 >> 1, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
  mmap((void*)0x10000000, 4096, PROT_READ|PROT_WRITE|PROT_EXEC, MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED_NOREPLACE|MAP_NORESERVE, -1, 0);
  mmap(0, 2<<20, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_HUGETLB|(21<<26), -1, 0);
  mmap(0, 1<<20, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK|MAP_GROWSDOWN|MAP_POPULATE, -1, 0);
  mmap(0, 4096, PROT_READ|0x8, 0x2|0x20|0x8000000, -1, 0);
  printf("hello from the program\n"); fflush(stdout);
  pthread_t t[4]; for(int i=0;i<4;i++) pthread_create(&t[i],0,thr,0); for(int i=0;i<4;i++) pthread_join(t[i],0);
  return 0;
}
