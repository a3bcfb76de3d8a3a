// Kernel threads and the scheduler across CPUs: create (anywhere, or pinned to a CPU), join,
// detach, yield, block/wake (park/unpark), exit, migrate, and the kernel binding of the
// synchronisation primitives (kernel/sync/thread_ops.h).
//
// Every thread has a home CPU (m_cpu) whose run queue holds it while it is runnable; only that
// CPU touches its run queue (interrupts disabled). A wake-up from another CPU goes through the
// lock-free wake-up queues (sched::WakeupQueues) and, when the target is not already polling,
// a reschedule IPI. Threads move between CPUs only when their home CPU sends them away: the
// load balancer, or the thread itself (pin_current_thread). See thread.cc for the protocol.
#pragma once

#include <atomic>
#include <core/cpu.h>
#include <cstddef>
#include <cstdint>
#include <lib/result.h>
#include <sched/run_queue.h>
#include <sched/wakeup_queue.h>

namespace ksync {
// The kernel's binding: every core::Thread is a ksync::Thread.
class Thread {};
} // namespace ksync

namespace core {

class Thread;
void init_threads();
void yield();
void park_current_thread();
bool park_current_thread_until(uint64_t deadline_ns);
void unpark_thread(Thread* thread);
void unpark_thread_for_handoff(Thread* thread);
void commit_handoff();
[[noreturn]] void exit_current_thread();
// Switches to another thread if the timer or a wake-up asked for it (need_resched) and the
// current one is preemptible. Called as an interrupt returns to thread context, with
// interrupts disabled.
void preempt_if_needed(bool from_idle = false);
void unpin_current_thread();

inline constexpr int kAnyCpu = -1;

struct ThreadAttr {
    size_t stack_size = 64 * 1024;
    // kAnyCpu: start on the creating CPU, free to move. Otherwise pinned to that CPU (index
    // below cpu_count()) until it pins itself elsewhere.
    int cpu = kAnyCpu;
    // An application thread: it runs application code (the lower half) and enters the kernel
    // by `syscall` on its own stack's top. Its extended (x87/SSE/AVX) state is saved and
    // restored on every switch, because kernel code between the entry and the switch clobbers
    // only what the entry saved, and another application thread may run meanwhile.
    bool app = false;
    // A waker that is about to block: an interrupt thread, which does a short piece of work
    // and parks again. A thread it wakes whose home is another CPU, and that is free to move,
    // may be moved here instead (a "wake-affine" wake-up, see thread.cc) when nothing else
    // waits on this CPU: it then runs as soon as the waker parks, with no IPI and no other CPU
    // leaving its halt — what a request/response flow through a NIC queue wants. A woken
    // thread of this CPU waits for the waker to park (at most 1 ms) instead of preempting it.
    bool wakes_affine = false;
};

class Thread final : public ksync::Thread, public sched::Entity, public sched::WakeupItem {
public:
    using Entry = void (*)(void* arg);
    // Runnable: in its home CPU's run queue. Running: on its home CPU. Blocked: parked.
    // Waking: between a wake-up (or a migration) and its arrival in a run queue. Exited: done,
    // off its stack for good.
    enum class State : uint8_t { Runnable, Running, Blocked, Waking, Exited };

    static constexpr size_t kDefaultStackSize = 64 * 1024;

    // A new runnable thread running entry(arg) on its own guarded stack. INVAL for a bad
    // stack size or CPU index; NOMEM when no memory for the stack or the structure.
    static Result<Thread*> create(const char* name, Entry entry, void* arg, ThreadAttr attr = {});

    // Waits until `thread` has exited, then frees it. Each thread is joined exactly once, by
    // another thread, unless it was detached. Blocks.
    static void join(Thread* thread);
    // The thread frees itself when it exits; it must not be joined (or touched) afterwards.
    static void detach(Thread* thread);

