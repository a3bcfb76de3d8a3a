// Unit tests for ksync::Mutex: single-thread semantics (recursion, try_lock, guards, WITH_LOCK),
// the entry assertions, and each slow path of the protocol (barging, wake tokens, re-queueing,
// the starvation hand-off) driven step by step.
#include "hook_script.h"

#include <sync/host_thread_ops.h>
#include <sync/mutex.h>

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
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
// A woken waiter that loses starves only where a test says so (StarvingWaiter...).
class MutexSlowPath : public ::testing::Test {
protected:
    sync_test::Watchdog m_watchdog;
    sync_test::ScopedStarvationBound m_never_starve{~uint64_t(0) / 2};
};

// Starts a thread that locks `m` (held by the caller) with `script`, and returns once it is
// asleep in the queue. It runs `body` with the mutex held.
template<typename Body>
std::thread start_sleeping_waiter(Mutex& m, Events* log, std::function<void(MutexEvent)> script,
                                  Body body)
{
    auto sleeping = std::make_shared<Gate>();
    std::thread t([&m, log, script, sleeping, body] {
        bool reported = false;
        ThreadScript s(log, [&](MutexEvent e) {
            if (e == MutexEvent::LockWaiting && !reported) {
                reported = true;
                sleeping->reach();
            }
            if (script)
                script(e);
        });
        MutexGuard g(m);
        body();
    });
    sleeping->wait_reached();
    return t;
}

// A locker stalled between counting in and pushing its record: the owner's unlock frees the
// mutex, takes the waker role, finds nothing to pop, publishes a token and returns without
// waiting. The mutex is free meanwhile (try_lock barges in); the stalled locker, once it
// pushes, takes the token, wakes itself and takes the mutex.
TEST_F(MutexSlowPath, StalledLockerLeavesTokenAndTheMutexFree)
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
    EXPECT_EQ(owner_events, (Events{MutexEvent::UnlockContended, MutexEvent::WakeListEmpty,
                                    MutexEvent::WakeTokenPublished}));
    owner_events.clear();

    ASSERT_TRY_LOCK(m); // free, although a waiter is counted in: barging
    {
        MutexGuard guard(m, ksync::kAdoptLock);
        EXPECT_TRUE(m.is_held());
    } // the wake for the stalled locker is already promised (the token): nobody to wake
    EXPECT_EQ(owner_events, (Events{MutexEvent::Barged, MutexEvent::UnlockContended}));
    EXPECT_FALSE(locker_owned.load());

    stalled.open();
    locker.join();
    EXPECT_TRUE(locker_owned.load());
    EXPECT_EQ(locker_events, (Events{MutexEvent::LockContended, MutexEvent::WakeTokenTakenByLocker,
                                     MutexEvent::LockWoken}));
}

// As above, but a second locker arrives while the first is stalled: it takes the free mutex
// and completes although an earlier locker never got as far as queueing.
TEST_F(MutexSlowPath, SecondLockerOvertakesStalledOne)
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
    EXPECT_EQ(second_events, (Events{MutexEvent::Barged, MutexEvent::UnlockContended}));
    EXPECT_EQ(first_events, (Events{MutexEvent::LockContended, MutexEvent::WakeTokenTakenByLocker,
                                    MutexEvent::LockWoken}));
}

// The race the re-check exists for: the locker pushes and finds no token just before the
// waker publishes one. The waker must see the record and take its token back.
TEST_F(MutexSlowPath, WakerTakesTokenBackForLateRecord)
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
            if (e == MutexEvent::WakeListEmpty) {
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
    EXPECT_EQ(owner_events, (Events{MutexEvent::UnlockContended, MutexEvent::WakeListEmpty,
                                    MutexEvent::WakeTokenPublished,
                                    MutexEvent::WakeTokenTakenBack}));
    EXPECT_EQ(locker_events, (Events{MutexEvent::LockContended, MutexEvent::LockWaiting,
                                     MutexEvent::LockWoken}));
}

// The plain contended case: the waiter queues and sleeps, unlock wakes it, it takes the
// (free) mutex.
TEST_F(MutexSlowPath, QueuedWaiterIsWokenByUnlock)
{
    Mutex m;
    ScopedScript script(m);
    Events owner_events, waiter_events;
    std::thread waiter;
    {
        ThreadScript owner_script(&owner_events);
        MutexGuard guard(m);
        waiter = start_sleeping_waiter(m, &waiter_events, {}, [&] { EXPECT_TRUE(m.is_held()); });
    }
    waiter.join();
    EXPECT_EQ(owner_events, (Events{MutexEvent::UnlockContended}));
    EXPECT_EQ(waiter_events, (Events{MutexEvent::LockContended, MutexEvent::LockWaiting,
                                     MutexEvent::LockWoken}));
}

