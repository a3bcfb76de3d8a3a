// Real-time run queue (see rt.h).
#include <sched/rt.h>

#include <lib/assert.h>

namespace sched {

void RtRunQueue::mark(int priority, bool nonempty)
{
    uint64_t bit = uint64_t(1) << (priority % 64);
    if (nonempty)
        m_nonempty[priority / 64] |= bit;
    else
        m_nonempty[priority / 64] &= ~bit;
}

void RtRunQueue::push_back(RtEntity& e)
{
    NIMBUS_ASSERT(!e.rt_queued && e.rt_priority >= kRtPriorityMin && e.rt_priority <= kRtPriorityMax);
    Level& l = m_levels[e.rt_priority];
    e.rt_next = nullptr;
    e.rt_prev = l.tail;
    if (l.tail)
        l.tail->rt_next = &e;
    else
        l.head = &e;
    l.tail = &e;
    l.count++;
    e.rt_queued = true;
    m_size++;
    mark(e.rt_priority, true);
}

void RtRunQueue::push_front(RtEntity& e)
{
    NIMBUS_ASSERT(!e.rt_queued && e.rt_priority >= kRtPriorityMin && e.rt_priority <= kRtPriorityMax);
    Level& l = m_levels[e.rt_priority];
    e.rt_prev = nullptr;
    e.rt_next = l.head;
    if (l.head)
        l.head->rt_prev = &e;
    else
        l.tail = &e;
    l.head = &e;
    l.count++;
    e.rt_queued = true;
    m_size++;
    mark(e.rt_priority, true);
}

void RtRunQueue::remove(RtEntity& e)
{
    NIMBUS_ASSERT(e.rt_queued);
    Level& l = m_levels[e.rt_priority];
    if (e.rt_prev)
        e.rt_prev->rt_next = e.rt_next;
    else
        l.head = e.rt_next;
    if (e.rt_next)
        e.rt_next->rt_prev = e.rt_prev;
    else
        l.tail = e.rt_prev;
    e.rt_prev = e.rt_next = nullptr;
    e.rt_queued = false;
    l.count--;
    m_size--;
    if (l.count == 0)
        mark(e.rt_priority, false);
}

int RtRunQueue::highest_priority() const
{
    if (m_nonempty[1])
        return 64 + (63 - __builtin_clzll(m_nonempty[1]));
    if (m_nonempty[0])
        return 63 - __builtin_clzll(m_nonempty[0]);
    return 0;
}

RtEntity* RtRunQueue::highest() const
{
    int p = highest_priority();
    return p ? m_levels[p].head : nullptr;
}

size_t RtRunQueue::count_at(int priority) const
{
    if (priority < kRtPriorityMin || priority > kRtPriorityMax)
        return 0;
    return m_levels[priority].count;
}

} // namespace sched