    const char* name() const { return m_name; }
    uint64_t tid() const { return id; }
    State state() const { return m_state.load(std::memory_order_relaxed); }
    // The CPU whose run queue holds (or will hold) it. Changes when it migrates.
    unsigned cpu_index() const;
    // The CPU it is pinned to, or kAnyCpu.
    int pinned_cpu() const { return m_pinned; }
    // Time it has run on a CPU, up to its last switch (or up to now, for the caller itself).
    uint64_t runtime_ns() const;
    // [stack_bottom, stack_top) — for backtraces and diagnosis.
    uint64_t stack_bottom() const { return m_stack_bottom; }
    uint64_t stack_top() const { return m_stack_bottom + m_stack_size; }
    bool is_app() const { return m_xstate != nullptr; }
    // An application thread's saved extended state (valid while it is switched out, and
    // its initial state before it first runs); nullptr for kernel threads.
    const void* extended_state() const { return m_xstate; }
    // The application layer's per-thread data (kernel/lx); null for kernel threads.
    void* app_data() const { return m_app_data; }
    void set_app_data(void* data) { m_app_data = data; }
    // Work the application layer must do before the thread returns from a system call: bits
    // that kernel/lx defines (lx/signal.h, "Return work"), set by any thread (atomic RMWs), read
    // once on the system call's return path and cleared only by the thread itself there. A new
    // thread starts with every bit set, so that its first return looks at everything.
    std::atomic<uint32_t>& return_work() { return m_return_work; }
    static constexpr uint32_t kReturnWorkAll = ~uint32_t(0);

private:
    friend void init_threads();
    friend void park_current_thread();
    friend bool park_current_thread_until(uint64_t);
    friend void unpark_thread(Thread*);
    friend void kick_thread(Thread*);
    friend void yield();
    friend void exit_current_thread();
    friend void preempt_if_needed(bool);
    friend Result<void> start_idle_thread();
    friend Result<void> prepare_secondary_cpu(PerCpu&, uint64_t, size_t);
    friend Result<void> pin_current_thread(unsigned);
    friend void unpin_current_thread();
    friend void set_current_fs_base(uint64_t);
    friend uint64_t current_fs_base();
    friend Result<void> set_current_thread_priority(uint32_t);
    friend void dump_threads();
    friend struct ThreadInternals;

    enum class Switch : uint8_t { Yield, Preempt, Block, Exit, Migrate };
    // What finish_switch() still has to do for a thread that switched out.
    enum class Pending : uint8_t { None, Exit, Migrate };

    Thread() = default;
    // A thread with its stack and initial context, not yet in any run queue.
    static Result<Thread*> allocate(const char* name, Entry entry, void* arg, size_t stack_size, bool app);
    // Leaves the CPU; returns when the thread runs again (never, for Exit).
    static void switch_away(Switch why);

