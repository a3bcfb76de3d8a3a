// File mappings: private (copy-on-write) and shared mappings of a root-image file and of ramfs
// files in /tmp, checked against read()/pread(): a private mapping's writes stay its own and
// MADV_DONTNEED brings the file's bytes back; a shared mapping's stores reach the file, other
// mappings and read(), and write() reaches the mapping; mprotect keeps the file's pages
// read-only in a private mapping; SIGSEGV for a store to a read-only mapping, SIGBUS past the
// end of the file and after a truncation; EACCES for writable shared mappings of read-only
// files; read()/write() whose buffer is a mapping of the same file; /proc/self/maps names
// the file; threads faulting the same pages at once (copy-on-write races included).
// Prints "mmap_files: ok" and exits 0.
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
#include <sys/stat.h>
#include <unistd.h>

static int failures;
#define CHECK(cond)                                                                           \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            printf("mmap_files: FAIL line %d: %s (errno %s)\n", __LINE__, #cond, strerror(errno)); \
            ++failures;                                                                       \
        }                                                                                     \
    } while (0)

enum { kPage = 4096 };

// Touching memory that may fault: the handler jumps back with the signal number.
static sigjmp_buf g_jump;
static volatile void* g_fault_addr;
static void on_fault(int sig, siginfo_t* info, void* ctx)
{
    (void)ctx;
    g_fault_addr = info->si_addr;
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
static int try_write(volatile unsigned char* p, unsigned char v)
{
    int sig = sigsetjmp(g_jump, 1);
    if (sig == 0)
        *p = v;
    return sig;
}

static unsigned char pattern(size_t i) { return (unsigned char)(i * 131 + i / kPage * 7 + 1); }

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

static int matches_pattern(const unsigned char* m, size_t from, size_t size)
{
    for (size_t i = 0; i < size; ++i)
        if (m[i] != pattern(from + i))
            return 0;
    return 1;
}

// A file of the root image (this program), mapped privately: the image's pages, in place.
static void test_image_file(const char* self)
{
    int fd = open(self, O_RDONLY);
    CHECK(fd >= 0);
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && st.st_size > 2 * kPage);
    size_t size = (size_t)st.st_size;
    unsigned char* m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    CHECK(m != MAP_FAILED);
    unsigned char* copy = malloc(size);
    CHECK(copy && pread(fd, copy, size, 0) == (ssize_t)size);
    CHECK(memcmp(m, copy, size) == 0);
    CHECK(memcmp(m, "\177ELF", 4) == 0);
    // A store to a read-only mapping: SIGSEGV at that address.
    unsigned char c;
    CHECK(try_write(m + 100, 1) == SIGSEGV && g_fault_addr == m + 100);
    // Writable private: the write is ours; the file and a second mapping keep the bytes.
    CHECK(mprotect(m, size, PROT_READ | PROT_WRITE) == 0);
    m[kPage + 5] ^= 0xff;
    CHECK(try_read(m + kPage + 5, &c) == 0 && c == (unsigned char)(copy[kPage + 5] ^ 0xff));
    unsigned char* m2 = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    CHECK(m2 != MAP_FAILED && m2[kPage + 5] == copy[kPage + 5]);
    unsigned char byte;
    CHECK(pread(fd, &byte, 1, kPage + 5) == 1 && byte == copy[kPage + 5]);
    // Read-only again: the copy keeps our byte; the untouched page is still the file's.
    CHECK(mprotect(m, size, PROT_READ) == 0);
    CHECK(m[kPage + 5] == (unsigned char)(copy[kPage + 5] ^ 0xff) && m[5] == copy[5]);
    CHECK(try_write(m + kPage + 5, 0) == SIGSEGV);
    // MADV_DONTNEED drops the copy: the file's bytes come back.
    CHECK(madvise(m, size, MADV_DONTNEED) == 0);
    CHECK(m[kPage + 5] == copy[kPage + 5]);
    // An offset mapping, and a shared read-only one; shared writable is EACCES (O_RDONLY).
    unsigned char* off = mmap(NULL, kPage, PROT_READ, MAP_PRIVATE, fd, kPage);
    CHECK(off != MAP_FAILED && memcmp(off, copy + kPage, kPage) == 0);
    unsigned char* sh = mmap(NULL, kPage, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(sh != MAP_FAILED && memcmp(sh, copy, kPage) == 0);
    CHECK(mprotect(sh, kPage, PROT_READ | PROT_WRITE) == -1 && errno == EACCES);
    CHECK(mmap(NULL, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED && errno == EACCES);
    CHECK(mmap(NULL, kPage, PROT_READ, MAP_PRIVATE, fd, 1) == MAP_FAILED && errno == EINVAL);
    CHECK(mincore(off, kPage, &c) == 0);
    // /proc/self/maps names the file.
    char line[512];
    FILE* maps = fopen("/proc/self/maps", "r");
    CHECK(maps != NULL);
    int named = 0;
    char want[32];
    snprintf(want, sizeof want, "%lx-", (unsigned long)(uintptr_t)off);
    while (maps && fgets(line, sizeof line, maps))
        if (strncmp(line, want, strlen(want)) == 0 && strstr(line, self) && strstr(line, " 00001000 "))
            named = 1;
    if (maps)
        fclose(maps);
    CHECK(named);
    CHECK(munmap(m, size) == 0 && munmap(m2, size) == 0 && munmap(off, kPage) == 0 && munmap(sh, kPage) == 0);
    free(copy);
    close(fd);
}

static void test_ramfs_file(void)
{
    const size_t pages = 8;
    int fd = make_file("/tmp/mapped", pages);
    unsigned char* priv = mmap(NULL, pages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    unsigned char* sh = mmap(NULL, pages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    unsigned char* sh2 = mmap(NULL, pages * kPage, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(priv != MAP_FAILED && sh != MAP_FAILED && sh2 != MAP_FAILED);
    CHECK(matches_pattern(priv, 0, pages * kPage) && matches_pattern(sh, 0, pages * kPage));
    // Private store: ours alone.
    priv[10] = 0xaa;
    unsigned char b;
    CHECK(pread(fd, &b, 1, 10) == 1 && b == pattern(10) && sh[10] == pattern(10));
    // Shared store: the file, the other shared mapping, and the private mapping's pages it has
    // not copied all see it.
    sh[kPage + 20] = 0x55;
    CHECK(pread(fd, &b, 1, kPage + 20) == 1 && b == 0x55);
    CHECK(sh2[kPage + 20] == 0x55 && priv[kPage + 20] == 0x55);
    // write() reaches the mappings.
    b = 0x77;
    CHECK(pwrite(fd, &b, 1, 2 * kPage + 1) == 1 && sh[2 * kPage + 1] == 0x77 && sh2[2 * kPage + 1] == 0x77);
    // Buffers in mappings of the same file: read() into the private mapping (a copy-on-write
    // fault inside the file's read), write() from the shared one.
    CHECK(pread(fd, priv + 3 * kPage, kPage, 0) == kPage && priv[3 * kPage + 10] == pattern(10));
    CHECK(pwrite(fd, sh + 4 * kPage, 16, 5 * kPage) == 16 && sh[5 * kPage + 3] == pattern(4 * kPage + 3));
    // msync has nothing to write back but checks its range.
    CHECK(msync(sh, pages * kPage, MS_SYNC) == 0);
    // Truncation: pages past the new end are gone from every mapping (SIGBUS), the copies too.
    priv[6 * kPage] = 1;
    CHECK(ftruncate(fd, 4 * kPage) == 0);
    CHECK(try_read(sh + 5 * kPage, &b) == SIGBUS && g_fault_addr == sh + 5 * kPage);
    CHECK(try_read(priv + 6 * kPage, &b) == SIGBUS);
    CHECK(try_write(sh + 7 * kPage, 1) == SIGBUS);
    CHECK(try_read(sh + 3 * kPage, &b) == 0);
    // Growing again: the hole reads as zeros, and a store allocates it.
    CHECK(ftruncate(fd, pages * kPage) == 0);
    CHECK(try_read(sh + 6 * kPage, &b) == 0 && b == 0);
    sh[6 * kPage + 9] = 0x42;
    CHECK(pread(fd, &b, 1, 6 * kPage + 9) == 1 && b == 0x42);
    // A mapping longer than the file: the page past the end is SIGBUS.
    unsigned char* over = mmap(NULL, (pages + 2) * kPage, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(over != MAP_FAILED);
    CHECK(try_read(over + pages * kPage, &b) == SIGBUS && try_read(over + pages * kPage - 1, &b) == 0);
    // A shared writable mapping of a file opened read-only: EACCES; a directory: ENODEV.
    int ro = open("/tmp/mapped", O_RDONLY);
    CHECK(mmap(NULL, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0) == MAP_FAILED && errno == EACCES);
    int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
    CHECK(mmap(NULL, kPage, PROT_READ, MAP_PRIVATE, dir, 0) == MAP_FAILED && errno == ENODEV);
    int wo = open("/tmp/mapped", O_WRONLY);
    CHECK(mmap(NULL, kPage, PROT_READ, MAP_SHARED, wo, 0) == MAP_FAILED && errno == EACCES);
    close(ro);
    close(dir);
    close(wo);
    // The mapping outlives the descriptor and the name.
    close(fd);
    CHECK(unlink("/tmp/mapped") == 0);
    sh[kPage] = 0x99;
    CHECK(sh2[kPage] == 0x99);
    CHECK(munmap(priv, pages * kPage) == 0 && munmap(sh, pages * kPage) == 0 && munmap(sh2, pages * kPage) == 0);
    CHECK(munmap(over, (pages + 2) * kPage) == 0);
}

// Threads fault the same pages at once: reads of a shared mapping, and copy-on-write stores
// to a private one (each thread its own bytes of every page).
enum { kThreads = 4, kRacePages = 64 };
static unsigned char* g_race_shared;
static unsigned char* g_race_private;
static pthread_barrier_t g_barrier;

static void* racer(void* arg)
{
    size_t id = (size_t)(uintptr_t)arg;
    pthread_barrier_wait(&g_barrier);
    unsigned sum = 0;
    for (size_t p = 0; p < kRacePages; ++p) {
        size_t page = (p + id * 7) % kRacePages;
        sum += g_race_shared[page * kPage + id];
        g_race_private[page * kPage + 100 + id] = (unsigned char)(id + page);
    }
    return (void*)(uintptr_t)sum;
}

static void test_races(void)
{
    int fd = make_file("/tmp/race", kRacePages);
    // Fresh mappings of a file the earlier prefault did not see: make a hole-free file, then
    // drop its pages from the mappings so that the threads' faults do the work.
    g_race_shared = mmap(NULL, kRacePages * kPage, PROT_READ, MAP_SHARED, fd, 0);
    g_race_private = mmap(NULL, kRacePages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    CHECK(g_race_shared != MAP_FAILED && g_race_private != MAP_FAILED);
    CHECK(madvise(g_race_shared, kRacePages * kPage, MADV_DONTNEED) == 0);
    CHECK(madvise(g_race_private, kRacePages * kPage, MADV_DONTNEED) == 0);
    pthread_barrier_init(&g_barrier, NULL, kThreads);
    pthread_t t[kThreads];
    for (size_t i = 0; i < kThreads; ++i)
        CHECK(pthread_create(&t[i], NULL, racer, (void*)(uintptr_t)i) == 0);
    for (size_t i = 0; i < kThreads; ++i) {
        void* sum;
        CHECK(pthread_join(t[i], &sum) == 0);
        unsigned want = 0;
        for (size_t p = 0; p < kRacePages; ++p)
            want += pattern(p * kPage + i);
        CHECK((unsigned)(uintptr_t)sum == want);
    }
    // Every thread's store survived (no copy replaced another), the rest is the file's.
    int ok = 1;
    for (size_t p = 0; p < kRacePages; ++p) {
        for (size_t i = 0; i < kThreads; ++i)
            ok &= g_race_private[p * kPage + 100 + i] == (unsigned char)(i + p);
        ok &= g_race_private[p * kPage + 99] == pattern(p * kPage + 99);
    }
    CHECK(ok);
    unsigned char b;
    CHECK(pread(fd, &b, 1, 100) == 1 && b == pattern(100));
    CHECK(munmap(g_race_shared, kRacePages * kPage) == 0 && munmap(g_race_private, kRacePages * kPage) == 0);
    close(fd);
}

int main(int argc, char** argv)
{
    (void)argc;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    char self[256];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(n > 0);
    self[n > 0 ? n : 0] = 0;
    (void)argv;
    // The running program's file is mapped in place: it cannot be written or truncated
    // (ETXTBSY; EROFS when it lives in the read-only root image), and it keeps running.
    errno = 0;
    CHECK(open(self, O_WRONLY) == -1 && (errno == ETXTBSY || errno == EROFS));
    CHECK(open("/proc/self/exe", O_WRONLY | O_TRUNC | O_CREAT, 0755) == -1 && (errno == ETXTBSY || errno == EROFS));
    CHECK(truncate(self, 0) == -1 && (errno == ETXTBSY || errno == EROFS));
    test_image_file(self);
    test_ramfs_file();
    test_races();
    if (failures)
        return 1;
    printf("mmap_files: ok\n");
    return 0;
}
