/* Port (own words, same calls) of a subset of the kernel's selftests/mm/mremap_test.c:
 * expanding in place into a freed neighbour merges with it (mm/mremap.c vma_expandable,
 * then vma_merge_extend); moves of 1 MiB and 2 MiB regions between sources and
 * destinations of 4 KiB, 64 KiB, 1 MiB and 2 MiB alignment with MREMAP_MAYMOVE|
 * MREMAP_FIXED; a misaligned destination and overlapping source/destination are EINVAL.
 * Each source and destination is carved out of a PROT_NONE reservation with MAP_FIXED. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define KB (1UL << 10)
#define MB (1UL << 20)

static unsigned long page;
static int failures;

static void report(int ok, const char *what)
{
    printf("%s %s\n", ok ? "ok" : "FAIL", what);
    failures += !ok;
}

static int vma_is(void *addr, unsigned long size)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    unsigned long start, end;
    int ok = 0;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "%lx-%lx", &start, &end) == 2 && start <= (unsigned long)addr
            && (unsigned long)addr < end) {
            ok = start == (unsigned long)addr && end == (unsigned long)addr + size;
            break;
        }
    if (f)
        fclose(f);
    return ok;
}

/* three pages, the middle one unmapped, the first expanded over it */
static void expand_merge(void)
{
    char *p = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(p + page, page);
    char *q = mremap(p, page, 2 * page, 0);
    report(q == p && vma_is(p, 3 * page), "mremap_expand_merge");
    munmap(p, 3 * page);
}

/* three pages, the last one unmapped, the middle one expanded over it */
static void expand_merge_offset(void)
{
    char *p = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(p + 2 * page, page);
    char *q = mremap(p + page, page, 2 * page, 0);
    report(q == p + page && vma_is(p, 3 * page), "mremap_expand_merge_offset");
    munmap(p, 3 * page);
}

static char *aligned_in(char *base, unsigned long align, unsigned long skew)
{
    unsigned long a = ((unsigned long)base + align - 1) & ~(align - 1);
    return (char *)(a + skew);
}

/* move size bytes from a src_align-aligned source to a dst_align-aligned destination */
static void move(unsigned long size, unsigned long src_align, unsigned long dst_align)
{
    char name[96];
    char *area = mmap(NULL, 64 * MB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    /* a source aligned exactly to src_align (not to twice it), and a destination 16 MiB on */
    char *src = aligned_in(area, 2 * src_align, src_align == page ? page : src_align);
    char *dst = aligned_in(area + 24 * MB, 2 * dst_align, dst_align == page ? page : dst_align);
    src = mmap(src, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    memset(src, 'a', size);
    char *q = mremap(src, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
    snprintf(name, sizeof(name), "move %luK from %luK- to %luK-aligned", size / KB,
             src_align / KB, dst_align / KB);
    report(q == dst && q[size - 1] == 'a', name);
    munmap(area, 64 * MB);
}

static void errors(void)
{
    char *p = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *q = mremap(p, page, page, MREMAP_MAYMOVE | MREMAP_FIXED, p + KB);
    report(q == MAP_FAILED, "destination misaligned (1 KiB): EINVAL");
    q = mremap(p, 2 * page, 2 * page, MREMAP_MAYMOVE | MREMAP_FIXED, p + page);
    report(q == MAP_FAILED, "source and destination overlapping: EINVAL");
    munmap(p, 4 * page);
}

int main(void)
{
    static const unsigned long aligns[] = {4 * KB, 64 * KB, MB, 2 * MB};
    page = sysconf(_SC_PAGE_SIZE);
    expand_merge();
    expand_merge_offset();
    for (unsigned i = 0; i < 4; i++)
        for (unsigned j = 0; j < 4; j++) {
            move(MB, aligns[i], aligns[j]);
            move(2 * MB, aligns[i], aligns[j]);
        }
    errors();
    return failures != 0;
}
