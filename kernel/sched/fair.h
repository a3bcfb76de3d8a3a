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
// ## Integer arithmetic
//
// The kernel has no FPU state of its own (it is built with -mgeneral-regs-only, so a system
// call never saves the application's SSE registers), so all of this is fixed point:
//
// * c is the integer C = c·2^47. Every CPU evaluates the same function of the monotonic
//   time, C(T) = 2^(47 − shift) · 2^(T/(τ·ln 2)), from scratch at each update (a 64×64-bit
//   product for T/(τ·ln 2), then fixed_math.h's exp2_frac): rounding errors never accumulate,
//   and since the charges of (★) telescope, a thread's total charge over any stretch of
//   running is p·τ·(C(end) − C(start)) with only the two end points rounded.
// * v is the 128-bit integer V = R·C·kPriorityOne (R in ns), and the priority the integer
//   p·kPriorityOne, so (★) is exact integer arithmetic: V += priority·τ·(C₁ − C₀).
// * `shift` is the CPU's renormalisation count (its epoch). CPUs differ only in it, so a
//   sleeping thread keeps V and the epoch it was detached in: on attach, anywhere, it is
//   shifted by the difference (usually 0) and has decayed exactly — no exp, no division.
//
// ## Renormalisation
//
// C grows by e per τ. When it reaches 2^(47 + renormalize_exponent) (default 16, every
// 16·τ·ln 2 ≈ 2.2 s of time), C and every attached thread's V are shifted right by the
// doublings since the last renormalisation, which brings C back to [2^47, 2^48). R loses
// at most 2^−47/kPriorityOne ns per shift. A shift can make two keys equal whose ids are in
// the other order, so the in-order walk that rewrites the keys in place raises such a key by
// one unit (2^−57 ns) to keep the tree sorted. A long idle period is folded into one shift.
// Threads that are not attached (sleeping, migrating) keep their own epoch, so
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
// one-shot timer; nothing is due between events, so no periodic tick is needed. In integers:
// s = τ·ln 2 · (log2(V_U − V_T + P·C) − log2((P − H')·C)) with P = priority·τ and
// H' = H·kPriorityOne, each log2 from fixed_math.h to 2^−32.
//
// ## Waking threads
//
// A detached thread keeps (V, epoch): on attach its R has decayed by the time it was away
// (R·e^−Δ/τ, exact, because C grew meanwhile), then it is raised to at least
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
#include <sched/fixed_math.h>
#include <stddef.h>
#include <stdint.h>

namespace sched {

// Monotonic time in nanoseconds, as read from the clock source by the caller (≥ 0).
using Nanos = int64_t;
inline constexpr Nanos kNever = INT64_MAX;

// Priorities are fixed point: kPriorityOne is p = 1 (lower = more CPU), 2·kPriorityOne gets
// half the CPU of a thread at kPriorityOne. Range [1, kPriorityMax] (p from 1/1024 to 1024).
inline constexpr uint32_t kPriorityOne = 1024;
inline constexpr uint32_t kPriorityMax = 1024 * kPriorityOne;

// R values reported by FairRunQueue::runtime() and detached_runtime_at(): ns · 2^−16.
inline constexpr int kRuntimeFraction = 16;

struct FairParams {
    Nanos tau_ns = 200'000'000;        // decay time constant τ, in [2^21, 2^36] ns
    Nanos hysteresis_ns = 5'000'000;   // H: lead a runnable thread needs before it preempts
    Nanos wake_credit_ns = 10'000'000; // how far below the CPU's minimum a waking thread may land
    int renormalize_exponent = 16;     // renormalise when C ≥ 2^(47 + this) (1..16)
};

// A CPU's normalisation factor C(T) = 2^(kFraction − shift) · e^(T/τ), kept in
// [2^kFraction, 2^(kFraction + renormalize_exponent)) by renormalisation (see the header).
class FairClock {
public:
    static constexpr int kFraction = 47; // c = C / 2^47

    FairClock(const FairParams& params, Nanos now);

    // The result of moving the clock forward. `shift` ≥ 0: every stored value attached to this
    // CPU must be shifted right by it (renormalisation; 0 = none). `c_before` is C at the
    // previous update, already shifted, and `c_after` the new C, so a thread that ran across
    // the interval adds priority·τ·(c_after − c_before) per (★).
    struct Step {
        uint64_t c_before;
        uint64_t c_after;
        int64_t shift;
    };

