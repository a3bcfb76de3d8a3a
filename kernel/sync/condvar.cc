// ksync::Condvar: the condition variable with wait morphing; protocol in condvar.h.
#include <sync/condvar.h>

#include <lib/assert.h>

namespace ksync {

void Condvar::append_locked(WaitRecord* record)
{
    record->m_next = nullptr;
    if (m_tail != nullptr)
        m_tail->m_next = record;
    else
        m_head = record;
    m_tail = record;
    // Relaxed: the count is only modified under m_lock; notify_one() explains its lock-free read.
    m_waiter_count.fetch_add(1, std::memory_order_relaxed);
}

WaitRecord* Condvar::take_all_locked()
{
    WaitRecord* all = m_head;
    m_head = nullptr;
    m_tail = nullptr;
    m_mutex = nullptr;
    m_waiter_count.store(0, std::memory_order_relaxed); // relaxed: as in append_locked()
    return all;
}

bool Condvar::unlink_locked(WaitRecord* record)
{
    WaitRecord* prev = nullptr;
    for (WaitRecord* r = m_head; r != nullptr; prev = r, r = r->m_next) {
        if (r != record)
            continue;
        if (prev != nullptr)
            prev->m_next = r->m_next;
        else
            m_head = r->m_next;
        if (m_tail == r)
            m_tail = prev;
        if (m_head == nullptr)
            m_mutex = nullptr;
        m_waiter_count.fetch_sub(1, std::memory_order_relaxed); // relaxed: as in append_locked()
        return true;
    }
    return false;
}

void Condvar::enqueue(Mutex& mutex, WaitRecord* record)
{
    WITH_LOCK(m_lock) {
        NIMBUS_ASSERT(m_mutex == nullptr || m_mutex == &mutex);
        m_mutex = &mutex;
        append_locked(record);
    }
}

void Condvar::wait(Mutex& mutex)
{
    NIMBUS_ASSERT(can_block());
    Thread* self = current_thread();
    WaitRecord record(self);
    enqueue(mutex, &record);
    // From here a notifier may hand the record to `mutex` at any time, even before the
    // release below has finished (condvar.h, "No lost wake-up").
    mutex.release_for_wait(self, record);
    mutex.lock_granted(self, record, record.wait_granted());
}

bool Condvar::wait_until(Mutex& mutex, uint64_t deadline_ns) TA_NO_ANALYSIS // re-locks `mutex` itself
{
    NIMBUS_ASSERT(can_block());
    Thread* self = current_thread();
    WaitRecord record(self);
    enqueue(mutex, &record);
    mutex.release_for_wait(self, record);
    while (!record.is_granted()) {
        // false: the deadline passed and no token came (thread_ops.h).
        if (park_current_until(deadline_ns))
            continue;
        bool unlinked = false;
        WITH_LOCK(m_lock) {
            unlinked = unlink_locked(&record);
        }
        if (unlinked) {
            // No notifier can reach the record any more: take the mutex back like any locker.
            mutex.lock();
            return false;
        }
        // A notifier moved the record to the mutex first; the mutex grants it (condvar.h).
        break;
    }
    mutex.lock_granted(self, record, record.wait_granted());
    return true;
}

void Condvar::notify_one()
{
    // Relaxed: a waiter that this call must wake counted itself in under m_lock before it
    // released its mutex, and our caller changed the predicate under that mutex afterwards,
    // so the increment happens-before this load and the load sees it or a later value
    // (write-read coherence). A waiter not so ordered may be missed by any condvar. Saves
    // m_lock on the common notify-with-no-waiters path.
    if (m_waiter_count.load(std::memory_order_relaxed) == 0)
        return;
    WaitRecord* record = nullptr;
    Mutex* mutex = nullptr;
    WITH_LOCK(m_lock) {
        record = m_head;
        if (record == nullptr)
            return;
        mutex = m_mutex;
        m_head = record->m_next;
        if (m_head == nullptr) {
            m_tail = nullptr;
            m_mutex = nullptr;
        }
        m_waiter_count.fetch_sub(1, std::memory_order_relaxed); // relaxed: as in append_locked()
    }
    // Outside m_lock: lock_for() never blocks, but it may wake a thread; no reason to hold up
    // other waiters and notifiers meanwhile. The record's thread cannot return before the
    // grant, so the record stays valid.
    mutex->lock_for(*record);
}

void Condvar::notify_all()
{
    // Relaxed: as in notify_one().
    if (m_waiter_count.load(std::memory_order_relaxed) == 0)
        return;
    WaitRecord* list = nullptr;
    Mutex* mutex = nullptr;
    WITH_LOCK(m_lock) {
        mutex = m_mutex;
        list = take_all_locked();
    }
    // Oldest first, so the mutex reaches them roughly in the order they waited.
    while (list != nullptr) {
        // Read the link first: once lock_for() has queued or granted the record it belongs to
        // the mutex (and may be gone).
        WaitRecord* next = list->m_next;
        mutex->lock_for(*list);
        list = next;
    }
}

} // namespace ksync
