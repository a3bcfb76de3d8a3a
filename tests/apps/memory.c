// Memory: anonymous mappings big and small, MAP_FIXED over an existing mapping, partial
// munmap, MADV_DONTNEED giving zeros back, a private file mapping whose writes stay private,
// brk, a huge sparse reservation, mremap (shrink, grow in place, move keeping the contents,
// MREMAP_FIXED, MREMAP_DONTUNMAP, 2 MiB pages moved to an unaligned address), mincore and
// msync. Prints "memory: ok" and exits 0.
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

// Fills [p, p + size) with a pattern that differs page by page.
static void fill(unsigned char* p, size_t size)
{
    for (size_t i = 0; i < size; i += 512)
        p[i] = (unsigned char)(i / 4096 * 7 + i / 512);
}
static int same_fill(const unsigned char* p, size_t size)
{
    for (size_t i = 0; i < size; i += 512)
        if (p[i] != (unsigned char)(i / 4096 * 7 + i / 512))
            return 0;
    return 1;
}

static void test_mremap(void)
{
    const size_t page = 4096;
    // In a region of our own: m = pages [0, 8), a hole [8, 16), a PROT_NONE wall [16, 32).
    unsigned char* region = mmap(NULL, 32 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(region != MAP_FAILED);
    unsigned char* m = mmap(region, 8 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    CHECK(m == region);
    CHECK(munmap(region + 8 * page, 8 * page) == 0);
    unsigned char* wall = region + 16 * page;
    // Shrink in place; the tail is gone.
    fill(m, 8 * page);
    CHECK(mremap(m, 8 * page, 4 * page, 0) == m && same_fill(m, 4 * page));
    unsigned char vec[8];
    CHECK(mincore(m + 4 * page, page, vec) == -1 && errno == ENOMEM);
    // Grow in place into the free pages after it.
    CHECK(mremap(m, 4 * page, 8 * page, 0) == m && same_fill(m, 4 * page) && m[7 * page] == 0);
    // Blocked by the wall: ENOMEM without MREMAP_MAYMOVE, a move with it.
    fill(m, 8 * page);
    CHECK(mremap(m, 8 * page, 24 * page, 0) == MAP_FAILED && errno == ENOMEM);
    unsigned char* moved = mremap(m, 8 * page, 24 * page, MREMAP_MAYMOVE);
    CHECK(moved != MAP_FAILED && moved != m);
    CHECK(same_fill(moved, 8 * page) && moved[23 * page] == 0);
    CHECK(mincore(m, page, vec) == -1 && errno == ENOMEM); // the old range is gone
    // MREMAP_FIXED: exactly there, over whatever was mapped; overlapping the source is EINVAL.
    unsigned char* target = mmap(NULL, 16 * page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(target != MAP_FAILED);
    CHECK(mremap(moved, 24 * page, 16 * page, MREMAP_MAYMOVE | MREMAP_FIXED, target) == target);
    CHECK(same_fill(target, 8 * page));
    CHECK(mremap(target, 8 * page, 8 * page, MREMAP_MAYMOVE | MREMAP_FIXED, target + 4 * page) == MAP_FAILED &&
          errno == EINVAL);
    // MREMAP_DONTUNMAP: the pages move, the old range stays mapped and reads as zeros.
    unsigned char* kept = mremap(target, 4 * page, 4 * page, MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
    CHECK(kept != MAP_FAILED && same_fill(kept, 4 * page) && target[0] == 0 && target[3 * page] == 0);
    // Errors: bad flags, MREMAP_FIXED alone, nothing mapped there, unaligned address.
    CHECK(mremap(kept, page, page, 0x80) == MAP_FAILED && errno == EINVAL);
    CHECK(mremap(kept, page, page, MREMAP_FIXED, target) == MAP_FAILED && errno == EINVAL);
    CHECK(mremap((void*)0x1000, page, 2 * page, MREMAP_MAYMOVE) == MAP_FAILED && errno == EFAULT);
    CHECK(mremap(kept + 1, page, 2 * page, MREMAP_MAYMOVE) == MAP_FAILED && errno == EINVAL);
    CHECK(munmap(kept, 4 * page) == 0 && munmap(target, 16 * page) == 0 && munmap(wall, 16 * page) == 0);

    // A 2 MiB-page region moved to an address that is not 2 MiB aligned keeps every byte.
    const size_t big = 8u << 20;
    unsigned char* h = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(h != MAP_FAILED);
    fill(h, big);
    unsigned char* spot = mmap(NULL, big + 2 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(spot != MAP_FAILED);
    unsigned char* hm = mremap(h, big, big, MREMAP_MAYMOVE | MREMAP_FIXED, spot + page);
    CHECK(hm == spot + page && same_fill(hm, big));
    hm[5] = 0x77; // still writable
    CHECK(hm[5] == 0x77);
    CHECK(munmap(spot, big + 2 * page) == 0);
}

static void test_mincore_msync(void)
{
    const size_t page = 4096;
    unsigned char* m = mmap(NULL, 8 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED);
    m[0] = 1;
    m[5 * page] = 1;
    unsigned char vec[8];
    memset(vec, 0xee, sizeof(vec));
    CHECK(mincore(m, 8 * page, vec) == 0);
    CHECK((vec[0] & 1) && (vec[5] & 1) && !(vec[1] & 1) && !(vec[7] & 1));
    CHECK(mincore(m + 1, page, vec) == -1 && errno == EINVAL);
    CHECK(mincore(m, page, (unsigned char*)8) == -1 && errno == EFAULT);
    CHECK(msync(m, 8 * page, MS_SYNC) == 0 && msync(m, page, MS_ASYNC | MS_INVALIDATE) == 0);
    CHECK(msync(m, page, MS_SYNC | MS_ASYNC) == -1 && errno == EINVAL);
    CHECK(munmap(m + 2 * page, page) == 0);
    CHECK(msync(m, 8 * page, MS_SYNC) == -1 && errno == ENOMEM);
    CHECK(mincore(m, 8 * page, vec) == -1 && errno == ENOMEM);
    CHECK(munmap(m, 8 * page) == 0);
}

int main(void)
{
    test_mremap();
    test_mincore_msync();
    const size_t page = 4096;
    // Anonymous memory reads as zero and keeps what is written.
    char* a = mmap(NULL, 16 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(a != MAP_FAILED);
    CHECK(a[5 * page] == 0);
    memset(a, 0x5a, 16 * page);
    // MADV_DONTNEED: the pages come back as zeros, the mapping stays.
    CHECK(madvise(a + 4 * page, 4 * page, MADV_DONTNEED) == 0);
    CHECK(a[4 * page] == 0 && a[8 * page - 1] == 0 && a[3 * page] == 0x5a && a[8 * page] == 0x5a);
    // Advice is checked as on Linux: unknown advice EINVAL, an unmapped (or kernel) range ENOMEM.
    CHECK(madvise(a, page, MADV_WILLNEED) == 0 && madvise(a, page, MADV_HUGEPAGE) == 0);
    CHECK(madvise(a, page, 1000) == -1 && errno == EINVAL);
    CHECK(madvise(a, page, 6) == -1 && errno == EINVAL);
    CHECK(madvise(a + 1, page, MADV_NORMAL) == -1 && errno == EINVAL);
    CHECK(madvise((void*)0xffff800000000000ul, 2 * 1024 * 1024, MADV_FREE) == -1 && errno == ENOMEM);
    CHECK(madvise((void*)0x1000, page, MADV_WILLNEED) == -1 && errno == ENOMEM);
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
