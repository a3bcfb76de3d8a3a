// ksync::Semaphore: a counting semaphore with FIFO hand-off, lock-free, whose release never
// blocks.
//
// State: m_count, the units nobody has taken (never negative), and a WaiterList of queued
// acquirers whose sink is m_count (waiter_list.h: records on the waiters' stacks, delegated
// hand-off, leavable records, and the correctness argument).
//
//   try_acquire: CAS m_count > 0 → m_count - 1. Linearises at the successful CAS.
//   acquire_until: try_acquire; else queue a record, re-try m_count (the units handshake of
//     waiter_list.h: a unit deposited while we queued is seen either by us here or by the
//     holder, which then hands it to us), and sleep until the record is handed a unit or the
//     deadline passes. If the re-try succeeds we leave; if the record had also been handed a
//     unit meanwhile we own two and release one. A timeout that loses the race to a hand-off
//     returns true: the unit was ours first.
//   release(n): if acquirers are queued (has_waiters(), a seq_cst fence and two loads), post
//     n units to the list: its holder hands them to the oldest records, each record one unit,
//     the rest go to m_count. Otherwise add n to m_count and look again (the same handshake
//     from the releaser's side); if a record appeared, ask the holder to hand it units out of
//     m_count.
//
// Fairness: while acquirers are queued, released units go to them in arrival order; a
// newcomer's try_acquire finds m_count at 0 and queues behind them. Barging is possible only
// in the window of a concurrent release that found no queued record — bounded, so no
// starvation. Costs one wake-up per unit handed over (a convoy, as with the mutex).
//
// Memory order: a released unit carries the releaser's writes to its acquirer — release
// RMWs (on m_count, or on the list's state and then the record's state) paired with the
// acquirer's acquire CAS or acquire load of its record (waiter_list.h, "Memory order").
#pragma once

#include <sync/waiter_list.h>

#include <atomic>
#include <stdint.h>

namespace ksync {

// Context: acquire / acquire_until block — thread context, preemption and interrupts enabled
// (asserted at entry, also when a unit is available). try_acquire and release never block,
// allocate or sleep: callable from any thread, with preemption or interrupts disabled too.
// constexpr-constructible; must outlive its users; needs no destruction.
class Semaphore {
public:
    constexpr explicit Semaphore(int64_t initial = 0) : m_count(initial), m_waiters(&m_count) {}
    Semaphore(const Semaphore&) = delete;
    Semaphore& operator=(const Semaphore&) = delete;

    // Takes one unit, sleeping until one is available.
    void acquire();
    // Takes one unit, sleeping until one is available (true) or until now_ns() >= deadline_ns
    // (false, nothing taken). A deadline in the past only tries.
    bool acquire_until(uint64_t deadline_ns);
    // Takes one unit if one is free right now. Never blocks.
    bool try_acquire();
    // Adds `n` units, handing them to queued acquirers first (oldest first). Never blocks.
    void release(uint64_t n = 1);

    // Units free right now (a snapshot; for tests and statistics).
    int64_t available() const { return m_count.load(std::memory_order_relaxed); }

private:
    std::atomic<int64_t> m_count;
    WaiterList m_waiters;
};

} // namespace ksync
