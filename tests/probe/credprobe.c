/* credprobe: a program that meets the limits credentials put on memory calls, for
 * tests/test_credentials_kernel.py to record with `vasim record` and replay.
 *
 * Started as root. It locks memory as root, lowers RLIMIT_MEMLOCK, gives up its effective
 * uid (setresuid: CAP_IPC_LOCK goes), meets ENOMEM/EPERM/EAGAIN from mlock, mlock2,
 * mlockall and a locked mmap, takes its uid back, then creates SysV segments with
 * different modes and forks a child that becomes nobody (setuid: every capability goes)
 * and attaches them (EACCES where the mode says so), removes one it does not own (EPERM)
 * and forks a grandchild that inherits all of it and execs /bin/true under a 1 GiB
 * RLIMIT_STACK; a segment given to nobody by IPC_SET is
 * nobody's to attach and remove, and goes when the child's attach goes at its exit. The parent then shows IPC_RMID of an
 * attached segment (still attachable by id until the last detach), RLIMIT_DATA (64 KiB above
 * VmData: private writable mappings and mprotect to writable refused past it) and RLIMIT_AS.
 * Every return is printed; the recording's strace log is what the test compares.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <fcntl.h>

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif

#define PG 4096L
#define NOBODY 65534

static void show(const char *what, long ret)
{
	printf("%s = %ld\n", what, ret);
}

/* VmData of /proc/self/status in bytes, read without stdio (whose buffers would move it) */
static long vmdata(void)
{
	static char buf[4096];
	char *line;
	long n;
	int fd = open("/proc/self/status", O_RDONLY);

	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	line = strstr(buf, "VmData:");
	return line ? atol(line + 7) * 1024 : -1;
}

static long set_memlock(rlim_t soft, rlim_t hard)
{
	struct rlimit rl = { soft, hard };
	return setrlimit(RLIMIT_MEMLOCK, &rl);
}

static void as_nobody(int seg[5], int key_id)
{
	void *p;
	show("setuid", setuid(NOBODY));
	p = shmat(seg[0], NULL, 0);                 /* 0600, owner root: no */
	show("shmat 0600 rw", p == (void *)-1 ? -1 : 0);
	p = shmat(seg[0], NULL, SHM_RDONLY);
	show("shmat 0600 ro", p == (void *)-1 ? -1 : 0);
	p = shmat(seg[1], NULL, SHM_RDONLY);        /* 0640, group root (our gid): read */
	show("shmat 0640 ro", p == (void *)-1 ? -1 : (long)shmdt(p));
	p = shmat(seg[1], NULL, 0);
	show("shmat 0640 rw", p == (void *)-1 ? -1 : 0);
	p = shmat(seg[2], NULL, SHM_RDONLY);        /* 0604: others read */
	show("shmat 0604 ro", p == (void *)-1 ? -1 : 0);
	p = shmat(seg[3], NULL, 0);                 /* 0666 */
	show("shmat 0666 rw", p == (void *)-1 ? -1 : 0);
	show("shmctl rmid not owner", shmctl(seg[3], IPC_RMID, NULL));
	p = shmat(seg[4], NULL, 0);                 /* 0600, owner nobody by IPC_SET */
	show("shmat 0600 new owner", p == (void *)-1 ? -1 : 0);
	show("shmctl rmid new owner", shmctl(seg[4], IPC_RMID, NULL));  /* gone at exit */
	show("shmget key no access", shmget(0x43524544, 0, 0));
	show("shmget key read", shmget(0x43524544, 0, 0400));
	show("mlock as nobody", mlock(p, PG));      /* RLIMIT_MEMLOCK 8 KiB: one page fits */
	show("mlock2 too much", syscall(SYS_mlock2, p, 3 * PG, 0));
	show("setrlimit raise", set_memlock(PG * 4, PG * 4));
	show("setresuid back", setresuid(-1, 0, -1));   /* not ours to take back */
	(void)key_id;
}

