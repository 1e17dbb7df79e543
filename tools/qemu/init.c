/* vasim QEMU recorder: the guest's /init (tools/qemu/record.py packs it, static, into the
 * initramfs). It mounts /proc, runs the plan in /plan line by line and reboots, which ends
 * QEMU (-no-reboot). Everything it and its children print goes to /dev/console (the serial
 * port), where record.py reads it.
 *
 * Plan lines (fields separated by single spaces, no quoting):
 *   CAT PATH                      print "@@CAT PATH", the file, "@@END"
 *   MKFILE PATH SIZE              create a sparse file, print "@@STAT PATH MAJ:MIN INODE SIZE"
 *   RUN TAG RLIMIT ARGV...        RLIMIT_STACK (bytes or "inf") set in the child, then
 *                                 execve(ARGV) with env PATH=/usr/bin:/bin VASIM_PROBE_SMAPS=0;
 *                                 output framed by "@@BEGIN TAG" and "@@END TAG STATUS"
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static char plan[1 << 20];

static void cat(const char *path)
{
	char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY);
	printf("@@CAT %s\n", path);
	fflush(stdout);
	if (fd >= 0) {
		while ((n = read(fd, buf, sizeof buf)) > 0)
			fwrite(buf, 1, (size_t)n, stdout);
		close(fd);
	}
	printf("@@END\n");
	fflush(stdout);
}

static void run(char **f, int n)
{
	char *env[] = {"PATH=/usr/bin:/bin", "VASIM_PROBE_SMAPS=0", NULL};
	int status;
	pid_t pid;
	printf("@@BEGIN %s\n", f[1]);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		struct rlimit rl;
		rl.rlim_cur = rl.rlim_max =
			strcmp(f[2], "inf") == 0 ? RLIM_INFINITY : strtoull(f[2], NULL, 0);
		setrlimit(RLIMIT_STACK, &rl);
		f[n] = NULL;
		execve(f[3], f + 3, env);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	if (WIFEXITED(status))
		printf("@@END %s %d\n", f[1], WEXITSTATUS(status));
	else
		printf("@@END %s sig%d\n", f[1], WTERMSIG(status));
	fflush(stdout);
}

int main(void)
{
	char *line, *save, *f[64];
	int fd, n;
	ssize_t len;
	mkdir("/proc", 0755);
	mount("proc", "/proc", "proc", 0, NULL);
	fd = open("/plan", O_RDONLY);
	len = fd < 0 ? 0 : read(fd, plan, sizeof plan - 1);
	plan[len > 0 ? len : 0] = 0;
	printf("@@START\n");
	fflush(stdout);
	for (line = strtok_r(plan, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *s2, *w;
		n = 0;
		for (w = strtok_r(line, " ", &s2); w && n < 63; w = strtok_r(NULL, " ", &s2))
			f[n++] = w;
		if (n == 2 && strcmp(f[0], "CAT") == 0) {
			cat(f[1]);
		} else if (n == 3 && strcmp(f[0], "MKFILE") == 0) {
			struct stat st;
			int o = open(f[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
			if (o < 0 || ftruncate(o, strtoll(f[2], NULL, 0)) != 0 || fstat(o, &st) != 0) {
				printf("@@ERROR MKFILE %s\n", f[1]);
			} else {
				printf("@@STAT %s %02x:%02x %lu %lld\n", f[1], major(st.st_dev),
				       minor(st.st_dev), (unsigned long)st.st_ino, (long long)st.st_size);
				close(o);
			}
			fflush(stdout);
		} else if (n >= 4 && strcmp(f[0], "RUN") == 0) {
			run(f, n);
		} else if (n > 0) {
			printf("@@ERROR bad plan line %s\n", f[0]);
			fflush(stdout);
		}
	}
	printf("@@DONE\n");
	fflush(stdout);
	sync();
	reboot(RB_AUTOBOOT);
	return 0;
}
