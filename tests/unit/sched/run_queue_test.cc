// Unit tests for the real-time classes and the pick order across classes.
#include <sched/run_queue.h>

#include <cmath>
#include <gtest/gtest.h>
#include <vector>

namespace {

using sched::Entity;
using sched::kNever;
using sched::Nanos;
using sched::Policy;
using sched::RtEntity;
using sched::RtRunQueue;
using sched::RunQueue;
using sched::RunQueueParams;

constexpr Nanos kMs = 1'000'000;

Entity make(uint64_t id, Policy policy, int rt_priority = 1)
{
    Entity e;
    e.id = id;
    e.policy = policy;
    e.rt_priority = rt_priority;
    return e;
}

TEST(RtRunQueue, PriorityThenFifo)
{
    RtRunQueue q;
    RtEntity e[6];
    int prio[6] = {10, 99, 10, 1, 64, 63};
    for (int i = 0; i < 6; i++) {
        e[i].rt_priority = prio[i];
        q.push_back(e[i]);
    }
    std::vector<RtEntity*> order;
    while (RtEntity* h = q.highest()) {
        order.push_back(h);
        q.remove(*h);
    }
    std::vector<RtEntity*> want = {&e[1], &e[4], &e[5], &e[0], &e[2], &e[3]};
    EXPECT_EQ(order, want);
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.highest_priority(), 0);
    q.push_back(e[0]);
    q.push_front(e[2]);
    EXPECT_EQ(q.highest(), &e[2]);
    EXPECT_EQ(q.count_at(10), 2u);
    q.remove(e[2]);
    q.remove(e[0]);
    EXPECT_EQ(q.count_at(10), 0u);
}

