// ksync::Mutex: the lock-free sleeping mutex. The protocol and its correctness argument are at
// the top of mutex.h; the comments here point back to it.
#include <sync/mutex.h>

#include <lib/assert.h>

namespace ksync {

namespace {

#if defined(NIMBUS_HOST)
std::atomic<test_hooks::MutexHook> g_mutex_hook{nullptr};
#endif

inline void report(const Mutex* mutex, MutexEvent event)
{
#if defined(NIMBUS_HOST)
    // Relaxed: tests set the hook before starting the threads that use it (thread creation
    // orders the two); the hook is a plain function, nothing else is published through it.
    if (test_hooks::MutexHook hook = g_mutex_hook.load(std::memory_order_relaxed))
        hook(mutex, event);
#else
    (void)mutex;
    (void)event;
#endif
}

} // namespace

#if defined(NIMBUS_HOST)
void test_hooks::set_mutex_hook(MutexHook hook)
{
    // Relaxed: see report().
    g_mutex_hook.store(hook, std::memory_order_relaxed);
}
#endif

bool Mutex::is_held() const
{
    // Relaxed: only the calling thread ever stores itself here, so comparing with ourselves
    // needs no ordering (mutex.h, ABA: m_owner). The same holds for every m_owner access below.
    return m_owner.load(std::memory_order_relaxed) == current_thread();
}

void Mutex::assert_held() const TA_NO_ANALYSIS // the primitive itself
{
    NIMBUS_ASSERT(is_held());
}

unsigned Mutex::depth() const
{
    NIMBUS_ASSERT(is_held());
    return m_depth;
}

void Mutex::become_owner(Thread* self)
{
    m_owner.store(self, std::memory_order_relaxed); // relaxed: see is_held()
    m_depth = 1;
}

void Mutex::lock() TA_NO_ANALYSIS // the primitive itself
{
    NIMBUS_ASSERT(can_block());
    Thread* self = current_thread();
    if (m_owner.load(std::memory_order_relaxed) == self) { // relaxed: see is_held()
        NIMBUS_ASSERT(m_depth != ~0u);
        ++m_depth;
        return;
    }
    // Acquire pairs with the release fetch_sub in unlock() that brought the count to 0 (the
    // release sequence covers fetch_adds in between).
    if (m_count.fetch_add(1, std::memory_order_acquire) == 0) {
        become_owner(self);
        return;
    }
    lock_slow(self);
}

void Mutex::lock_slow(Thread* self)
{
    report(this, MutexEvent::LockContended);
    WaitRecord record(self);
    m_waiters.push(&record);
    take_handoff(&record);
    if (!record.is_granted())
        report(this, MutexEvent::LockWaiting);
    record.wait_granted();
    become_owner(self);
}

// The locker's side of the handshake (mutex.h, "No lost wake-up"): after pushing a record,
// take a published token if there is one, and pass the mutex to the oldest waiter. Returns
// whether we took a token.
bool Mutex::take_handoff(const WaitRecord* own)
{
    // seq_cst: pairs with the seq_cst store of the token in hand_off(); together with the
    // seq_cst push just before, at least one side sees the other.
    unsigned token = m_handoff.load(std::memory_order_seq_cst);
    if (token == 0)
        return false;
    // Acquire pairs with the release (part of seq_cst) store of the token in hand_off(): the
    // previous owner's writes, m_sequence and the list's consumer state become ours. Relaxed
    // on failure: another thread took the token and is responsible; we learn nothing.
    if (!m_handoff.compare_exchange_strong(token, 0, std::memory_order_acquire,
                                           std::memory_order_relaxed))
        return false;
    report(this, MutexEvent::HandoffTakenByLocker);
    // Responsible now. The list holds at least the record pushed before the load above:
    // nobody was responsible between the token's publication and our CAS to pop it.
    WaitRecord* next = m_waiters.pop();
    NIMBUS_ASSERT(next != nullptr);
    next->grant(own);
    return true;
}

bool Mutex::try_lock() TA_NO_ANALYSIS // the primitive itself
{
    Thread* self = current_thread();
    if (m_owner.load(std::memory_order_relaxed) == self) { // relaxed: see is_held()
        NIMBUS_ASSERT(m_depth != ~0u);
        ++m_depth;
        return true;
    }
    int expected = 0;
    // Acquire pairs with the release fetch_sub in unlock(), as in lock(). Relaxed on failure:
    // we only learn that the count was non-zero.
    if (m_count.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
        become_owner(self);
        return true;
    }
    // Between owners with a token published ((c) in mutex.h) the mutex is free: take the token.
    // Relaxed: only a hint; the CAS below is what synchronises.
    unsigned token = m_handoff.load(std::memory_order_relaxed);
    if (token == 0)
        return false;
    // Acquire pairs with the token's release store in hand_off(), as in take_handoff().
    if (!m_handoff.compare_exchange_strong(token, 0, std::memory_order_acquire,
                                           std::memory_order_relaxed))
        return false;
    report(this, MutexEvent::TryLockTookHandoff);
    // Responsible, and the owner. Count ourselves in before our unlock's fetch_sub (which
    // follows in program order). The count cannot reach 0 meanwhile: the thread whose
    // fetch_add made the releasing owner publish the token is still inside. Relaxed: we are
    // already synchronised through the token; the release for the next owner is our unlock.
    m_count.fetch_add(1, std::memory_order_relaxed);
    become_owner(self);
    return true;
}

void Mutex::unlock() TA_NO_ANALYSIS // the primitive itself
{
    // Relaxed: see is_held(). Unlocking a mutex you do not hold is a kernel bug.
    NIMBUS_ASSERT(m_owner.load(std::memory_order_relaxed) == current_thread());
    if (--m_depth > 0)
        return;
    m_owner.store(nullptr, std::memory_order_relaxed); // relaxed: see is_held()
    // Release pairs with the acquire fetch_add / CAS of the next fast-path owner (lock(),
    // try_lock(), lock_for()).
    if (m_count.fetch_sub(1, std::memory_order_release) == 1)
        return;
    hand_off();
}

// The releasing owner's slow path (mutex.h, "unlock()"). We are responsible on entry.
void Mutex::hand_off()
{
    report(this, MutexEvent::UnlockContended);
    // At most two rounds, barring a 2^32 token wrap (mutex.h, "Progress").
    for (;;) {
        if (WaitRecord* next = m_waiters.pop()) {
            next->grant();
            return;
        }
        // Someone counted in but has not pushed yet. Leave the mutex to whoever comes next
        // rather than wait for it.
        report(this, MutexEvent::HandoffListEmpty);
        // Relaxed: while we are responsible no token is published ((a) excludes (c)); a debug
        // check of the invariant, ordered by our responsibility like the rest of our state.
        NIMBUS_ASSERT(m_handoff.load(std::memory_order_relaxed) == 0);
        if (++m_sequence == 0)
            ++m_sequence;
        unsigned token = m_sequence;
        // seq_cst: the unlocker's store in the handshake; pairs with the seq_cst load in
        // take_handoff(). Its release part pairs with the acquire CAS of whoever takes the
        // token (take_handoff(), try_lock(), or us below).
        m_handoff.store(token, std::memory_order_seq_cst);
        report(this, MutexEvent::HandoffPublished);
        // From here on we are not responsible and must not touch the list's consumer side.
        // The re-check is seq_cst inside maybe_nonempty() (pairs with push()'s CAS).
        if (!m_waiters.maybe_nonempty())
            return;
        // A record appeared; its thread may have looked for a token before we published.
        // Take ours back. Acquire pairs with the release store of the token we take (ours,
        // or after a wrap another unlocker's). Relaxed on failure: someone else took it and
        // is responsible.
        if (!m_handoff.compare_exchange_strong(token, 0, std::memory_order_acquire,
                                               std::memory_order_relaxed))
            return;
        report(this, MutexEvent::HandoffTakenBack);
    }
}

void Mutex::lock_for(WaitRecord& record)
{
    // Acquire pairs with the release fetch_sub in unlock() that freed the mutex; grant()'s
    // release below passes that on to the waiting thread.
    if (m_count.fetch_add(1, std::memory_order_acquire) == 0) {
        report(this, MutexEvent::MorphGranted);
        record.grant();
        return;
    }
    // Exactly lock()'s slow path, except that the record's thread is already asleep.
    m_waiters.push(&record);
    report(this, MutexEvent::MorphQueued);
    take_handoff(nullptr);
}

void Mutex::release_for_wait() TA_NO_ANALYSIS // Condvar::wait holds it; TA cannot see that
{
    // Waiting while the mutex is held recursively would let others into the critical section
    // of the outer holder, which believes it still holds the mutex: a kernel bug.
    NIMBUS_ASSERT(is_held() && m_depth == 1);
    unlock();
}

void Mutex::adopt_granted(Thread* self)
{
    become_owner(self);
}

} // namespace ksync
