/* The Linux-ABI micro-benchmarks, one static program run unmodified in both guests: as the
 * application under `nimbus run`, and as /init of the Linux guest (bench/linux/README.md).
 * Prints one "bench NAME ns_per_op=N ops=M" line per workload, then ends the VM with status 0.
 *
 *   null_syscall   syscall(SYS_getppid): the cost of entering and leaving the kernel
 *   clock_gettime  clock_gettime(CLOCK_MONOTONIC) as glibc does it (vDSO where there is one)
 *   open_read_close  open + read 4 KiB + close of a small file in /tmp
 *   page_fault     first touch of fresh anonymous memory, per 4 KiB page
 *   file_map       mmap of a 16 MiB file in /tmp + a read of every page + munmap, per 4 KiB
 *   file_cow       the first write to every page of a private mapping of it, per 4 KiB
 *   thread         pthread_create + pthread_join of an empty thread
 *   pingpong       a mutex + two condition variables bouncing between two threads (one CPU)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static int g_linux_init; /* /init of the Linux guest: no console descriptors, talk to COM1 */

static void say(const char* fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (!g_linux_init) {
        fputs(line, stdout);
        fflush(stdout);
        return;
    }
    for (const char* s = line; *s; ++s) {
        while (!(inb(0x3f8 + 5) & 0x20)) {
        }
        outb((unsigned char)*s, 0x3f8);
    }
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void report(const char* name, uint64_t start, uint64_t ops)
{
    uint64_t total = now_ns() - start;
    say("bench %s ns_per_op=%llu ops=%llu total_ns=%llu\n", name, (unsigned long long)(total / ops),
        (unsigned long long)ops, (unsigned long long)total);
}

static void bench_null_syscall(void)
{
    const uint64_t n = 200000;
    uint64_t start = now_ns();
    for (uint64_t i = 0; i < n; ++i)
        syscall(SYS_getppid);
    report("null_syscall", start, n);
}

static void bench_clock_gettime(void)
{
    const uint64_t n = 200000;
    struct timespec ts;
    uint64_t start = now_ns();
    for (uint64_t i = 0; i < n; ++i)
        clock_gettime(CLOCK_MONOTONIC, &ts);
    report("clock_gettime", start, n);
}

static void bench_open_read_close(void)
{
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    int fd = open("/tmp/sysbench-file", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0 || write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) {
        say("bench-skip open_read_close cannot create /tmp/sysbench-file\n");
        return;
    }
    close(fd);
    const uint64_t n = 20000;
    uint64_t start = now_ns();
    for (uint64_t i = 0; i < n; ++i) {
        fd = open("/tmp/sysbench-file", O_RDONLY);
        if (read(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
            say("bench: short read\n");
        close(fd);
    }
    report("open_read_close", start, n);
}

static void bench_page_fault(void)
{
    const size_t size = 64u << 20;
    char* p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        say("bench-skip page_fault mmap failed\n");
        return;
    }
    uint64_t start = now_ns();
    for (size_t off = 0; off < size; off += 4096)
        p[off] = 1;
    report("page_fault", start, size / 4096);
    munmap(p, size);
}

/* A 16 MiB file in /tmp (ramfs in Nimbus, the initramfs's rootfs in Linux: both in memory). */
static int make_map_file(size_t size)
{
    static char chunk[65536];
    memset(chunk, 'm', sizeof chunk);
    int fd = open("/tmp/sysbench-map", O_CREAT | O_RDWR | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    for (size_t done = 0; done < size; done += sizeof chunk)
        if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk) {
            close(fd);
            return -1;
        }
    return fd;
}

static void bench_file_map(void)
{
    const size_t size = 16u << 20;
    int fd = make_map_file(size);
    if (fd < 0) {
        say("bench-skip file_map cannot create /tmp/sysbench-map\n");
        return;
    }
    volatile char sum = 0;
    uint64_t start = now_ns();
    char* p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
        say("bench-skip file_map mmap failed\n");
        close(fd);
        return;
    }
    for (size_t off = 0; off < size; off += 4096)
        sum += p[off];
    munmap(p, size);
    report("file_map", start, size / 4096);

    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
        say("bench-skip file_cow mmap failed\n");
        close(fd);
        return;
    }
    for (size_t off = 0; off < size; off += 4096)
        sum += p[off]; /* mapped, read-only: what is timed below is the copy */
    start = now_ns();
    for (size_t off = 0; off < size; off += 4096)
        p[off] = 1;
    report("file_cow", start, size / 4096);
    munmap(p, size);
    close(fd);
    unlink("/tmp/sysbench-map");
}

static void* empty_thread(void* arg) { return arg; }

static void bench_thread(void)
{
    const uint64_t n = 2000;
    uint64_t start = now_ns();
    for (uint64_t i = 0; i < n; ++i) {
        pthread_t t;
        pthread_create(&t, NULL, empty_thread, NULL);
        pthread_join(t, NULL);
    }
    report("thread", start, n);
}

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv[2] = { PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER };
static int g_turn;
static const int kRounds = 20000;

static void* ponger(void* arg)
{
    (void)arg;
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < kRounds; ++i) {
        while (g_turn != 1)
            pthread_cond_wait(&g_cv[1], &g_lock);
        g_turn = 0;
        pthread_cond_signal(&g_cv[0]);
    }
    pthread_mutex_unlock(&g_lock);
    return NULL;
}

static void bench_pingpong(void)
{
    pthread_t t;
    g_turn = 0;
    pthread_create(&t, NULL, ponger, NULL);
    uint64_t start = now_ns();
    pthread_mutex_lock(&g_lock);
    for (int i = 0; i < kRounds; ++i) {
        g_turn = 1;
        pthread_cond_signal(&g_cv[1]);
        while (g_turn != 0)
            pthread_cond_wait(&g_cv[0], &g_lock);
    }
    pthread_mutex_unlock(&g_lock);
    /* Two switches per round, as the kernel-thread ping-pong counts them. */
    uint64_t total = now_ns() - start;
    say("bench pingpong ns_per_switch=%llu switches=%d total_ns=%llu\n",
        (unsigned long long)(total / (2 * (uint64_t)kRounds)), 2 * kRounds, (unsigned long long)total);
    pthread_join(t, NULL);
}

int main(void)
{
    struct utsname u;
    g_linux_init = getpid() == 1 && uname(&u) == 0 && !strstr(u.release, "nimbus") &&
                   ioperm(0x3f8, 8, 1) == 0;
    if (g_linux_init)
        mkdir("/tmp", 01777);
    bench_null_syscall();
    bench_clock_gettime();
    bench_open_read_close();
    bench_page_fault();
    bench_file_map();
    bench_thread();
    bench_pingpong();
    if (!g_linux_init)
        return 0;
    if (ioperm(0x2f8, 8, 1) == 0)
        for (const char* s = "exit 0\n"; *s; ++s)
            outb((unsigned char)*s, 0x2f8);
    if (ioperm(0xf4, 4, 1) == 0)
        outb(0, 0xf4);
    reboot(RB_POWER_OFF);
    return 0;
}
