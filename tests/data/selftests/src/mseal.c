/* Port (own words, same calls) of the kernel's selftests/mm/mseal_test.c, in one process.
 * Each case maps a fresh 4-page range (PROT_READ, private anonymous unless it says
 * otherwise), runs once unsealed and once sealed (mseal of the range or part of it), then
 * the call under test: mprotect, munmap, mremap (shrink, expand, move, MREMAP_FIXED,
 * MREMAP_DONTUNMAP), mmap(MAP_FIXED) over it, madvise; a sealed VMA refuses all of them
 * with EPERM, except madvise advice that discards no page of writable, shared or
 * file-backed memory. mseal's own checks: flags, alignment, holes, zero length, twice.
 * Raw syscalls as the selftest makes them, except mmap: glibc's (mmap2 on i386). Unlike
 * the selftest, memory made writable is written (see mprot). Prints "ok NAME seal" or "not ok". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mman.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_mseal
#define __NR_mseal 462
#endif

static unsigned long pg;
static int failures, n;

#define EXPECT(cond) do { if (!(cond)) { printf("  line %d: %s\n", __LINE__, #cond); ok = 0; } } while (0)

static long mseal_(void *p, unsigned long len, unsigned long flags)
{
    return syscall(__NR_mseal, p, len, flags);
}

static char *map4(int prot, int flags)
{
    return mmap(NULL, 4 * pg, prot, flags, -1, 0);
}

static char *ro4(void)
{
    return map4(PROT_READ, MAP_ANONYMOUS | MAP_PRIVATE);
}

/* Size of the VMA starting at p, and its protection (r=4, w=2, x=1), from /proc/self/maps. */
static unsigned long vma_size(void *p, int *prot)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[256], perms[5];
    unsigned long s, e, size = 0;
    *prot = 0;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "%lx-%lx %4s", &s, &e, perms) == 3 && s == (unsigned long)p) {
            size = e - s;
            *prot = (perms[0] == 'r') * 4 + (perms[1] == 'w') * 2 + (perms[2] == 'x');
            break;
        }
    if (f)
        fclose(f);
    return size;
}

/* mprotect, then a write to the first page when it made the range writable. Replay cannot
 * see page faults and takes writable private memory as written (it has an anon_vma, which
 * decides later merges), so the port writes where the selftest does not. */
static int mprot(void *p, size_t len, int prot)
{
    int ret = syscall(__NR_mprotect, p, len, prot);
    if (ret == 0 && len && prot & PROT_WRITE)
        *(volatile char *)p = 1;
    return ret;
}

static void report(const char *name, int seal, int ok)
{
    printf("%s %d %s%s\n", ok ? "ok" : "not ok", ++n, name, seal ? " sealed" : "");
    failures += !ok;
}

