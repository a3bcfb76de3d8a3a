/* The raw-disk benchmark, one static program run unmodified in both guests: as the
 * application under `nimbus run --disk`, and under the Linux guest's /init
 * (bench/disk/linux_disk_init.c), on the block device DEV (/dev/vda) opened with O_DIRECT.
 *
 *   randread_qd1    4 KiB reads at random 4 KiB-aligned offsets, one at a time
 *   randwrite_qd1   4 KiB writes, the same way
 *   randread_qd32   4 KiB random reads by 32 threads, each with one synchronous pread in
 *                   flight: queue depth 32 without io_uring or libaio (neither is needed, and
 *                   the same program runs in both guests)
 *   randwrite_qd32  the same with pwrite
 *   seqread         1 MiB reads from offset 0 on, one at a time, wrapping at the end
 *   seqwrite        1 MiB writes, the same way
 *
 * Every test is bounded in count and in time: it stops after -n operations (4 KiB tests) or
 * one pass over the disk (1 MiB tests), or after -t milliseconds, whichever comes first. Each
 * worker first does a few untimed operations (warm-up: the first touch of QEMU's and the
 * guest's paths); the clock starts once every worker has finished them. One line per test,
 * integers only:
 *
 *   bench NAME ops=N ops_per_s=N mb_per_s=N us_per_op=N ns_per_op=N p50_us=N p99_us=N
 *              thread_cpu_ns_per_op=N cpu_ns_per_op=N cpu_pct=N total_ns=N
 *
 * us_per_op / ns_per_op are the mean latency of one I/O (issue to completion, as the worker
 * sees it), p50/p99 its percentiles; ops_per_s and mb_per_s the throughput over the test's
 * wall time. thread_cpu_ns_per_op: the workers' CPU time (CLOCK_THREAD_CPUTIME_ID, summed) per
 * I/O. cpu_ns_per_op / cpu_pct: the whole guest's busy CPU time (all CPUs, from /proc/stat:
 * everything but idle and iowait, in USER_HZ ticks) per I/O and as a share of the test's wall
 * time; left out when /proc/stat cannot be read. Ends with status 0, or 1 on an I/O error
 * (a `bench-error NAME ...` line says which).
 *
 * usage: diskbench DEV [-t MS] [-n OPS] [-q THREADS] [TEST...]     (default: every test)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { kSmall = 4096, kLarge = 1 << 20, kWarmupSmall = 32, kWarmupLarge = 2, kMaxThreads = 256 };

struct Test {
    const char* name;
    int write;
    int sequential;
    int queue_depth; /* 0: the -q value */
};

static const struct Test kTests[] = {
    { "randread_qd1", 0, 0, 1 },
    { "randwrite_qd1", 1, 0, 1 },
    { "randread_qd32", 0, 0, 0 },
    { "randwrite_qd32", 1, 0, 0 },
    { "seqread", 0, 1, 1 },
    { "seqwrite", 1, 1, 1 },
};

static int g_fd;
static uint64_t g_disk_size;
static uint64_t g_time_ms = 2000;
static uint64_t g_max_ops = 20000;
static int g_threads = 32;

/* The running test: its parameters and what the workers share. */
static const struct Test* g_test;
static size_t g_io_size;
static uint64_t g_limit;          /* operations the test may do */
static uint64_t g_deadline_ns;    /* CLOCK_MONOTONIC; set by main after the start barrier */
static atomic_uint_fast64_t g_next; /* tickets: the next operation's number */
static atomic_int g_failed;
static atomic_int g_stop;           /* the deadline has passed */
static uint32_t* g_latency_ns;    /* per operation ticket */
static pthread_barrier_t g_warm;  /* every worker warmed up -> main takes the start time */
static pthread_barrier_t g_start; /* start time and deadline set -> the workers go */

struct Worker {
    pthread_t thread;
    unsigned index;
    uint64_t cpu_ns;
    int error;
    uint64_t error_offset;
};

static uint64_t clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

/* Busy and total ticks of the "cpu" line of /proc/stat; 0 if it cannot be read. */
static int read_cpu_ticks(uint64_t* busy, uint64_t* total)
{
    FILE* f = fopen("/proc/stat", "r");
    if (!f)
        return 0;
    unsigned long long v[8] = { 0 };
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                   &v[6], &v[7]);
    fclose(f);
    if (n < 4)
        return 0;
    /* user nice system idle iowait irq softirq steal: idle and iowait are not busy. */
    *busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    *total = *busy + v[3] + v[4];
    return 1;
}

static uint64_t next_random(uint64_t* state)
{
    /* xorshift64*: good enough to spread offsets, and the same sequence in both guests. */
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dull;
}

static uint64_t offset_of(uint64_t op, uint64_t* rng)
{
    if (g_test->sequential)
        return (op % (g_disk_size / g_io_size)) * g_io_size;
    return (next_random(rng) % (g_disk_size / g_io_size)) * g_io_size;
}

