/* /init of the Linux side of the scheduler benchmarks: the same workloads as Nimbus's
 * in-kernel benchmarks (kernel/core/kbench.cc), with the same constants and output lines.
 * README.md defines each workload exactly.
 *
 *   pingpong   two threads on CPU 0 hand a turn flag back and forth under a pthread mutex
 *              and condvar
 *   yield      the same hand-off by sched_yield() alone
 *   pingpong2  pingpong with thread 0 on CPU 0 and thread 1 on CPU 1
 *   wakeup, mutex, spinlock   multi-CPU workloads, in smp.c
 *
 * A hand-off player waits until turn == itself, sets turn to the other and counts one
 * hand-off; the run stops after 20,000 round trips (40,000 hand-offs) or 10 s. ns_per_switch
 * = time from the first hand-off to the last (CLOCK_MONOTONIC) / (hand-offs - 1). A
 * 500-round-trip warm-up run comes first. The whole process is pinned to CPU 0
 * (sched_setaffinity); threads of multi-CPU workloads are created bound to their CPU.
 *
 * Which workloads: the kernel command line's `bench=NAME,NAME,...` (read from /proc/cmdline;
 * `all` = every workload), `pingpong,yield` without one. A workload that needs more CPUs than
 * are online prints "bench-skip NAME needs N cpus".
 *
 * Output: "linux clocksource=NAME" (CLOCK_MONOTONIC's source, read from sysfs), then one
 * "bench NAME key=value ..." line per workload on COM1, written with outb (the initramfs has
 * no /dev/console), then "exit S" on COM2 and S to isa-debug-exit, which ends QEMU (as
 * bench/boot/linux_init.c). S is 0, 1 if a workload failed, 2 for an unknown name. Also usable
 * as an ordinary program on a Linux host: "--host [LIST]" prints to stdout, no port I/O.
 * Built with gcc -static -O2 -pthread pingpong.c smp.c. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sched_bench.h"

enum {
    kRoundTrips = 20000,
    kWarmupRoundTrips = 500,
    kClockCheckMask = 1023,
};
static const uint64_t kTimeLimitNs = BENCH_TIME_LIMIT_NS;
static const char kDefaultBenchmarks[] = "pingpong,yield";

static int g_host; /* --host: stdout instead of the UARTs */

static void uart_puts(unsigned short port, const char* s) {
    for (; *s; ++s) {
        outb((unsigned char)*s, port);
    }
}

void say(const char* line) {
    if (g_host) {
        fputs(line, stdout);
        fflush(stdout);
    } else if (ioperm(0x3f8, 8, 1) == 0) {
        uart_puts(0x3f8, line);
    }
}

uint64_t monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct run {
    uint64_t target; /* hand-offs */
    uint64_t handoffs;
    uint64_t first_ns;
    uint64_t last_ns;
    volatile int turn;
    volatile int done;
};

static void count_handoff(struct run* run) {
    ++run->handoffs;
    if (run->handoffs == 1 || run->handoffs == run->target ||
        (run->handoffs & kClockCheckMask) == 0) {
        uint64_t t = monotonic_ns();
        if (run->handoffs == 1) {
            run->first_ns = t;
        }
        run->last_ns = t;
        if (run->handoffs >= run->target || t - run->first_ns >= kTimeLimitNs) {
            run->done = 1;
        }
    }
}

static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_changed = PTHREAD_COND_INITIALIZER;
static struct run g_run;

static void* pingpong_player(void* arg) {
    int me = (int)(intptr_t)arg;
    pthread_mutex_lock(&g_mutex);
    for (;;) {
        while (!g_run.done && g_run.turn != me) {
            pthread_cond_wait(&g_changed, &g_mutex);
        }
        if (g_run.done) {
            break;
        }
        g_run.turn = 1 - me;
        count_handoff(&g_run);
        pthread_cond_signal(&g_changed);
    }
    pthread_cond_signal(&g_changed); /* the other may wait for a turn that never comes */
    pthread_mutex_unlock(&g_mutex);
    return NULL;
}

