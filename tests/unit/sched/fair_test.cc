// Unit tests for the fair class: the accounting against a direct exponential-decay reference
// model, renormalisation invariance, the preemption deadline, fairness and wake placement in
// simulated schedules, and the run queue tree.
#include <sched/fair.h>

#include <cmath>
#include <gtest/gtest.h>
#include <memory>
#include <random>
#include <vector>

namespace {

using sched::FairEntity;
using sched::FairParams;
using sched::FairRunQueue;
using sched::kNever;
using sched::Nanos;

constexpr double kTau = 200e6;
constexpr Nanos kMs = 1'000'000;

// Fixed-point priority of p, and R in ns (the queue reports ns · 2^−16).
uint32_t prio(double p) { return uint32_t(p * sched::kPriorityOne); }
double as_ns(uint64_t r) { return std::ldexp(double(r), -sched::kRuntimeFraction); }
double runtime(const FairRunQueue& rq, const FairEntity& e) { return as_ns(rq.runtime(e)); }
double detached_runtime(const FairRunQueue& rq, const FairEntity& e, Nanos now)
{
    return as_ns(rq.detached_runtime_at(e, now));
}
double priority_of(const FairEntity& e) { return double(e.priority) / sched::kPriorityOne; }

// The reference: every run interval [b, e) at priority p contributes
// p·∫_b^e e^−(T−s)/τ ds = p·τ·(e^−(T−e)/τ − e^−(T−b)/τ) to R(T). No normalisation, no state.
struct RefThread {
    struct Run {
        double begin, end, priority;
    };
    std::vector<Run> runs;

