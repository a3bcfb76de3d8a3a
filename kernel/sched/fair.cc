// The fair class: decayed run time accounting, placement and preemption (see fair.h).
#include <sched/fair.h>

#include <lib/assert.h>
#include <sched/float_math.h>

namespace sched {

FairClock::FairClock(const FairParams& params, Nanos now)
    : m_params(params), m_bound(math::scale_pow2(1.0, params.renormalize_exponent)), m_last(now)
{
}

FairClock::Step FairClock::advance_general(Nanos now)
{
    Nanos elapsed = now > m_last ? now - m_last : 0;
    m_last = now > m_last ? now : m_last;
    if (elapsed == 0)
        return {m_c, m_c, 0};
    // c_after = c · e^x = (c · mantissa) · 2^exponent, computed without ever forming a value
    // beyond the bound: a huge exponent (long idle) goes straight into the shift.
    math::ExpSplit g = math::exp_split(double(elapsed) / m_params.tau_ns);
    double cm = m_c * g.mantissa;
    int64_t exponent = int64_t(math::binary_exponent(cm)) + g.exponent;
    int64_t shift = 0;
    if (exponent >= m_params.renormalize_exponent)
        shift = exponent + 1; // c_after in [0.5, 1)
    double c_before = math::scale_pow2(m_c, -shift);
    m_c = math::scale_pow2(cm, g.exponent - shift);
    return {c_before, m_c, shift};
}

int64_t FairClock::renormalize_now()
{
    int64_t shift = int64_t(math::binary_exponent(m_c)) + 1;
    m_c = math::scale_pow2(m_c, -shift);
    return shift;
}

void FairRunQueue::apply_shift(int64_t shift)
{
    if (shift == 0)
        return;
    // Exact and monotone, so the tree stays sorted and keys may be rewritten in place.
    for (FairEntity& e : m_tree)
        e.stored = math::scale_pow2(e.stored, -shift);
    if (m_current)
        m_current->stored = math::scale_pow2(m_current->stored, -shift);
    m_floor = math::scale_pow2(m_floor, -shift);
}

void FairRunQueue::charge(Nanos now)
{
    // The common case needs no call and no saved registers; the rest is charge_general.
    FairClock::Step step;
    if (!m_clock.try_advance_short(now, step)) {
        charge_general(now);
        return;
    }
    if (m_current)
        m_current->stored += m_current->priority * m_clock.params().tau_ns * (step.c_after - step.c_before);
}

[[gnu::noinline]] void FairRunQueue::charge_general(Nanos now)
{
    FairClock::Step step = m_clock.advance(now);
    if (step.shift != 0)
        apply_shift(step.shift);
    if (m_current)
        m_current->stored += m_current->priority * m_clock.params().tau_ns * (step.c_after - step.c_before);
}

void FairRunQueue::renormalize_now(Nanos now)
{
    update(now);
    apply_shift(m_clock.renormalize_now());
}

double FairRunQueue::detached_runtime_at(const FairEntity& e, Nanos now) const
{
    Nanos away = now > e.detached_at ? now - e.detached_at : 0;
    return e.detached_runtime * math::exp_of(-double(away) / m_clock.params().tau_ns);
}

void FairRunQueue::attach(FairEntity& e, Nanos now)
{
    NIMBUS_ASSERT(!e.attached && e.priority > 0);
    update(now);
    double r = detached_runtime_at(e, now);
    // Wake placement: no lower than (the CPU's lowest R) − credit, where "lowest" is a floor
    // that never moves down in stored-value space (like a minimum virtual run time): without
    // it each placement would lower the reference for the next, and of several threads made
    // runnable in a row the last would get all the credits stacked.
    bool any = false;
    double lowest_stored = 0;
    if (m_current) {
        lowest_stored = m_current->stored;
        any = true;
    }
    if (FairEntity* first = m_tree.first()) {
        lowest_stored = any && lowest_stored < first->stored ? lowest_stored : first->stored;
        any = true;
    }
    if (any && lowest_stored > m_floor)
        m_floor = lowest_stored;
    if (any || m_floor > 0) {
        double credit = e.is_new ? 0.0 : m_clock.params().wake_credit_ns; // new: see fair.h
        double floor_r = m_floor / m_clock.c() - credit;
        if (r < floor_r)
            r = floor_r;
    }
    if (r < 0)
        r = 0;
    e.stored = r * m_clock.c();
    e.attached = true;
    e.is_new = false;
    bool inserted = m_tree.insert(e);
    NIMBUS_ASSERT(inserted); // ids are unique
}

void FairRunQueue::detach(FairEntity& e, Nanos now)
{
    NIMBUS_ASSERT(e.attached && &e != m_current);
    update(now);
    m_tree.erase(e);
    e.detached_runtime = runtime(e);
    e.detached_at = now;
    e.attached = false;
}

void FairRunQueue::detach_current(Nanos now)
{
    NIMBUS_ASSERT(m_current);
    update(now);
    FairEntity& e = *m_current;
    m_current = nullptr;
    e.detached_runtime = runtime(e);
    e.detached_at = now;
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
    const FairParams& params = m_clock.params();
    double p_tau = m_current->priority * params.tau_ns;
    if (p_tau <= params.hysteresis_ns)
        return kNever;
    // s = τ·ln((R_U − R_T + pτ) / (pτ − H)); see the derivation in fair.h.
    double ratio = (runtime(*first) - runtime(*m_current) + p_tau) / (p_tau - params.hysteresis_ns);
    if (ratio <= 1.0)
        return now;
    double s = params.tau_ns * math::log_of(ratio);
    if (!(s < 1e17))
        return kNever;
    // Round up and add 1 ns so that at the deadline the lead has certainly run out; if rounding
    // still leaves it a hair short, the caller's next preempt_deadline() returns ~now + 1.
    return now + Nanos(s) + 1;
}

void FairRunQueue::set_priority(FairEntity& e, double priority, Nanos now)
{
    NIMBUS_ASSERT(priority > 0);
    // Charges the current entity at its old priority up to now; v itself does not depend on
    // the priority, only its future growth does, so the tree stays valid.
    update(now);
    e.priority = priority;
}

} // namespace sched
