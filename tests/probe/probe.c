/*
 * vasim kernel probe: run a scripted sequence of memory system calls and
 * report the kernel's answers plus /proc/self/maps after each one.
 *
 * Build:  gcc -O1 -o probe64 probe.c      gcc -m32 -O1 -o probe32 probe.c
 * Run:    probe SCRIPT [SCRATCH_FILE...]          (normally under setarch -R)
 *
 * After main() starts, the only system calls that can change the address
 * space are the scripted ones: no stdio, no malloc, all buffers are static
 * (.bss), the alternate signal stack is a static array.
 *
 * Script: one op per line (blank lines and lines starting with '#' are
 * skipped and do not count as ops):
 *   mmap ADDR LEN PROT FLAGS FD OFF   FD -1 = anonymous, k>=0 = k-th scratch file
 *   munmap ADDR LEN
 *   mprotect ADDR LEN PROT
 *   mremap OLD OLDLEN NEWLEN FLAGS NEWADDR
 *   brk ADDR
 *   touch ADDR w|r
 *   madvise ADDR LEN ADVICE | mlock ADDR LEN FLAGS (FLAGS -1: mlock, else mlock2)
 *   munlock ADDR LEN | mlockall FLAGS | munlockall | mseal ADDR LEN FLAGS
 *   pkey_mprotect ADDR LEN PROT PKEY | remap_file_pages ADDR SIZE PROT PGOFF FLAGS
 *   shmat ADDR SIZE SHMFLG   shmget(IPC_PRIVATE, SIZE), shmat, shmctl(IPC_RMID):
 *                            the result is shmat's
 *   shmdt ADDR
 * Numbers: decimal or 0x-hex, optionally with a leading '-'.  Address-like
 * fields (every field except FD and the touch mode) may be expressions:
 *   NUMBER | rN | rN+K | rN-K | brk0 | brk0+K | brk0-K
 * rN is the numeric result of op N (0-based): the returned address for
 * mmap/mremap/brk, 0 for munmap/mprotect/touch, and 0 if op N failed, was
 * skipped or has not run yet.  Arithmetic wraps in unsigned long.
 *
 * Output (stdout):
 *   INIT-SMAPS / <smaps> / END
 *   BRK0 0x...
 *   per op i:  OP i <resolved op line>  /  RET i <value>  /  MAPS / <maps> / END
 *              [SMAPS / <smaps> / END   when VASIM_PROBE_SMAPS=1]
 *   DONE
 * RET values: 0x<hex> for numeric results (mmap/mremap/brk address, 0 for
 * munmap/mprotect success), -ENAME (or -E<n>) for errors, ok/SIGSEGV/SIGBUS
 * for touch, SKIPPED when the op would modify (or write into) one of the
 * probe's own initial mappings (listed in INIT-SMAPS) and was not executed.
 *
 * Exit status: 0 ok, 2 usage / script error, 3 internal limit exceeded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_mseal
#define SYS_mseal 462
#endif

typedef unsigned long ulong;
typedef unsigned long long u64;

#define PAGE_SZ 4096UL
#define MAX_OPS 65536
#define MAX_FILES 64
#define MAX_PROTECTED 512
#define SCRIPT_SIZE (4UL << 20)
#define MAPS_SIZE (4UL << 20)
#define OUT_SIZE (64UL << 10)
#define ALTSTACK_SIZE (256UL << 10)

static char script_buf[SCRIPT_SIZE];
static char maps_buf[MAPS_SIZE];
static char out_buf[OUT_SIZE];
static size_t out_len;
static char altstack_mem[ALTSTACK_SIZE] __attribute__((aligned(64)));

static ulong results[MAX_OPS];
static int scratch_fd[MAX_FILES];
static int n_scratch;
static ulong brk0;

static ulong prot_start[MAX_PROTECTED], prot_end[MAX_PROTECTED];
static int n_protected;

static sigjmp_buf touch_jmp;
static volatile sig_atomic_t touch_armed;

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

static void out_flush(void)
{
	write_all(1, out_buf, out_len);
	out_len = 0;
}

static void out_mem(const char *p, size_t n)
{
	if (n > OUT_SIZE - out_len) {
		out_flush();
		if (n > OUT_SIZE) {
			write_all(1, p, n);
			return;
		}
	}
	memcpy(out_buf + out_len, p, n);
	out_len += n;
}

static void out_str(const char *s) { out_mem(s, strlen(s)); }
static void out_char(char c) { out_mem(&c, 1); }

static void out_hex(u64 v)
{
	char tmp[24];
	int i = sizeof(tmp);
	do {
		tmp[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	out_str("0x");
	out_mem(tmp + i, sizeof(tmp) - i);
}

static void out_dec(long long v)
{
	char tmp[24];
	int i = sizeof(tmp);
	u64 u = v < 0 ? -(u64)v : (u64)v;
	do {
		tmp[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		tmp[--i] = '-';
	out_mem(tmp + i, sizeof(tmp) - i);
}

static void die(int code, const char *msg, const char *detail)
{
	out_flush();
	write_all(2, "probe: ", 7);
	write_all(2, msg, strlen(msg));
	if (detail) {
		write_all(2, ": ", 2);
		write_all(2, detail, strlen(detail));
	}
	write_all(2, "\n", 1);
	_exit(code);
}

static const char *errno_name(int e)
{
	switch (e) {
	case EPERM: return "EPERM";
	case EINTR: return "EINTR";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENODEV: return "ENODEV";
	case EINVAL: return "EINVAL";
	case ETXTBSY: return "ETXTBSY";
	case EFBIG: return "EFBIG";
	case EOVERFLOW: return "EOVERFLOW";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case ENOSPC: return "ENOSPC";
	case ENOENT: return "ENOENT";
	case ENOSYS: return "ENOSYS";
	case EIDRM: return "EIDRM";
	case EBADF: return "EBADF";
	}
	return 0;
}

static void out_err(int e)
{
	const char *n = errno_name(e);
	if (n) {
		out_char('-');
		out_str(n);
	} else {
		out_str("-E");
		out_dec(e);
	}
}

/* Read a /proc file completely (it is produced in chunks) into maps_buf. */
static size_t slurp(const char *path)
{
	int fd;
	size_t n = 0;
	do {
		fd = open(path, O_RDONLY | O_CLOEXEC);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0)
		die(3, "cannot open", path);
	for (;;) {
		ssize_t r;
		if (n == MAPS_SIZE)
			die(3, "maps buffer full", path);
		r = read(fd, maps_buf + n, MAPS_SIZE - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die(3, "cannot read", path);
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	return n;
}

static void dump(const char *tag, const char *path)
{
	size_t n = slurp(path);
	out_str(tag);
	out_char('\n');
	out_flush();
	write_all(1, maps_buf, n);
	if (n > 0 && maps_buf[n - 1] != '\n')
		out_char('\n');
	out_str("END\n");
}

/* -------------------------------------------------- own-mapping protection */

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* Parse "start-end " VMA header lines out of maps_buf[0..n). */
static void collect_protected(size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		u64 s = 0, e = 0;
		int ds = 0, de = 0;
		while (j < n && hexval(maps_buf[j]) >= 0) {
			s = s * 16 + (u64)hexval(maps_buf[j]);
			j++, ds++;
		}
		if (ds > 0 && j < n && maps_buf[j] == '-') {
			j++;
			while (j < n && hexval(maps_buf[j]) >= 0) {
				e = e * 16 + (u64)hexval(maps_buf[j]);
				j++, de++;
			}
			if (de > 0 && j < n && maps_buf[j] == ' ') {
				if (n_protected == MAX_PROTECTED)
					die(3, "too many initial mappings", 0);
				prot_start[n_protected] = (ulong)s;
				prot_end[n_protected] = (ulong)e;
				n_protected++;
			}
		}
		while (i < n && maps_buf[i] != '\n')
			i++;
		i++;
	}
}

/* Could a call acting on [addr, addr+len) modify a protected mapping?
 * Unaligned starts, empty ranges and ranges that wrap around are left to the
 * kernel, which rejects them (or does nothing) before touching any VMA. */
static int hits_protected(ulong addr, ulong len)
{
	ulong end;
	int k;
	if ((addr & (PAGE_SZ - 1)) || len == 0)
		return 0;
	end = addr + len;
	if (end < addr)
		return 0;
	for (k = 0; k < n_protected; k++)
		if (addr < prot_end[k] && prot_start[k] < end)
			return 1;
	return 0;
}

static ulong page_align(ulong len)
{
	ulong a = (len + PAGE_SZ - 1) & ~(PAGE_SZ - 1);
	return a < len ? 0 : a;
}

/* ----------------------------------------------------------------- parsing */

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* Split line into fields (modifies line). */
static int split(char *line, char **f, int maxf)
{
	int n = 0;
	char *p = line;
	for (;;) {
		while (is_space(*p))
			p++;
		if (!*p)
			break;
		if (n == maxf)
			return -1;
		f[n++] = p;
		while (*p && !is_space(*p))
			p++;
		if (*p)
			*p++ = 0;
	}
	return n;
}

/* Parse a number at *pp (decimal or 0x-hex, optional '-'); advance *pp. */
static int parse_num(const char **pp, u64 *out)
{
	const char *p = *pp;
	int neg = 0, digits = 0;
	u64 v = 0;
	if (*p == '-') {
		neg = 1;
		p++;
	} else if (*p == '+') {
		p++;
	}
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		p += 2;
		while (hexval(*p) >= 0) {
			v = v * 16 + (u64)hexval(*p);
			p++, digits++;
		}
	} else {
		while (*p >= '0' && *p <= '9') {
			v = v * 10 + (u64)(*p - '0');
			p++, digits++;
		}
	}
	if (!digits)
		return -1;
	*out = neg ? -v : v;
	*pp = p;
	return 0;
}