    double runtime(double t, double tau = kTau) const
    {
        double r = 0;
        for (const Run& run : runs) {
            double end = std::min(run.end, t);
            if (end > run.begin)
                r += run.priority * tau * (std::exp(-(t - end) / tau) - std::exp(-(t - run.begin) / tau));
        }
        return r;
    }
};

void expect_close(double got, double want, const char* what)
{
    EXPECT_NEAR(got, want, 1e-9 * std::fabs(want) + 1e-3) << what;
}

// Random schedules replayed through switch_to(): every attached entity's R, and every sleeping
// one's decayed R, must match the reference, across frequent renormalisations (bound 2^4, i.e.
// every ~0.55 s) and priority changes.
TEST(Fair, AccountingMatchesReference)
{
    for (int seed = 0; seed < 20; seed++) {
        std::mt19937_64 rng(seed);
        FairParams params;
        params.renormalize_exponent = 4;
        params.wake_credit_ns = sched::kNever; // no wake placement: pure decay, comparable to the model
        const int n = 6;
        FairRunQueue rq(params, 0);
        std::vector<FairEntity> es(n);
        std::vector<RefThread> ref(n);
        std::vector<bool> sleeping(n, false);
        for (int i = 0; i < n; i++) {
            es[i].id = i + 1;
            es[i].priority = prio(i % 3 == 0 ? 1.0 : (i % 3 == 1 ? 2.0 : 0.5));
            rq.attach(es[i], 0);
        }
        Nanos now = 0;
        int running = -1;
        for (int step = 0; step < 400; step++) {
            std::uniform_int_distribution<int> pick(0, n - 1);
            int i = pick(rng);
            int action = int(rng() % 10);
            if (action == 0 && i != running && !sleeping[i]) {
                rq.detach(es[i], now);
                sleeping[i] = true;
            } else if (action == 1 && sleeping[i]) {
                rq.attach(es[i], now);
                sleeping[i] = false;
            } else if (action == 2 && !sleeping[i]) {
                double p = 0.25 + double(rng() % 16) / 4;
                rq.set_priority(es[i], prio(p), now);
            } else if (!sleeping[i]) {
                rq.switch_to(es[i], now);
                running = i;
            }
            Nanos d = rng() % 8 == 0 ? Nanos(rng() % (2000 * kMs)) : Nanos(rng() % (30 * kMs));
            if (running >= 0)
                ref[running].runs.push_back({double(now), double(now + d), priority_of(es[running])});
            now += d;
            rq.update(now);
            ASSERT_TRUE(rq.tree().check_invariants());
            ASSERT_LT(rq.clock().c(), uint64_t(1) << (sched::FairClock::kFraction + 4));
            for (int k = 0; k < n; k++) {
                double want = ref[k].runtime(double(now));
                double got = sleeping[k] ? detached_runtime(rq, es[k], now) : runtime(rq, es[k]);
                expect_close(got, want, "runtime");
            }
        }
    }
}

// A thread that always runs converges to R = p·τ; after running t from 0 it has p·τ·(1 − e^−t/τ).
TEST(Fair, ClosedForms)
{
    FairRunQueue rq({}, 0);
    FairEntity a;
    a.id = 1;
    a.priority = prio(2.0);
    rq.attach(a, 0);
    ASSERT_EQ(rq.schedule(0), &a);
    rq.update(100 * kMs);
    expect_close(runtime(rq, a), 2.0 * kTau * (1 - std::exp(-0.5)), "after 100 ms");
    rq.update(100'000 * kMs); // 100 s: several renormalisations' worth of growth in one step
    expect_close(runtime(rq, a), 2.0 * kTau, "steady state");
    EXPECT_LT(rq.clock().c(), uint64_t(1) << (sched::FairClock::kFraction + 16));
}

// Renormalisation shifts V and C by the same power of two: every R is unchanged to a unit of
// its report (2^−16 ns), and the order of the tree is unchanged, ties of shifted keys included.
TEST(Fair, RenormalisationKeepsRuntimesAndOrder)
{
    std::mt19937_64 rng(7);
    FairParams params;
    FairRunQueue rq(params, 0);
    const int n = 50;
    std::vector<FairEntity> es(n);
    Nanos now = 0;
    for (int i = 0; i < n; i++) {
        es[i].id = i + 1;
        es[i].priority = prio(0.5 + double(rng() % 8) / 2);
        rq.attach(es[i], now);
    }
    for (int round = 0; round < 40; round++) {
        rq.switch_to(es[rng() % n], now);
        now += Nanos(rng() % (40 * kMs));
        rq.update(now);
    }
    ASSERT_GT(rq.clock().c(), uint64_t(1) << (sched::FairClock::kFraction + 3));
    // Two keys that the shift makes equal, with ids in the opposite order: the id tie-break
    // must not flip their order.
    FairEntity lo, hi;
    lo.id = 1000;
    hi.id = 999;
    rq.attach(lo, now);
    rq.attach(hi, now);
    rq.detach(lo, now);
    rq.detach(hi, now);
    lo.stored = (sched::math::u128(1) << 100) + 2; // above everything; shifted right by ≥ 1,
    hi.stored = (sched::math::u128(1) << 100) + 3; // equal to hi's
    lo.epoch = hi.epoch = rq.clock().shift();
    lo.is_new = hi.is_new = true; // no credit; both lie above the floor
    rq.attach(lo, now);
    rq.attach(hi, now);
    ASSERT_EQ(lo.stored + 1, hi.stored);
    std::vector<uint64_t> before(n);
    for (int i = 0; i < n; i++)
        before[i] = rq.runtime(es[i]);
    std::vector<uint64_t> order;
    for (const FairEntity& e : rq.tree())
        order.push_back(e.id);

    rq.renormalize_now(now);

    EXPECT_GE(rq.clock().c(), uint64_t(1) << sched::FairClock::kFraction);
    EXPECT_LT(rq.clock().c(), uint64_t(1) << (sched::FairClock::kFraction + 1));
    EXPECT_TRUE(rq.tree().check_invariants());
    for (int i = 0; i < n; i++)
        EXPECT_NEAR(double(rq.runtime(es[i])), double(before[i]), 1.0) << i;
    std::vector<uint64_t> after;
    for (const FairEntity& e : rq.tree())
        after.push_back(e.id);
    EXPECT_EQ(after, order);
    EXPECT_EQ(lo.stored + 1, hi.stored); // the tie was broken by raising hi
}

// A very long gap (a day without an update) folds into one renormalisation: nothing overflows,
// runnable threads have decayed to 0 and the running one sits at p·τ.
TEST(Fair, LongGapNeverOverflows)
{
    FairRunQueue rq({}, 0);
    FairEntity a, b;
    a.id = 1;
    b.id = 2;
    rq.attach(a, 0);
    rq.attach(b, 0);
    rq.switch_to(a, 0);
    rq.update(50 * kMs);
    rq.switch_to(b, 50 * kMs);
    rq.update(100 * kMs);
    rq.switch_to(a, 100 * kMs);
    Nanos day = 86'400'000 * kMs;
    rq.update(day);
    EXPECT_LT(rq.clock().c(), uint64_t(1) << (sched::FairClock::kFraction + 16));
    expect_close(runtime(rq, a), kTau, "running");
    EXPECT_EQ(rq.runtime(b), 0u);
    EXPECT_TRUE(rq.tree().check_invariants());
}

// The deadline is where R_T − R_U crosses H in the reference model (found by bisection), and
// should_preempt() flips there.
TEST(Fair, PreemptDeadlineMatchesReference)
{
    int checked = 0;
    for (int seed = 0; seed < 300; seed++) {
        std::mt19937_64 rng(seed);
        FairParams params;
        params.renormalize_exponent = 6;
        params.hysteresis_ns = Nanos(1 + rng() % 10) * kMs;
        FairRunQueue rq(params, 0);
        FairEntity t, u;
        t.id = 1;
        u.id = 2;
        t.priority = prio(0.25 + double(rng() % 12) / 4);
        u.priority = prio(0.25 + double(rng() % 12) / 4);
        rq.attach(t, 0);
        rq.attach(u, 0);
        RefThread rt, ru;
        Nanos now = 0;
        // Random history, then t runs.
        for (int k = 0; k < 6; k++) {
            bool run_t = rng() % 2;
            Nanos d = Nanos(rng() % (60 * kMs));
            rq.switch_to(run_t ? t : u, now);
            (run_t ? rt : ru).runs.push_back({double(now), double(now + d), priority_of(run_t ? t : u)});
            now += d;
        }
        rq.switch_to(t, now);
        if (rq.should_preempt(now))
            continue; // already due; covered by the flip check below on other seeds
        Nanos deadline = rq.preempt_deadline(now);
        double p_tau = priority_of(t) * kTau;
        if (p_tau <= double(params.hysteresis_ns)) {
            EXPECT_EQ(deadline, kNever);
            continue;
        }
        ASSERT_NE(deadline, kNever);
        ASSERT_GT(deadline, now);
        // Bisection on the reference: lead(s) = R_T − R_U − H with t running from now.
        auto lead = [&](double s) {
            RefThread tt = rt;
            tt.runs.push_back({double(now), double(now) + s, priority_of(t)});
            return tt.runtime(double(now) + s) - ru.runtime(double(now) + s) - double(params.hysteresis_ns);
        };
        double lo = 0, hi = 1e12;
        for (int it = 0; it < 200; it++) {
            double mid = (lo + hi) / 2;
            (lead(mid) > 0 ? hi : lo) = mid;
        }
        EXPECT_NEAR(double(deadline - now), lo, 1000.0) << "seed " << seed;
        checked++;
        // The queue itself flips at the deadline.
        if (deadline - 2000 > now)
            EXPECT_FALSE(rq.should_preempt(deadline - 2000)) << "seed " << seed;
        EXPECT_TRUE(rq.should_preempt(deadline + 2000)) << "seed " << seed;
    }
    EXPECT_GT(checked, 100);
}

// ---- Simulations on one CPU, driven only by the queue's own decisions (tickless) ----

struct Sim {
    explicit Sim(const FairParams& params) : rq(params, 0) {}
    FairRunQueue rq;
    Nanos now = 0;
    std::vector<Nanos> cpu; // by entity id
    std::vector<Nanos> longest_slice;
    Nanos slice_start = 0;
    FairEntity* running = nullptr;
    int switches = 0;

    void ensure(uint64_t id)
    {
        if (cpu.size() <= id) {
            cpu.resize(id + 1, 0);
            longest_slice.resize(id + 1, 0);
        }
    }
    void account(Nanos to)
    {
        if (running) {
            ensure(running->id);
            cpu[running->id] += to - now;
        }
        now = to;
    }
    void end_slice()
    {
        if (running) {
            ensure(running->id);
            longest_slice[running->id] = std::max(longest_slice[running->id], now - slice_start);
        }
    }
    void resched()
    {
        FairEntity* next = rq.schedule(now);
        if (next != running) {
            end_slice();
            switches++;
            slice_start = now;
        }
        running = next;
    }
    // Runs until `until` (or an earlier voluntary stop at `stop`) following the queue's deadlines.
    void run_until(Nanos until)
    {
        while (now < until) {
            Nanos d = rq.preempt_deadline(now);
            Nanos next = std::min(d, until);
            account(next);
            if (rq.should_preempt(now))
                resched();
        }
    }
};

TEST(Fair, EqualPrioritiesShareEqually)
{
    Sim sim({});
    FairEntity a, b;
    a.id = 1;
    b.id = 2;
    sim.rq.attach(a, 0);
    sim.rq.attach(b, 0);
    sim.resched();
    sim.run_until(10'000 * kMs);
    double share_a = double(sim.cpu[1]) / double(sim.now);
    EXPECT_NEAR(share_a, 0.5, 0.005);
    // Hysteresis: ~2H slices, not ping-pong.
    EXPECT_LE(sim.longest_slice[1], 11 * kMs);
    EXPECT_GE(sim.longest_slice[1], 9 * kMs);
    EXPECT_LE(sim.switches, 10'000 / 9 + 2);
    EXPECT_GE(sim.switches, 10'000 / 11 - 2);
}

TEST(Fair, PriorityTwoGetsHalf)
{
    Sim sim({});
    FairEntity a, b;
    a.id = 1;
    b.id = 2;
    b.priority = prio(2.0);
    sim.rq.attach(a, 0);
    sim.rq.attach(b, 0);
    sim.resched();
    sim.run_until(20'000 * kMs);
    double ratio = double(sim.cpu[2]) / double(sim.cpu[1]);
    EXPECT_NEAR(ratio, 0.5, 0.02);
}

TEST(Fair, ThreeWayWeightedShares)
{
    Sim sim({});
    FairEntity es[3];
    uint32_t prio[3] = {1, 2, 4};
    for (int i = 0; i < 3; i++) {
        es[i].id = i + 1;
        es[i].priority = sched::kPriorityOne * prio[i];
        sim.rq.attach(es[i], 0);
    }
    sim.resched();
    sim.run_until(30'000 * kMs);
    // Shares ∝ 1/p: 4/7, 2/7, 1/7.
    EXPECT_NEAR(double(sim.cpu[1]) / double(sim.now), 4.0 / 7, 0.01);
    EXPECT_NEAR(double(sim.cpu[2]) / double(sim.now), 2.0 / 7, 0.01);
    EXPECT_NEAR(double(sim.cpu[3]) / double(sim.now), 1.0 / 7, 0.01);
}

// An interactive thread (sleeps 50 ms, runs 1 ms) next to a hog gets the CPU as soon as it
// wakes, every time, and the hog keeps nearly everything else.
TEST(Fair, WakingThreadPreemptsHogPromptly)
{
    FairParams params;
    Sim sim(params);
    FairEntity hog, io;
    hog.id = 1;
    io.id = 2;
    sim.rq.attach(hog, 0);
    sim.rq.attach(io, 0); // io has been attached before: a sleeper, not a new thread
    sim.rq.detach(io, 0);
    sim.resched();
    sim.run_until(3000 * kMs); // the hog reaches steady state
    Nanos worst_latency = 0;
    for (int i = 0; i < 100; i++) {
        // Wake io.
        sim.rq.attach(io, sim.now);
        Nanos woke = sim.now;
        if (sim.rq.should_preempt(sim.now))
            sim.resched();
        else
            sim.run_until(std::min(sim.rq.preempt_deadline(sim.now), sim.now + 1000 * kMs));
        while (sim.running != &io)
            sim.run_until(sim.now + kMs);
        worst_latency = std::max(worst_latency, sim.now - woke);
        // io runs 1 ms (too short to lose its lead) then sleeps 50 ms.
        sim.account(sim.now + kMs);
        ASSERT_EQ(sim.running, &io);
        sim.end_slice();
        sim.rq.detach_current(sim.now);
        sim.running = nullptr;
        sim.resched();
        sim.run_until(sim.now + 50 * kMs);
    }
    EXPECT_LE(worst_latency, Nanos(params.hysteresis_ns));
    EXPECT_EQ(worst_latency, 0); // with the wake credit it is immediate
    EXPECT_NEAR(double(sim.cpu[2]) / double(sim.cpu[1] + sim.cpu[2] - 3000 * kMs), 1.0 / 51, 0.002);
}

// A CPU-bound thread waking after a long sleep runs first, but only for about
// wake_credit + H before the hog gets the CPU back (not a 100 ms burst), and the two then
// share equally.
TEST(Fair, LongSleeperDoesNotStarveOthers)
{
    FairParams params;
    Sim sim(params);
    FairEntity hog, sleeper;
    hog.id = 1;
    sleeper.id = 2;
    sim.rq.attach(hog, 0);
    sim.rq.attach(sleeper, 0);
    sim.resched();
    sim.run_until(100 * kMs);
    // The sleeper goes to sleep for 10 s.
    if (sim.running == &sleeper) {
        sim.end_slice();
        sim.rq.detach_current(sim.now);
        sim.running = nullptr;
        sim.resched();
    } else {
        sim.rq.detach(sleeper, sim.now);
    }
    sim.run_until(10'100 * kMs);
    sim.rq.attach(sleeper, sim.now);
    ASSERT_TRUE(sim.rq.should_preempt(sim.now));
    sim.resched();
    ASSERT_EQ(sim.running, &sleeper);
    Nanos start = sim.now;
    while (sim.running == &sleeper)
        sim.run_until(sim.rq.preempt_deadline(sim.now));
    Nanos burst = sim.now - start;
    // τ·ln((τ + credit)/(τ − H)) ≈ 14.8 ms at the defaults.
    double expect = kTau * std::log((kTau + double(params.wake_credit_ns)) / (kTau - double(params.hysteresis_ns)));
    EXPECT_NEAR(double(burst), expect, 0.05 * expect);
    Nanos cpu_before = sim.cpu[2];
    Nanos t0 = sim.now;
    sim.run_until(t0 + 5000 * kMs);
    EXPECT_NEAR(double(sim.cpu[2] - cpu_before) / double(sim.now - t0), 0.5, 0.01);
}

// A thread that naps keeps its decayed R when that is above the floor (no reward for a
// short nap); one that slept long lands at the floor − credit, not 0; a new one at the floor.
TEST(Fair, WakePlacement)
{
    FairParams params;
    FairRunQueue rq(params, 0);
    FairEntity a, b, c;
    a.id = 1;
    b.id = 2;
    c.id = 3;
    rq.attach(a, 0);
    rq.attach(b, 0);
    Nanos now = 0;
    rq.schedule(now);
    while (now < 2000 * kMs) { // a and b share the CPU by the policy
        now = rq.preempt_deadline(now);
        if (rq.should_preempt(now))
            rq.schedule(now);
    }
    FairEntity* napper = rq.current();
    FairEntity* other = napper == &a ? &b : &a;
    rq.detach_current(now);
    double r_nap = detached_runtime(rq, *napper, now);
    EXPECT_GT(r_nap, 90e6);
    rq.schedule(now);
    now += kMs;
    rq.attach(*napper, now);
    EXPECT_NEAR(runtime(rq, *napper), r_nap * std::exp(-1e6 / kTau), 1e-6 * r_nap);
    // c is new: lands at the placement floor itself (no credit: it has not slept). The floor
    // is the highest "lowest R" seen at a placement: when the napper was placed the only other
    // entity was `other` (running), and the napper's own lower R does not pull the floor down.
    rq.attach(c, now);
    double floor = std::max(std::min(runtime(rq, *napper), runtime(rq, *other)), runtime(rq, *other));
    EXPECT_NEAR(runtime(rq, c), floor, 1e-3);
    double lowest;
    // A long sleeper (decayed to ~0) also lands at the floor.
    rq.detach(c, now);
    now += 5000 * kMs;
    double decayed = detached_runtime(rq, c, now);
    EXPECT_LT(decayed, 1e-6 * r_nap);
    rq.update(now);
    lowest = std::min(runtime(rq, *napper), runtime(rq, *other));
    rq.attach(c, now);
    EXPECT_NEAR(runtime(rq, c), std::max(decayed, lowest - double(params.wake_credit_ns)), 1e-3);
    EXPECT_TRUE(rq.tree().check_invariants());
}

TEST(Fair, TreeOrderAndTies)
{
    FairRunQueue rq({}, 0);
    std::vector<std::unique_ptr<FairEntity>> es;
    for (int i = 0; i < 100; i++) {
        es.push_back(std::make_unique<FairEntity>());
        es.back()->id = 1000 - i; // same R (all new at time 0): order by id
        rq.attach(*es.back(), 0);
    }
    EXPECT_EQ(rq.runnable_count(), 100u);
    EXPECT_EQ(rq.first_runnable()->id, 901u);
    EXPECT_TRUE(rq.tree().check_invariants());
    for (int i = 0; i < 100; i += 2)
        rq.detach(*es[i], 5);
    EXPECT_EQ(rq.runnable_count(), 50u);
    EXPECT_EQ(rq.first_runnable()->id, 901u);
    EXPECT_TRUE(rq.tree().check_invariants());
    FairEntity* cur = rq.schedule(5);
    EXPECT_EQ(cur->id, 901u);
    EXPECT_EQ(rq.current(), cur);
    EXPECT_EQ(rq.runnable_count(), 49u);
    rq.update(20 * kMs);
    EXPECT_TRUE(rq.should_preempt(20 * kMs));
    EXPECT_EQ(rq.schedule(20 * kMs)->id, 903u);
}

TEST(Fair, NoPreemptionWithoutCompetition)
{
    FairRunQueue rq({}, 0);
    FairEntity a;
    a.id = 1;
    rq.attach(a, 0);
    rq.schedule(0);
    EXPECT_FALSE(rq.should_preempt(1000 * kMs));
    EXPECT_EQ(rq.preempt_deadline(1000 * kMs), kNever);
    // p·τ ≤ H: the lead can never run out.
    FairParams tiny;
    tiny.hysteresis_ns = 300 * kMs;
    FairRunQueue rq2(tiny, 0);
    FairEntity x, y;
    x.id = 1;
    y.id = 2;
    rq2.attach(x, 0);
    rq2.attach(y, 0);
    rq2.schedule(0);
    EXPECT_EQ(rq2.preempt_deadline(0), kNever);
}

} // namespace

namespace {

TEST(FairRunQueue, PlacementCreditsDoNotStack)
{
    // Sleepers made runnable one after another next to a thread that has run a while all get
    // the same placement (the running thread's R minus the credit), not a credit each below
    // the previous one.
    sched::FairParams params;
    sched::FairRunQueue rq(params, 0);
    sched::FairEntity main_thread, a, b, c;
    main_thread.id = 1;
    a.id = 2;
    b.id = 3;
    c.id = 4;
    rq.attach(main_thread, 0);
    for (sched::FairEntity* e : {&a, &b, &c}) { // they have run before: sleepers, not new threads
        rq.attach(*e, 0);
        rq.detach(*e, 0);
    }
    rq.schedule(0);
    rq.update(100'000'000); // main ran 100 ms
    rq.attach(a, 100'000'000);
    rq.attach(b, 100'000'000);
    rq.attach(c, 100'000'000);
    double ra = runtime(rq, a), rb = runtime(rq, b), rc = runtime(rq, c);
    EXPECT_NEAR(ra, rb, 1e-6 * ra);
    EXPECT_NEAR(rb, rc, 1e-6 * rb);
    EXPECT_NEAR(runtime(rq, main_thread) - ra, double(params.wake_credit_ns), 1e-3 * ra);
}

TEST(FairRunQueue, NewThreadDoesNotPreemptItsCreator)
{
    // A new thread starts at the CPU's lowest R, without the sleeper's credit: it does not
    // preempt the thread that made it, which has run a while, and holds no lead over it. A
    // sleeper made runnable at the same moment does get the credit, and preempts.
    sched::FairParams params;
    sched::FairRunQueue rq(params, 0);
    sched::FairEntity creator, fresh, sleeper;
    creator.id = 1;
    fresh.id = 2;
    sleeper.id = 3;
    rq.attach(creator, 0);
    rq.attach(sleeper, 0);
    rq.detach(sleeper, 0);
    rq.schedule(0);
    rq.update(100'000'000); // the creator ran 100 ms
    EXPECT_TRUE(fresh.is_new);
    rq.attach(fresh, 100'000'000);
    EXPECT_FALSE(fresh.is_new);
    EXPECT_NEAR(runtime(rq, fresh), runtime(rq, creator), 1e-9 * runtime(rq, creator));
    EXPECT_FALSE(rq.should_preempt(100'000'000));
    // The lead the creator needs to lose before the new thread runs is H.
    sched::Nanos d = rq.preempt_deadline(100'000'000);
    EXPECT_GT(d, 100'000'000 + sched::Nanos(params.hysteresis_ns) * 9 / 10);
    rq.attach(sleeper, 100'000'000);
    EXPECT_NEAR(runtime(rq, creator) - runtime(rq, sleeper), double(params.wake_credit_ns),
                1e-6 * runtime(rq, creator));
    EXPECT_TRUE(rq.should_preempt(100'000'000));
    EXPECT_EQ(rq.schedule(100'000'000), &sleeper);
    EXPECT_TRUE(rq.tree().check_invariants());
}

} // namespace
