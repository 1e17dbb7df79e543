/* Port (own words, same calls) of LTP's madvise01/02, mlock01/02, mlock201/202/203 and
 * shmat01/02/04, in one process (LTP's harness forks a child per test; replay of whole
 * programs is another branch's work). Each block makes the calls its LTP test makes and
 * prints the kernel's answer; the recording keeps the answers, replay must give the same.
 * Run as root: the EPERM/ENOMEM cases of mlock02/mlock202 that need an unprivileged user
 * are left out, as is shmat01's child that writes to an SHM_RDONLY attach (it forks). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif

static long pg;

static void show(const char *what, long ret)
{
    printf("%-40s %ld %s\n", what, ret, ret < 0 ? strerror(errno) : "");
}

#define ADV(p, len, advice) show("madvise " #advice, madvise(p, len, advice))

/* madvise01: every advice on a file mapping and on anonymous memory succeeds. */
static void madvise01(int fd, size_t size)
{
    char *f = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    char *a = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(a, 1, size);
    char *both[] = {f, a};
    for (int i = 0; i < 2; i++) {
        char *p = both[i];
        ADV(p, size, MADV_NORMAL);
        ADV(p, size, MADV_RANDOM);
        ADV(p, size, MADV_SEQUENTIAL);
        ADV(p, size, MADV_WILLNEED);
        ADV(p, size, MADV_DONTNEED);
        ADV(p, size, MADV_REMOVE);        /* shared file: EACCES/EINVAL/EOPNOTSUPP, anon: EINVAL */
        ADV(p, size, MADV_DONTFORK);
        ADV(p, size, MADV_DOFORK);
        ADV(p, size, MADV_MERGEABLE);
        ADV(p, size, MADV_UNMERGEABLE);
        ADV(p, size, MADV_HUGEPAGE);
        ADV(p, size, MADV_NOHUGEPAGE);
        ADV(p, size, MADV_DONTDUMP);
        ADV(p, size, MADV_DODUMP);
        ADV(p, size, MADV_FREE);
        ADV(p, size, MADV_WIPEONFORK);
        ADV(p, size, MADV_KEEPONFORK);
        ADV(p, size, MADV_COLD);
        ADV(p, size, MADV_PAGEOUT);
    }
    munmap(f, size);
    munmap(a, size);
}

