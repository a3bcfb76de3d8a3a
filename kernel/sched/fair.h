// The fair scheduling class's arithmetic: exponentially decayed run time with a per-CPU
// normalisation factor, a run queue ordered by it, hysteresis and the tickless preemption
// deadline. Portable: no threads, no clock, no CPU — the caller passes the time in.
//
// ## The quantity
//
// A thread's decayed run time at time T is
//
//     R(T) = ∫ p(s) · run(s) · e^−(T−s)/τ ds            (units: priority-weighted ns)
//
// where run(s) is 1 while the thread runs and p(s) its priority (lower p = more CPU). Run time
// accumulated Δ ago thus counts e^−Δ/τ; τ is 200 ms by default. A thread that always runs
// converges to R = p·τ. The policy runs the thread with the lowest R.
//
// ## Why a normalisation factor, and the exact accounting formula
//
// R decays for every thread all the time; updating every thread's R on every event would be
// O(n). Instead each CPU keeps c(T) = c₀·e^(T/τ) and each thread stores v = R·c. Then:
//
// * A thread that does not run keeps v unchanged: R = v/c decays by itself because c grows.
//   So the run queue's keys never change and a balanced tree keyed by v stays sorted.
// * A thread that runs from T₀ to T₁ = T₀+t at priority p:
//       R(T₁) = R(T₀)·e^−t/τ + p·∫_{T₀}^{T₁} e^−(T₁−s)/τ ds = R(T₀)·e^−t/τ + p·τ·(1 − e^−t/τ)
//   and multiplying by c(T₁) = c(T₀)·e^t/τ:
//       v(T₁) = v(T₀) + p·τ·(c(T₁) − c(T₀))                                    (★)
//   which is exact for any t (not a small-step approximation), so charging may happen at any
//   granularity — once per context switch in a tickless kernel.
//
// ## Renormalisation
//
// c grows by e per τ and would overflow in ~140 s. When c reaches 2^renormalize_exponent, c and
// every attached thread's v are multiplied by 2^−k, where k is c's binary exponent. Scaling by
// a power of two is exact in binary floating point (barring underflow into subnormals, which
// would need a decay factor below 2^−900), so every R = v/c is bit-for-bit unchanged, the
// order of the tree is unchanged and its keys can be rewritten in place. A long idle period is
// folded into one shift (FairClock::advance never overflows, see float_math.h's ExpSplit).
// Threads that are not attached (sleeping, migrating) store R and a timestamp instead of v, so
// renormalisation never has to find them.
//
// ## Preemption and the tickless deadline
//
// The running thread T is preempted when some runnable U has R_U < R_T − H (hysteresis H, 5 ms
// default): two CPU-bound threads then alternate in ~2H slices rather than ping-ponging. While
// T runs for a further s, with E = e^s/τ: v_T(s) = v_T + p·τ·c·(E − 1), v_U unchanged, c(s) = c·E.
// The preemption condition v_T(s) − v_U ≥ H·c(s) becomes
//
//     E ≥ (R_U − R_T + p·τ) / (p·τ − H),     so     s = τ · ln((R_U − R_T + p·τ) / (p·τ − H))
//
// (never, if p·τ ≤ H: T's R cannot exceed p·τ). preempt_deadline() returns T₀ + s, for a
// one-shot timer; nothing is due between events, so no periodic tick is needed.
//
// ## Waking threads
//
// A detached thread keeps (R, time): on attach its R is decayed by the time it was away
// (R·e^−Δ/τ, exact, independent of any CPU's c), then raised to at least
// (the CPU's lowest R among current and runnable) − wake_credit. So a thread that slept is
// picked promptly — it preempts a hog when its R is more than H below the hog's, which the
// credit (2H by default) guarantees after a long sleep — but can then run at most about
// wake_credit + H before the others get the CPU back: not starved, not starving.
//
// A new thread (never attached) has not slept and gets no credit: it starts at the CPU's
// lowest R. With the credit it would preempt its creator at once, and keep a lead of
// credit − H over the threads it works with for about τ·ln 2 (~140 ms): each hand-off to it
// (a futex or condvar wake-up, usually with the lock still held) would then preempt the waker
// only to find the lock taken, costing two more switches per hand-off.
//
// ## Concurrency
//
// None. A FairRunQueue belongs to one CPU and is touched only by it (with preemption disabled,
// once bound to real CPUs); cross-CPU wake-ups arrive through wakeup_queue.h and are attached
// by the owner. Nothing here allocates, blocks or fails.
#pragma once

