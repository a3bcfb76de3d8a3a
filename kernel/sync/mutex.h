// ksync::Mutex: a recursive sleeping mutex that is lock-free — no thread ever spins waiting
// for another, so a vCPU preempted by the hypervisor while holding, acquiring or releasing the
// mutex costs the others nothing but the wait itself (osv-design.md §4) — and that lets a
// running thread take a free mutex ahead of sleeping waiters ("barging"), with a 1 ms bound.
//
// Why barging. Handing a released mutex to the oldest sleeping waiter (as this mutex did
// before) keeps it owned by a thread that is not running for a whole wake-up latency (an IPI
// and a halted vCPU: ~30 µs under TCG), and the releaser, running again a moment later, must
// block behind it: a lock convoy, two context switches per contended operation. Here unlock
// frees the mutex and wakes one waiter; whoever runs first takes it. A waiter that keeps
// losing for more than kStarvationNs asks for the mutex to be handed to it directly.
//
// ----------------------------------------------------------------------------------------
// Correctness argument
// ----------------------------------------------------------------------------------------
// State. m_state, one word, changed only by RMWs (CAS):
//   kLocked   the mutex is owned (or granted in transit to a waiter that will own it).
//   kWoken    the waker role is taken (below): a waiter is being or has been woken and will
//             compete for the mutex. While it is set, unlock wakes nobody else.
//   kHandoff  a starving waiter's record is in m_starving: the next unlock hands the mutex to
//             it directly instead of freeing it. Implies kLocked.
//   N         (the bits from kWaiterOne up) waiters counted in and not yet chosen for a wake.
// m_waiters: MpscWaitList of WaitRecords on the waiters' stacks (mpsc_wait_list.h); waiters
// push at the back, a woken waiter that lost goes back at the very front (push_front, a
// consumer-side operation, below). m_token: 0, or a published wake token. m_sequence (token
// source) and m_starving: see who may touch them below.
// m_owner / m_depth: the owner and its recursion depth (owner only).
//
// Roles.
//   owner    holds kLocked (set by its own acquire CAS, or set for it by lock_for(), or kept
//            set for it by a hand-off unlock). Only the owner unlocks, so only the owner clears
//            kLocked or kHandoff.
//   waker    exactly one thread while kWoken is set, none while it is clear. The waker role is
//            what makes m_waiters single-consumer: only its holder pops, pushes at the front,
//            or touches m_sequence. It passes on as
//              (W1) an unlock's CAS sets kWoken and takes one from N: the unlocker pops the
//                   next record and grants it "woken";
//              (W2) no record yet (the counted waiter has not pushed): the waker publishes a
//                   token and leaves; the role is in the token;
//              (W3) a pusher takes the token with a CAS and does W1's pop and grant (the
//                   record may be its own), or the publisher takes it back;
//              (W4) the woken waiter holds the role until its next CAS on m_state, which
//                   clears kWoken — taking the mutex, or re-queueing (it puts its record at
//                   the front of m_waiters while it still holds the role, then counts itself
//                   in with the CAS that gives the role up), or starving.
//   waiter   counts itself in (N + 1) with a CAS that sees kLocked, then pushes its record,
//            looks for a token, and sleeps until the record is granted: "woken" (it now
//            holds the waker role and competes again) or "owned" (hand-off / lock_for: it
//            owns the mutex).
//
// Invariant I1: N > 0 ⇒ kLocked or kWoken. Counting in needs kLocked; an unlock that clears
// kLocked with N > 0 sets kWoken in the same CAS unless it is already set; every CAS that
// clears kWoken sets or keeps kLocked. So a counted waiter always has someone coming for it:
// the owner's unlock, or the waker role, which ends in a woken waiter that takes the mutex
// (then its unlock sees N) or re-queues behind an owner.
// Invariant I2: records in m_waiters + counted waiters not yet pushed = N + (1 if the role is
// in W1/W2, i.e. a wake was promised and its record not yet popped). So a waker, or a token
// taker, always has a record coming, and the token taker's pop finds at least its own. (A
// re-queued record is on the list before its thread counts in.)
//
// No lost wake-up (the token handshake, as before): a waiter does push (seq_cst CAS) then
// load(m_token) (seq_cst); a waker that found the list empty does store(m_token) (seq_cst)
// then loads the list's push head (seq_cst). In the single total order one of the loads comes
// after the other side's store: the waiter sees the token (takes it, or someone else did),
// or the waker sees the record (takes its token back and pops, or someone else took it). So
// a token never stays published while a pushed record waits. lock_for() is a waiter too.
// Re-queued records and m_starving need no handshake: they are written by the role holder
// and published by the release CAS that gives the role up — m_starving with kHandoff, set
// while kLocked is, so the owner's unlock CAS necessarily reads it; a re-queued record with
// N + 1 and kLocked, so the owner's unlock takes the role (W1) and pops it first.
//
// Linearisation points. lock: the CAS that sets kLocked (fast path, barging, or a woken
//   waiter), or the grant of "owned" (hand-off, lock_for). unlock: the CAS that clears
//   kLocked, or the one that clears kHandoff (the hand-off; the grant that follows belongs
//   to it). try_lock: its CAS setting kLocked; a failure at the load/CAS that saw kLocked
//   (it no longer fails spuriously).
//
// ABA.
//   - m_state holds flags and counts only; every CAS computes its new value from the one it
//     read, and every transition is valid for the value alone, given the caller's role (the
//     role is not in the word but cannot change under its holder). m_starving is read only
//     by the owner after seeing kHandoff, which nobody but the owner can clear.
//   - m_token: tokens are consecutive values of m_sequence (0 skipped); a take-back CAS
//     could hit a reused value only after 2^32 further tokens; then it takes someone else's
//     (valid) role and its loop pops or publishes again rather than assuming a record.
//   - m_waiters: ABA-free by construction (mpsc_wait_list.h), though records come back at
//     the same stack addresses — also the same record of one thread re-queueing (rearm()).
//   - m_owner: compared only with current_thread(), as before.
//
// Memory order.
//   Critical-section data: the unlock CAS clearing kLocked (release) → the CAS setting it
//   (acquire), directly or through the release sequence (all writes to m_state are RMWs);
//   lock_for(): its acquire CAS, then grant() (release) → the waiter's acquire load; hand-off:
//   grant() (release) → the starving waiter's acquire load.
//   Waker role (the list's consumer side, m_sequence): the CAS setting kWoken is acquire,
//   every CAS clearing it is release; grant() / the token store are release and the woken
//   waiter's load / the token CAS are acquire — a chain of happens-before from one consumer
//   to the next. m_starving: written before the release CAS that sets kHandoff, read after
//   the acquire CAS that clears it.
//   The token handshake needs seq_cst on exactly: the push CAS, the waiter's token load, the
//   waker's token store and its list re-check. Counting in is relaxed: it publishes nothing
//   (the record is published by the push).
//
// Progress. Every CAS loop here retries only because another thread's CAS succeeded. The
// waker's loop runs at most twice (a re-check that finds a record and takes the token back
// pops it; barring the 2^32 wrap). Nobody waits for another thread to take a step: a waiter
// stalled between counting in and pushing leaves a token that the next pusher takes, and the
// mutex stays free meanwhile; a woken waiter that is slow to run delays only other sleepers
// (the mutex is free for anyone running). Waiters sleep in park_current().
//
// Starvation bound. A woken waiter that finds the mutex held re-queues at the front. If by
// then it has waited kStarvationNs since it first queued (a condvar waiter moved here by
// lock_for(): since its first wake), it instead puts its record in m_starving and sets
// kHandoff (it holds the waker role, so no other woken waiter
// exists and kHandoff is clear); the owner's next unlock hands the mutex to it. Waiters wake
// in queue order, and every record ahead of a waiter W queued before it, so once W has waited
// kStarvationNs those ahead have too and each takes at most one wake and one critical section
// (it wins, or starves into a hand-off). W's wait is thus bounded by kStarvationNs plus, per
// waiter ahead of it, a wake-up and a critical section — plus kStarvationNs per condvar
// waiter ahead of it whose clock started at its first wake.
// ----------------------------------------------------------------------------------------
//
// Fairness: barging within the bound above. A running thread (a newcomer, the releaser coming
// back, try_lock) may take a free mutex ahead of sleeping waiters; woken waiters that lose go
// back to the front; a waiter past kStarvationNs is handed the mutex by the next unlock.
#pragma once

