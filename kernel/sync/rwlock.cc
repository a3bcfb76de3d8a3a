// ksync::RwLock: the writer-preferring sleeping reader/writer lock; protocol in rwlock.h.
#include <sync/rwlock.h>

#include <lib/assert.h>

namespace ksync {

// New readers may enter: no writer holds the lock and none waits (writer preference).
bool RwLock::readers_may_enter(uint64_t state)
{
    return (state & (kWriter | kWaitingWriterMask)) == 0;
}

bool RwLock::is_write_held() const
{
    // Relaxed: only the writer stores itself here, so comparing with ourselves needs no
    // ordering (as Mutex::is_held()).
    return m_writer.load(std::memory_order_relaxed) == current_thread();
}

bool RwLock::try_lock_shared() TA_NO_ANALYSIS // the primitive itself
{
    uint64_t state = m_state.load(std::memory_order_relaxed);
    while (readers_may_enter(state)) {
        NIMBUS_ASSERT((state & kReaderMask) != kReaderMask);
        // Acquire pairs with the release RMW of the last writer's unlock (read via the release
        // sequence of RMWs). Relaxed on failure: retry with the fresh value.
        if (m_state.compare_exchange_weak(state, state + kReader, std::memory_order_acquire,
                                          std::memory_order_relaxed))
            return true;
    }
    return false;
}

void RwLock::lock_shared() TA_NO_ANALYSIS // the primitive itself
{
    NIMBUS_ASSERT(can_block());
    if (try_lock_shared())
        return;
    lock_shared_slow();
}

void RwLock::lock_shared_slow() TA_NO_ANALYSIS // m_lock through a guard; TA cannot see m_state's rules
{
    MutexGuard guard(m_lock);
    uint64_t state = m_state.load(std::memory_order_relaxed);
    for (;;) {
        if (readers_may_enter(state)) {
            // Acquire: as in try_lock_shared().
            if (m_state.compare_exchange_weak(state, state + kReader, std::memory_order_acquire,
                                              std::memory_order_relaxed))
                return;
            continue;
        }
        if ((state & kReadersAsleep) == 0) {
            // Publish that readers sleep (rwlock.h, "No lost wake-up"). Relaxed: m_lock and
            // the RMW order in m_state carry everything.
            if (!m_state.compare_exchange_weak(state, state | kReadersAsleep,
                                               std::memory_order_relaxed,
                                               std::memory_order_relaxed))
                continue;
        }
        m_readers.wait(m_lock);
        state = m_state.load(std::memory_order_relaxed);
    }
}

void RwLock::unlock_shared() TA_NO_ANALYSIS // the primitive itself
{
    // Release pairs with the acquire CAS of the next writer.
    uint64_t state = m_state.fetch_sub(kReader, std::memory_order_release);
    NIMBUS_ASSERT((state & kReaderMask) != 0);
    if ((state & kReaderMask) == 1 && (state & kWaitingWriterMask) != 0) {
        // The last reader out, a writer waiting: it counted itself in with m_lock held and
        // is queued on m_writers (or will see readers == 0) once we get m_lock.
        MutexGuard guard(m_lock);
        m_writers.notify_one();
    }
}

bool RwLock::try_lock() TA_NO_ANALYSIS // the primitive itself
{
    NIMBUS_ASSERT(!is_write_held());
    uint64_t state = m_state.load(std::memory_order_relaxed);
    // Free of readers, writer and waiting writers; the asleep-readers bit may be set.
    while ((state & ~kReadersAsleep) == 0) {
        // Acquire pairs with the release RMW of the previous holder's unlock.
        if (m_state.compare_exchange_weak(state, state | kWriter, std::memory_order_acquire,
                                          std::memory_order_relaxed)) {
            become_writer();
            return true;
        }
    }
    return false;
}

void RwLock::lock() TA_NO_ANALYSIS // the primitive itself
{
    NIMBUS_ASSERT(can_block());
    if (try_lock())
        return;
    lock_slow();
}

void RwLock::lock_slow() TA_NO_ANALYSIS // m_lock through a guard; TA cannot see m_state's rules
{
    MutexGuard guard(m_lock);
    // Count in: from now on new readers queue behind us. Relaxed: m_lock and the RMW order.
    uint64_t state = m_state.fetch_add(kWaitingWriter, std::memory_order_relaxed) + kWaitingWriter;
    for (;;) {
        if ((state & (kReaderMask | kWriter)) == 0) {
            // Uncount and take it. Acquire pairs with the release RMW of the last unlock.
            if (m_state.compare_exchange_weak(state, (state - kWaitingWriter) | kWriter,
                                              std::memory_order_acquire,
                                              std::memory_order_relaxed)) {
                become_writer();
                return;
            }
            continue;
        }
        m_writers.wait(m_lock);
        state = m_state.load(std::memory_order_relaxed);
    }
}

void RwLock::become_writer()
{
    m_writer.store(current_thread(), std::memory_order_relaxed); // relaxed: is_write_held()
}

void RwLock::unlock() TA_NO_ANALYSIS // the primitive itself
{
    NIMBUS_ASSERT(is_write_held());
    m_writer.store(nullptr, std::memory_order_relaxed); // relaxed: is_write_held()
    // Release pairs with the next holder's acquire CAS.
    uint64_t state = m_state.fetch_and(~kWriter, std::memory_order_release);
    if ((state & kWaitingWriterMask) != 0) {
        MutexGuard guard(m_lock);
        m_writers.notify_one();
        return;
    }
    if ((state & kReadersAsleep) != 0) {
        MutexGuard guard(m_lock);
        // Clear the bit and wake them all; any that still cannot enter set it again with
        // m_lock held before they sleep. Relaxed: as in lock_shared_slow().
        m_state.fetch_and(~kReadersAsleep, std::memory_order_relaxed);
        m_readers.notify_all();
    }
}

} // namespace ksync
