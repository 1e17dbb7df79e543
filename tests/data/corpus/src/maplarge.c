/* Map a file of 2 MiB or more (argv[1]) whole, private and shared read-only, and 4 MiB of
 * anonymous memory. On ext4 a 64-bit process gets file mappings of 2 MiB or more placed
 * 2 MiB-aligned (thp_get_unmapped_area); a 32-bit one does not. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    int fd = open(argv[1], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return 1;
    char *a = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    char *b = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    char *c = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *d = mmap(NULL, 2 << 20, PROT_READ, MAP_PRIVATE, fd, 4096);
    close(fd);
    printf("%d\n", a[0] + b[0] + c[0] + d[0]);
    munmap(b, st.st_size);
    return 0;
}
