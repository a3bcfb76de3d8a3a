// ksync::Mutex: a recursive sleeping mutex that is lock-free — no thread ever spins waiting
// for another, so a vCPU preempted by the hypervisor while holding, acquiring or releasing the
// mutex costs the others nothing but the wait itself (osv-design.md §4).
//
// ----------------------------------------------------------------------------------------
// Correctness argument
// ----------------------------------------------------------------------------------------
// State
//   m_count    threads that have entered lock() (fetch_add) and not yet left unlock()
//              (fetch_sub): the owner, threads queued or sleeping, and threads between the
//              two steps of lock (counted, not yet queued). Recursive re-locks do not count.
//   m_waiters  MpscWaitList of WaitRecords on the waiters' stacks (mpsc_wait_list.h).
//   m_handoff  0, or a published hand-off token: "the mutex is free, whoever takes this token
//              takes the mutex over".
//   m_sequence source of tokens; m_owner / m_depth: the owner and its recursion depth.
//
// Responsibility. At every moment exactly one of these holds:
//   (a) one thread is responsible for the mutex — it owns it, or it is in unlock()'s slow
//       path, or it has just taken a token and is passing the mutex on;
//   (b) m_count == 0: nobody is inside, the mutex is free;
//   (c) a token is published, nobody is responsible, and m_count > 0.
// Only the responsible thread pops m_waiters and reads/writes m_sequence, m_depth and the
// waiters' list internals, which makes the list single-consumer and those fields race-free.
// Responsibility moves by (i) count 0→1 in the lock fast path, (ii) grant() of a popped
// record (the granted waiter becomes the owner), (iii) a successful CAS token→0.
//
// lock(): count.fetch_add(1) == 0 → owner (fast path, (b)→(a)). Otherwise push a record and
//   then look for a published token; if one is there, CAS it to 0: the winner is now
//   responsible ((c)→(a)) and pops the oldest record — possibly its own — and grants it.
//   Then sleep until our own record is granted.
// unlock(): count.fetch_sub(1) == 1 → free ((a)→(b)). Otherwise another thread is inside and
//   we stay responsible: pop a record and grant it. If the list is empty, the other thread
//   is between fetch_add and push: publish a fresh token ((a)→(c)) and return — we never
//   wait for it. But it may have pushed and looked for a token just before we published; so
//   re-check the list after publishing, and if it is non-empty try to CAS our token back to
//   0. Success: responsible again, pop (now non-empty) and grant. Failure: someone took the
//   token and is responsible instead.
//
// No lost wake-up. A locker does push(record) then load(m_handoff); an unlocker does
// store(m_handoff, token) then load(list head). All four are seq_cst, so in their single
// total order at least one thread's load comes after the other's store and sees it: either
// the locker sees a token (and takes it, or someone else did) or the unlocker sees the
// record (and takes its token back, or someone else did). Either way a token never stays
// published while a pushed record waits. A record is granted only by a responsible thread,
// and responsibility never vanishes while m_count > 0, so every queued record is granted.
// A token taken by a locker always finds a record to pop: its own is there, since no one
// was responsible between the publication and the take.
//
// Linearisation points. lock: the fast-path fetch_add that returns 0, or the grant() store of
//   the waiter's record. unlock: the fast-path fetch_sub that returns 1, or the grant() of
//   the next waiter, or the publication of the token. A hand-off in flight (fetch_sub > 1
//   until grant/publication) belongs to the releasing owner's critical section. try_lock:
//   the successful CAS on m_count or on m_handoff; a failure at its failed CAS on m_count
//   (count > 0: held, or in transit between owners — try_lock may fail spuriously in the
//   latter case, as std::mutex::try_lock may).
//
// ABA.
//   - m_handoff: tokens are consecutive values of m_sequence (0 skipped), so the take-back
//     CAS succeeds only on the token this unlocker published, unless 2^32 further tokens
//     were published while it sat between its store and its CAS. Even then the outcome is
//     safe: any published token means (c), taking one makes the taker responsible, and the
//     taker runs the pop/publish loop again rather than assuming the list is non-empty.
//     A locker's CAS that hits a reused value is just as harmless: a token is published only
//     while nobody is responsible, so nobody can have popped the locker's own record.
//   - m_waiters: ABA-free by construction (mpsc_wait_list.h), though records come back at
//     the same stack addresses.
//   - m_owner: compared only with current_thread(); only a thread stores its own identity
//     and clears it before releasing, so a thread can never see itself as a stale owner.
//
// Memory order. Data written in the critical section reaches the next owner by one of:
//   fetch_sub (release) → fetch_add/CAS reading 0 (acquire), both RMWs on m_count, so the
//   release sequence covers intervening lockers' fetch_adds;
//   grant's store of the record flag (release) → wait_granted's load (acquire);
//   store of the token (release, via seq_cst) → CAS that takes it (acquire).
// The handshake above needs seq_cst on exactly: the push CAS, the locker's token load, the
// unlocker's token store and its list re-check. Everything else is relaxed or acq/rel and
// says what it pairs with.
//
// Progress. lock's push and unlock's hand-off loop are lock-free: the push CAS retries only
// when another push succeeded, and hand_off() loops at most twice (a re-check that finds a
// record and takes the token back pops that record, since no one else was responsible) —
// barring the 2^32 wrap above, which only costs another round. Nobody waits for another
// thread to take a step: a thread preempted between fetch_add and push leaves a token and
// the next locker takes over; waiters sleep in park_current().
// ----------------------------------------------------------------------------------------
//
// Fairness: strict hand-off, no barging. While anyone waits, the mutex passes from the owner
// to a queued waiter (oldest first within what the owner sees); a newcomer cannot overtake
// them. The cost is a wake-up per contended release (a convoy); OSv makes the same choice.
#pragma once

