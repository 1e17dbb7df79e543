/* A scripted tour of mmap/munmap/mprotect/mremap/brk edge cases.
 * Every address is derived from an earlier result (or is a fixed hint), so
 * with ASLR off the run is deterministic.  Results are collected in a static
 * buffer and written to stdout once, at the end.
 * Builds as 64-bit and as 32-bit (-m32); MAP_32BIT is ignored by the kernel
 * for 32-bit callers. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

#define P 4096UL
#define MiB (1024UL * 1024UL)
#define RW (PROT_READ | PROT_WRITE)
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)

static char out[16384];
static size_t outlen;

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + outlen, sizeof out - outlen, fmt, ap);
    va_end(ap);
    if (n > 0 && outlen + (size_t)n < sizeof out)
        outlen += (size_t)n;
}

static char *M(const char *what, void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    void *r = mmap(addr, len, prot, flags, fd, off);
    if (r == MAP_FAILED)
        logf_("%-28s mmap -> %s\n", what, strerror(errno));
    else
        logf_("%-28s mmap -> %p\n", what, r);
    return r == MAP_FAILED ? NULL : (char *)r;
}

static void U(const char *what, void *addr, size_t len)
{
    int r = munmap(addr, len);
    logf_("%-28s munmap -> %s\n", what, r ? strerror(errno) : "0");
}

static void PR(const char *what, void *addr, size_t len, int prot)
{
    int r = mprotect(addr, len, prot);
    logf_("%-28s mprotect -> %s\n", what, r ? strerror(errno) : "0");
}

static char *R(const char *what, void *old, size_t olen, size_t nlen, int flags, void *naddr)
{
    void *r = mremap(old, olen, nlen, flags, naddr);
    if (r == MAP_FAILED)
        logf_("%-28s mremap -> %s\n", what, strerror(errno));
    else
        logf_("%-28s mremap -> %p\n", what, r);
    return r == MAP_FAILED ? NULL : (char *)r;
}

int main(void)
{
    const int is64 = sizeof(void *) == 8;

    /* --- splitting, merging, MAP_FIXED over existing ---------------------- */
    char *a = M("a = 16 pages", NULL, 16 * P, RW, ANON, -1, 0);
    M("fixed r-- over a+4..6", a + 4 * P, 2 * P, PROT_READ, ANON | MAP_FIXED, -1, 0);
    M("noreplace exact a+4", a + 4 * P, 2 * P, RW, ANON | MAP_FIXED_NOREPLACE, -1, 0);
    M("noreplace partial a+15", a + 15 * P, 4 * P, RW, ANON | MAP_FIXED_NOREPLACE, -1, 0);
    M("noreplace free below a", a - 4 * P, 4 * P, RW, ANON | MAP_FIXED_NOREPLACE, -1, 0);
    M("fixed rw back over a+4", a + 4 * P, 2 * P, RW, ANON | MAP_FIXED, -1, 0);
    PR("mprotect a+8 none", a + 8 * P, P, PROT_NONE);
    PR("mprotect a+8 rw (merge)", a + 8 * P, P, RW);
    PR("mprotect a+12..14 r", a + 12 * P, 2 * P, PROT_READ);
    U("munmap a+10..12", a + 10 * P, 2 * P);
    U("munmap a+10..12 again", a + 10 * P, 2 * P);
    PR("mprotect hole", a + 10 * P, P, PROT_READ);
    PR("mprotect across hole", a + 9 * P, 3 * P, PROT_READ);
    U("munmap unaligned", a + 1, P);
    M("mmap len 0", NULL, 0, RW, ANON, -1, 0);
    M("mmap huge", NULL, (size_t)-P, RW, ANON, -1, 0);
    M("mmap no type flags", NULL, P, RW, MAP_ANONYMOUS, -1, 0);

    /* --- consecutive anonymous maps merge --------------------------------- */
    M("merge1", NULL, 3 * P, RW, ANON, -1, 0);
    M("merge2", NULL, 5 * P, RW, ANON, -1, 0);
    M("merge3 r-- (no merge)", NULL, 2 * P, PROT_READ, ANON, -1, 0);

    /* --- hints ------------------------------------------------------------ */
    M("hint 0x10000000 free", (void *)0x10000000UL, 4 * P, RW, ANON, -1, 0);
    M("hint 0x10000000 taken", (void *)0x10000000UL, 4 * P, RW, ANON, -1, 0);
    M("hint unaligned", (void *)0x20000123UL, 2 * P, RW, ANON, -1, 0);
    M("hint inside a", a + 2 * P, P, RW, ANON, -1, 0);
    M("hint 0xbfff0000", (void *)0xbfff0000UL, 16 * P, RW, ANON, -1, 0);
    M("hint 0xfffff000", (void *)0xfffff000UL, 2 * P, RW, ANON, -1, 0);
    if (is64)
        M("hint above 47 bits", (void *)(uintptr_t)0x900000000000ULL, 2 * P, RW, ANON, -1, 0);
    M("fixed 0x30000000", (void *)0x30000000UL, 8 * P, RW, ANON | MAP_FIXED, -1, 0);
    M("fixed 0xc0000000", (void *)0xc0000000UL, 2 * P, RW, ANON | MAP_FIXED, -1, 0);
    M("noreplace 0xc0001000", (void *)0xc0001000UL, 2 * P, RW, ANON | MAP_FIXED_NOREPLACE, -1, 0);

    /* --- MAP_32BIT ---------------------------------------------------------- */
    M("map_32bit 1", NULL, 4 * P, RW, ANON | MAP_32BIT, -1, 0);
    M("map_32bit 2 (2MiB)", NULL, 2 * MiB, RW, ANON | MAP_32BIT, -1, 0);

    /* --- MAP_GROWSDOWN and the stack guard gap ------------------------------ */
    char *g = M("growsdown 8 pages", NULL, 8 * P, RW, ANON | MAP_GROWSDOWN, -1, 0);
    M("next after growsdown", NULL, 4 * P, RW, ANON, -1, 0);
    if (g) {
        M("noreplace in guard gap", g - 16 * P, 4 * P, RW, ANON | MAP_FIXED_NOREPLACE, -1, 0);
        M("hint in guard gap", g - 64 * P, 4 * P, RW, ANON, -1, 0);
    }

    /* --- 2 MiB multiples (THP alignment of anonymous maps) ------------------ */
    M("2MiB", NULL, 2 * MiB, RW, ANON, -1, 0);
    M("4MiB", NULL, 4 * MiB, RW, ANON, -1, 0);
    M("2MiB + 1 page", NULL, 2 * MiB + P, RW, ANON, -1, 0);
    M("6MiB", NULL, 6 * MiB, RW, ANON, -1, 0);
    M("1MiB", NULL, 1 * MiB, RW, ANON, -1, 0);
    M("8MiB PROT_NONE noreserve", NULL, 8 * MiB, PROT_NONE, ANON | MAP_NORESERVE, -1, 0);

    /* --- reservation then commit inside it (arena style) -------------------- */
    char *res = M("reserve 16MiB none", NULL, 16 * MiB, PROT_NONE, ANON | MAP_NORESERVE, -1, 0);
    if (res) {
        M("commit fixed in reserve", res + 1 * MiB, 64 * P, RW, ANON | MAP_FIXED, -1, 0);
        PR("grow commit by mprotect", res + 1 * MiB + 64 * P, 32 * P, RW);
        U("trim reserve tail", res + 8 * MiB, 8 * MiB);
        U("trim reserve head", res, 1 * MiB);
    }

    /* --- shared and file mappings ------------------------------------------- */
    M("shared anon", NULL, 4 * P, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int zfd = open("/dev/zero", O_RDWR);
    M("/dev/zero shared", NULL, 3 * P, RW, MAP_SHARED, zfd, 0);
    M("/dev/zero private", NULL, 3 * P, RW, MAP_PRIVATE, zfd, 0);
    close(zfd);
    int fd = open("/bin/true", O_RDONLY);
    char *f1 = M("file r-- off 0", NULL, 2 * P, PROT_READ, MAP_PRIVATE, fd, 0);
    M("file r-x off 4096", NULL, 2 * P, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, P);
    M("file shared rw on ro fd", NULL, P, RW, MAP_SHARED, fd, 0);
    M("file unaligned offset", NULL, P, PROT_READ, MAP_PRIVATE, fd, 100);
    if (f1)
        M("file fixed over file", f1 + P, P, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 3 * P);
    close(fd);

    /* --- mremap ------------------------------------------------------------- */
    char *r1 = M("r1 = 8 pages", NULL, 8 * P, RW, ANON, -1, 0);
    M("r1 blocker below", NULL, 2 * P, PROT_READ, ANON, -1, 0);
    R("grow r1 in place (blocked?)", r1, 8 * P, 16 * P, 0, NULL);
    char *r2 = R("grow r1 maymove", r1, 8 * P, 16 * P, MREMAP_MAYMOVE, NULL);
    R("shrink r2", r2, 16 * P, 4 * P, 0, NULL);
    R("grow r2 in place", r2, 4 * P, 6 * P, 0, NULL);
    char *r3 = R("move r2 fixed", r2, 6 * P, 6 * P, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)0x38000000UL);
    R("dontunmap r3", r3, 6 * P, 6 * P, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
    R("mremap unmapped", (void *)0x3c000000UL, P, 2 * P, MREMAP_MAYMOVE, NULL);
    R("mremap part of a", a + 2 * P, P, 3 * P, MREMAP_MAYMOVE, NULL);
    char *sh = M("shared for dup", NULL, 2 * P, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    R("dup shared old_len 0", sh, 0, 2 * P, MREMAP_MAYMOVE, NULL);

    /* --- malloc: large blocks and realloc via mremap ------------------------- */
    char *p = malloc(1 * MiB);
    logf_("malloc 1MiB -> %p\n", (void *)p);
    p = realloc(p, 4 * MiB);
    logf_("realloc 4MiB -> %p\n", (void *)p);
    p = realloc(p, 16 * MiB);
    logf_("realloc 16MiB -> %p\n", (void *)p);
    p = realloc(p, 3 * MiB);
    logf_("realloc 3MiB -> %p\n", (void *)p);
    free(p);

    /* --- brk ------------------------------------------------------------------ */
    void *b0 = sbrk(0);
    sbrk(64 * 1024);
    sbrk(-32 * 1024);
    sbrk(1 * MiB);
    logf_("brk start %p end %p\n", b0, sbrk(0));

    /* --- large failures / successes ------------------------------------------ */
#if UINTPTR_MAX > 0xffffffffUL
    char *t = M("1TiB none noreserve", NULL, (size_t)1 << 40, PROT_NONE, ANON | MAP_NORESERVE, -1, 0);
    if (t)
        U("unmap 1TiB", t, (size_t)1 << 40);
#else
    M("3.5GiB", NULL, (size_t)3584 * MiB, PROT_NONE, ANON | MAP_NORESERVE, -1, 0);
    M("1GiB none", NULL, (size_t)1024 * MiB, PROT_NONE, ANON | MAP_NORESERVE, -1, 0);
#endif

    /* --- munmap spanning several VMAs and holes -------------------------------- */
    U("munmap a-4..a+16", a - 4 * P, 20 * P);

    fwrite(out, 1, outlen, stdout);
    return 0;
}
