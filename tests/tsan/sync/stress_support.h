// Scaffolding for the sync stress tests: thread fan-out, a watchdog that turns a lost wake-up
// (a hang) into a prompt failure, per-thread CPU time, and counters of mutex slow-path events.
#pragma once

#include "../../support/watchdog.h"

#include <sync/mutex.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <time.h>

namespace sync_stress {

// Runs body(i) on `n` threads and joins them.
inline void run_threads(int n, const std::function<void(int)>& body)
{
    std::vector<std::thread> threads;
    threads.reserve(n);
    for (int i = 0; i < n; i++)
        threads.emplace_back(body, i);
    for (std::thread& t : threads)
        t.join();
}

// Aborts with a message if a test hangs (tests/support/watchdog.h).
using Watchdog = test_support::Watchdog;

// CPU time consumed by the calling thread, in nanoseconds.
inline int64_t thread_cpu_ns()
{
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

inline int64_t wall_ns()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// How often each MutexEvent happened while installed (statistics, relaxed).
struct EventCounts {
    static constexpr int kEvents = int(ksync::MutexEvent::MorphGranted) + 1;
    std::atomic<uint64_t> count[kEvents] = {};

    uint64_t operator[](ksync::MutexEvent e) const
    {
        return count[int(e)].load(std::memory_order_relaxed); // relaxed: read after join
    }
};

inline EventCounts* g_counts = nullptr;
// Called at each event after counting it (optional; set before threads start).
inline void (*g_extra)(const ksync::Mutex*, ksync::MutexEvent) = nullptr;

inline void counting_hook(const ksync::Mutex* mutex, ksync::MutexEvent event)
{
    g_counts->count[int(event)].fetch_add(1, std::memory_order_relaxed); // relaxed: statistics
    if (g_extra != nullptr)
        g_extra(mutex, event);
}

// Counts events of every mutex for the scope; `extra` runs at each event too.
class ScopedEventCounts {
public:
    explicit ScopedEventCounts(EventCounts& counts,
                               void (*extra)(const ksync::Mutex*, ksync::MutexEvent) = nullptr)
    {
        g_counts = &counts;
        g_extra = extra;
        ksync::test_hooks::set_mutex_hook(counting_hook);
    }
    ~ScopedEventCounts()
    {
        ksync::test_hooks::set_mutex_hook(nullptr);
        g_counts = nullptr;
        g_extra = nullptr;
    }
};

// A cheap per-thread PRNG (xorshift), so threads do not share random state.
struct Rng {
    uint64_t state;
    explicit Rng(uint64_t seed) : state(seed * 0x9E3779B97F4A7C15ull + 1) {}
    uint32_t next()
    {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return uint32_t(state >> 32);
    }
};

} // namespace sync_stress
