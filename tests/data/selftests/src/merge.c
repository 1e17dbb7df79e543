/* Port (own words, same calls) of the mprotect and fork cases of the kernel's
 * selftests/mm/merge.c. As its harness does, every case runs in a child of its own
 * (fork, then the fixture: a 30-page PROT_NONE carve-out to map over) and the parent
 * waits. Instead of the PROCMAP_QUERY ioctl, the VMA around an address is read from
 * /proc/self/maps. A case prints "ok NAME" when the VMA has the range the kernel's
 * merge rules give (mm/vma.c: a faulted VMA merges with an unfaulted neighbour, since
 * 6.12 also when mprotect makes them compatible; a VMA whose anon_vma was forked keeps
 * its own). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned long page;

/* The [start, end) of the VMA holding addr, from /proc/self/maps. */
static int vma_around(void *addr, unsigned long *start, unsigned long *end)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    while (f && fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%lx-%lx", start, end) == 2 &&
            *start <= (unsigned long)addr && (unsigned long)addr < *end) {
            found = 1;
            break;
        }
    }
    if (f)
        fclose(f);
    return found;
}

static int vma_is(void *addr, unsigned long pages)
{
    unsigned long start, end;
    return vma_around(addr, &start, &end) && start == (unsigned long)addr
           && end == (unsigned long)addr + pages * page;
}

static char *fixed_rw(char *at, unsigned long pages, int extra)
{
    return mmap(at, pages * page, PROT_READ | PROT_WRITE,
                MAP_ANON | MAP_PRIVATE | MAP_FIXED | extra, -1, 0);
}

static int unfaulted_left(char *c)
{
    char *p = fixed_rw(c + page, 10, MAP_NORESERVE);
    mprotect(p, 5 * page, PROT_READ);
    p[5 * page] = 'x';
    mprotect(p + 5 * page, 5 * page, PROT_READ);
    return vma_is(p, 10);
}

static int unfaulted_right(char *c)
{
    char *p = fixed_rw(c + page, 10, MAP_NORESERVE);
    mprotect(p + 5 * page, 5 * page, PROT_READ);
    p[0] = 'x';
    mprotect(p, 5 * page, PROT_READ);
    return vma_is(p, 10);
}

static int unfaulted_both(char *c)
{
    char *p = fixed_rw(c + 2 * page, 9, MAP_NORESERVE);
    mprotect(p, 3 * page, PROT_READ);
    mprotect(p + 6 * page, 3 * page, PROT_READ);
    p[3 * page] = 'x';
    mprotect(p + 3 * page, 3 * page, PROT_READ);
    return vma_is(p, 9);
}

static int faulted_left_unfaulted_right(char *c)
{
    char *p = fixed_rw(c + 2 * page, 9, MAP_NORESERVE);
    mprotect(p + 6 * page, 3 * page, PROT_READ);
    p[0] = 'x';
    mprotect(p, 3 * page, PROT_READ);
    mprotect(p + 3 * page, 3 * page, PROT_READ);
    return vma_is(p, 9);
}

static int unfaulted_left_faulted_right(char *c)
{
    char *p = fixed_rw(c + 2 * page, 9, MAP_NORESERVE);
    mprotect(p, 3 * page, PROT_READ);
    p[3 * page] = 'x';
    mprotect(p + 6 * page, 3 * page, PROT_READ);
    mprotect(p + 3 * page, 3 * page, PROT_READ);
    return vma_is(p, 9);
}

/* A forked (faulted) VMA and a new neighbour mapped in the child stay apart. */
static int forked_target(char *c)
{
    char *p = fixed_rw(c + page, 5, 0);
    p[0] = 'x';
    pid_t pid = fork();
    if (pid != 0) {
        int status;
        waitpid(pid, &status, 0);
        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    for (unsigned long i = 0; i < 5 * page; i += page)
        p[i] = 'x';
    fixed_rw(p + 5 * page, 5, 0);
    _exit(vma_is(p, 5) ? 0 : 1);
}

/* mprotect of a forked VMA to match its neighbour does not merge them. */
static int forked_source(char *c)
{
    char *p = fixed_rw(c + page, 5, MAP_NORESERVE);
    p[0] = 'x';
    pid_t pid = fork();
    if (pid != 0) {
        int status;
        waitpid(pid, &status, 0);
        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    for (unsigned long i = 0; i < 5 * page; i += page)
        p[i] = 'x';
    char *q = mmap(c + 6 * page, 5 * page, PROT_READ | PROT_WRITE | PROT_EXEC,
                   MAP_ANON | MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, -1, 0);
    int apart = vma_is(q, 5);
    mprotect(p, 5 * page, PROT_READ | PROT_WRITE | PROT_EXEC);
    _exit(apart && vma_is(q, 5) ? 0 : 1);
}

static const struct { const char *name; int (*run)(char *); } cases[] = {
    {"mprotect_unfaulted_left", unfaulted_left},
    {"mprotect_unfaulted_right", unfaulted_right},
    {"mprotect_unfaulted_both", unfaulted_both},
    {"mprotect_faulted_left_unfaulted_right", faulted_left_unfaulted_right},
    {"mprotect_unfaulted_left_faulted_right", unfaulted_left_faulted_right},
    {"forked_target_vma", forked_target},
    {"forked_source_vma", forked_source},
};

int main(void)
{
    int failures = 0;
    page = sysconf(_SC_PAGE_SIZE);
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            char *carveout = mmap(NULL, 30 * page, PROT_NONE, MAP_ANON | MAP_PRIVATE, -1, 0);
            int ok = carveout != MAP_FAILED && cases[i].run(carveout);
            munmap(carveout, 30 * page);
            printf("%s %s\n", ok ? "ok" : "FAIL", cases[i].name);
            fflush(stdout);
            _exit(!ok);
        }
        int status;
        waitpid(pid, &status, 0);
        failures += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    return failures != 0;
}
