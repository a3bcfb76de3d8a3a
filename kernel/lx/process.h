// The application: Nimbus runs one Linux program per VM, as one process (pid 1) whose
// threads are kernel threads marked as application threads (core::ThreadAttr::app). This
// file holds the process-wide state the syscalls share and the per-thread Linux state.
#pragma once

#include <arch/x86_64/syscall_entry.h>
#include <atomic>
#include <core/thread.h>
#include <cstdint>
#include <lib/result.h>

namespace lx {

inline constexpr int32_t kPid = 1;

// The Linux side of an application thread (core::Thread::app_data()).
struct AppThread {
    core::Thread* thread = nullptr;
    int32_t tid = 0;
    uint64_t clear_child_tid = 0; // set_tid_address / CLONE_CHILD_CLEARTID
    uint64_t robust_list = 0;     // set_robust_list
    uint64_t robust_list_len = 0;
    char comm[16] = {};           // prctl(PR_SET_NAME)
    // Signals (signal.h): the mask, the pending set (bit n-1 for signal n; other threads set
    // bits, so atomic) with what each pending signal carries, and the alternate stack.
    // `pending_shared` marks the pending bits that came from a process-directed signal (kill),
    // which any thread's signalfd or sigtimedwait may take; it is set before the pending bit
    // and may lag behind (a stale bit without its pending bit means nothing).
    uint64_t blocked = 0;
    std::atomic<uint64_t> pending { 0 };
    std::atomic<uint64_t> pending_shared { 0 };
    struct PendingInfo {
        int32_t code = 0;
        int32_t sender_pid = 0;
        uint64_t address = 0; // faults: the address; kill/tgkill: 0
        int32_t errno_value = 0;
        int32_t trapno = 0;
        // SI_TIMER (POSIX timers): the timer's id, its overrun count and sigev_value.
        int32_t timer_id = 0;
        int32_t overrun = 0;
        uint64_t value = 0;
    } pending_info[64];
    uint64_t altstack_sp = 0;
    uint64_t altstack_size = 0;
    int32_t altstack_flags = 2; // SS_DISABLE
    // A temporary mask (rt_sigsuspend, ppoll, pselect6, epoll_pwait) is in `blocked`; this is
    // the caller's, for the frame of the signal that interrupts the call.
    uint64_t suspend_saved_mask = 0;
    bool suspend_active = false;
    // The signals rt_sigtimedwait waits for (unblocked meanwhile, so that kill picks this
    // thread; still never discarded as ignored, as blocked signals are not).
    uint64_t sigwait_set = 0;
    // An interrupted call that restarts through restart_syscall (signal.h, kRestartBlock):
    // what to run again, with the absolute deadline and the arguments it needs. Only the
    // thread itself touches it.
    struct RestartBlock {
        using Fn = int64_t (*)(const RestartBlock&);
        Fn fn = nullptr; // nullptr: restart_syscall answers EINTR
        uint64_t deadline = 0;
        uint64_t arg[5] = {};
    } restart;
    // rt_sigreturn restored a context whose rcx and r11 are live (code interrupted anywhere):
    // the syscall's return must load them too (arch_syscall_return_exact).
    bool exact_return = false;
    uint64_t exact_rcx = 0, exact_r11 = 0;
    AppThread* registry_next = nullptr; // the registry (for_each_app_thread)
    // A cloned thread's first return to the application: its registers (the parent's
    // SyscallFrame with rax = 0 and the new stack) and the parent's xmm0-15 and MXCSR below
    // them, where arch_syscall_return_to expects them.
    struct alignas(16) InitialFrame {
        arch::SyscallSseArea sse;
        arch::SyscallFrame frame;
    } initial;
};

// The calling thread's Linux state; only valid on an application thread.
AppThread& current_app_thread();

// Starts a new application thread that enters application code at `rip` with stack
// pointer `rsp` and FS base `fs_base`, as thread `tid` (0: allocate one). NOMEM.
lib::Result<AppThread*> spawn_app_thread(const char* name, uint64_t rip, uint64_t rsp, uint64_t fs_base,
                                         int32_t tid = 0);

// Calls fn(thread, ctx) for every live application thread, with the registry locked (fn must
// not block or call back into the registry), until fn returns true; whether one did.
bool for_each_app_thread(bool (*fn)(AppThread& thread, void* ctx), void* ctx);

// clone() for a thread: a new application thread that returns to the application from
// `parent`'s syscall with rax = 0, stack pointer `stack` (0: the parent's) and FS base
// `fs_base`; CLONE_CHILD_CLEARTID's word, and where to store its tid first (0: nowhere).
// Returns the tid. NOMEM, FAULT.
lib::Result<int32_t> spawn_cloned_thread(const arch::SyscallFrame& parent, uint64_t stack, uint64_t fs_base,
                                         uint64_t clear_child_tid, uint64_t parent_tid_ptr, uint64_t child_tid_ptr);

// Ends the application with `status` (exit_group, a fatal signal, the last thread's exit):
// the VM exits with status & 0xff. Never returns.
[[noreturn]] void exit_application(int status);

// Ends the calling application thread (exit); the last one ends the application.
[[noreturn]] void exit_app_thread(int status);

// For in-kernel tests: called instead of ending the VM when the application ends; the
// calling thread then exits. nullptr restores the default.
using ExitHook = void (*)(int status);
void set_exit_hook(ExitHook hook);

// The program break (brk), set by the loader to the end of the executable's data.
void init_program_break(uint64_t start);
// Where the break started (page-aligned; 0 before exec): the "[heap]" of /proc/self/maps.
uint64_t program_break_start();

} // namespace lx
