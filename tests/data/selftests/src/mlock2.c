/* Port (own words, same calls) of the kernel's selftests/mm/mlock2-tests.c, in one process:
 * mlock2(0) and mlock2(MLOCK_ONFAULT) set VM_LOCKED (and VM_LOCKONFAULT) on the range,
 * munlock clears them, mlockall(MCL_CURRENT[|MCL_ONFAULT][|MCL_FUTURE]) locks every VMA
 * (and, with MCL_FUTURE, every later mapping), munlockall undoes it; munlock of the middle
 * page of a locked 3-page VMA splits it in three and munlock of the whole range merges them
 * again; MAP_DROPPABLE memory is never locked. The "lo" VmFlag is read from
 * /proc/self/smaps, the VMA bounds from /proc/self/maps. Prints "ok N what" or "not ok". */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif
#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif
#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif

static unsigned long page;
static int n, failures;

static void result(int ok, const char *what)
{
    printf("%s %d %s\n", ok ? "ok" : "not ok", ++n, what);
    failures += !ok;
}

/* The smaps field NAME ("Size:", "Rss:", "VmFlags:") of the VMA holding addr: its line. */
static int smaps_field(unsigned long addr, const char *name, char *out, size_t len)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    int inside = 0, found = 0;
    unsigned long start, end;
    while (f && fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%lx-%lx ", &start, &end) == 2 && strchr(line, '-') < strchr(line, ' '))
            inside = start <= addr && addr < end;
        else if (inside && !strncmp(line, name, strlen(name))) {
            snprintf(out, len, "%s", line + strlen(name));
            found = 1;
            break;
        }
    }
    if (f)
        fclose(f);
    return found;
}

static int has_flag(void *addr, const char *flag)
{
    char flags[256], *p;
    if (!smaps_field((unsigned long)addr, "VmFlags:", flags, sizeof(flags)))
        return 0;
    for (p = strtok(flags, " \n"); p; p = strtok(NULL, " \n"))
        if (!strcmp(p, flag))
            return 1;
    return 0;
}

static unsigned long kb(void *addr, const char *name)
{
    char v[64];
    return smaps_field((unsigned long)addr, name, v, sizeof(v)) ? strtoul(v, NULL, 10) : 0;
}

/* Locked and every page present. */
static int locked(void *addr)
{
    return has_flag(addr, "lo") && kb(addr, "Rss:") == kb(addr, "Size:");
}

/* Locked, but only what was touched is present. */
static int locked_on_fault(void *addr)
{
    return has_flag(addr, "lo") && kb(addr, "Rss:") < kb(addr, "Size:");
}

static unsigned long vma_start(void *addr)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    unsigned long start, end, found = 0;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "%lx-%lx", &start, &end) == 2 && start <= (unsigned long)addr
            && (unsigned long)addr < end) {
            found = start;
            break;
        }
    if (f)
        fclose(f);
    return found;
}

static char *anon(unsigned long pages, int extra)
{
    return mmap(NULL, pages * page, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | extra, -1, 0);
}

static void lock_unlock(void)
{
    char *m = anon(2, MAP_PRIVATE);
    result(mlock2(m, 2 * page, 0) == 0 && locked(m), "mlock2(0) locks and populates");
    result(munlock(m, 2 * page) == 0 && !has_flag(m, "lo"), "munlock clears lo");
    munmap(m, 2 * page);
}

static void onfault(void)
{
    char *m = anon(2, MAP_PRIVATE);
    result(mlock2(m, 2 * page, MLOCK_ONFAULT) == 0, "mlock2(MLOCK_ONFAULT)");
    m[0] = 'a';
    result(locked_on_fault(m), "lock on fault: one page present");
    result(munlock(m, 2 * page) == 0 && !locked_on_fault(m) && !locked_on_fault(m + page),
           "munlock after on-fault lock");
    munmap(m, 2 * page);
}

static void onfault_of_present(void)
{
    char *m = anon(2, MAP_PRIVATE);
    m[0] = 'a';
    result(mlock2(m, 2 * page, MLOCK_ONFAULT) == 0 && locked_on_fault(m),
           "present page, lock on fault");
    munmap(m, 2 * page);
}

static void lockall(void)
{
    char *m = anon(2, MAP_PRIVATE);
    result(mlockall(MCL_CURRENT) == 0 && locked(m), "mlockall(MCL_CURRENT)");
    result(munlockall() == 0 && !has_flag(m, "lo"), "munlockall");
    munmap(m, 2 * page);

    m = anon(2, MAP_PRIVATE);
    result(mlockall(MCL_CURRENT | MCL_ONFAULT) == 0, "mlockall(MCL_CURRENT|MCL_ONFAULT)");
    m[0] = 'a';
    result(locked_on_fault(m), "mlockall on fault");
    result(munlockall() == 0 && !locked_on_fault(m), "munlockall after on fault");
    result(mlockall(MCL_CURRENT | MCL_FUTURE) == 0 && locked(m), "mlockall(CURRENT|FUTURE)");
    result(munlockall() == 0 && !has_flag(m, "lo"), "munlockall after FUTURE");
    munmap(m, 2 * page);
}

static void vma_management(int call_mlock)
{
    char *m = anon(3, MAP_PRIVATE);
    if (call_mlock)
        result(mlock2(m, 3 * page, MLOCK_ONFAULT) == 0, "mlock2 3 pages on fault");
    result(vma_start(m) == vma_start(m + page) && vma_start(m + page) == vma_start(m + 2 * page),
           "one VMA before munlock");
    result(munlock(m + page, page) == 0, "munlock middle page");
    result(vma_start(m) != vma_start(m + page) && vma_start(m + page) != vma_start(m + 2 * page),
           "three VMAs after munlock of the middle");
    result(munlock(m, 3 * page) == 0, "munlock all three");
    result(vma_start(m) == vma_start(m + page) && vma_start(m + page) == vma_start(m + 2 * page),
           "one VMA again");
    munmap(m, 3 * page);
}

static void droppable(void)
{
    munlockall();
    char *m = anon(2, MAP_DROPPABLE);
    if (m == MAP_FAILED) {
        result(errno == EINVAL || errno == EOPNOTSUPP, "MAP_DROPPABLE unsupported (skip)");
        return;
    }
    result(mlock2(m, 2 * page, 0) == 0 && !has_flag(m, "lo"), "droppable memory not locked");
    munmap(m, 2 * page);

    mlockall(MCL_CURRENT | MCL_FUTURE);
    m = anon(2, MAP_DROPPABLE);
    result(m != MAP_FAILED && !has_flag(m, "lo"), "MCL_FUTURE leaves droppable unlocked");
    munlockall();
    munmap(m, 2 * page);
}

int main(void)
{
    page = sysconf(_SC_PAGE_SIZE);
    /* the support probe */
    char *m = anon(3, MAP_PRIVATE);
    if (mlock2(m, 3 * page, MLOCK_ONFAULT) && errno == ENOSYS)
        return 4;
    munmap(m, 3 * page);

    lock_unlock();
    onfault();
    lockall();
    onfault_of_present();
    vma_management(1);
    mlockall(MCL_CURRENT | MCL_ONFAULT | MCL_FUTURE);
    vma_management(0);
    munlockall();
    droppable();
    printf("%d failures\n", failures);
    return failures != 0;
}
