/* The multi-CPU workloads of the scheduler benchmark's Linux side (README.md has the
 * definitions that kernel/core/kbench.cc mirrors):
 *
 *   wakeup    cross-CPU wake-up latency: a waker on CPU 0 signals a condvar that a sleeper
 *             blocked on CPU 1 waits on; median and 99th percentile of signal -> running
 *   mutex     contended pthread mutex, one thread per online CPU
 *   spinlock  the same with a test-and-test-and-set spinlock built for the benchmark only
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sched_bench.h"

enum {
    kWakeups = 2000,
    kWarmupWakeups = 50,
    kLockOps = 20000,   /* per thread */
    kCriticalWork = 50, /* dependent volatile increments inside the lock */
    kPrivateWork = 50,  /* ... and outside it */
    kStopCheckMask = 255,
    kMaxThreads = 256,
};
static const uint64_t kWakeupSleepNs = 200000; /* lets the sleeper really block */

/* ---- wakeup ---- */

/* Iterations are numbered 1..kWarmupWakeups+kWakeups; the first kWarmupWakeups are not
 * recorded. All fields are covered by `mutex`. */
struct wakeup {
    pthread_mutex_t mutex;
    pthread_cond_t announced; /* sleeper -> waker: `waiting` changed */
    pthread_cond_t posted;    /* waker -> sleeper: `seq` or `done` changed */
    uint64_t waiting;         /* the iteration the sleeper is about to wait for */
    uint64_t seq;             /* the last iteration the waker posted */
    uint64_t t0;              /* clock read just before `seq` was posted */
    int done;                 /* the waker stopped early (time limit) */
    uint64_t recorded;        /* latencies recorded */
    uint64_t latency[kWakeups];
};

static struct wakeup g_wakeup = {
    .mutex = PTHREAD_MUTEX_INITIALIZER,
    .announced = PTHREAD_COND_INITIALIZER,
    .posted = PTHREAD_COND_INITIALIZER,
};

static void* wakeup_sleeper(void* arg) {
    struct wakeup* w = arg;
    pthread_mutex_lock(&w->mutex);
    for (uint64_t i = 1; i <= kWarmupWakeups + kWakeups; ++i) {
        w->waiting = i;
        pthread_cond_signal(&w->announced);
        while (w->seq != i && !w->done) {
            pthread_cond_wait(&w->posted, &w->mutex);
        }
        if (w->seq != i) {
            break; /* done */
        }
        uint64_t t1 = monotonic_ns();
        if (i > kWarmupWakeups) {
            w->latency[w->recorded++] = t1 - w->t0;
        }
    }
    pthread_mutex_unlock(&w->mutex);
    return NULL;
}

static void* wakeup_waker(void* arg) {
    struct wakeup* w = arg;
    uint64_t start = monotonic_ns();
    const struct timespec pause_ts = {0, (long)kWakeupSleepNs};
    for (uint64_t i = 1; i <= kWarmupWakeups + kWakeups; ++i) {
        pthread_mutex_lock(&w->mutex);
        while (w->waiting != i) {
            pthread_cond_wait(&w->announced, &w->mutex);
        }
        if (monotonic_ns() - start >= BENCH_TIME_LIMIT_NS) {
            w->done = 1;
            pthread_cond_signal(&w->posted);
            pthread_mutex_unlock(&w->mutex);
            break;
        }
        pthread_mutex_unlock(&w->mutex);
        nanosleep(&pause_ts, NULL);
        pthread_mutex_lock(&w->mutex);
        w->t0 = monotonic_ns();
        w->seq = i;
        pthread_cond_signal(&w->posted);
        pthread_mutex_unlock(&w->mutex);
    }
    return NULL;
}

static int compare_u64(const void* a, const void* b) {
    uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted[0..n): the element of rank ceil(p * n / 100). */
static uint64_t percentile(const uint64_t* sorted, uint64_t n, uint64_t p) {
    uint64_t rank = (p * n + 99) / 100;
    return sorted[rank > 0 ? rank - 1 : 0];
}

int bench_wakeup(void) {
    char line[160];
    struct wakeup* w = &g_wakeup;
    w->waiting = w->seq = w->t0 = w->recorded = 0;
    w->done = 0;
    pthread_t sleeper, waker;
    if (!start_thread(&sleeper, wakeup_sleeper, w, 1)) {
        return 0;
    }
    if (!start_thread(&waker, wakeup_waker, w, 0)) {
        pthread_mutex_lock(&w->mutex);
        w->done = 1;
        pthread_cond_signal(&w->posted);
        pthread_mutex_unlock(&w->mutex);
        pthread_join(sleeper, NULL);
        return 0;
    }
    pthread_join(waker, NULL);
    pthread_join(sleeper, NULL);
    uint64_t n = w->recorded;
    if (n == 0) {
        say("bench wakeup failed: no wake-ups recorded\n");
        return 0;
    }
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; ++i) {
        total += w->latency[i];
    }
    qsort(w->latency, n, sizeof w->latency[0], compare_u64);
    snprintf(line, sizeof line, "bench wakeup ns_per_op=%llu p99_ns=%llu ops=%llu total_ns=%llu\n",
             (unsigned long long)percentile(w->latency, n, 50),
             (unsigned long long)percentile(w->latency, n, 99), (unsigned long long)n,
             (unsigned long long)total);
    say(line);
    return 1;
}

