// In-kernel micro-benchmarks (kbench.h). Every workload mirrors the Linux program of
// bench/sched (pingpong.c, smp.c) line for line — same constants, loop shapes, output lines,
// skip and failure rules — so that the figures compare like with like. bench/sched/README.md
// is the definition; this is the summary:
//
//   Hand-offs (pingpong, yield, pingpong2). Two threads, 0 and 1, and a shared `turn`. A
//   thread waits until turn == itself, then sets turn to the other and counts one hand-off.
//   The run stops after kRoundTrips round trips (2 × kRoundTrips hand-offs) or once
//   kTimeLimitNs has passed, whichever is first. ns_per_switch = time from the first
//   hand-off to the last / (hand-offs − 1): each hand-off needs the CPU to go from one thread
//   to the other, so this is OSv's "time per context switch" (total time / number of
//   switches), wake-up and lock costs included. Thread creation and exit are outside the
//   measured interval. A short warm-up run comes first (stacks and structures touched, clock
//   calibrated). pingpong and yield run both players on CPU 0; pingpong2 puts player 1 on
//   CPU 1, so that every hand-off is a cross-CPU wake-up.
//
//   wakeup. A sleeper on CPU 1 waits on a condvar; a waker on CPU 0 sleeps 200 µs (so the
//   sleeper is really blocked and its CPU idle), then signals. Latency = the waker's clock
//   reading just before the signal → the sleeper running again with the mutex re-taken.
//
//   mutex, spinlock. One thread per CPU, each pinned, all taking one lock kLockOps times
//   around a short dependent critical section: wall time per lock operation.
//
// The boot thread only creates, joins (Thread::join) and reports.
#include <atomic>
#include <core/clock.h>
#include <core/console.h>
#include <core/cpu.h>
#include <core/kbench.h>
#include <core/thread.h>
#include <core/timer.h>
#include <lib/errno.h>
#include <sync/condvar.h>
#include <sync/mutex.h>

