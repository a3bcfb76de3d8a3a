// Raw-disk exerciser (issue 5): run against a virtio-blk disk under `nimbus run --disk`.
//
//   disk_check DEV rw THREADS SEED   each of THREADS threads owns a slice of the disk and
//                                    writes random bytes at random offsets and sizes (aligned
//                                    and not, buffered and O_DIRECT), checking reads against an
//                                    in-memory shadow; then fsync, a full read-back, and
//                                    "disk_check: hash=H" (FNV-1a 64 of the whole disk), which
//                                    the host compares with the image file.
//   disk_check DEV ro                the disk is read-only: opening it for writing fails with
//                                    EROFS, writes through a read-only descriptor with EBADF;
//                                    prints the hash of its contents.
//   disk_check DEV eio OFFSET        the device fails every request touching byte OFFSET (QEMU
//                                    blkdebug): reads and writes there get EIO (also through
//                                    O_DIRECT and fsync afterwards still works), elsewhere succeed.
// Both check the edges: size by BLKGETSIZE64 and lseek(SEEK_END), reads at and across the end,
// writes past the end (ENOSPC), O_DIRECT misalignment (EINVAL), BLKSSZGET, BLKROGET.
// Prints "disk_check: ok" and exits 0 when everything held; "FAIL ..." and 1 otherwise.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const char* g_dev;
static uint8_t* g_shadow;
static uint64_t g_size;
static unsigned g_threads;
static unsigned g_seed;
static unsigned g_block = 512; // the logical block size (BLKSSZGET): O_DIRECT's unit
static int g_failed;

#define FAIL(...)                                                                                                      \
    do {                                                                                                               \
        printf("FAIL " __VA_ARGS__);                                                                                   \
        printf("\n");                                                                                                  \
        g_failed = 1;                                                                                                  \
    } while (0)

static uint64_t next_random(uint64_t* state)
{
    uint64_t x = *state += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t fnv1a(const uint8_t* p, uint64_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint64_t i = 0; i < n; ++i)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static int full_pread(int fd, void* buf, size_t n, off_t at)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(fd, (char*)buf + done, n - done, at + (off_t)done);
        if (r <= 0)
            return -1;
        done += (size_t)r;
    }
    return 0;
}

static void check_edges(int fd, int writable)
{
    uint64_t size64 = 0;
    if (ioctl(fd, BLKGETSIZE64, &size64) != 0 || size64 != g_size)
        FAIL("BLKGETSIZE64 %llu, expected %llu", (unsigned long long)size64, (unsigned long long)g_size);
    unsigned long sectors = 0;
    if (ioctl(fd, BLKGETSIZE, &sectors) != 0 || sectors != g_size / 512)
        FAIL("BLKGETSIZE %lu", sectors);
    int ssz = 0;
    if (ioctl(fd, BLKSSZGET, &ssz) != 0 || ssz < 512 || (ssz & (ssz - 1)))
        FAIL("BLKSSZGET %d", ssz);
    else
        g_block = (unsigned)ssz;
    unsigned pbsz = 0;
    if (ioctl(fd, BLKPBSZGET, &pbsz) != 0 || pbsz < (unsigned)ssz)
        FAIL("BLKPBSZGET %u", pbsz);
    int ro = -1;
    if (ioctl(fd, BLKROGET, &ro) != 0 || ro != !writable)
        FAIL("BLKROGET %d", ro);
    if (lseek(fd, 0, SEEK_END) != (off_t)g_size)
        FAIL("lseek SEEK_END");
    char buf[1024];
    if (pread(fd, buf, sizeof buf, (off_t)g_size) != 0)
        FAIL("pread at the end is not 0");
    if (pread(fd, buf, sizeof buf, (off_t)g_size - 100) != 100)
        FAIL("pread across the end is not short");
    if (read(fd, buf, 10) != 0)
        FAIL("read at the end (after lseek SEEK_END) is not 0");
    if (writable) {
        errno = 0;
        if (pwrite(fd, buf, 10, (off_t)g_size) != -1 || errno != ENOSPC)
            FAIL("pwrite past the end: errno %d, expected ENOSPC", errno);
    }
    if (ioctl(fd, 0x1234, 0) != -1 || errno != ENOTTY)
        FAIL("unknown ioctl: errno %d", errno);
    if (ioctl(fd, BLKGETSIZE64, (void*)8) != -1 || errno != EFAULT)
        FAIL("BLKGETSIZE64 into a bad pointer: errno %d", errno);
}

struct Worker {
    unsigned index;
    int fd, direct_fd;
    uint64_t begin, end;
    unsigned writes, direct_writes, reads;
};

