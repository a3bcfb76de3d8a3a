// ksync::WaitQueue: sleep until a condition holds, optionally with a deadline — the primitive
// drivers and the scheduler block on. Wakers never block and may run with preemption
// disabled (the interrupt threads' path), so the queue takes no sleeping Mutex anywhere.
//
// How it works. A waiter builds a Waiter record on its stack and queues it on a WaiterList
// (waiter_list.h: lock-free push; wake-ups served by whichever thread holds the list's holder
// role, never waited for). The protocol — including the race between a wake and a timeout,
// and why a timed-out waiter's stack record can never be reached by a waker after it returns
// — is argued at the top of waiter_list.h. Here:
//
//   wait_until(deadline, pred):
//     pred() true?              → return true (no record, no fence)
//     enqueue record (push + seq_cst fence)
//     pred() true?              → leave (remove the record, or find it woken) → true
//     sleep until woken or the deadline; on timeout leave
//     pred() true?              → true;  timed out → false;  else go round again
//   wake_one()/wake_all(): seq_cst fence; if no record is visible, return (the common,
//     cheap case); else post a wake request.
//
// No lost wake-up: a waker that made pred() true *before* calling wake_* either is seen by
// the waiter's second pred() check, or sees the waiter's record (the fence handshake in
// waiter_list.h). So the usual rule holds: change the state, then wake. Wake-ups are not
// remembered: a wake with nobody queued is a no-op (the predicate is the memory).
//
// The state pred() reads must be atomics or protected by a lock the waker also takes, and
// the waker must write it before calling wake_*. pred() runs in the waiter's thread, with
// nothing held, possibly several times; it should be cheap and free of side effects.
#pragma once

#include <lib/assert.h>
#include <sync/thread_ops.h>
#include <sync/waiter_list.h>

namespace ksync {

// Context: wait/wait_until block — thread context, preemption and interrupts enabled
// (asserted, unless pred() is already true). wake_one/wake_all never block, allocate or
// sleep: callable from any thread, including with preemption or interrupts disabled.
// constexpr-constructible; must outlive its waiters; needs no destruction.
class WaitQueue {
public:
    constexpr WaitQueue() = default;
    WaitQueue(const WaitQueue&) = delete;
    WaitQueue& operator=(const WaitQueue&) = delete;

    // Sleeps until pred() is true.
    template<typename Pred>
    void wait(Pred pred)
    {
        wait_until(kNoDeadline, pred);
    }

    // Sleeps until pred() is true (returns true) or now_ns() >= deadline_ns with pred() still
    // false (returns false). A deadline in the past checks pred() once and does not sleep.
    template<typename Pred>
    bool wait_until(uint64_t deadline_ns, Pred pred)
    {
        if (pred())
            return true;
        NIMBUS_ASSERT(can_block());
        if (deadline_ns != kNoDeadline && now_ns() >= deadline_ns)
            return false;
        for (;;) {
            Waiter waiter(current_thread());
            m_list.enqueue(waiter);
            if (pred()) {
                m_list.leave(waiter);
                return true;
            }
            bool woken = m_list.sleep_until(waiter, deadline_ns);
            // The record is off the list here (woken, or removed by leave()).
            if (pred())
                return true;
            if (!woken || now_ns() >= deadline_ns)
                return false;
        }
    }

    // Wakes the longest-waiting thread, if any (it re-checks its predicate).
    void wake_one();
    // Wakes every thread waiting now.
    void wake_all();

private:
    WaiterList m_list;
};

} // namespace ksync
