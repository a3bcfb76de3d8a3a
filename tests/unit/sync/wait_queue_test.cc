// Unit tests for ksync::WaitQueue: wait/wake semantics, timeouts (including a timed-out
// waiter leaving a queue that others still sleep on), and wakers without the right to block.
#include "../../support/watchdog.h"

#include <sync/host_thread_ops.h>
#include <sync/thread_ops.h>
#include <sync/wait_queue.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace {

using ksync::now_ns;
using ksync::WaitQueue;
using test_support::Watchdog;

constexpr uint64_t kMs = 1'000'000;

// Scaffolding: sleeps until the process-wide count of real sleeps has grown by `n`.
void await_sleeps(uint64_t before, uint64_t n)
{
    while (ksync::host::sleep_count() - before < n)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

TEST(WaitQueue, TruePredicateDoesNotSleep)
{
    WaitQueue q;
    uint64_t sleeps = ksync::host::sleep_count();
    q.wait([] { return true; });
    EXPECT_TRUE(q.wait_until(now_ns() + 1000 * kMs, [] { return true; }));
    EXPECT_EQ(ksync::host::sleep_count(), sleeps);
}

TEST(WaitQueue, WakeBeforeWaitIsNotLost)
{
    WaitQueue q;
    std::atomic<bool> ready{false};
    ready.store(true);
    q.wake_one(); // nobody waits yet: the predicate carries the news
    Watchdog watchdog("WakeBeforeWaitIsNotLost", std::chrono::seconds(10));
    std::thread waiter([&] { q.wait([&] { return ready.load(); }); });
    waiter.join();
}

TEST(WaitQueue, WakeOneWakesASleeper)
{
    WaitQueue q;
    std::atomic<bool> ready{false};
    std::atomic<bool> done{false};
    Watchdog watchdog("WakeOneWakesASleeper", std::chrono::seconds(10));
    uint64_t sleeps = ksync::host::sleep_count();
    std::thread waiter([&] {
        q.wait([&] { return ready.load(); });
        done.store(true);
    });
    await_sleeps(sleeps, 1);
    EXPECT_FALSE(done.load());
    ready.store(true);
    q.wake_one();
    waiter.join();
    EXPECT_TRUE(done.load());
}

TEST(WaitQueue, WaitUntilTimesOut)
{
    WaitQueue q;
    uint64_t start = now_ns();
    EXPECT_FALSE(q.wait_until(start + 50 * kMs, [] { return false; }));
    uint64_t elapsed = now_ns() - start;
    EXPECT_GE(elapsed, 50 * kMs);
    EXPECT_LT(elapsed, 2000 * kMs);
}

TEST(WaitQueue, PastDeadlineOnlyChecks)
{
    WaitQueue q;
    uint64_t sleeps = ksync::host::sleep_count();
    EXPECT_FALSE(q.wait_until(0, [] { return false; }));
    EXPECT_TRUE(q.wait_until(0, [] { return true; }));
    EXPECT_EQ(ksync::host::sleep_count(), sleeps);
}

TEST(WaitQueue, WaitUntilWokenBeforeTheDeadline)
{
    WaitQueue q;
    std::atomic<bool> ready{false};
    std::thread waker([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        ready.store(true);
        q.wake_all();
    });
    uint64_t start = now_ns();
    EXPECT_TRUE(q.wait_until(start + 10'000 * kMs, [&] { return ready.load(); }));
    EXPECT_LT(now_ns() - start, 5000 * kMs);
    waker.join();
}

TEST(WaitQueue, WakeAllWakesEveryone)
{
    constexpr int kWaiters = 6;
    WaitQueue q;
    std::atomic<bool> ready{false};
    std::atomic<int> done{0};
    Watchdog watchdog("WakeAllWakesEveryone", std::chrono::seconds(10));
    uint64_t sleeps = ksync::host::sleep_count();
    std::vector<std::thread> waiters;
    for (int i = 0; i < kWaiters; i++)
        waiters.emplace_back([&] {
            q.wait([&] { return ready.load(); });
            done.fetch_add(1);
        });
    await_sleeps(sleeps, kWaiters);
    ready.store(true);
    q.wake_all();
    for (std::thread& t : waiters)
        t.join();
    EXPECT_EQ(done.load(), kWaiters);
}

// wake_one wakes exactly one of several sleepers, oldest first.
TEST(WaitQueue, WakeOneWakesOneInFifoOrder)
{
    constexpr int kWaiters = 4;
    WaitQueue q;
    std::atomic<int> tickets{0};
    std::atomic<int> order[kWaiters];
    std::atomic<int> finished{0};
    Watchdog watchdog("WakeOneWakesOneInFifoOrder", std::chrono::seconds(20));
    std::vector<std::thread> waiters;
    for (int i = 0; i < kWaiters; i++) {
        uint64_t sleeps = ksync::host::sleep_count();
        waiters.emplace_back([&, i] {
            q.wait([&] {
                int t = tickets.load();
                while (t > 0)
                    if (tickets.compare_exchange_weak(t, t - 1))
                        return true;
                return false;
            });
            order[finished.fetch_add(1)].store(i);
        });
        await_sleeps(sleeps, 1); // queued in index order
    }
    for (int i = 0; i < kWaiters; i++) {
        tickets.fetch_add(1);
        q.wake_one();
        while (finished.load() != i + 1)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        EXPECT_EQ(finished.load(), i + 1); // one wake, one waiter
    }
    for (std::thread& t : waiters)
        t.join();
    for (int i = 0; i < kWaiters; i++)
        EXPECT_EQ(order[i].load(), i);
}

// A waiter that times out leaves; the queue still works for the one that stays, and a wake
// meant for "one" reaches the sleeper rather than the departed record.
TEST(WaitQueue, TimedOutWaiterLeavesCleanly)
{
    WaitQueue q;
    std::atomic<bool> ready{false};
    Watchdog watchdog("TimedOutWaiterLeavesCleanly", std::chrono::seconds(20));
    uint64_t sleeps = ksync::host::sleep_count();
    std::thread stayer([&] { q.wait([&] { return ready.load(); }); });
    await_sleeps(sleeps, 1);
    std::thread leaver([&] {
        EXPECT_FALSE(q.wait_until(now_ns() + 30 * kMs, [&] { return ready.load(); }));
    });
    leaver.join();
    ready.store(true);
    q.wake_one();
    stayer.join();
}

// Many waiters time out at once while wakes fly: every waiter returns.
TEST(WaitQueue, TimeoutsRacingWithWakes)
{
    constexpr int kWaiters = 8;
    WaitQueue q;
    std::atomic<bool> never{false};
    Watchdog watchdog("TimeoutsRacingWithWakes", std::chrono::seconds(30));
    std::atomic<bool> stop{false};
    std::thread waker([&] {
        while (!stop.load()) {
            q.wake_one();
            std::this_thread::yield();
        }
    });
    std::vector<std::thread> waiters;
    for (int i = 0; i < kWaiters; i++)
        waiters.emplace_back([&] {
            for (int r = 0; r < 20; r++)
                EXPECT_FALSE(q.wait_until(now_ns() + 2 * kMs, [&] { return never.load(); }));
        });
    for (std::thread& t : waiters)
        t.join();
    stop.store(true);
    waker.join();
}

// Wakers may run where blocking is forbidden (preemption disabled in the kernel).
TEST(WaitQueue, WakeWithoutTheRightToBlock)
{
    WaitQueue q;
    std::atomic<bool> ready{false};
    Watchdog watchdog("WakeWithoutTheRightToBlock", std::chrono::seconds(10));
    uint64_t sleeps = ksync::host::sleep_count();
    std::thread waiter([&] { q.wait([&] { return ready.load(); }); });
    await_sleeps(sleeps, 1);
    std::thread waker([&] {
        ksync::host::set_can_block(false);
        ready.store(true);
        q.wake_one();
        q.wake_all();
        ksync::host::set_can_block(true);
    });
    waker.join();
    waiter.join();
}

void wait_without_the_right_to_block()
{
    WaitQueue q;
    ksync::host::set_can_block(false);
    q.wait([] { return false; });
}

TEST(WaitQueueDeathTest, WaitAssertsItMayBlock)
{
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(wait_without_the_right_to_block(), "can_block");
}

} // namespace