/* mseal's own argument checks and holes. */
static void seal_itself(void)
{
    int ok = 1;
    char *p = ro4();
    EXPECT(mseal_(p, 4 * pg, 0) == 0);
    EXPECT(mseal_(p, 4 * pg, 0) == 0);               /* twice: idempotent */
    report("addseal_twice", 1, ok);

    ok = 1;
    p = ro4();
    EXPECT(munmap(p, 2 * pg) == 0);
    EXPECT(mprot(p, 4 * pg, PROT_READ | PROT_WRITE) < 0);
    EXPECT(mseal_(p, 4 * pg, 0) < 0);                /* unmapped start */
    EXPECT(mseal_(p + 2 * pg, 2 * pg, 0) == 0);
    report("unmapped_start", 1, ok);

    ok = 1;
    p = ro4();
    EXPECT(munmap(p + pg, 2 * pg) == 0);
    EXPECT(mprot(p, 4 * pg, PROT_READ | PROT_WRITE) < 0);
    EXPECT(mseal_(p, 4 * pg, 0) < 0);                /* hole in the middle */
    EXPECT(mseal_(p, pg, 0) == 0);
    EXPECT(mseal_(p + 3 * pg, pg, 0) == 0);
    report("unmapped_middle", 1, ok);

    ok = 1;
    p = ro4();
    EXPECT(munmap(p + 2 * pg, 2 * pg) == 0);
    EXPECT(mseal_(p, 4 * pg, 0) < 0);                /* unmapped end */
    EXPECT(mseal_(p, 2 * pg, 0) == 0);
    report("unmapped_end", 1, ok);

    ok = 1;
    p = ro4();
    EXPECT(mprot(p + pg, 2 * pg, PROT_READ | PROT_WRITE) == 0);
    EXPECT(mprot(p, 4 * pg, PROT_READ) == 0);
    EXPECT(mprot(p + pg, 2 * pg, PROT_READ | PROT_WRITE) == 0);
    EXPECT(mseal_(p, 4 * pg, 0) == 0);               /* three VMAs */
    report("multiple_vmas", 1, ok);

    ok = 1;
    p = ro4();
    EXPECT(mprot(p, 2 * pg, PROT_READ | PROT_WRITE) == 0);
    EXPECT(mseal_(p, pg, 0) == 0);
    EXPECT(mseal_(p + pg, 3 * pg, 0) == 0);
    p = ro4();
    EXPECT(mprot(p, 2 * pg, PROT_READ | PROT_WRITE) == 0);
    EXPECT(mseal_(p + 3 * pg, pg, 0) == 0);
    EXPECT(mseal_(p, 3 * pg, 0) == 0);
    report("split_start_end", 1, ok);

    ok = 1;
    p = mmap(NULL, 8 * pg, PROT_READ, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    EXPECT(munmap(p + 4 * pg, 4 * pg) == 0);
    EXPECT(mseal_(p, 4 * pg, 0x20) < 0 && errno == EINVAL);
    EXPECT(mseal_(p + 1, 2 * pg, 0) < 0 && errno == EINVAL);
    EXPECT(mseal_(p, 5 * pg, 0) < 0 && errno == ENOMEM);
    EXPECT(mseal_(p, UINTPTR_MAX / pg, 0) < 0);
    EXPECT(mseal_(p - pg, 5 * pg, 0) < 0);
    report("invalid_input", 1, ok);

    ok = 1;
    p = ro4();
    EXPECT(mprot(p, 0, PROT_READ | PROT_WRITE) == 0);
    EXPECT(mseal_(p, 0, 0) == 0);
    EXPECT(mprot(p, 4 * pg, PROT_READ | PROT_WRITE) == 0);
    report("zero_length", 1, ok);
}

/* A refused call (sealed) or a successful one (not sealed). */
#define REFUSED(call) (seal ? ((long)(call) == -1 && errno == EPERM) : (long)(call) != -1)

static void mprotect_cases(int seal)
{
    int ok = 1, prot;
    char *p = ro4();
    if (seal) EXPECT(mseal_(p, 4 * pg, 0) == 0);
    EXPECT(REFUSED(mprot(p, 4 * pg, PROT_READ | PROT_WRITE)));
    report("mprotect", seal, ok);

    ok = 1;
    p = ro4();
    if (seal) EXPECT(mseal_(p, pg, 0) == 0);
    EXPECT(REFUSED(mprot(p, pg, PROT_READ | PROT_WRITE)));
    EXPECT(mprot(p + pg, 3 * pg, PROT_READ | PROT_WRITE) == 0);
    report("start_mprotect", seal, ok);

    ok = 1;
    p = ro4();
    if (seal) EXPECT(mseal_(p + pg, 3 * pg, 0) == 0);
    EXPECT(mprot(p, pg, PROT_READ | PROT_WRITE) == 0);
    EXPECT(REFUSED(mprot(p + pg, 3 * pg, PROT_READ | PROT_WRITE)));
    report("end_mprotect", seal, ok);

    ok = 1;
    p = ro4();
    if (seal) EXPECT(mseal_(p, 2 * pg - 1, 0) == 0);  /* length rounds up to 2 pages */
    EXPECT(REFUSED(mprot(p, 2 * pg, PROT_READ | PROT_WRITE)));
    EXPECT(mprot(p + 2 * pg, pg, PROT_READ | PROT_WRITE) == 0);
    p = ro4();
    if (seal) EXPECT(mseal_(p, 2 * pg + 1, 0) == 0);  /* 3 pages */
    EXPECT(REFUSED(mprot(p, 3 * pg, PROT_READ | PROT_WRITE)));
    EXPECT(mprot(p + 3 * pg, pg, PROT_READ | PROT_WRITE) == 0);
    report("mprotect_unalign_len", seal, ok);

    ok = 1;
    p = ro4();
    EXPECT(mprot(p, 2 * pg, PROT_READ | PROT_WRITE) == 0);
    if (seal) EXPECT(mseal_(p, 4 * pg, 0) == 0);
    EXPECT(REFUSED(mprot(p, 2 * pg, PROT_READ | PROT_WRITE)));
    EXPECT(REFUSED(mprot(p + 2 * pg, 2 * pg, PROT_READ | PROT_WRITE)));
    report("mprotect_two_vma", seal, ok);

    ok = 1;
    p = ro4();
    EXPECT(mprot(p, 2 * pg, PROT_READ | PROT_WRITE) == 0);
    if (seal) EXPECT(mseal_(p + pg, 2 * pg, 0) == 0);  /* across both, splitting them */
    EXPECT(REFUSED(mprot(p, 2 * pg, PROT_READ | PROT_WRITE)));
    EXPECT(mprot(p, pg, PROT_READ | PROT_WRITE) == 0);
    EXPECT(REFUSED(mprot(p + pg, 2 * pg, PROT_READ)));
    EXPECT(REFUSED(mprot(p + 2 * pg, 2 * pg, PROT_READ)));
    EXPECT(mprot(p + 3 * pg, pg, PROT_READ) == 0);
    report("mprotect_two_vma_with_split", seal, ok);

    ok = 1;
    p = ro4();
    if (seal) EXPECT(mseal_(p, pg, 0) == 0);
    EXPECT(REFUSED(mprot(p, 2 * pg, PROT_READ | PROT_WRITE)));
    report("mprotect_partial", seal, ok);

    ok = 1;
    p = ro4();
    EXPECT(munmap(p + pg, pg) == 0);
    if (seal) EXPECT(mseal_(p, pg, 0) == 0);
    if (seal) EXPECT(mseal_(p + 2 * pg, 2 * pg, 0) == 0);
    EXPECT(REFUSED(mprot(p, pg, PROT_READ | PROT_WRITE)));
    EXPECT(mprot(p + pg, pg, PROT_READ | PROT_WRITE) < 0);  /* the gap: ENOMEM */
    EXPECT(REFUSED(mprot(p + 2 * pg, 2 * pg, PROT_READ | PROT_WRITE)));
    report("mprotect_two_vma_with_gap", seal, ok);

    ok = 1;
    p = ro4();
    EXPECT(mprot(p, pg, PROT_READ | PROT_WRITE) == 0);
    if (seal) EXPECT(mseal_(p, pg, 0) == 0);
    EXPECT(mprot(p + pg, pg, PROT_READ | PROT_WRITE) == 0);  /* no merge into a seal */
    EXPECT(vma_size(p, &prot) == (seal ? pg : 2 * pg));
    EXPECT(REFUSED(mprot(p, pg, PROT_READ)));
    report("mprotect_merge", seal, ok);

    ok = 1;
    p = ro4();
    EXPECT(mprot(p, pg, PROT_READ | PROT_WRITE) == 0);
    if (seal) EXPECT(mseal_(p, 4 * pg, 0) == 0);
    EXPECT(REFUSED(mprot(p, pg, PROT_READ)));
    EXPECT(REFUSED(mprot(p + pg, 3 * pg, PROT_READ | PROT_WRITE)));
    report("mprotect_split", seal, ok);
}

static void munmap_cases(int seal)
{
    int ok = 1, prot;
    char *p = ro4();
    if (seal) EXPECT(mseal_(p, 4 * pg, 0) == 0);
    EXPECT(REFUSED(munmap(p, 4 * pg)));
    report("munmap", seal, ok);

    ok = 1;
    p = ro4();
    EXPECT(mprot(p, 2 * pg, PROT_READ | PROT_WRITE) == 0);
    if (seal) EXPECT(mseal_(p + 2 * pg, 2 * pg, 0) == 0);
    EXPECT(REFUSED(munmap(p, 4 * pg)));               /* nothing unmapped when refused */
    EXPECT(munmap(p, 2 * pg) == 0);
    EXPECT(REFUSED(munmap(p + 2 * pg, 2 * pg)));
    report("munmap_two_vma", seal, ok);

    ok = 1;
    p = ro4();
    EXPECT(munmap(p + pg, 2 * pg) == 0);
    if (seal) EXPECT(mseal_(p + 3 * pg, pg, 0) == 0);
    EXPECT(REFUSED(munmap(p, 4 * pg)));
    EXPECT(munmap(p, 3 * pg) == 0);
    EXPECT(REFUSED(munmap(p + 3 * pg, pg)));
    report("munmap_vma_with_gap", seal, ok);

    ok = 1;
    p = ro4();
    EXPECT(munmap(p, pg) == 0);
    if (seal) EXPECT(mseal_(p + pg, 3 * pg, 0) == 0);
    EXPECT(REFUSED(munmap(p, 4 * pg)));
    if (seal)
        EXPECT(vma_size(p, &prot) == 0);               /* the freed page stays free */
    report("munmap_start_freed", seal, ok);

    ok = 1;
    p = ro4();
    EXPECT(munmap(p + pg, 2 * pg) == 0);
    if (seal) EXPECT(mseal_(p, pg, 0) == 0);
    if (seal) EXPECT(mseal_(p + 3 * pg, pg, 0) == 0);
    EXPECT(REFUSED(munmap(p, 4 * pg)));
    report("munmap_middle_freed", seal, ok);

    ok = 1;
    p = ro4();
    EXPECT(munmap(p + 3 * pg, pg) == 0);
    if (seal) EXPECT(mseal_(p, 3 * pg, 0) == 0);
    EXPECT(REFUSED(munmap(p, 4 * pg)));
    report("munmap_end_freed", seal, ok);
}

static void *mremap_(void *old, size_t oldlen, size_t newlen, unsigned long flags, void *new)
{
    return (void *)syscall(__NR_mremap, old, oldlen, newlen, flags, new);
}

static void mremap_cases(int seal)
{
    int ok = 1;
    char *p = ro4(), *q;
    if (seal) EXPECT(mseal_(p, 4 * pg, 0) == 0);
    EXPECT(REFUSED(mremap_(p, 4 * pg, 2 * pg, 0, 0)));
    report("mremap_shrink", seal, ok);

    ok = 1;
    p = ro4();
    EXPECT(munmap(p + 2 * pg, 2 * pg) == 0);
    if (seal) EXPECT(mseal_(p, 2 * pg, 0) == 0);
    EXPECT(REFUSED(mremap_(p, 2 * pg, 4 * pg, 0, 0)));
    report("mremap_expand", seal, ok);

    ok = 1;
    p = ro4();
    if (seal) EXPECT(mseal_(p, 4 * pg, 0) == 0);
    EXPECT(REFUSED(mremap_(p, 4 * pg, 4 * pg, MREMAP_MAYMOVE, 0)));
    report("mremap_move", seal, ok);

    ok = 1;
    p = ro4();
    q = ro4();
    if (seal) EXPECT(mseal_(p, 4 * pg, 0) == 0);
    EXPECT(REFUSED(mremap_(p, 4 * pg, 2 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, q)));
    report("mremap_shrink_fixed", seal, ok);

    ok = 1;
    p = ro4();
    q = ro4();
    if (seal) EXPECT(mseal_(p, 4 * pg, 0) == 0);
    EXPECT(REFUSED(mremap_(p, 2 * pg, 4 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, q)));
    report("mremap_expand_fixed", seal, ok);

    ok = 1;
    p = ro4();
    q = ro4();
    if (seal) EXPECT(mseal_(q, 4 * pg, 0) == 0);     /* the destination is sealed */
    EXPECT(REFUSED(mremap_(p, 4 * pg, 4 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, q)));
    report("mremap_move_fixed", seal, ok);

    ok = 1;
    p = ro4();
    if (seal) EXPECT(mseal_(p, 4 * pg, 0) == 0);
    EXPECT(REFUSED(mremap_(p, 4 * pg, 4 * pg, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, 0)));
    report("mremap_move_dontunmap", seal, ok);

    ok = 1;
    p = ro4();
    q = ro4();
    EXPECT(munmap(q, 4 * pg) == 0);
    if (seal) EXPECT(mseal_(p, 4 * pg, 0) == 0);
    EXPECT(REFUSED(mremap_(p, 4 * pg, 4 * pg, MREMAP_MAYMOVE | MREMAP_DONTUNMAP | MREMAP_FIXED, q)));
    report("mremap_move_dontunmap_fixed", seal, ok);
}

static void madvise_cases(int seal)
{
    int ok = 1, fd;
    char *p = ro4();
    if (seal) EXPECT(mseal_(p, 4 * pg, 0) == 0);
    EXPECT(syscall(__NR_madvise, p, 4 * pg, MADV_RANDOM) == 0);   /* no discard */
    EXPECT(REFUSED(munmap(p, 4 * pg)));
    report("madvise_nodiscard", seal, ok);

    ok = 1;
    p = ro4();
    if (seal) EXPECT(mseal_(p, 4 * pg, 0) == 0);
    EXPECT(REFUSED(syscall(__NR_madvise, p, 4 * pg, MADV_DONTNEED)));  /* read-only anon */
    EXPECT(REFUSED(munmap(p, 4 * pg)));
    report("discard_ro_anon", seal, ok);

    ok = 1;
    p = map4(PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE);
    p[0] = 1;
    if (seal) EXPECT(mseal_(p, 4 * pg, 0) == 0);
    EXPECT(syscall(__NR_madvise, p, 4 * pg, MADV_DONTNEED) == 0);      /* writable */
    EXPECT(REFUSED(munmap(p, 4 * pg)));
    report("discard_ro_anon_on_rw", seal, ok);

    ok = 1;
    p = map4(PROT_READ, MAP_ANONYMOUS | MAP_SHARED);
    if (seal) EXPECT(mseal_(p, 4 * pg, 0) == 0);
    EXPECT(syscall(__NR_madvise, p, 4 * pg, MADV_DONTNEED) == 0);      /* shared */
    EXPECT(REFUSED(munmap(p, 4 * pg)));
    report("discard_ro_anon_on_shared", seal, ok);

    ok = 1;
    fd = memfd_create("test", 0);
    EXPECT(fallocate(fd, 0, 0, 4 * pg) == 0);
    p = mmap(NULL, 4 * pg, PROT_READ, MAP_PRIVATE, fd, 0);
    if (seal) EXPECT(mseal_(p, 4 * pg, 0) == 0);
    EXPECT(syscall(__NR_madvise, p, 4 * pg, MADV_DONTNEED) == 0);      /* file-backed */
    EXPECT(REFUSED(munmap(p, 4 * pg)));
    close(fd);
    report("discard_ro_anon_on_filebacked", seal, ok);
}

static void mmap_cases(int seal)
{
    int ok = 1;
    char *p = ro4();
    if (seal) EXPECT(mseal_(p, 4 * pg, 0) == 0);
    EXPECT(REFUSED(mmap(p, 4 * pg, PROT_READ | PROT_WRITE,
                           MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED, -1, 0)));
    if (!seal)
        p[0] = 1;
    report("mmap_overwrite_prot", seal, ok);

    ok = 1;
    p = mmap(NULL, 12 * pg, PROT_READ, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    EXPECT(munmap(p + 8 * pg, 4 * pg) == 0);
    if (seal) EXPECT(mseal_(p, 8 * pg, 0) == 0);
    EXPECT(REFUSED(mmap(p, 12 * pg, PROT_READ | PROT_WRITE,
                           MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED, -1, 0)));
    if (!seal)
        p[0] = 1;
    report("mmap_expand", seal, ok);

    ok = 1;
    p = mmap(NULL, 12 * pg, PROT_READ, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (seal) EXPECT(mseal_(p, 12 * pg, 0) == 0);
    EXPECT(REFUSED(mmap(p, 8 * pg, PROT_READ | PROT_WRITE,
                           MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED, -1, 0)));
    if (!seal)
        p[0] = 1;
    report("mmap_shrink", seal, ok);
}

/* Sealed neighbours with the same flags merge; mseal of a part splits. */
static void merge_and_split(void)
{
    int ok = 1, prot;
    char *p = mmap(NULL, 24 * pg, PROT_READ, MAP_ANONYMOUS | MAP_PRIVATE,
                              -1, 0);
    EXPECT(mseal_(p + pg, 2 * pg, 0) == 0);
    EXPECT(vma_size(p, &prot) == pg && vma_size(p + pg, &prot) == 2 * pg);
    EXPECT(mseal_(p + 3 * pg, 2 * pg, 0) == 0);
    EXPECT(vma_size(p + pg, &prot) == 4 * pg);
    EXPECT(mseal_(p, pg, 0) == 0);
    EXPECT(vma_size(p, &prot) == 5 * pg);
    EXPECT(mseal_(p + 21 * pg, 2 * pg, 0) == 0);
    EXPECT(vma_size(p + 21 * pg, &prot) == 2 * pg);
    EXPECT(mseal_(p + 5 * pg, 16 * pg, 0) == 0);
    EXPECT(vma_size(p, &prot) == 23 * pg && prot == 4);
    report("merge_and_split", 1, ok);
}

int main(void)
{
    pg = sysconf(_SC_PAGE_SIZE);
    char *probe = ro4();
    if (mseal_(probe, pg, 0) < 0) {
        /* 32-bit tasks: EINVAL (VM_SEALED exists for 64-bit mms only); the selftest skips */
        printf("skip: mseal not supported: %s\n", strerror(errno));
        return 0;
    }
    seal_itself();
    for (int seal = 0; seal < 2; seal++) {
        mprotect_cases(seal);
        munmap_cases(seal);
        mremap_cases(seal);
        madvise_cases(seal);
        mmap_cases(seal);
    }
    merge_and_split();
    printf("%d failures\n", failures);
    return failures != 0;
}
