/* /init of the Linux side of the thread-switch benchmark: the same two workloads as Nimbus's
 * in-kernel benchmarks (kernel/core/kbench.cc), with the same constants and output lines.
 *
 *   pingpong  two threads hand a turn flag back and forth under a pthread mutex and condvar
 *   yield     the same hand-off by sched_yield() alone
 *
 * A thread waits until turn == itself, sets turn to the other and counts one hand-off; the run
 * stops after 20,000 round trips (40,000 hand-offs) or 10 s. ns_per_switch = time from the
 * first hand-off to the last (CLOCK_MONOTONIC) / (hand-offs - 1). A 500-round-trip warm-up
 * run comes first. The whole process is pinned to CPU 0 (sched_setaffinity; the VM has one
 * vCPU anyway).
 *
 * Output: "linux clocksource=NAME" (CLOCK_MONOTONIC's source, read from sysfs), then
 * "bench NAME ns_per_switch=N switches=N total_ns=N" on COM1, written with outb (the
 * initramfs has no /dev/console), then "exit S" on COM2 and S to isa-debug-exit, which ends
 * QEMU (as bench/boot/linux_init.c). Also usable as an ordinary program on a Linux host
 * (argument "--host": print to stdout, no port I/O).
 * Built with gcc -static -O2 -pthread. */
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

enum {
    kRoundTrips = 20000,
    kWarmupRoundTrips = 500,
    kClockCheckMask = 1023,
};
static const uint64_t kTimeLimitNs = 10000000000ull;

static int g_host; /* --host: stdout instead of the UARTs */

static void uart_puts(unsigned short port, const char* s) {
    for (; *s; ++s) {
        outb((unsigned char)*s, port);
    }
}

static void say(const char* line) {
    if (g_host) {
        fputs(line, stdout);
        fflush(stdout);
    } else if (ioperm(0x3f8, 8, 1) == 0) {
        uart_puts(0x3f8, line);
    }
}

static uint64_t monotonic_ns(void) {
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

static int run_players(void* (*entry)(void*), uint64_t target) {
    memset(&g_run, 0, sizeof g_run);
    g_run.target = target;
    pthread_t t[2];
    for (intptr_t i = 0; i < 2; ++i) {
        if (pthread_create(&t[i], NULL, entry, (void*)i) != 0) {
            say("bench: pthread_create failed\n");
            return 0;
        }
    }
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    return 1;
}

static int bench(const char* name, void* (*entry)(void*)) {
    char line[160];
    if (!run_players(entry, 2 * kWarmupRoundTrips) || !run_players(entry, 2 * kRoundTrips)) {
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

int main(int argc, char** argv) {
    g_host = argc > 1 && strcmp(argv[1], "--host") == 0;
    report_clocksource();
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    CPU_SET(0, &cpus);
    int ok = sched_setaffinity(0, sizeof cpus, &cpus) == 0;
    if (!ok) {
        say("bench: sched_setaffinity failed\n");
    }
    ok = bench("pingpong", pingpong_player) && ok;
    ok = bench("yield", yield_player) && ok;
    if (g_host) {
        return ok ? 0 : 1;
    }
    if (ioperm(0x2f8, 8, 1) == 0) {
        uart_puts(0x2f8, ok ? "exit 0\n" : "exit 1\n");
    }
    if (ioperm(0xf4, 4, 1) == 0) {
        outb(ok ? 0 : 1, 0xf4);
    }
    reboot(RB_POWER_OFF); /* not reached under QEMU with isa-debug-exit */
    for (;;) {
        pause();
    }
}