namespace core::kbench {
namespace {

constexpr uint64_t kRoundTrips = 20'000;
constexpr uint64_t kWarmupRoundTrips = 500;
constexpr uint64_t kTimeLimitNs = 10'000'000'000; // 10 s of (possibly virtual) time
constexpr uint64_t kClockCheckMask = 1023;       // read the clock every 1024 hand-offs

// wakeup
constexpr uint64_t kWakeups = 2'000;
constexpr uint64_t kWarmupWakeups = 50;
constexpr uint64_t kWakeupSleepNs = 200'000; // lets the sleeper really block

// mutex, spinlock
constexpr uint64_t kLockOps = 20'000; // per thread
constexpr int kCriticalWork = 50;     // dependent volatile increments inside the lock
constexpr int kPrivateWork = 50;      // ... and outside it
constexpr uint64_t kStopCheckMask = 255;
constexpr unsigned kMaxThreads = 256;

// Creates a thread running entry(arg), pinned on `cpu` (or kAnyCpu). Says why and returns
// nullptr on failure.
Thread* start_thread(const char* name, Thread::Entry entry, void* arg, int cpu)
{
    auto t = Thread::create(name, entry, arg, ThreadAttr { .cpu = cpu });
    if (t.is_error()) {
        kprintf("bench: thread creation on cpu %d failed: %s\n", cpu, lib::errno_name(t.error()));
        return nullptr;
    }
    return t.value();
}

// ---- pingpong, yield, pingpong2 ----

struct Run {
    uint64_t target = 0; // hand-offs
    uint64_t handoffs = 0;
    uint64_t first_ns = 0;
    uint64_t last_ns = 0;
    int turn = 0;
    bool done = false;
};

// Called by the player that just handed the turn over (with the lock held, for pingpong).
void count_handoff(Run& run)
{
    ++run.handoffs;
    if (run.handoffs == 1 || run.handoffs == run.target || (run.handoffs & kClockCheckMask) == 0) {
        uint64_t t = monotonic_ns();
        if (run.handoffs == 1)
            run.first_ns = t;
        run.last_ns = t;
        if (run.handoffs >= run.target || t - run.first_ns >= kTimeLimitNs)
            run.done = true;
    }
}

struct PingPong {
    ksync::Mutex mutex;
    ksync::Condvar changed;
    Run run TA_GUARDED(mutex);
};

struct Player {
    void* shared;
    int me;
};

void pingpong_player(void* arg)
{
    auto* player = static_cast<Player*>(arg);
    auto& pp = *static_cast<PingPong*>(player->shared);
    int me = player->me;
    ksync::MutexGuard guard(pp.mutex);
    for (;;) {
        while (!pp.run.done && pp.run.turn != me)
            pp.changed.wait(pp.mutex);
        if (pp.run.done)
            break;
        pp.run.turn = 1 - me;
        count_handoff(pp.run);
        pp.changed.notify_one();
    }
    pp.changed.notify_one(); // the other player may be waiting for a turn that never comes
}

void yield_player(void* arg)
{
    auto* player = static_cast<Player*>(arg);
    auto& run = *static_cast<Run*>(player->shared);
    int me = player->me;
    // The players share `run` without a lock: one CPU, and a plain load or store of a word
    // is not torn by a switch. Volatile accesses keep each check a real load after yield().
    auto volatile_turn = [&]() { return *static_cast<volatile int*>(&run.turn); };
    auto volatile_done = [&]() { return *static_cast<volatile bool*>(&run.done); };
    for (;;) {
        while (!volatile_done() && volatile_turn() != me)
            yield();
        if (volatile_done())
            break;
        run.turn = 1 - me;
        count_handoff(run);
        yield();
    }
}

// Runs entry(player 0) and entry(player 1) to the end; `pinned`: player i on CPU i, else both
// on CPU 0 (the Linux program's threads inherit the process's CPU 0 affinity). If the second
// thread cannot be created, abort(shared) ends the first one's run. False if the players
// could not run.
bool run_players(Thread::Entry entry, void* shared, void (*abort)(void* shared), bool pinned)
{
    Player players[2] = { { shared, 0 }, { shared, 1 } };
    Thread* t0 = start_thread("bench0", entry, &players[0], 0);
    if (!t0)
        return false;
    Thread* t1 = start_thread("bench1", entry, &players[1], pinned ? 1 : 0);
    if (!t1) {
        abort(shared);
        Thread::join(t0);
        return false;
    }
    Thread::join(t0);
    Thread::join(t1);
    return true;
}

bool report(const char* name, const Run& run)
{
    if (run.handoffs < 2) {
        kprintf("bench %s failed: %lu hand-offs\n", name, run.handoffs);
        return false;
    }
    uint64_t total = run.last_ns - run.first_ns;
    uint64_t switches = run.handoffs - 1;
    kprintf("bench %s ns_per_switch=%lu switches=%lu total_ns=%lu\n", name,
            (total + switches / 2) / switches, switches, total);
    return true;
}

constinit PingPong g_pingpong;
constinit Run g_yield_run;

void abort_pingpong(void* shared)
{
    auto& pp = *static_cast<PingPong*>(shared);
    ksync::MutexGuard guard(pp.mutex);
    pp.run.done = true;
    pp.changed.notify_all();
}

void abort_yield(void* shared) { static_cast<Run*>(shared)->done = true; }

bool run_pingpong(const char* name, bool pinned)
{
    PingPong& pp = g_pingpong; // reused for the warm-up and the measured run
    for (uint64_t target : { 2 * kWarmupRoundTrips, 2 * kRoundTrips }) {
        {
            ksync::MutexGuard guard(pp.mutex);
            pp.run = Run{};
            pp.run.target = target;
        }
        if (!run_players(pingpong_player, &pp, abort_pingpong, pinned))
            return false;
        if (target == 2 * kRoundTrips) {
            ksync::MutexGuard guard(pp.mutex);
            return report(name, pp.run);
        }
    }
    return false;
}

bool bench_pingpong() { return run_pingpong("pingpong", false); }

bool bench_pingpong2() { return run_pingpong("pingpong2", true); }

bool bench_yield()
{
    for (uint64_t target : { 2 * kWarmupRoundTrips, 2 * kRoundTrips }) {
        Run& run = g_yield_run;
        run = Run{};
        run.target = target;
        if (!run_players(yield_player, &run, abort_yield, false))
            return false;
        if (target == 2 * kRoundTrips)
            return report("yield", run);
    }
    return false;
}

// ---- wakeup ----

// Iterations are numbered 1 … kWarmupWakeups + kWakeups; the first kWarmupWakeups are not
// recorded.
struct Wakeup {
    ksync::Mutex mutex;
    ksync::Condvar announced; // sleeper → waker: `waiting` changed
    ksync::Condvar posted;    // waker → sleeper: `seq` or `done` changed
    uint64_t waiting TA_GUARDED(mutex) = 0; // the iteration the sleeper is about to wait for
    uint64_t seq TA_GUARDED(mutex) = 0;     // the last iteration the waker posted
    uint64_t t0 TA_GUARDED(mutex) = 0;      // clock read just before `seq` was posted
    bool done TA_GUARDED(mutex) = false;    // the waker stopped early (time limit)
    uint64_t recorded TA_GUARDED(mutex) = 0;
    uint64_t latency[kWakeups] TA_GUARDED(mutex) = {};
};

constinit Wakeup g_wakeup;

void wakeup_sleeper(void* arg)
{
    auto& w = *static_cast<Wakeup*>(arg);
    ksync::MutexGuard guard(w.mutex);
    for (uint64_t i = 1; i <= kWarmupWakeups + kWakeups; ++i) {
        w.waiting = i;
        w.announced.notify_one();
        while (w.seq != i && !w.done)
            w.posted.wait(w.mutex);
        if (w.seq != i)
            break; // done
        uint64_t t1 = monotonic_ns();
        if (i > kWarmupWakeups)
            w.latency[w.recorded++] = t1 - w.t0;
    }
}

void wakeup_waker(void* arg)
{
    auto& w = *static_cast<Wakeup*>(arg);
    uint64_t start = monotonic_ns();
    for (uint64_t i = 1; i <= kWarmupWakeups + kWakeups; ++i) {
        {
            ksync::MutexGuard guard(w.mutex);
            while (w.waiting != i)
                w.announced.wait(w.mutex);
            if (monotonic_ns() - start >= kTimeLimitNs) {
                w.done = true;
                w.posted.notify_one();
                break; // the guard unlocks
            }
        }
        sleep_ns(kWakeupSleepNs);
        ksync::MutexGuard guard(w.mutex);
        w.t0 = monotonic_ns();
        w.seq = i;
        w.posted.notify_one();
    }
}

// Nearest-rank percentile of sorted[0..n), n > 0: the element of rank ⌈p·n/100⌉.
uint64_t percentile(const uint64_t* sorted, uint64_t n, uint64_t p)
{
    uint64_t rank = (p * n + 99) / 100;
    return sorted[rank > 0 ? rank - 1 : 0];
}

// Ascending insertion sort: n ≤ kWakeups, once per run, outside every measured interval.
void sort_ascending(uint64_t* values, uint64_t n)
{
    for (uint64_t i = 1; i < n; ++i) {
        uint64_t v = values[i];
        uint64_t j = i;
        for (; j > 0 && values[j - 1] > v; --j)
            values[j] = values[j - 1];
        values[j] = v;
    }
}

bool bench_wakeup()
{
    Wakeup& w = g_wakeup;
    {
        ksync::MutexGuard guard(w.mutex);
        w.waiting = w.seq = w.t0 = w.recorded = 0;
        w.done = false;
    }
    Thread* sleeper = start_thread("sleeper", wakeup_sleeper, &w, 1);
    if (!sleeper)
        return false;
    Thread* waker = start_thread("waker", wakeup_waker, &w, 0);
    if (!waker) {
        {
            ksync::MutexGuard guard(w.mutex);
            w.done = true;
            w.posted.notify_one();
        }
        Thread::join(sleeper);
        return false;
    }
    Thread::join(waker);
    Thread::join(sleeper);
    ksync::MutexGuard guard(w.mutex); // uncontended now; keeps the analysis honest
    uint64_t n = w.recorded;
    if (n == 0) {
        kprintf("bench wakeup failed: no wake-ups recorded\n");
        return false;
    }
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; ++i)
        total += w.latency[i];
    sort_ascending(w.latency, n);
    kprintf("bench wakeup ns_per_op=%lu p99_ns=%lu ops=%lu total_ns=%lu\n", percentile(w.latency, n, 50),
            percentile(w.latency, n, 99), n, total);
    return true;
}

// ---- mutex, spinlock ----

// The kernel has no spinlock type, on purpose (the style rules: "no spinlock anywhere"): a
// waiter burns its CPU while the holder works, and when the hypervisor preempts the holder's
// vCPU, every waiter burns its whole time slice for nothing. This test-and-test-and-set lock
// exists only so that the `spinlock` benchmark can show what the design avoids, next to
// ksync::Mutex on the same workload; it is the same lock as bench/sched/smp.c's tas_lock.
// Do not use it anywhere else.
class TA_CAPABILITY("spinlock") BenchOnlyTasSpinlock {
public:
    constexpr BenchOnlyTasSpinlock() = default;
    BenchOnlyTasSpinlock(const BenchOnlyTasSpinlock&) = delete;
    BenchOnlyTasSpinlock& operator=(const BenchOnlyTasSpinlock&) = delete;

