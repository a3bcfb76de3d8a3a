// Unit tests for ksync::Mutex: single-thread semantics (recursion, try_lock, guards, WITH_LOCK),
// the entry assertions, and each slow path of the hand-off protocol driven step by step.
#include "hook_script.h"

#include <sync/host_thread_ops.h>
#include <sync/mutex.h>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace {

using ksync::Mutex;
using ksync::MutexEvent;
using ksync::MutexGuard;
using sync_test::Gate;
using sync_test::ScopedScript;
using sync_test::ThreadScript;
using Events = std::vector<MutexEvent>;

// try_lock() that must succeed, written so the thread-safety analysis sees the acquisition
// (it cannot look through ASSERT_TRUE's expansion).
#define ASSERT_TRY_LOCK(m)                        \
    if (!(m).try_lock()) {                        \
        FAIL() << "try_lock failed on " #m;       \
    }

// A global mutex needs no dynamic initialisation.
constinit Mutex g_global_mutex;

TEST(Mutex, GuardLocksAndUnlocks)
{
    Mutex m;
    EXPECT_FALSE(m.is_held());
    {
        MutexGuard guard(m);
        EXPECT_TRUE(m.is_held());
        EXPECT_EQ(m.depth(), 1u);
    }
    EXPECT_FALSE(m.is_held());
}

TEST(Mutex, ConstinitGlobal)
{
    WITH_LOCK(g_global_mutex) {
        EXPECT_TRUE(g_global_mutex.is_held());
    }
    EXPECT_FALSE(g_global_mutex.is_held());
}

// Recursion is a run-time property the analysis does not model (it would report a double
// acquisition), hence TA_NO_ANALYSIS on the helpers that re-lock.
void lock_nested(Mutex& m, unsigned levels, std::vector<unsigned>& depths) TA_NO_ANALYSIS
{
    if (levels == 0)
        return;
    MutexGuard guard(m);
    depths.push_back(m.depth());
    lock_nested(m, levels - 1, depths);
    depths.push_back(m.depth());
}

TEST(Mutex, RecursiveLockingCountsDepth)
{
    Mutex m;
    std::vector<unsigned> depths;
    lock_nested(m, 4, depths);
    EXPECT_EQ(depths, (std::vector<unsigned>{1, 2, 3, 4, 4, 3, 2, 1}));
    EXPECT_FALSE(m.is_held());
}

TEST(Mutex, RecursionKeepsOtherThreadsOut)
{
    Mutex m;
    std::vector<unsigned> depths;
    std::atomic<bool> other_got_it{false};
    std::thread other;
    {
        MutexGuard outer(m);
        other = std::thread([&] {
            MutexGuard guard(m);
            other_got_it.store(true);
        });
        lock_nested(m, 2, depths); // inner release must not free the mutex
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        EXPECT_FALSE(other_got_it.load());
        EXPECT_EQ(m.depth(), 1u);
    }
    other.join();
    EXPECT_TRUE(other_got_it.load());
}

TEST(Mutex, TryLockFreeSucceedsAndAdopts)
{
    Mutex m;
    ASSERT_TRY_LOCK(m);
    {
        MutexGuard guard(m, ksync::kAdoptLock);
        EXPECT_TRUE(m.is_held());
    }
    EXPECT_FALSE(m.is_held());
}

void try_lock_nested(Mutex& m, bool& nested_ok, unsigned& depth) TA_NO_ANALYSIS
{
    MutexGuard guard(m);
    nested_ok = m.try_lock();
    if (nested_ok) {
        MutexGuard inner(m, ksync::kAdoptLock);
        depth = m.depth();
    }
}

TEST(Mutex, TryLockByOwnerRecurses)
{
    Mutex m;
    bool nested_ok = false;
    unsigned depth = 0;
    try_lock_nested(m, nested_ok, depth);
    EXPECT_TRUE(nested_ok);
    EXPECT_EQ(depth, 2u);
    EXPECT_FALSE(m.is_held());
}

TEST(Mutex, TryLockHeldByAnotherThreadFails)
{
    Mutex m;
    Gate holding;
    Gate release;
    std::thread holder([&] {
        MutexGuard guard(m);
        holding.reach();
        release.wait_reached();
    });
    holding.wait_reached();
    EXPECT_FALSE(m.try_lock());
    EXPECT_FALSE(m.is_held());
    release.reach();
    holder.join();
    ASSERT_TRY_LOCK(m);
    MutexGuard guard(m, ksync::kAdoptLock);
}

