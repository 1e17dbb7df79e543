/* fdmaps: mappings of files that are not on a disk, for tests/test_fdmaps_kernel.py: two
 * memfds of the same name (two files: two inodes, /memfd:NAME (deleted) on 00:01), one
 * mapped shared and privately at an offset, and io_uring's rings and SQE array
 * (anon_inode:[io_uring], at the IORING_OFF_* offsets). Prints the addresses.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/io_uring.h>

int main(void)
{
	struct io_uring_params p;
	int one = memfd_create("vasim-memfd", 0), two = memfd_create("vasim-memfd", 0), ring;
	void *a, *b, *c, *s, *q, *e;

	ftruncate(one, 3 * 4096);
	ftruncate(two, 4096);
	a = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, one, 0);
	b = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, one, 4096);
	c = mmap(NULL, 4096, PROT_READ, MAP_SHARED, two, 0);
	printf("%p %p %p\n", a, b, c);
	memset(&p, 0, sizeof(p));
	ring = syscall(__NR_io_uring_setup, 8, &p);
	if (ring < 0) {
		perror("io_uring_setup");
		return 0;
	}
	s = mmap(NULL, p.sq_off.array + p.sq_entries * 4, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
	q = mmap(NULL, p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe),
		 PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_CQ_RING);
	e = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
	printf("%p %p %p\n", s, q, e);
	return 0;
}
