// Signals, delivered on the right thread (never on a new one, which is what broke OSv).
//
// A signal is made pending on one thread: the one that faulted, the one tgkill names, or for
// a process-wide kill the first thread that does not block it. It is delivered when that
// thread is about to return to application code — at the end of a system call, or as an
// interrupt or exception returns — by building a Linux rt_sigframe on the application's
// stack (or its alternate stack): the return address (the handler's sa_restorer), a
// ucontext with every general register, the signal mask and the full XSAVE image, and the
// siginfo. rt_sigreturn restores all of it from the (possibly modified) frame. A thread
// running on another CPU is interrupted by an IPI; one blocked in the kernel is woken and its
// call returns EINTR.
//
// Default actions: terminate (the VM exits 128 + signal, after saying what happened),
// ignore (SIGCHLD, SIGURG, SIGWINCH, SIGCONT — and the stop signals: one process has no job
// control to stop it for).
#pragma once

#include <arch/x86_64/syscall_entry.h>
#include <cstdint>
#include <lx/process.h>

namespace lx {

// Queues signal `signo` for `thread` (with fault details) and gets its attention.
void send_signal(AppThread& thread, int signo, int32_t code, uint64_t address = 0, int32_t sender_pid = 0);
void send_signal(AppThread& thread, int signo, const AppThread::PendingInfo& info);

// A process-directed signal (kill, an interval timer, a POSIX timer): the calling thread if it
// does not block it, else the first thread that does not, else the main thread, where it stays
// pending until unblocked.
void send_process_signal(int signo, const AppThread::PendingInfo& info);

// Whether the calling application thread has a signal it should handle now (a blocking
// call then returns EINTR).
bool signal_pending();

// At the end of a system call: delivers what is pending by rewriting the frame.
void deliver_signals(arch::SyscallFrame& frame);

// Installs the fault handler and the interrupt-return hook (core/traps.h). Once, at boot.
void init_signals();

} // namespace lx
