/* Fork and exec: a child that execs /bin/true, a child that only maps and unmaps, and the
 * parent's own calls after both. The children start from a copy of the parent's address
 * space (kernel/fork.c dup_mmap), including a malloc'd block above the mmap threshold. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    char *block = malloc(300 * 1024);   /* above M_MMAP_THRESHOLD: its own mapping */
    memset(block, 1, 4096);
    int status = 0;
    pid_t pid = fork();
    if (pid == 0) {
        char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        p[0] = 1;
        munmap(p + 4096, 8192);
        free(block);
        execl("/bin/true", "true", (char *)0);
        _exit(127);
    }
    waitpid(pid, &status, 0);
    pid = fork();
    if (pid == 0) {
        char *p = mmap(NULL, 64 << 10, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        mprotect(p, 4096, PROT_NONE);
        free(block);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    char *q = mmap(NULL, 3 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(q, 3 << 20);
    free(block);
    return WEXITSTATUS(status);
}
