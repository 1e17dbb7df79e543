/* Port (own words, same calls) of the kernel's selftests/mm/guard-regions.c, in one process:
 * the basic, multi_vma, munmap, mprotect, split_merge, dontneed, mlock, mremap_move,
 * mremap_expand, mremap_shrink, lazyfree, populate and cold_pageout cases, each for the
 * three backings the selftest has (private anonymous memory, a shared memfd, a shared
 * file in the working directory). MADV_GUARD_INSTALL puts guard markers in the page
 * tables (no VMA change, smaps "gu" on anonymous VMAs), MADV_GUARD_REMOVE takes them
 * out; an access to a guarded page is a SIGSEGV, caught here with sigsetjmp. The
 * fork, process_madvise, uffd and pagemap cases are left out (fork and process_madvise
 * are not single-process replays; uffd and pagemap change no mapping). Prints
 * "ok BACKING CASE" or "not ok" with the first failed check. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif

enum backing { ANON, SHMEM, FILEB };
static const char *backing_name[] = {"anon", "shmem", "file"};
static enum backing backing;
static int fd = -1;
static unsigned long pg;
static int failures;
static const char *failed_at;

static volatile sig_atomic_t armed;
static sigjmp_buf jump;

static void on_segv(int sig)
{
    (void)sig;
    if (armed)
        siglongjmp(jump, 1);
}

/* Read (and write, if asked) one byte: 1 when no SIGSEGV came. */
static int access_ok(char *p, int write)
{
    int ok = 1;
    armed = 1;
    if (sigsetjmp(jump, 1))
        ok = 0;
    else if (write)
        *(volatile char *)p = 'x';
    else
        (void)*(volatile char *)p;
    armed = 0;
    return ok;
}

static int rw_ok(char *p) { return access_ok(p, 0) && access_ok(p, 1); }

static char *map(void *addr, unsigned long pages, int prot, int extra, unsigned long off)
{
    if (backing == ANON)
        return mmap(addr, pages * pg, prot, MAP_PRIVATE | MAP_ANONYMOUS | extra, -1, off);
    return mmap(addr, pages * pg, prot, MAP_SHARED | extra, fd, off);
}

#define CHECK(c) do { if (!(c) && !failed_at) failed_at = #c; } while (0)
#define PAGE(p, i) ((p) + (i) * pg)

static void guard_range(char *p, int from, int to, int guarded)
{
    for (int i = from; i < to; i++)
        CHECK(rw_ok(PAGE(p, i)) == !guarded);
}

static void basic(void)
{
    char *p = map(NULL, 10, PROT_READ | PROT_WRITE, 0, 0);
    CHECK(rw_ok(p));
    CHECK(madvise(p, pg, MADV_GUARD_INSTALL) == 0);
    guard_range(p, 0, 1, 1);
    guard_range(p, 1, 10, 0);
    CHECK(madvise(PAGE(p, 9), pg, MADV_GUARD_INSTALL) == 0);
    guard_range(p, 9, 10, 1);
    CHECK(madvise(p, pg, MADV_GUARD_REMOVE) == 0);
    CHECK(madvise(PAGE(p, 9), pg, MADV_GUARD_REMOVE) == 0);
    guard_range(p, 0, 10, 0);
    CHECK(madvise(p, 3 * pg, MADV_GUARD_INSTALL) == 0);   /* over a faulted page too */
    guard_range(p, 0, 3, 1);
    guard_range(p, 3, 10, 0);
    CHECK(madvise(p, 10 * pg, MADV_GUARD_REMOVE) == 0);
    guard_range(p, 0, 10, 0);
    CHECK(madvise(p, 10 * pg, MADV_GUARD_REMOVE) == 0);   /* keeps the data */
    for (int i = 0; i < 10; i++)
        CHECK(p[i * pg] == 'x');
    CHECK(munmap(p, 10 * pg) == 0);
}

