// WaitRecord: one blocked thread's entry in a wait list, living on that thread's stack.
#pragma once

#include <sync/thread_ops.h>

#include <atomic>

namespace ksync {

// A thread that must wait builds a WaitRecord in its own stack frame, links it into a wait
// list (a mutex's MpscWaitList, a condition variable's FIFO) and parks until someone grants
// it. No allocation, so waiting cannot fail. A grant carries a small non-zero value whose
// meaning belongs to the list's owner (Mutex: "you own the mutex" or "you were woken").
//
// Hand-over rule: grant() is the last time the granter may touch the record. As soon as the
// waiter sees the grant it may return — or rearm() the record and queue it again — so the
// record, as the granter knew it, is gone.
class WaitRecord {
public:
    explicit WaitRecord(Thread* thread) : m_thread(thread) {}
    WaitRecord(const WaitRecord&) = delete;
    WaitRecord& operator=(const WaitRecord&) = delete;

    // Waiter side: parks until granted and returns the grant. Spurious returns of
    // park_current() loop here.
    unsigned wait_granted()
    {
        for (;;) {
            // Acquire pairs with the release store in grant(): everything the granter (and
            // whoever it synchronised with, e.g. the mutex's previous owner) wrote before the
            // grant is visible once we see it.
            if (unsigned grant = m_grant.load(std::memory_order_acquire))
                return grant;
            park_current();
        }
    }

    // Granter side: grants the record with `grant` (non-zero) and wakes its thread. `self` is
    // the granter's own record, if it has one: granting yourself needs no wake-up.
    void grant(unsigned grant, const WaitRecord* self = nullptr)
    {
        // Read everything we need before the grant: afterwards the record may be gone.
        Thread* thread = m_thread;
        // Release pairs with the acquire load in wait_granted() / is_granted().
        m_grant.store(grant, std::memory_order_release);
        if (this != self)
            unpark(thread); // Thread storage outlives the wait (thread_ops.h lifetime rule).
    }

    bool is_granted() const
    {
        // Acquire pairs with the release store in grant(), as in wait_granted().
        return m_grant.load(std::memory_order_acquire) != 0;
    }

    // Waiter side, after a grant: makes the record ungranted again so that it can be queued
    // once more. Relaxed: nobody else touches the record now (hand-over rule); the next list
    // insertion publishes it (MpscWaitList::push is a release).
    void rearm() { m_grant.store(0, std::memory_order_relaxed); }

    Thread* thread() const { return m_thread; }

    // Link for whichever list holds the record; a record is on at most one list at a time.
    // Written only by the thread that inserts the record, before it publishes the record
    // (see MpscWaitList), or under the lock that protects the list (Condvar).
    WaitRecord* m_next = nullptr;

private:
    Thread* const m_thread;
    std::atomic<unsigned> m_grant{0};
};

} // namespace ksync
