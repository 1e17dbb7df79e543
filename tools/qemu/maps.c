/* vasim QEMU recorder: print "MAPS", this process's /proc/self/maps as exec left it, "END",
 * then "BRK 0x..." (the initial program break). No allocation before the read: open/read
 * into a static buffer. Built as PIE, non-PIE, static and static-PIE by record.py. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

static char buf[1 << 16];

int main(void)
{
	size_t len = 0;
	ssize_t n;
	unsigned long brk0 = (unsigned long)syscall(SYS_brk, 0);
	int fd = open("/proc/self/maps", O_RDONLY);
	while (fd >= 0 && (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)n;
	(void)!write(1, "MAPS\n", 5);
	(void)!write(1, buf, len);
	(void)!write(1, "END\n", 4);
	n = snprintf(buf, sizeof buf, "BRK %#lx\n", brk0);
	(void)!write(1, buf, (size_t)n);
	return 0;
}