#include <sync/mpsc_wait_list.h>
#include <sync/thread_annotations.h>
#include <sync/thread_ops.h>

#include <atomic>
#include <stdint.h>

namespace ksync {

class Condvar;
class MutexGuard;
class InlineMutexGuard;

// Recursive sleeping mutex (see above). Taken only through MutexGuard / WITH_LOCK (or
// InlineMutexGuard, for the hottest few).
//
// Context: lock may block — thread context with preemption and interrupts enabled
// (asserted). Never from interrupt context (Nimbus has none for code like this: handlers
// run in threads). Unlock never blocks. The mutex must outlive all its users; it needs no
// destruction. constexpr-constructible, so globals can be `constinit`.
class TA_CAPABILITY("mutex") Mutex {
public:
    // How long a waiter may keep losing the mutex to running threads before the next unlock
    // hands it over directly (the starvation bound above).
    static constexpr uint64_t kStarvationNs = 1'000'000;

    constexpr Mutex() = default;
    Mutex(const Mutex&) = delete;
    Mutex& operator=(const Mutex&) = delete;

    // Takes the mutex if that is possible without waiting: it is free (even if others sleep
    // waiting for it) or the caller already holds it (recursion). On success the caller owns
    // it and must release it through MutexGuard(m, kAdoptLock). Never blocks.
    bool try_lock() TA_TRY_ACQUIRE(true);

