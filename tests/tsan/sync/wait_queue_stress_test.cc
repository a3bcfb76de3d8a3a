// ThreadSanitizer stress tests for ksync::WaitQueue (and its WaiterList): token passing with
// wake_one, ping-pong, and storms of timeouts racing with wake_one/wake_all — the race that
// decides whether a timed-out waiter's stack record can be reached after it returned. A
// lost wake-up hangs a test; the watchdog turns that into a named failure.
#include "stress_support.h"

#include <sync/host_thread_ops.h>
#include <sync/thread_ops.h>
#include <sync/wait_queue.h>

#include <gtest/gtest.h>

namespace {

using ksync::now_ns;
using ksync::WaitQueue;
using sync_stress::Rng;
using sync_stress::run_threads;
using sync_stress::Watchdog;

constexpr uint64_t kUs = 1'000;

bool take(std::atomic<int64_t>& tokens)
{
    int64_t t = tokens.load(std::memory_order_relaxed);
    while (t > 0)
        if (tokens.compare_exchange_weak(t, t - 1, std::memory_order_acquire, std::memory_order_relaxed))
            return true;
    return false;
}

void token_passing(int producers, int consumers, int tokens_each)
{
    WaitQueue q;
    std::atomic<int64_t> tokens{0};
    std::atomic<int64_t> taken{0};
    const int64_t total = int64_t(producers) * tokens_each;
    Watchdog watchdog("WaitQueue token_passing", std::chrono::seconds(60));
    run_threads(producers + consumers, [&](int t) {
        if (t < producers) {
            for (int i = 0; i < tokens_each; i++) {
                tokens.fetch_add(1, std::memory_order_release);
                q.wake_one();
            }
            return;
        }
        int c = t - producers;
        int64_t share = total / consumers + (c == consumers - 1 ? total % consumers : 0);
        for (int64_t i = 0; i < share; i++) {
            q.wait([&] { return take(tokens); });
            taken.fetch_add(1, std::memory_order_relaxed); // relaxed: read after join
        }
    });
    EXPECT_EQ(taken.load(), total);
    EXPECT_EQ(tokens.load(), 0);
}

TEST(WaitQueueStress, TokenPassing)
{
    token_passing(4, 8, 40'000);
}

TEST(WaitQueueStress, TokenPassingWithSpuriousWakeups)
{
    ksync::host::set_spurious_wakeup_period(3);
    token_passing(3, 6, 20'000);
    ksync::host::set_spurious_wakeup_period(0);
}

// Two threads alternate through one queue: any lost wake-up hangs.
TEST(WaitQueueStress, PingPong)
{
    constexpr int kRounds = 20'000;
    WaitQueue q;
    std::atomic<int> turn{0};
    uint64_t data = 0; // plain: handed over by the turn's release/acquire
    Watchdog watchdog("WaitQueue PingPong", std::chrono::seconds(60));
    run_threads(2, [&](int me) {
        for (int i = 0; i < kRounds; i++) {
            q.wait([&] { return turn.load(std::memory_order_acquire) == me; });
            data++;
            turn.store(1 - me, std::memory_order_release);
            q.wake_all();
        }
    });
    EXPECT_EQ(data, uint64_t(2 * kRounds));
}

// Waiters with tiny deadlines; wakers firing wake_one/wake_all and sometimes making the
// predicate true. Every waiter returns; tokens taken never exceed tokens given.
TEST(WaitQueueStress, TimeoutsRacingWithWakes)
{
    constexpr int kWaiters = 10;
    constexpr int kWakers = 3;
    constexpr int kRoundsEach = 2'000;
    WaitQueue q;
    std::atomic<int64_t> tokens{0};
    std::atomic<int64_t> given{0}, taken{0}, timeouts{0};
    std::atomic<int> waiters_left{kWaiters};
    Watchdog watchdog("WaitQueue TimeoutsRacingWithWakes", std::chrono::seconds(60));
    run_threads(kWaiters + kWakers, [&](int t) {
        Rng rng(t + 1);
        if (t < kWaiters) {
            for (int i = 0; i < kRoundsEach; i++) {
                uint64_t deadline = now_ns() + rng.next() % (200 * kUs);
                if (q.wait_until(deadline, [&] { return take(tokens); }))
                    taken.fetch_add(1, std::memory_order_relaxed);
                else
                    timeouts.fetch_add(1, std::memory_order_relaxed);
            }
            waiters_left.fetch_sub(1, std::memory_order_relaxed);
            return;
        }
        while (waiters_left.load(std::memory_order_relaxed) > 0) {
            uint32_t r = rng.next();
            if (r % 4 == 0) {
                tokens.fetch_add(1, std::memory_order_release);
                given.fetch_add(1, std::memory_order_relaxed);
            }
            if (r % 8 == 1)
                q.wake_all();
            else
                q.wake_one();
            if (r % 16 == 2)
                std::this_thread::yield();
        }
    });
    EXPECT_EQ(taken.load() + tokens.load(), given.load());
    EXPECT_EQ(taken.load() + timeouts.load(), int64_t(kWaiters) * kRoundsEach);
    std::printf("[TimeoutsRacingWithWakes] taken %lld, timeouts %lld\n", (long long)taken.load(),
                (long long)timeouts.load());
}

// Wakers that may not block (preemption disabled in the kernel) wake sleepers reliably.
TEST(WaitQueueStress, WakersWithoutTheRightToBlock)
{
    constexpr int kItems = 20'000;
    WaitQueue q;
    std::atomic<int64_t> tokens{0};
    Watchdog watchdog("WaitQueue WakersWithoutTheRightToBlock", std::chrono::seconds(60));
    run_threads(8, [&](int t) {
        if (t < 4) {
            ksync::host::set_can_block(false);
            for (int i = 0; i < kItems / 4; i++) {
                tokens.fetch_add(1, std::memory_order_release);
                q.wake_one();
            }
            ksync::host::set_can_block(true);
            return;
        }
        for (int i = 0; i < kItems / 4; i++)
            q.wait([&] { return take(tokens); });
    });
    EXPECT_EQ(tokens.load(), 0);
}

} // namespace