static int cur_op;

static u64 parse_expr(const char *s)
{
	const char *p = s;
	u64 base, k;
	if (p[0] == 'r' && p[1] >= '0' && p[1] <= '9') {
		u64 idx;
		p++;
		if (parse_num(&p, &idx) < 0)
			die(2, "bad expression", s);
		base = (idx < (u64)cur_op) ? (u64)results[idx] : 0;
	} else if (strncmp(p, "brk0", 4) == 0) {
		p += 4;
		base = brk0;
	} else {
		if (parse_num(&p, &base) < 0 || *p)
			die(2, "bad number", s);
		return base;
	}
	if (!*p)
		return base;
	if (*p != '+' && *p != '-')
		die(2, "bad expression", s);
	{
		int neg = *p == '-';
		p++;
		if (*p == '-' || *p == '+' || parse_num(&p, &k) < 0 || *p)
			die(2, "bad expression", s);
		return neg ? base - k : base + k;
	}
}

static long long parse_int(const char *s)
{
	const char *p = s;
	u64 v;
	if (parse_num(&p, &v) < 0 || *p)
		die(2, "bad number", s);
	return (long long)v;
}

/* ---------------------------------------------------------------- signals */

static void on_fault(int sig)
{
	if (touch_armed)
		siglongjmp(touch_jmp, sig);
	/* A fault outside a scripted touch: the probe itself is broken. */
	signal(sig, SIG_DFL);
	raise(sig);
}