static void* yield_player(void* arg) {
    int me = (int)(intptr_t)arg;
    for (;;) {
        while (!g_run.done && g_run.turn != me) {
            sched_yield();
        }
        if (g_run.done) {
            break;
        }
        g_run.turn = 1 - me;
        count_handoff(&g_run);
        sched_yield();
    }
    return NULL;
}

int online_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int start_thread(pthread_t* thread, void* (*entry)(void*), void* arg, int cpu) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (cpu >= 0) {
        cpu_set_t cpus;
        CPU_ZERO(&cpus);
        CPU_SET(cpu, &cpus);
        pthread_attr_setaffinity_np(&attr, sizeof cpus, &cpus);
    }
    int error = pthread_create(thread, &attr, entry, arg);
    pthread_attr_destroy(&attr);
    if (error != 0) {
        char line[96];
        snprintf(line, sizeof line, "bench: pthread_create on cpu %d failed: %s\n", cpu,
                 strerror(error));
        say(line);
        return 0;
    }
    return 1;
}

/* Runs two players to the end; `pinned`: player i bound to CPU i, else both inherit CPU 0. */
static int run_players(void* (*entry)(void*), uint64_t target, int pinned) {
    memset(&g_run, 0, sizeof g_run);
    g_run.target = target;
    pthread_t t[2];
    for (intptr_t i = 0; i < 2; ++i) {
        if (!start_thread(&t[i], entry, (void*)i, pinned ? (int)i : -1)) {
            if (i == 1) { /* end player 0's run: it may wait for a turn that never comes */
                pthread_mutex_lock(&g_mutex);
                g_run.done = 1;
                pthread_cond_broadcast(&g_changed);
                pthread_mutex_unlock(&g_mutex);
                pthread_join(t[0], NULL);
            }
            return 0;
        }
    }
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    return 1;
}

static int bench(const char* name, void* (*entry)(void*), int pinned) {
    char line[160];
    if (!run_players(entry, 2 * kWarmupRoundTrips, pinned) ||
        !run_players(entry, 2 * kRoundTrips, pinned)) {
        return 0;
    }
    if (g_run.handoffs < 2) {
        snprintf(line, sizeof line, "bench %s failed: %llu hand-offs\n", name,
                 (unsigned long long)g_run.handoffs);
        say(line);
        return 0;
    }
    uint64_t total = g_run.last_ns - g_run.first_ns;
    uint64_t switches = g_run.handoffs - 1;
    snprintf(line, sizeof line, "bench %s ns_per_switch=%llu switches=%llu total_ns=%llu\n", name,
             (unsigned long long)((total + switches / 2) / switches),
             (unsigned long long)switches, (unsigned long long)total);
    say(line);
    return 1;
}

/* Says which clocksource CLOCK_MONOTONIC runs on (tsc, or a coarse fallback such as
 * jiffies, which would make the figures coarse): "linux clocksource=NAME". */
static void report_clocksource(void) {
    const char* path = "/sys/devices/system/clocksource/clocksource0/current_clocksource";
    if (!g_host) {
        mkdir("/sys", 0755);
        mount("sysfs", "/sys", "sysfs", 0, NULL);
    }
    char name[64] = "unknown";
    FILE* f = fopen(path, "r");
    if (f) {
        if (!fgets(name, sizeof name, f)) {
            strcpy(name, "unknown");
        }
        fclose(f);
    }
    name[strcspn(name, "\n")] = 0;
    char line[96];
    snprintf(line, sizeof line, "linux clocksource=%s\n", name);
    say(line);
}

static int bench_pingpong(void) { return bench("pingpong", pingpong_player, 0); }
static int bench_yield(void) { return bench("yield", yield_player, 0); }
static int bench_pingpong2(void) { return bench("pingpong2", pingpong_player, 1); }

struct workload {
    const char* name;
    int cpus; /* needs at least this many online */
    int (*run)(void);
};