#include <lib/intrusive_avl.h>
#include <sched/float_math.h>
#include <stddef.h>
#include <stdint.h>

namespace sched {

// Monotonic time in nanoseconds, as read from the clock source by the caller.
using Nanos = int64_t;
inline constexpr Nanos kNever = INT64_MAX;

struct FairParams {
    double tau_ns = 200e6;        // decay time constant τ
    double hysteresis_ns = 5e6;   // H: lead a runnable thread needs before it preempts
    double wake_credit_ns = 10e6; // how far below the CPU's minimum a waking thread may land
    int renormalize_exponent = 64; // renormalise when c ≥ 2^this (1..960)
};

// A CPU's normalisation factor c(T) = c₀·e^(T/τ), kept in [0.5, 2^renormalize_exponent).
class FairClock {
public:
    FairClock(const FairParams& params, Nanos now);

    // The result of moving the clock forward. `shift` ≥ 0: every stored value attached to this
    // CPU must be multiplied by 2^−shift (renormalisation; 0 = none). `c_before` is c at the
    // previous update, already multiplied by 2^−shift, and `c_after` the new c, so a thread
    // that ran across the interval adds p·τ·(c_after − c_before) per (★).
    struct Step {
        double c_before;
        double c_after;
        int64_t shift;
    };

    // Precondition: now ≥ last_update() (earlier times are treated as now = last_update()).
    // The common case is inline: a step of less than τ/4096 (e^x is then a short polynomial)
    // that does not reach the renormalisation bound. It gives the same bits as the general
    // path, which handles everything.
    Step advance(Nanos now)
    {
        Step step;
        if (try_advance_short(now, step))
            return step;
        return advance_general(now);
    }

    // The inline common case of advance(): false (and nothing changed) if it does not apply.
    bool try_advance_short(Nanos now, Step& step)
    {
        if (now <= m_last)
            return false;
        double x = double(now - m_last) / m_params.tau_ns;
        if (!(x < math::kSmallExpArgument))
            return false;
        double c = m_c * math::exp_small(x);
        if (!(c < m_bound)) // binary exponent at renormalize_exponent or above: a shift is due
            return false;
        step = {m_c, c, 0};
        m_c = c;
        m_last = now;
        return true;
    }

    // Renormalises immediately regardless of the bound (tests; c becomes [0.5, 1)).
    int64_t renormalize_now();

    double c() const { return m_c; }
    Nanos last_update() const { return m_last; }
    const FairParams& params() const { return m_params; }

private:
    Step advance_general(Nanos now);

    FairParams m_params;
    double m_bound; // 2^renormalize_exponent
    double m_c = 1.0;
    Nanos m_last;
};

struct FairTreeTag {};

// Per-thread state of the fair class. Embedded in (a base of) the thread; the run queue links
// it intrusively, so attaching never allocates.
struct FairEntity : lib::AvlLink<FairTreeTag> {
    // Unique among the entities that can share a run queue (breaks ties between equal keys).
    uint64_t id = 0;
    // > 0; lower = more CPU. Change it only while detached or through FairRunQueue::set_priority.
    double priority = 1.0;

    // The fields below belong to the run queue the entity is attached to (or, while detached,
    // to whoever holds it: the thread's own wake-up path).
    double stored = 0;           // v = R·c, valid while attached (runnable or running)
    double detached_runtime = 0; // R at detached_at, valid while detached
    Nanos detached_at = 0;
    bool attached = false;
    // Never attached yet: placed at the floor, without the sleeper's credit (see attach()).
    bool is_new = true;
};

// Tree key: (v, id). Renormalisation rewrites v in place; it preserves the order exactly.
struct FairKey {
    double stored;
    uint64_t id;
    bool operator<(const FairKey& o) const { return stored < o.stored || (stored == o.stored && id < o.id); }
};
struct FairKeyOf {
    FairKey operator()(const FairEntity& e) const { return {e.stored, e.id}; }
};
using FairTree = lib::IntrusiveAvlTree<FairEntity, FairKeyOf, FairTreeTag>;

// One CPU's fair run queue: the runnable entities in a tree by (v, id), plus the running one
// (`current`, kept outside the tree because its v changes as it runs).
//
// Every operation taking `now` first charges the current entity and advances the clock to
// `now` (update()); `now` must not go backwards. O(log n) each, except renormalisation, which
// is O(n) but happens about once per 9 s of CPU time at the default bound (c = 2^64).
class FairRunQueue {
public:
    FairRunQueue(const FairParams& params, Nanos now) : m_clock(params, now) {}
    FairRunQueue(const FairRunQueue&) = delete;
    FairRunQueue& operator=(const FairRunQueue&) = delete;

