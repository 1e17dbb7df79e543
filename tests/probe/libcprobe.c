/*
 * vasim libc probe: run a script of glibc operations (malloc family, pthread
 * create/exit/join/detach), possibly spread over several threads, one at a
 * time in script order, so that the system calls glibc makes for each op can
 * be recorded with strace and attributed to that op.
 *
 * Build:  gcc -O1 -pthread -o libcprobe64 libcprobe.c
 *         gcc -m32 -O1 -pthread -o libcprobe32 libcprobe.c
 * Run:    libcprobe SCRIPT          (normally under strace -f and setarch -R)
 *
 * The probe itself never calls malloc or stdio: the script is read with
 * open/read into a static buffer, all state (pthread_t, pointer slots,
 * semaphores) is static, output goes through write(2), one write per line.
 * So the only mallocs are the scripted ones and glibc's own (DTV, tcache,
 * arenas), and the only memory system calls after startup are glibc's.
 *
 * Script: one op per line; blank lines and lines starting with '#' are
 * skipped and do not count as ops.  Fields are separated by blanks.
 *   T create N [STACKSIZE GUARDSIZE]      thread T calls pthread_create for
 *        thread N (NULL attr, or an attr with pthread_attr_setstacksize and
 *        pthread_attr_setguardsize).  The new thread then waits for its first
 *        op; T waits until it has started (so its startup is inside the op).
 *   T createmany COUNT [STACKSIZE GUARDSIZE]   T creates anonymous threads
 *        until COUNT were created or pthread_create failed; they block forever.
 *   T malloc ID SIZE | T calloc ID SIZE | T realloc ID SIZE | T free ID
 *        ID names a pointer slot (any token up to 63 chars, e.g. 0, 17, a).
 *        calloc is calloc(1, SIZE).  realloc(slot, SIZE) stores the result
 *        unless it is NULL with SIZE > 0 (failure keeps the old block).
 *        free(slot) sets the slot to NULL.  Slots start out NULL.
 *   N exit         thread N returns from its start routine (stays joinable
 *                  unless detached); the op ends when the thread is gone.
 *   T join N       pthread_join(N)   (N must have exited or be detached:
 *                  joining a thread that is still waiting for ops is rejected)
 *   T detach N     pthread_detach(N)
 *   T mark         no-op
 * T and N are thread numbers 0..MAX_THREADS-1, 0 = main thread; an op of
 * thread T > 0 needs T created and not exited.  Numbers: decimal or 0x-hex.
 *
 * Output (stdout), per op i (0-based), written by the thread executing it:
 *   OP i <op line, fields joined by single blanks>
 *   RET i <result>
 * results: malloc/calloc/realloc: the pointer in 0x-hex (0x0 for NULL);
 * create/join/detach: 0 or the errno name (EAGAIN, EINVAL, ESRCH, EDEADLK, ..;
 * E<n> if unknown; for create also an error of setstacksize/setguardsize);
 * createmany: "<count> <0|errno name>"; free/exit/mark: ok.
 * For exit, OP is written by the exiting thread and RET by the main thread
 * once the exiting thread no longer exists.  After the last op: DONE, then
 * _exit(0) (threads still alive are killed by exit_group).
 *
 * Exit status: 0 ok, 2 usage / script error, 3 internal limit exceeded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef unsigned long ulong;
typedef unsigned long long u64;

#define MAX_THREADS 1024
#define MAX_SLOTS 4096
#define MAX_OPS 65536
#define MAX_FIELDS 8
#define SLOT_NAME 64
#define SCRIPT_SIZE (4UL << 20)

static char script_buf[SCRIPT_SIZE];

/* parsed script */
static char *op_field[MAX_OPS][MAX_FIELDS];
static int op_nfield[MAX_OPS];
static int n_ops;

/* threads */
enum { T_UNUSED, T_RUNNING, T_EXITED };
static pthread_t thr[MAX_THREADS];
static int thr_state[MAX_THREADS];
static int thr_detached[MAX_THREADS];
static volatile pid_t thr_tid[MAX_THREADS];
static sem_t op_sem[MAX_THREADS];   /* work for thread N */
static sem_t done_sem;              /* an op of a thread > 0 finished */
static sem_t ready_sem;             /* a newly created thread has started */
static volatile int cur_op;         /* op index handed to a thread */
static pthread_t many_thr;          /* pthread_t of createmany threads (unused) */

