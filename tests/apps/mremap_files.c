// mremap of file mappings, and read()/write() whose buffer lies in a mapping of a ramfs file.
//
// mremap: private and shared mappings of a ramfs file grown in place, moved (MREMAP_MAYMOVE,
// MREMAP_FIXED), shrunk and duplicated (old size 0); the grown part maps the file at the next
// offsets, and SIGBUS past its end; a private mapping keeps its copy-on-write copies across a
// move while its other pages keep showing the file; a shared one still stores into the file;
// MREMAP_DONTUNMAP leaves the old range showing the file; Linux's errors.
//
// Self-mapped I/O: pread/pwrite/readv/writev of a file whose buffer is a mapping of that same
// file at a page that is a hole (or was dropped by MADV_DONTNEED), so the copy faults while
// the file is locked; and two threads doing it crosswise between two files. Each call must
// finish with the right bytes (a deadlock would hang the test until its timeout).
// Prints "mremap_files: ok" and exits 0.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

static int failures;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("mremap_files: FAIL line %d: %s (errno %s)\n", __LINE__, #cond, strerror(errno)); \
            ++failures;                                                                            \
        }                                                                                          \
    } while (0)

enum { kPage = 4096 };

static sigjmp_buf g_jump;
static void on_fault(int sig, siginfo_t* info, void* ctx)
{
    (void)info;
    (void)ctx;
    siglongjmp(g_jump, sig);
}
// 0 if the access completed, else the signal it raised.
static int try_read(const volatile unsigned char* p, unsigned char* out)
{
    int sig = sigsetjmp(g_jump, 1);
    if (sig == 0)
        *out = *p;
    return sig;
}

static unsigned char pattern(size_t i) { return (unsigned char)(i * 131 + i / kPage * 7 + 1); }

static int matches_pattern(const unsigned char* m, size_t from, size_t size)
{
    for (size_t i = 0; i < size; ++i)
        if (m[i] != pattern(from + i))
            return 0;
    return 1;
}

static int all_zero(const unsigned char* m, size_t size)
{
    for (size_t i = 0; i < size; ++i)
        if (m[i])
            return 0;
    return 1;
}

// A ramfs file of `pages` pages filled with pattern().
static int make_file(const char* path, size_t pages)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    unsigned char buf[kPage];
    for (size_t p = 0; p < pages; ++p) {
        for (size_t i = 0; i < kPage; ++i)
            buf[i] = pattern(p * kPage + i);
        CHECK(write(fd, buf, kPage) == kPage);
    }
    return fd;
}

static unsigned char file_byte(int fd, size_t at)
{
    unsigned char b = 0;
    CHECK(pread(fd, &b, 1, (off_t)at) == 1);
    return b;
}