static void multi_vma(void)
{
    char *r = map(NULL, 100, PROT_NONE, 0, 0);
    CHECK(map(r, 10, PROT_READ | PROT_WRITE, MAP_FIXED, 0) == r);
    CHECK(map(PAGE(r, 50), 5, PROT_READ | PROT_WRITE, MAP_FIXED, 0) == PAGE(r, 50));
    CHECK(map(PAGE(r, 80), 20, PROT_READ | PROT_WRITE, MAP_FIXED, 0) == PAGE(r, 80));
    CHECK(munmap(PAGE(r, 10), 40 * pg) == 0);
    CHECK(munmap(PAGE(r, 55), 25 * pg) == 0);
    /* madvise goes on over the holes, then says ENOMEM */
    CHECK(madvise(r, 100 * pg, MADV_GUARD_INSTALL) == -1 && errno == ENOMEM);
    guard_range(r, 0, 10, 1);
    guard_range(r, 50, 55, 1);
    guard_range(r, 80, 100, 1);
    CHECK(madvise(r, 100 * pg, MADV_GUARD_REMOVE) == -1 && errno == ENOMEM);
    guard_range(r, 0, 10, 0);
    guard_range(r, 80, 100, 0);
    /* fill the holes with VMAs that cannot merge with their neighbours */
    CHECK(map(PAGE(r, 10), 40, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_FIXED, 0) != MAP_FAILED);
    CHECK(map(PAGE(r, 55), 25, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_FIXED, 0) != MAP_FAILED);
    CHECK(madvise(r, 100 * pg, MADV_GUARD_INSTALL) == 0);
    guard_range(r, 0, 100, 1);
    CHECK(madvise(r, 100 * pg, MADV_GUARD_REMOVE) == 0);
    guard_range(r, 0, 100, 0);
    CHECK(munmap(r, 100 * pg) == 0);
}

static void unmap_clears(void)
{
    char *p = map(NULL, 10, PROT_READ | PROT_WRITE, 0, 0);
    CHECK(madvise(p, pg, MADV_GUARD_INSTALL) == 0);
    CHECK(madvise(PAGE(p, 9), pg, MADV_GUARD_INSTALL) == 0);
    CHECK(munmap(p, pg) == 0);
    CHECK(munmap(PAGE(p, 9), pg) == 0);
    CHECK(map(p, 1, PROT_READ | PROT_WRITE, MAP_FIXED, 0) == p);
    CHECK(map(PAGE(p, 9), 1, PROT_READ | PROT_WRITE, MAP_FIXED, 0) == PAGE(p, 9));
    guard_range(p, 0, 1, 0);
    guard_range(p, 9, 10, 0);
    CHECK(munmap(p, 10 * pg) == 0);
}

static void protect(void)
{
    char *p = map(NULL, 10, PROT_READ | PROT_WRITE, 0, 0);
    CHECK(madvise(PAGE(p, 5), 2 * pg, MADV_GUARD_INSTALL) == 0);
    CHECK(mprotect(PAGE(p, 5), 2 * pg, PROT_READ) == 0);
    CHECK(!access_ok(PAGE(p, 5), 0) && !access_ok(PAGE(p, 6), 0));
    CHECK(madvise(PAGE(p, 5), 2 * pg, MADV_GUARD_INSTALL) == 0);
    CHECK(madvise(p, 10 * pg, MADV_GUARD_REMOVE) == 0);
    for (int i = 0; i < 10; i++)
        CHECK(access_ok(PAGE(p, i), 0));
    CHECK(munmap(p, 10 * pg) == 0);
}

