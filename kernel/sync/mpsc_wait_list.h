// MpscWaitList: an intrusive lock-free queue of WaitRecords, many pushers, one consumer.
//
// Protocol. Pushers prepend to a LIFO list with a CAS on m_push_head (a Treiber-stack push).
// The consumer keeps a private FIFO list m_pop_head; when it runs dry it detaches the whole
// LIFO list with one exchange and reverses it. Records therefore leave in arrival order within
// each detached batch, and a batch is always older than any record pushed after it. The
// consumer may also put a record at the very front (push_front(): Mutex re-queues a woken
// waiter that lost there).
//
// Linearisation points: push — its successful CAS. pop — the read of m_pop_head when it is
// non-empty, otherwise the exchange of m_push_head (which also linearises an empty result).
//
// ABA. The push CAS compares only the head pointer and writes only the new record's own
// m_next; it never reads through the old head. If the head went A→…→A between the load and
// the CAS, A is the current head when the CAS succeeds, and linking the record in front of
// it is still right. The consumer never compares pointers: it takes everything with an
// exchange. So records (which sit on waiters' stacks and come back at the same address every
// time a thread waits again) may be reused freely.
//
// Single consumer. pop() and the consumer-side state are used by one thread at a time; the
// caller (Mutex: the thread holding the waker role) provides that exclusion
// and the happens-before between successive consumers.
//
// Progress: push is lock-free (its CAS fails only because another push succeeded); pop is
// wait-free.
#pragma once

#include <sync/wait_record.h>

#include <atomic>

namespace ksync {

class MpscWaitList {
public:
    constexpr MpscWaitList() = default;
    MpscWaitList(const MpscWaitList&) = delete;
    MpscWaitList& operator=(const MpscWaitList&) = delete;

    // Any thread. The record must not be on a list; it belongs to the list until popped.
    void push(WaitRecord* record)
    {
        WaitRecord* head = m_push_head.load(std::memory_order_relaxed);
        do {
            record->m_next = head;
            // seq_cst: besides publishing the record (release, pairs with the exchange in
            // pop()), this store takes part in the Mutex's store→load handshake with the
            // wake token (pairs with the seq_cst load in maybe_nonempty() on one side and
            // with Mutex's seq_cst load of the token on the other; see mutex.h).
        } while (!m_push_head.compare_exchange_weak(head, record, std::memory_order_seq_cst,
                                                    std::memory_order_relaxed));
    }

    // Consumer only. The oldest record, or nullptr if the list is empty.
    WaitRecord* pop()
    {
        if (m_pop_head == nullptr) {
            // seq_cst (acquire is what the data needs: pairs with the release part of the CAS
            // in push(), making the records' m_next fields visible); seq_cst keeps this
            // exchange in the single total order that mutex.h's handshake argument uses.
            WaitRecord* lifo = m_push_head.exchange(nullptr, std::memory_order_seq_cst);
            WaitRecord* fifo = nullptr;
            while (lifo != nullptr) {
                WaitRecord* next = lifo->m_next;
                lifo->m_next = fifo;
                fifo = lifo;
                lifo = next;
            }
            m_pop_head = fifo;
        }
        WaitRecord* record = m_pop_head;
        if (record != nullptr)
            m_pop_head = record->m_next;
        return record;
    }

    // Consumer only: puts `record` (on no list) in front of every other, so that the next pop()
    // returns it — unless it is popped back at once (the caller changed its mind).
    void push_front(WaitRecord* record)
    {
        record->m_next = m_pop_head;
        m_pop_head = record;
    }

    // Any thread: whether a push may have happened that the consumer has not detached yet.
    // The consumer's private list is not looked at, so this is only meaningful to a consumer
    // that has just emptied it (Mutex::wake_slow).
    bool maybe_nonempty() const
    {
        // seq_cst: pairs with the seq_cst CAS in push() — the load half of mutex.h's
        // store→load handshake.
        return m_push_head.load(std::memory_order_seq_cst) != nullptr;
    }

private:
    std::atomic<WaitRecord*> m_push_head{nullptr}; // LIFO, shared with pushers
    WaitRecord* m_pop_head = nullptr;              // FIFO, consumer-private
};

} // namespace ksync
