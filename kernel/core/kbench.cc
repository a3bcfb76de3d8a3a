// In-kernel micro-benchmarks (kbench.h). Both workloads mirror bench/sched/pingpong.c
// line for line, so that the figures compare like with like:
//
//   Two threads, 0 and 1, and a shared `turn`. A thread waits until turn == itself, then
//   sets turn to the other and counts one hand-off. The run stops after kRoundTrips round
//   trips (2 × kRoundTrips hand-offs) or once kTimeLimitNs has passed, whichever is first.
//   ns_per_switch = time from the first hand-off to the last / (hand-offs − 1): each
//   hand-off needs the CPU to go from one thread to the other, so this is OSv's "time per
//   context switch" (total time / number of switches), wake-up and lock costs included.
//   Thread creation and exit are outside the measured interval. A short warm-up run comes
//   first (stacks and structures touched, clock calibrated).
//
// The boot thread waits in join() meanwhile, so only the two players are runnable on CPU 0.
#include <core/clock.h>
#include <core/console.h>
#include <core/kbench.h>
#include <core/thread.h>
#include <sync/condvar.h>
#include <sync/mutex.h>

namespace core::kbench {
namespace {

constexpr uint64_t kRoundTrips = 20'000;
constexpr uint64_t kWarmupRoundTrips = 500;
constexpr uint64_t kTimeLimitNs = 10'000'000'000; // 10 s of (possibly virtual) time
constexpr uint64_t kClockCheckMask = 1023;       // read the clock every 1024 hand-offs

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

// Runs entry(player 0) and entry(player 1) to the end. If the second thread cannot be
// created, abort(shared) ends the first one's run. False if the players could not run.
bool run_players(Thread::Entry entry, void* shared, void (*abort)(void* shared))
{
    Player players[2] = { { shared, 0 }, { shared, 1 } };
    auto t0 = Thread::create("bench0", entry, &players[0]);
    if (t0.is_error()) {
        kprintf("bench: no memory for a thread\n");
        return false;
    }
    auto t1 = Thread::create("bench1", entry, &players[1]);
    if (t1.is_error()) {
        abort(shared);
        Thread::join(t0.value());
        kprintf("bench: no memory for a thread\n");
        return false;
    }
    Thread::join(t0.value());
    Thread::join(t1.value());
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

bool bench_pingpong()
{
    PingPong& pp = g_pingpong; // reused for the warm-up and the measured run
    for (uint64_t target : { 2 * kWarmupRoundTrips, 2 * kRoundTrips }) {
        {
            ksync::MutexGuard guard(pp.mutex);
            pp.run = Run{};
            pp.run.target = target;
        }
        if (!run_players(pingpong_player, &pp, abort_pingpong))
            return false;
        if (target == 2 * kRoundTrips) {
            ksync::MutexGuard guard(pp.mutex);
            return report("pingpong", pp.run);
        }
    }
    return false;
}

bool bench_yield()
{
    for (uint64_t target : { 2 * kWarmupRoundTrips, 2 * kRoundTrips }) {
        Run& run = g_yield_run;
        run = Run{};
        run.target = target;
        if (!run_players(yield_player, &run, abort_yield))
            return false;
        if (target == 2 * kRoundTrips)
            return report("yield", run);
    }
    return false;
}

struct Benchmark {
    const char* name;
    bool (*run)();
};

constexpr Benchmark kBenchmarks[] = {
    { "pingpong", bench_pingpong },
    { "yield", bench_yield },
};

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
                failed |= !b.run();
            }
        }
        if (!found) {
            kprintf("bench: unknown benchmark '%.*s' (known: all", int(name_length), name);
            for (const Benchmark& b : kBenchmarks)
                kprintf(", %s", b.name);
            kprintf(")\n");
            return 2;
        }
    }
    return failed ? 1 : 0;
}

} // namespace core::kbench
