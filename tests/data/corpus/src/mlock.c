/* mlock under a lowered RLIMIT_MEMLOCK, recorded as `prlimit --memlock=65536:65536 -- mlock`
 * (tools/record_corpus.py): as root it holds CAP_IPC_LOCK, so every mlock succeeds whatever
 * the limit (mm/mlock.c can_do_mlock); the recording shows prlimit's prlimit64 setting the
 * limit and the program's calls under it. */
#include <stdio.h>
#include <sys/mman.h>

int main(void)
{
    size_t n = 1 << 20;
    char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    printf("mlock 1M: %d\n", mlock(p, n));
    printf("mlock 32K: %d\n", mlock(p, 32768));
    printf("mlock 64K: %d\n", mlock(p, 65536));
    munlock(p, n);
    return 0;
}
