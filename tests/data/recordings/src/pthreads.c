/* 8 threads that malloc/free blocks around the 128 KiB mmap threshold.
 * The threads take turns (a turn counter under a mutex, opened by main only
 * after all 8 threads exist) so that the order of their memory calls - and
 * therefore every address - is deterministic; each thread still gets its own
 * malloc arena and its own stack.
 * Exercises: thread stacks + guard pages, per-thread arenas (HEAP_MAX_SIZE
 * aligned PROT_NONE reservation grown by mprotect, trimmed by munmap),
 * mmapped chunks, glibc's dynamic mmap threshold, stack cache on join. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NTHREADS 8
#define KiB 1024

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int turn = -1; /* main opens the gate once every thread exists */

static const size_t sizes[] = {
    96 * KiB, 120 * KiB, 128 * KiB - 64, 128 * KiB, 128 * KiB + 16,
    132 * KiB, 160 * KiB, 200 * KiB, 256 * KiB, 1024 * KiB,
};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void wait_turn(int id)
{
    pthread_mutex_lock(&lock);
    while (turn != id)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
}

static void next_turn(void)
{
    pthread_mutex_lock(&lock);
    turn++;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

static void *worker(void *arg)
{
    int id = (int)(long)arg;
    void *keep[NSIZES];
    size_t total = 0;

    /* round 1: allocate everything, touch it, free every other block */
    wait_turn(id);
    for (size_t i = 0; i < NSIZES; i++) {
        size_t sz = sizes[(i + id) % NSIZES] + (size_t)id * 4096;
        keep[i] = malloc(sz);
        memset(keep[i], id, 64);
        total += sz;
    }
    for (size_t i = 0; i < NSIZES; i += 2) {
        free(keep[i]);
        keep[i] = NULL;
    }
    next_turn();

    /* round 2 (after all threads did round 1): the mmap threshold has moved;
     * allocate again, free everything. */
    wait_turn(NTHREADS + id);
    for (size_t i = 0; i < NSIZES; i += 2)
        keep[i] = malloc(sizes[i] + 8 * KiB);
    for (size_t i = 0; i < NSIZES; i++)
        free(keep[i]);
    next_turn();
    return (void *)total;
}

int main(void)
{
    pthread_t th[NTHREADS];
    size_t grand = 0;
    for (long i = 0; i < NTHREADS; i++)
        if (pthread_create(&th[i], NULL, worker, (void *)i) != 0) {
            perror("pthread_create");
            return 1;
        }
    next_turn(); /* turn -1 -> 0: thread 0 starts round 1 */
    for (int i = 0; i < NTHREADS; i++) {
        void *r;
        pthread_join(th[i], &r);
        grand += (size_t)r;
    }
    printf("allocated %zu bytes in %d threads\n", grand, NTHREADS);
    return 0;
}