static int do_io(void* buf, uint64_t offset)
{
    ssize_t n = g_test->write ? pwrite(g_fd, buf, g_io_size, (off_t)offset)
                              : pread(g_fd, buf, g_io_size, (off_t)offset);
    if (n == (ssize_t)g_io_size)
        return 0;
    return n < 0 ? errno : EIO; /* a short transfer on a raw disk is an error too */
}

static void* worker_main(void* arg)
{
    struct Worker* w = arg;
    void* buf = NULL;
    if (posix_memalign(&buf, 4096, g_io_size) != 0) {
        w->error = ENOMEM;
        atomic_store(&g_failed, 1);
        pthread_barrier_wait(&g_warm);
        pthread_barrier_wait(&g_start);
        return NULL;
    }
    memset(buf, 0x5a ^ (int)w->index, g_io_size);
    uint64_t rng = 0x9e3779b97f4a7c15ull * (w->index + 1);
    /* Warm-up, untimed: the sequential tests warm up at the far end of the disk. */
    unsigned warmup = g_test->sequential ? kWarmupLarge : kWarmupSmall;
    for (unsigned i = 0; i < warmup && !w->error; i++) {
        uint64_t off = g_test->sequential ? g_disk_size - (i + 1) * g_io_size : offset_of(0, &rng);
        w->error = do_io(buf, off);
        w->error_offset = off;
    }
    if (w->error)
        atomic_store(&g_failed, 1);
    pthread_barrier_wait(&g_warm);
    pthread_barrier_wait(&g_start);
    uint64_t cpu_start = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    while (!w->error && !atomic_load(&g_failed) && !atomic_load(&g_stop)) {
        uint64_t op = atomic_fetch_add(&g_next, 1);
        if (op >= g_limit)
            break;
        uint64_t off = offset_of(op, &rng);
        uint64_t t0 = now_ns();
        w->error = do_io(buf, off);
        uint64_t t1 = now_ns();
        w->error_offset = off;
        g_latency_ns[op] = t1 - t0 > UINT32_MAX ? UINT32_MAX : (uint32_t)(t1 - t0);
        if (t1 >= g_deadline_ns) {
            atomic_store(&g_stop, 1); /* every ticket handed out is still done and counted */
            break;
        }
    }
    if (w->error)
        atomic_store(&g_failed, 1);
    w->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
    free(buf);
    return NULL;
}

static int compare_u32(const void* a, const void* b)
{
    uint32_t x = *(const uint32_t*)a, y = *(const uint32_t*)b;
    return (x > y) - (x < y);
}

/* Runs one test and prints its line; 0 on success, -1 on an I/O error. */
static int run_test(const struct Test* t)
{
    g_test = t;
    g_io_size = t->sequential ? kLarge : kSmall;
    g_limit = t->sequential ? g_disk_size / kLarge : g_max_ops;
    int threads = t->queue_depth ? t->queue_depth : g_threads;
    atomic_store(&g_next, 0);
    atomic_store(&g_failed, 0);
    atomic_store(&g_stop, 0);
    g_deadline_ns = UINT64_MAX;
    g_latency_ns = calloc(g_limit, sizeof *g_latency_ns);
    struct Worker* workers = calloc((size_t)threads, sizeof *workers);
    if (!g_latency_ns || !workers) {
        printf("bench-error %s out of memory\n", t->name);
        return -1;
    }
    pthread_barrier_init(&g_warm, NULL, (unsigned)threads + 1);
    pthread_barrier_init(&g_start, NULL, (unsigned)threads + 1);
    for (int i = 0; i < threads; i++) {
        workers[i].index = (unsigned)i;
        if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
            printf("bench-error %s pthread_create failed\n", t->name);
            exit(1);
        }
    }
    uint64_t busy0 = 0, total0 = 0, busy1 = 0, total1 = 0;
    pthread_barrier_wait(&g_warm); /* the warm-up is not timed */
    int have_ticks = read_cpu_ticks(&busy0, &total0);
    /* The deadline is written before the second barrier releases the workers: they all see it. */
    uint64_t start = now_ns();
    g_deadline_ns = start + g_time_ms * 1000000u;
    pthread_barrier_wait(&g_start);
    uint64_t cpu_ns = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(workers[i].thread, NULL);
        cpu_ns += workers[i].cpu_ns;
    }
    uint64_t elapsed = now_ns() - start;
    have_ticks = have_ticks && read_cpu_ticks(&busy1, &total1);
    pthread_barrier_destroy(&g_warm);
    pthread_barrier_destroy(&g_start);

    int status = 0;
    for (int i = 0; i < threads; i++) {
        if (workers[i].error) {
            printf("bench-error %s %s at offset %llu: %s\n", t->name, t->write ? "pwrite" : "pread",
                   (unsigned long long)workers[i].error_offset, strerror(workers[i].error));
            status = -1;
            break;
        }
    }
    uint64_t ops = atomic_load(&g_next);
    if (ops > g_limit)
        ops = g_limit;
    if (status == 0 && ops == 0) {
        printf("bench-error %s no operation completed\n", t->name);
        status = -1;
    }
    if (status == 0) {
        uint64_t sum = 0;
        for (uint64_t i = 0; i < ops; i++)
            sum += g_latency_ns[i];
        qsort(g_latency_ns, ops, sizeof *g_latency_ns, compare_u32);
        uint64_t p50 = g_latency_ns[ops / 2], p99 = g_latency_ns[ops * 99 / 100];
        uint64_t bytes = ops * g_io_size;
        printf("bench %s ops=%llu ops_per_s=%llu mb_per_s=%llu us_per_op=%llu ns_per_op=%llu p50_us=%llu "
               "p99_us=%llu thread_cpu_ns_per_op=%llu",
               t->name, (unsigned long long)ops, (unsigned long long)(ops * 1000000000u / elapsed),
               (unsigned long long)(bytes * 1000000000u / elapsed / 1000000u),
               (unsigned long long)((sum / ops + 500) / 1000), (unsigned long long)(sum / ops),
               (unsigned long long)((p50 + 500) / 1000), (unsigned long long)((p99 + 500) / 1000),
               (unsigned long long)(cpu_ns / ops));
        if (have_ticks && total1 > total0) {
            long hz = sysconf(_SC_CLK_TCK);
            uint64_t busy_ns = (busy1 - busy0) * 1000000000u / (uint64_t)(hz > 0 ? hz : 100);
            printf(" cpu_ns_per_op=%llu cpu_pct=%llu", (unsigned long long)(busy_ns / ops),
                   (unsigned long long)((busy1 - busy0) * 100 / (total1 - total0)));
        }
        printf(" total_ns=%llu\n", (unsigned long long)elapsed);
    }
    fflush(stdout);
    free(workers);
    free(g_latency_ns);
    return status;
}