    // Whether the calling thread holds the mutex.
    bool is_held() const;

    // Asserts (always, also in release builds) that the calling thread holds the mutex, and
    // tells the thread-safety analysis so.
    void assert_held() const TA_ASSERT_CAPABILITY(this);

    // The calling owner's recursion depth (1 when held once). Only for the owner.
    unsigned depth() const;

private:
    friend class MutexGuard;
    friend class InlineMutexGuard;
    friend class Condvar;

    // m_state bits (see above).
    static constexpr uint32_t kLocked = 1;
    static constexpr uint32_t kWoken = 2;
    static constexpr uint32_t kHandoff = 4;
    static constexpr uint32_t kWaiterOne = 8;
    // WaitRecord grants: the record's thread now owns the mutex / holds the waker role and
    // must compete for the mutex.
    static constexpr unsigned kGrantOwned = 1;
    static constexpr unsigned kGrantWoken = 2;

    // Locks are taken through guards only (style.md); these are for MutexGuard and Condvar.
    void lock() TA_ACQUIRE();
    void unlock() TA_RELEASE();
    // The same, with the uncontended case inline at the call site (InlineMutexGuard): one CAS
    // each and no call; the rest is out of line. lock() and unlock() are these, out of line.
    void lock_inline() TA_ACQUIRE();
    void unlock_inline() TA_RELEASE();

    void lock_slow(uint32_t state);
    void unlock_uncommon();
    void lock_contended(Thread* self, WaitRecord& record, bool woken, uint64_t since,
                        uint32_t state);
    bool take_token(const WaitRecord* own);
    bool take_token_slow(unsigned token, const WaitRecord* own);
    void release(const WaitRecord* own);
    void unlock_slow(uint32_t state, const WaitRecord* own);
    void wake_slow(const WaitRecord* own);
    void become_owner(Thread* self);

