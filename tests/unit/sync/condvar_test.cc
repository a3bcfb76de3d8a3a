// Unit tests for ksync::Condvar: wait/notify semantics and wait morphing (a notified waiter is
// queued on the mutex, not woken to contend for it).
#include "hook_script.h"

#include <sync/condvar.h>
#include <sync/mutex.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace {

using ksync::Condvar;
using ksync::Mutex;
using ksync::MutexEvent;
using ksync::MutexGuard;
using sync_test::ScopedScript;
using sync_test::ThreadScript;
using Events = std::vector<MutexEvent>;

// Shared state of one test, in the shape kernel code would use.
struct Shared {
    Mutex lock;
    Condvar cv;
    int waiting TA_GUARDED(lock) = 0; // threads inside wait (set before waiting)
    bool ready TA_GUARDED(lock) = false;
    int tickets TA_GUARDED(lock) = 0; // notify_one test: wake-ups handed out
    int woken TA_GUARDED(lock) = 0;   // notify_one test: waiters that consumed one
};

// Polls (test scaffolding only) until `n` threads have gone to sleep in cv.wait: a waiter
// counts itself under the lock before waiting, and the lock is free again only once the
// waiter has queued its record and released it.
void wait_for_waiters(Shared& s, int n)
{
    for (;;) {
        WITH_LOCK(s.lock) {
            if (s.waiting == n)
                return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

void wait_until_ready(Shared& s)
{
    MutexGuard guard(s.lock);
    s.waiting++;
    s.cv.wait(s.lock, [&] {
        s.lock.assert_held();
        return s.ready;
    });
    EXPECT_TRUE(s.lock.is_held());
    EXPECT_EQ(s.lock.depth(), 1u);
}

// Every test here involves threads waiting for each other: guard against hangs.
class CondvarWait : public ::testing::Test {
protected:
    sync_test::Watchdog m_watchdog;
};

TEST_F(CondvarWait, NotifyWithoutWaitersDoesNothing)
{
    Condvar cv;
    cv.notify_one();
    cv.notify_all();
}

TEST_F(CondvarWait, WaitReturnsWithTheMutexHeld)
{
    Shared s;
    std::thread waiter([&] { wait_until_ready(s); });
    wait_for_waiters(s, 1);
    WITH_LOCK(s.lock) {
        s.ready = true;
        s.cv.notify_one();
    }
    waiter.join();
}

// Notify with the mutex held: the waiter is queued on the mutex (MorphQueued) and cannot run
// until the notifier unlocks, and then it is granted the mutex directly.
TEST_F(CondvarWait, NotifyUnderTheMutexMorphsTheWaiter)
{
    Shared s;
    ScopedScript script(s.lock);
    std::atomic<bool> returned{false};
    std::thread waiter([&] {
        wait_until_ready(s);
        returned.store(true);
    });
    wait_for_waiters(s, 1);
    Events notifier_events;
    {
        ThreadScript ts(&notifier_events);
        MutexGuard guard(s.lock);
        s.ready = true;
        s.cv.notify_one();
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
        EXPECT_FALSE(returned.load()); // queued behind us, not running
    }
    waiter.join();
    EXPECT_TRUE(returned.load());
    // Our unlock found the waiter's record on the mutex list and granted it.
    EXPECT_EQ(notifier_events, (Events{MutexEvent::MorphQueued, MutexEvent::UnlockContended}));
}

// Notify without the mutex: the mutex is free, so the waiter is granted it at once.
TEST_F(CondvarWait, NotifyWithTheMutexFreeGrantsIt)
{
    Shared s;
    ScopedScript script(s.lock);
    std::thread waiter([&] { wait_until_ready(s); });
    wait_for_waiters(s, 1);
    WITH_LOCK(s.lock) {
        s.ready = true;
    }
    Events notifier_events;
    {
        ThreadScript ts(&notifier_events);
        s.cv.notify_one();
    }
    waiter.join();
    EXPECT_EQ(notifier_events, (Events{MutexEvent::MorphGranted}));
}

TEST_F(CondvarWait, NotifyOneWakesOneAtATime)
{
    Shared s;
    constexpr int kWaiters = 3;
    std::vector<std::thread> waiters;
    for (int i = 0; i < kWaiters; i++)
        waiters.emplace_back([&] {
            MutexGuard guard(s.lock);
            s.waiting++;
            s.cv.wait(s.lock, [&] {
                s.lock.assert_held();
                return s.tickets > 0;
            });
            s.tickets--;
            s.woken++;
        });
    wait_for_waiters(s, kWaiters);
    for (int i = 1; i <= kWaiters; i++) {
        WITH_LOCK(s.lock) {
            s.tickets++;
            s.cv.notify_one();
        }
        for (;;) { // scaffolding: poll until that one waiter has run
            WITH_LOCK(s.lock) {
                if (s.woken == i)
                    break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        WITH_LOCK(s.lock) {
            EXPECT_EQ(s.woken, i);
        }
    }
    for (std::thread& t : waiters)
        t.join();
}

TEST_F(CondvarWait, NotifyAllMorphsEveryWaiter)
{
    Shared s;
    ScopedScript script(s.lock);
    constexpr int kWaiters = 5;
    std::vector<std::thread> waiters;
    for (int i = 0; i < kWaiters; i++)
        waiters.emplace_back([&] { wait_until_ready(s); });
    wait_for_waiters(s, kWaiters);
    Events notifier_events;
    {
        ThreadScript ts(&notifier_events);
        MutexGuard guard(s.lock);
        s.ready = true;
        s.cv.notify_all();
    }
    for (std::thread& t : waiters)
        t.join();
    Events expected(kWaiters, MutexEvent::MorphQueued);
    expected.push_back(MutexEvent::UnlockContended);
    EXPECT_EQ(notifier_events, expected);
}

// The condvar may be used with another mutex once nobody waits on it.
TEST_F(CondvarWait, ReusableWithAnotherMutexWhenIdle)
{
    Shared a;
    Shared b;
    Condvar& cv = a.cv;
    for (Shared* s : {&a, &b}) {
        std::thread waiter([&, s] {
            MutexGuard guard(s->lock);
            s->waiting++;
            cv.wait(s->lock, [&] {
                s->lock.assert_held();
                return s->ready;
            });
        });
        wait_for_waiters(*s, 1);
        WITH_LOCK(s->lock) {
            s->ready = true;
            cv.notify_one();
        }
        waiter.join();
    }
}

void wait_holding_twice(Shared& s) TA_NO_ANALYSIS
{
    MutexGuard outer(s.lock);
    MutexGuard inner(s.lock);
    s.cv.wait(s.lock);
}

TEST(CondvarDeathTest, WaitWithRecursivelyHeldMutexAsserts)
{
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    Shared s;
    EXPECT_DEATH(wait_holding_twice(s), "depth == 1");
}

} // namespace