    // One exchange per attempt; plain loads with `pause` while the lock is seen taken.
    void lock() TA_ACQUIRE()
    {
        // acquire pairs with unlock()'s release store: the last holder's writes are visible.
        while (m_locked.exchange(1, std::memory_order_acquire) != 0) {
            while (m_locked.load(std::memory_order_relaxed) != 0)
                __builtin_ia32_pause();
        }
    }
    // Pairs with lock()'s acquire exchange.
    void unlock() TA_RELEASE() { m_locked.store(0, std::memory_order_release); }

private:
    std::atomic<int> m_locked{0};
};

class TA_SCOPED_CAPABILITY BenchOnlyTasGuard {
public:
    explicit BenchOnlyTasGuard(BenchOnlyTasSpinlock& lock) TA_ACQUIRE(lock) : m_lock(lock) { m_lock.lock(); }
    ~BenchOnlyTasGuard() TA_RELEASE() { m_lock.unlock(); }
    BenchOnlyTasGuard(const BenchOnlyTasGuard&) = delete;
    BenchOnlyTasGuard& operator=(const BenchOnlyTasGuard&) = delete;

private:
    BenchOnlyTasSpinlock& m_lock;
};

// One-shot start barrier. The threads spin on a counter until all have arrived, so that they
// start within microseconds of each other: a sleeping barrier releases them one wake-up at a
// time (milliseconds apart with more vCPUs than host cores), and the contention the figure
// is about would not begin together. Benchmark-only busy-waiting, like the TAS lock; the
// Linux side (bench/sched/smp.c) does the same.
struct Barrier {
    std::atomic<unsigned> arrived{0};
    std::atomic<unsigned> total{0};
};

void barrier_wait(Barrier& b)
{
    b.arrived.fetch_add(1, std::memory_order_acq_rel);
    while (b.arrived.load(std::memory_order_acquire) < b.total.load(std::memory_order_acquire))
        asm volatile("pause" ::: "memory");
}

// One workload's shared state; Lock is taken through Guard.
template<typename Lock, typename Guard>
struct Contention {
    using LockGuard = Guard;
    Lock lock;
    volatile uint64_t data TA_GUARDED(lock) = 0;
    uint64_t counter TA_GUARDED(lock) = 0;
    // A thread hit the time limit. A flag only, no data published through it: relaxed.
    std::atomic<bool> stop{false};
    Barrier start;
};

using MutexContention = Contention<ksync::Mutex, ksync::MutexGuard>;
using SpinContention = Contention<BenchOnlyTasSpinlock, BenchOnlyTasGuard>;

constinit MutexContention g_mutex_contention;
constinit SpinContention g_spin_contention;

struct Worker {
    void* contention = nullptr;
    uint64_t ops = 0;
    uint64_t start_ns = 0;
    uint64_t end_ns = 0;
};

constinit Worker g_workers[kMaxThreads];
constinit Thread* g_worker_threads[kMaxThreads] = {};

template<typename C>
void lock_worker(void* arg)
{
    auto* me = static_cast<Worker*>(arg);
    auto& c = *static_cast<C*>(me->contention);
    volatile uint64_t private_data = 0;
    barrier_wait(c.start);
    me->start_ns = monotonic_ns();
    uint64_t n = 0;
    for (; n < kLockOps; ++n) {
        if (n != 0 && (n & kStopCheckMask) == 0) {
            if (c.stop.load(std::memory_order_relaxed) || monotonic_ns() - me->start_ns >= kTimeLimitNs) {
                c.stop.store(true, std::memory_order_relaxed);
                break;
            }
        }
        {
            typename C::LockGuard guard(c.lock);
            for (int k = 0; k < kCriticalWork; ++k)
                c.data = c.data + 1;
            c.counter++;
        }
        for (int k = 0; k < kPrivateWork; ++k)
            private_data = private_data + 1;
    }
    me->ops = n;
    me->end_ns = monotonic_ns();
}

template<typename C>
bool run_lock_bench(const char* name, C& c)
{
    unsigned threads = cpu_count();
    if (threads > kMaxThreads)
        threads = kMaxThreads;
    {
        typename C::LockGuard guard(c.lock);
        c.data = 0;
        c.counter = 0;
    }
    c.stop.store(false, std::memory_order_relaxed);
    c.start.arrived.store(0, std::memory_order_relaxed);
    c.start.total.store(threads, std::memory_order_release);
    unsigned started = 0;
    for (; started < threads; ++started) {
        g_workers[started] = Worker { &c, 0, 0, 0 };
        g_worker_threads[started] = start_thread(name, lock_worker<C>, &g_workers[started], int(started));
        if (!g_worker_threads[started])
            break;
    }
    if (started < threads) {
        // Release the ones waiting at the barrier; they stop at their first check.
        c.stop.store(true, std::memory_order_relaxed);
        c.start.total.store(started, std::memory_order_release);
    }
    for (unsigned i = 0; i < started; ++i)
        Thread::join(g_worker_threads[i]);
    if (started < threads)
        return false;
    uint64_t ops = 0;
    uint64_t first = UINT64_MAX;
    uint64_t last = 0;
    for (unsigned i = 0; i < threads; ++i) {
        ops += g_workers[i].ops;
        first = g_workers[i].start_ns < first ? g_workers[i].start_ns : first;
        last = g_workers[i].end_ns > last ? g_workers[i].end_ns : last;
    }
    uint64_t counter;
    {
        typename C::LockGuard guard(c.lock); // uncontended now; keeps the analysis honest
        counter = c.counter;
    }
    if (counter != ops || ops == 0) {
        kprintf("bench-error %s counter=%lu ops=%lu\n", name, counter, ops);
        return false;
    }
    uint64_t total = last - first;
    kprintf("bench %s ns_per_op=%lu ops=%lu total_ns=%lu threads=%u\n", name, (total + ops / 2) / ops,
            ops, total, threads);
    return true;
}

bool bench_mutex() { return run_lock_bench("mutex", g_mutex_contention); }

bool bench_spinlock() { return run_lock_bench("spinlock", g_spin_contention); }

// ---- selection ----

struct Benchmark {
    const char* name;
    unsigned cpus; // needs at least this many
    bool (*run)();
};

// In the order `all` runs them (the Linux program's order).
constexpr Benchmark kBenchmarks[] = {
    { "pingpong", 1, bench_pingpong }, { "yield", 1, bench_yield },
    { "pingpong2", 2, bench_pingpong2 }, { "wakeup", 2, bench_wakeup },
    { "mutex", 2, bench_mutex }, { "spinlock", 2, bench_spinlock },
};

// A workload that needs more CPUs than there are is skipped, and that counts as success.
bool run_benchmark(const Benchmark& b)
{
    if (cpu_count() < b.cpus) {
        kprintf("bench-skip %s needs %u cpus\n", b.name, b.cpus);
        return true;
    }
    return b.run();
}

bool equals(const char* a, uint64_t a_length, const char* b)
{
    uint64_t i = 0;
    for (; i < a_length && b[i]; ++i)
        if (a[i] != b[i])
            return false;
    return i == a_length && !b[i];
}

} // namespace

int run_benchmarks(const char* names, uint64_t length)
{
    bool failed = false;
    uint64_t start = 0;
    while (start <= length) {
        uint64_t end = start;
        while (end < length && names[end] != ',')
            ++end;
        const char* name = names + start;
        uint64_t name_length = end - start;
        start = end + 1;
        if (name_length == 0)
            continue;
        bool all = equals(name, name_length, "all");
        bool found = false;
        for (const Benchmark& b : kBenchmarks) {
            if (all || equals(name, name_length, b.name)) {
                found = true;
                failed |= !run_benchmark(b);
            }
        }
        if (!found) {
            kprintf("bench: unknown benchmark '%.*s' (known: all", int(name_length < 64 ? name_length : 64), name);
            for (const Benchmark& b : kBenchmarks)
                kprintf(", %s", b.name);
            kprintf(")\n");
            return 2;
        }
    }
    return failed ? 1 : 0;
}

} // namespace core::kbench