TEST(Mutex, GuardEarlyUnlockAndRelock)
{
    Mutex m;
    MutexGuard guard(m);
    guard.unlock();
    EXPECT_FALSE(m.is_held());
    guard.lock();
    EXPECT_TRUE(m.is_held());
    guard.unlock(); // the destructor must not unlock a second time
    EXPECT_FALSE(m.is_held());
}

TEST(Mutex, WithLockBreakAndContinueBelongToTheLoop)
{
    Mutex m;
    int bodies = 0;
    for (int i = 0; i < 5; i++) {
        WITH_LOCK(m) {
            EXPECT_TRUE(m.is_held());
            bodies++;
            if (i == 1)
                continue;
            if (i == 3)
                break;
        }
        EXPECT_FALSE(m.is_held());
    }
    EXPECT_EQ(bodies, 4);
    EXPECT_FALSE(m.is_held());
}

int return_from_inside(Mutex& m)
{
    WITH_LOCK(m) {
        return m.is_held() ? 1 : 0;
    }
    return -1;
}

TEST(Mutex, WithLockReleasesOnReturn)
{
    Mutex m;
    EXPECT_EQ(return_from_inside(m), 1);
    EXPECT_FALSE(m.is_held());
}

// --- Entry assertions (kernel bugs abort) ---

void unlock_without_holding(Mutex& m) TA_NO_ANALYSIS
{
    MutexGuard adopted(m, ksync::kAdoptLock);
}

TEST(MutexDeathTest, UnlockByNonOwnerAsserts)
{
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    Mutex m;
    EXPECT_DEATH(unlock_without_holding(m), "assert");
}

TEST(MutexDeathTest, LockWhereBlockingIsForbiddenAsserts)
{
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    Mutex m;
    EXPECT_DEATH(
        {
            ksync::host::set_can_block(false);
            MutexGuard guard(m);
        },
        "can_block");
}

// --- The slow paths, one interleaving at a time ---

// Every test here involves threads waiting for each other: guard against hangs.
class MutexHandoff : public ::testing::Test {
protected:
    sync_test::Watchdog m_watchdog;
};

// A locker stalled between fetch_add and push: the owner's unlock must publish a token and
// return without waiting for it; the next try_lock takes the token; the stalled locker, once
// it pushes, takes the next token and grants itself.
TEST_F(MutexHandoff, StalledLockerLeavesTokenThatTryLockTakes)
{
    Mutex m;
    ScopedScript script(m);
    Gate stalled;
    Events owner_events, locker_events;
    ThreadScript owner_script(&owner_events);
    std::atomic<bool> locker_owned{false};
    std::thread locker;
    {
        MutexGuard guard(m);
        locker = std::thread([&] {
            ThreadScript s(&locker_events, [&](MutexEvent e) {
                if (e == MutexEvent::LockContended)
                    stalled.reach_and_wait();
            });
            MutexGuard g(m);
            locker_owned.store(true);
        });
        stalled.wait_reached();
    } // unlock: must not wait for the stalled locker
    EXPECT_EQ(owner_events, (Events{MutexEvent::UnlockContended, MutexEvent::HandoffListEmpty,
                                    MutexEvent::HandoffPublished}));
    owner_events.clear();

    ASSERT_TRY_LOCK(m); // the mutex is free in transit: the token makes it ours
    {
        MutexGuard guard(m, ksync::kAdoptLock);
        EXPECT_TRUE(m.is_held());
    } // the locker is still counted in and not queued: another token
    EXPECT_EQ(owner_events, (Events{MutexEvent::TryLockTookHandoff, MutexEvent::UnlockContended,
                                    MutexEvent::HandoffListEmpty, MutexEvent::HandoffPublished}));
    EXPECT_FALSE(locker_owned.load());

    stalled.open();
    locker.join();
    EXPECT_TRUE(locker_owned.load());
    EXPECT_EQ(locker_events,
              (Events{MutexEvent::LockContended, MutexEvent::HandoffTakenByLocker}));
}