static void* work(void* arg)
{
    struct Worker* w = arg;
    uint64_t state = g_seed * 1000003ull + w->index;
    uint8_t* buf = aligned_alloc(4096, 256 * 1024);
    uint8_t* check = malloc(256 * 1024);
    uint64_t span = w->end - w->begin;
    for (unsigned op = 0; op < 300 && !g_failed; ++op) {
        uint64_t kind = next_random(&state) % 10;
        if (kind < 5) { // a buffered write, any offset and size
            uint64_t len = 1 + next_random(&state) % (64 * 1024);
            if (len > span)
                len = span;
            uint64_t at = w->begin + next_random(&state) % (span - len + 1);
            for (uint64_t i = 0; i < len; ++i)
                buf[i] = (uint8_t)next_random(&state);
            if (pwrite(w->fd, buf, len, (off_t)at) != (ssize_t)len) {
                FAIL("thread %u: pwrite %llu at %llu: errno %d", w->index, (unsigned long long)len,
                     (unsigned long long)at, errno);
                break;
            }
            memcpy(g_shadow + at, buf, len);
            w->writes++;
        } else if (kind < 7) { // an O_DIRECT write, block-aligned
            uint64_t block = g_block;
            uint64_t blocks = 1 + next_random(&state) % (32768 / block);
            uint64_t len = blocks * block;
            if (len > span)
                len = span / block * block;
            uint64_t first = (w->begin + block - 1) / block, last = len ? (w->end - len) / block : 0;
            if (len == 0 || last < first)
                continue;
            uint64_t at = (first + next_random(&state) % (last - first + 1)) * block;
            for (uint64_t i = 0; i < len; ++i)
                buf[i] = (uint8_t)next_random(&state);
            if (pwrite(w->direct_fd, buf, len, (off_t)at) != (ssize_t)len) {
                FAIL("thread %u: O_DIRECT pwrite: errno %d", w->index, errno);
                break;
            }
            memcpy(g_shadow + at, buf, len);
            w->direct_writes++;
        } else { // read back a random piece and compare
            uint64_t len = 1 + next_random(&state) % (128 * 1024);
            if (len > span)
                len = span;
            uint64_t at = w->begin + next_random(&state) % (span - len + 1);
            if (full_pread(w->fd, check, len, (off_t)at) != 0) {
                FAIL("thread %u: pread: errno %d", w->index, errno);
                break;
            }
            if (memcmp(check, g_shadow + at, len) != 0) {
                FAIL("thread %u: read-back of %llu bytes at %llu differs", w->index, (unsigned long long)len,
                     (unsigned long long)at);
                break;
            }
            w->reads++;
        }
    }
    free(buf);
    free(check);
    return NULL;
}

static int run_rw(void)
{
    int fd = open(g_dev, O_RDWR);
    int direct_fd = open(g_dev, O_RDWR | O_DIRECT);
    if (fd < 0 || direct_fd < 0) {
        FAIL("open %s: errno %d", g_dev, errno);
        return 1;
    }
    if (ioctl(fd, BLKGETSIZE64, &g_size) != 0 || g_size == 0 || g_size % 512) {
        FAIL("BLKGETSIZE64");
        return 1;
    }
    check_edges(fd, 1);
    g_shadow = malloc(g_size);
    if (full_pread(fd, g_shadow, g_size, 0) != 0) {
        FAIL("reading the whole disk: errno %d", errno);
        return 1;
    }
    // O_DIRECT rules.
    char* aligned = aligned_alloc(4096, 4096);
    errno = 0;
    if (pwrite(direct_fd, aligned, 100, 0) != -1 || errno != EINVAL)
        FAIL("O_DIRECT write of 100 bytes: errno %d, expected EINVAL", errno);
    if (pread(direct_fd, aligned, g_block, 3) != -1 || errno != EINVAL)
        FAIL("O_DIRECT read at offset 3: errno %d, expected EINVAL", errno);
    if (g_block > 512 && (pread(direct_fd, aligned, 512, 0) != -1 || errno != EINVAL))
        FAIL("O_DIRECT read of 512 bytes with %u-byte blocks: errno %d, expected EINVAL", g_block, errno);
    free(aligned);

    pthread_t threads[16];
    struct Worker workers[16];
    for (unsigned i = 0; i < g_threads; ++i) {
        workers[i] = (struct Worker){ i, fd, direct_fd, g_size / g_threads * i, g_size / g_threads * (i + 1), 0, 0, 0 };
        pthread_create(&threads[i], NULL, work, &workers[i]);
    }
    unsigned writes = 0, direct = 0, reads = 0;
    for (unsigned i = 0; i < g_threads; ++i) {
        pthread_join(threads[i], NULL);
        writes += workers[i].writes;
        direct += workers[i].direct_writes;
        reads += workers[i].reads;
    }
    if (fsync(fd) != 0)
        FAIL("fsync: errno %d", errno);
    if (fdatasync(fd) != 0)
        FAIL("fdatasync: errno %d", errno);
    uint8_t* all = malloc(g_size);
    lseek(fd, 0, SEEK_SET);
    uint64_t got = 0;
    while (got < g_size) { // sequential read() advances the offset
        ssize_t r = read(fd, all + got, g_size - got < 1000000 ? g_size - got : 1000000);
        if (r <= 0)
            break;
        got += (uint64_t)r;
    }
    if (got != g_size || memcmp(all, g_shadow, g_size) != 0)
        FAIL("the final read-back differs from what was written (%llu bytes read)", (unsigned long long)got);
    printf("disk_check: %u threads, %u writes, %u O_DIRECT writes, %u reads checked\n", g_threads, writes, direct,
           reads);
    printf("disk_check: hash=%016llx\n", (unsigned long long)fnv1a(g_shadow, g_size));
    close(direct_fd);
    close(fd);
    return g_failed;
}