    // Wait morphing for Condvar: acquires the mutex on behalf of `record`'s thread, which is
    // asleep in Condvar::wait. If the mutex is free the record is granted "owned" now;
    // otherwise it is queued like a waiter's and later granted "woken". Never blocks.
    void lock_for(WaitRecord& record);
    // Condvar::wait's release before sleeping (`self`: the caller, the owner; `own`: its
    // record, which lock_for() may already have queued here); then lock_granted() with the
    // grant of that record, which returns once the thread owns the mutex (competing, and
    // maybe sleeping again, if it was only woken).
    void release_for_wait(Thread* self, const WaitRecord& own);
    void lock_granted(Thread* self, WaitRecord& record, unsigned grant);

    std::atomic<uint32_t> m_state{0};
    std::atomic<Thread*> m_owner{nullptr};
    unsigned m_depth = 0;              // owner only
    MpscWaitList m_waiters;            // consumer side (pop, push_front): waker only
    std::atomic<unsigned> m_token{0};
    unsigned m_sequence = 0;           // waker only
    WaitRecord* m_starving = nullptr;  // see "Memory order"
};

inline void Mutex::become_owner(Thread* self)
{
    m_owner.store(self, std::memory_order_relaxed); // relaxed: see is_held() (mutex.cc)
    m_depth = 1;
}

inline void Mutex::lock_inline() TA_NO_ANALYSIS // the primitive itself
{
    uint32_t state = 0;
    // Acquire pairs with the release CAS of the unlock that cleared kLocked ("Memory order"
    // above). Relaxed on failure: lock_slow() decides from the value read. A caller that may
    // not block goes to lock_slow() too, which asserts can_block() (always, as before: the
    // test here keeps the assertion's code out of line). A recursive lock fails the CAS
    // (kLocked is set) and is recognised in lock_slow(): that keeps the owner check off the
    // fast path.
    if (can_block() && m_state.compare_exchange_strong(state, kLocked, std::memory_order_acquire,
                                                       std::memory_order_relaxed)) [[likely]] {
        become_owner(current_thread());
        return;
    }
    lock_slow(state);
}

inline void Mutex::unlock_inline() TA_NO_ANALYSIS // the primitive itself
{
    // The common case inline: held once, by the caller (relaxed: see is_held()). Anything
    // else — recursion, or a caller that does not hold it, which unlock_uncommon() asserts
    // against — out of line.
    if (m_owner.load(std::memory_order_relaxed) == current_thread() && m_depth == 1) [[likely]] {
        m_depth = 0;
        release(nullptr);
        return;
    }
    unlock_uncommon();
}

inline void Mutex::release(const WaitRecord* own)
{
    m_owner.store(nullptr, std::memory_order_relaxed); // relaxed: see is_held()
    uint32_t state = kLocked;
    // Release pairs with the acquire CAS of the next owner (lock(), try_lock(), lock_for(),
    // lock_contended()). Relaxed on failure: unlock_slow() decides from the value read.
    if (m_state.compare_exchange_strong(state, 0, std::memory_order_release,
                                        std::memory_order_relaxed)) [[likely]]
        return;
    unlock_slow(state, own);
}

// Tag for adopting a mutex that try_lock() took.
struct AdoptLock {
    explicit AdoptLock() = default;
};
inline constexpr AdoptLock kAdoptLock{};

// Holds a Mutex for its scope. May block in the constructor (see Mutex).
class TA_SCOPED_CAPABILITY MutexGuard {
public:
    explicit MutexGuard(Mutex& mutex) TA_ACQUIRE(mutex) : m_mutex(mutex) { m_mutex.lock(); }
    // Takes over a mutex the caller already owns through try_lock().
    MutexGuard(Mutex& mutex, AdoptLock) TA_REQ(mutex) : m_mutex(mutex) {}
    ~MutexGuard() TA_RELEASE()
    {
        if (m_held)
            m_mutex.unlock();
    }
    MutexGuard(const MutexGuard&) = delete;
    MutexGuard& operator=(const MutexGuard&) = delete;

