// Kernel threads and the cooperative scheduler on CPU 0, over sched::RunQueue.
//
// Switching: the outgoing thread's state is set first (Runnable for yield, Blocked, Exited),
// the run queue is told (yield / block_current), it picks the next thread, and
// arch_context_switch saves the callee-saved context on the old stack and resumes the new one.
// Single CPU, no preemption yet, so nothing here races; the wake token is atomic already
// because cross-CPU wakes (issue 3) will set it from another CPU.
#include <arch/x86_64/context.h>
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/descriptors.h>
#include <core/clock.h>
#include <core/console.h>
#include <core/memory.h>
#include <core/panic.h>
#include <core/thread.h>
#include <new>
#include <sync/thread_ops.h>

namespace core {
namespace {

alignas(sched::RunQueue) char g_run_queue_storage[sizeof(sched::RunQueue)];
uint64_t g_next_tid = 1;

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

} // namespace

void Thread::switch_away(State state)
{
    PerCpu& cpu = this_cpu();
    NIMBUS_ASSERT(cpu.preempt_count == 0);
    Thread* prev = cpu.current;
    sched::RunQueue& rq = *cpu.run_queue;
    sched::Nanos t = now();
    sched::Entity* next_entity;
    if (state == Thread::State::Runnable) {
        next_entity = rq.yield(t);
    } else {
        prev->m_state = state;
        rq.block_current(t);
        next_entity = rq.schedule(t);
    }
    if (!next_entity)
        panic("deadlock: every thread is blocked and nothing can wake one (thread '%s' %s)", prev->name(),
              state == Thread::State::Exited ? "exited" : "blocked");
    Thread* next = as_thread(next_entity);
    next->m_state = Thread::State::Running;
    if (next == prev)
        return;
    cpu.current = next;
    arch_context_switch(&prev->m_saved_rsp, next->m_saved_rsp);
    // Back on prev's stack: someone switched to it.
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
    main->m_stack_size = 0;
    main->m_state = Thread::State::Running;
    cpu.run_queue->wake(*main, 0);
    sched::Entity* first = cpu.run_queue->schedule(0);
    NIMBUS_ASSERT(first == main);
    cpu.current = main;
}

Result<Thread*> Thread::create(const char* name, Entry entry, void* arg, size_t stack_size)
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
    t->id = g_next_tid++;
    t->m_stack_bottom = stack.value();
    t->m_stack_size = stack_size;
    t->m_saved_rsp = arch::build_initial_stack(t->stack_top(), entry, arg);
    t->m_state = State::Runnable;
    this_cpu().run_queue->wake(*t, now());
    return t;
}

void Thread::join(Thread* thread)
{
    NIMBUS_ASSERT(thread && thread != current_thread() && !thread->m_joiner);
    while (thread->m_state != State::Exited) {
        thread->m_joiner = current_thread();
        park_current_thread();
    }
    // It exited and switched away for good: its stack and structure are free to go. (With
    // SMP the exit must also be past its last use of the stack; see issue 3.)
    if (thread->m_stack_size)
        free_kernel_stack(thread->m_stack_bottom, thread->m_stack_size);
    delete thread;
}

Thread* current_thread() { return this_cpu().current; }

void yield() { Thread::switch_away(Thread::State::Runnable); }

void park_current_thread()
{
    Thread* self = current_thread();
    // pairs with the release exchange in unpark_thread(): the waker's writes are visible.
    if (self->m_wake_token.exchange(false, std::memory_order_acquire))
        return;
    Thread::switch_away(Thread::State::Blocked);
    self->m_wake_token.store(false, std::memory_order_relaxed); // consumed by this wake-up
}

void unpark_thread(Thread* thread)
{
    // pairs with the acquire exchange in park_current_thread().
    thread->m_wake_token.exchange(true, std::memory_order_release);
    if (thread->m_state == Thread::State::Blocked) {
        thread->m_state = Thread::State::Runnable;
        this_cpu().run_queue->wake(*thread, now());
    }
}

void exit_current_thread()
{
    Thread* self = current_thread();
    if (self->m_joiner)
        unpark_thread(self->m_joiner);
    Thread::switch_away(Thread::State::Exited);
    __builtin_unreachable();
}

bool can_block() { return this_cpu().preempt_count == 0; }

} // namespace core

// Where a thread's entry function returns to (switch.S).
extern "C" [[noreturn]] void core_thread_exit_current() { core::exit_current_thread(); }

// The kernel binding of kernel/sync/thread_ops.h.
namespace ksync {
Thread* current_thread() { return core::current_thread(); }
void park_current() { core::park_current_thread(); }
void unpark(Thread* thread) { core::unpark_thread(static_cast<core::Thread*>(thread)); }
bool can_block() { return core::can_block(); }
} // namespace ksync