    // Charges the current entity up to `now` per (★) and renormalises when c crossed its bound.
    // Most calls in a scheduling operation repeat the same `now`, with nothing to charge: that
    // test is inline.
    void update(Nanos now)
    {
        if (now > m_clock.last_update())
            charge(now);
    }

    // Makes a detached entity runnable here: a new thread (detached_runtime 0), one waking from
    // sleep, or one migrating in. Applies the decay for its time away and the wake placement
    // described in the header. Does not preempt; ask should_preempt() afterwards.
    void attach(FairEntity& e, Nanos now);

    // Removes a runnable (not running) entity, e.g. to migrate it: records its R and `now`, so
    // another CPU can attach() it later.
    void detach(FairEntity& e, Nanos now);

    // The current entity stops being runnable (blocks, sleeps, exits): charges and detaches it.
    // Afterwards there is no current entity.
    void detach_current(Nanos now);

    // The current entity stays runnable but stops running (the CPU switches to a real-time
    // thread or the caller will pick explicitly): it goes back into the tree.
    void requeue_current(Nanos now);

    // Picks the entity with the lowest R among the runnable ones and the current one and makes
    // it current (requeueing the previous current). nullptr when nothing is attached.
    FairEntity* schedule(Nanos now);

    // Makes a specific runnable entity current (requeueing the previous one). For callers whose
    // choice overrides the policy (directed hand-off, tests replaying a given schedule).
    void switch_to(FairEntity& e, Nanos now);

    // Whether the lowest runnable R is more than H below the current's (false without both).
    bool should_preempt(Nanos now)
    {
        update(now);
        FairEntity* first = m_tree.first();
        if (!m_current || !first)
            return false;
        // v_T − v_U > H·c  ⇔  R_T − R_U > H (c > 0).
        return m_current->stored - first->stored > m_clock.params().hysteresis_ns * m_clock.c();
    }

    // Absolute time at which should_preempt() becomes true if nothing else happens: `now` if
    // it already is, kNever without a current entity, without a runnable one, or if the current
    // one can never lose its lead (p·τ ≤ H). Program the CPU's one-shot timer with it.
    Nanos preempt_deadline(Nanos now);

    // Changes an attached entity's priority from now on (its R so far is kept).
    void set_priority(FairEntity& e, double priority, Nanos now);

    // R of an attached entity as of the last update.
    double runtime(const FairEntity& e) const { return e.stored / m_clock.c(); }
    // R of a detached entity at `now` (≥ its detached_at).
    double detached_runtime_at(const FairEntity& e, Nanos now) const;

    FairEntity* current() const { return m_current; }
    // The runnable entity with the lowest R (not the current one), or nullptr.
    FairEntity* first_runnable() const { return m_tree.first(); }
    size_t runnable_count() const { return m_tree.size(); }
    const FairClock& clock() const { return m_clock; }
    const FairTree& tree() const { return m_tree; }

    // Forces a renormalisation now (tests; normally update() does it when due).
    void renormalize_now(Nanos now);

private:
    void charge(Nanos now); // update() for a `now` past the clock's last update
    void charge_general(Nanos now);
    void apply_shift(int64_t shift);
    void make_current(FairEntity& e);

    FairClock m_clock;
    FairTree m_tree;
    FairEntity* m_current = nullptr;
    // Placement floor in stored-value space: the highest "lowest stored value" seen at a
    // placement. Never decreases except by renormalisation (scaled with everything else).
    double m_floor = 0;
};

} // namespace sched
