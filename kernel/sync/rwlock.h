// ksync::RwLock: a sleeping reader/writer lock, writer-preferring — once a writer waits, new
// readers queue behind it, so writers never starve (readers can, under a continuous stream
// of writers; that is the trade this lock makes).
//
// Design: an atomic state word for the uncontended paths, and the lock-free Mutex plus two
// Condvars for sleeping. Why not a lock-free wait list of its own: the slow paths only run
// when someone must sleep anyway, an rwlock is used only where blocking is allowed (unlike a
// WaitQueue, nothing calls it with preemption disabled), and Mutex/Condvar already give
// wait morphing and the no-spin property (a stalled thread never makes another spin). The
// common cases — read lock/unlock with no writer around, write lock/unlock uncontended — are
// a single CAS or RMW on m_state and never touch the mutex.
//
// m_state (64 bits):
//   bits 0..31   active readers
//   bit 32       a writer holds the lock
//   bit 33       readers are asleep on m_readers (set/cleared with m_lock held)
//   bits 40..63  writers waiting (counted in/out with m_lock held)
//
// Protocol.
//   read lock:  CAS readers+1 while no writer holds or waits. Otherwise, with m_lock held:
//               loop { if no writer holds or waits, CAS readers+1 and return; else CAS the
//               readers-asleep bit on and wait on m_readers }.
//   read unlock: fetch_sub readers. If it was the last reader and a writer waits, take m_lock
//               and notify one writer.
//   write lock: CAS 0 → writer when no reader, writer or waiting writer (the asleep-readers
//               bit may be set). Otherwise, with m_lock held: count ourselves as waiting
//               (fetch_add), then loop { if no reader and no writer, CAS: uncount and become
//               the writer; else wait on m_writers }.
//   write unlock: fetch_and clears the writer bit. If writers wait: take m_lock, notify one
//               writer. Else if readers sleep: take m_lock, clear the bit, notify all readers.
//
// No lost wake-up. Every sleeper publishes its reason (asleep bit / waiting count) with an
// RMW on m_state made while it holds m_lock, re-checks m_state and then waits on a condvar,
// which releases m_lock only after its record is queued. Every unlocker's RMW on m_state is
// ordered with that RMW in m_state's modification order: if the unlocker's comes first, the
// sleeper's re-check sees the lock free; if it comes second, the unlocker sees the bit/count
// and notifies with m_lock held — which it can only take after the sleeper queued itself.
//
// Memory order: an acquiring CAS (acquire) reads the value left by the previous holder's
// release RMW (unlock), or a later one in its release sequence (all writes are RMWs).
#pragma once

#include <sync/condvar.h>
#include <sync/mutex.h>
#include <sync/thread_annotations.h>

#include <atomic>
#include <stdint.h>

namespace ksync {

class ReadGuard;
class WriteGuard;

// Context: lock paths block — thread context, preemption and interrupts enabled (asserted at
// entry, on the uncontended path too). Unlock may take the internal Mutex briefly when
// someone sleeps (thread context only). try_* never block. Not recursive: a writer must not
// lock again, a reader must not upgrade (both deadlock; a second write lock by the writer is
// asserted). Taken through ReadGuard / WriteGuard. constexpr-constructible; must outlive
// its users.
class TA_CAPABILITY("rwlock") RwLock {
public:
    constexpr RwLock() = default;
    RwLock(const RwLock&) = delete;
    RwLock& operator=(const RwLock&) = delete;

    // Take the lock only if that needs no waiting (never blocks). On success adopt it:
    // `ReadGuard g(l, kAdoptLock)` / `WriteGuard g(l, kAdoptLock)`.
    bool try_lock_shared() TA_TRY_ACQUIRE_SHARED(true);
    bool try_lock() TA_TRY_ACQUIRE(true);

    // Whether the calling thread holds the write lock.
    bool is_write_held() const;

private:
    friend class ReadGuard;
    friend class WriteGuard;

    void lock_shared() TA_ACQUIRE_SHARED();
    void unlock_shared() TA_RELEASE_SHARED();
    void lock() TA_ACQUIRE();
    void unlock() TA_RELEASE();

    void lock_shared_slow();
    void lock_slow();
    void become_writer();
    static bool readers_may_enter(uint64_t state);

    static constexpr uint64_t kReader = 1;
    static constexpr uint64_t kReaderMask = 0xffff'ffffull;
    static constexpr uint64_t kWriter = 1ull << 32;
    static constexpr uint64_t kReadersAsleep = 1ull << 33;
    static constexpr uint64_t kWaitingWriter = 1ull << 40;
    static constexpr uint64_t kWaitingWriterMask = ~((1ull << 40) - 1);

    std::atomic<uint64_t> m_state{0};
    std::atomic<Thread*> m_writer{nullptr}; // for is_write_held() and the recursion assert
    Mutex m_lock;                           // orders sleeping and waking (see above)
    Condvar m_readers;
    Condvar m_writers;
};

// Holds an RwLock for reading for its scope. May block in the constructor.
class TA_SCOPED_CAPABILITY ReadGuard {
public:
    explicit ReadGuard(RwLock& lock) TA_ACQUIRE_SHARED(lock) : m_lock(lock) { m_lock.lock_shared(); }
    // Takes over a read lock the caller took with try_lock_shared().
    ReadGuard(RwLock& lock, AdoptLock) TA_REQ_SHARED(lock) : m_lock(lock) {}
    ~ReadGuard() TA_RELEASE() { m_lock.unlock_shared(); }
    ReadGuard(const ReadGuard&) = delete;
    ReadGuard& operator=(const ReadGuard&) = delete;

private:
    RwLock& m_lock;
};

// Holds an RwLock for writing for its scope. May block in the constructor.
class TA_SCOPED_CAPABILITY WriteGuard {
public:
    explicit WriteGuard(RwLock& lock) TA_ACQUIRE(lock) : m_lock(lock) { m_lock.lock(); }
    // Takes over a write lock the caller took with try_lock().
    WriteGuard(RwLock& lock, AdoptLock) TA_REQ(lock) : m_lock(lock) {}
    ~WriteGuard() TA_RELEASE() { m_lock.unlock(); }
    WriteGuard(const WriteGuard&) = delete;
    WriteGuard& operator=(const WriteGuard&) = delete;

private:
    RwLock& m_lock;
};

} // namespace ksync
