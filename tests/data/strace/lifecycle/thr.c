#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
static void*f(void*a){void*p=malloc(100000);void*q=mmap(0,65536,3,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);munmap(q,65536);free(p);return 0;}
int main(){pthread_t t[4];for(int i=0;i<4;i++)pthread_create(&t[i],0,f,0);for(int i=0;i<4;i++)pthread_join(t[i],0);return 0;}
