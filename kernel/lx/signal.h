// Signals, delivered on the right thread (never on a new one, which is what broke OSv).
//
// A signal is made pending on one thread: the one that faulted, the one tgkill names, or for
// a process-wide kill the first thread that does not block it (marked process-directed, so
// that any thread's signalfd or sigtimedwait may still take it). It is delivered when that
// thread is about to return to application code — at the end of a system call, or as an
// interrupt or exception returns — by building a Linux rt_sigframe on the application's
// stack (or its alternate stack): the return address (the handler's sa_restorer), a
// ucontext with every general register, the signal mask and the full XSAVE image, and the
// siginfo. rt_sigreturn restores all of it from the (possibly modified) frame. A thread
// running on another CPU is interrupted by an IPI; one blocked in the kernel is woken.
//
// Interrupted calls. A blocking call that a signal cuts short returns one of the restart codes
// below instead of EINTR, and the system call's return path decides, as Linux does: if a
// handler runs, the call fails with EINTR — unless the code is kRestartSys and the handler
// has SA_RESTART, in which case the saved context points back at the `syscall` instruction
// (rip - 2, rax = the call's number) and the call runs again after the handler returns. If
// no handler runs (the signal was ignored, or taken by someone else), the call is restarted
// at once. kRestartBlock restarts through restart_syscall and the thread's RestartBlock,
// which carries an absolute deadline, so a timed sleep does not start over.
//
// Default actions: terminate (the VM exits 128 + signal, after saying what happened),
// ignore (SIGCHLD, SIGURG, SIGWINCH, SIGCONT — and the stop signals: one process has no job
// control to stop it for).
#pragma once

#include <arch/x86_64/syscall_entry.h>
#include <atomic>
#include <core/thread.h>
#include <cstdint>
#include <lib/errno.h>
#include <lib/result.h>
#include <lx/process.h>