static void setup_signals(void)
{
	stack_t ss;
	struct sigaction sa;
	memset(&ss, 0, sizeof(ss));
	ss.ss_sp = altstack_mem;
	ss.ss_size = sizeof(altstack_mem);
	if (sigaltstack(&ss, 0) != 0)
		die(3, "sigaltstack failed", 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fault;
	sa.sa_flags = SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, 0) != 0 || sigaction(SIGBUS, &sa, 0) != 0)
		die(3, "sigaction failed", 0);
}

/* Returns 0 or the signal number. */
static int __attribute__((noinline)) do_touch(ulong addr, int write_it)
{
	volatile unsigned char *p = (volatile unsigned char *)addr;
	int sig = sigsetjmp(touch_jmp, 1);
	if (sig == 0) {
		touch_armed = 1;
		if (write_it)
			*p = 0;
		else
			(void)*p;
		touch_armed = 0;
		return 0;
	}
	touch_armed = 0;
	return sig;
}

/* ------------------------------------------------------------- raw calls */

/* The glibc syscall() wrapper returns -1 and sets errno for kernel return
 * values in [-4095, -1]; nothing else (it does not touch memory maps). */
static long sys_mmap(ulong addr, ulong len, ulong prot, ulong flags, long fd, u64 off)
{
#if defined(__i386__)
	if (off & (PAGE_SZ - 1)) {
		/* mmap2 cannot express a byte offset: use old_mmap, which makes
		 * the kernel itself reject the unaligned offset. */
		static ulong args[6];
		args[0] = addr; args[1] = len; args[2] = prot;
		args[3] = flags; args[4] = (ulong)fd; args[5] = (ulong)off;
		return syscall(SYS_mmap, args);
	}
	return syscall(SYS_mmap2, addr, len, prot, flags, fd, (ulong)(off >> 12));
#elif defined(__arm__)
	/* 32-bit arm has only mmap2: an unaligned byte offset cannot reach the
	 * kernel. Answer as glibc's mmap() does there (MMAP_CHECK_PAGE_UNIT) and
	 * as every kernel rejects it (offset_in_page). */
	if (off & (PAGE_SZ - 1)) {
		errno = EINVAL;
		return -1;
	}
	return syscall(SYS_mmap2, addr, len, prot, flags, fd, (ulong)(off >> 12));
#else
	return syscall(SYS_mmap, addr, len, prot, flags, fd, (ulong)off);
#endif
}

