// The four things the synchronisation algorithms need from threads: who am I, sleep, wake,
// and may I sleep here. Each side binds them at link time.
//
// The mutex and condition variable are written against this interface only, so the same
// algorithm code runs in the kernel and, for the unit and TSan tests, on the host:
//
//   binding   where                          parking
//   host      kernel/sync/host_thread_ops.cc  one futex word per std::thread
//   kernel    comes with sched (issue 3)      the scheduler's sleep/wake of sched::Thread
//
// Like lib::assert_fail these are plain functions resolved by the linker, not virtual calls,
// so the kernel pays no indirection (a later binding may make them inline).
#pragma once

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

// The calling thread. Never null in thread context. Not for interrupt context (there is none
// in Nimbus: handlers run in threads).
Thread* current_thread();

// Blocks the calling thread until a wake-up token is available and consumes it. A token is
// produced by unpark(); at most one is stored (unparks do not accumulate). May also return
// for no reason (spurious wake-up): callers always re-check their own condition in a loop.
// Must be called where blocking is allowed (see can_block()).
void park_current();

// Makes a wake-up token available to `thread` and wakes it if it is parked. Never blocks and
// never loses a wake-up: an unpark that comes before the matching park makes that park return
// at once. Callable from any thread, with preemption disabled too.
void unpark(Thread* thread);

// False where the caller must not block (preemption or interrupts disabled). Blocking
// primitives assert it at entry, before they know whether they would actually have to wait,
// so misuse shows up on the uncontended path too.
bool can_block();

} // namespace ksync