namespace lx {

// The restart codes (Linux's ERESTARTSYS, ERESTARTNOHAND and ERESTART_RESTARTBLOCK values).
// Internal to the kernel: deliver_signals turns every one into EINTR or a restart, and the
// application never sees them.
//   kRestartSys     restart unless a handler without SA_RESTART runs (read, write, futex wait)
//   kRestartNoHand  restart only if no handler runs (poll, select, epoll, sigsuspend, pause)
//   kRestartBlock   like kRestartNoHand, through restart_syscall (timed sleeps and waits);
//                   return it with restart_later()
inline constexpr lib::Errno kRestartSys = lib::Errno(512);
inline constexpr lib::Errno kRestartNoHand = lib::Errno(514);
inline constexpr lib::Errno kRestartBlock = lib::Errno(516);

// Whether a syscall result is one of the restart codes.
bool is_restart_code(int64_t result);

// For an interrupted call that must not start over: records `fn` and its deadline and
// arguments in the calling thread's RestartBlock (restart_syscall runs fn with them) and
// returns -kRestartBlock for the handler to return.
int64_t restart_later(AppThread::RestartBlock::Fn fn, uint64_t deadline, uint64_t a0 = 0, uint64_t a1 = 0,
                      uint64_t a2 = 0, uint64_t a3 = 0, uint64_t a4 = 0);

// The temporary signal mask of ppoll, pselect6 and epoll_pwait(2) (and rt_sigsuspend):
// installs the sigset at `address` for the duration of the call. A null address installs
// nothing. INVAL unless `size` is 8; FAULT.
lib::Result<void> begin_temporary_mask(uint64_t address, uint64_t size);
void begin_temporary_mask_value(uint64_t mask);
// Ends it as the call returns `result` (which it passes through): the caller's mask comes
// back now, unless the call was interrupted (EINTR or a restart code) — then the signal is
// delivered with the temporary mask still in effect and the caller's mask in its frame,
// which the handler's return restores (deliver_signals).
int64_t end_temporary_mask(int64_t result);

// Queues signal `signo` for `thread` (with fault details) and gets its attention. Thread
// context: takes sleeping locks (the actions; the readiness notifier while a signalfd is open).
void send_signal(AppThread& thread, int signo, int32_t code, uint64_t address = 0, int32_t sender_pid = 0);
void send_signal(AppThread& thread, int signo, const AppThread::PendingInfo& info);

// A process-directed signal (kill, an interval timer, a POSIX timer): the calling thread if it
// does not block it, else the first thread that does not, else the main thread, where it stays
// pending until unblocked (or taken by a signalfd or sigtimedwait of any thread).
void send_process_signal(int signo, const AppThread::PendingInfo& info);

// Whether the calling application thread has a signal it should handle now (a blocking
// call then returns a restart code).
bool signal_pending();

// signalfd and sigtimedwait: takes the pending signal in `mask` for the calling application
// thread — its own first (faults first, then the lowest number), then a process-directed one
// that another thread holds — whether blocked or not. Its number, or 0 if there is none.
int take_signal_in(uint64_t mask, AppThread::PendingInfo& info);
// Whether take_signal_in would find one. Any thread context (without an application thread,
// only process-directed signals count).
bool has_signal_in(uint64_t mask);
// Signal `signo` was made pending (signalfd.cc): the signalfds whose mask holds it notify
// their watches and the readiness waiters wake. Cheap while no signalfd is open.
void notify_signalfds(int signo);

// Not a system call number: a return that must not restart (rt_sigreturn's).
inline constexpr uint64_t kNotRestartable = ~uint64_t(0);

// SIGKILL and SIGSTOP, which no mask blocks (bit n-1 for signal n).
inline constexpr uint64_t kUnblockableSignals = (uint64_t(1) << 8) | (uint64_t(1) << 18);

// Return work. The system call's return path has something to do for signals only when
// the thread has an unblocked signal pending, a temporary mask on (suspend_active), an exact
// return pending (exact_return) or a restart code in rax. Rather than test all of that after
// every call, the return path tests one word, the thread's core::Thread::return_work(), and
// the restart-code range of rax; kReturnWorkSignals in that word means "look at the signal
// state". It is a superset, never a subset, of what is to do:
// - Whoever makes the state need work sets the bit after the change: send_signal and the
//   fault path after setting a pending bit (from any thread: a fetch_or with release), and
//   the thread itself when it clears bits of its mask or sets suspend_active or exact_return
//   (sigprocmask, the temporary masks, rt_sigreturn). Changes that only block more or take
//   signals away (a handler's mask, sigtimedwait restoring the caller's mask) need no bit.
// - Only the thread itself clears it, at the start of deliver_signals_slow (an acq_rel
//   exchange), before it looks at the state, and it sets it again at the end if work is
//   left (another signal still deliverable). A sender's bit store is either before the
//   exchange in the word's modification order — then the exchange synchronises with it and
//   the slow path's loads see the pending bit the sender set first — or after it, and the
//   bit is there for the next return. So no pending signal is ever left behind by a clear;
//   a bit without work costs one trip through the slow path.
// - A new thread's word starts with every bit set; a thread without application data (a
//   kernel thread) never clears it and always takes the slow path, as before.
// The interrupt return (on_app_return) looks at the state itself and never clears the bit.
inline constexpr uint32_t kReturnWorkSignals = 1;

// The work of deliver_signals when its inline check finds any (signal.cc).
void deliver_signals_slow(arch::SyscallFrame& frame, uint64_t nr);

// Marks `t`'s signal state as possibly needing the return path's work (above). Any thread.
inline void note_signal_work(core::Thread* t)
{
    // Release: the change that needs the work (a pending bit) comes before it (see above).
    if (t)
        t->return_work().fetch_or(kReturnWorkSignals, std::memory_order_release);
}

// Whether deliver_signals may have anything to do as the calling thread returns from a system
// call with `frame`: its return-work word (above) or a restart code in rax. Inline and two
// loads and a range test: it runs after every system call.
inline bool deliver_signals_needed(const arch::SyscallFrame& frame)
{
    // Acquire: pairs with note_signal_work's release (the slow path's exchange re-reads it).
    if (core::current_thread()->return_work().load(std::memory_order_acquire) != 0)
        return true;
    // The restart codes are -516..-512 (the values in between are not, which the slow path
    // then merely looks at).
    return frame.rax + 516 <= 4;
}

// At the end of system call `nr` (whose result is in frame.rax): delivers what is pending by
// rewriting the frame, and resolves a restart code (above).
inline void deliver_signals(arch::SyscallFrame& frame, uint64_t nr)
{
    if (deliver_signals_needed(frame))
        deliver_signals_slow(frame, nr);
}

// Installs the fault handler and the interrupt-return hook (core/traps.h). Once, at boot.
void init_signals();

} // namespace lx
