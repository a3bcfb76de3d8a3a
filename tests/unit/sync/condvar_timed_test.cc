// Unit tests for Condvar::wait_until: timeouts return false with the mutex held, notifies
// before the deadline return true, and a timed-out waiter leaves the condvar cleanly.
#include "../../support/watchdog.h"

#include <sync/condvar.h>
#include <sync/host_thread_ops.h>
#include <sync/mutex.h>
#include <sync/thread_ops.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace {

using ksync::Condvar;
using ksync::Mutex;
using ksync::MutexGuard;
using ksync::now_ns;
using test_support::Watchdog;

constexpr uint64_t kMs = 1'000'000;

struct Shared {
    Mutex lock;
    Condvar cv;
    bool ready TA_GUARDED(lock) = false;
};

TEST(CondvarTimed, TimesOutHoldingTheMutex)
{
    Shared s;
    MutexGuard guard(s.lock);
    uint64_t start = now_ns();
    EXPECT_FALSE(s.cv.wait_until(s.lock, start + 50 * kMs));
    uint64_t elapsed = now_ns() - start;
    EXPECT_TRUE(s.lock.is_held());
    EXPECT_EQ(s.lock.depth(), 1u);
    EXPECT_GE(elapsed, 50 * kMs);
    EXPECT_LT(elapsed, 2000 * kMs);
    EXPECT_FALSE(s.cv.wait_until(s.lock, 0)); // past deadline
    EXPECT_TRUE(s.lock.is_held());
}

TEST(CondvarTimed, NotifiedBeforeTheDeadline)
{
    Shared s;
    Watchdog watchdog("NotifiedBeforeTheDeadline", std::chrono::seconds(20));
    std::thread notifier([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        MutexGuard g(s.lock);
        s.ready = true;
        s.cv.notify_one();
    });
    {
        MutexGuard guard(s.lock);
        uint64_t start = now_ns();
        EXPECT_TRUE(s.cv.wait_until(s.lock, start + 10'000 * kMs, [&] {
            s.lock.assert_held();
            return s.ready;
        }));
        EXPECT_LT(now_ns() - start, 5000 * kMs);
        EXPECT_TRUE(s.lock.is_held());
    }
    notifier.join();
}

TEST(CondvarTimed, PredicateVersionTimesOut)
{
    Shared s;
    MutexGuard guard(s.lock);
    EXPECT_FALSE(s.cv.wait_until(s.lock, now_ns() + 20 * kMs, [&] {
        s.lock.assert_held();
        return s.ready;
    }));
    EXPECT_TRUE(s.lock.is_held());
}

// After one waiter timed out and left, notify_one reaches the other one.
TEST(CondvarTimed, TimedOutWaiterLeavesCleanly)
{
    Shared s;
    std::atomic<bool> stayer_waiting{false};
    Watchdog watchdog("CondvarTimedOutWaiterLeaves", std::chrono::seconds(20));
    std::thread stayer([&] {
        MutexGuard g(s.lock);
        stayer_waiting.store(true);
        s.cv.wait(s.lock, [&] {
            s.lock.assert_held();
            return s.ready;
        });
    });
    for (;;) { // scaffolding: until the stayer is inside wait (it released the mutex)
        MutexGuard g(s.lock);
        if (stayer_waiting.load())
            break;
    }
    std::thread leaver([&] {
        MutexGuard g(s.lock);
        EXPECT_FALSE(s.cv.wait_until(s.lock, now_ns() + 30 * kMs));
    });
    leaver.join();
    {
        MutexGuard g(s.lock);
        s.ready = true;
        s.cv.notify_one();
    }
    stayer.join();
}

} // namespace
