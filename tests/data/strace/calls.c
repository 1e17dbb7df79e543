/* calls.c: every call the strace parser decodes beyond mmap/munmap/mprotect/mremap/brk.
   gcc -O1 -pthread -o calls64 calls.c ; gcc -m32 -O1 -pthread -o calls32 calls.c
   strace -f -o T ./callsNN */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static void *thread(void *arg) { return arg; }
static char stack[65536];
static int child(void *arg) { return 0; }

int main(void) {
    long pg = 4096;
    char *p = mmap(NULL, 32 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    madvise(p, 4 * pg, MADV_DONTNEED);
    madvise(p + 4 * pg, 4 * pg, MADV_DONTFORK);
    madvise(p + 8 * pg, 2 * pg, MADV_WIPEONFORK);
    madvise(p, 16 * pg, MADV_HUGEPAGE);
    madvise(p, 16 * pg, 12345);                          /* EINVAL */
    mlock(p, pg);
    syscall(SYS_mlock2, p + pg, pg, MLOCK_ONFAULT);
    munlock(p, 2 * pg);
    mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT);
    munlockall();
    syscall(462, p + 12 * pg, 2 * pg, 0UL);              /* mseal */
    int id = shmget(IPC_PRIVATE, 3 * pg, IPC_CREAT | 0600);
    char *s = shmat(id, NULL, SHM_RDONLY);
    shmdt(s);
    s = shmat(id, p + 16 * pg + 123, SHM_RND | SHM_REMAP);  /* over part of p */
    shmdt(s);
    shmctl(id, IPC_RMID, NULL);
    int key = syscall(SYS_pkey_alloc, 0, 0);
    syscall(SYS_pkey_mprotect, p, pg, PROT_READ, -1);
    if (key >= 0) { syscall(SYS_pkey_mprotect, p, pg, PROT_READ | PROT_WRITE, key); syscall(SYS_pkey_free, key); }
    int fd = open("/tmp/trc/file.bin", O_RDWR | O_CREAT, 0600);
    ftruncate(fd, 8 * pg);
    char *f = mmap(NULL, 8 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    remap_file_pages(f, 2 * pg, 0, 3, 0);
    int pidfd = syscall(SYS_pidfd_open, getpid(), 0);
    struct iovec iov = { p, 4 * pg };
    syscall(SYS_process_madvise, pidfd, &iov, 1, MADV_COLD, 0);
    char *q = mremap(p + 8 * pg, pg, 2 * pg, MREMAP_MAYMOVE);
    mremap(q, 2 * pg, 2 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, p + 24 * pg);
    syscall(SYS_personality, 0xffffffffUL);
    syscall(SYS_personality, (unsigned long)(PER_LINUX | ADDR_NO_RANDOMIZE));
    chdir("/tmp");
    int dir = open("/tmp/trc", O_RDONLY | O_DIRECTORY);
    fchdir(dir);
    pthread_t t;
    pthread_create(&t, NULL, thread, NULL);
    pthread_join(t, NULL);
    pid_t pid = fork();
    if (pid == 0) { char *argv[] = {"/nonexistent/prog", NULL}; execv(argv[0], argv); _exit(3); }
    waitpid(pid, NULL, 0);
    pid = vfork();
    if (pid == 0) { char *argv[] = {"true-ish", NULL}; execv("/bin/true", argv); _exit(4); }
    waitpid(pid, NULL, 0);
    pid = clone(child, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, NULL);
    waitpid(pid, NULL, 0);
    pid = fork();
    if (pid == 0) { raise(SIGKILL); }
    waitpid(pid, NULL, 0);
    syscall(SYS_personality, (unsigned long)PER_LINUX);
    return 0;
}