// As above, but a second locker arrives while the first is stalled: it takes the token and
// owns the mutex although an earlier locker never got as far as queueing.
TEST_F(MutexHandoff, SecondLockerOvertakesStalledOne)
{
    Mutex m;
    ScopedScript script(m);
    Gate stalled;
    Events first_events, second_events;
    std::atomic<int> order{0};
    int first_rank = 0, second_rank = 0;
    std::thread first;
    {
        MutexGuard guard(m);
        first = std::thread([&] {
            ThreadScript s(&first_events, [&](MutexEvent e) {
                if (e == MutexEvent::LockContended)
                    stalled.reach_and_wait();
            });
            MutexGuard g(m);
            first_rank = ++order;
        });
        stalled.wait_reached();
    }
    std::thread second([&] {
        ThreadScript s(&second_events);
        MutexGuard g(m);
        second_rank = ++order;
    });
    second.join(); // must complete while `first` is still stalled
    stalled.open();
    first.join();
    EXPECT_EQ(second_rank, 1);
    EXPECT_EQ(first_rank, 2);
    EXPECT_EQ(second_events, (Events{MutexEvent::LockContended, MutexEvent::HandoffTakenByLocker,
                                     MutexEvent::UnlockContended, MutexEvent::HandoffListEmpty,
                                     MutexEvent::HandoffPublished}));
    EXPECT_EQ(first_events,
              (Events{MutexEvent::LockContended, MutexEvent::HandoffTakenByLocker}));
}

// The race the re-check exists for: the locker pushes and finds no token just before the
// unlocker publishes one. The unlocker must see the record and take its token back.
TEST_F(MutexHandoff, UnlockerTakesTokenBackForLateRecord)
{
    Mutex m;
    ScopedScript script(m);
    Gate locker_stalled;
    Gate locker_sleeping;
    Events owner_events, locker_events;
    std::atomic<bool> locker_owned{false};
    std::thread locker;
    {
        ThreadScript owner_script(&owner_events, [&](MutexEvent e) {
            if (e == MutexEvent::HandoffListEmpty) {
                // Let the locker push and look for a token (none yet), then publish ours.
                locker_stalled.open();
                locker_sleeping.wait_reached();
            }
        });
        MutexGuard guard(m);
        locker = std::thread([&] {
            ThreadScript s(&locker_events, [&](MutexEvent e) {
                if (e == MutexEvent::LockContended)
                    locker_stalled.reach_and_wait();
                if (e == MutexEvent::LockWaiting)
                    locker_sleeping.reach();
            });
            MutexGuard g(m);
            locker_owned.store(true);
        });
        locker_stalled.wait_reached();
    }
    locker.join();
    EXPECT_TRUE(locker_owned.load());
    EXPECT_EQ(owner_events, (Events{MutexEvent::UnlockContended, MutexEvent::HandoffListEmpty,
                                    MutexEvent::HandoffPublished, MutexEvent::HandoffTakenBack}));
    EXPECT_EQ(locker_events, (Events{MutexEvent::LockContended, MutexEvent::LockWaiting}));
}

// The plain contended case: the waiter queues and sleeps, unlock pops and grants it.
TEST_F(MutexHandoff, QueuedWaiterIsGrantedByUnlock)
{
    Mutex m;
    ScopedScript script(m);
    Gate sleeping;
    Events owner_events, waiter_events;
    std::thread waiter;
    {
        ThreadScript owner_script(&owner_events);
        MutexGuard guard(m);
        waiter = std::thread([&] {
            ThreadScript s(&waiter_events, [&](MutexEvent e) {
                if (e == MutexEvent::LockWaiting)
                    sleeping.reach();
            });
            MutexGuard g(m);
            EXPECT_TRUE(m.is_held());
        });
        sleeping.wait_reached();
    }
    waiter.join();
    EXPECT_EQ(owner_events, (Events{MutexEvent::UnlockContended}));
    EXPECT_EQ(waiter_events, (Events{MutexEvent::LockContended, MutexEvent::LockWaiting}));
}

// Waiters queued while the mutex is held get it in arrival order.
TEST_F(MutexHandoff, WaitersAreServedInArrivalOrder)
{
    Mutex m;
    ScopedScript script(m);
    constexpr int kWaiters = 4;
    std::vector<int> served;
    std::vector<std::thread> waiters;
    {
        MutexGuard guard(m);
        for (int i = 0; i < kWaiters; i++) {
            Gate sleeping;
            waiters.emplace_back([&, i] {
                ThreadScript s(nullptr, [&](MutexEvent e) {
                    if (e == MutexEvent::LockWaiting)
                        sleeping.reach();
                });
                MutexGuard g(m);
                served.push_back(i);
            });
            sleeping.wait_reached(); // queued before the next one starts
        }
    }
    for (std::thread& t : waiters)
        t.join();
    EXPECT_EQ(served, (std::vector<int>{0, 1, 2, 3}));
}

} // namespace
