/* The kernel side of bench/run.py: replay a list of memory system calls on the real kernel.
 *
 * Run under `setarch x86_64 -R` (as bench/run.py does). Protocol, over stdin/stdout:
 *
 *   1. At start, before anything else can change the address space, print
 *          RLIMIT_STACK <bytes or -1>\n
 *          MAPS <n>\n<n bytes of /proc/self/maps>
 *      The driver builds the model from exactly this text.
 *   2. Read the whole workload from stdin (binary, little-endian int64):
 *          header: magic, n_setup, n_timed, flags (bit 0: time each call separately)
 *          then n_setup + n_timed records of 7 int64: op, a0..a4, expected
 *      op 1 mmap(a0, a1, a2, a3, -1, 0)   2 munmap(a0, a1)   3 mprotect(a0, a1, a2)
 *         4 mremap(a0, a1, a2, a3, a4)
 *      expected: the address (mmap, mremap), 0 (munmap, mprotect), or -errno.
 *   3. Re-read /proc/self/maps and check it still equals what step 1 printed (reading the
 *      workload must not have changed the address space), else exit 3.
 *   4. Execute the setup records (untimed), then the timed records, with
 *      clock_gettime(CLOCK_PROCESS_CPUTIME_ID) around the timed loop only (CPU time: the
 *      machine may be shared), CLOCK_MONOTONIC around each call with flags bit 0.
 *   5. Print
 *          TIMED <ns> <n_timed>\n
 *          OPNS <op> <count> <ns>\n          (only with flags bit 0, one per op kind)
 *          MISMATCHES <count>\n
 *          MISMATCH <index> <op> <a0> <a1> <a2> <a3> <a4> <expected> <got>\n   (first 50)
 *          FINAL <n>\n<n bytes of /proc/self/maps after the run>
 *
 * All buffers are static (bss) and all I/O is read(2)/write(2): no malloc, no stdio before the
 * run, so the program makes no mapping of its own between step 1 and the end of step 4.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x3148434e45424156LL /* "VABENCH1" */
#define MAX_RECS (2L * 1000 * 1000)
#define NFIELDS 7
#define INIT_MAPS_MAX (1L << 20)
#define FINAL_MAPS_MAX (64L << 20)

static int64_t recs[MAX_RECS * NFIELDS];
static int64_t results[MAX_RECS];
static char init_maps[INIT_MAPS_MAX];
static char check_maps[INIT_MAPS_MAX];
static char final_maps[FINAL_MAPS_MAX];
static char line[512];

static void die(const char *msg) {
    write(2, msg, strlen(msg));
    write(2, "\n", 1);
    _exit(2);
}

static void write_all(int fd, const char *buf, size_t n) {
    while (n) {
        ssize_t w = write(fd, buf, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            die("write failed");
        }
        buf += w;
        n -= (size_t)w;
    }
}

static size_t read_fd(int fd, char *buf, size_t cap) {
    size_t n = 0;
    for (;;) {
        if (n == cap) die("buffer too small");
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            die("read failed");
        }
        if (r == 0) return n;
        n += (size_t)r;
    }
}

static size_t read_maps(char *buf, size_t cap) {
    int fd = open("/proc/self/maps", O_RDONLY);
    if (fd < 0) die("open /proc/self/maps");
    size_t n = read_fd(fd, buf, cap);
    close(fd);
    return n;
}

static inline int64_t do_call(const int64_t *r) {
    void *p;
    switch (r[0]) {
    case 1:
        p = mmap((void *)r[1], (size_t)r[2], (int)r[3], (int)r[4], -1, 0);
        return p == MAP_FAILED ? -errno : (int64_t)(intptr_t)p;
    case 2:
        return munmap((void *)r[1], (size_t)r[2]) ? -errno : 0;
    case 3:
        return mprotect((void *)r[1], (size_t)r[2], (int)r[3]) ? -errno : 0;
    case 4:
        p = mremap((void *)r[1], (size_t)r[2], (size_t)r[3], (int)r[4], (void *)r[5]);
        return p == MAP_FAILED ? -errno : (int64_t)(intptr_t)p;
    }
    return -9999;
}