static void usage(void)
{
    fprintf(stderr, "usage: diskbench DEV [-t MS] [-n OPS] [-q THREADS] [TEST...]\ntests:");
    for (size_t i = 0; i < sizeof kTests / sizeof kTests[0]; i++)
        fprintf(stderr, " %s", kTests[i].name);
    fprintf(stderr, "\n");
    exit(2);
}

static uint64_t parse_number(const char* s)
{
    char* end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v == 0)
        usage();
    return v;
}

int main(int argc, char** argv)
{
    if (argc < 2 || argv[1][0] == '-')
        usage();
    const char* dev = argv[1];
    const struct Test* chosen[sizeof kTests / sizeof kTests[0]];
    size_t nchosen = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) {
            g_time_ms = parse_number(argv[++i]);
        } else if (!strcmp(argv[i], "-n") && i + 1 < argc) {
            g_max_ops = parse_number(argv[++i]);
        } else if (!strcmp(argv[i], "-q") && i + 1 < argc) {
            g_threads = (int)parse_number(argv[++i]);
            if (g_threads > kMaxThreads)
                usage();
        } else {
            size_t k = 0;
            while (k < sizeof kTests / sizeof kTests[0] && strcmp(kTests[k].name, argv[i]))
                k++;
            if (k == sizeof kTests / sizeof kTests[0] || nchosen == sizeof chosen / sizeof chosen[0])
                usage();
            chosen[nchosen++] = &kTests[k];
        }
    }
    if (nchosen == 0)
        for (; nchosen < sizeof kTests / sizeof kTests[0]; nchosen++)
            chosen[nchosen] = &kTests[nchosen];

    g_fd = open(dev, O_RDWR | O_DIRECT);
    if (g_fd < 0) {
        printf("bench-error open %s: %s\n", dev, strerror(errno));
        return 1;
    }
    uint64_t size = 0;
    if (ioctl(g_fd, BLKGETSIZE64, &size) != 0) {
        off_t end = lseek(g_fd, 0, SEEK_END);
        size = end > 0 ? (uint64_t)end : 0;
    }
    g_disk_size = size / kLarge * kLarge;
    if (g_disk_size < 4 * (uint64_t)kLarge) {
        printf("bench-error %s: %llu bytes, need at least 4 MiB\n", dev, (unsigned long long)size);
        return 1;
    }
    printf("diskbench %s: %llu MiB, %llu ms or %llu ops per 4 KiB test, %d threads at QD32\n", dev,
           (unsigned long long)(size >> 20), (unsigned long long)g_time_ms, (unsigned long long)g_max_ops,
           g_threads);
    fflush(stdout);
    for (size_t i = 0; i < nchosen; i++)
        if (run_test(chosen[i]) != 0)
            return 1;
    close(g_fd);
    return 0;
}
