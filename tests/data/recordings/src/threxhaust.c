/* Create threads with the default attributes until pthread_create fails.
 * Every thread blocks forever in pause(); the count goes to stderr and the
 * process ends with exit(0) -> exit_group, killing the blocked threads.
 * Exercises: glibc default thread-stack size (RLIMIT_STACK soft limit, or
 * the architecture default when unlimited), stack+guard placement, and
 * address-space exhaustion (mmap -> ENOMEM -> pthread_create EAGAIN). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CAP 100000 /* safety net for 64-bit builds */

static void *blocker(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

int main(void)
{
    pthread_t t;
    int n = 0, err = 0;
    while (n < CAP && (err = pthread_create(&t, NULL, blocker, NULL)) == 0)
        n++;
    fprintf(stderr, "threads=%d err=%s\n", n, err ? strerror(err) : "cap");
    return 0;
}