// Barging: the releaser takes the mutex again while the waiter it woke has not run yet (here:
// stalled right after its wake). The woken waiter finds it held, re-queues, sleeps, and gets
// it after the next release.
TEST_F(MutexSlowPath, ReleaserRelocksAheadOfTheWokenWaiter)
{
    Mutex m;
    ScopedScript script(m);
    Gate woken;
    Events owner_events, waiter_events;
    std::atomic<bool> waiter_owned{false};
    Gate requeued;
    ThreadScript owner_script(&owner_events);
    std::thread waiter;
    int wakes = 0; // the waiter's own
    {
        MutexGuard guard(m);
        waiter = start_sleeping_waiter(
            m, &waiter_events,
            [&](MutexEvent e) {
                if (e == MutexEvent::LockWoken && ++wakes == 1)
                    woken.reach_and_wait();
                if (e == MutexEvent::LockWaiting && wakes == 1)
                    requeued.reach();
            },
            [&] { waiter_owned.store(true); });
    } // frees the mutex and wakes the waiter
    woken.wait_reached();
    {
        MutexGuard guard(m); // the woken waiter has not taken it: we barge in
        EXPECT_TRUE(m.is_held());
        woken.open();
        requeued.wait_reached(); // it lost, and sleeps again (at the front)
        EXPECT_FALSE(waiter_owned.load());
    }
    waiter.join();
    EXPECT_TRUE(waiter_owned.load());
    EXPECT_EQ(owner_events, (Events{MutexEvent::UnlockContended, MutexEvent::Barged,
                                    MutexEvent::UnlockContended}));
    EXPECT_EQ(waiter_events,
              (Events{MutexEvent::LockContended, MutexEvent::LockWaiting, MutexEvent::LockWoken,
                      MutexEvent::WokenLost, MutexEvent::LockWaiting, MutexEvent::LockWoken}));
}

// Barging with a waiter asleep: once the mutex is free, a newcomer takes it at once although
// an older waiter sleeps in the queue (woken, but not yet running).
TEST_F(MutexSlowPath, NewcomerTakesFreedMutexWhileWaiterSleeps)
{
    Mutex m;
    ScopedScript script(m);
    Gate woken;
    std::thread waiter;
    {
        MutexGuard guard(m);
        waiter = start_sleeping_waiter(
            m, nullptr,
            [&](MutexEvent e) {
                if (e == MutexEvent::LockWoken)
                    woken.reach_and_wait();
            },
            [] {});
    }
    woken.wait_reached();
    Events newcomer_events;
    std::thread newcomer([&] {
        ThreadScript s(&newcomer_events);
        MutexGuard g(m);
    });
    newcomer.join(); // completes although the older waiter has not run
    woken.open();
    waiter.join();
    // Its unlock sees the woken waiter on its way (kWoken): it frees the mutex, wakes nobody.
    EXPECT_EQ(newcomer_events, (Events{MutexEvent::Barged, MutexEvent::UnlockContended}));
}

// A woken waiter that loses goes back to the front: it is woken before a waiter that has been
// sleeping in the queue since before it re-queued.
TEST_F(MutexSlowPath, RequeuedWaiterIsWokenFirst)
{
    Mutex m;
    ScopedScript script(m);
    Gate woken;
    Gate requeued;
    std::vector<int> served;
    std::thread first, second;
    int wakes = 0; // the waiter's own
    {
        MutexGuard guard(m);
        first = start_sleeping_waiter(
            m, nullptr,
            [&](MutexEvent e) {
                if (e == MutexEvent::LockWoken && ++wakes == 1)
                    woken.reach_and_wait();
                if (e == MutexEvent::LockWaiting && wakes == 1)
                    requeued.reach();
            },
            [&] { served.push_back(1); });
        second = start_sleeping_waiter(m, nullptr, {}, [&] { served.push_back(2); });
    } // wakes `first`, which stalls
    woken.wait_reached();
    {
        MutexGuard guard(m);
        woken.open();
        requeued.wait_reached();
    } // must wake `first` again, not `second`
    first.join();
    second.join();
    EXPECT_EQ(served, (std::vector<int>{1, 2}));
}

