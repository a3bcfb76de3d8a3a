// Unit tests for ksync::Semaphore: counting, try/timed acquire, FIFO hand-off, release from a
// context that may not block, and units conserved across timeouts.
#include "../../support/watchdog.h"

#include <sync/host_thread_ops.h>
#include <sync/semaphore.h>
#include <sync/thread_ops.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace {

using ksync::now_ns;
using ksync::Semaphore;
using test_support::Watchdog;

constexpr uint64_t kMs = 1'000'000;

void await_sleeps(uint64_t before, uint64_t n)
{
    while (ksync::host::sleep_count() - before < n)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

TEST(Semaphore, CountsUnits)
{
    Semaphore s(2);
    EXPECT_TRUE(s.try_acquire());
    EXPECT_TRUE(s.try_acquire());
    EXPECT_FALSE(s.try_acquire());
    s.release();
    EXPECT_EQ(s.available(), 1);
    s.acquire(); // available: no sleep
    EXPECT_FALSE(s.try_acquire());
    s.release(3);
    EXPECT_EQ(s.available(), 3);
}

TEST(Semaphore, ReleaseBeforeAcquireIsNotLost)
{
    Semaphore s;
    s.release();
    Watchdog watchdog("ReleaseBeforeAcquireIsNotLost", std::chrono::seconds(10));
    std::thread t([&] { s.acquire(); });
    t.join();
    EXPECT_EQ(s.available(), 0);
}

TEST(Semaphore, AcquireSleepsUntilRelease)
{
    Semaphore s;
    std::atomic<bool> got{false};
    Watchdog watchdog("AcquireSleepsUntilRelease", std::chrono::seconds(10));
    uint64_t sleeps = ksync::host::sleep_count();
    std::thread t([&] {
        s.acquire();
        got.store(true);
    });
    await_sleeps(sleeps, 1);
    EXPECT_FALSE(got.load());
    s.release();
    t.join();
    EXPECT_TRUE(got.load());
    EXPECT_EQ(s.available(), 0); // handed over, not deposited
}

TEST(Semaphore, AcquireUntilTimesOut)
{
    Semaphore s;
    uint64_t start = now_ns();
    EXPECT_FALSE(s.acquire_until(start + 50 * kMs));
    uint64_t elapsed = now_ns() - start;
    EXPECT_GE(elapsed, 50 * kMs);
    EXPECT_LT(elapsed, 2000 * kMs);
    EXPECT_FALSE(s.acquire_until(0)); // past deadline: only tries
    s.release();
    EXPECT_TRUE(s.acquire_until(0));
    EXPECT_EQ(s.available(), 0);
}

TEST(Semaphore, AcquireUntilSucceedsWhenReleasedInTime)
{
    Semaphore s;
    std::thread t([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        s.release();
    });
    uint64_t start = now_ns();
    EXPECT_TRUE(s.acquire_until(start + 10'000 * kMs));
    EXPECT_LT(now_ns() - start, 5000 * kMs);
    t.join();
}

// Units go to waiters in the order they queued; a newcomer cannot overtake them.
TEST(Semaphore, FifoHandOff)
{
    constexpr int kWaiters = 4;
    Semaphore s;
    std::atomic<int> finished{0};
    std::atomic<int> order[kWaiters];
    Watchdog watchdog("FifoHandOff", std::chrono::seconds(20));
    std::vector<std::thread> waiters;
    for (int i = 0; i < kWaiters; i++) {
        uint64_t sleeps = ksync::host::sleep_count();
        waiters.emplace_back([&, i] {
            s.acquire();
            order[finished.fetch_add(1)].store(i);
        });
        await_sleeps(sleeps, 1);
    }
    for (int i = 0; i < kWaiters; i++) {
        s.release();
        EXPECT_FALSE(s.try_acquire()); // the unit went to the queue, not to the newcomer
        while (finished.load() != i + 1)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    for (std::thread& t : waiters)
        t.join();
    for (int i = 0; i < kWaiters; i++)
        EXPECT_EQ(order[i].load(), i);
    EXPECT_EQ(s.available(), 0);
}

TEST(Semaphore, ReleaseManyWakesMany)
{
    constexpr int kWaiters = 5;
    Semaphore s;
    Watchdog watchdog("ReleaseManyWakesMany", std::chrono::seconds(20));
    uint64_t sleeps = ksync::host::sleep_count();
    std::vector<std::thread> waiters;
    for (int i = 0; i < kWaiters; i++)
        waiters.emplace_back([&] { s.acquire(); });
    await_sleeps(sleeps, kWaiters);
    s.release(kWaiters + 2);
    for (std::thread& t : waiters)
        t.join();
    EXPECT_EQ(s.available(), 2);
}

// A timed-out waiter leaves the queue; the unit released later goes to the one still waiting.
TEST(Semaphore, TimedOutWaiterLeavesCleanly)
{
    Semaphore s;
    Watchdog watchdog("TimedOutWaiterLeavesCleanly", std::chrono::seconds(20));
    uint64_t sleeps = ksync::host::sleep_count();
    std::thread stayer([&] { s.acquire(); });
    await_sleeps(sleeps, 1);
    std::thread leaver([&] { EXPECT_FALSE(s.acquire_until(now_ns() + 30 * kMs)); });
    leaver.join();
    s.release();
    stayer.join();
    EXPECT_EQ(s.available(), 0);
}

TEST(Semaphore, ReleaseWithoutTheRightToBlock)
{
    Semaphore s;
    Watchdog watchdog("ReleaseWithoutTheRightToBlock", std::chrono::seconds(10));
    uint64_t sleeps = ksync::host::sleep_count();
    std::thread waiter([&] { s.acquire(); });
    await_sleeps(sleeps, 1);
    std::thread releaser([&] {
        ksync::host::set_can_block(false);
        s.release();
        EXPECT_FALSE(s.try_acquire());
        ksync::host::set_can_block(true);
    });
    releaser.join();
    waiter.join();
}

void acquire_without_the_right_to_block()
{
    Semaphore s(1);
    ksync::host::set_can_block(false);
    s.acquire();
}

TEST(SemaphoreDeathTest, AcquireAssertsItMayBlock)
{
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_DEATH(acquire_without_the_right_to_block(), "can_block");
}

} // namespace