/* pointer slots */
static char slot_name[MAX_SLOTS][SLOT_NAME];
static void *slot_ptr[MAX_SLOTS];
static int n_slots;

/* ---------------------------------------------------------------- output */

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			_exit(4);
		}
		p += w;
		n -= (size_t)w;
	}
}

/* A line is assembled in a caller-provided buffer and written with one write(2). */
struct line {
	char buf[512];
	size_t len;
};

static void l_mem(struct line *l, const char *p, size_t n)
{
	if (n > sizeof(l->buf) - 1 - l->len)
		n = sizeof(l->buf) - 1 - l->len;
	memcpy(l->buf + l->len, p, n);
	l->len += n;
}

static void l_str(struct line *l, const char *s) { l_mem(l, s, strlen(s)); }

static void l_hex(struct line *l, u64 v)
{
	char tmp[24];
	int i = sizeof(tmp);
	do {
		tmp[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	l_str(l, "0x");
	l_mem(l, tmp + i, sizeof(tmp) - i);
}

static void l_dec(struct line *l, u64 v)
{
	char tmp[24];
	int i = sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	l_mem(l, tmp + i, sizeof(tmp) - i);
}

static void l_send(struct line *l)
{
	l->buf[l->len++] = '\n';
	write_all(1, l->buf, l->len);
	l->len = 0;
}

static void die(int code, int op, const char *msg)
{
	struct line l = { .len = 0 };
	l_str(&l, "libcprobe: ");
	if (op >= 0) {
		l_str(&l, "op ");
		l_dec(&l, (u64)op);
		l_str(&l, ": ");
	}
	l_str(&l, msg);
	l.buf[l.len++] = '\n';
	write_all(2, l.buf, l.len);
	_exit(code);
}

static const char *errno_name(int e)
{
	switch (e) {
	case EPERM: return "EPERM";
	case ESRCH: return "ESRCH";
	case EINTR: return "EINTR";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EINVAL: return "EINVAL";
	case EDEADLK: return "EDEADLK";
	case ENOSYS: return "ENOSYS";
	case EOVERFLOW: return "EOVERFLOW";
	case ENOTSUP: return "ENOTSUP";
	}
	return 0;
}

static void l_errno(struct line *l, int e)
{
	const char *n;
	if (e == 0) {
		l_str(l, "0");
		return;
	}
	n = errno_name(e);
	if (n) {
		l_str(l, n);
	} else {
		l_str(l, "E");
		l_dec(l, (u64)e);
	}
}

static void mark_op(int i)
{
	struct line l = { .len = 0 };
	int k;
	l_str(&l, "OP ");
	l_dec(&l, (u64)i);
	for (k = 0; k < op_nfield[i]; k++) {
		l_str(&l, " ");
		l_str(&l, op_field[i][k]);
	}
	l_send(&l);
}

static void ret_begin(struct line *l, int i)
{
	l->len = 0;
	l_str(l, "RET ");
	l_dec(l, (u64)i);
	l_str(l, " ");
}

/* ---------------------------------------------------------------- parsing */

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

static int parse_num(const char *s, u64 *out)
{
	u64 v = 0;
	int base = 10, any = 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (; *s; s++) {
		int d;
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			return -1;
		v = v * (u64)base + (u64)d;
		any = 1;
	}
	if (!any)
		return -1;
	*out = v;
	return 0;
}

static u64 num(int op, const char *s)
{
	u64 v;
	if (parse_num(s, &v) < 0)
		die(2, op, "bad number");
	return v;
}

static int thread_no(int op, const char *s)
{
	u64 v = num(op, s);
	if (v >= MAX_THREADS)
		die(2, op, "thread number out of range");
	return (int)v;
}

static int slot(int op, const char *name)
{
	int i;
	if (strlen(name) >= SLOT_NAME)
		die(2, op, "slot name too long");
	for (i = 0; i < n_slots; i++)
		if (strcmp(slot_name[i], name) == 0)
			return i;
	if (n_slots >= MAX_SLOTS)
		die(3, op, "too many pointer slots");
	strcpy(slot_name[n_slots], name);
	return n_slots++;
}

static void read_script(const char *path)
{
	size_t n = 0;
	int fd;
	char *p, *end;
	do {
		fd = open(path, O_RDONLY | O_CLOEXEC);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0)
		die(2, -1, "cannot open the script");
	for (;;) {
		ssize_t r;
		if (n >= SCRIPT_SIZE - 1)
			die(3, -1, "script too large");
		r = read(fd, script_buf + n, SCRIPT_SIZE - 1 - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die(2, -1, "cannot read the script");
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	script_buf[n] = 0;
	for (p = script_buf; p < script_buf + n; p = end + 1) {
		int nf = 0;
		char *q;
		end = memchr(p, '\n', (size_t)(script_buf + n - p));
		if (!end)
			end = script_buf + n;
		*end = 0;
		q = p;
		while (is_space(*q))
			q++;
		if (*q == 0 || *q == '#')
			continue;
		if (n_ops >= MAX_OPS)
			die(3, -1, "too many ops");
		while (*q) {
			if (nf >= MAX_FIELDS)
				die(2, n_ops, "too many fields");
			op_field[n_ops][nf++] = q;
			while (*q && !is_space(*q))
				q++;
			if (*q)
				*q++ = 0;
			while (is_space(*q))
				q++;
		}
		op_nfield[n_ops++] = nf;
	}
}

/* ---------------------------------------------------------------- ops */

static void sem_wait_intr(sem_t *s)
{
	while (sem_wait(s) != 0)
		if (errno != EINTR)
			_exit(5);
}

static void *worker(void *arg);
static void *blocker(void *arg);

/* The attr of create/createmany: NULL, or an attr with stack and guard size.
 * Returns 0 or the errno of pthread_attr_set*. */
static int make_attr(int i, int first, pthread_attr_t *attr, pthread_attr_t **use)
{
	int nf = op_nfield[i], e;
	*use = NULL;
	if (nf == first)
		return 0;
	if (nf != first + 2)
		die(2, i, "create needs N [STACKSIZE GUARDSIZE]");
	pthread_attr_init(attr);
	e = pthread_attr_setstacksize(attr, (size_t)num(i, op_field[i][first]));
	if (e == 0)
		e = pthread_attr_setguardsize(attr, (size_t)num(i, op_field[i][first + 1]));
	if (e != 0) {
		pthread_attr_destroy(attr);
		return e;
	}
	*use = attr;
	return 0;
}

/* Execute op i in the calling thread (number self), except exit. */
static void run_op(int i, int self)
{
	const char *op = op_field[i][1];
	int nf = op_nfield[i];
	struct line l;

	mark_op(i);
	if (strcmp(op, "malloc") == 0 || strcmp(op, "calloc") == 0 || strcmp(op, "realloc") == 0) {
		int s;
		size_t size;
		void *p;
		if (nf != 4)
			die(2, i, "malloc/calloc/realloc need ID SIZE");
		s = slot(i, op_field[i][2]);
		size = (size_t)num(i, op_field[i][3]);
		if (op[0] == 'm') {
			p = malloc(size);
			slot_ptr[s] = p;
		} else if (op[0] == 'c') {
			p = calloc(1, size);
			slot_ptr[s] = p;
		} else {
			p = realloc(slot_ptr[s], size);
			if (p != NULL || size == 0)
				slot_ptr[s] = p;
		}
		ret_begin(&l, i);
		l_hex(&l, (u64)(uintptr_t)p);
	} else if (strcmp(op, "free") == 0) {
		int s;
		if (nf != 3)
			die(2, i, "free needs ID");
		s = slot(i, op_field[i][2]);
		free(slot_ptr[s]);
		slot_ptr[s] = NULL;
		ret_begin(&l, i);
		l_str(&l, "ok");
	} else if (strcmp(op, "create") == 0) {
		pthread_attr_t attr, *use;
		int n, e;
		if (nf < 3)
			die(2, i, "create needs N");
		n = thread_no(i, op_field[i][2]);
		if (n == 0 || thr_state[n] != T_UNUSED)
			die(2, i, "create: thread number in use");
		e = make_attr(i, 3, &attr, &use);
		if (e == 0) {
			e = pthread_create(&thr[n], use, worker, (void *)(intptr_t)n);
			if (use)
				pthread_attr_destroy(use);
			if (e == 0) {
				thr_state[n] = T_RUNNING;
				thr_detached[n] = 0;
				sem_wait_intr(&ready_sem);
			}
		}
		ret_begin(&l, i);
		l_errno(&l, e);
	} else if (strcmp(op, "createmany") == 0) {
		pthread_attr_t attr, *use;
		u64 count, done = 0;
		int e;
		if (nf < 3)
			die(2, i, "createmany needs COUNT");
		count = num(i, op_field[i][2]);
		e = make_attr(i, 3, &attr, &use);
		while (e == 0 && done < count) {
			e = pthread_create(&many_thr, use, blocker, NULL);
			if (e == 0) {
				sem_wait_intr(&ready_sem);
				done++;
			}
		}
		if (use)
			pthread_attr_destroy(use);
		ret_begin(&l, i);
		l_dec(&l, done);
		l_str(&l, " ");
		l_errno(&l, e);
	} else if (strcmp(op, "join") == 0 || strcmp(op, "detach") == 0) {
		int n, e;
		if (nf != 3)
			die(2, i, "join/detach need N");
		n = thread_no(i, op_field[i][2]);
		if (n == 0 || thr_state[n] == T_UNUSED)
			die(2, i, "join/detach: no such thread");
		if (op[0] == 'j') {
			if (n == self)
				die(2, i, "join: a thread cannot join itself here");
			if (thr_state[n] == T_RUNNING && !thr_detached[n])
				die(2, i, "join: the thread has not exited (would block forever)");
			e = pthread_join(thr[n], NULL);
			if (e == 0)
				thr_state[n] = T_UNUSED;
		} else {
			e = pthread_detach(thr[n]);
			if (e == 0) {
				thr_detached[n] = 1;
				if (thr_state[n] == T_EXITED)
					thr_state[n] = T_UNUSED; /* its resources are released */
			}
		}
		ret_begin(&l, i);
		l_errno(&l, e);
	} else if (strcmp(op, "mark") == 0) {
		if (nf != 2)
			die(2, i, "mark takes no arguments");
		ret_begin(&l, i);
		l_str(&l, "ok");
	} else {
		die(2, i, "unknown op");
	}
	l_send(&l);
}

static void *worker(void *arg)
{
	int self = (int)(intptr_t)arg;
	thr_tid[self] = (pid_t)syscall(SYS_gettid);
	sem_post(&ready_sem);
	for (;;) {
		int i;
		sem_wait_intr(&op_sem[self]);
		i = cur_op;
		if (strcmp(op_field[i][1], "exit") == 0) {
			mark_op(i);
			return NULL; /* the main thread writes RET once we are gone */
		}
		run_op(i, self);
		sem_post(&done_sem);
	}
}

static void *blocker(void *arg)
{
	(void)arg;
	sem_post(&ready_sem);
	for (;;)
		pause();
	return NULL;
}

/* Wait until thread tid no longer exists (after its exit the kernel, or the
 * tracer, reaps it; tgkill then fails with ESRCH). */
static void wait_gone(pid_t tid)
{
	pid_t pid = getpid();
	struct timespec ts = { 0, 100000 };
	while (syscall(SYS_tgkill, pid, tid, 0) == 0 || errno != ESRCH)
		nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	int i;
	if (argc != 2)
		die(2, -1, "usage: libcprobe SCRIPT");
	read_script(argv[1]);
	for (i = 0; i < MAX_THREADS; i++)
		sem_init(&op_sem[i], 0, 0);
	sem_init(&done_sem, 0, 0);
	sem_init(&ready_sem, 0, 0);
	for (i = 0; i < n_ops; i++) {
		int t;
		if (op_nfield[i] < 2)
			die(2, i, "an op line is: T OP ARGS...");
		t = thread_no(i, op_field[i][0]);
		if (strcmp(op_field[i][1], "exit") == 0) {
			struct line l;
			if (op_nfield[i] != 2)
				die(2, i, "exit takes no arguments");
			if (t == 0 || thr_state[t] != T_RUNNING)
				die(2, i, "exit: thread 0 or a thread that is not running");
			cur_op = i;
			sem_post(&op_sem[t]);
			wait_gone(thr_tid[t]);
			thr_state[t] = thr_detached[t] ? T_UNUSED : T_EXITED;
			ret_begin(&l, i);
			l_str(&l, "ok");
			l_send(&l);
		} else if (t == 0) {
			run_op(i, 0);
		} else {
			if (thr_state[t] != T_RUNNING)
				die(2, i, "the thread is not running");
			cur_op = i;
			sem_post(&op_sem[t]);
			sem_wait_intr(&done_sem);
		}
	}
	write_all(1, "DONE\n", 5);
	_exit(0);
}