    // Releases early / takes the mutex again within the guard's scope.
    void unlock() TA_RELEASE()
    {
        m_mutex.unlock();
        m_held = false;
    }
    void lock() TA_ACQUIRE()
    {
        m_mutex.lock();
        m_held = true;
    }

private:
    Mutex& m_mutex;
    bool m_held = true;
};

// MutexGuard with the mutex's uncontended lock and unlock inline (Mutex::lock_inline): for
// the few locks where a call is a noticeable part of the cost — the futex buckets, which
// every futex wait and every wake with waiters takes (kernel/lx/futex.cc). Elsewhere
// MutexGuard's calls keep the code small (inlined everywhere, the two paths cost ~45 KiB).
class TA_SCOPED_CAPABILITY InlineMutexGuard {
public:
    explicit InlineMutexGuard(Mutex& mutex) TA_ACQUIRE(mutex) : m_mutex(mutex) { m_mutex.lock_inline(); }
    ~InlineMutexGuard() TA_RELEASE() { m_mutex.unlock_inline(); }
    InlineMutexGuard(const InlineMutexGuard&) = delete;
    InlineMutexGuard& operator=(const InlineMutexGuard&) = delete;

private:
    Mutex& m_mutex;
};

// Events in the mutex's slow paths, reported to a host test hook (below) so tests can stall a
// thread at a chosen step and check which path ran. Not reported in the kernel build.
enum class MutexEvent {
    LockContended,          // lock: found it held and counted in; about to push
    LockWaiting,            // lock: queued, no token taken; about to sleep
    LockWoken,              // lock: our record was granted "woken"; about to compete
    WokenLost,              // lock: woken, found it held again; counted in, about to re-queue
    Starving,               // lock: woken, lost, past kStarvationNs; asked for a hand-off
    Barged,                 // lock / try_lock: took the free mutex while others are counted
                            // in or a woken waiter is on its way
    UnlockContended,        // unlock: the fast path failed (waiters, a woken one, a hand-off)
    UnlockHandedOff,        // unlock: granted the mutex to the starving waiter
    WakeListEmpty,          // waker: nobody to pop; about to publish a token
    WakeTokenPublished,     // waker: token published, about to re-check the lists
    WakeTokenTakenBack,     // waker: re-check found a record and the token came back
    WakeTokenTakenByLocker, // lock (or a morphing notify): took a published token
    MorphQueued,            // lock_for: record queued on the mutex (it was held)
    MorphGranted,           // lock_for: mutex was free, record granted at once
};

#if defined(NIMBUS_HOST)
namespace test_hooks {
// Called from the thread that reaches the event, at that point of the algorithm; may block
// (tests use that to stall a thread). Set while no mutex is in use; nullptr to remove.
using MutexHook = void (*)(const Mutex* mutex, MutexEvent event);
void set_mutex_hook(MutexHook hook);
// Replaces Mutex::kStarvationNs (process-wide) so tests can make a waiter starve, or never,
// at will. Set while no mutex is in use; set_starvation_ns(Mutex::kStarvationNs) restores it.
void set_starvation_ns(uint64_t ns);
} // namespace test_hooks
#endif

} // namespace ksync

#define SYNC_CONCAT_INNER(a, b) a##b
#define SYNC_CONCAT(a, b) SYNC_CONCAT_INNER(a, b)

// WITH_LOCK(m) { ... }: runs the statement with `m` held (a MutexGuard for its duration).
// `break`/`continue` inside refer to the enclosing loop, as they read. The if/else shape makes
// a stray `else` after the body a compile error rather than binding to it.
#define WITH_LOCK(m)                                                                        \
    if (::ksync::MutexGuard SYNC_CONCAT(sync_with_lock_, __COUNTER__){m}; false) {          \
    } else