#include <sync/mpsc_wait_list.h>
#include <sync/thread_annotations.h>
#include <sync/thread_ops.h>

#include <atomic>

namespace ksync {

class Condvar;
class MutexGuard;

// Recursive sleeping mutex (see above). Taken only through MutexGuard / WITH_LOCK.
//
// Context: lock may block — thread context with preemption and interrupts enabled
// (asserted). Never from interrupt context (Nimbus has none for code like this: handlers
// run in threads). Unlock never blocks. The mutex must outlive all its users; it needs no
// destruction. constexpr-constructible, so globals can be `constinit`.
class TA_CAPABILITY("mutex") Mutex {
public:
    constexpr Mutex() = default;
    Mutex(const Mutex&) = delete;
    Mutex& operator=(const Mutex&) = delete;

    // Takes the mutex if that is possible without waiting: it is free, the caller already
    // holds it (recursion), or it is between owners with a hand-off token published. On
    // success the caller owns it and must release it through MutexGuard(m, kAdoptLock). May
    // fail spuriously while an unlock is in flight. Never blocks.
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
    friend class Condvar;

    // Locks are taken through guards only (style.md); these are for MutexGuard and Condvar.
    void lock() TA_ACQUIRE();
    void unlock() TA_RELEASE();

    void lock_slow(Thread* self);
    bool take_handoff(const WaitRecord* own);
    void hand_off();
    void become_owner(Thread* self);

    // Wait morphing for Condvar: acquires the mutex on behalf of `record`'s thread, which is
    // asleep in Condvar::wait. The record is granted (now or by a later unlock) when its
    // thread owns the mutex. Never blocks the caller.
    void lock_for(WaitRecord& record);
    // Condvar::wait's release before sleeping; then adopt_granted() once the record that
    // lock_for() queued has been granted.
    void release_for_wait();
    void adopt_granted(Thread* self);

    std::atomic<int> m_count{0};
    std::atomic<Thread*> m_owner{nullptr};
    unsigned m_depth = 0;          // owner only
    MpscWaitList m_waiters;        // pops: responsible thread only
    std::atomic<unsigned> m_handoff{0};
    unsigned m_sequence = 0;       // responsible thread only
};

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

// Events in the mutex's slow paths, reported to a host test hook (below) so tests can stall a
// thread at a chosen step and check which path ran. Not reported in the kernel build.
enum class MutexEvent {
    LockContended,        // lock: fetch_add saw others inside; about to push
    LockWaiting,          // lock: queued, no token taken; about to sleep
    UnlockContended,      // unlock: fetch_sub saw others inside; about to hand off
    HandoffListEmpty,     // unlock: nobody to pop; about to publish a token
    HandoffPublished,     // unlock: token published, about to re-check the list
    HandoffTakenBack,     // unlock: re-check found a record and the token came back
    HandoffTakenByLocker, // lock (or a morphing notify): took a published token
    TryLockTookHandoff,   // try_lock: took a published token
    MorphQueued,          // lock_for: record queued on the mutex (it was held)
    MorphGranted,         // lock_for: mutex was free, record granted at once
};

#if defined(NIMBUS_HOST)
namespace test_hooks {
// Called from the thread that reaches the event, at that point of the algorithm; may block
// (tests use that to stall a thread). Set while no mutex is in use; nullptr to remove.
using MutexHook = void (*)(const Mutex* mutex, MutexEvent event);
void set_mutex_hook(MutexHook hook);
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
