// ksync::Semaphore: the counting semaphore with FIFO hand-off; protocol in semaphore.h.
#include <sync/semaphore.h>

#include <lib/assert.h>

namespace ksync {

bool Semaphore::try_acquire()
{
    int64_t units = m_count.load(std::memory_order_relaxed);
    while (units > 0) {
        // Acquire pairs with the release RMW that deposited the unit (release() or the list
        // holder's deposit); relaxed on failure: we just retry with the fresh value.
        if (m_count.compare_exchange_weak(units, units - 1, std::memory_order_acquire,
                                          std::memory_order_relaxed))
            return true;
    }
    return false;
}

void Semaphore::acquire()
{
    bool acquired = acquire_until(kNoDeadline);
    NIMBUS_ASSERT(acquired);
}

bool Semaphore::acquire_until(uint64_t deadline_ns)
{
    NIMBUS_ASSERT(can_block());
    if (try_acquire())
        return true;
    if (deadline_ns != kNoDeadline && now_ns() >= deadline_ns)
        return false;
    Waiter waiter(current_thread());
    m_waiters.enqueue(waiter); // includes the acquirer's fence of the units handshake
    if (try_acquire()) {
        // A unit reached m_count while we queued. Leave; if the holder handed our record a
        // unit as well, we hold two: give one back (to the next waiter, if any).
        if (m_waiters.leave(waiter))
            release(1);
        return true;
    }
    // true: the record was handed a unit (possibly just as the deadline passed).
    return m_waiters.sleep_until(waiter, deadline_ns);
}

void Semaphore::release(uint64_t n)
{
    if (n == 0)
        return;
    NIMBUS_ASSERT(n <= uint64_t(INT64_MAX));
    // Acquirers queued: hand the units over in FIFO order.
    if (m_waiters.has_waiters()) {
        m_waiters.wake(n);
        return;
    }
    // seq_cst: the depositor's store of the units handshake (waiter_list.h); its release part
    // pairs with the acquire CAS of whoever takes a unit.
    m_count.fetch_add(int64_t(n), std::memory_order_seq_cst);
    // has_waiters() fences, then looks: an acquirer that queued meanwhile either saw the units
    // or is seen here, and a holder round with no units hands it one from m_count.
    if (m_waiters.has_waiters())
        m_waiters.wake(0);
}

} // namespace ksync