    // The stack pointer its switch-out saved; 0 while it runs (finish_switch clears it). A
    // waker reads it to learn that a thread it woke is off its old CPU (see thread.cc).
    uint64_t m_saved_rsp = 0;
    uint64_t m_stack_bottom = 0;
    size_t m_stack_size = 0;
    bool m_owns_stack = false; // false: a stack the thread did not allocate (the boot thread)
    Pending m_pending = Pending::None;
    std::atomic<State> m_state { State::Runnable };
    // A pending wake-up (unpark before park).
    std::atomic<bool> m_wake_token { false };
    // Join protocol: running, exited, detached, or the joiner waiting (see thread.cc).
    std::atomic<uintptr_t> m_join { 0 };
    PerCpu* m_cpu = nullptr;
    int m_pinned = kAnyCpu;
    // > 0: the load balancer leaves it where it is (a timer of its is armed on this CPU).
    uint32_t m_migrate_disable = 0;
    bool m_wakes_affine = false; // ThreadAttr::wakes_affine
    // The FS base (thread-local storage) the thread runs with; loaded on every switch to it.
    uint64_t m_fs_base = 0;
    // Application threads: the XSAVE area their extended state is kept in while switched out
    // (64-byte aligned, arch::xsave_area_size() bytes), and the lx layer's data.
    void* m_xstate = nullptr;
    void* m_app_data = nullptr;
    std::atomic<uint32_t> m_return_work { kReturnWorkAll };
    // Run time: completed stints, and when the current one started (set by its CPU).
    std::atomic<uint64_t> m_runtime_ns { 0 };
    uint64_t m_running_since = 0;
    char m_name[32] = {};
    // All threads, for the panic dump (g_all_threads in thread.cc, under g_threads_lock).
    Thread* m_all_prev = nullptr;
    Thread* m_all_next = nullptr;
    // Next on the list of detached threads waiting to be freed.
    Thread* m_zombie_next = nullptr;
};

// Turns the boot context (kernel_main on the boot stack) into thread "main" on CPU 0.
void init_threads();

// For a CPU about to be started (smp.cc, on the boot CPU): its run queue, and the idle thread
// that its boot context — which will run on the stack [stack_bottom, +stack_size) — becomes
// (PerCpu::idle; the CPU makes it current itself). NOMEM.
Result<void> prepare_secondary_cpu(PerCpu& cpu, uint64_t stack_bottom, size_t stack_size);

// The idle loop (never returns): a CPU's idle thread runs it.
[[noreturn]] void run_idle_loop();

// Sets up cross-CPU wake-ups for `ncpus` CPUs (smp.cc, before any other CPU runs threads).
Result<void> init_cross_cpu_wakeups(unsigned ncpus);

// The running thread: one %gs-relative load, inline (every system call and lock operation
// asks). One instruction, so it cannot be split by a migration: `this_cpu().current`, two
// loads, could read another CPU's current thread if the thread moved between them.
inline Thread* current_thread()
{
    Thread* t;
    asm volatile("movq %%gs:%c1, %0" : "=r"(t) : "i"(offsetof(PerCpu, current)));
    return t;
}
// Whether init_threads() ran (there is a current thread, and locks have owners).
bool threads_started();

// Gives the CPU to another runnable thread, if any; returns when this one is picked again.
void yield();

// Blocks until unpark_thread() (a token: an unpark before the park is not lost). May return
// spuriously; callers re-check their condition.
void park_current_thread();
// The same, but also returns at `deadline_ns` (monotonic). true: it consumed a token (or
// returned spuriously); false: the deadline passed and no token was consumed — a timeout never
// eats a wake-up (the contract of ksync::park_current_until in sync/thread_ops.h). The thread
// stays on its CPU meanwhile (its timer is there).
bool park_current_thread_until(uint64_t deadline_ns);
void unpark_thread(Thread* thread);
// unpark_thread() by a waker that expects to block soon (a futex wake, usually followed by the
// waker's own futex wait: glibc's condvar and mutex). A thread whose home is the caller's CPU
// may be held back (PerCpu::handoff) instead of joining the run queue: when the caller blocks
// with nothing else runnable, the CPU switches straight to it — no run-queue insert, no
// wake-up preemption check, no pick, no clock read. The held-back wake-up is committed (made
// an ordinary one) by any other switch on this CPU, any interrupt return
// (preempt_if_needed), the end of any system call but a futex one (commit_handoff), and at the
// latest by the preemption timer, armed for 1 ms after the run queue's last update (see
// thread.cc). Thread context, interrupts on (otherwise it is unpark_thread()).
void unpark_thread_for_handoff(Thread* thread);
// Commits this CPU's held-back wake-up (unpark_thread_for_handoff), if any, and switches if the
// woken thread should run now. Thread context, interrupts on.
void commit_handoff();
// Whether this CPU holds a wake-up back (one %gs-relative compare, its result in the flags: it
// runs after every system call).
inline bool handoff_pending()
{
    bool held;
    asm volatile("cmpq $0, %%gs:%c1" : "=@ccne"(held) : "i"(offsetof(PerCpu, handoff)));
    return held;
}
// Gets `thread`'s attention: unparks it if it is blocked (a spurious wake-up for its wait
// loop), and interrupts its CPU if it is running on another one. For signals.
void kick_thread(Thread* thread);

// Moves the calling thread to CPU `cpu` (if it is not there) and keeps it there. INVAL for a
// CPU that is not running.
Result<void> pin_current_thread(unsigned cpu);
// Lets the calling thread move again (the load balancer may migrate it).
void unpin_current_thread();

// The calling thread's FS base (its thread-local storage pointer, %fs:0 and on): set now
// and restored whenever it runs again. New threads start with 0.
void set_current_fs_base(uint64_t base);
uint64_t current_fs_base();

// The calling thread's fair-class priority from now on, fixed point: sched::kPriorityOne (the
// default) is 1; a thread at priority p accrues run time p times as fast, so at
// 2·kPriorityOne it gets half the CPU a kPriorityOne thread gets. INVAL outside
// [1, sched::kPriorityMax].
Result<void> set_current_thread_priority(uint32_t priority);

// Ends the calling thread (entry functions may also just return).
[[noreturn]] void exit_current_thread();

// Whether the current context may block (not inside a PreemptGuard).
bool can_block();

// Prints every thread (id, name, state, CPU, stack) for a panic report. Reads only; safe with
// a broken kernel as long as the thread list itself is intact.
void dump_threads();

// Creates this CPU's idle thread (runs when nothing else is runnable). After init_threads.
Result<void> start_idle_thread();

// Scheduler statistics: context switches on all CPUs, and threads migrated by the load
// balancer.
uint64_t context_switches();
uint64_t balancer_migrations();

} // namespace core