static int64_t ns_between(const struct timespec *a, const struct timespec *b) {
    return (int64_t)(b->tv_sec - a->tv_sec) * 1000000000LL + (b->tv_nsec - a->tv_nsec);
}

int main(void) {
    struct rlimit rl;
    getrlimit(RLIMIT_STACK, &rl);
    size_t init_n = read_maps(init_maps, INIT_MAPS_MAX);
    int len = snprintf(line, sizeof line, "RLIMIT_STACK %lld\nMAPS %zu\n",
                       rl.rlim_cur == RLIM_INFINITY ? -1LL : (long long)rl.rlim_cur, init_n);
    write_all(1, line, (size_t)len);
    write_all(1, init_maps, init_n);

    size_t got = read_fd(0, (char *)recs, sizeof recs);
    if (got < 4 * sizeof(int64_t) || recs[0] != MAGIC) die("bad workload header");
    int64_t n_setup = recs[1], n_timed = recs[2], flags = recs[3];
    int64_t total = n_setup + n_timed;
    if (total > MAX_RECS - 1 || got != (size_t)(4 + total * NFIELDS) * sizeof(int64_t))
        die("bad workload size");
    const int64_t *w = recs + 4;

    size_t check_n = read_maps(check_maps, INIT_MAPS_MAX);
    if (check_n != init_n || memcmp(check_maps, init_maps, init_n)) {
        write_all(1, "MAPS-CHANGED\n", 13);
        return 3;
    }

    for (int64_t i = 0; i < n_setup; i++) results[i] = do_call(w + i * NFIELDS);

    struct timespec t0, t1;
    int64_t op_count[5] = {0}, op_ns[5] = {0};
    if (flags & 1) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int64_t i = n_setup; i < total; i++) {
            struct timespec a, b;
            const int64_t *r = w + i * NFIELDS;
            clock_gettime(CLOCK_MONOTONIC, &a);
            results[i] = do_call(r);
            clock_gettime(CLOCK_MONOTONIC, &b);
            int op = (int)r[0] & 3;
            op_count[op == 0 ? 4 : op]++;
            op_ns[op == 0 ? 4 : op] += ns_between(&a, &b);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
    } else {
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
        for (int64_t i = n_setup; i < total; i++) results[i] = do_call(w + i * NFIELDS);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
    }

    /* Everything below runs after the measured part; stdio is fine now. */
    size_t final_n = read_maps(final_maps, FINAL_MAPS_MAX);
    printf("TIMED %lld %lld\n", (long long)ns_between(&t0, &t1), (long long)n_timed);
    if (flags & 1)
        for (int op = 1; op <= 4; op++)
            printf("OPNS %d %lld %lld\n", op, (long long)op_count[op], (long long)op_ns[op]);
    int64_t bad = 0;
    for (int64_t i = 0; i < total; i++)
        if (results[i] != w[i * NFIELDS + 6]) bad++;
    printf("MISMATCHES %lld\n", (long long)bad);
    int shown = 0;
    for (int64_t i = 0; i < total && shown < 50; i++) {
        const int64_t *r = w + i * NFIELDS;
        if (results[i] == r[6]) continue;
        shown++;
        printf("MISMATCH %lld %lld %#llx %#llx %#llx %#llx %#llx %lld %lld\n", (long long)i,
               (long long)r[0], (long long)r[1], (long long)r[2], (long long)r[3],
               (long long)r[4], (long long)r[5], (long long)r[6], (long long)results[i]);
    }
    printf("FINAL %zu\n", final_n);
    fflush(stdout);
    write_all(1, final_maps, final_n);
    return 0;
}
