// ThreadSanitizer stress tests for ksync::Mutex: many threads, a plain (non-atomic) counter
// that loses updates if mutual exclusion ever fails (and that TSan reports as a race if the
// mutex's memory ordering is wrong), mixed try_lock and recursion, injected spurious wake-ups,
// widened windows that force the wake-token paths, and a bound on how long any waiter waits
// (barging must not starve anyone).
#include "stress_support.h"

#include <sync/host_thread_ops.h>
#include <sync/mutex.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>

namespace {

using ksync::Mutex;
using ksync::MutexEvent;
using ksync::MutexGuard;
using sync_stress::EventCounts;
using sync_stress::Rng;
using sync_stress::run_threads;
using sync_stress::ScopedEventCounts;
using sync_stress::Watchdog;

struct Counter {
    Mutex lock;
    uint64_t value TA_GUARDED(lock) = 0;
    // Threads inside the critical section; anything but 0 on entry is a mutual-exclusion bug.
    // Relaxed: a detector, not part of the synchronisation.
    std::atomic<int> inside{0};
    std::atomic<int> violations{0};

    // The critical section: a deliberately split read-modify-write of a plain variable.
    void bump_locked(bool yield_inside) TA_REQ(lock)
    {
        if (inside.fetch_add(1, std::memory_order_relaxed) != 0)
            violations.fetch_add(1, std::memory_order_relaxed);
        uint64_t v = value;
        if (yield_inside)
            std::this_thread::yield(); // get preempted while holding the mutex
        value = v + 1;
        inside.fetch_sub(1, std::memory_order_relaxed);
    }
};

void print_paths(const char* test, const EventCounts& c)
{
    std::printf("[%s] contended locks %llu, waits %llu, wakes won %llu/lost %llu, barged %llu, "
                "starving hand-offs %llu, contended unlocks %llu, tokens published %llu, taken "
                "by lockers %llu, taken back %llu\n",
                test, (unsigned long long)c[MutexEvent::LockContended],
                (unsigned long long)c[MutexEvent::LockWaiting],
                (unsigned long long)(c[MutexEvent::LockWoken] - c[MutexEvent::WokenLost] -
                                     c[MutexEvent::Starving]),
                (unsigned long long)c[MutexEvent::WokenLost],
                (unsigned long long)c[MutexEvent::Barged],
                (unsigned long long)c[MutexEvent::UnlockHandedOff],
                (unsigned long long)c[MutexEvent::UnlockContended],
                (unsigned long long)c[MutexEvent::WakeTokenPublished],
                (unsigned long long)c[MutexEvent::WakeTokenTakenByLocker],
                (unsigned long long)c[MutexEvent::WakeTokenTakenBack]);
}

// 8 threads × 100k lock/unlock of one mutex.
TEST(MutexStress, NoLostUpdates)
{
    constexpr int kThreads = 8;
    constexpr int kIterations = 100'000;
    Counter counter;
    EventCounts events;
    {
        ScopedEventCounts counting(events);
        Watchdog watchdog("NoLostUpdates", std::chrono::seconds(120));
        run_threads(kThreads, [&](int) {
            for (int i = 0; i < kIterations; i++)
                WITH_LOCK(counter.lock) {
                    counter.bump_locked(i % 64 == 0);
                }
        });
    }
    print_paths("NoLostUpdates", events);
    WITH_LOCK(counter.lock) {
        EXPECT_EQ(counter.value, uint64_t(kThreads) * kIterations);
    }
    EXPECT_EQ(counter.violations.load(), 0);
    EXPECT_GT(events[MutexEvent::LockWaiting], 0u); // the contended path really ran
}

// 16 threads mixing lock, try_lock (falling back to lock) and recursive locking.
void mixed_operation(Counter& counter, Rng& rng) TA_NO_ANALYSIS // recursion (see unit tests)
{
    switch (rng.next() % 4) {
    case 0:
    case 1: {
        MutexGuard guard(counter.lock);
        counter.bump_locked(rng.next() % 32 == 0);
        break;
    }
    case 2:
        if (counter.lock.try_lock()) {
            MutexGuard guard(counter.lock, ksync::kAdoptLock);
            counter.bump_locked(false);
        } else {
            MutexGuard guard(counter.lock);
            counter.bump_locked(false);
        }
        break;
    case 3: {
        MutexGuard outer(counter.lock);
        counter.bump_locked(false);
        {
            MutexGuard inner(counter.lock);
            counter.bump_locked(rng.next() % 32 == 0);
            if (counter.lock.try_lock()) { // recursion through try_lock
                MutexGuard innermost(counter.lock, ksync::kAdoptLock);
                counter.bump_locked(false);
            }
        }
        counter.bump_locked(false);
        break;
    }
    }
}

uint64_t mixed_bumps(uint32_t choice)
{
    return choice == 3 ? 4 : 1;
}

TEST(MutexStress, MixedTryLockAndRecursion)
{
    constexpr int kThreads = 16;
    constexpr int kIterations = 25'000;
    Counter counter;
    std::atomic<uint64_t> expected{0};
    EventCounts events;
    {
        ScopedEventCounts counting(events);
        Watchdog watchdog("MixedTryLockAndRecursion", std::chrono::seconds(120));
        run_threads(kThreads, [&](int t) {
            Rng rng(t + 1);
            uint64_t mine = 0;
            for (int i = 0; i < kIterations; i++) {
                Rng peek = rng; // the same choice mixed_operation will make
                mine += mixed_bumps(peek.next() % 4);
                mixed_operation(counter, rng);
            }
            expected.fetch_add(mine, std::memory_order_relaxed); // relaxed: read after join
        });
    }
    print_paths("MixedTryLockAndRecursion", events);
    WITH_LOCK(counter.lock) {
        EXPECT_EQ(counter.value, expected.load());
    }
    EXPECT_EQ(counter.violations.load(), 0);
}

// The same hammering with every third park returning spuriously: every waiting loop must
// re-check its own condition.
TEST(MutexStress, SurvivesSpuriousWakeups)
{
    constexpr int kThreads = 8;
    constexpr int kIterations = 30'000;
    Counter counter;
    ksync::host::set_spurious_wakeup_period(3);
    {
        Watchdog watchdog("SurvivesSpuriousWakeups", std::chrono::seconds(120));
        run_threads(kThreads, [&](int) {
            for (int i = 0; i < kIterations; i++)
                WITH_LOCK(counter.lock) {
                    counter.bump_locked(i % 16 == 0);
                }
        });
    }
    ksync::host::set_spurious_wakeup_period(0);
    WITH_LOCK(counter.lock) {
        EXPECT_EQ(counter.value, uint64_t(kThreads) * kIterations);
    }
    EXPECT_EQ(counter.violations.load(), 0);
}

// Widens the window between a locker's counting in and its push (a vCPU preempted there), so
// wakers keep finding a counted waiter and empty lists: the token paths run thousands of
// times, racing with each other, with barging lockers and try_lock, and with the re-check.
void widen_windows(const Mutex*, MutexEvent event)
{
    thread_local Rng rng(reinterpret_cast<uintptr_t>(&rng));
    if (event == MutexEvent::LockContended || event == MutexEvent::WakeListEmpty) {
        uint32_t r = rng.next() % 16;
        if (r == 0)
            std::this_thread::sleep_for(std::chrono::microseconds(50));
        else if (r < 8)
            std::this_thread::yield();
    }
}

TEST(MutexStress, WakeTokensUnderPreemption)
{
    constexpr int kThreads = 8;
    constexpr int kIterations = 20'000;
    // The token paths need a particular interleaving; on a quiet host one round may miss it,
    // so rounds repeat (bounded) until both were taken.
    constexpr int kMaxRounds = 20;
    Counter counter;
    EventCounts events;
    int rounds = 0;
    {
        ScopedEventCounts counting(events, widen_windows);
        Watchdog watchdog("WakeTokensUnderPreemption", std::chrono::seconds(240));
        while (rounds < kMaxRounds && (rounds == 0 || events[MutexEvent::WakeTokenPublished] == 0
                                       || events[MutexEvent::WakeTokenTakenByLocker] == 0)) {
            ++rounds;
            run_threads(kThreads, [&](int t) {
                for (int i = 0; i < kIterations; i++) {
                    if (t % 2 == 0 && counter.lock.try_lock()) {
                        MutexGuard guard(counter.lock, ksync::kAdoptLock);
                        counter.bump_locked(false);
                        continue;
                    }
                    WITH_LOCK(counter.lock) {
                        counter.bump_locked(false);
                    }
                }
            });
        }
    }
    print_paths("WakeTokensUnderPreemption", events);
    WITH_LOCK(counter.lock) {
        EXPECT_EQ(counter.value, uint64_t(rounds) * kThreads * kIterations);
    }
    EXPECT_EQ(counter.violations.load(), 0);
    EXPECT_GT(events[MutexEvent::WakeTokenPublished], 0u);
    EXPECT_GT(events[MutexEvent::WakeTokenTakenByLocker], 0u);
}

// Barging must not starve anyone. Four "hogs" re-lock the moment they unlock (the releaser
// barging back in is exactly what can keep a woken waiter out forever without the starvation
// bound); four "polite" threads pause between operations, so they arrive while a hog holds the
// mutex and must sleep. Every lock's wait is timed; the longest must stay far below a second —
// the bound is kStarvationNs plus a few wake-ups and critical sections, and the rest of the
// margin is for TSan and 8 threads on few host cores. A hang is caught by the watchdog.
TEST(MutexStress, NoWaiterWaitsUnboundedly)
{
    constexpr int kThreads = 8;
    constexpr int64_t kRunNs = 1'500'000'000;
    constexpr int64_t kMaxWaitNs = 250'000'000;
    Counter counter;
    EventCounts events;
    std::atomic<int64_t> max_wait[kThreads] = {};
    std::atomic<uint64_t> ops[kThreads] = {};
    std::atomic<uint64_t> expected{0};
    {
        ScopedEventCounts counting(events);
        Watchdog watchdog("NoWaiterWaitsUnboundedly", std::chrono::seconds(120));
        const int64_t stop_at = sync_stress::wall_ns() + kRunNs;
        run_threads(kThreads, [&](int t) {
            const bool hog = t % 2 == 0;
            int64_t longest = 0;
            uint64_t n = 0;
            while (sync_stress::wall_ns() < stop_at) {
                int64_t start = sync_stress::wall_ns();
                WITH_LOCK(counter.lock) {
                    longest = std::max(longest, sync_stress::wall_ns() - start);
                    counter.bump_locked(n % 16 == 0);
                }
                n++;
                if (!hog)
                    std::this_thread::sleep_for(std::chrono::microseconds(20));
            }
            // Relaxed: statistics, read after join.
            max_wait[t].store(longest, std::memory_order_relaxed);
            ops[t].store(n, std::memory_order_relaxed);
            expected.fetch_add(n, std::memory_order_relaxed);
        });
    }
    print_paths("NoWaiterWaitsUnboundedly", events);
    for (int t = 0; t < kThreads; t++) {
        std::printf("[NoWaiterWaitsUnboundedly] %s thread %d: %llu ops, longest wait %.3f ms\n",
                    t % 2 == 0 ? "hog" : "polite", t, (unsigned long long)ops[t].load(),
                    max_wait[t].load() / 1e6);
        EXPECT_GT(ops[t].load(), 0u);
        EXPECT_LT(max_wait[t].load(), kMaxWaitNs);
    }
    WITH_LOCK(counter.lock) {
        EXPECT_EQ(counter.value, expected.load());
    }
    EXPECT_EQ(counter.violations.load(), 0);
    EXPECT_GT(events[MutexEvent::Barged], 0u); // running threads did overtake sleepers
}

// The starvation hand-off under load: with the bound at zero every woken waiter that loses asks
// for a hand-off, so the kHandoff path races with barging lockers, try_lock, re-queued
// waiters and wake tokens thousands of times.
TEST(MutexStress, StarvationHandoffsUnderLoad)
{
    constexpr int kThreads = 8;
    constexpr int kIterations = 20'000;
    Counter counter;
    EventCounts events;
    ksync::test_hooks::set_starvation_ns(0);
    {
        ScopedEventCounts counting(events, widen_windows);
        Watchdog watchdog("StarvationHandoffsUnderLoad", std::chrono::seconds(120));
        run_threads(kThreads, [&](int t) {
            for (int i = 0; i < kIterations; i++) {
                if (t % 4 == 0 && counter.lock.try_lock()) {
                    MutexGuard guard(counter.lock, ksync::kAdoptLock);
                    counter.bump_locked(false);
                    continue;
                }
                WITH_LOCK(counter.lock) {
                    counter.bump_locked(i % 32 == 0);
                }
            }
        });
    }
    ksync::test_hooks::set_starvation_ns(Mutex::kStarvationNs);
    print_paths("StarvationHandoffsUnderLoad", events);
    WITH_LOCK(counter.lock) {
        EXPECT_EQ(counter.value, uint64_t(kThreads) * kIterations);
    }
    EXPECT_EQ(counter.violations.load(), 0);
    EXPECT_GT(events[MutexEvent::UnlockHandedOff], 0u);
}

// Many mutexes, threads taking random pairs in a fixed order: the wait lists of different
// mutexes interleave on the same threads (a thread waits on one mutex while holding another).
TEST(MutexStress, ManyMutexesNested)
{
    constexpr int kMutexes = 8;
    constexpr int kThreads = 8;
    constexpr int kIterations = 20'000;
    Counter counters[kMutexes];
    {
        Watchdog watchdog("ManyMutexesNested", std::chrono::seconds(120));
        run_threads(kThreads, [&](int t) {
            Rng rng(t + 100);
            for (int i = 0; i < kIterations; i++) {
                int a = rng.next() % kMutexes;
                int b = rng.next() % kMutexes;
                if (a == b)
                    b = (a + 1) % kMutexes;
                if (a > b)
                    std::swap(a, b); // lock order: lower index first
                WITH_LOCK(counters[a].lock) {
                    counters[a].bump_locked(false);
                    WITH_LOCK(counters[b].lock) {
                        counters[b].bump_locked(i % 64 == 0);
                    }
                }
            }
        });
    }
    uint64_t total = 0;
    for (Counter& c : counters) {
        WITH_LOCK(c.lock) {
            total += c.value;
        }
        EXPECT_EQ(c.violations.load(), 0);
    }
    EXPECT_EQ(total, uint64_t(2) * kThreads * kIterations);
}

} // namespace
