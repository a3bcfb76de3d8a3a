// The fair class: decayed run time accounting, placement and preemption (see fair.h).
#include <sched/fair.h>

#include <lib/assert.h>
#include <sched/fixed_math.h>

namespace sched {

using math::u128;

namespace {

constexpr uint64_t kLog2eQ63 = 0xb8aa3b295c17f0bcull; // log2 e, Q63
constexpr uint64_t kLn2Q64 = 0xb17217f7d1cf79acull;   // ln 2, Q64

// x·2^(from − to): moves a V from epoch `from` to epoch `to`. Moving to a later epoch drops
// low bits; to an earlier one (another CPU that renormalised less often) cannot overflow,
// because V stays below R·C·kPriorityOne of the destination clock (fair.h).
u128 rebase(u128 x, int64_t from, int64_t to)
{
    if (from == to)
        return x;
    if (to > from)
        return to - from >= 128 ? 0 : x >> (to - from);
    int64_t up = from - to;
    NIMBUS_ASSERT(up < math::clz128(x) || x == 0);
    return x == 0 ? 0 : x << up;
}

} // namespace

FairClock::FairClock(const FairParams& params, Nanos now) : m_params(params), m_last(now > 0 ? now : 0)
{
    NIMBUS_ASSERT(params.tau_ns >= (Nanos(1) << 21) && params.tau_ns <= (Nanos(1) << 36));
    NIMBUS_ASSERT(params.renormalize_exponent >= 1 && params.renormalize_exponent <= 63 - kFraction);
    uint64_t tau = uint64_t(params.tau_ns);
    // rate = 2^(64 + kRateShift) · log2 e / τ: below 2^64 for τ ≥ 2^21 (about 2^57 at 200 ms,
    // so T/(τ·ln 2) is exact to ~2^−57 relative).
    m_rate = math::div_u128(u128(kLog2eQ63) << (1 + kRateShift), tau);
    m_tau_ln2_q24 = uint64_t((u128(tau) * kLn2Q64) >> 40);
    m_inv_tau = math::div_u128(u128(1) << 64, tau);
    m_short_limit = tau / 4096;
    m_bound = uint64_t(1) << (kFraction + params.renormalize_exponent);
    Position p = position(m_last);
    m_shift = p.doublings;
    m_c = math::exp2_frac(p.fraction) >> (63 - kFraction);
}

FairClock::Step FairClock::advance_general(Nanos now)
{
    if (now <= m_last)
        return {m_c, m_c, 0};
    m_last = now;
    // C(now) from scratch (which also resynchronises the short steps' drift). Past the bound
    // (or after a long idle period): renormalise so that C(now) lies in [2^47, 2^48); C at
    // the previous update moves to the same epoch.
    Position p = position(now);
    int64_t j = p.doublings - m_shift;
    int64_t shift = 0;
    if (j >= m_params.renormalize_exponent) {
        shift = j;
        j = 0;
    }
    uint64_t c_before = shift >= 64 ? 0 : m_c >> shift;
    m_shift += shift;
    uint64_t c = math::exp2_frac(p.fraction) >> (63 - kFraction - j);
    if (c < c_before)
        c = c_before;
    m_c = c;
    return {c_before, c, shift};
}

int64_t FairClock::renormalize_now()
{
    int64_t shift = 63 - __builtin_clzll(m_c) - kFraction;
    m_c >>= shift;
    m_shift += shift;
    return shift;
}

uint64_t FairClock::canonical_at(Nanos now, int64_t* shift) const
{
    Position p = position(now > m_last ? now : m_last);
    *shift = p.doublings;
    return math::exp2_frac(p.fraction) >> (63 - kFraction);
}

FairRunQueue::FairRunQueue(const FairParams& params, Nanos now) : m_clock(params, now)
{
    NIMBUS_ASSERT(params.hysteresis_ns >= 0 && params.wake_credit_ns >= 0);
    Nanos credit = params.wake_credit_ns < (Nanos(1) << 40) ? params.wake_credit_ns : (Nanos(1) << 40);
    Nanos h = params.hysteresis_ns < (Nanos(1) << 40) ? params.hysteresis_ns : (Nanos(1) << 40);
    m_hysteresis = uint64_t(h) * kPriorityOne;
    m_wake_credit = uint64_t(credit) * kPriorityOne;
}

void FairRunQueue::apply_shift(int64_t shift)
{
    if (shift == 0)
        return;
    // Shifting is monotone but can make two keys equal whose ids are in the opposite order:
    // such a key is raised by one unit, so the in-order sequence of (V, id) stays strictly
    // increasing and the keys can be rewritten in place.
    bool have_prev = false;
    u128 prev = 0;
    uint64_t prev_id = 0;
    for (FairEntity& e : m_tree) {
        u128 v = shift >= 128 ? 0 : e.stored >> shift;
        if (have_prev && (v < prev || (v == prev && e.id < prev_id)))
            v = e.id < prev_id ? prev + 1 : prev;
        e.stored = v;
        prev = v;
        prev_id = e.id;
        have_prev = true;
    }
    if (m_current)
        m_current->stored = shift >= 128 ? 0 : m_current->stored >> shift;
    m_floor = shift >= 128 ? 0 : m_floor >> shift;
}

void FairRunQueue::charge(Nanos now)
{
    // The common case needs no call; the rest is charge_general.
    FairClock::Step step;
    if (!m_clock.try_advance_short(now, step)) {
        charge_general(now);
        return;
    }
    if (m_current)
        m_current->stored += u128(growth(*m_current)) * (step.c_after - step.c_before);
}

[[gnu::noinline]] void FairRunQueue::charge_general(Nanos now)
{
    FairClock::Step step = m_clock.advance(now);
    if (step.shift != 0)
        apply_shift(step.shift);
    if (m_current)
        m_current->stored += u128(growth(*m_current)) * (step.c_after - step.c_before);
}

void FairRunQueue::renormalize_now(Nanos now)
{
    update(now);
    apply_shift(m_clock.renormalize_now());
}

uint64_t FairRunQueue::runtime(const FairEntity& e) const
{
    // R = V / (C·kPriorityOne); in units of 2^−16 ns: V·2^16 / (C·2^10).
    return math::div_u128(e.stored << (kRuntimeFraction - 10), m_clock.c());
}

uint64_t FairRunQueue::detached_runtime_at(const FairEntity& e, Nanos now) const
{
    int64_t shift;
    uint64_t c = m_clock.canonical_at(now, &shift);
    return math::div_u128(rebase(e.stored, e.epoch, shift) << (kRuntimeFraction - 10), c);
}

[[gnu::always_inline]] inline u128 FairRunQueue::place(FairEntity& e)
{
    // Its R has decayed while it was away: V is unchanged in C's units; only a renormalisation
    // since (here or on the CPU it left) is a shift.
    u128 v = rebase(e.stored, e.epoch, m_clock.shift());
    // Wake placement: no lower than (the CPU's lowest R) − credit, where "lowest" is a floor
    // that never moves down in V (like a minimum virtual run time): without it each placement
    // would lower the reference for the next, and of several threads made runnable in a row
    // the last would get all the credits stacked.
    bool any = false;
    u128 lowest = 0;
    if (m_current) {
        lowest = m_current->stored;
        any = true;
    }
    if (FairEntity* first = m_tree.first()) {
        lowest = any && lowest < first->stored ? lowest : first->stored;
        any = true;
    }
    if (any && lowest > m_floor)
        m_floor = lowest;
    if (any || m_floor > 0) {
        // New: no credit (see fair.h).
        u128 credit = e.is_new ? 0 : u128(m_wake_credit) * m_clock.c();
        u128 floor_v = m_floor > credit ? m_floor - credit : 0;
        if (v < floor_v)
            v = floor_v;
    }
    return v;
}

void FairRunQueue::attach(FairEntity& e, Nanos now)
{
    NIMBUS_ASSERT(!e.attached && e.priority > 0 && e.priority <= kPriorityMax);
    update(now);
    e.stored = place(e);
    e.attached = true;
    e.is_new = false;
    bool inserted = m_tree.insert(e);
    NIMBUS_ASSERT(inserted); // ids are unique
}

void FairRunQueue::hand_off(FairEntity& e, Nanos now)
{
    NIMBUS_ASSERT(m_current && m_tree.size() == 0);
    NIMBUS_ASSERT(!e.attached && e.priority > 0 && e.priority <= kPriorityMax);
    update(now);
    u128 v = place(e); // with the blocking entity still current, as attach() before it blocks
    FairEntity& prev = *m_current;
    prev.epoch = m_clock.shift();
    prev.attached = false;
    e.stored = v;
    e.attached = true;
    e.is_new = false;
    m_current = &e;
}

void FairRunQueue::detach(FairEntity& e, Nanos now)
{
    NIMBUS_ASSERT(e.attached && &e != m_current);
    update(now);
    m_tree.erase(e);
    e.epoch = m_clock.shift();
    e.attached = false;
}

void FairRunQueue::detach_current(Nanos now)
{
    NIMBUS_ASSERT(m_current);
    update(now);
    FairEntity& e = *m_current;
    m_current = nullptr;
    e.epoch = m_clock.shift();
    e.attached = false;
}

void FairRunQueue::requeue_current(Nanos now)
{
    update(now);
    if (!m_current)
        return;
    bool inserted = m_tree.insert(*m_current);
    NIMBUS_ASSERT(inserted);
    m_current = nullptr;
}

void FairRunQueue::make_current(FairEntity& e)
{
    m_tree.erase(e);
    m_current = &e;
}

FairEntity* FairRunQueue::schedule(Nanos now)
{
    requeue_current(now);
    FairEntity* next = m_tree.first();
    if (next)
        make_current(*next);
    return next;
}

void FairRunQueue::switch_to(FairEntity& e, Nanos now)
{
    NIMBUS_ASSERT(e.attached);
    if (&e == m_current) {
        update(now);
        return;
    }
    requeue_current(now);
    make_current(e);
}

Nanos FairRunQueue::preempt_deadline(Nanos now)
{
    if (should_preempt(now))
        return now;
    FairEntity* first = m_tree.first();
    if (!m_current || !first)
        return kNever;
    uint64_t p_tau = growth(*m_current);
    if (p_tau <= m_hysteresis)
        return kNever;
    // C must reach (V_U − V_T + P·C) / (P − H'); s = τ·ln 2 · log2(that / C) (fair.h). The
    // numerator is positive: not preempting means V_T − V_U ≤ H'·C < P·C. (P − H')·C < 2^119.
    uint64_t c = m_clock.c();
    u128 num = first->stored + u128(p_tau) * c - m_current->stored;
    int64_t doublings = math::log2_q32(num) - math::log2_q32(u128(p_tau - m_hysteresis) * c); // Q32
    if (doublings <= 0)
        return now;
    u128 s = (u128(uint64_t(doublings)) * m_clock.tau_ln2_q24()) >> 56;
    if (s >= u128(100'000'000'000'000'000)) // ~3 years: never
        return kNever;
    // Round up (s was truncated) and add 1 ns so that at the deadline the lead has certainly
    // run out; if rounding still leaves it a hair short, the caller's next preempt_deadline()
    // returns ~now + 2.
    return now + Nanos(s) + 2;
}

void FairRunQueue::set_priority(FairEntity& e, uint32_t priority, Nanos now)
{
    NIMBUS_ASSERT(priority > 0 && priority <= kPriorityMax);
    // Charges the current entity at its old priority up to now; V itself does not depend on
    // the priority, only its future growth does, so the tree stays valid.
    update(now);
    e.priority = priority;
}

} // namespace sched
