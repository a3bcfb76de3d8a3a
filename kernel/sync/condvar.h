// ksync::Condvar: a condition variable with wait morphing — a notified waiter is moved onto
// the mutex's wait list instead of being woken to fight for the mutex.
//
// Protocol.
//   wait(m): with m held, put a WaitRecord (on our stack) at the tail of the condvar's FIFO
//     (under m_lock, the condvar's own Mutex), release m, sleep until the record is granted.
//     A granted record means we own m again: return.
//   notify_one(): under m_lock unlink the oldest record; then Mutex::lock_for() acquires m on
//     the waiter's behalf — if m is held (the usual case: the notifier holds it) the record
//     joins m's wait list and the waiter is woken once, by the unlock that hands m to it; if
//     m is free the record is granted at once. notify_all() does this for every waiter.
//   So a waiter wakes exactly once, already owning the mutex: no thundering herd on
//   notify_all, no wake-up just to find the mutex held and sleep again.
//
// No lost wake-up. The record is on the condvar's list before wait() releases m. A notifier
// that changed the predicate under m therefore acquired m after our release, hence after our
// insertion, and finds the record (its m_waiter_count check is ordered by m, see notify).
// If the notifier morphs the record before our release has finished (it notifies without
// holding m), lock_for() counts the record in while we still hold m; our unlock then sees
// count > 1 and grants it — possibly to ourselves, which wait_granted() sees without sleeping.
//
// Lifetime. A record leaves the condvar list before it is handed to the mutex and is granted
// only by the mutex; the waiter cannot return in between, so neither list ever holds a dead
// record. The mutex a waiter waits with must outlive the wait (it is re-acquired on return).
// All concurrent waiters must use the same mutex (asserted); once the list is empty the
// condvar may be used with another one.
//
// Memory order: m_lock orders the list; the mutex's own protocol orders the hand-over of m;
// m_waiter_count is a relaxed hint (see notify_one()).
//
// Timeouts (TODO(#3)): wait_until(m, deadline) will, on expiry, take m_lock and unlink its
// record if it is still on the condvar list, then re-acquire m with an ordinary lock; if the
// record is gone a notifier has already passed it to the mutex, and it waits for the grant as
// usual. unlink_locked() is the hook for that.
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

    // Wakes the longest-waiting thread, if any, by handing it to its mutex.
    void notify_one() TA_EXCL(m_lock);
    // Wakes every thread waiting now, each by handing it to the mutex.
    void notify_all() TA_EXCL(m_lock);

private:
    void append_locked(WaitRecord* record) TA_REQ(m_lock);
    WaitRecord* take_all_locked() TA_REQ(m_lock);
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
