/* Thread-count probe: create threads until pthread_create fails, the way
 * `vasim threads` does, and show the maps before and after.
 *
 *   thrcount [STACKSIZE [GUARDSIZE [stdio]]]
 *
 * STACKSIZE 0 (or absent) keeps glibc's default; GUARDSIZE defaults to 4096.
 * Prints "BEFORE\n", /proc/self/maps right before the first pthread_create,
 * "END\n"; then "COUNT n ERRNAME\n"; then "LOADAVG before|after\n", where
 * before and after are /proc/loadavg right before the first pthread_create
 * and right after the failing one (its "running/nr_threads last_pid" fields
 * give the kernel's task count); then "AFTER\n", the maps after the
 * failure, "END\n". The maps are copied with open/read/write into a static
 * buffer, so the probe itself makes no allocation: the only ones are glibc's
 * own (the DTV of each thread). With "stdio", the first snapshot is made
 * with fopen/fgets/fputs instead, as a typical program would, which creates
 * the brk heap before the threads. Every thread blocks in pause(); _exit
 * ends them all. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char buf[1 << 16];

static void put(const char *s) { (void)!write(1, s, strlen(s)); }

static void dump(const char *tag)
{
    put(tag);
    int fd = open("/proc/self/maps", O_RDONLY);
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        (void)!write(1, buf, (size_t)n);
    close(fd);
    put("END\n");
}

/* /proc/loadavg without its newline, into dst (no allocation). */
static void loadavg(char *dst, size_t size)
{
    int fd = open("/proc/loadavg", O_RDONLY);
    ssize_t n = fd < 0 ? 0 : read(fd, dst, size - 1);
    if (fd >= 0)
        close(fd);
    if (n < 0)
        n = 0;
    while (n > 0 && dst[n - 1] == '\n')
        n--;
    dst[n] = 0;
}

static void dump_stdio(const char *tag)
{
    fputs(tag, stdout);
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    while (fgets(line, sizeof line, f))
        fputs(line, stdout);
    fclose(f);
    fputs("END\n", stdout);
    fflush(stdout);
}

static void *blocker(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

int main(int argc, char **argv)
{
    size_t stack = argc > 1 ? strtoul(argv[1], NULL, 0) : 0;
    size_t guard = argc > 2 ? strtoul(argv[2], NULL, 0) : 4096;
    int use_stdio = argc > 3 && strcmp(argv[3], "stdio") == 0;
    pthread_attr_t attr;
    pthread_t t;
    int n = 0, err;

    pthread_attr_init(&attr);
    if (stack && pthread_attr_setstacksize(&attr, stack) != 0) {
        put("setstacksize failed\n");
        return 1;
    }
    pthread_attr_setguardsize(&attr, guard);
    if (use_stdio)
        dump_stdio("BEFORE\n");
    else
        dump("BEFORE\n");
    static char before[128], after[128];
    loadavg(before, sizeof before);
    while ((err = pthread_create(&t, &attr, blocker, NULL)) == 0)
        n++;
    loadavg(after, sizeof after);
    char line[64];
    int len = 0;
    char digits[16];
    int d = 0;
    do {
        digits[d++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    memcpy(line, "COUNT ", 6);
    len = 6;
    while (d)
        line[len++] = digits[--d];
    line[len++] = ' ';
    const char *name = err == EAGAIN ? "EAGAIN" : err == ENOMEM ? "ENOMEM" : "OTHER";
    memcpy(line + len, name, strlen(name));
    len += (int)strlen(name);
    line[len++] = '\n';
    (void)!write(1, line, (size_t)len);
    put("LOADAVG ");
    put(before);
    put("|");
    put(after);
    put("\n");
    dump("AFTER\n");
    _exit(0);
}