/* ------------------------------------------------------------------- main */

static void usage_check(int argc)
{
	if (argc < 2)
		die(2, "usage: probe SCRIPT [SCRATCH_FILE...]", 0);
	if (argc - 2 > MAX_FILES)
		die(2, "too many scratch files", 0);
}

int main(int argc, char **argv)
{
	int fd, i, want_smaps;
	size_t n = 0;
	char *line, *next;
	const char *env;

	usage_check(argc);

	/* 1. read the script */
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(2, "cannot open script", argv[1]);
	for (;;) {
		ssize_t r;
		if (n == SCRIPT_SIZE - 1)
			die(3, "script too large", 0);
		r = read(fd, script_buf + n, SCRIPT_SIZE - 1 - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die(2, "cannot read script", argv[1]);
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	script_buf[n] = 0;

	/* 2. scratch files, brk0, signals: none of these changes the maps */
	for (i = 2; i < argc; i++) {
		int f = open(argv[i], O_RDWR | O_CLOEXEC);
		if (f < 0)
			die(2, "cannot open scratch file", argv[i]);
		scratch_fd[n_scratch++] = f;
	}
	brk0 = (ulong)syscall(SYS_brk, 0UL);
	setup_signals();
	env = getenv("VASIM_PROBE_SMAPS");
	want_smaps = env && env[0] == '1';

	/* 3. initial state */
	{
		size_t m = slurp("/proc/self/smaps");
		collect_protected(m);
	}
	dump("INIT-SMAPS", "/proc/self/smaps");
	out_str("BRK0 ");
	out_hex(brk0);
	out_char('\n');
	out_flush();

	/* 4. the ops */
	cur_op = 0;
	for (line = script_buf; line && *line; line = next) {
		char *f[8];
		int nf;
		int is_err = 0, err = 0, skipped = 0, is_touch = 0, sig = 0;
		ulong ret = 0;

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		nf = split(line, f, 8);
		if (nf < 0)
			die(2, "too many fields", line);
		if (nf == 0 || f[0][0] == '#')
			continue;
		if (cur_op == MAX_OPS)
			die(3, "too many ops", 0);

		out_str("OP ");
		out_dec(cur_op);
		out_char(' ');

		if (strcmp(f[0], "mmap") == 0 && nf == 7) {
			ulong addr = (ulong)parse_expr(f[1]);
			ulong len = (ulong)parse_expr(f[2]);
			ulong prot = (ulong)parse_expr(f[3]);
			ulong flags = (ulong)parse_expr(f[4]);
			long long fdi = parse_int(f[5]);
			u64 off = parse_expr(f[6]);
			long kfd = -1;
			long r;
			if (fdi >= 0) {
				if (fdi >= n_scratch)
					die(2, "no such scratch file", f[5]);
				kfd = scratch_fd[fdi];
			} else {
				kfd = (long)fdi;
			}
			out_str("mmap ");
			out_hex(addr); out_char(' ');
			out_hex(len); out_char(' ');
			out_hex(prot); out_char(' ');
			out_hex(flags); out_char(' ');
			out_dec(fdi); out_char(' ');
			out_hex(off);
			/* MAP_FIXED (0x10) without MAP_FIXED_NOREPLACE (0x100000) replaces */
			if ((flags & 0x10) && !(flags & 0x100000) &&
			    hits_protected(addr, page_align(len))) {
				skipped = 1;
			} else {
				r = sys_mmap(addr, len, prot, flags, kfd, off);
				if (r == -1) {
					is_err = 1;
					err = errno;
				} else {
					ret = (ulong)r;
				}
			}
		} else if (strcmp(f[0], "munmap") == 0 && nf == 3) {
			ulong addr = (ulong)parse_expr(f[1]);
			ulong len = (ulong)parse_expr(f[2]);
			out_str("munmap ");
			out_hex(addr); out_char(' ');
			out_hex(len);
			if (hits_protected(addr, page_align(len))) {
				skipped = 1;
			} else if (syscall(SYS_munmap, addr, len) == -1) {
				is_err = 1;
				err = errno;
			}
		} else if (strcmp(f[0], "mprotect") == 0 && nf == 4) {
			ulong addr = (ulong)parse_expr(f[1]);
			ulong len = (ulong)parse_expr(f[2]);
			ulong prot = (ulong)parse_expr(f[3]);
			out_str("mprotect ");
			out_hex(addr); out_char(' ');
			out_hex(len); out_char(' ');
			out_hex(prot);
			if (hits_protected(addr, page_align(len))) {
				skipped = 1;
			} else if (syscall(SYS_mprotect, addr, len, prot) == -1) {
				is_err = 1;
				err = errno;
			}
		} else if (strcmp(f[0], "mremap") == 0 && nf == 6) {
			ulong old = (ulong)parse_expr(f[1]);
			ulong oldlen = (ulong)parse_expr(f[2]);
			ulong newlen = (ulong)parse_expr(f[3]);
			ulong flags = (ulong)parse_expr(f[4]);
			ulong newaddr = (ulong)parse_expr(f[5]);
			long r;
			out_str("mremap ");
			out_hex(old); out_char(' ');
			out_hex(oldlen); out_char(' ');
			out_hex(newlen); out_char(' ');
			out_hex(flags); out_char(' ');
			out_hex(newaddr);
			/* MREMAP_FIXED = 2: the target range is unmapped first */
			if (hits_protected(old, page_align(oldlen)) ||
			    ((flags & 2) && hits_protected(newaddr, page_align(newlen)))) {
				skipped = 1;
			} else {
				r = syscall(SYS_mremap, old, oldlen, newlen, flags, newaddr);
				if (r == -1) {
					is_err = 1;
					err = errno;
				} else {
					ret = (ulong)r;
				}
			}
		} else if (strcmp(f[0], "madvise") == 0 && nf == 4) {
			ulong a[3]; int i;
			for (i = 0; i < 3; i++) a[i] = (ulong)parse_expr(f[i + 1]);
			out_str("madvise ");
			out_hex(a[0]); out_char(' '); out_hex(a[1]); out_char(' '); out_hex(a[2]);
			if (hits_protected(a[0], page_align(a[1])))
				skipped = 1;
			else if (syscall(SYS_madvise, a[0], a[1], a[2]) == -1) {
				is_err = 1; err = errno;
			}
		} else if ((strcmp(f[0], "mlock") == 0 || strcmp(f[0], "mseal") == 0) && nf == 4) {
			ulong a0 = (ulong)parse_expr(f[1]), a1 = (ulong)parse_expr(f[2]);
			long long fl = parse_int(f[3]);
			long r;
			int seal = f[0][1] == 's';
			out_str(f[0]); out_char(' ');
			out_hex(a0); out_char(' '); out_hex(a1); out_char(' '); out_dec(fl);
			if (hits_protected(a0 & ~(PAGE_SZ - 1), page_align(a1 + (a0 & (PAGE_SZ - 1))))) {
				skipped = 1;
			} else {
				if (seal)
					r = syscall(SYS_mseal, a0, a1, (ulong)fl);
				else if (fl < 0)
					r = syscall(SYS_mlock, a0, a1);
				else
					r = syscall(SYS_mlock2, a0, a1, (ulong)fl);
				if (r == -1) { is_err = 1; err = errno; }
			}
		} else if (strcmp(f[0], "munlock") == 0 && nf == 3) {
			ulong a0 = (ulong)parse_expr(f[1]), a1 = (ulong)parse_expr(f[2]);
			out_str("munlock ");
			out_hex(a0); out_char(' '); out_hex(a1);
			if (syscall(SYS_munlock, a0, a1) == -1) { is_err = 1; err = errno; }
		} else if (strcmp(f[0], "mlockall") == 0 && nf == 2) {
			ulong fl = (ulong)parse_expr(f[1]);
			out_str("mlockall ");
			out_hex(fl);
			if (syscall(SYS_mlockall, fl) == -1) { is_err = 1; err = errno; }
		} else if (strcmp(f[0], "munlockall") == 0 && nf == 1) {
			out_str("munlockall");
			if (syscall(SYS_munlockall) == -1) { is_err = 1; err = errno; }
		} else if (strcmp(f[0], "pkey_mprotect") == 0 && nf == 5) {
			ulong a0 = (ulong)parse_expr(f[1]), a1 = (ulong)parse_expr(f[2]);
			ulong pr = (ulong)parse_expr(f[3]);
			long long key = parse_int(f[4]);
			out_str("pkey_mprotect ");
			out_hex(a0); out_char(' '); out_hex(a1); out_char(' '); out_hex(pr);
			out_char(' '); out_dec(key);
			if (hits_protected(a0, page_align(a1)))
				skipped = 1;
			else if (syscall(SYS_pkey_mprotect, a0, a1, pr, (long)key) == -1) {
				is_err = 1; err = errno;
			}
		} else if (strcmp(f[0], "remap_file_pages") == 0 && nf == 6) {
			ulong a[5]; int i;
			for (i = 0; i < 5; i++) a[i] = (ulong)parse_expr(f[i + 1]);
			out_str("remap_file_pages");
			for (i = 0; i < 5; i++) { out_char(' '); out_hex(a[i]); }
			if (hits_protected(a[0] & ~(PAGE_SZ - 1), page_align(a[1])))
				skipped = 1;
			else if (syscall(SYS_remap_file_pages, a[0], a[1], a[2], a[3], a[4]) == -1) {
				is_err = 1; err = errno;
			}
		} else if (strcmp(f[0], "shmat") == 0 && nf == 4) {
			ulong a0 = (ulong)parse_expr(f[1]), sz = (ulong)parse_expr(f[2]);
			ulong fl = (ulong)parse_expr(f[3]);
			int id;
			void *r;
			out_str("shmat ");
			out_hex(a0); out_char(' '); out_hex(sz); out_char(' '); out_hex(fl);
			if (a0 && (fl & SHM_REMAP) && hits_protected(a0 & ~(PAGE_SZ - 1), page_align(sz))) {
				skipped = 1;
			} else if ((id = (int)syscall(SYS_shmget, IPC_PRIVATE, sz, IPC_CREAT | 0600)) == -1) {
				is_err = 1; err = errno;
			} else {
				r = (void *)syscall(SYS_shmat, id, a0, fl);
				if (r == (void *)-1) { is_err = 1; err = errno; }
				else ret = (ulong)r;
				syscall(SYS_shmctl, id, IPC_RMID, 0);
			}
		} else if (strcmp(f[0], "shmdt") == 0 && nf == 2) {
			ulong a0 = (ulong)parse_expr(f[1]);
			out_str("shmdt ");
			out_hex(a0);
			if (syscall(SYS_shmdt, a0) == -1) { is_err = 1; err = errno; }
		} else if (strcmp(f[0], "brk") == 0 && nf == 2) {
			ulong addr = (ulong)parse_expr(f[1]);
			out_str("brk ");
			out_hex(addr);
			ret = (ulong)syscall(SYS_brk, addr);
		} else if (strcmp(f[0], "touch") == 0 && nf == 3 &&
			   (strcmp(f[2], "w") == 0 || strcmp(f[2], "r") == 0)) {
			ulong addr = (ulong)parse_expr(f[1]);
			int w = f[2][0] == 'w';
			out_str("touch ");
			out_hex(addr);
			out_str(w ? " w" : " r");
			is_touch = 1;
			if (w && hits_protected(addr & ~(PAGE_SZ - 1), PAGE_SZ))
				skipped = 1;
			else
				sig = do_touch(addr, w);
		} else {
			die(2, "bad op line", line);
		}

		out_str("\nRET ");
		out_dec(cur_op);
		out_char(' ');
		if (skipped) {
			out_str("SKIPPED");
			ret = 0;
		} else if (is_touch) {
			out_str(sig == 0 ? "ok" : sig == SIGBUS ? "SIGBUS" :
				sig == SIGSEGV ? "SIGSEGV" : "SIG?");
			ret = 0;
		} else if (is_err) {
			out_err(err);
			ret = 0;
		} else {
			out_hex(ret);
		}
		out_char('\n');
		results[cur_op] = ret;
		dump("MAPS", "/proc/self/maps");
		if (want_smaps)
			dump("SMAPS", "/proc/self/smaps");
		out_flush();
		cur_op++;
	}
	out_str("DONE\n");
	out_flush();
	return 0;
}