    // Precondition: now ≥ last_update() (earlier times are treated as now = last_update()).
    Step advance(Nanos now)
    {
        Step step;
        if (try_advance_short(now, step))
            return step;
        return advance_general(now);
    }

    // The inline common case of advance(): a step shorter than τ/4096 (e^x − 1 is then a cubic)
    // that does not reach the renormalisation bound. False (and nothing changed) otherwise.
    // It multiplies the previous C by e^x instead of evaluating C(now) from scratch: a third
    // of the work. The truncation (at most one unit of C, 2^−47 relative, per step) makes the
    // clock run a little slow between general steps, which resynchronise it to C(T) — the
    // drift is below 1e−8 relative after a million short steps, and it affects every thread
    // on the CPU alike.
    bool try_advance_short(Nanos now, Step& step)
    {
        uint64_t d = uint64_t(now - m_last);
        if (now <= m_last || d >= m_short_limit)
            return false;
        uint64_t x = d * m_inv_tau; // Q64, < 2^52
        // e^x − 1 = x + x·x·(1/2 + x/6); the next term is below 2^−36/24 relative.
        uint64_t em1 = x + math::mul_hi(x, math::mul_hi(x, (uint64_t(1) << 63) + math::mul_hi(x, kInv6)));
        uint64_t c = m_c + math::mul_hi(m_c, em1);
        if (c >= m_bound)
            return false;
        step = {m_c, c, 0};
        m_c = c;
        m_last = now;
        return true;
    }

    // Renormalises immediately regardless of the bound (tests; C becomes [2^47, 2^48)).
    int64_t renormalize_now();

    // C at `now` in the epoch where it lies in [2^47, 2^48), without changing the clock; the
    // epoch in *shift. For diagnostics (detached_runtime_at).
    uint64_t canonical_at(Nanos now, int64_t* shift) const;

    uint64_t c() const { return m_c; }
    int64_t shift() const { return m_shift; }
    Nanos last_update() const { return m_last; }
    const FairParams& params() const { return m_params; }
    // τ·ln 2 in ns, Q24 (preempt_deadline's conversion of doublings to time).
    uint64_t tau_ln2_q24() const { return m_tau_ln2_q24; }

private:
    // T/(τ·ln 2): whole doublings and the fraction of one (Q64).
    struct Position {
        int64_t doublings;
        uint64_t fraction;
    };
    static constexpr int kRateShift = 20;
    static constexpr uint64_t kInv6 = 0x2aaaaaaaaaaaaaabull; // 1/6, Q64
    Position position(Nanos t) const
    {
        math::u128 u = (math::u128(uint64_t(t)) * m_rate) >> kRateShift;
        return {int64_t(uint64_t(u >> 64)), uint64_t(u)};
    }
    Step advance_general(Nanos now);

    FairParams m_params;
    uint64_t m_rate;        // 2^(64 + kRateShift) / (τ·ln 2), per ns
    uint64_t m_tau_ln2_q24; // τ·ln 2 · 2^24
    uint64_t m_inv_tau;     // 2^64 / τ
    uint64_t m_short_limit; // τ / 4096: the longest step try_advance_short() takes
    uint64_t m_bound;       // 2^(kFraction + renormalize_exponent)
    uint64_t m_c;           // C(m_last) in epoch m_shift
    int64_t m_shift;        // doublings removed by renormalisation so far (the epoch)
    Nanos m_last;
};

struct FairTreeTag {};

// Per-thread state of the fair class. Embedded in (a base of) the thread; the run queue links
// it intrusively, so attaching never allocates.
struct FairEntity : lib::AvlLink<FairTreeTag> {
    // Unique among the entities that can share a run queue (breaks ties between equal keys).
    uint64_t id = 0;
    // In [1, kPriorityMax]; lower = more CPU. Change it only while detached or through
    // FairRunQueue::set_priority.
    uint32_t priority = kPriorityOne;