static int run_ro(void)
{
    errno = 0;
    if (open(g_dev, O_RDWR) != -1 || errno != EROFS)
        FAIL("open O_RDWR of a read-only disk: errno %d, expected EROFS", errno);
    if (open(g_dev, O_WRONLY) != -1 || errno != EROFS)
        FAIL("open O_WRONLY of a read-only disk: errno %d, expected EROFS", errno);
    int fd = open(g_dev, O_RDONLY);
    if (fd < 0) {
        FAIL("open O_RDONLY: errno %d", errno);
        return 1;
    }
    if (ioctl(fd, BLKGETSIZE64, &g_size) != 0 || g_size == 0) {
        FAIL("BLKGETSIZE64");
        return 1;
    }
    check_edges(fd, 0);
    char b[16] = { 0 };
    if (pwrite(fd, b, sizeof b, 0) != -1 || errno != EBADF)
        FAIL("pwrite through a read-only descriptor: errno %d, expected EBADF", errno);
    uint8_t* all = malloc(g_size);
    if (full_pread(fd, all, g_size, 0) != 0) {
        FAIL("reading the whole disk");
        return 1;
    }
    printf("disk_check: hash=%016llx\n", (unsigned long long)fnv1a(all, g_size));
    close(fd);
    return g_failed;
}

static int run_eio(uint64_t bad)
{
    int fd = open(g_dev, O_RDWR);
    int direct_fd = open(g_dev, O_RDWR | O_DIRECT);
    if (fd < 0 || direct_fd < 0) {
        FAIL("open: errno %d", errno);
        return 1;
    }
    uint8_t* buf = aligned_alloc(4096, 65536);
    memset(buf, 0x5a, 65536);
    uint64_t bad_block = bad & ~4095ull;
    errno = 0;
    if (pread(fd, buf, 4096, (off_t)bad_block) != -1 || errno != EIO)
        FAIL("pread over the failing sector: errno %d, expected EIO", errno);
    errno = 0;
    if (pread(direct_fd, buf, 65536, (off_t)(bad_block > 32768 ? bad_block - 32768 : 0)) != -1 || errno != EIO)
        FAIL("O_DIRECT pread across the failing sector: errno %d, expected EIO", errno);
    errno = 0;
    if (pwrite(direct_fd, buf, 4096, (off_t)bad_block) != -1 || errno != EIO)
        FAIL("O_DIRECT pwrite over the failing sector: errno %d, expected EIO", errno);
    errno = 0;
    if (pwrite(fd, buf, 100, (off_t)bad + 1) != -1 || errno != EIO)
        FAIL("unaligned pwrite next to the failing sector: errno %d, expected EIO", errno);
    uint64_t good = bad_block >= 1 << 20 ? 0 : bad_block + (1 << 20);
    if (pread(fd, buf, 4096, (off_t)good) != 4096)
        FAIL("pread of a good sector: errno %d", errno);
    if (pwrite(fd, buf, 4096, (off_t)good) != 4096)
        FAIL("pwrite of a good sector: errno %d", errno);
    if (fsync(fd) != 0)
        FAIL("fsync: errno %d", errno);
    free(buf);
    return g_failed;
}

int main(int argc, char** argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: disk_check DEV rw THREADS SEED | disk_check DEV ro | disk_check DEV eio OFFSET\n");
        return 2;
    }
    g_dev = argv[1];
    int result;
    if (strcmp(argv[2], "rw") == 0 && argc == 5) {
        g_threads = (unsigned)atoi(argv[3]);
        g_seed = (unsigned)atoi(argv[4]);
        if (g_threads < 1 || g_threads > 16)
            return 2;
        result = run_rw();
    } else if (strcmp(argv[2], "ro") == 0) {
        result = run_ro();
    } else if (strcmp(argv[2], "eio") == 0 && argc == 4) {
        result = run_eio(strtoull(argv[3], NULL, 0));
    } else {
        return 2;
    }
    if (result == 0 && !g_failed)
        printf("disk_check: ok\n");
    return g_failed ? 1 : 0;
}
