// ThreadSanitizer stress tests for ksync::RwLock: readers check an invariant of plain data
// that writers update (TSan reports any missing ordering), with try_ variants mixed in.
#include "stress_support.h"

#include <sync/host_thread_ops.h>
#include <sync/rwlock.h>

#include <gtest/gtest.h>

namespace {

using ksync::ReadGuard;
using ksync::RwLock;
using ksync::WriteGuard;
using sync_stress::Rng;
using sync_stress::run_threads;
using sync_stress::Watchdog;

struct Guarded {
    RwLock lock;
    uint64_t a TA_GUARDED(lock) = 0;
    uint64_t b TA_GUARDED(lock) = 0; // always equal to a outside a write section
};

void readers_and_writers(int readers, int writers, int rounds)
{
    Guarded g;
    std::atomic<int64_t> reads{0}, writes{0}, try_fails{0};
    Watchdog watchdog("RwLock readers_and_writers", std::chrono::seconds(60));
    run_threads(readers + writers, [&](int t) TA_NO_ANALYSIS {
        Rng rng(t + 3);
        bool writer = t < writers;
        for (int i = 0; i < rounds; i++) {
            uint32_t r = rng.next();
            if (writer) {
                if (r % 4 == 0) {
                    if (!g.lock.try_lock()) {
                        try_fails.fetch_add(1, std::memory_order_relaxed);
                        continue;
                    }
                    WriteGuard w(g.lock, ksync::kAdoptLock);
                    g.a++;
                    g.b++;
                } else {
                    WriteGuard w(g.lock);
                    g.a++;
                    if (r % 16 == 1)
                        std::this_thread::yield();
                    g.b++;
                }
                writes.fetch_add(1, std::memory_order_relaxed);
            } else {
                if (r % 4 == 0) {
                    if (!g.lock.try_lock_shared()) {
                        try_fails.fetch_add(1, std::memory_order_relaxed);
                        continue;
                    }
                    ReadGuard rg(g.lock, ksync::kAdoptLock);
                    EXPECT_EQ(g.a, g.b);
                } else {
                    ReadGuard rg(g.lock);
                    uint64_t a = g.a;
                    if (r % 16 == 1)
                        std::this_thread::yield();
                    EXPECT_EQ(a, g.b);
                }
                reads.fetch_add(1, std::memory_order_relaxed);
            }
        }
    });
    WriteGuard w(g.lock);
    EXPECT_EQ(g.a, uint64_t(writes.load()));
    EXPECT_EQ(g.a, g.b);
    std::printf("[RwLock] reads %lld, writes %lld, try failures %lld\n", (long long)reads.load(),
                (long long)writes.load(), (long long)try_fails.load());
}

TEST(RwLockStress, ManyReadersFewWriters)
{
    readers_and_writers(10, 2, 10'000);
}

TEST(RwLockStress, WriteHeavy)
{
    readers_and_writers(4, 8, 5'000);
}

TEST(RwLockStress, WithSpuriousWakeups)
{
    ksync::host::set_spurious_wakeup_period(3);
    readers_and_writers(6, 4, 3'000);
    ksync::host::set_spurious_wakeup_period(0);
}

} // namespace