/* ---- mutex, spinlock ---- */

/* Test-and-test-and-set: one atomic exchange per attempt, plain loads with `pause` while the
 * lock is seen taken. Benchmark only. */
static void tas_lock(int* lock) {
    while (__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(lock, __ATOMIC_RELAXED)) {
            __builtin_ia32_pause();
        }
    }
}

static void tas_unlock(int* lock) {
    __atomic_store_n(lock, 0, __ATOMIC_RELEASE); /* pairs with tas_lock's acquire */
}

/* One-shot start barrier. The threads spin on a counter until all have arrived, so that they
 * start within microseconds of each other: a sleeping barrier releases them one wake-up at a
 * time (milliseconds apart with more vCPUs than host cores), and the contention the figure is
 * about would not begin together. Nimbus's kernel/core/kbench.cc does the same. */
struct barrier {
    unsigned arrived; /* atomic */
    unsigned total;   /* atomic */
};

static void barrier_wait(struct barrier* b) {
    __atomic_fetch_add(&b->arrived, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(&b->arrived, __ATOMIC_ACQUIRE) < __atomic_load_n(&b->total, __ATOMIC_ACQUIRE))
        __builtin_ia32_pause();
}

struct contention {
    int use_spinlock;
    pthread_mutex_t mutex;
    int spinlock;
    volatile uint64_t data; /* under the lock */
    uint64_t counter;       /* under the lock */
    int stop;               /* atomic: a thread hit the time limit */
    struct barrier start;
};

struct worker {
    struct contention* c;
    uint64_t ops;
    uint64_t start_ns;
    uint64_t end_ns;
};

static struct contention g_contention;
static struct worker g_workers[kMaxThreads];

static void* lock_worker(void* arg) {
    struct worker* me = arg;
    struct contention* c = me->c;
    volatile uint64_t private_data = 0;
    barrier_wait(&c->start);
    me->start_ns = monotonic_ns();
    uint64_t n = 0;
    for (; n < kLockOps; ++n) {
        if (n != 0 && (n & kStopCheckMask) == 0) {
            if (__atomic_load_n(&c->stop, __ATOMIC_RELAXED) ||
                monotonic_ns() - me->start_ns >= BENCH_TIME_LIMIT_NS) {
                __atomic_store_n(&c->stop, 1, __ATOMIC_RELAXED);
                break;
            }
        }
        if (c->use_spinlock) {
            tas_lock(&c->spinlock);
        } else {
            pthread_mutex_lock(&c->mutex);
        }
        for (int k = 0; k < kCriticalWork; ++k) {
            c->data = c->data + 1;
        }
        c->counter++;
        if (c->use_spinlock) {
            tas_unlock(&c->spinlock);
        } else {
            pthread_mutex_unlock(&c->mutex);
        }
        for (int k = 0; k < kPrivateWork; ++k) {
            private_data = private_data + 1;
        }
    }
    me->ops = n;
    me->end_ns = monotonic_ns();
    return NULL;
}

static int bench_lock(const char* name, int use_spinlock) {
    char line[192];
    int threads = online_cpus();
    if (threads > kMaxThreads) {
        threads = kMaxThreads;
    }
    struct contention* c = &g_contention;
    memset(c, 0, sizeof *c);
    c->use_spinlock = use_spinlock;
    pthread_mutex_init(&c->mutex, NULL);
    __atomic_store_n(&c->start.total, (unsigned)threads, __ATOMIC_RELEASE);
    pthread_t t[kMaxThreads];
    int started = 0;
    for (; started < threads; ++started) {
        g_workers[started] = (struct worker){.c = c};
        if (!start_thread(&t[started], lock_worker, &g_workers[started], started)) {
            break;
        }
    }
    if (started < threads) {
        /* Release the ones waiting at the barrier; they stop at their first check. */
        __atomic_store_n(&c->stop, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&c->start.total, (unsigned)started, __ATOMIC_RELEASE);
    }
    for (int i = 0; i < started; ++i) {
        pthread_join(t[i], NULL);
    }
    if (started < threads) {
        return 0;
    }
    uint64_t ops = 0, first = UINT64_MAX, last = 0;
    for (int i = 0; i < threads; ++i) {
        ops += g_workers[i].ops;
        first = g_workers[i].start_ns < first ? g_workers[i].start_ns : first;
        last = g_workers[i].end_ns > last ? g_workers[i].end_ns : last;
    }
    if (c->counter != ops || ops == 0) {
        snprintf(line, sizeof line, "bench-error %s counter=%llu ops=%llu\n", name,
                 (unsigned long long)c->counter, (unsigned long long)ops);
        say(line);
        return 0;
    }
    uint64_t total = last - first;
    snprintf(line, sizeof line, "bench %s ns_per_op=%llu ops=%llu total_ns=%llu threads=%d\n",
             name, (unsigned long long)((total + ops / 2) / ops), (unsigned long long)ops,
             (unsigned long long)total, threads);
    say(line);
    return 1;
}

int bench_mutex(void) { return bench_lock("mutex", 0); }

int bench_spinlock(void) { return bench_lock("spinlock", 1); }
