/* capprobe: the prctl and capset rules that decide what a set*uid call leaves of root's
 * capabilities, for tests/test_credentials_kernel.py to record with `vasim record` and
 * replay. Started as root.
 *
 * A child sets PR_SET_KEEPCAPS (2 is EINVAL), becomes nobody with setresuid and keeps its
 * permitted set, raises its effective set from it with capset, gives up CAP_SETPCAP and
 * then sets an inheritable bit of its permitted set (allowed) and one outside it (EPERM).
 * A second child becomes nobody without KEEPCAPS (permitted set gone) and cannot drop a
 * bounding capability (EPERM). The parent drops an unknown capability (EINVAL) and
 * CAP_SYS_ADMIN from its bounding set, sets securebits 6.14+ knows (1<<8, 1<<10) and one it
 * does not (1<<12: EPERM), locks KEEP_CAPS (so PR_SET_KEEPCAPS is EPERM), and sets
 * capabilities of the high word alone (1<<32: strace prints such a set as the high word
 * only). Every return is in the recording's strace log, which the test compares.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <errno.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/capability.h>

static struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};

static long cget(struct __user_cap_data_struct d[2]) { return syscall(SYS_capget, &header, d); }
static long cset(struct __user_cap_data_struct d[2]) { return syscall(SYS_capset, &header, d); }

#define R(x) do { long r = (x); printf("%-48s = %ld %d\n", #x, r, r < 0 ? errno : 0); } while (0)

int main(void)
{
    struct __user_cap_data_struct d[2];
    pid_t child;

    setvbuf(stdout, NULL, _IONBF, 0);
    child = fork();
    if (child == 0) {
        R(prctl(PR_SET_KEEPCAPS, 2, 0, 0, 0));
        R(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
        R(prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0));
        R(setresuid(65534, 65534, 65534));
        R(cget(d));
        d[0].effective = d[0].permitted;
        d[1].effective = d[1].permitted;
        R(cset(d));
        d[0].effective &= ~(1u << CAP_SETPCAP);
        d[0].permitted &= ~(1u << CAP_SETPCAP);
        R(cset(d));
        d[0].inheritable = 1u << CAP_IPC_LOCK;
        R(cset(d));
        d[0].inheritable |= 1u << CAP_SETPCAP;
        R(cset(d));
        _exit(0);
    }
    waitpid(child, NULL, 0);
    child = fork();
    if (child == 0) {
        R(setresuid(65534, 65534, 65534));
        R(cget(d));
        R(prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0));
        _exit(0);
    }
    waitpid(child, NULL, 0);
    R(prctl(PR_CAPBSET_DROP, 99, 0, 0, 0));
    R(prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0));
    R(prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0));
    R(prctl(PR_SET_SECUREBITS, 1 << 8, 0, 0, 0));
    R(prctl(PR_SET_SECUREBITS, 1 << 10, 0, 0, 0));
    R(prctl(PR_SET_SECUREBITS, 1 << 12, 0, 0, 0));
    R(prctl(PR_SET_SECUREBITS, 0x30, 0, 0, 0));
    R(prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0));
    R(prctl(PR_GET_SECUREBITS, 0, 0, 0, 0));
    R(cget(d));
    d[0].effective = d[0].permitted = 0;
    d[1].effective = d[1].permitted = 1;   /* CAP_MAC_OVERRIDE (32) alone */
    R(cset(d));
    d[1].permitted = 3;                    /* more than permitted: EPERM */
    R(cset(d));
    return 0;
}
