#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <pthread.h>
static void *thr(void *a){ void *p = mmap(0, 1<<20, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0); munmap(p, 1<<20); return a; }
int main(int argc, char **argv){
  void *p = malloc(200000); (void)p;
  void *q = mmap(0, 8192, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE, -1, 0);
  mprotect(q, 4096, PROT_READ);
  q = mremap(q, 8192, 65536, MREMAP_MAYMOVE);
  void *bad = mmap(0, 8192, PROT_READ, MAP_PRIVATE, 12345, 0); (void)bad;
  void *huge = mmap(0, (size_t)1<<40, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0); (void)huge;
  pthread_t t[4]; for(int i=0;i<4;i++) pthread_create(&t[i],0,thr,0); for(int i=0;i<4;i++) pthread_join(t[i],0);
  const char *what = argc > 1 ? argv[1] : "maps";
  char path[64]; snprintf(path, sizeof path, "/proc/self/%s", what);
  FILE *f = fopen(path, "r"); int c; while((c=fgetc(f))!=EOF) putchar(c);
  return 0;
}
