// ThreadSanitizer stress tests for ksync::Semaphore: a binary semaphore guarding plain data
// (its hand-off must order it), a counting semaphore whose concurrency must never exceed
// its units, and timeouts racing with hand-offs without losing or duplicating units.
#include "stress_support.h"

#include <sync/host_thread_ops.h>
#include <sync/semaphore.h>
#include <sync/thread_ops.h>

#include <gtest/gtest.h>

namespace {

using ksync::now_ns;
using ksync::Semaphore;
using sync_stress::Rng;
using sync_stress::run_threads;
using sync_stress::Watchdog;

constexpr uint64_t kUs = 1'000;

void binary_semaphore_counter(int threads, int rounds)
{
    Semaphore s(1);
    uint64_t counter = 0; // plain: only touched with the unit held
    Watchdog watchdog("Semaphore binary counter", std::chrono::seconds(60));
    run_threads(threads, [&](int) {
        for (int i = 0; i < rounds; i++) {
            s.acquire();
            counter++;
            s.release();
        }
    });
    EXPECT_EQ(counter, uint64_t(threads) * rounds);
    EXPECT_EQ(s.available(), 1);
}

TEST(SemaphoreStress, BinarySemaphoreGuardsData)
{
    binary_semaphore_counter(8, 10'000);
}

TEST(SemaphoreStress, BinarySemaphoreWithSpuriousWakeups)
{
    ksync::host::set_spurious_wakeup_period(3);
    binary_semaphore_counter(6, 4'000);
    ksync::host::set_spurious_wakeup_period(0);
}

// Three units, twelve threads mixing acquire, try_acquire and acquire_until with tiny
// deadlines: never more than three inside, and all units back at the end.
TEST(SemaphoreStress, CountingWithTimeouts)
{
    constexpr int kUnits = 3;
    constexpr int kThreads = 12;
    constexpr int kRounds = 3'000;
    Semaphore s(kUnits);
    std::atomic<int> inside{0}, max_inside{0};
    std::atomic<int64_t> acquired{0}, timeouts{0};
    Watchdog watchdog("Semaphore CountingWithTimeouts", std::chrono::seconds(60));
    run_threads(kThreads, [&](int t) {
        Rng rng(t + 7);
        for (int i = 0; i < kRounds; i++) {
            uint32_t r = rng.next();
            bool got;
            if (r % 3 == 0)
                got = s.try_acquire();
            else if (r % 3 == 1)
                got = s.acquire_until(now_ns() + r % (100 * kUs));
            else {
                s.acquire();
                got = true;
            }
            if (!got) {
                timeouts.fetch_add(1, std::memory_order_relaxed);
                continue;
            }
            int n = inside.fetch_add(1, std::memory_order_relaxed) + 1;
            int m = max_inside.load(std::memory_order_relaxed);
            while (n > m && !max_inside.compare_exchange_weak(m, n, std::memory_order_relaxed)) {
            }
            acquired.fetch_add(1, std::memory_order_relaxed);
            if (r % 5 == 0)
                std::this_thread::yield();
            inside.fetch_sub(1, std::memory_order_relaxed);
            s.release();
        }
    });
    EXPECT_LE(max_inside.load(), kUnits);
    EXPECT_EQ(s.available(), kUnits);
    std::printf("[CountingWithTimeouts] acquired %lld, failed/timed out %lld, max inside %d\n",
                (long long)acquired.load(), (long long)timeouts.load(), max_inside.load());
}

// Producers release (as from preemption-disabled context), consumers acquire: every unit
// arrives exactly once.
TEST(SemaphoreStress, ProducersAndConsumers)
{
    constexpr int kProducers = 4;
    constexpr int kConsumers = 8;
    constexpr int kItemsEach = 30'000;
    Semaphore s;
    std::atomic<int64_t> consumed{0};
    Watchdog watchdog("Semaphore ProducersAndConsumers", std::chrono::seconds(60));
    const int64_t total = int64_t(kProducers) * kItemsEach;
    run_threads(kProducers + kConsumers, [&](int t) {
        if (t < kProducers) {
            ksync::host::set_can_block(false);
            for (int i = 0; i < kItemsEach;) { // chunks of 1..3 units
                int n = 1 + i % 3;
                if (n > kItemsEach - i)
                    n = kItemsEach - i;
                s.release(uint64_t(n));
                i += n;
            }
            ksync::host::set_can_block(true);
            return;
        }
        int c = t - kProducers;
        int64_t share = total / kConsumers + (c == kConsumers - 1 ? total % kConsumers : 0);
        for (int64_t i = 0; i < share; i++) {
            s.acquire();
            consumed.fetch_add(1, std::memory_order_relaxed);
        }
    });
    EXPECT_EQ(consumed.load(), total);
    EXPECT_EQ(s.available(), 0);
}

} // namespace
