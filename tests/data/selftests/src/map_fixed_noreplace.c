/* Port (own words, same calls) of the kernel's selftests/mm/map_fixed_noreplace.c:
 * MAP_FIXED_NOREPLACE succeeds only where the whole range is free (mm/mmap.c do_mmap:
 * "if (flags & MAP_FIXED_NOREPLACE) { if (find_vma_intersection(...)) return -EEXIST; }").
 *
 *   page:   0      1      2      3      4
 *         free | mapped mapped mapped | free      after the second call
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static long page;
static int failures;

static char *try_map(unsigned long addr, unsigned long pages, int want_ok, const char *what)
{
    char *p = mmap((void *)addr, pages * page, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    int ok = p != MAP_FAILED;
    printf("%s %s\n", ok == want_ok ? "ok" : "FAIL", what);
    failures += ok != want_ok;
    return p;
}

int main(void)
{
    page = sysconf(_SC_PAGE_SIZE);
    /* a free range of five pages: map it anywhere, then give it back */
    char *probe = mmap(NULL, 5 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (probe == MAP_FAILED || munmap(probe, 5 * page))
        return 2;
    unsigned long base = (unsigned long)probe;

    try_map(base, 5, 1, "all five pages while free");
    munmap((void *)base, 5 * page);
    try_map(base + page, 3, 1, "pages 1-3");
    try_map(base, 5, 0, "all five again: overlaps 1-3");
    try_map(base + 2 * page, 1, 0, "page 2: inside 1-3");
    try_map(base + 3 * page, 2, 0, "pages 3-4: overlaps the end");
    try_map(base, 2, 0, "pages 0-1: overlaps the start");
    try_map(base, 1, 1, "page 0: adjacent below");
    try_map(base + 4 * page, 1, 1, "page 4: adjacent above");
    if (munmap((void *)base, 5 * page))
        failures++;
    return failures != 0;
}