TEST(RunQueue, RtBeforeFair)
{
    RunQueue rq({}, 0);
    Entity f1 = make(1, Policy::Fair), f2 = make(2, Policy::Fair);
    Entity lo = make(3, Policy::Fifo, 5), hi = make(4, Policy::Fifo, 50);
    rq.wake(f1, 0);
    rq.wake(f2, 0);
    EXPECT_EQ(rq.schedule(0)->policy, Policy::Fair);
    rq.wake(lo, kMs);
    EXPECT_TRUE(rq.should_preempt(kMs)); // any RT preempts fair
    EXPECT_EQ(rq.schedule(kMs), &lo);
    rq.wake(hi, 2 * kMs);
    EXPECT_TRUE(rq.should_preempt(2 * kMs));
    EXPECT_EQ(rq.schedule(2 * kMs), &hi);
    // FIFO: no slice, fair threads never preempt it.
    EXPECT_EQ(rq.preempt_deadline(3 * kMs), kNever);
    EXPECT_FALSE(rq.should_preempt(10'000 * kMs));
    rq.block_current(10'000 * kMs);
    EXPECT_EQ(rq.schedule(10'000 * kMs), &lo); // lo kept its place at the head of its level
    rq.block_current(10'001 * kMs);
    Entity* f = rq.schedule(10'001 * kMs);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->policy, Policy::Fair);
    EXPECT_EQ(rq.runnable_count(), 1u);
}

TEST(RunQueue, PreemptedFifoKeepsItsPlace)
{
    RunQueue rq({}, 0);
    Entity a = make(1, Policy::Fifo, 10), b = make(2, Policy::Fifo, 10), hi = make(3, Policy::Fifo, 20);
    rq.wake(a, 0);
    rq.wake(b, 0);
    EXPECT_EQ(rq.schedule(0), &a);
    rq.wake(hi, 1);
    EXPECT_EQ(rq.schedule(1), &hi);
    rq.block_current(2);
    EXPECT_EQ(rq.schedule(2), &a); // head of level 10, ahead of b
    EXPECT_EQ(rq.yield(3), &b);    // yield goes behind its equals
    EXPECT_EQ(rq.yield(4), &a);
}

TEST(RunQueue, RoundRobinSlices)
{
    RunQueueParams params;
    params.rr_slice_ns = 20 * kMs;
    RunQueue rq(params, 0);
    Entity a = make(1, Policy::RoundRobin, 30), b = make(2, Policy::RoundRobin, 30);
    Entity fair = make(3, Policy::Fair);
    rq.wake(fair, 0);
    rq.wake(a, 0);
    rq.wake(b, 0);
    Nanos now = 0;
    std::vector<uint64_t> order;
    Entity* cur = rq.schedule(now);
    for (int i = 0; i < 6; i++) {
        order.push_back(cur->id);
        Nanos d = rq.preempt_deadline(now);
        ASSERT_EQ(d, now + 20 * kMs);
        now = d;
        ASSERT_TRUE(rq.should_preempt(now));
        cur = rq.schedule(now);
    }
    std::vector<uint64_t> want = {1, 2, 1, 2, 1, 2};
    EXPECT_EQ(order, want);
    // Alone at its priority, an RR thread is not sliced.
    rq.remove(cur == &a ? b : a, now);
    EXPECT_EQ(rq.preempt_deadline(now), kNever);
    EXPECT_FALSE(rq.should_preempt(now + 500 * kMs));
}

TEST(RunQueue, FairClockRunsUnderRt)
{
    RunQueue rq({}, 0);
    Entity f = make(1, Policy::Fair), r = make(2, Policy::Fifo, 1);
    rq.wake(f, 0);
    EXPECT_EQ(rq.schedule(0), &f);
    rq.wake(r, 100 * kMs);
    EXPECT_EQ(rq.schedule(100 * kMs), &r);
    double before = double(rq.fair().runtime(f));
    rq.update(300 * kMs); // f is runnable, not running: its R decays
    EXPECT_NEAR(double(rq.fair().runtime(f)), before * std::exp(-1.0), 1e-6 * before);
    rq.block_current(300 * kMs);
    EXPECT_EQ(rq.schedule(300 * kMs), &f);
}

TEST(RunQueue, IdleWhenEmpty)
{
    RunQueue rq({}, 0);
    EXPECT_EQ(rq.schedule(0), nullptr);
    EXPECT_FALSE(rq.should_preempt(1));
    EXPECT_EQ(rq.preempt_deadline(1), kNever);
    Entity f = make(1, Policy::Fair);
    rq.wake(f, 2);
    EXPECT_TRUE(rq.should_preempt(2));
    EXPECT_EQ(rq.schedule(2), &f);
}

} // namespace

namespace {

TEST(RunQueue, FairYieldHandsTheCpuToAnother)
{
    RunQueue rq(RunQueueParams{}, 0);
    Entity a = make(1, Policy::Fair), b = make(2, Policy::Fair), c = make(3, Policy::Fair);
    rq.wake(a, 0);
    EXPECT_EQ(rq.schedule(0), &a);
    // Alone, a yielding entity keeps the CPU.
    EXPECT_EQ(rq.yield(1 * kMs), &a);
    rq.wake(b, 1 * kMs);
    rq.wake(c, 1 * kMs);
    // With others runnable, yield always switches, even though a's lead is within the
    // hysteresis; and their accounting is untouched, so the pick among them is by R.
    Entity* first = rq.yield(1 * kMs + 1);
    EXPECT_NE(first, &a);
    Entity* second = rq.yield(1 * kMs + 2);
    EXPECT_NE(second, first);
    // Ping-pong of two yielders alternates.
    RunQueue two(RunQueueParams{}, 0);
    Entity x = make(10, Policy::Fair), y = make(11, Policy::Fair);
    two.wake(x, 0);
    two.wake(y, 0);
    Entity* cur = two.schedule(0);
    for (int i = 1; i < 20; ++i) {
        Entity* next = two.yield(i * 1000);
        EXPECT_NE(next, cur);
        cur = next;
    }
    // An RT entity still wins over a yielding fair one.
    Entity r = make(20, Policy::Fifo, 5);
    two.wake(r, 30000);
    EXPECT_EQ(two.yield(30001), &r);
}

} // namespace

namespace {

// RunQueue::hand_off (the futex hand-off of core/thread.cc) must leave the queue exactly as
// wake(next) + block_current() + schedule() would: the same values, epochs and current, over a
// long ping-pong with sleeps of every length (short steps, long ones, renormalisations) —
// and it must refuse when another entity is runnable or a class other than fair is involved.
TEST(RunQueue, HandOffMatchesWakeBlockSchedule)
{
    RunQueueParams params;
    params.fair.renormalize_exponent = 2; // renormalise often
    RunQueue fast(params, 0), slow(params, 0);
    Entity fa = make(1, Policy::Fair), fb = make(2, Policy::Fair);
    Entity sa = make(1, Policy::Fair), sb = make(2, Policy::Fair);
    fast.wake(fa, 0);
    slow.wake(sa, 0);
    EXPECT_EQ(fast.schedule(0), &fa);
    EXPECT_EQ(slow.schedule(0), &sa);
    // The first hand-off is to a new entity (no sleeper's credit), later ones to sleepers.
    Entity* fcur = &fa;
    Entity* fother = &fb;
    Entity* scur = &sa;
    Entity* sother = &sb;
    Nanos t = 0;
    uint64_t seed = 12345;
    for (int i = 0; i < 5000; ++i) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        Nanos step = Nanos((seed >> 33) % (i % 7 == 0 ? 400 * kMs : 200'000)) + 1;
        t += step;
        ASSERT_TRUE(fast.hand_off(*fother, t));
        slow.wake(*sother, t);
        slow.block_current(t);
        ASSERT_EQ(slow.schedule(t), sother);
        ASSERT_EQ(fast.current(), fother);
        std::swap(fcur, fother);
        std::swap(scur, sother);
        ASSERT_EQ(fcur->stored, scur->stored) << i;
        ASSERT_EQ(fother->stored, sother->stored) << i;
        ASSERT_EQ(fother->epoch, sother->epoch) << i;
        ASSERT_EQ(fcur->attached, scur->attached);
        ASSERT_FALSE(fother->attached);
        ASSERT_EQ(fast.fair().runnable_count(), 0u);
        ASSERT_EQ(fast.fair().clock().c(), slow.fair().clock().c());
    }
    // Refused, and nothing changed, with a third entity runnable or an RT one involved.
    Entity c = make(3, Policy::Fair);
    fast.wake(c, t + 1);
    EXPECT_FALSE(fast.hand_off(*fother, t + 2));
    EXPECT_EQ(fast.current(), fcur);
    EXPECT_FALSE(fother->attached);
    fast.remove(c, t + 3);
    Entity r = make(4, Policy::Fifo, 5);
    EXPECT_FALSE(fast.hand_off(r, t + 4));
    EXPECT_TRUE(fast.hand_off(*fother, t + 5));
    EXPECT_EQ(fast.current(), fother);
}

} // namespace