static void split_merge(void)
{
    char *p = map(NULL, 10, PROT_READ | PROT_WRITE, 0, 0);
    CHECK(madvise(p, 10 * pg, MADV_GUARD_INSTALL) == 0);
    guard_range(p, 0, 10, 1);
    CHECK(munmap(PAGE(p, 2), pg) == 0);
    CHECK(munmap(PAGE(p, 5), pg) == 0);
    CHECK(munmap(PAGE(p, 8), pg) == 0);
    guard_range(p, 0, 2, 1);
    guard_range(p, 3, 5, 1);
    for (int i = 2; i <= 8; i += 3)
        CHECK(map(PAGE(p, i), 1, PROT_READ | PROT_WRITE, MAP_FIXED, i * pg) == PAGE(p, i));
    for (int i = 0; i < 10; i++)
        CHECK(rw_ok(PAGE(p, i)) == (i == 2 || i == 5 || i == 8));
    CHECK(madvise(p, 10 * pg, MADV_GUARD_INSTALL) == 0);
    CHECK(mprotect(p, 3 * pg, PROT_READ) == 0);
    CHECK(mprotect(PAGE(p, 7), 3 * pg, PROT_READ) == 0);
    CHECK(mprotect(p, 3 * pg, PROT_READ | PROT_WRITE) == 0);
    CHECK(mprotect(PAGE(p, 7), 3 * pg, PROT_READ | PROT_WRITE) == 0);
    guard_range(p, 0, 10, 1);
    CHECK(mprotect(p, 3 * pg, PROT_READ) == 0);
    CHECK(mprotect(PAGE(p, 7), 3 * pg, PROT_READ) == 0);
    CHECK(madvise(p, 10 * pg, MADV_GUARD_REMOVE) == 0);
    CHECK(mprotect(p, 3 * pg, PROT_READ | PROT_WRITE) == 0);
    CHECK(mprotect(PAGE(p, 7), 3 * pg, PROT_READ | PROT_WRITE) == 0);
    guard_range(p, 0, 10, 0);
    CHECK(munmap(p, 10 * pg) == 0);
}

static void dontneed(void)
{
    char *p = map(NULL, 10, PROT_READ | PROT_WRITE, 0, 0);
    for (int i = 0; i < 10; i++)
        p[i * pg] = 'y';
    for (int i = 0; i < 10; i += 2)
        CHECK(madvise(PAGE(p, i), pg, MADV_GUARD_INSTALL) == 0);
    CHECK(madvise(p, 10 * pg, MADV_DONTNEED) == 0);
    for (int i = 0; i < 10; i++) {
        int ok = access_ok(PAGE(p, i), 0);
        CHECK(ok == (i % 2));
        if (ok)
            CHECK(p[i * pg] == (backing == ANON ? 0 : 'y'));
    }
    CHECK(munmap(p, 10 * pg) == 0);
}

static void locked(void)
{
    char *p = map(NULL, 10, PROT_READ | PROT_WRITE, 0, 0);
    for (int i = 0; i < 10; i++)
        p[i * pg] = 'y';
    CHECK(mlock(p, 10 * pg) == 0);
    CHECK(madvise(p, 10 * pg, MADV_GUARD_INSTALL) == -1 && errno == EINVAL);
    CHECK(munlock(p, 10 * pg) == 0);
    CHECK(madvise(p, 5 * pg, MADV_GUARD_INSTALL) == 0);
    guard_range(p, 0, 5, 1);
    guard_range(p, 5, 10, 0);
    CHECK(mlock(PAGE(p, 5), 5 * pg) == 0);
    CHECK(madvise(p, 10 * pg, MADV_GUARD_REMOVE) == 0);
    guard_range(p, 0, 10, 0);
    CHECK(munmap(p, 10 * pg) == 0);
}