    // The fields below belong to the run queue the entity is attached to (or, while detached,
    // to whoever holds it: the thread's own wake-up path).
    math::u128 stored = 0; // V = R·C·kPriorityOne: in the run queue's epoch while attached,
    int64_t epoch = 0;     // in this one while detached
    bool attached = false;
    // Never attached yet: placed at the floor, without the sleeper's credit (see attach()).
    bool is_new = true;
};

// Tree key: (V, id). Renormalisation rewrites V in place, keeping the order (see the header).
struct FairKey {
    math::u128 stored;
    uint64_t id;
    bool operator<(const FairKey& o) const { return stored < o.stored || (stored == o.stored && id < o.id); }
};
struct FairKeyOf {
    FairKey operator()(const FairEntity& e) const { return {e.stored, e.id}; }
};
using FairTree = lib::IntrusiveAvlTree<FairEntity, FairKeyOf, FairTreeTag>;

// One CPU's fair run queue: the runnable entities in a tree by (V, id), plus the running one
// (`current`, kept outside the tree because its V changes as it runs).
//
// Every operation taking `now` first charges the current entity and advances the clock to
// `now` (update()); `now` must not go backwards. O(log n) each, except renormalisation, which
// is O(n) but happens about once per 2.2 s of time at the default bound.
class FairRunQueue {
public:
    FairRunQueue(const FairParams& params, Nanos now);
    FairRunQueue(const FairRunQueue&) = delete;
    FairRunQueue& operator=(const FairRunQueue&) = delete;

    // Charges the current entity up to `now` per (★) and renormalises when C crossed its bound.
    // Most calls in a scheduling operation repeat the same `now`, with nothing to charge: that
    // test is inline.
    void update(Nanos now)
    {
        if (now > m_clock.last_update())
            charge(now);
    }

    // Makes a detached entity runnable here: a new thread, one waking from sleep, or one
    // migrating in. Its R has decayed for its time away; then the wake placement described in
    // the header. Does not preempt; ask should_preempt() afterwards.
    void attach(FairEntity& e, Nanos now);

    // Removes a runnable (not running) entity, e.g. to migrate it: it keeps its V and this
    // CPU's epoch, so another CPU can attach() it later.
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

    // The current entity blocks and `e`, detached, takes its place: attach(e), detach_current()
    // and schedule() in one step, without the tree insert and erase. Precondition: a current
    // entity and no runnable one, so schedule() would pick `e` — the result is the same
    // (placement included: `e` is placed while the blocking entity is still current).
    void hand_off(FairEntity& e, Nanos now);

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
        // V_T − V_U > H·C·kPriorityOne  ⇔  R_T − R_U > H.
        return m_current->stored > first->stored + math::u128(m_hysteresis) * m_clock.c();
    }

    // Absolute time at which should_preempt() becomes true if nothing else happens: `now` if
    // it already is, kNever without a current entity, without a runnable one, or if the current
    // one can never lose its lead (p·τ ≤ H). Program the CPU's one-shot timer with it.
    Nanos preempt_deadline(Nanos now);

    // Changes an attached entity's priority from now on (its R so far is kept).
    void set_priority(FairEntity& e, uint32_t priority, Nanos now);

    // R of an attached entity as of the last update, in ns · 2^−kRuntimeFraction. Diagnostics
    // and tests: it divides (slowly), the scheduling decisions never need it.
    uint64_t runtime(const FairEntity& e) const;
    // R of a detached entity at `now` (≥ the time it was detached), in the same unit.
    uint64_t detached_runtime_at(const FairEntity& e, Nanos now) const;

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
    // attach()'s wake placement of `e` (clock already updated): its V in this CPU's epoch.
    math::u128 place(FairEntity& e);
    void make_current(FairEntity& e);
    // priority·τ: the growth of V per unit of C while running (fits 64 bits: ≤ 2^56).
    uint64_t growth(const FairEntity& e) const { return uint64_t(e.priority) * uint64_t(m_clock.params().tau_ns); }

    FairClock m_clock;
    FairTree m_tree;
    FairEntity* m_current = nullptr;
    uint64_t m_hysteresis;  // H·kPriorityOne: V per unit of C
    uint64_t m_wake_credit; // wake_credit·kPriorityOne, likewise (clamped to 2^40 ns)
    // Placement floor in V: the highest "lowest V" seen at a placement. Never decreases except
    // by renormalisation (shifted with everything else).
    math::u128 m_floor = 0;
};

} // namespace sched
