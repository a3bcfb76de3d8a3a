// One CPU's run queue across scheduling classes: real-time (FIFO/RR, by priority) first, then
// the fair class; round-robin slice accounting; the preemption decision and the tickless
// deadline for whichever class is running.
//
// Pick order: the highest-priority runnable RT entity (a running RT entity counts at its own
// priority and keeps its place at the head of its level when it is preempted — POSIX), else the
// fair entity with the lowest decayed run time. A runnable RT entity always preempts a fair
// one; a fair entity never preempts an RT one. An RR entity whose slice ran out goes behind the
// others at its priority with a fresh slice; alone at its priority it just gets a fresh slice.
// The fair clock keeps running while RT entities run, so fair entities' run time decays then.
//
// Not synchronised: owned by one CPU. Never allocates or fails; misuse (attaching twice,
// blocking without a current entity) asserts.
#pragma once

#include <lib/assert.h>
#include <sched/fair.h>
#include <sched/rt.h>

namespace sched {

// The scheduling state a thread embeds.
struct Entity : FairEntity, RtEntity {
    Policy policy = Policy::Fair;
};

struct RunQueueParams {
    FairParams fair;
    Nanos rr_slice_ns = 100'000'000; // SCHED_RR time slice (Linux's default, 100 ms)
};

class RunQueue {
public:
    RunQueue(const RunQueueParams& params, Nanos now) : m_params(params), m_fair(params.fair, now), m_last(now) {}
    RunQueue(const RunQueue&) = delete;
    RunQueue& operator=(const RunQueue&) = delete;

    // Charges the current entity (fair run time, RR slice) up to `now`. A scheduling
    // operation calls it several times with the same `now`: that case is inline (the fair
    // clock is never behind m_last, and only an RR slice needs a look at equal times).
    void update(Nanos now)
    {
        if (m_current && m_current->policy == Policy::RoundRobin) {
            update_general(now);
        } else if (now > m_last) { // update_general() without a slice to charge
            m_last = now;
            m_fair.update(now);
        }
    }

    // Makes a detached entity runnable here (new, woken, migrated in). Does not switch; ask
    // should_preempt() afterwards (true at once for an RT entity above the current one).
    // The methods below are inline where the common case (fair entities) is short: they run
    // on every context switch.
    void wake(Entity& e, Nanos now)
    {
        update(now);
        if (e.policy == Policy::Fair)
            m_fair.attach(e, now);
        else
            wake_rt(e);
    }

    // The current entity blocks or exits; there is no current entity until schedule().
    void block_current(Nanos now)
    {
        NIMBUS_ASSERT(m_current);
        update(now);
        if (m_current->policy == Policy::Fair)
            m_fair.detach_current(now);
        m_current = nullptr;
    }

    // A directed hand-off: the current entity blocks and `next`, detached (a thread being
    // woken here), becomes current — block_current(), wake(next) and schedule() in one step,
    // with no run-queue insert, pick or erase. Only when that is what they would do: both are
    // fair and nothing else is runnable (so schedule() would pick `next`); otherwise false,
    // and nothing changed. Inline: the futex ping-pong's every switch.
    bool hand_off(Entity& next, Nanos now)
    {
        if (!m_current || m_current->policy != Policy::Fair || next.policy != Policy::Fair || !m_rt.empty() ||
            m_fair.runnable_count() != 0)
            return false;
        update(now);
        m_fair.hand_off(next, now);
        m_current = &next;
        return true;
    }

    // Removes a runnable, not running, entity (migration). A fair entity keeps its R.
    void remove(Entity& e, Nanos now);

    // The current entity gives up the CPU voluntarily: an RT entity goes behind its equals;
    // a fair entity lets the best other runnable fair entity run (if any, and no RT entity is
    // runnable), its accounting unchanged. Otherwise picks as schedule() does.
    Entity* yield(Nanos now);

    // Requeues the current entity (if still runnable) and makes the next one by pick order
    // current. nullptr: nothing runnable — idle.
    Entity* schedule(Nanos now);

    // Whether schedule() would now pick someone other than the current entity (with no current
    // entity: whether anything is runnable).
    bool should_preempt(Nanos now)
    {
        if (m_current && m_current->policy == Policy::Fair) {
            update(now);
            return !m_rt.empty() || m_fair.should_preempt(now);
        }
        return should_preempt_general(now);
    }

    // When should_preempt() becomes true if nothing else happens (now, a time, or kNever):
    // the RR slice end, or the fair lead's end. For the CPU's one-shot timer.
    Nanos preempt_deadline(Nanos now)
    {
        // The common case after a switch: a fair entity runs alone — nothing can preempt it.
        if (m_current && m_current->policy == Policy::Fair && m_rt.empty() && m_fair.runnable_count() == 0) {
            update(now);
            return kNever;
        }
        return preempt_deadline_general(now);
    }

    Entity* current() const { return m_current; }
    // The latest time the queue was updated to (no later than now).
    Nanos last_update() const { return m_last; }
    size_t runnable_count() const { return m_rt.size() + m_fair.runnable_count(); }
    FairRunQueue& fair() { return m_fair; }
    const RtRunQueue& rt() const { return m_rt; }

private:
    void update_general(Nanos now);
    void wake_rt(Entity& e);
    bool should_preempt_general(Nanos now);
    Nanos preempt_deadline_general(Nanos now);
    static Entity& of(RtEntity& e) { return static_cast<Entity&>(e); }
    static Entity& of(FairEntity& e) { return static_cast<Entity&>(e); }
    bool rr_expired() const;

    RunQueueParams m_params;
    FairRunQueue m_fair;
    RtRunQueue m_rt;
    Entity* m_current = nullptr;
    Nanos m_last;
};

} // namespace sched
