// Per-CPU run queue across classes (see run_queue.h).
#include <sched/run_queue.h>

#include <lib/assert.h>

namespace sched {

void RunQueue::update_general(Nanos now)
{
    Nanos elapsed = now > m_last ? now - m_last : 0;
    m_last = now > m_last ? now : m_last;
    m_fair.update(now);
    if (m_current && m_current->policy == Policy::RoundRobin) {
        m_current->rr_remaining -= elapsed;
        // Alone at its priority, an expired slice changes nothing: refill it.
        if (m_current->rr_remaining <= 0 && m_rt.count_at(m_current->rt_priority) == 0)
            m_current->rr_remaining = m_params.rr_slice_ns;
    }
}

bool RunQueue::rr_expired() const
{
    return m_current && m_current->policy == Policy::RoundRobin && m_current->rr_remaining <= 0;
}

void RunQueue::wake_rt(Entity& e)
{
    e.rr_remaining = m_params.rr_slice_ns;
    m_rt.push_back(e);
}

void RunQueue::remove(Entity& e, Nanos now)
{
    NIMBUS_ASSERT(&e != m_current);
    update(now);
    if (e.policy == Policy::Fair)
        m_fair.detach(e, now);
    else
        m_rt.remove(e);
}

Entity* RunQueue::yield(Nanos now)
{
    update(now);
    if (m_current && m_current->policy != Policy::Fair) {
        m_current->rr_remaining = m_params.rr_slice_ns;
        m_rt.push_back(*m_current);
        m_current = nullptr;
        return schedule(now);
    }
    // A yielding fair entity hands the CPU to the best other fair entity, if there is one and
    // no RT entity is waiting, without touching anyone's accounting: its own decayed run time
    // still decides when it runs next.
    if (m_current && m_rt.empty()) {
        if (FairEntity* other = m_fair.first_runnable()) {
            m_fair.switch_to(*other, now);
            m_current = &of(*other);
            return m_current;
        }
    }
    return schedule(now);
}

Entity* RunQueue::schedule(Nanos now)
{
    update(now);
    // Put a still-runnable RT current back: at the head of its level (it was preempted and
    // keeps its place), or at the tail with a fresh slice if its RR slice ran out.
    if (m_current && m_current->policy != Policy::Fair) {
        if (rr_expired()) {
            m_current->rr_remaining = m_params.rr_slice_ns;
            m_rt.push_back(*m_current);
        } else {
            m_rt.push_front(*m_current);
        }
        m_current = nullptr;
    }
    if (RtEntity* rt = m_rt.empty() ? nullptr : m_rt.highest()) { // usually empty: no call
        m_rt.remove(*rt);
        m_fair.requeue_current(now); // a fair current (if any) stays runnable
        m_current = &of(*rt);
        return m_current;
    }
    FairEntity* f = m_fair.schedule(now);
    m_current = f ? &of(*f) : nullptr;
    return m_current;
}

bool RunQueue::should_preempt_general(Nanos now)
{
    update(now);
    if (!m_current)
        return !m_rt.empty() || m_fair.runnable_count() != 0;
    if (m_current->policy == Policy::Fair)
        return !m_rt.empty() || m_fair.should_preempt(now);
    int top = m_rt.highest_priority();
    if (top > m_current->rt_priority)
        return true;
    return rr_expired() && top == m_current->rt_priority;
}

Nanos RunQueue::preempt_deadline_general(Nanos now)
{
    if (should_preempt(now))
        return now;
    if (!m_current)
        return kNever;
    if (m_current->policy == Policy::Fair)
        return m_fair.preempt_deadline(now);
    if (m_current->policy == Policy::RoundRobin && m_rt.count_at(m_current->rt_priority) != 0)
        return now + m_current->rr_remaining;
    return kNever;
}

} // namespace sched