// Address space for `pages` pages with nothing mapped in it.
static unsigned char* free_range(size_t pages)
{
    unsigned char* p = mmap(NULL, pages * kPage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    CHECK(munmap(p, pages * kPage) == 0);
    return p;
}

static void test_private(void)
{
    int fd = make_file("/tmp/mr_private", 16);
    // 4 pages at a place with room after them, so that growing in place works.
    unsigned char* room = free_range(32);
    unsigned char* m = mmap(room, 4 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, kPage);
    CHECK(m == room);
    m[kPage + 7] = 0xee; // a copy of file page 2
    unsigned char b;
    CHECK(try_read(m, &b) == 0 && b == pattern(kPage)); // page 0 maps file page 1, uncopied

    // Grow in place: same address, the new pages are file pages 5 and 6, the copy stays.
    unsigned char* g = mremap(m, 4 * kPage, 6 * kPage, 0);
    CHECK(g == m);
    CHECK(matches_pattern(g + 4 * kPage, 5 * kPage, 2 * kPage));
    CHECK(g[kPage + 7] == 0xee && file_byte(fd, 2 * kPage + 7) == pattern(2 * kPage + 7));

    // Something right after it: growing in place is ENOMEM without MREMAP_MAYMOVE ...
    unsigned char* block = mmap(g + 6 * kPage, kPage, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    CHECK(block == g + 6 * kPage);
    errno = 0;
    CHECK(mremap(g, 6 * kPage, 8 * kPage, 0) == MAP_FAILED && errno == ENOMEM);
    // ... and a move with it. The copy moves along; the other pages still show the file
    // (a pwrite shows through them, not through the copy); the old range is gone.
    unsigned char* mv = mremap(g, 6 * kPage, 8 * kPage, MREMAP_MAYMOVE);
    CHECK(mv != MAP_FAILED && mv != g);
    CHECK(try_read(g, &b) == SIGSEGV);
    CHECK(mv[kPage + 7] == 0xee);
    CHECK(matches_pattern(mv, kPage, kPage + 7));
    CHECK(matches_pattern(mv + kPage + 8, 2 * kPage + 8, 7 * kPage - 8));
    b = 0x31;
    CHECK(pwrite(fd, &b, 1, kPage + 3) == 1 && mv[3] == 0x31);
    CHECK(pwrite(fd, &b, 1, 2 * kPage + 9) == 1 && mv[kPage + 9] == pattern(2 * kPage + 9));
    // Stores after the move: a fresh copy-on-write copy; the file keeps its bytes.
    mv[5 * kPage] = 0x44;
    CHECK(mv[5 * kPage] == 0x44 && file_byte(fd, 6 * kPage) == pattern(6 * kPage));
    CHECK(mprotect(mv, 8 * kPage, PROT_READ) == 0);
    CHECK(mv[kPage + 7] == 0xee && mv[5 * kPage] == 0x44 && mv[3] == 0x31);
    CHECK(mprotect(mv, 8 * kPage, PROT_READ | PROT_WRITE) == 0);

    // MREMAP_FIXED, shrinking on the way: the head moves to the chosen address, the tail goes.
    unsigned char* target = free_range(4);
    unsigned char* fx = mremap(mv, 8 * kPage, 3 * kPage, MREMAP_MAYMOVE | MREMAP_FIXED, target);
    CHECK(fx == target);
    CHECK(fx[kPage + 7] == 0xee && fx[3] == 0x31 && matches_pattern(fx + 2 * kPage, 3 * kPage, kPage));
    CHECK(try_read(mv, &b) == SIGSEGV && try_read(mv + 5 * kPage, &b) == SIGSEGV);

    // Shrinking in place.
    CHECK(mremap(fx, 3 * kPage, 2 * kPage, 0) == fx);
    CHECK(try_read(fx + 2 * kPage, &b) == SIGSEGV && fx[kPage + 7] == 0xee);

    // MREMAP_DONTUNMAP: the pages (the copy too) move; the old range stays mapped and shows
    // the file again.
    unsigned char* du = mremap(fx, 2 * kPage, 2 * kPage, MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
    CHECK(du != MAP_FAILED && du != fx);
    if (du != MAP_FAILED) {
        CHECK(du[kPage + 7] == 0xee && du[3] == 0x31);
        CHECK(try_read(fx + kPage + 7, &b) == 0 && b == pattern(2 * kPage + 7));
        CHECK(munmap(du, 2 * kPage) == 0);
    }
    // Duplicating a private mapping (old size 0) is EINVAL, as on Linux.
    errno = 0;
    CHECK(mremap(fx, 0, kPage, MREMAP_MAYMOVE) == MAP_FAILED && errno == EINVAL);
    CHECK(munmap(fx, 2 * kPage) == 0 && munmap(block, kPage) == 0);
    close(fd);
    unlink("/tmp/mr_private");
}

static void test_shared(void)
{
    int fd = make_file("/tmp/mr_shared", 8);
    unsigned char* room = free_range(16);
    unsigned char* m = mmap(room, 2 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 4 * kPage);
    CHECK(m == room);
    m[10] = 0x5a;
    CHECK(file_byte(fd, 4 * kPage + 10) == 0x5a);

    // Grow in place past the end of the file: file pages 6 and 7, then SIGBUS.
    unsigned char* g = mremap(m, 2 * kPage, 6 * kPage, 0);
    CHECK(g == m);
    unsigned char b;
    CHECK(matches_pattern(g + 2 * kPage, 6 * kPage, 2 * kPage));
    CHECK(try_read(g + 4 * kPage, &b) == SIGBUS && try_read(g + 6 * kPage - 1, &b) == SIGBUS);
    // The file grows: the page past the old end reads as zeros and takes stores.
    CHECK(ftruncate(fd, 9 * kPage) == 0);
    CHECK(try_read(g + 4 * kPage, &b) == 0 && b == 0);
    g[4 * kPage + 1] = 0x66;
    CHECK(file_byte(fd, 8 * kPage + 1) == 0x66);
    CHECK(try_read(g + 5 * kPage, &b) == SIGBUS);

    // Moved: stores still reach the file, write() still reaches the mapping.
    unsigned char* mv = mremap(g, 6 * kPage, 7 * kPage, MREMAP_MAYMOVE | MREMAP_FIXED, free_range(8));
    CHECK(mv != MAP_FAILED && mv != g);
    CHECK(try_read(g, &b) == SIGSEGV);
    CHECK(mv[10] == 0x5a && mv[4 * kPage + 1] == 0x66 && matches_pattern(mv + 11, 4 * kPage + 11, kPage - 11));
    mv[kPage + 2] = 0x77;
    mv[4 * kPage + 2] = 0x78;
    CHECK(file_byte(fd, 5 * kPage + 2) == 0x77 && file_byte(fd, 8 * kPage + 2) == 0x78);
    b = 0x12;
    CHECK(pwrite(fd, &b, 1, 7 * kPage) == 1 && mv[3 * kPage] == 0x12);

    // A second mapping of the same pages (old size 0): each sees the other's stores.
    unsigned char* dup = mremap(mv, 0, 2 * kPage, MREMAP_MAYMOVE);
    CHECK(dup != MAP_FAILED && dup != mv);
    if (dup != MAP_FAILED) {
        CHECK(dup[10] == 0x5a && dup[kPage + 2] == 0x77);
        dup[20] = 0x21;
        CHECK(mv[20] == 0x21 && file_byte(fd, 4 * kPage + 20) == 0x21);
        CHECK(munmap(dup, 2 * kPage) == 0);
    }
    errno = 0;
    CHECK(mremap(mv, 0, 2 * kPage, 0) == MAP_FAILED && errno == ENOMEM); // cannot be in place

    // MREMAP_DONTUNMAP: both ranges map the file.
    unsigned char* du = mremap(mv, 2 * kPage, 2 * kPage, MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
    CHECK(du != MAP_FAILED);
    if (du != MAP_FAILED) {
        du[30] = 0x30;
        CHECK(mv[30] == 0x30 && file_byte(fd, 4 * kPage + 30) == 0x30);
        CHECK(munmap(du, 2 * kPage) == 0);
    }

    // Shrunk: the rest still stores into the file.
    CHECK(mremap(mv, 7 * kPage, kPage, 0) == mv);
    CHECK(try_read(mv + kPage, &b) == SIGSEGV);
    mv[40] = 0x40;
    CHECK(file_byte(fd, 4 * kPage + 40) == 0x40);
    CHECK(munmap(mv, kPage) == 0);
    close(fd);
    unlink("/tmp/mr_shared");
}

static void test_errors(void)
{
    int fd = make_file("/tmp/mr_errors", 4);
    unsigned char* m = mmap(NULL, 4 * kPage, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(m != MAP_FAILED);
    errno = 0;
    CHECK(mremap(m, kPage, kPage, 8) == MAP_FAILED && errno == EINVAL); // unknown flag
    errno = 0;
    CHECK(mremap(m + 1, kPage, kPage, MREMAP_MAYMOVE) == MAP_FAILED && errno == EINVAL);
    errno = 0;
    CHECK(mremap(m, kPage, 0, MREMAP_MAYMOVE) == MAP_FAILED && errno == EINVAL);
    errno = 0;
    CHECK(mremap(m, kPage, kPage, MREMAP_FIXED, m + 8 * kPage) == MAP_FAILED && errno == EINVAL);
    errno = 0;
    CHECK(mremap(m, kPage, 2 * kPage, MREMAP_MAYMOVE | MREMAP_DONTUNMAP) == MAP_FAILED && errno == EINVAL);
    errno = 0;
    CHECK(mremap(m, 2 * kPage, 2 * kPage, MREMAP_MAYMOVE | MREMAP_FIXED, m + kPage) == MAP_FAILED &&
          errno == EINVAL); // overlapping
    errno = 0;
    CHECK(mremap(m, 5 * kPage, 6 * kPage, MREMAP_MAYMOVE) == MAP_FAILED && errno == EFAULT); // past the mapping
    unsigned char* hole = free_range(2);
    errno = 0;
    CHECK(mremap(hole, kPage, 2 * kPage, MREMAP_MAYMOVE) == MAP_FAILED && errno == EFAULT);
    CHECK(matches_pattern(m, 0, 4 * kPage)); // still there, unchanged
    CHECK(munmap(m, 4 * kPage) == 0);
    close(fd);
    unlink("/tmp/mr_errors");
}

// A file of `pages` pages whose first `data` pages hold pattern() and the rest are holes.
static int make_sparse(const char* path, size_t data, size_t pages)
{
    int fd = make_file(path, data);
    CHECK(ftruncate(fd, (off_t)(pages * kPage)) == 0);
    return fd;
}

static void test_self_io(void)
{
    enum { kPages = 16 };
    int fd = make_sparse("/tmp/mr_self", 4, kPages);
    unsigned char* sh = mmap(NULL, kPages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    unsigned char* pv = mmap(NULL, kPages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    CHECK(sh != MAP_FAILED && pv != MAP_FAILED);
    // read() into a hole of a shared mapping of the same file: the page is made by the fault
    // inside the read, and the bytes land in the file.
    CHECK(pread(fd, sh + 8 * kPage, 2 * kPage, 0) == 2 * kPage);
    CHECK(matches_pattern(sh + 8 * kPage, 0, 2 * kPage));
    unsigned char back[2 * kPage];
    CHECK(pread(fd, back, sizeof back, 8 * kPage) == (ssize_t)sizeof back && matches_pattern(back, 0, sizeof back));
    // write() from a hole: zeros are written, and the hole page is made by the fault.
    CHECK(pwrite(fd, sh + 11 * kPage, kPage, 2 * kPage) == kPage);
    CHECK(pread(fd, back, kPage, 2 * kPage) == kPage && all_zero(back, kPage));
    // write() from an existing page no longer mapped (MADV_DONTNEED), into itself's neighbour.
    CHECK(madvise(sh, kPages * kPage, MADV_DONTNEED) == 0);
    CHECK(pwrite(fd, sh + kPage, kPage, 12 * kPage) == kPage);
    CHECK(matches_pattern(sh + 12 * kPage, kPage, kPage));
    // A private mapping: read() into a hole makes a copy-on-write copy; the file keeps zeros.
    CHECK(pread(fd, pv + 13 * kPage, kPage, 3 * kPage) == kPage);
    CHECK(matches_pattern(pv + 13 * kPage, 3 * kPage, kPage));
    CHECK(pread(fd, back, kPage, 13 * kPage) == kPage && all_zero(back, kPage));
    // readv/writev across several holes.
    struct iovec iov[2] = { { sh + 14 * kPage, 100 }, { sh + 15 * kPage, 100 } };
    CHECK(preadv(fd, iov, 2, 0) == 200);
    CHECK(matches_pattern(sh + 14 * kPage, 0, 100) && matches_pattern(sh + 15 * kPage, 100, 100));
    CHECK(pwritev(fd, iov, 2, 6 * kPage) == 200);
    CHECK(matches_pattern(sh + 6 * kPage, 0, 200));
    // A grown mapping's new pages too (mremap past what was mapped).
    unsigned char* small = mmap(NULL, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    unsigned char* grown = mremap(small, kPage, kPages * kPage, MREMAP_MAYMOVE);
    CHECK(grown != MAP_FAILED);
    CHECK(ftruncate(fd, (kPages + 1) * kPage) == 0);
    CHECK(pwrite(fd, grown + kPage + 5, 10, kPages * kPage) == 10);
    CHECK(pread(fd, back, 10, kPages * kPage) == 10 && matches_pattern(back, kPage + 5, 10));
    CHECK(pread(fd, grown + 10 * kPage, 10, 0) == 10 && matches_pattern(grown + 10 * kPage, 0, 10)); // a hole
    CHECK(munmap(sh, kPages * kPage) == 0 && munmap(pv, kPages * kPage) == 0 && munmap(grown, kPages * kPage) == 0);
    close(fd);
    unlink("/tmp/mr_self");
}

// Two threads, two files, each copying between its own file and a mapping of the other's
// holes — crosswise, so that each holds its file's lock while faulting on the other's file.
enum { kCrossPages = 64, kCrossRounds = 4 };
static int g_cross_fd[2];
static unsigned char* g_cross_map[2];
static pthread_barrier_t g_barrier;

static void* crosser(void* arg)
{
    int me = (int)(uintptr_t)arg, other = 1 - me;
    int bad = 0;
    for (int round = 0; round < kCrossRounds; ++round) {
        pthread_barrier_wait(&g_barrier);
        for (size_t p = 1; p < kCrossPages; ++p) {
            unsigned char* page = g_cross_map[other] + p * kPage;
            if (p % 2) {
                // read() of my file into the other file's hole: a store fault on it.
                bad |= pread(g_cross_fd[me], page, kPage, 0) != kPage;
            } else {
                // write() to my file from the other file's hole: a load fault on it.
                bad |= pwrite(g_cross_fd[me], page, kPage, (off_t)(p * kPage)) != kPage;
            }
        }
        pthread_barrier_wait(&g_barrier);
        if (me == 0) {
            // Check, then make every page but the first a hole again.
            for (int f = 0; f < 2; ++f) {
                for (size_t p = 1; p < kCrossPages; ++p) {
                    const unsigned char* m = g_cross_map[f] + p * kPage;
                    bad |= p % 2 ? !matches_pattern(m, (size_t)(1 - f) * 1000 * kPage, kPage) : !all_zero(m, kPage);
                }
                bad |= ftruncate(g_cross_fd[f], kPage) != 0 || ftruncate(g_cross_fd[f], kCrossPages * kPage) != 0;
            }
        }
    }
    return (void*)(uintptr_t)bad;
}

static void test_crosswise(void)
{
    const char* names[2] = { "/tmp/mr_cross0", "/tmp/mr_cross1" };
    for (int f = 0; f < 2; ++f) {
        g_cross_fd[f] = open(names[f], O_RDWR | O_CREAT | O_TRUNC, 0644);
        CHECK(g_cross_fd[f] >= 0);
        unsigned char buf[kPage];
        for (size_t i = 0; i < kPage; ++i)
            buf[i] = pattern((size_t)f * 1000 * kPage + i);
        CHECK(write(g_cross_fd[f], buf, kPage) == kPage);
        CHECK(ftruncate(g_cross_fd[f], kCrossPages * kPage) == 0);
        g_cross_map[f] = mmap(NULL, kCrossPages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, g_cross_fd[f], 0);
        CHECK(g_cross_map[f] != MAP_FAILED);
    }
    pthread_barrier_init(&g_barrier, NULL, 2);
    pthread_t t[2];
    for (int i = 0; i < 2; ++i)
        CHECK(pthread_create(&t[i], NULL, crosser, (void*)(uintptr_t)i) == 0);
    for (int i = 0; i < 2; ++i) {
        void* bad;
        CHECK(pthread_join(t[i], &bad) == 0 && bad == NULL);
    }
    for (int f = 0; f < 2; ++f) {
        CHECK(munmap(g_cross_map[f], kCrossPages * kPage) == 0);
        close(g_cross_fd[f]);
        unlink(names[f]);
    }
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    test_private();
    test_shared();
    test_errors();
    test_self_io();
    test_crosswise();
    if (failures)
        return 1;
    printf("mremap_files: ok\n");
    return 0;
}
