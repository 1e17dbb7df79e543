/* Port (own words, same calls) of the kernel's selftests/mm/mremap_dontunmap.c:
 * mremap(MREMAP_MAYMOVE|MREMAP_DONTUNMAP) moves the pages and leaves the source range mapped
 * (empty for private anonymous memory, still the same pages for shared memory); with
 * MREMAP_FIXED it replaces whatever was at the destination. */
#define _GNU_SOURCE
#include <linux/mman.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static long page;
static char *scratch;
static int failures;

#define CHECK(cond, what) do { if (!(cond)) { printf("FAIL %s\n", what); failures++; } } while (0)

static int filled(char *p, long pages, char byte)
{
    memset(scratch, byte, page);
    for (long i = 0; i < pages; i++)
        if (memcmp(p + i * page, scratch, page))
            return 0;
    return 1;
}

static char *anon(long pages)
{
    return mmap(NULL, pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

int main(void)
{
    page = sysconf(_SC_PAGE_SIZE);
    /* support probe: one PROT_NONE page moved and both unmapped */
    char *src = mmap(NULL, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *dst = mremap(src, page, page, MREMAP_DONTUNMAP | MREMAP_MAYMOVE, 0);
    if (dst == MAP_FAILED)
        return 4;
    munmap(dst, page);
    munmap(src, page);
    scratch = anon(1);

    /* whole private mapping, anywhere */
    src = anon(5);
    memset(src, 'a', 5 * page);
    dst = mremap(src, 5 * page, 5 * page, MREMAP_DONTUNMAP | MREMAP_MAYMOVE, NULL);
    CHECK(dst != MAP_FAILED && filled(dst, 5, 'a') && filled(src, 5, 0), "simple");
    munmap(dst, 5 * page);
    munmap(src, 5 * page);

    /* shared memory (memfd): the source still shows the same pages */
    int fd = memfd_create("memfd", MFD_CLOEXEC);
    ftruncate(fd, 5 * page);
    src = mmap(NULL, 5 * page, PROT_READ | PROT_WRITE, MAP_FILE | MAP_SHARED, fd, 0);
    close(fd);
    memset(src, 'a', 5 * page);
    dst = mremap(src, 5 * page, 5 * page, MREMAP_DONTUNMAP | MREMAP_MAYMOVE, NULL);
    CHECK(dst != MAP_FAILED && filled(dst, 5, 'a') && filled(src, 5, 'a'), "shmem");
    if (dst != MAP_FAILED)
        munmap(dst, 5 * page);
    munmap(src, 5 * page);

    /* to a fixed destination that is mapped already */
    dst = anon(5);
    memset(dst, 'X', 5 * page);
    src = anon(5);
    memset(src, 'a', 5 * page);
    char *moved = mremap(src, 5 * page, 5 * page,
                         MREMAP_FIXED | MREMAP_DONTUNMAP | MREMAP_MAYMOVE, dst);
    CHECK(moved == dst && filled(dst, 5, 'a') && filled(src, 5, 0), "fixed");
    munmap(dst, 5 * page);
    munmap(src, 5 * page);

    /* the last five pages of ten */
    src = anon(10);
    memset(src, 'a', 10 * page);
    dst = mremap(src + 5 * page, 5 * page, 5 * page, MREMAP_DONTUNMAP | MREMAP_MAYMOVE, NULL);
    CHECK(dst != MAP_FAILED && filled(src, 5, 'a') && filled(src + 5 * page, 5, 0)
          && filled(dst, 5, 'a'), "partial");
    munmap(dst, 5 * page);
    munmap(src, 10 * page);

    /* five pages over the first half of a ten-page destination */
    src = anon(5);
    memset(src, 'a', 5 * page);
    dst = anon(10);
    memset(dst, 'X', 10 * page);
    moved = mremap(src, 5 * page, 5 * page,
                   MREMAP_DONTUNMAP | MREMAP_MAYMOVE | MREMAP_FIXED, dst);
    CHECK(moved == dst && filled(src, 5, 0) && filled(dst, 5, 'a')
          && filled(dst + 5 * page, 5, 'X'), "partial overwrite");
    munmap(dst, 10 * page);
    munmap(src, 5 * page);

    munmap(scratch, page);
    return failures != 0;
}
