// ksync::Condvar: a condition variable with wait morphing — a notified waiter is moved onto
// the mutex's wait list instead of being woken to fight for the mutex.
//
// Protocol.
//   wait(m): with m held, put a WaitRecord (on our stack) at the tail of the condvar's FIFO
//     (under m_lock, the condvar's own Mutex), release m, sleep until the mutex grants the
//     record (below), then return owning m.
//   notify_one(): under m_lock unlink the oldest record; then Mutex::lock_for() acquires m on
//     the waiter's behalf — if m is free the record is granted "owned" at once; if m is held
//     (the usual case: the notifier holds it) the record joins m's wait list without waking
//     anyone, and is later woken like any sleeping locker of m. notify_all() does this for
//     every waiter.
//   A waiter granted "owned" returns owning m. A waiter granted "woken" competes for m exactly
//   as a woken locker does (Mutex::lock_granted): usually it takes m at once; if a running
//   thread got there first it re-queues at the front and sleeps again, or, past the mutex's
//   starvation bound, is handed m directly. Either way it returns owning m exactly once.
//   No thundering herd on notify_all: m wakes one queued record per release.
//
// No lost wake-up. The record is on the condvar's list before wait() releases m. A notifier
// that changed the predicate under m therefore acquired m after our release, hence after our
// insertion, and finds the record (its m_waiter_count check is ordered by m, see notify).
// If the notifier morphs the record before our release has finished (it notifies without
// holding m), lock_for() counts the record in while we still hold m; our unlock then sees a
// waiter and wakes one — possibly our own record, which wait_granted() sees without sleeping.
//
// Lifetime. A record leaves the condvar list before it is handed to the mutex and is granted
// only by the mutex; the waiter cannot return in between, so neither list ever holds a dead
// record. A "woken" waiter that re-queues reuses its record on the mutex (rearm()). The mutex a waiter waits with must outlive the wait (it is re-acquired on return).
// All concurrent waiters must use the same mutex (asserted); once the list is empty the
// condvar may be used with another one.
//
// Memory order: m_lock orders the list; the mutex's own protocol orders the hand-over of m;
// m_waiter_count is a relaxed hint (see notify_one()).
//
// Timeouts: wait_until(m, deadline) sleeps with park_current_until(). On expiry it takes
// m_lock and unlinks its record if it is still on the condvar list — then no notifier can
// reach it, and it re-acquires m with an ordinary lock and reports the timeout. If the
// record is gone, a notifier has already moved it to the mutex (lock_for): the mutex will
// grant it, and the waiter waits for that grant exactly as wait() does (the wake-up won the
// race; it reports "notified"). m_lock decides the race: a record is unlinked either by the
// notifier or by the timed-out waiter, never both. A token from the mutex's grant that
// arrives after a timed-out park is not lost (thread_ops.h); here it is at most a spurious
// wake-up later.
#pragma once

#include <sync/mutex.h>
#include <sync/thread_annotations.h>
#include <sync/wait_record.h>

#include <atomic>

namespace ksync {

// Context: wait() blocks (asserted: preemption and interrupts enabled). notify_* never block
// for long — they take the condvar's internal mutex briefly — and may be called with or
// without the waiters' mutex held; holding it is the usual way to avoid missing a waiter.
class Condvar {
public:
    constexpr Condvar() = default;
    Condvar(const Condvar&) = delete;
    Condvar& operator=(const Condvar&) = delete;

    // Releases `mutex`, sleeps until notified, and returns with `mutex` held again. May
    // return spuriously only in the sense every condvar does: callers re-check their
    // predicate in a loop. `mutex` must be held exactly once (not recursively) by the caller.
    void wait(Mutex& mutex) TA_REQ(mutex) TA_EXCL(m_lock);

    // wait() until pred() is true; pred runs with `mutex` held.
    template<typename Pred>
    void wait(Mutex& mutex, Pred pred) TA_REQ(mutex) TA_EXCL(m_lock)
    {
        while (!pred())
            wait(mutex);
    }

    // wait() with a deadline: returns true when notified, false when now_ns() >= deadline_ns
    // passed first. Either way it returns with `mutex` held (re-acquiring it after a timeout
    // may sleep past the deadline while someone else holds it). A deadline in the past still
    // releases and re-acquires the mutex.
    bool wait_until(Mutex& mutex, uint64_t deadline_ns) TA_REQ(mutex) TA_EXCL(m_lock);

    // wait_until() until pred() is true (returns true) or the deadline passed with pred()
    // false (returns false). pred runs with `mutex` held.
    template<typename Pred>
    bool wait_until(Mutex& mutex, uint64_t deadline_ns, Pred pred) TA_REQ(mutex) TA_EXCL(m_lock)
    {
        while (!pred()) {
            if (!wait_until(mutex, deadline_ns))
                return pred();
        }
        return true;
    }

    // Wakes the longest-waiting thread, if any, by handing it to its mutex.
    void notify_one() TA_EXCL(m_lock);
    // Wakes every thread waiting now, each by handing it to the mutex.
    void notify_all() TA_EXCL(m_lock);

private:
    void append_locked(WaitRecord* record) TA_REQ(m_lock);
    WaitRecord* take_all_locked() TA_REQ(m_lock);
    // Queues `record`; the first half of wait().
    void enqueue(Mutex& mutex, WaitRecord* record) TA_EXCL(m_lock);
    // Removes `record` if it is on the list; whether it was. For timeouts (see above).
    bool unlink_locked(WaitRecord* record) TA_REQ(m_lock);

    Mutex m_lock;
    WaitRecord* m_head TA_GUARDED(m_lock) = nullptr; // oldest waiter
    WaitRecord* m_tail TA_GUARDED(m_lock) = nullptr;
    Mutex* m_mutex TA_GUARDED(m_lock) = nullptr;     // the waiters' mutex, while any wait
    // Waiters on the list. Written under m_lock; read without it as a hint (notify_one()).
    std::atomic<unsigned> m_waiter_count{0};
};

} // namespace ksync
