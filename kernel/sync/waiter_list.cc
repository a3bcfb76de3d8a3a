// WaiterList: the lock-free wait list with delegated wake-ups and leavable records; the
// protocol and its correctness argument are at the top of waiter_list.h.
#include <sync/waiter_list.h>

#include <lib/assert.h>

namespace ksync {

void WaiterList::enqueue(Waiter& waiter)
{
    Waiter* head = m_incoming.load(std::memory_order_relaxed);
    do {
        waiter.m_next = head;
        // seq_cst: the waiter's store in the handshakes (waiter_list.h); its release part
        // pairs with the holder's acquire exchange in drain_incoming() (the record's fields).
    } while (!m_incoming.compare_exchange_weak(head, &waiter, std::memory_order_seq_cst,
                                               std::memory_order_relaxed));
    // The waiter's fence of the handshakes: orders the push before the caller's re-check of
    // its condition (or of the semaphore count). Pairs with the fence in has_waiters() and
    // the holder's fence after depositing units in run().
    std::atomic_thread_fence(std::memory_order_seq_cst);
}

bool WaiterList::sleep_until(Waiter& waiter, uint64_t deadline_ns)
{
    while (!waiter.is_woken()) {
        // false only when the deadline passed without a token (thread_ops.h): time to go.
        if (!park_current_until(deadline_ns))
            return leave(waiter);
    }
    return true;
}

bool WaiterList::leave(Waiter& waiter)
{
    uint32_t expected = Waiter::kWaiting;
    // Success relaxed: the holder reads nothing of ours through the state. Failure acquire:
    // pairs with the release CAS kWaiting → kWoken in serve_one() — woken after all.
    if (!waiter.m_state.compare_exchange_strong(expected, Waiter::kCancelled,
                                                std::memory_order_relaxed,
                                                std::memory_order_acquire)) {
        NIMBUS_ASSERT(expected == Waiter::kWoken);
        return true;
    }
    // The record is still linked (m_incoming or the FIFO); only a holder may unlink it. Our
    // request makes the current holder (or us) scan for it.
    post(kCancel, 0);
    // Acquire pairs with the release store of kRemoved in unlink_cancelled(): after it the
    // holder no longer touches the record, and our frame may go.
    while (waiter.m_state.load(std::memory_order_acquire) != Waiter::kRemoved)
        park_current();
    return false;
}

void WaiterList::wake(uint64_t count)
{
    post(0, count);
}

void WaiterList::wake_all()
{
    post(kAll, 0);
}

bool WaiterList::has_waiters() const
{
    // The waker's fence of the handshake: orders the caller's earlier writes (the condition,
    // or the units added to the sink) before the loads below. Pairs with enqueue()'s fence.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // Acquire (m_incoming) pairs with drain_incoming()'s release exchange: if we read the null
    // it left, its earlier m_has_fifo = true is visible to the next load.
    if (m_incoming.load(std::memory_order_acquire) != nullptr)
        return true;
    // Relaxed: ordered after the load above by its acquire; see waiter_list.h.
    return m_has_fifo.load(std::memory_order_relaxed);
}

void WaiterList::post(uint64_t flags, uint64_t count)
{
    uint64_t state = m_state.load(std::memory_order_relaxed);
    uint64_t next;
    do {
        uint64_t total = (state >> kCountShift) + count;
        // Wake counts saturate harmlessly (more than every waiter); semaphore units must not.
        NIMBUS_ASSERT(m_sink == nullptr || total <= kCountMax);
        if (total > kCountMax)
            total = kCountMax;
        next = (total << kCountShift) | (state & (kAll | kCancel)) | flags | kBusy;
        // Release: publishes our request and what the caller wrote before it to the holder
        // (pairs with run()'s acquire exchange). Acquire: if we take the role, pairs with the
        // previous holder's release CAS in run() (its FIFO state becomes ours).
    } while (!m_state.compare_exchange_weak(state, next, std::memory_order_acq_rel,
                                            std::memory_order_relaxed));
    if ((state & kBusy) == 0)
        run();
}

// The holder's loop (waiter_list.h, "Roles"). We hold the role on entry.
void WaiterList::run()
{
    for (;;) {
        // Acquire pairs with the posters' release CASes: their requests, and the records they
        // pushed before posting (a leaving waiter's), are visible from here on.
        uint64_t state = m_state.exchange(kBusy, std::memory_order_acq_rel);
        drain_incoming();
        if (state & kCancel)
            remove_cancelled();
        uint64_t count = state >> kCountShift;
        if (state & kAll) {
            while (serve_one()) {
            }
        } else {
            while (count > 0 && serve_one())
                count--;
        }
        if (m_sink != nullptr) {
            // Units an acquirer deposited on its own (Semaphore::release's fast path, or an
            // acquirer giving back a second unit) go to queued waiters first.
            while (m_head != nullptr && take_sink_unit()) {
                if (!serve_one()) {
                    count++; // only cancelled records were left: the unit goes back below
                    break;
                }
            }
            if (count > 0) {
                // seq_cst: the holder's store in the units handshake (waiter_list.h). Release
                // pairs with the acquire CAS of whoever takes the units.
                m_sink->fetch_add(int64_t(count), std::memory_order_seq_cst);
                // Pairs with enqueue()'s fence: a record pushed before it is seen below, or
                // its acquirer sees the units.
                std::atomic_thread_fence(std::memory_order_seq_cst);
                if (m_incoming.load(std::memory_order_relaxed) != nullptr)
                    continue; // drain it and hand it a unit from the sink
            }
        } else {
            (void)count; // wake requests with nobody left to wake are dropped
        }
        // Relaxed: holder-only; the release CAS below (or the next drain's release exchange)
        // orders it for the next holder and for wakers (waiter_list.h).
        m_has_fifo.store(m_head != nullptr, std::memory_order_relaxed);
        uint64_t expected = kBusy;
        // Release pairs with the acquire of the next holder's CAS in post(). Relaxed on
        // failure: a request arrived; the exchange at the loop's top takes it (acquire).
        if (m_state.compare_exchange_strong(expected, 0, std::memory_order_release,
                                            std::memory_order_relaxed))
            return;
    }
}

void WaiterList::drain_incoming()
{
    // Relaxed: a hint; the exchange is what synchronises.
    if (m_incoming.load(std::memory_order_relaxed) == nullptr)
        return;
    // Before the exchange: a waker that reads the null we leave must see the records are in
    // the FIFO (has_waiters()). Relaxed; the exchange's release orders it.
    m_has_fifo.store(true, std::memory_order_relaxed);
    // acq_rel: acquire pairs with the pushes' release CAS (records' m_next, their fields);
    // release pairs with has_waiters()' acquire load (the store above).
    Waiter* lifo = m_incoming.exchange(nullptr, std::memory_order_acq_rel);
    // The stack is newest first; reverse it and append, oldest first.
    Waiter* fifo = nullptr;
    Waiter* last = lifo;
    while (lifo != nullptr) {
        Waiter* next = lifo->m_next;
        lifo->m_next = fifo;
        fifo = lifo;
        lifo = next;
    }
    if (fifo == nullptr)
        return;
    if (m_tail != nullptr)
        m_tail->m_next = fifo;
    else
        m_head = fifo;
    m_tail = last;
}

void WaiterList::remove_cancelled()
{
    Waiter* prev = nullptr;
    Waiter* waiter = m_head;
    while (waiter != nullptr) {
        Waiter* next = waiter->m_next;
        // Relaxed: kCancelled is only a mark (the waiter publishes nothing through it); a
        // record cancelled after this load brings its own kCancel request.
        if (waiter->m_state.load(std::memory_order_relaxed) == Waiter::kCancelled) {
            if (prev != nullptr)
                prev->m_next = next;
            else
                m_head = next;
            if (m_tail == waiter)
                m_tail = prev;
            unlink_cancelled(waiter);
        } else {
            prev = waiter;
        }
        waiter = next;
    }
}

// Pops the oldest record and wakes it; cancelled records met on the way are removed.
// Whether one was woken.
bool WaiterList::serve_one()
{
    while (Waiter* waiter = m_head) {
        m_head = waiter->m_next;
        if (m_head == nullptr)
            m_tail = nullptr;
        // Read before the CAS: afterwards the record may be gone (waiter_list.h, states).
        Thread* thread = waiter->m_thread;
        uint32_t expected = Waiter::kWaiting;
        // Release pairs with the waiter's acquire in is_woken() / leave()'s failed CAS: the
        // wake's data (and a Semaphore unit's) is visible to it. Relaxed on failure: it
        // cancelled, and told us nothing through the state.
        if (waiter->m_state.compare_exchange_strong(expected, Waiter::kWoken,
                                                    std::memory_order_release,
                                                    std::memory_order_relaxed)) {
            if (thread != current_thread())
                unpark(thread); // Thread storage outlives the wait (thread_ops.h).
            return true;
        }
        unlink_cancelled(waiter);
    }
    return false;
}

// `waiter` was cancelled by its thread and has just been unlinked by us: let it go.
void WaiterList::unlink_cancelled(Waiter* waiter)
{
    Thread* thread = waiter->m_thread;
    // Release pairs with leave()'s acquire load: our last touch of the record.
    waiter->m_state.store(Waiter::kRemoved, std::memory_order_release);
    if (thread != current_thread())
        unpark(thread);
}

bool WaiterList::take_sink_unit()
{
    int64_t units = m_sink->load(std::memory_order_relaxed);
    // Acquire pairs with the release of the deposit (Semaphore::release, or run()): the
    // depositor's writes travel on with the unit to the waiter we hand it to.
    while (units > 0) {
        if (m_sink->compare_exchange_weak(units, units - 1, std::memory_order_acquire,
                                          std::memory_order_relaxed))
            return true;
    }
    return false;
}

} // namespace ksync
