// Memory: anonymous mappings big and small, MAP_FIXED over an existing mapping, partial
// munmap, MADV_DONTNEED giving zeros back, a private file mapping whose writes stay private,
// brk, and a huge sparse reservation. Prints "memory: ok" and exits 0.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int failures;
#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            printf("memory: FAIL line %d: %s (errno %s)\n", __LINE__, #cond, strerror(errno)); \
            ++failures;                                                                  \
        }                                                                                \
    } while (0)

int main(void)
{
    const size_t page = 4096;
    // Anonymous memory reads as zero and keeps what is written.
    char* a = mmap(NULL, 16 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(a != MAP_FAILED);
    CHECK(a[5 * page] == 0);
    memset(a, 0x5a, 16 * page);
    // MADV_DONTNEED: the pages come back as zeros, the mapping stays.
    CHECK(madvise(a + 4 * page, 4 * page, MADV_DONTNEED) == 0);
    CHECK(a[4 * page] == 0 && a[8 * page - 1] == 0 && a[3 * page] == 0x5a && a[8 * page] == 0x5a);
    a[4 * page] = 1;
    CHECK(a[4 * page] == 1);
    // MAP_FIXED replaces part of it; a partial munmap leaves the rest.
    char* b = mmap(a + 2 * page, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    CHECK(b == a + 2 * page && b[0] == 0 && a[page] == 0x5a);
    CHECK(munmap(a + 10 * page, 2 * page) == 0);
    CHECK(a[12 * page] == 0x5a);
    CHECK(mmap(a + 10 * page, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) == a + 10 * page);
    CHECK(mmap(a, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) == MAP_FAILED && errno == EEXIST);
    char* hole = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(hole != MAP_FAILED && munmap(hole, page) == 0);
    CHECK(madvise(hole, page, MADV_DONTNEED) == -1 && errno == ENOMEM);
    CHECK(munmap(a, 16 * page) == 0);

    // A private file mapping: the file's bytes; writes stay in the mapping.
    int fd = open("/etc/passwd", O_RDONLY);
    CHECK(fd >= 0);
    char first[8] = { 0 };
    CHECK(read(fd, first, 4) == 4);
    char* f = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    CHECK(f != MAP_FAILED && memcmp(f, first, 4) == 0);
    f[0] = '#';
    char again[8] = { 0 };
    CHECK(pread(fd, again, 4, 0) == 4 && memcmp(again, first, 4) == 0);
    close(fd);

    // brk grows and shrinks.
    char* brk0 = sbrk(0);
    CHECK(sbrk(3 * page) == brk0);
    brk0[3 * page - 1] = 7;
    CHECK(sbrk(-(intptr_t)(2 * page)) != (void*)-1 && sbrk(0) == brk0 + page);

    // A huge reservation is cheap; touching a few pages maps only those.
    size_t huge = (size_t)64 << 30;
    char* h = mmap(NULL, huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(h != MAP_FAILED);
    if (h != MAP_FAILED) {
        h[0] = 1;
        h[huge / 2] = 2;
        h[huge - 1] = 3;
        CHECK(h[0] + h[huge / 2] + h[huge - 1] == 6);
        CHECK(munmap(h, huge) == 0);
    }

    if (failures)
        return 1;
    printf("memory: ok\n");
    return 0;
}
