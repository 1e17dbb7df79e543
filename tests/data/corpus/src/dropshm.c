/* A program that drops root for nobody and then uses SysV shared memory, built -m32
 * (tools/record_corpus.py: dropshm32). As root it creates segments of modes 0600 and 0644
 * and attaches the first, then forks a child that becomes nobody (setresgid, setresuid:
 * every capability gone): the 0600 segment is EACCES, the 0644 one attaches read-only but
 * not read-write (EACCES), IPC_RMID of root's segment is EPERM, mlock of 64 KiB succeeds
 * (no CAP_IPC_LOCK, but within RLIMIT_MEMLOCK's 8 MiB) and setuid(0) is EPERM. The parent
 * waits and removes both segments. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>

int main(void)
{
    int id = shmget(IPC_PRIVATE, 65536, IPC_CREAT | 0600);
    int id2 = shmget(IPC_PRIVATE, 65536, IPC_CREAT | 0644);
    void *a = shmat(id, NULL, 0), *b, *c, *d;
    pid_t child;

    setvbuf(stdout, NULL, _IONBF, 0);
    printf("root shmat %p\n", a);
    child = fork();
    if (child == 0) {
        if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
            _exit(1);
        b = shmat(id, NULL, 0);
        printf("nobody shmat 0600 %p errno %d\n", b, errno);
        c = shmat(id2, NULL, SHM_RDONLY);
        printf("nobody shmat 0644 ro %p\n", c);
        d = shmat(id2, NULL, 0);
        printf("nobody shmat 0644 rw %p errno %d\n", d, errno);
        printf("rmid by nobody %d errno %d\n", shmctl(id, IPC_RMID, NULL), errno);
        printf("mlock %d errno %d\n", mlock(c, 65536), errno);
        printf("setuid(0) %d errno %d\n", setuid(0), errno);
        shmdt(c);
        return 0;
    }
    waitpid(child, NULL, 0);
    shmdt(a);
    shmctl(id, IPC_RMID, NULL);
    shmctl(id2, IPC_RMID, NULL);
    return 0;
}
