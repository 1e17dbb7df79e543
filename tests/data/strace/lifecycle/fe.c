#include <unistd.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <sys/mman.h>
int main(){char*p=malloc(200000);p[0]=1;void*m=mmap(0,8192,3,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);
pid_t c=fork(); if(c==0){void*x=mmap(0,4096,3,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);munmap(m,4096);execl("/bin/true","true",(char*)0);_exit(1);}
waitpid(c,0,0); munmap(m,8192); free(p); return 0;}