static const struct workload kWorkloads[] = {
    {"pingpong", 1, bench_pingpong}, {"yield", 1, bench_yield},
    {"pingpong2", 2, bench_pingpong2}, {"wakeup", 2, bench_wakeup},
    {"mutex", 2, bench_mutex}, {"spinlock", 2, bench_spinlock},
};
enum { kWorkloadCount = sizeof kWorkloads / sizeof kWorkloads[0] };

static int run_workload(const struct workload* w) {
    int cpus = online_cpus();
    if (cpus < w->cpus) {
        char line[96];
        snprintf(line, sizeof line, "bench-skip %s needs %d cpus\n", w->name, w->cpus);
        say(line);
        return 1;
    }
    return w->run();
}

/* Runs the comma-separated workloads of `list` in order ("all": every one). Returns the exit
 * status: 0, 1 if one failed, 2 (at once) for an unknown name. */
static int run_list(const char* list) {
    int failed = 0;
    const char* p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        int all = n == 3 && strncmp(p, "all", 3) == 0;
        int found = 0;
        for (int i = 0; i < kWorkloadCount; ++i) {
            const struct workload* w = &kWorkloads[i];
            if (all || (strlen(w->name) == n && strncmp(p, w->name, n) == 0)) {
                found = 1;
                failed |= !run_workload(w);
            }
        }
        if (n > 0 && !found) {
            char line[256];
            int len = snprintf(line, sizeof line, "bench: unknown benchmark '%.*s' (known: all",
                               (int)(n < 64 ? n : 64), p);
            for (int i = 0; i < kWorkloadCount && len < (int)sizeof line - 32; ++i) {
                len += snprintf(line + len, sizeof line - len, ", %s", kWorkloads[i].name);
            }
            snprintf(line + len, sizeof line - len, ")\n");
            say(line);
            return 2;
        }
        p += n;
        if (*p == ',') {
            ++p;
        }
    }
    return failed ? 1 : 0;
}

/* The value of `bench=` on the kernel command line (/proc/cmdline, mounted here), copied into
 * buf; the default list if there is none. */
static const char* kernel_bench_list(char* buf, size_t size) {
    mkdir("/proc", 0755);
    mount("proc", "/proc", "proc", 0, NULL);
    char cmdline[4096];
    FILE* f = fopen("/proc/cmdline", "r");
    if (!f) {
        say("bench: cannot read /proc/cmdline, running the default list\n");
        return kDefaultBenchmarks;
    }
    size_t len = fread(cmdline, 1, sizeof cmdline - 1, f);
    fclose(f);
    cmdline[len] = 0;
    for (char* tok = strtok(cmdline, " \t\n"); tok; tok = strtok(NULL, " \t\n")) {
        if (strcmp(tok, "--") == 0) {
            break; /* the rest is init's argv */
        }
        if (strncmp(tok, "bench=", 6) == 0) {
            snprintf(buf, size, "%s", tok + 6);
            return buf;
        }
    }
    return kDefaultBenchmarks;
}

int main(int argc, char** argv) {
    g_host = argc > 1 && strcmp(argv[1], "--host") == 0;
    report_clocksource(); /* also mounts sysfs, which online_cpus() needs */
    char buf[512];
    const char* list = g_host ? (argc > 2 ? argv[2] : kDefaultBenchmarks)
                              : kernel_bench_list(buf, sizeof buf);
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    CPU_SET(0, &cpus);
    int status = sched_setaffinity(0, sizeof cpus, &cpus) == 0 ? 0 : 1;
    if (status != 0) {
        say("bench: sched_setaffinity failed\n");
    }
    int result = run_list(list);
    status = result > status ? result : status;
    if (g_host) {
        return status;
    }
    if (ioperm(0x2f8, 8, 1) == 0) {
        char line[16];
        snprintf(line, sizeof line, "exit %d\n", status);
        uart_puts(0x2f8, line);
    }
    if (ioperm(0xf4, 4, 1) == 0) {
        outb((unsigned char)status, 0xf4);
    }
    reboot(RB_POWER_OFF); /* not reached under QEMU with isa-debug-exit */
    for (;;) {
        pause();
    }
}
