// ThreadSanitizer stress tests for ksync::Condvar: producer/consumer, ping-pong, notify_all
// barriers and notifies outside the mutex. A lost wake-up hangs a test; the watchdog turns
// that into a named failure.
#include "stress_support.h"

#include <sync/condvar.h>
#include <sync/host_thread_ops.h>
#include <sync/mutex.h>

#include <gtest/gtest.h>

#include <cstdio>

namespace {

using ksync::Condvar;
using ksync::Mutex;
using ksync::MutexEvent;
using ksync::MutexGuard;
using sync_stress::EventCounts;
using sync_stress::run_threads;
using sync_stress::ScopedEventCounts;
using sync_stress::Watchdog;

// A bounded FIFO of integers, the classic two-condvar monitor.
class BoundedQueue {
public:
    void push(uint64_t item) TA_EXCL(m_lock)
    {
        MutexGuard guard(m_lock);
        m_not_full.wait(m_lock, [&] {
            m_lock.assert_held();
            return m_size < kCapacity;
        });
        m_items[(m_head + m_size) % kCapacity] = item;
        m_size++;
        m_not_empty.notify_one();
    }

    uint64_t pop() TA_EXCL(m_lock)
    {
        MutexGuard guard(m_lock);
        m_not_empty.wait(m_lock, [&] {
            m_lock.assert_held();
            return m_size > 0;
        });
        uint64_t item = m_items[m_head];
        m_head = (m_head + 1) % kCapacity;
        m_size--;
        m_not_full.notify_one();
        return item;
    }

private:
    static constexpr unsigned kCapacity = 8;
    Mutex m_lock;
    Condvar m_not_full;
    Condvar m_not_empty;
    uint64_t m_items[kCapacity] TA_GUARDED(m_lock) = {};
    unsigned m_head TA_GUARDED(m_lock) = 0;
    unsigned m_size TA_GUARDED(m_lock) = 0;
};

void producer_consumer(int producers, int consumers, int items_each)
{
    BoundedQueue queue;
    const uint64_t total = uint64_t(producers) * items_each;
    std::atomic<uint64_t> sum{0}, received{0};
    Watchdog watchdog("producer_consumer", std::chrono::seconds(120));
    run_threads(producers + consumers, [&](int t) {
        if (t < producers) {
            for (int i = 1; i <= items_each; i++)
                queue.push(uint64_t(t) * items_each + i);
            return;
        }
        // Consumers share the total; each pops its share (the last takes the remainder).
        int c = t - producers;
        uint64_t share = total / consumers + (c == consumers - 1 ? total % consumers : 0);
        for (uint64_t i = 0; i < share; i++) {
            sum.fetch_add(queue.pop(), std::memory_order_relaxed);  // relaxed: read after join
            received.fetch_add(1, std::memory_order_relaxed);       // relaxed: read after join
        }
    });
    EXPECT_EQ(received.load(), total);
    EXPECT_EQ(sum.load(), total * (total + 1) / 2);
}

TEST(CondvarStress, ProducerConsumer)
{
    producer_consumer(4, 4, 25'000);
}

TEST(CondvarStress, ProducerConsumerWithSpuriousWakeups)
{
    ksync::host::set_spurious_wakeup_period(4);
    producer_consumer(3, 3, 10'000);
    ksync::host::set_spurious_wakeup_period(0);
}

// Two threads take turns: every hand-over is a notify and a wait; a single lost wake-up hangs.
struct PingPong {
    Mutex lock;
    Condvar cv;
    int turn TA_GUARDED(lock) = 0;
    int rounds TA_GUARDED(lock) = 0;
};

TEST(CondvarStress, PingPongNoLostWakeups)
{
    constexpr int kRounds = 50'000;
    PingPong p;
    EventCounts events;
    {
        ScopedEventCounts counting(events);
        Watchdog watchdog("PingPongNoLostWakeups", std::chrono::seconds(120));
        run_threads(2, [&](int me) {
            for (int i = 0; i < kRounds; i++) {
                MutexGuard guard(p.lock);
                p.cv.wait(p.lock, [&] {
                    p.lock.assert_held();
                    return p.turn == me;
                });
                p.turn = 1 - me;
                p.rounds++;
                p.cv.notify_one();
            }
        });
    }
    WITH_LOCK(p.lock) {
        EXPECT_EQ(p.rounds, 2 * kRounds);
    }
    std::printf("[PingPong] morphs queued %llu, granted at once %llu\n",
                (unsigned long long)events[MutexEvent::MorphQueued],
                (unsigned long long)events[MutexEvent::MorphGranted]);
}

// A reusable barrier on one condvar: every round, the last thread to arrive bumps the
// generation and notify_all()s; everyone else waits for the generation to change.
struct Barrier {
    Mutex lock;
    Condvar cv;
    int arrived TA_GUARDED(lock) = 0;
    uint64_t generation TA_GUARDED(lock) = 0;
};

void arrive_and_wait(Barrier& b, int parties) TA_EXCL(b.lock)
{
    MutexGuard guard(b.lock);
    uint64_t gen = b.generation;
    if (++b.arrived == parties) {
        b.arrived = 0;
        b.generation++;
        b.cv.notify_all();
        return;
    }
    b.cv.wait(b.lock, [&] {
        b.lock.assert_held();
        return b.generation != gen;
    });
}

TEST(CondvarStress, NotifyAllBarrierStorm)
{
    constexpr int kThreads = 12;
    constexpr int kRounds = 3'000;
    Barrier b;
    std::atomic<int> round_seen[kThreads] = {};
    {
        Watchdog watchdog("NotifyAllBarrierStorm", std::chrono::seconds(120));
        run_threads(kThreads, [&](int me) {
            for (int r = 0; r < kRounds; r++) {
                round_seen[me].store(r, std::memory_order_relaxed); // relaxed: checked below
                arrive_and_wait(b, kThreads);
                // Nobody may be more than one round behind once the barrier opened.
                for (int other = 0; other < kThreads; other++)
                    EXPECT_GE(round_seen[other].load(std::memory_order_relaxed), r);
            }
        });
    }
    WITH_LOCK(b.lock) {
        EXPECT_EQ(b.generation, uint64_t(kRounds));
    }
}

// Notifiers that release the mutex before notifying: the morph then usually finds the mutex
// free (granted at once) or races with the waiter's own release inside wait().
struct Mailbox {
    Mutex lock;
    Condvar cv;
    uint64_t posted TA_GUARDED(lock) = 0;
    uint64_t taken TA_GUARDED(lock) = 0;
};

TEST(CondvarStress, NotifyOutsideTheMutex)
{
    // Few, slow posters and many takers, so takers are usually asleep when a post arrives.
    constexpr int kPosters = 2;
    constexpr int kPostsEach = 15'000;
    constexpr int kTakers = 6;
    constexpr int kTakesEach = kPosters * kPostsEach / kTakers;
    static_assert(kTakers * kTakesEach == kPosters * kPostsEach);
    Mailbox box;
    EventCounts events;
    {
        ScopedEventCounts counting(events);
        Watchdog watchdog("NotifyOutsideTheMutex", std::chrono::seconds(120));
        run_threads(kPosters + kTakers, [&](int t) {
            if (t < kPosters) {
                for (int i = 0; i < kPostsEach; i++) {
                    WITH_LOCK(box.lock) {
                        box.posted++;
                    }
                    box.cv.notify_one(); // outside the mutex
                    std::this_thread::yield();
                }
                return;
            }
            for (int i = 0; i < kTakesEach; i++) {
                MutexGuard guard(box.lock);
                box.cv.wait(box.lock, [&] {
                    box.lock.assert_held();
                    return box.posted > box.taken;
                });
                box.taken++;
            }
        });
    }
    WITH_LOCK(box.lock) {
        EXPECT_EQ(box.taken, uint64_t(kPosters) * kPostsEach);
        EXPECT_EQ(box.posted, box.taken);
    }
    std::printf("[NotifyOutsideTheMutex] morphs queued %llu, granted at once %llu\n",
                (unsigned long long)events[MutexEvent::MorphQueued],
                (unsigned long long)events[MutexEvent::MorphGranted]);
    EXPECT_GT(events[MutexEvent::MorphQueued] + events[MutexEvent::MorphGranted], 0u);
}

} // namespace
