// WaitRecord: one blocked thread's entry in a wait list, living on that thread's stack.
#pragma once

#include <sync/thread_ops.h>

#include <atomic>

namespace ksync {

// A thread that must wait builds a WaitRecord in its own stack frame, links it into a wait
// list (a mutex's MpscWaitList, a condition variable's FIFO) and parks until someone grants
// it. No allocation, so waiting cannot fail.
//
// Hand-over rule: grant() is the last time the granter may touch the record. As soon as the
// waiter sees m_granted it returns and its stack frame — the record — is gone.
class WaitRecord {
public:
    explicit WaitRecord(Thread* thread) : m_thread(thread) {}
    WaitRecord(const WaitRecord&) = delete;
    WaitRecord& operator=(const WaitRecord&) = delete;

    // Waiter side: parks until granted. Spurious returns of park_current() loop here.
    void wait_granted()
    {
        // Acquire pairs with the release store in grant(): everything the granter (and
        // whoever it synchronised with, e.g. the mutex's previous owner) wrote before the
        // grant is visible once we see the flag.
        while (!m_granted.load(std::memory_order_acquire))
            park_current();
    }

    // Granter side: marks the record granted and wakes its thread. `self` is the granter's own
    // record, if it has one: granting yourself needs no wake-up.
    void grant(const WaitRecord* self = nullptr)
    {
        // Read everything we need before the flag: afterwards the record may be gone.
        Thread* thread = m_thread;
        // Release pairs with the acquire load in wait_granted().
        m_granted.store(true, std::memory_order_release);
        if (this != self)
            unpark(thread); // Thread storage outlives the wait (thread_ops.h lifetime rule).
    }

    bool is_granted() const
    {
        // Acquire pairs with the release store in grant(), as in wait_granted().
        return m_granted.load(std::memory_order_acquire);
    }

    Thread* thread() const { return m_thread; }

    // Link for whichever list holds the record; a record is on at most one list at a time.
    // Written only by the thread that inserts the record, before it publishes the record
    // (see MpscWaitList), or under the lock that protects the list (Condvar).
    WaitRecord* m_next = nullptr;

private:
    Thread* const m_thread;
    std::atomic<bool> m_granted{false};
};

} // namespace ksync
