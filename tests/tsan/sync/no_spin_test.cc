// The point of the design (osv-design.md §4): a thread stalled while holding, acquiring or
// releasing the mutex — a preempted vCPU — never makes another thread burn CPU. Each test
// stalls one thread with a sleep and measures the others' CPU time (CLOCK_THREAD_CPUTIME_ID):
// threads that wait must sleep, and threads that need not wait must not.
#include "stress_support.h"

#include <sync/condvar.h>
#include <sync/host_thread_ops.h>
#include <sync/mutex.h>
#include <sync/rcu.h>
#include <sync/rwlock.h>
#include <sync/semaphore.h>
#include <sync/wait_queue.h>

#include <gtest/gtest.h>

#include <cstdio>

namespace {

using ksync::Mutex;
using ksync::MutexEvent;
using ksync::MutexGuard;
using sync_stress::EventCounts;
using sync_stress::ScopedEventCounts;
using sync_stress::thread_cpu_ns;
using sync_stress::wall_ns;

constexpr int64_t kMs = 1'000'000;
// The stall, and the most CPU a thread may use while waiting through it. Sleeping costs
// microseconds; spinning through the stall would cost about the whole stall. The bound is
// loose because TSan and two shared cores make everything slower, not because we expect it.
constexpr int64_t kStall = 500 * kMs;
constexpr int64_t kWaitCpuLimit = 50 * kMs;

// Scaffolding: waits until the process-wide count of real sleeps grew by `n`.
void await_sleeps(uint64_t before, uint64_t n)
{
    while (ksync::host::sleep_count() - before < n)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

// Per-thread marks for the stall hooks below (set by the thread itself before it locks).
thread_local MutexEvent t_stall_at = MutexEvent::MorphGranted; // "none" for these tests
thread_local bool t_stall_armed = false;

void stall_hook(const Mutex*, MutexEvent event)
{
    if (t_stall_armed && event == t_stall_at) {
        t_stall_armed = false;
        std::this_thread::sleep_for(std::chrono::nanoseconds(kStall));
    }
}

void arm_stall(MutexEvent at)
{
    t_stall_at = at;
    t_stall_armed = true;
}

// Fixture: no stall stays armed on the test's main thread after a test.
class NoSpin : public ::testing::Test {
protected:
    void TearDown() override { t_stall_armed = false; }
};

// Waits (scaffolding) until `events[e]` reaches n.
void await_count(const EventCounts& events, MutexEvent e, uint64_t n)
{
    while (events[e] < n)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

struct Measured {
    std::atomic<int64_t> cpu{0};
    std::atomic<int64_t> wall{0};
};

// The owner is stalled inside its critical section: the waiters sleep through it.
TEST_F(NoSpin, WaitersSleepWhileTheOwnerIsStalled)
{
    constexpr int kWaiters = 8;
    Mutex m;
    EventCounts events;
    ScopedEventCounts counting(events);
    Measured measured[kWaiters];
    std::vector<std::thread> waiters;
    uint64_t sleeps_before = ksync::host::sleep_count();
    {
        MutexGuard guard(m);
        for (int i = 0; i < kWaiters; i++)
            waiters.emplace_back([&, i] {
                int64_t cpu0 = thread_cpu_ns(), wall0 = wall_ns();
                {
                    MutexGuard g(m);
                }
                measured[i].cpu.store(thread_cpu_ns() - cpu0);
                measured[i].wall.store(wall_ns() - wall0);
            });
        await_count(events, MutexEvent::LockWaiting, kWaiters); // all queued and going to sleep
        std::this_thread::sleep_for(std::chrono::nanoseconds(kStall)); // the stalled owner
    }
    for (std::thread& t : waiters)
        t.join();
    for (int i = 0; i < kWaiters; i++) {
        std::printf("[owner stalled] waiter %d: wall %lld ms, cpu %.3f ms\n", i,
                    (long long)(measured[i].wall.load() / kMs), measured[i].cpu.load() / 1e6);
        EXPECT_GE(measured[i].wall.load(), kStall / 2); // it really waited through the stall
        EXPECT_LT(measured[i].cpu.load(), kWaitCpuLimit); // ... asleep
    }
    EXPECT_GE(ksync::host::sleep_count() - sleeps_before, uint64_t(kWaiters));
}

// A locker is stalled between counting in and pushing its record (preempted mid-acquire). The
// owner's unlock must not wait for it, and other threads must keep taking the mutex. Their
// critical sections sleep a little so that they contend among themselves (with barging, a
// free mutex alone would not make them queue) and one of them takes the wake token the
// owner left for the stalled locker.
TEST_F(NoSpin, StalledAcquirerHoldsUpNobody)
{
    constexpr int kOthers = 4;
    constexpr int kRoundsEach = 200;
    Mutex m;
    EventCounts events;
    ScopedEventCounts counting(events, stall_hook);
    std::thread stalled;
    std::atomic<int64_t> stalled_got_it_at{0};
    int64_t unlock_wall = 0;
    int64_t start = wall_ns();
    {
        MutexGuard guard(m);
        stalled = std::thread([&] {
            arm_stall(MutexEvent::LockContended);
            MutexGuard g(m);
            stalled_got_it_at.store(wall_ns());
        });
        await_count(events, MutexEvent::LockContended, 1);
        unlock_wall = wall_ns();
    }
    unlock_wall = wall_ns() - unlock_wall;

    // Meanwhile others lock and unlock, contending among themselves, without waiting for it.
    Measured measured[kOthers];
    int64_t others_done_at = 0;
    sync_stress::run_threads(kOthers, [&](int i) {
        int64_t cpu0 = thread_cpu_ns(), wall0 = wall_ns();
        for (int r = 0; r < kRoundsEach; r++) {
            MutexGuard g(m);
            if (r % 8 == 0)
                std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
        measured[i].cpu.store(thread_cpu_ns() - cpu0);
        measured[i].wall.store(wall_ns() - wall0);
    });
    others_done_at = wall_ns();
    stalled.join();

    std::printf("[acquirer stalled] owner's unlock %.3f ms; others done after %lld ms, stalled "
                "locker got it after %lld ms\n",
                unlock_wall / 1e6, (long long)((others_done_at - start) / kMs),
                (long long)((stalled_got_it_at.load() - start) / kMs));
    EXPECT_LT(unlock_wall, kStall / 5);
    EXPECT_LT(others_done_at, stalled_got_it_at.load()); // nobody waited for the stalled one
    for (int i = 0; i < kOthers; i++)
        EXPECT_LT(measured[i].cpu.load(), kStall / 2);
    EXPECT_GT(events[MutexEvent::WakeTokenPublished], 0u);
    EXPECT_GT(events[MutexEvent::WakeTokenTakenByLocker], 0u);
}

// The owner is stalled in the middle of releasing (its fast path failed; the mutex is still
// held, nobody woken yet): the queued waiters sleep through that too.
TEST_F(NoSpin, WaitersSleepWhileTheReleaserIsStalled)
{
    constexpr int kWaiters = 4;
    Mutex m;
    EventCounts events;
    ScopedEventCounts counting(events, stall_hook);
    Measured measured[kWaiters];
    std::vector<std::thread> waiters;
    {
        MutexGuard guard(m);
        for (int i = 0; i < kWaiters; i++)
            waiters.emplace_back([&, i] {
                int64_t cpu0 = thread_cpu_ns(), wall0 = wall_ns();
                {
                    MutexGuard g(m);
                }
                measured[i].cpu.store(thread_cpu_ns() - cpu0);
                measured[i].wall.store(wall_ns() - wall0);
            });
        await_count(events, MutexEvent::LockWaiting, kWaiters);
        arm_stall(MutexEvent::UnlockContended);
    } // this unlock sleeps kStall between its fetch_sub and the hand-off
    for (std::thread& t : waiters)
        t.join();
    for (int i = 0; i < kWaiters; i++) {
        std::printf("[releaser stalled] waiter %d: wall %lld ms, cpu %.3f ms\n", i,
                    (long long)(measured[i].wall.load() / kMs), measured[i].cpu.load() / 1e6);
        EXPECT_GE(measured[i].wall.load(), kStall / 2);
        EXPECT_LT(measured[i].cpu.load(), kWaitCpuLimit);
    }
}

// A condvar waiter sleeps; notify under a stalled owner queues it on the mutex, where it keeps
// sleeping until the owner finally releases.
TEST_F(NoSpin, MorphedWaiterSleepsBehindStalledNotifier)
{
    Mutex m;
    ksync::Condvar cv;
    bool ready = false; // guarded by m (a local: the analysis cannot annotate it)
    std::atomic<bool> waiting{false};
    Measured measured;
    std::thread waiter([&]() TA_NO_ANALYSIS {
        int64_t cpu0 = thread_cpu_ns(), wall0 = wall_ns();
        MutexGuard g(m);
        waiting.store(true);
        while (!ready)
            cv.wait(m);
        measured.cpu.store(thread_cpu_ns() - cpu0);
        measured.wall.store(wall_ns() - wall0);
    });
    for (;;) { // scaffolding: until the waiter is inside wait (it released m there)
        MutexGuard g(m);
        if (waiting.load())
            break;
    }
    {
        MutexGuard g(m);
        ready = true;
        cv.notify_one();
        std::this_thread::sleep_for(std::chrono::nanoseconds(kStall)); // stalled notifier
    }
    waiter.join();
    std::printf("[notifier stalled] waiter: wall %lld ms, cpu %.3f ms\n",
                (long long)(measured.wall.load() / kMs), measured.cpu.load() / 1e6);
    EXPECT_GE(measured.wall.load(), kStall / 2);
    EXPECT_LT(measured.cpu.load(), kWaitCpuLimit);
}

// Runs `n` threads that each do wait_fn() while measuring their CPU and wall time; stall()
// runs on the calling thread once all of them have gone to sleep, then release() lets them go.
template<typename Wait, typename Release>
void measure_waiters(const char* what, int n, Wait wait_fn, Release release)
{
    sync_stress::Watchdog watchdog(what, std::chrono::seconds(60));
    std::vector<Measured> measured(n);
    std::vector<std::thread> waiters;
    uint64_t sleeps_before = ksync::host::sleep_count();
    for (int i = 0; i < n; i++)
        waiters.emplace_back([&, i] {
            int64_t cpu0 = thread_cpu_ns(), wall0 = wall_ns();
            wait_fn(i);
            measured[i].cpu.store(thread_cpu_ns() - cpu0);
            measured[i].wall.store(wall_ns() - wall0);
        });
    await_sleeps(sleeps_before, uint64_t(n)); // all asleep
    std::this_thread::sleep_for(std::chrono::nanoseconds(kStall)); // the stalled holder
    release();
    for (std::thread& t : waiters)
        t.join();
    for (int i = 0; i < n; i++) {
        std::printf("[%s] waiter %d: wall %lld ms, cpu %.3f ms\n", what, i,
                    (long long)(measured[i].wall.load() / kMs), measured[i].cpu.load() / 1e6);
        EXPECT_GE(measured[i].wall.load(), kStall / 2);
        EXPECT_LT(measured[i].cpu.load(), kWaitCpuLimit);
    }
}

// A semaphore's only unit is held by a stalled thread: acquirers (plain and timed) sleep.
TEST_F(NoSpin, SemaphoreWaitersSleepWhileTheHolderIsStalled)
{
    ksync::Semaphore s(1);
    ASSERT_TRUE(s.try_acquire()); // the stalled holder
    measure_waiters(
        "semaphore holder stalled", 6,
        [&](int i) {
            if (i % 2 == 0)
                s.acquire();
            else
                EXPECT_TRUE(s.acquire_until(ksync::now_ns() + 60'000 * kMs));
            s.release();
        },
        [&] { s.release(); });
    EXPECT_EQ(s.available(), 1);
}

// A writer holds the rwlock and stalls: readers and writers behind it sleep.
TEST_F(NoSpin, RwLockWaitersSleepWhileTheWriterIsStalled)
{
    ksync::RwLock l;
    ASSERT_TRUE(l.try_lock()); // the stalled writer (this thread)
    measure_waiters(
        "rwlock writer stalled", 6,
        [&](int i) {
            if (i % 3 == 0) {
                ksync::WriteGuard w(l);
            } else {
                ksync::ReadGuard r(l);
            }
        },
        [&]() TA_NO_ANALYSIS { ksync::WriteGuard w(l, ksync::kAdoptLock); });
}

// A reader holds the rwlock and stalls: a writer waits, and readers queue behind the writer
// (writer preference); all of them sleep.
TEST_F(NoSpin, RwLockWaitersSleepWhileAReaderIsStalled)
{
    ksync::RwLock l;
    ASSERT_TRUE(l.try_lock_shared()); // the stalled reader (this thread)
    measure_waiters(
        "rwlock reader stalled", 5,
        [&](int i) {
            if (i == 0) {
                ksync::WriteGuard w(l);
            } else {
                // Start after the writer queued, so writer preference makes them wait.
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                ksync::ReadGuard r(l);
            }
        },
        [&]() TA_NO_ANALYSIS { ksync::ReadGuard r(l, ksync::kAdoptLock); });
}

// Wait-queue sleepers whose condition stays false use no CPU.
TEST_F(NoSpin, WaitQueueSleepersUseNoCpu)
{
    ksync::WaitQueue q;
    std::atomic<bool> ready{false};
    measure_waiters(
        "wait queue", 6,
        [&](int i) {
            if (i % 2 == 0)
                q.wait([&] { return ready.load(); });
            else
                EXPECT_TRUE(q.wait_until(ksync::now_ns() + 60'000 * kMs, [&] { return ready.load(); }));
        },
        [&] {
            ready.store(true);
            q.wake_all();
        });
}

// synchronize() callers sleep while a CPU stays inside a reader section.
TEST_F(NoSpin, RcuSynchronizeSleepsWhileACpuIsInAReaderSection)
{
    alignas(64) static unsigned char storage[4096];
    ASSERT_LE(ksync::RcuDomain::storage_size(2), sizeof(storage));
    ksync::RcuDomain* rcu = ksync::RcuDomain::create(2, storage, sizeof(storage)).value();
    rcu->set_idle(0, true); // CPU 1 is inside a reader section until release()
    measure_waiters(
        "rcu reader stalled", 4, [&](int) { rcu->synchronize(); },
        [&] {
            rcu->quiescent(1); // the section ends; callers that need a second GP get it
            rcu->set_idle(1, true); // from the CPU going idle
        });
}

} // namespace
