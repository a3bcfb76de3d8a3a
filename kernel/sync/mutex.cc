// ksync::Mutex: the lock-free sleeping mutex with barging. The protocol and its correctness
// argument are at the top of mutex.h; the comments here point back to it.
#include <sync/mutex.h>

#include <lib/assert.h>

namespace ksync {

namespace {

#if defined(NIMBUS_HOST)
std::atomic<test_hooks::MutexHook> g_mutex_hook{nullptr};
std::atomic<uint64_t> g_starvation_ns{Mutex::kStarvationNs};
#endif

inline uint64_t starvation_ns()
{
#if defined(NIMBUS_HOST)
    // Relaxed: like the hook, set before the threads that use it start.
    return g_starvation_ns.load(std::memory_order_relaxed);
#else
    return Mutex::kStarvationNs;
#endif
}

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

// A start time not taken yet (a condvar waiter's clock starts at its first wake).
constexpr uint64_t kNotStarted = ~uint64_t(0);

} // namespace

#if defined(NIMBUS_HOST)
void test_hooks::set_mutex_hook(MutexHook hook)
{
    // Relaxed: see report().
    g_mutex_hook.store(hook, std::memory_order_relaxed);
}

void test_hooks::set_starvation_ns(uint64_t ns)
{
    // Relaxed: see starvation_ns().
    g_starvation_ns.store(ns, std::memory_order_relaxed);
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

// lock() and unlock() are lock_inline() and unlock_inline() (mutex.h) out of line, but with
// their assertions tested first (which keeps them out of a stack frame on the fast path).
void Mutex::lock() TA_NO_ANALYSIS // the primitive itself
{
    NIMBUS_ASSERT(can_block());
    uint32_t state = 0;
    // Acquire and relaxed: as in lock_inline().
    if (m_state.compare_exchange_strong(state, kLocked, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
        become_owner(current_thread());
        return;
    }
    lock_slow(state);
}

void Mutex::unlock() TA_NO_ANALYSIS // the primitive itself
{
    // Relaxed: see is_held(). Unlocking a mutex you do not hold is a kernel bug.
    NIMBUS_ASSERT(m_owner.load(std::memory_order_relaxed) == current_thread());
    if (--m_depth > 0)
        return;
    release(nullptr);
}

// Out of line so that lock()'s fast path needs no stack frame for the record. Also where a
// caller that may not block ends up (lock() tests can_block() before its CAS).
__attribute__((noinline)) void Mutex::lock_slow(uint32_t state)
{
    NIMBUS_ASSERT(can_block());
    Thread* self = current_thread();
    if (m_owner.load(std::memory_order_relaxed) == self) { // relaxed: see is_held()
        NIMBUS_ASSERT(m_depth != ~0u);
        ++m_depth;
        return;
    }
    WaitRecord record(self);
    lock_contended(self, record, false, kNotStarted, state);
}

// The contended lock (mutex.h, "Roles: waiter"): take the mutex if it is free, otherwise count
// in, queue and sleep; after a "woken" grant, compete again. `woken`: we hold the waker role
// (a condvar waiter that lock_for() queued arrives here woken). `since`: when we first queued.
// `state`: a recent value of m_state (a guess is fine; a wrong one costs a failed CAS).
void Mutex::lock_contended(Thread* self, WaitRecord& record, bool woken, uint64_t since,
                           uint32_t state)
{
    bool starving = false;
    bool checked_age = false; // at most one now_ns() per wake
    for (;;) {
        if ((state & kLocked) == 0) {
            // Free: take it (barging past the counted waiters, if we are not the woken one).
            NIMBUS_ASSERT(!woken || (state & kWoken) != 0);
            uint32_t next = (state | kLocked) & ~(woken ? kWoken : 0u);
            // Acquire pairs with the release CAS of the unlock that cleared kLocked; release
            // (when woken) passes the waker role on (mutex.h, "Memory order").
            if (m_state.compare_exchange_weak(state, next,
                                              woken ? std::memory_order_acq_rel
                                                    : std::memory_order_acquire,
                                              std::memory_order_relaxed)) {
                if (!woken && state != 0)
                    report(this, MutexEvent::Barged);
                become_owner(self);
                return;
            }
            continue;
        }
        if (woken && !checked_age) {
            checked_age = true;
            uint64_t now = now_ns();
            if (since == kNotStarted)
                since = now;
            starving = now - since >= starvation_ns();
        }
        uint32_t next;
        if (starving) {
            // Ask the owner to hand the mutex to us (mutex.h, "Starvation bound"). We hold the
            // waker role, so kHandoff is clear and m_starving is ours to write.
            NIMBUS_ASSERT((state & kHandoff) == 0);
            m_starving = &record;
            next = (state | kHandoff) & ~kWoken;
        } else if (woken) {
            // Re-queue in front of everyone. We still hold the waker role, so the lists'
            // consumer side is ours until the CAS below passes the role on (and with it the
            // record, published by that CAS's release).
            m_waiters.push_front(&record);
            next = (state + kWaiterOne) & ~kWoken;
        } else {
            next = state + kWaiterOne;
        }
        // Release (when woken): passes the waker role on, with the re-queued record or
        // m_starving (the owner's acquire CAS that reads kHandoff). Relaxed otherwise:
        // counting in publishes nothing (the push below publishes the record). Relaxed on
        // failure: we re-decide from the value read.
        if (!m_state.compare_exchange_weak(state, next,
                                           woken ? std::memory_order_release
                                                 : std::memory_order_relaxed,
                                           std::memory_order_relaxed)) {
            if (woken && !starving)
                (void)m_waiters.pop(); // takes our record back off the front
            continue;
        }
        if (starving) {
            report(this, MutexEvent::Starving);
            unsigned grant = record.wait_granted();
            NIMBUS_ASSERT(grant == kGrantOwned);
            become_owner(self);
            return;
        }
        if (woken) {
            // Queued before we were counted in: no token can be owed to us (I2), and none can
            // be published while we held the role.
            report(this, MutexEvent::WokenLost);
        } else {
            report(this, MutexEvent::LockContended);
            if (since == kNotStarted)
                since = now_ns();
            m_waiters.push(&record);
            take_token(&record);
        }
        if (!record.is_granted())
            report(this, MutexEvent::LockWaiting);
        // Records on the list are only ever granted "woken" (W1/W3).
        unsigned grant = record.wait_granted();
        NIMBUS_ASSERT(grant == kGrantWoken);
        report(this, MutexEvent::LockWoken);
        record.rearm();
        woken = true;
        checked_age = false;
        // A guess: a woken waiter usually finds the mutex free with nobody else counted in.
        state = kWoken;
    }
}

// The waiter's side of the token handshake (mutex.h, "No lost wake-up"): after pushing a
// record, take a published token if there is one and do the waker's pop and grant (W3).
// `own`: the caller's record (nullptr for lock_for()). Returns whether we took a token.
inline bool Mutex::take_token(const WaitRecord* own)
{
    // seq_cst: pairs with the seq_cst token store in wake_slow(); together with the seq_cst
    // push just before, at least one side sees the other.
    unsigned token = m_token.load(std::memory_order_seq_cst);
    return token != 0 && take_token_slow(token, own);
}

__attribute__((noinline)) bool Mutex::take_token_slow(unsigned token, const WaitRecord* own)
{
    // Acquire pairs with the release (part of seq_cst) token store in wake_slow(): the waker
    // role's state (the lists' consumer side, m_sequence) becomes ours. Relaxed on failure:
    // another thread took the token and holds the role; we learn nothing.
    if (!m_token.compare_exchange_strong(token, 0, std::memory_order_acquire,
                                         std::memory_order_relaxed))
        return false;
    report(this, MutexEvent::WakeTokenTakenByLocker);
    // The lists hold at least the record pushed before the load above: nobody held the role
    // between the token's publication and our CAS (I2).
    WaitRecord* next = m_waiters.pop();
    NIMBUS_ASSERT(next != nullptr);
    next->grant(kGrantWoken, own);
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
    uint32_t state = 0;
    // Acquire pairs with the release CAS of the unlock that cleared kLocked, as in lock().
    // Relaxed on failure: the loop decides from the value read. The loop ends when kLocked is
    // seen set, or retries because another thread's CAS succeeded.
    while (!m_state.compare_exchange_weak(state, state | kLocked, std::memory_order_acquire,
                                          std::memory_order_relaxed)) {
        if ((state & kLocked) != 0)
            return false;
    }
    if (state != 0)
        report(this, MutexEvent::Barged);
    become_owner(self);
    return true;
}

// unlock() for a recursive owner, or a caller that does not hold the mutex (a kernel bug).
__attribute__((noinline)) void Mutex::unlock_uncommon() TA_NO_ANALYSIS // the primitive itself
{
    // Relaxed: see is_held().
    NIMBUS_ASSERT(m_owner.load(std::memory_order_relaxed) == current_thread());
    if (--m_depth > 0)
        return;
    release(nullptr);
}

// The owner's release with others around (mutex.h, "Roles: owner"). `own`: the releasing
// thread's record when Condvar::wait releases (it may be queued here already).
__attribute__((noinline)) void Mutex::unlock_slow(uint32_t state, const WaitRecord* own)
{
    report(this, MutexEvent::UnlockContended);
    for (;;) {
        if ((state & (kWoken | kHandoff)) != 0) {
            if ((state & kHandoff) != 0) {
                // A starving waiter: the mutex goes to it directly, kLocked stays set. No
                // waker can be active (mutex.h, "Starvation bound").
                NIMBUS_ASSERT((state & (kWoken | kLocked)) == kLocked);
                // Acquire pairs with the starving waiter's release CAS that set kHandoff: its
                // m_starving is visible. The critical section reaches it through grant().
                if (m_state.compare_exchange_weak(state, state & ~kHandoff,
                                                  std::memory_order_acquire,
                                                  std::memory_order_relaxed)) {
                    WaitRecord* starving = m_starving;
                    report(this, MutexEvent::UnlockHandedOff);
                    starving->grant(kGrantOwned);
                    return;
                }
                continue;
            }
        } else if (state >= kWaiterOne) {
            // Free the mutex and take the waker role for one counted waiter (W1). Release: as
            // in release(); acquire: the previous role holder's consumer state (its release
            // CAS that cleared kWoken, or the grant chain before it).
            uint32_t next = ((state & ~kLocked) - kWaiterOne) | kWoken;
            if (m_state.compare_exchange_weak(state, next, std::memory_order_acq_rel,
                                              std::memory_order_relaxed))
                break;
            continue;
        }
        // Nobody to wake, or a woken waiter is already on its way (it will take the mutex, or
        // re-queue behind whoever does): just free it. Release as in release().
        if (m_state.compare_exchange_weak(state, state & ~kLocked, std::memory_order_release,
                                          std::memory_order_relaxed))
            return;
    }
    // Waker (W1): grant the next record "woken" — the usual case — or go on with the token
    // protocol in wake_slow().
    if (WaitRecord* record = m_waiters.pop())
        record->grant(kGrantWoken, own);
    else
        wake_slow(own);
}

// The waker (W1/W2, mutex.h) that found no record to pop: leave a token for the waiter that
// is about to push, never wait for it; but re-check, and if a record appeared take the token
// back and grant it.
__attribute__((noinline)) void Mutex::wake_slow(const WaitRecord* own)
{
    // At most two rounds, barring a 2^32 token wrap (mutex.h, "Progress").
    for (;;) {
        report(this, MutexEvent::WakeListEmpty);
        // Relaxed: while we hold the role no token is published; a debug check of the
        // invariant, ordered by our role like the rest of its state.
        NIMBUS_ASSERT(m_token.load(std::memory_order_relaxed) == 0);
        if (++m_sequence == 0)
            ++m_sequence;
        unsigned token = m_sequence;
        // seq_cst: the waker's store in the handshake; pairs with the seq_cst load in
        // take_token(). Its release part pairs with the acquire CAS of whoever takes the
        // token (take_token_slow(), or us below).
        m_token.store(token, std::memory_order_seq_cst);
        report(this, MutexEvent::WakeTokenPublished);
        // From here on we do not hold the role and must not touch the lists' consumer side.
        // The re-check is seq_cst inside maybe_nonempty() (pairs with push()'s CAS).
        if (!m_waiters.maybe_nonempty())
            return;
        // A record appeared; its thread may have looked for a token before we published.
        // Take ours back. Acquire pairs with the release store of the token we take (ours,
        // or after a wrap another waker's). Relaxed on failure: someone else took it.
        if (!m_token.compare_exchange_strong(token, 0, std::memory_order_acquire,
                                             std::memory_order_relaxed))
            return;
        report(this, MutexEvent::WakeTokenTakenBack);
        if (WaitRecord* next = m_waiters.pop()) {
            next->grant(kGrantWoken, own);
            return;
        }
    }
}

void Mutex::lock_for(WaitRecord& record)
{
    // A guess: the notifier usually holds the mutex and nobody else waits.
    uint32_t state = kLocked;
    for (;;) {
        if ((state & kLocked) == 0) {
            // Acquire pairs with the release CAS of the unlock that freed the mutex; grant()'s
            // release below passes that on to the waiting thread.
            if (m_state.compare_exchange_weak(state, state | kLocked, std::memory_order_acquire,
                                              std::memory_order_relaxed)) {
                report(this, MutexEvent::MorphGranted);
                record.grant(kGrantOwned);
                return;
            }
            continue;
        }
        // Count the record's thread in, as lock_contended() does. Relaxed: as there.
        if (m_state.compare_exchange_weak(state, state + kWaiterOne, std::memory_order_relaxed,
                                          std::memory_order_relaxed))
            break;
    }
    // Exactly a waiter's queueing, except that the record's thread is already asleep.
    m_waiters.push(&record);
    report(this, MutexEvent::MorphQueued);
    take_token(nullptr);
}

void Mutex::release_for_wait(Thread* self, const WaitRecord& own) TA_NO_ANALYSIS // Condvar::wait
{
    // Waiting while the mutex is held recursively would let others into the critical section
    // of the outer holder, which believes it still holds the mutex: a kernel bug.
    // Relaxed: see is_held().
    NIMBUS_ASSERT(m_owner.load(std::memory_order_relaxed) == self && m_depth == 1);
    m_depth = 0;
    release(&own);
}

void Mutex::lock_granted(Thread* self, WaitRecord& record, unsigned grant)
{
    if (grant == kGrantWoken) {
        report(this, MutexEvent::LockWoken);
        // The usual case first: the mutex is free and nobody else waits (lock_contended()'s
        // first step, without its set-up). Acquire and release as there.
        uint32_t state = kWoken;
        if (!m_state.compare_exchange_strong(state, kLocked, std::memory_order_acq_rel,
                                             std::memory_order_relaxed)) {
            record.rearm();
            lock_contended(self, record, true, kNotStarted, state);
            return;
        }
    } else {
        NIMBUS_ASSERT(grant == kGrantOwned);
    }
    become_owner(self);
}

} // namespace ksync
