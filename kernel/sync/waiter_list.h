// WaiterList: the lock-free wait list under WaitQueue and Semaphore — records on the waiters'
// stacks, wakers that never block (callable with preemption disabled), and waiters that can
// leave early (timeout, or their condition came true) without a lost or dangling record.
//
// ----------------------------------------------------------------------------------------
// Correctness argument
// ----------------------------------------------------------------------------------------
// Roles.
//   waiter   enqueue()s its Waiter (on its stack) with a Treiber push onto m_incoming, then
//            sleeps until its state leaves kWaiting, or leave()s.
//   poster   wake(n) / wake_all() / release of units / a leaving waiter: records a request in
//            m_state with one CAS and, if no one holds the holder role, takes it.
//   holder   at most one thread at a time (bit kBusy of m_state). Only the holder touches the
//            FIFO (m_head/m_tail, the records' m_next once drained), m_has_fifo's writes and
//            the records' unlinking. It loops: take all requests (exchange m_state → kBusy),
//            drain m_incoming (one exchange, reversed to FIFO order), remove cancelled records,
//            serve the requests, and give the role up with CAS kBusy → 0 — which fails if a
//            new request arrived meanwhile, so it loops again. A request posted while the role
//            is held is therefore always served by the current holder; nobody waits for the
//            holder, they leave their request and go (delegation, cf. the mutex's waker
//            role in mutex.h).
//
// Record states (Waiter::m_state), each transition by exactly one party:
//   kWaiting  → kWoken      holder, CAS, after unlinking it from the FIFO: it was woken (for a
//                           Semaphore: handed a unit). Last touch of the record by the holder
//                           (the thread pointer is read before; grant rule of wait_record.h).
//   kWaiting  → kCancelled  the waiter itself, CAS, in leave(). The record stays linked.
//   kCancelled→ kRemoved    holder, store, after unlinking a cancelled record (found when
//                           serving a request, or by the scan a kCancel request triggers).
//                           Last touch by the holder.
// The two CASes from kWaiting decide the race between a wake and a timeout: exactly one
// wins. A waiter returns only after seeing kWoken or kRemoved, both written after its record
// was unlinked by the holder — so no list ever holds a dead record, and nothing the holder
// does after that store reaches the record. A cancelled waiter that is not the holder parks
// until kRemoved: it waits for the holder's bounded work, never spins; if it takes the role
// itself it removes its own record.
//
// No lost wake-up (for WaitQueue's wait(pred)). Waiter: push (seq_cst CAS), seq_cst fence,
// evaluate pred. Waker: the caller's write to the predicate's state, seq_cst fence
// (has_waiters()), load m_incoming and m_has_fifo. By the fence rule one of the two sees the
// other: the waiter sees the new state (and leaves), or the waker sees the record — in
// m_incoming, or (if a holder drained it meanwhile) m_has_fifo == true, which the holder
// stored before its draining exchange (that exchange's release makes the store visible to a
// waker whose acquire load of m_incoming read the exchange's null). m_has_fifo goes back to
// false only when a holder found the FIFO empty, i.e. after that record was woken or removed.
// Seeing the record, the waker posts a request; the holder that takes the request
// synchronises with the poster (acq_rel RMWs on m_state) and drains m_incoming after that,
// so it finds the record in the FIFO (read-read coherence), or the record is already gone
// (woken, or left). wake_all wakes every record it finds; wake(n) wakes the n oldest.
//
// Units (Semaphore, m_sink != nullptr). Units posted go to the oldest waiters first; a unit
// with no waiter left is added to *m_sink, where acquirers take it without queuing. The
// holder may also take units back from *m_sink for waiters it finds. Handshake: an acquirer
// pushes its record, seq_cst fence, then tries *m_sink; the holder adds to *m_sink (seq_cst
// RMW), seq_cst fence, then re-checks m_incoming and loops if it is non-empty. One of the two
// sees the other: the acquirer takes the unit (and leaves; if a holder woke its record too,
// it got a second unit and gives it back), or the holder drains the record and hands it a
// unit from *m_sink. So no unit sits in *m_sink while a queued acquirer sleeps.
//
// Memory order. Waker's data → woken waiter: poster's release RMW on m_state → holder's
// acquire exchange of m_state → holder's release CAS kWaiting → kWoken → waiter's acquire
// load. Holder → next holder (FIFO contents): release CAS kBusy → 0 → acquire CAS that sets
// kBusy (posters) — all m_state writes are RMWs, so release sequences chain them. Records:
// release push CAS → acquire exchange of m_incoming. Units: release CAS/RMW on *m_sink →
// acquire CAS that takes it.
//
// ABA. m_incoming is push-only plus a detaching exchange (as MpscWaitList): no pointer is
// ever compared after being read through, so records may come back at the same stack
// address. m_state holds counts and flags only; the role bit is taken and dropped by CAS,
// and a failed drop just means "more work".
//
// Linearisation points. wake(n)/wake_all(): the holder's exchange of m_state that takes the
// request (wakes the records drained after it). A wait is woken at the kWaiting → kWoken CAS,
// times out at the kWaiting → kCancelled CAS.
//
// Progress. enqueue, posting and leave's CAS are lock-free (a CAS fails only because another
// thread's succeeded). The holder's loop is O(records) per round and ends at the first round
// in which no new request arrived; posters never wait for it. A waiter that leaves and finds
// the role taken sleeps until the holder has removed its record.
// ----------------------------------------------------------------------------------------
#pragma once

