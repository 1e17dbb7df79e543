/* Probe for `vasim explain`: build a process state, show it, then answer mmap questions.
 *
 *   explainprobe threads STACKSIZE GUARDSIZE   create threads until pthread_create fails
 *   explainprobe arenas K                      K threads, each mallocs (its own arena)
 *
 * Prints "COUNT n\n" (threads created), "ARENAS n\n" (heaps malloc_info reports, main arena
 * included), then "MAPS\n", /proc/self/maps, "END\n". Then reads lines "SIZE\n" from stdin
 * and for each tries mmap(NULL, SIZE, PROT_READ|PROT_WRITE,
 * MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE), prints "OK\n" (and unmaps it) or "ENOMEM\n"
 * (or the errno), until end of input. A line "touch ADDR" instead writes one byte at ADDR
 * (in hex) and prints "OK\n" or "SEGV\n" (caught on an alternate signal stack): below the
 * main stack, that is the kernel's stack-growth answer. Everything after the first snapshot uses read/write on
 * static buffers, so the probe allocates nothing of its own between the snapshot and the
 * mmap tries. Threads block in pause(); _exit ends them all. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <setjmp.h>
#include <signal.h>
#include <unistd.h>

static char buf[1 << 16];
static char info[1 << 16];

static void put(const char *s) { (void)!write(1, s, strlen(s)); }

static void *blocker(void *arg) { (void)arg; for (;;) pause(); return NULL; }

static pthread_barrier_t ready;
static void *volatile sink;

static void *allocator(void *arg)
{
    (void)arg;
    sink = malloc(1000); /* a volatile sink: the compiler may not drop the call */
    pthread_barrier_wait(&ready);
    for (;;) pause();
    return NULL;
}

static sigjmp_buf jump;
static char altstack[1 << 16];

static void on_segv(int sig) { (void)sig; siglongjmp(jump, 1); }

static const char *touch(unsigned long addr)
{
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    sigaltstack(&ss, NULL);
    struct sigaction sa = {.sa_handler = on_segv, .sa_flags = SA_ONSTACK};
    sigaction(SIGSEGV, &sa, NULL);
    if (sigsetjmp(jump, 1))
        return "SEGV\n";
    *(volatile char *)addr = 1;
    return "OK\n";
}

static int count_heaps(void)
{
    /* malloc_info writes <heap nr="N"> once per arena; a temporary file holds it. */
    FILE *f = tmpfile();
    if (!f)
        return -1;
    malloc_info(0, f);
    rewind(f);
    size_t n = fread(info, 1, sizeof info - 1, f);
    info[n] = 0;
    fclose(f);
    int heaps = 0;
    for (char *p = info; (p = strstr(p, "<heap nr=")); p++)
        heaps++;
    return heaps;
}

int main(int argc, char **argv)
{
    int count = 0;
    if (argc >= 4 && !strcmp(argv[1], "threads")) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        size_t stack = strtoul(argv[2], NULL, 0), guard = strtoul(argv[3], NULL, 0);
        if (stack)
            pthread_attr_setstacksize(&attr, stack);
        pthread_attr_setguardsize(&attr, guard);
        pthread_t t;
        while (pthread_create(&t, &attr, blocker, NULL) == 0)
            count++;
    } else if (argc >= 3 && !strcmp(argv[1], "arenas")) {
        int k = atoi(argv[2]);
        pthread_barrier_init(&ready, NULL, (unsigned)k + 1);
        pthread_t t;
        for (int i = 0; i < k; i++)
            if (pthread_create(&t, NULL, allocator, NULL) == 0)
                count++;
        pthread_barrier_wait(&ready);
    } else {
        put("usage: explainprobe threads STACK GUARD | arenas K\n");
        return 2;
    }
    int heaps = count_heaps();
    snprintf(buf, sizeof buf, "COUNT %d\nARENAS %d\nMAPS\n", count, heaps);
    put(buf);
    int fd = open("/proc/self/maps", O_RDONLY);
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        (void)!write(1, buf, (size_t)n);
    close(fd);
    put("END\n");

    char line[64];
    size_t len = 0;
    while ((n = read(0, line + len, 1)) == 1) {
        if (line[len] != '\n' && len < sizeof line - 2) {
            len++;
            continue;
        }
        line[len] = 0;
        len = 0;
        if (!strncmp(line, "touch ", 6)) {
            put(touch(strtoul(line + 6, NULL, 16)));
            continue;
        }
        size_t size = strtoull(line, NULL, 0);
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) {
            snprintf(line, sizeof line, "E%d\n", errno);
            put(errno == ENOMEM ? "ENOMEM\n" : line);
        } else {
            munmap(p, size);
            put("OK\n");
        }
    }
    _exit(0);
}