int main(void)
{
	char *a, *b;
	int seg[5], key_id, status;
	struct shmid_ds ds;
	pid_t child;
	void *p, *q;
	struct rlimit rl;

	setvbuf(stdout, NULL, _IONBF, 0);
	a = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	show("mlock root", mlock(a, PG));
	show("setrlimit low", set_memlock(2 * PG, 2 * PG));
	show("mlock root over the limit", mlock(a + PG, 4 * PG));   /* CAP_IPC_LOCK */
	show("setresuid nobody", setresuid(-1, NOBODY, -1));
	show("mlock nobody", mlock(a + 5 * PG, PG));                /* 6 pages > 2 */
	show("munlock", munlock(a, 5 * PG));
	show("mlock two", mlock(a, 2 * PG));
	show("mlock third", mlock(a + 2 * PG, PG));
	show("mlock2 onfault again", syscall(SYS_mlock2, a, PG, MLOCK_ONFAULT));
	show("mlockall current", mlockall(MCL_CURRENT));
	show("mlockall future", mlockall(MCL_FUTURE));
	b = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	show("mmap under MCL_FUTURE", b == MAP_FAILED ? -1 : 0);
	show("munlockall", munlockall());
	show("setrlimit raise hard", set_memlock(PG * 4, PG * 4));
	show("setrlimit zero", set_memlock(0, 2 * PG));
	show("mlock zero limit", mlock(a, PG));
	show("setresuid root", setresuid(-1, 0, -1));
	show("mlock root again", mlock(a + 6 * PG, PG));
	show("setrlimit back", set_memlock(2 * PG, 2 * PG));

	seg[0] = shmget(IPC_PRIVATE, 2 * PG, IPC_CREAT | 0600);
	seg[1] = shmget(IPC_PRIVATE, PG, IPC_CREAT | 0640);
	seg[2] = shmget(IPC_PRIVATE, PG, IPC_CREAT | 0604);
	seg[3] = shmget(IPC_PRIVATE, PG, IPC_CREAT | 0666);
	seg[4] = shmget(IPC_PRIVATE, PG, IPC_CREAT | 0600);
	shmctl(seg[4], IPC_STAT, &ds);
	ds.shm_perm.uid = NOBODY;
	show("shmctl set", shmctl(seg[4], IPC_SET, &ds));
	key_id = shmget(0x43524544, PG, IPC_CREAT | 0600);
	child = fork();
	if (child == 0) {
		as_nobody(seg, key_id);
		child = fork();
		if (child == 0) {
			show("grandchild mlock", mlock(a, 3 * PG));
			p = shmat(seg[0], NULL, 0);
			show("grandchild shmat 0600", p == (void *)-1 ? -1 : 0);
			/* the next program's mmap base sits below a 1 GiB stack gap */
			rl.rlim_cur = 1UL << 30;
			rl.rlim_max = RLIM_INFINITY;
			show("setrlimit stack", setrlimit(RLIMIT_STACK, &rl));
			execl("/bin/true", "true", (char *)NULL);
			_exit(1);
		}
		waitpid(child, &status, 0);
		_exit(0);
	}
	waitpid(child, &status, 0);

	p = shmat(seg[0], NULL, 0);
	show("shmctl rmid attached", shmctl(seg[0], IPC_RMID, NULL));
	q = shmat(seg[0], NULL, SHM_RDONLY);         /* SHM_DEST: still attachable by id */
	show("shmat removed but attached", q == (void *)-1 ? -1 : 0);
	show("shmdt", shmdt(p));
	show("shmdt", shmdt(q));
	q = shmat(seg[0], NULL, 0);                  /* gone with its last detach */
	show("shmat gone", q == (void *)-1 ? -1 : 0);
	show("shmctl rmid", shmctl(seg[1], IPC_RMID, NULL));
	show("shmctl rmid", shmctl(seg[2], IPC_RMID, NULL));
	show("shmctl rmid", shmctl(seg[3], IPC_RMID, NULL));
	show("shmctl rmid key", shmctl(key_id, IPC_RMID, NULL));
	show("shmctl rmid gone", shmctl(seg[4], IPC_RMID, NULL));  /* its last attach exited */

	/* RLIMIT_DATA 64 KiB above what is private, writable and not stack (mm->data_vm) */
	rl.rlim_cur = vmdata() + 64 * 1024;
	rl.rlim_max = RLIM_INFINITY;
	show("setrlimit data", setrlimit(RLIMIT_DATA, &rl));
	b = mmap(NULL, 1L << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	show("mmap rw over RLIMIT_DATA", b == MAP_FAILED ? -1 : 0);
	b = mmap(NULL, 1L << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	show("mmap ro", b == MAP_FAILED ? -1 : 0);
	show("mprotect rw over RLIMIT_DATA", mprotect(b, 1L << 20, PROT_READ | PROT_WRITE));
	q = mmap(NULL, 1L << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	show("mmap shared rw", q == MAP_FAILED ? -1 : 0);
	q = mmap(NULL, 64 * 1024, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	show("mmap rw up to RLIMIT_DATA", q == MAP_FAILED ? -1 : 0);
	q = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	show("mmap rw one page over", q == MAP_FAILED ? -1 : 0);
	show("brk over RLIMIT_DATA", sbrk(PG) == (void *)-1 ? -1 : 0);
	rl.rlim_cur = RLIM_INFINITY;
	setrlimit(RLIMIT_DATA, &rl);

	getrlimit(RLIMIT_AS, &rl);
	rl.rlim_cur = 256L << 20;
	show("setrlimit as", setrlimit(RLIMIT_AS, &rl));
	b = mmap(NULL, 512L << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	show("mmap over RLIMIT_AS", b == MAP_FAILED ? -1 : 0);
	b = mmap(NULL, 1L << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	show("mmap under RLIMIT_AS", b == MAP_FAILED ? -1 : 0);
	return 0;
}