// The starvation bound: a woken waiter that has waited longer than kStarvationNs and loses
// again asks for a hand-off; the next unlock grants it the mutex directly — it never becomes
// free, so nobody can barge in.
TEST_F(MutexSlowPath, StarvingWaiterIsHandedTheMutex)
{
    sync_test::ScopedStarvationBound bound(Mutex::kStarvationNs);
    Mutex m;
    ScopedScript script(m);
    Gate woken;
    Gate starving;
    Gate owning;
    Gate release;
    Events owner_events, waiter_events;
    ThreadScript owner_script(&owner_events);
    std::thread waiter;
    {
        MutexGuard guard(m);
        waiter = start_sleeping_waiter(
            m, &waiter_events,
            [&](MutexEvent e) {
                if (e == MutexEvent::LockWoken)
                    woken.reach_and_wait();
                if (e == MutexEvent::Starving)
                    starving.reach();
            },
            [&] {
                owning.reach();
                release.wait_reached();
            });
        std::this_thread::sleep_for(std::chrono::nanoseconds(2 * Mutex::kStarvationNs));
    }
    woken.wait_reached();
    {
        MutexGuard guard(m); // barge in once more
        woken.open();
        starving.wait_reached();
    } // hands the mutex over
    EXPECT_FALSE(m.try_lock()); // in transit to the waiter, or held by it: never free
    owning.wait_reached();
    release.reach();
    waiter.join();
    EXPECT_EQ(owner_events, (Events{MutexEvent::UnlockContended, MutexEvent::Barged,
                                    MutexEvent::UnlockContended, MutexEvent::UnlockHandedOff}));
    EXPECT_EQ(waiter_events, (Events{MutexEvent::LockContended, MutexEvent::LockWaiting,
                                     MutexEvent::LockWoken, MutexEvent::Starving}));
    // Back to normal: the mutex is free again and the hand-off mode is over.
    ASSERT_TRY_LOCK(m);
    MutexGuard guard(m, ksync::kAdoptLock);
}

// Starving is about losing: a waiter past the bound that finds the mutex free just takes it.
TEST_F(MutexSlowPath, OldWaiterFindingTheMutexFreeTakesIt)
{
    sync_test::ScopedStarvationBound bound(0); // every waiter is "old"
    Mutex m;
    ScopedScript script(m);
    Events owner_events, waiter_events;
    ThreadScript owner_script(&owner_events);
    std::thread waiter;
    {
        MutexGuard guard(m);
        waiter = start_sleeping_waiter(m, &waiter_events, {}, [] {});
    }
    waiter.join();
    EXPECT_EQ(owner_events, (Events{MutexEvent::UnlockContended}));
    EXPECT_EQ(waiter_events, (Events{MutexEvent::LockContended, MutexEvent::LockWaiting,
                                     MutexEvent::LockWoken}));
}

// try_lock never fails while the mutex is free, even with waiters counted in and a woken one
// on its way; and fails while it is held.
TEST_F(MutexSlowPath, TryLockBargesButNotPastAnOwner)
{
    Mutex m;
    ScopedScript script(m);
    Gate woken;
    std::thread waiter;
    {
        MutexGuard guard(m);
        waiter = start_sleeping_waiter(
            m, nullptr,
            [&](MutexEvent e) {
                if (e == MutexEvent::LockWoken)
                    woken.reach_and_wait();
            },
            [] {});
        std::thread other([&] { EXPECT_FALSE(m.try_lock()); });
        other.join();
    }
    woken.wait_reached();
    ASSERT_TRY_LOCK(m);
    {
        MutexGuard guard(m, ksync::kAdoptLock);
        std::thread other([&] { EXPECT_FALSE(m.try_lock()); });
        other.join();
    }
    woken.open();
    waiter.join();
}

// Waiters queued while the mutex is held get it in arrival order when nobody barges.
TEST_F(MutexSlowPath, WaitersAreServedInArrivalOrder)
{
    Mutex m;
    ScopedScript script(m);
    constexpr int kWaiters = 4;
    std::vector<int> served;
    std::vector<std::thread> waiters;
    {
        MutexGuard guard(m);
        for (int i = 0; i < kWaiters; i++)
            waiters.push_back(
                start_sleeping_waiter(m, nullptr, {}, [&served, i] { served.push_back(i); }));
    }
    for (std::thread& t : waiters)
        t.join();
    EXPECT_EQ(served, (std::vector<int>{0, 1, 2, 3}));
}

} // namespace