static void remaps(void)
{
    char *p = map(NULL, 5, PROT_READ | PROT_WRITE, 0, 0), *q;
    CHECK(madvise(p, pg, MADV_GUARD_INSTALL) == 0);
    CHECK(madvise(PAGE(p, 4), pg, MADV_GUARD_INSTALL) == 0);
    q = map(NULL, 5, PROT_NONE, 0, 0);
    CHECK(mremap(p, 5 * pg, 5 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, q) == q);
    guard_range(q, 0, 1, 1);
    guard_range(q, 4, 5, 1);
    munmap(q, 5 * pg);

    p = map(NULL, 10, PROT_READ | PROT_WRITE, 0, 0);
    CHECK(munmap(PAGE(p, 5), 5 * pg) == 0);
    CHECK(madvise(p, pg, MADV_GUARD_INSTALL) == 0);
    CHECK(madvise(PAGE(p, 4), pg, MADV_GUARD_INSTALL) == 0);
    p = mremap(p, 5 * pg, 10 * pg, 0);
    CHECK(p != MAP_FAILED);
    guard_range(p, 0, 1, 1);
    guard_range(p, 4, 5, 1);
    q = map(NULL, 20, PROT_NONE, 0, 0);
    p = mremap(p, 10 * pg, 20 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, q);
    CHECK(p == q);
    guard_range(p, 0, 1, 1);
    guard_range(p, 4, 5, 1);
    munmap(p, 20 * pg);

    p = map(NULL, 5, PROT_READ | PROT_WRITE, 0, 0);
    CHECK(madvise(p, pg, MADV_GUARD_INSTALL) == 0);
    CHECK(madvise(PAGE(p, 4), pg, MADV_GUARD_INSTALL) == 0);
    p = mremap(p, 5 * pg, 3 * pg, MREMAP_MAYMOVE);
    CHECK(p != MAP_FAILED);
    guard_range(p, 0, 1, 1);
    guard_range(p, 1, 3, 0);
    p = mremap(p, 3 * pg, 5 * pg, 0);
    CHECK(p != MAP_FAILED);
    guard_range(p, 0, 1, 1);
    guard_range(p, 1, 5, 0);
    munmap(p, 5 * pg);
}

static void lazyfree_populate_cold(void)
{
    char *p = map(NULL, 10, PROT_READ | PROT_WRITE, 0, 0);
    for (int i = 0; i < 10; i++)
        p[i * pg] = 'y';
    for (int i = 0; i < 10; i += 2)
        CHECK(madvise(PAGE(p, i), pg, MADV_GUARD_INSTALL) == 0);
    /* MADV_FREE: private anonymous memory only (EINVAL for the shared backings) */
    int r = madvise(p, 10 * pg, MADV_FREE);
    CHECK(backing == ANON ? r == 0 : r == -1);
    for (int i = 0; i < 10; i++)
        CHECK(rw_ok(PAGE(p, i)) == (i % 2));
    /* populating a guard marker fails with EFAULT */
    CHECK(madvise(p, 10 * pg, MADV_POPULATE_READ) == -1 && errno == EFAULT);
    CHECK(madvise(p, 10 * pg, MADV_POPULATE_WRITE) == -1 && errno == EFAULT);
    CHECK(madvise(p, 10 * pg, MADV_COLD) == 0);
    CHECK(madvise(p, 10 * pg, MADV_PAGEOUT) == 0);
    for (int i = 0; i < 10; i++)
        CHECK(rw_ok(PAGE(p, i)) == (i % 2));
    CHECK(madvise(p, 10 * pg, MADV_GUARD_REMOVE) == 0);
    CHECK(madvise(p, 10 * pg, MADV_POPULATE_WRITE) == 0);
    CHECK(munmap(p, 10 * pg) == 0);
}

static const struct { const char *name; void (*run)(void); } cases[] = {
    {"basic", basic}, {"multi_vma", multi_vma}, {"munmap", unmap_clears},
    {"mprotect", protect}, {"split_merge", split_merge}, {"dontneed", dontneed},
    {"mlock", locked}, {"mremap", remaps}, {"lazyfree_populate_cold", lazyfree_populate_cold},
};

int main(void)
{
    struct sigaction sa = {.sa_handler = on_segv, .sa_flags = SA_NODEFER};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    pg = sysconf(_SC_PAGE_SIZE);
    for (backing = ANON; backing <= FILEB; backing++) {
        if (backing == SHMEM)
            fd = memfd_create("guard_regions", 0);
        else if (backing == FILEB)
            fd = open("guard_regions_test_file", O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (backing != ANON && ftruncate(fd, 100 * pg))
            return 2;
        for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            failed_at = NULL;
            cases[i].run();
            printf("%s %s %s%s%s\n", failed_at ? "not ok" : "ok", backing_name[backing],
                   cases[i].name, failed_at ? ": " : "", failed_at ? failed_at : "");
            failures += failed_at != NULL;
        }
        if (backing != ANON)
            close(fd);
    }
    unlink("guard_regions_test_file");
    printf("%d failures\n", failures);
    return failures != 0;
}
