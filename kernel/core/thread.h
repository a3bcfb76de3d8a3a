// Kernel threads on one CPU: create, join, yield, block/wake (park/unpark), exit, and the
// kernel binding of the synchronisation primitives (kernel/sync/thread_ops.h).
//
// This is the first step of issue 3: scheduling is cooperative — a thread runs until it
// yields, blocks or exits — and the run queue is CPU 0's sched::RunQueue (fair class). Timer
// preemption, other CPUs and sleeping with timeouts come next. With nothing runnable and no
// timer to wait for, the kernel reports a deadlock rather than hanging.
#pragma once

#include <core/cpu.h>
#include <cstddef>
#include <cstdint>
#include <lib/result.h>
#include <sched/run_queue.h>
#include <atomic>

namespace ksync {
// The kernel's binding: every core::Thread is a ksync::Thread.
class Thread {};
} // namespace ksync

namespace core {

class Thread;
void init_threads();
void yield();
void park_current_thread();
void unpark_thread(Thread* thread);
[[noreturn]] void exit_current_thread();
// Switches to another thread if the timer or a wake-up asked for it (need_resched) and the
// current one is preemptible. Called as an interrupt returns to thread context, with
// interrupts disabled.
void preempt_if_needed(bool from_idle = false);

class Thread final : public ksync::Thread, public sched::Entity {
public:
    using Entry = void (*)(void* arg);
    enum class State : uint8_t { Runnable, Running, Blocked, Exited, Preempted };

    static constexpr size_t kDefaultStackSize = 64 * 1024;

    // A new runnable thread running entry(arg) on its own guarded stack. It runs when the
    // creator yields or blocks. NOMEM when no memory for the stack or the structure.
    static Result<Thread*> create(const char* name, Entry entry, void* arg,
                                  size_t stack_size = kDefaultStackSize);

    // Waits until `thread` has exited, then frees it. Each thread is joined exactly once, by
    // another thread. Blocks.
    static void join(Thread* thread);

    const char* name() const { return m_name; }
    uint64_t tid() const { return id; }
    State state() const { return m_state; }
    // [stack_bottom, stack_top) — for backtraces and diagnosis.
    uint64_t stack_bottom() const { return m_stack_bottom; }
    uint64_t stack_top() const { return m_stack_bottom + m_stack_size; }

private:
    friend void init_threads();
    friend void park_current_thread();
    friend void unpark_thread(Thread*);
    friend void yield();
    friend void exit_current_thread();
    friend void preempt_if_needed(bool);
    friend Result<void> start_idle_thread();
    friend void dump_threads();

    Thread() = default;
    // A thread with its stack and initial context, not yet in any run queue.
    static Result<Thread*> allocate(const char* name, Entry entry, void* arg, size_t stack_size);
    // Leaves the CPU with the current thread in `state`; returns when it runs again (never,
    // for Exited).
    static void switch_away(State state);

    uint64_t m_saved_rsp = 0;
    uint64_t m_stack_bottom = 0;
    size_t m_stack_size = 0;
    bool m_owns_stack = false; // false: a stack the thread did not allocate (the boot thread)
    State m_state = State::Runnable;
    // A pending wake-up (unpark before park). Atomic for the SMP issue's cross-CPU wakes.
    std::atomic<bool> m_wake_token { false };
    Thread* m_joiner = nullptr;
    char m_name[32] = {};
    // All threads, for the panic dump (g_all_threads in thread.cc; changed with interrupts off).
    Thread* m_all_prev = nullptr;
    Thread* m_all_next = nullptr;
};

// Turns the boot context (kernel_main on the boot stack) into thread "main" on CPU 0.
void init_threads();

Thread* current_thread();

// Gives the CPU to another runnable thread, if any; returns when this one is picked again.
void yield();

// Blocks until unpark_thread() (a token: an unpark before the park is not lost). May return
// spuriously; callers re-check their condition.
void park_current_thread();
void unpark_thread(Thread* thread);

// Ends the calling thread (entry functions may also just return).
[[noreturn]] void exit_current_thread();

// Whether the current context may block (not inside a PreemptGuard).
bool can_block();

// Prints every thread (id, name, state, stack) for a panic report. Reads only; safe with a
// broken kernel as long as the thread list itself is intact.
void dump_threads();

// Creates this CPU's idle thread (runs when nothing else is runnable). After init_threads.
Result<void> start_idle_thread();

} // namespace core
