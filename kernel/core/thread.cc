// Kernel threads and the scheduler on CPU 0, over sched::RunQueue.
//
// Switching: with interrupts disabled (the run queue is also touched by interrupt handlers
// that wake threads), the outgoing thread's state is set (Runnable for yield and preemption,
// Blocked, Exited), the run queue picks the next thread (or the idle thread when nothing is
// runnable), the preemption deadline for the new thread is handed to the timer, and
// arch_context_switch saves the callee-saved context on the old stack and resumes the new
// one. The interrupt-enable state is restored by the resumed thread's own IrqGuard.
//
// Preemption: the timer interrupt sets need_resched when the running thread's fair lead has
// run out; dispatch_irq() calls preempt_if_needed() as the interrupt returns — on the
// interrupted thread's own stack (traps.S moves device interrupts off the IST stack), so the
// switch is an ordinary one.
#include <arch/x86_64/context.h>
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/descriptors.h>
#include <arch/x86_64/layout.h>
#include <core/clock.h>
#include <core/console.h>
#include <core/irq.h>
#include <core/memory.h>
#include <core/panic.h>
#include <core/thread.h>
#include <core/timer.h>
#include <new>
#include <sync/thread_ops.h>

namespace core {
namespace {

alignas(sched::RunQueue) char g_run_queue_storage[sizeof(sched::RunQueue)];
uint64_t g_next_tid = 1;
Thread* g_all_threads = nullptr;

// The scheduler's clock. init_threads() starts the run queue at time 0 without reading it —
// the clock's first reading may calibrate the TSC (tens of microseconds) and boot should not
// wait for that — so the first real reading comes with the first thread operation, on the
// boot CPU, as core::monotonic_ns() requires.
sched::Nanos now() { return sched::Nanos(monotonic_ns()); }

void copy_name(char* out, const char* name)
{
    size_t i = 0;
    for (; name && name[i] && i < 31; ++i)
        out[i] = name[i];
    out[i] = '\0';
}

Thread* as_thread(sched::Entity* e) { return static_cast<Thread*>(e); }

const char* state_name(Thread::State s)
{
    switch (s) {
    case Thread::State::Runnable:
        return "runnable";
    case Thread::State::Running:
        return "running";
    case Thread::State::Blocked:
        return "blocked";
    case Thread::State::Exited:
        return "exited";
    case Thread::State::Preempted:
        return "preempted";
    }
    return "?";
}

// The idle thread: halts until an interrupt makes something runnable. Not in the run queue.
[[noreturn]] void idle_loop(void*)
{
    for (;;) {
        arch::irq_disable();
        PerCpu& cpu = this_cpu();
        if (cpu.run_queue->runnable_count() > 0) {
            preempt_if_needed(true);
            continue;
        }
        // sti takes effect after the next instruction, so an interrupt cannot slip in between
        // the check above and the hlt [intel-sdm-2b STI].
        asm volatile("sti; hlt" ::: "memory");
    }
}

} // namespace

void Thread::switch_away(State state)
{
    IrqGuard irq;
    PerCpu& cpu = this_cpu();
    NIMBUS_ASSERT(cpu.preempt_count == 0);
    Thread* prev = cpu.current;
    sched::RunQueue& rq = *cpu.run_queue;
    sched::Nanos t = now();
    sched::Entity* next_entity;
    if (prev == cpu.idle) {
        next_entity = rq.schedule(t);
    } else if (state == State::Runnable) {
        prev->m_state = State::Runnable;
        next_entity = rq.yield(t);
    } else if (state == State::Preempted) {
        prev->m_state = State::Runnable;
        next_entity = rq.schedule(t);
    } else {
        prev->m_state = state;
        rq.block_current(t);
        next_entity = rq.schedule(t);
    }
    Thread* next = next_entity ? as_thread(next_entity) : cpu.idle;
    if (!next)
        panic("deadlock: every thread is blocked and there is no idle thread (thread '%s')", prev->name());
    cpu.need_resched = false;
    sched::Nanos deadline = next_entity ? rq.preempt_deadline(t) : sched::kNever;
    set_preempt_deadline(deadline == sched::kNever ? 0 : uint64_t(deadline));
    if (next != cpu.idle)
        next->m_state = State::Running;
    if (next == prev)
        return;
    cpu.current = next;
    arch_context_switch(&prev->m_saved_rsp, next->m_saved_rsp);
    // Back on prev's stack: someone switched to it; ~IrqGuard restores its interrupt state.
}

void preempt_if_needed(bool from_idle)
{
    PerCpu& cpu = this_cpu();
    if (!cpu.current || cpu.preempt_count != 0)
        return;
    if (!from_idle) {
        if (!cpu.need_resched)
            return;
        // The deadline passed; the run queue makes the final call (a wake-up may have changed
        // the picture since).
        sched::Nanos t = now();
        if (!cpu.run_queue->should_preempt(t)) {
            cpu.need_resched = false;
            sched::Nanos d = cpu.run_queue->preempt_deadline(t);
            set_preempt_deadline(d == sched::kNever ? 0 : uint64_t(d));
            return;
        }
    }
    Thread::switch_away(Thread::State::Preempted);
}

void init_threads()
{
    init_boot_cpu();
    PerCpu& cpu = this_cpu();
    sched::RunQueueParams params;
    cpu.run_queue = new (g_run_queue_storage) sched::RunQueue(params, 0);
    auto* main = new (std::nothrow) Thread();
    NIMBUS_ASSERT(main); // boot-time, a few hundred bytes: failure means no memory at all
    copy_name(main->m_name, "main");
    main->id = g_next_tid++;
    main->m_stack_bottom = arch::stack_bottom(arch::kBootStackSlot);
    main->m_stack_size = arch::kStackSize;
    main->m_owns_stack = false;
    main->m_state = Thread::State::Running;
    g_all_threads = main;
    cpu.run_queue->wake(*main, 0);
    sched::Entity* first = cpu.run_queue->schedule(0);
    NIMBUS_ASSERT(first == main);
    cpu.current = main;
}

Result<void> start_idle_thread()
{
    // Built like any thread but never put in the run queue: idle runs only when the run
    // queue has nothing. (No clock reading here: boot must not wait for calibration.)
    Thread* idle = TRY(Thread::allocate("idle", [](void* arg) { idle_loop(arg); }, nullptr, 16 * 1024));
    idle->m_state = Thread::State::Running;
    this_cpu().idle = idle;
    return {};
}

Result<Thread*> Thread::create(const char* name, Entry entry, void* arg, size_t stack_size)
{
    Thread* t = TRY(allocate(name, entry, arg, stack_size));
    IrqGuard irq;
    this_cpu().run_queue->wake(*t, now());
    return t;
}

Result<Thread*> Thread::allocate(const char* name, Entry entry, void* arg, size_t stack_size)
{
    if (!entry || stack_size < 4096 || stack_size % 4096)
        return Errno::INVAL;
    auto* t = new (std::nothrow) Thread();
    if (!t)
        return Errno::NOMEM;
    auto stack = allocate_kernel_stack(stack_size);
    if (stack.is_error()) {
        delete t;
        return stack.error();
    }
    copy_name(t->m_name, name);
    t->m_stack_bottom = stack.value();
    t->m_stack_size = stack_size;
    t->m_owns_stack = true;
    t->m_saved_rsp = arch::build_initial_stack(t->stack_top(), entry, arg);
    t->m_state = State::Runnable;
    IrqGuard irq;
    t->id = g_next_tid++;
    t->m_all_next = g_all_threads;
    if (g_all_threads)
        g_all_threads->m_all_prev = t;
    g_all_threads = t;
    return t;
}

void Thread::join(Thread* thread)
{
    NIMBUS_ASSERT(thread && thread != current_thread() && !thread->m_joiner);
    for (;;) {
        {
            IrqGuard irq;
            if (thread->m_state == State::Exited)
                break;
            thread->m_joiner = current_thread();
        }
        park_current_thread();
    }
    // It exited and switched away for good: its stack and structure are free to go. (With
    // SMP the exit must also be past its last use of the stack; see issue 3.)
    {
        IrqGuard irq;
        if (thread->m_all_prev)
            thread->m_all_prev->m_all_next = thread->m_all_next;
        else
            g_all_threads = thread->m_all_next;
        if (thread->m_all_next)
            thread->m_all_next->m_all_prev = thread->m_all_prev;
    }
    if (thread->m_owns_stack)
        free_kernel_stack(thread->m_stack_bottom, thread->m_stack_size);
    delete thread;
}

void dump_threads()
{
    PerCpu* cpu = this_cpu_or_null();
    kprintf("threads:\n");
    int shown = 0;
    for (Thread* t = g_all_threads; t && shown < 256; t = t->m_all_next, ++shown)
        kprintf("  %c %4lu %-16s %-9s stack 0x%016lx-0x%016lx\n", cpu && cpu->current == t ? '*' : ' ', t->id,
                t->m_name, cpu && cpu->idle == t ? "idle" : state_name(t->m_state), t->stack_bottom(), t->stack_top());
}

Thread* current_thread() { return this_cpu().current; }

void yield() { Thread::switch_away(Thread::State::Runnable); }

void park_current_thread()
{
    Thread* self = current_thread();
    // The token check and the block happen with interrupts off, so an unpark from an
    // interrupt handler cannot fall between them and be lost.
    IrqGuard irq;
    // pairs with the release exchange in unpark_thread(): the waker's writes are visible.
    if (self->m_wake_token.exchange(false, std::memory_order_acquire))
        return;
    Thread::switch_away(Thread::State::Blocked);
    self->m_wake_token.store(false, std::memory_order_relaxed); // consumed by this wake-up
}

void unpark_thread(Thread* thread)
{
    IrqGuard irq;
    // pairs with the acquire exchange in park_current_thread().
    thread->m_wake_token.exchange(true, std::memory_order_release);
    if (thread->m_state == Thread::State::Blocked) {
        thread->m_state = Thread::State::Runnable;
        PerCpu& cpu = this_cpu();
        cpu.run_queue->wake(*thread, now());
        // A woken thread may deserve the CPU now (or the CPU is idle): decide on the way
        // out of the interrupt, or right here for a thread-context wake.
        if (cpu.current == cpu.idle || cpu.run_queue->should_preempt(now()))
            cpu.need_resched = true;
    }
}

void exit_current_thread()
{
    Thread* self = current_thread();
    {
        IrqGuard irq;
        if (self->m_joiner)
            unpark_thread(self->m_joiner);
    }
    Thread::switch_away(Thread::State::Exited);
    __builtin_unreachable();
}

bool can_block() { return this_cpu().preempt_count == 0; }

} // namespace core

// Where a thread's entry function returns to (switch.S).
extern "C" [[noreturn]] void core_thread_exit_current() { core::exit_current_thread(); }

// A new thread's first code (switch.S) runs with the interrupt state of the switch that
// started it — disabled. Threads run with interrupts enabled once the kernel has them.
extern "C" void core_thread_first_run()
{
    if (core::interrupts_enabled_globally())
        arch::irq_enable();
}

// The kernel binding of kernel/sync/thread_ops.h.
namespace ksync {
Thread* current_thread() { return core::current_thread(); }
void park_current() { core::park_current_thread(); }
void unpark(Thread* thread) { core::unpark_thread(static_cast<core::Thread*>(thread)); }
bool can_block() { return core::can_block(); }
} // namespace ksync