/* madvise02: the errors. file1 is mlocked for the DONTNEED case, file2 loses its last page. */
static void madvise02(int fd, size_t size)
{
    char *file1 = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    char *file2 = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    char *file3 = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    char *shared_anon = mmap(NULL, 4 * pg, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    munmap(file2 + size - pg, pg);
    show("madvise unaligned", madvise(file1 + 100, size, MADV_NORMAL));
    show("madvise advice 1212", madvise(file1, size, 1212));
    ADV(file1, size, MADV_REMOVE);
    show("mlock file1", mlock(file1, size));
    ADV(file1, size, MADV_DONTNEED);
    ADV(file1, size, MADV_MERGEABLE);
    ADV(file1, size, MADV_UNMERGEABLE);
    show("madvise NORMAL over a hole", madvise(file2, size, MADV_NORMAL));
    show("madvise WILLNEED over a hole", madvise(file2, size, MADV_WILLNEED));
    ADV(file1, size, MADV_FREE);
    ADV(file1, size, MADV_WIPEONFORK);
    ADV(shared_anon, 4 * pg, MADV_WIPEONFORK);
    ADV(file3, size, MADV_WIPEONFORK);
    munlock(file1, size);
    munmap(file1, size);
    munmap(file2, size - pg);
    munmap(file3, size);
    munmap(shared_anon, 4 * pg);
}

/* mlock01: lock ranges of 1, 1024, 1024 * 1024 and 1024 * 1024 * 10 bytes of malloc'd
 * memory; mlock02: ENOMEM over unmapped memory. */
static void mlock01_02(void)
{
    static const size_t sizes[] = {1, 1024, 1024 * 1024, 1024 * 1024 * 10};
    for (int i = 0; i < 4; i++) {
        char *m = malloc(sizes[i]);
        show("mlock", mlock(m, sizes[i]));
        show("munlock", munlock(m, sizes[i]));
        free(m);
    }
    char *hole = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(hole, 2 * pg);
    show("mlock unmapped", mlock(hole, pg));
}

/* mlock201: mlock2 of whole, rounded-up and rounded-down ranges, with and without
 * MLOCK_ONFAULT, on memory partly faulted in; mlock202: an unknown flag is EINVAL, an
 * unmapped range ENOMEM; mlock203: mlock2(MLOCK_ONFAULT) then mlock2(0) of the same page. */
static void mlock2_tests(void)
{
    static const struct { int fault, lock_pages, extra, flags; } cases[] = {
        {0, 1, 0, 0}, {0, 8, 0, 0}, {0, 2, 1, 0}, {0, 2, -1, 0},
        {0, 1, 0, MLOCK_ONFAULT}, {4, 8, 0, MLOCK_ONFAULT}, {1, 4, 1, MLOCK_ONFAULT},
        {4, 4, -1, MLOCK_ONFAULT},
    };
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *m = mmap(NULL, 8 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        for (int f = 0; f < cases[i].fault; f++)
            m[f * pg] = 1;
        show("mlock2", mlock2(m, cases[i].lock_pages * pg + cases[i].extra, cases[i].flags));
        show("munlock", munlock(m, cases[i].lock_pages * pg + cases[i].extra));
        munmap(m, 8 * pg);
    }
    char *m = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    show("mlock2 flag 0x2", mlock2(m, pg, 0x2));
    munmap(m, pg);
    show("mlock2 unmapped", mlock2(m, pg, 0));
    m = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    show("mlock2 ONFAULT", mlock2(m, pg, MLOCK_ONFAULT));
    show("mlock2 again", mlock2(m, pg, 0));
    show("munlock", munlock(m, pg));
    munmap(m, pg);
}

static long shmat_(int id, void *addr, int flags)
{
    void *r = shmat(id, addr, flags);
    return r == (void *)-1 ? -1 : (long)r;
}

/* shmat01: NULL address, an aligned one, an unaligned one with SHM_RND, SHM_RDONLY;
 * shmat02: EINVAL for a bad id and an unaligned address; shmat04: mprotect splits an
 * attach and shmdt detaches all of it. */
static void shmat_tests(void)
{
    int id = shmget(IPC_PRIVATE, sizeof(int), SHM_R | SHM_W | IPC_CREAT | IPC_EXCL);
    void *addr = shmat(id, NULL, 0);
    show("shmat NULL", addr == (void *)-1 ? -1 : 0);
    show("shmdt", shmdt(addr));
    /* The aligned address LTP uses: a free one, found by attaching and detaching. */
    char *aligned = (char *)addr;
    addr = shmat(id, aligned, 0);
    show("shmat aligned", addr == aligned ? 0 : -1);
    shmdt(addr);
    addr = shmat(id, aligned + 1, SHM_RND);
    show("shmat SHM_RND", addr == aligned ? 0 : -1);
    shmdt(addr);
    addr = shmat(id, aligned, SHM_RDONLY);
    show("shmat SHM_RDONLY", addr == aligned ? 0 : -1);
    shmdt(addr);
    show("shmat bad id", shmat_(-1, aligned, 0));
    show("shmat unaligned", shmat_(id, aligned + 1, 0));
    shmctl(id, IPC_RMID, NULL);

    id = shmget(IPC_PRIVATE, 3 * pg, IPC_CREAT | IPC_EXCL | 0600);
    char *sh = shmat(id, NULL, 0);
    struct shmid_ds ds;
    show("mprotect PROT_NONE", mprotect(sh + pg, pg, PROT_NONE));
    show("mprotect PROT_WRITE", mprotect(sh, 2 * pg, PROT_WRITE));
    show("shmdt", shmdt(sh));
    shmctl(id, IPC_STAT, &ds);
    show("nattch", ds.shm_nattch);
    shmctl(id, IPC_RMID, NULL);
}

int main(void)
{
    pg = sysconf(_SC_PAGE_SIZE);
    size_t size = 10 * pg;
    int fd = open("ltp_calls.dat", O_RDWR | O_CREAT | O_TRUNC, 0664);
    char *line = malloc(size);
    memset(line, 'a', size);
    if (fd < 0 || write(fd, line, size) != (ssize_t)size)
        return 2;
    free(line);
    madvise01(fd, size);
    madvise02(fd, size);
    close(fd);
    mlock01_02();
    mlock2_tests();
    shmat_tests();
    return 0;
}
