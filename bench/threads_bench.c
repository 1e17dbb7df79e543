/* Thread-creation benchmark, the kernel's side (bench/threads.py runs it).
 *
 *   threads_bench STACKSIZE GUARDSIZE
 *
 * Prints "BEFORE\n", /proc/self/maps, "END\n" right before the first
 * pthread_create; then creates threads (each blocks in pause()) until
 * pthread_create fails, and prints
 *   "COUNT n ERRNO cpu_ns wall_ns\n"
 * where cpu_ns is CLOCK_PROCESS_CPUTIME_ID and wall_ns CLOCK_MONOTONIC spent
 * in the creation loop (the failing call included). STACKSIZE 0 keeps glibc's
 * default. No malloc, no stdio before the loop: the only mappings are glibc's. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char buf[1 << 16];

static void put(const char *s) { (void)!write(1, s, strlen(s)); }

static long long ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
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
    pthread_attr_t attr;
    pthread_t t;
    int n = 0, err;

    pthread_attr_init(&attr);
    if (stack && pthread_attr_setstacksize(&attr, stack) != 0)
        return 1;
    pthread_attr_setguardsize(&attr, guard);
    put("BEFORE\n");
    int fd = open("/proc/self/maps", O_RDONLY);
    ssize_t got;
    while ((got = read(fd, buf, sizeof buf)) > 0)
        (void)!write(1, buf, (size_t)got);
    close(fd);
    put("END\n");
    long long cpu0 = ns(CLOCK_PROCESS_CPUTIME_ID), wall0 = ns(CLOCK_MONOTONIC);
    while ((err = pthread_create(&t, &attr, blocker, NULL)) == 0)
        n++;
    long long cpu = ns(CLOCK_PROCESS_CPUTIME_ID) - cpu0, wall = ns(CLOCK_MONOTONIC) - wall0;
    char line[128];
    int len = snprintf(line, sizeof line, "COUNT %d %d %lld %lld\n", n, err, cpu, wall);
    (void)!write(1, line, (size_t)len);
    _exit(0);
}