#include <sync/thread_ops.h>

#include <atomic>
#include <stdint.h>

namespace ksync {

class WaiterList;

// One waiting thread's entry, on that thread's stack. See the states above.
class Waiter {
public:
    explicit Waiter(Thread* thread) : m_thread(thread) {}
    Waiter(const Waiter&) = delete;
    Waiter& operator=(const Waiter&) = delete;

    // Whether a holder has woken this record (for a Semaphore: handed it a unit).
    bool is_woken() const
    {
        // Acquire pairs with the release CAS kWaiting → kWoken in WaiterList::serve_one().
        return m_state.load(std::memory_order_acquire) == kWoken;
    }

private:
    friend class WaiterList;
    static constexpr uint32_t kWaiting = 0;
    static constexpr uint32_t kWoken = 1;
    static constexpr uint32_t kCancelled = 2;
    static constexpr uint32_t kRemoved = 3;

    Thread* const m_thread;
    std::atomic<uint32_t> m_state{kWaiting};
    // m_incoming link (written by the waiter before its push), then FIFO link (holder only).
    Waiter* m_next = nullptr;
};

class WaiterList {
public:
    // `sink`: where units nobody waits for go (Semaphore's count), or nullptr: a wake request
    // that finds no waiter is dropped (WaitQueue).
    constexpr explicit WaiterList(std::atomic<int64_t>* sink = nullptr) : m_sink(sink) {}
    WaiterList(const WaiterList&) = delete;
    WaiterList& operator=(const WaiterList&) = delete;

    // Waiter: queues `waiter` and issues the seq_cst fence of the handshakes above. The caller
    // then re-checks its condition and either sleeps (sleep_until) or leave()s.
    void enqueue(Waiter& waiter);

    // Waiter: sleeps until woken (true) or until deadline_ns (then leaves the list; returns
    // true if a wake won the race, false if it timed out). Blocks.
    bool sleep_until(Waiter& waiter, uint64_t deadline_ns);

    // Waiter: stop waiting now. Returns true if the record had been woken already (it is off
    // the list; for a Semaphore the caller owns a unit), false once it has been removed
    // unwoken. May sleep briefly until the holder has removed the record.
    bool leave(Waiter& waiter);

    // Waker: wakes up to `count` of the oldest waiters; with a sink, units not handed to a
    // waiter go to the sink. Never blocks; any context (preemption disabled too).
    void wake(uint64_t count);
    // Waker: wakes every waiter whose record is visible (see the argument). Never blocks.
    void wake_all();

    // Waker: whether a waiter may be queued — the waker's side of the no-lost-wake-up
    // handshake (includes its seq_cst fence). False means no wake is needed.
    bool has_waiters() const;

private:
    static constexpr uint64_t kBusy = 1;      // the holder role is taken
    static constexpr uint64_t kAll = 2;       // wake_all requested
    static constexpr uint64_t kCancel = 4;    // a record was cancelled; scan for it
    static constexpr unsigned kCountShift = 3; // the rest: wake count / units requested
    static constexpr uint64_t kCountMax = (~uint64_t(0)) >> kCountShift;

    void post(uint64_t flags, uint64_t count);
    void run();
    void drain_incoming();
    void remove_cancelled();
    bool serve_one();
    void unlink_cancelled(Waiter* waiter);
    bool take_sink_unit();

    std::atomic<int64_t>* const m_sink;
    std::atomic<uint64_t> m_state{0};
    std::atomic<Waiter*> m_incoming{nullptr}; // LIFO, pushed by waiters
    std::atomic<bool> m_has_fifo{false};       // written by the holder: FIFO non-empty
    Waiter* m_head = nullptr;                  // holder only: oldest
    Waiter* m_tail = nullptr;                  // holder only
};

} // namespace ksync
