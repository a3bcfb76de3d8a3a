// What the synchronisation algorithms need from threads and time: who am I, sleep (with or
// without a deadline), wake, may I sleep here, and what time is it. Each side binds them at
// link time.
//
// Every ksync primitive is written against this interface only, so the same
// algorithm code runs in the kernel and, for the unit and TSan tests, on the host:
//
//   binding   where                          parking
//   host      kernel/sync/host_thread_ops.cc  one futex word per std::thread
//   kernel    kernel/core/thread.cc           the scheduler's sleep/wake of core::Thread
//
// Like lib::assert_fail these are plain functions resolved by the linker, not virtual calls,
// so the kernel pays no indirection. The kernel's current_thread() and can_block(), asked by
// every lock and unlock, are inline below instead (one per-CPU load each).
#pragma once

#include <stdint.h>

// The namespace is `ksync`, not `sync`: glibc's <unistd.h> declares ::sync(void), which every
// host test (gtest) and even libstdc++'s <atomic> pulls in, and a global function and a
// global namespace cannot share a name (the same kind of clash as `linux` → `lx`).

namespace ksync {

// A thread as the synchronisation code sees it: an identity (mutex owner) and somewhere to
// park. Opaque here; each binding defines it (the kernel's as part of sched::Thread).
//
// Lifetime rule for bindings: a waker may call unpark(t) a little after t has stopped waiting
// (t saw its wake-up flag, returned, even exited). The storage behind a Thread* must therefore
// stay valid after the thread is gone; it may be reused by a new thread, for which the late
// unpark is just a spurious wake-up. (Kernel: free thread structures after an RCU grace period,
// or have unpark run with preemption disabled against an exit that waits for one.)
class Thread;

#if defined(NIMBUS_KERNEL)
// The kernel binds current_thread() and can_block() inline: every lock and unlock asks both,
// and each is one %gs-relative load (one instruction, so a migration cannot split it). The
// offsets are those of core::PerCpu's `current` and `preempt_count`, checked by core/cpu.h.
inline constexpr unsigned kPerCpuCurrentOffset = 32;
inline constexpr unsigned kPerCpuPreemptCountOffset = 48;
#endif

// The calling thread. Never null in thread context. Not for interrupt context (there is none
// in Nimbus: handlers run in threads).
#if defined(NIMBUS_KERNEL)
inline Thread* current_thread()
{
    Thread* t;
    asm volatile("movq %%gs:%c1, %0" : "=r"(t) : "i"(kPerCpuCurrentOffset));
    return t;
}
#else
Thread* current_thread();
#endif

// Blocks the calling thread until a wake-up token is available and consumes it. A token is
// produced by unpark(); at most one is stored (unparks do not accumulate). May also return
// for no reason (spurious wake-up): callers always re-check their own condition in a loop.
// Must be called where blocking is allowed (see can_block()).
void park_current();

// Makes a wake-up token available to `thread` and wakes it if it is parked. Never blocks and
// never loses a wake-up: an unpark that comes before the matching park makes that park return
// at once. Callable from any thread, with preemption disabled too.
void unpark(Thread* thread);

// Monotonic time in nanoseconds: never goes backwards, unaffected by wall-clock changes, the
// same clock on every CPU (host: CLOCK_MONOTONIC; kernel: the kernel's monotonic clock).
// Deadlines in ksync are absolute values of this clock. Callable from any context; never
// blocks.
uint64_t now_ns();

// A deadline that never passes: park_current_until(kNoDeadline) is park_current().
inline constexpr uint64_t kNoDeadline = ~uint64_t(0);

// park_current() with a deadline. Exact contract (the kernel binding must implement it so):
//
//   - Returns true  when it consumed a wake-up token, or spuriously (like park_current(),
//     possibly even after the deadline has passed).
//   - Returns false only when now_ns() >= deadline_ns at the time of return AND it did not
//     consume a token. A token stored before, during or after a timed-out park is left
//     stored: the next park_current() / park_current_until() returns at once. A timeout
//     therefore never loses a wake-up; it can only turn one into a later spurious return,
//     which every caller tolerates because callers always re-check their condition.
//   - deadline_ns <= now_ns() on entry (including 0): does not sleep and does not consume a
//     token; returns false. (kNoDeadline: never times out.)
//   - The sleep may overrun the deadline by the timer's and scheduler's latency, never end
//     early with false.
//
// Why this contract: a wait list's waker decides "this record is woken" (a flag in the record)
// and then unparks the thread. A waiter that times out at the same moment sees the flag (or
// finds its record gone) and must not return to a later wait with the token lost — nor may
// the binding be required to guess which of the two happened. With "a timeout never consumes
// a token" the waiter's flag is the only truth and the park layer never drops anything.
//
// Kernel sketch: arm a one-shot timer for deadline_ns whose callback unparks-without-token
// (marks "timed out" and makes the thread runnable), block as park_current() does, then cancel
// the timer; return true iff the token was taken (exchange(false) saw true).
// Same context rule as park_current().
bool park_current_until(uint64_t deadline_ns);

// False where the caller must not block (preemption or interrupts disabled). Blocking
// primitives assert it at entry, before they know whether they would actually have to wait,
// so misuse shows up on the uncontended path too.
#if defined(NIMBUS_KERNEL)
inline bool can_block()
{
    uint32_t count;
    asm volatile("movl %%gs:%c1, %0" : "=r"(count) : "i"(kPerCpuPreemptCountOffset));
    return count == 0;
}
#else
bool can_block();
#endif

} // namespace ksync
