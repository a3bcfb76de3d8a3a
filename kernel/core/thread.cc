// Kernel threads and the scheduler on every CPU, over one sched::RunQueue per CPU.
//
// Switching: with interrupts disabled (a CPU's run queue is touched only by that CPU, from
// threads and from its interrupt handlers), the outgoing thread leaves the run queue or stays
// in it, the CPU takes in the wake-ups other CPUs posted to it, the run queue picks the next
// thread (or the idle thread when nothing is runnable), the preemption deadline for the new
// thread goes to this CPU's timer, and arch_context_switch saves the callee-saved context on
// the old stack and resumes the new one. The interrupt-enable state is restored by the resumed
// thread's own IrqGuard. Whatever must wait until the old thread is off its stack — publishing
// an exit (its joiner may free the stack), posting a migrating thread to its new CPU (which
// may run it at once) — is done by finish_switch() in the thread that was switched to.
//
// Wake-ups (park/unpark). A thread parks by setting its state to Blocked and re-checking its
// wake token; a waker sets the token and then moves the state Blocked -> Waking with a CAS.
// Both sides use seq_cst (store then load, RMW then CAS), so at least one sees the other: the
// parker sees the token and cancels its block (its own CAS Blocked -> Running), or the waker
// sees Blocked and its CAS wins; exactly one of the two CASes succeeds, so a thread is never
// both woken and left running, and never left Blocked with a token set. The CAS winner puts
// the Waking thread into its home CPU's run queue: directly when that is the waker's own CPU
// (interrupts off), else through the lock-free wake-up queues (sched/wakeup_queue.h) plus a
// reschedule IPI when the queues say the target is neither already signalled nor polling.
// The target CPU drains its queues on the IPI, on every switch (but the idle loop's, which
// has just drained) and while idle. A blocked thread is in no run queue and cannot migrate,
// so its home CPU is stable while it can be woken; the waker reads m_cpu after its CAS read
// the Blocked store (release) that followed the last change of m_cpu.
//
// Hand-off (unpark_thread_for_handoff). A futex wake is usually followed by the waker's own
// futex wait (glibc's condvar signal, then its wait). Such a wake-up, when the woken thread's
// home is the waker's CPU, may stop after its Blocked -> Waking CAS: the thread goes into
// PerCpu::handoff instead of the run queue. When the waker then blocks and nothing else is
// runnable, switch_at() makes the held-back thread current directly (RunQueue::hand_off: the
// same placement and the same pick as wake + block + schedule, without the tree round trip,
// the wake-up preemption check and the wake's clock read). No wake-up is lost or doubled:
// - The CAS was won as for any wake-up, so the thread is Waking, in no run queue, and no other
//   waker can enqueue it (their CAS from Blocked fails; the token is set) — exactly the state
//   between a won CAS and enqueue(), which the slot merely prolongs.
// - Its home is this CPU and stays so: a Waking thread outside a run queue is invisible to the
//   load balancer, and only its home CPU's code touches the slot (interrupts off).
// - The slot is emptied — handed off, or committed with make_runnable_here(), i.e. the deferred
//   rest of the ordinary wake-up — by every switch_at() on this CPU (block, yield, preemption,
//   exit, migration: the waker cannot leave the CPU with the slot set), by every interrupt
//   return (preempt_if_needed(), before it decides anything), and at the end of every system
//   call but a futex one (commit_handoff()). A waker that returns to application code and
//   runs on without a system call or an interrupt is bounded by the preemption timer, which
//   the hold arms for 1 ms after the run queue's last update — the recheck an ordinary wake-up
//   that does not preempt arms too — and whose interrupt commits the slot.
// - The slot holds one thread; a second hand-off wake while it is full is an ordinary one.
// What it changes: a held-back thread that would have preempted its waker at once (it slept
// long and gets the sleeper's credit) does so only at the waker's next switch, system call,
// interrupt, or 1 ms — the waker has said it is about to block.
//
// Wake-affine wake-ups (ThreadAttr::wakes_affine). An interrupt thread that wakes a thread
// homed on another CPU — a NIC's receive thread waking the reader of a socket — is about to
// park again. If nothing else waits on the waker's CPU, the woken thread runs sooner there (as
// soon as the waker parks) than at home, where the wake costs an IPI and, under a hypervisor,
// an exit from halt of tens of microseconds, for every request of a request/response flow.
// So unpark() moves it (new home, then the ordinary enqueue) when it is unpinned, fair, and
// off its old CPU: having won the CAS, the waker owns its placement (as a migration's
// finish_switch does), but the thread may still be on its old CPU's stack between its Blocked
// store and the context save. m_saved_rsp tells: the switch-out stores it after saving
// everything (x86 orders that store after the saves; the waker's acquire load pairs with it),
// and finish_switch clears it whenever the thread runs again, before it can block again (the
// clearing precedes its next Blocked store, which the waker's CAS read). Non-zero after the
// CAS: the thread is switched out for good; zero: it is leaving, and goes home as usual. Only
// one thread is pulled per wake-up burst (the second finds the first waiting), and the load
// balancer still sends waiting threads away, so a busy receive CPU does not collect threads.
// A woken thread whose home is now the waker's CPU goes into the hand-off slot, as a futex
// hand-off does: the waker is about to park, and a thread that slept long would otherwise
// preempt it inside unpark — the receive thread switched out mid-burst and back in only to
// park, two switches more per request. The slot's bounds apply (the waker's park, an
// interrupt return, 1 ms): a waker with a long burst still gives way.
//
// Preemption: the timer interrupt sets need_resched when the running thread's fair lead has
// run out, and a wake-up sets it when the woken thread deserves the CPU; dispatch_irq() calls
// preempt_if_needed() as the interrupt returns — on the interrupted thread's own stack
// (traps.S moves device interrupts off the IST stack), so the switch is an ordinary one.
//
// Load balancing: a CPU with threads waiting in its run queue compares, at most once per
// kBalanceIntervalNs, its load with every other CPU's (PerCpu::load, published with relaxed
// stores) and sends waiting, unpinned fair threads to the least-loaded CPUs until the
// difference is below two. Only a thread's home CPU moves it (remove from its run queue,
// change m_cpu, post), so run queues stay single-owner.
#include <arch/x86_64/apic.h>
#include <arch/x86_64/context.h>
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/descriptors.h>
#include <arch/x86_64/fpu.h>
#include <arch/x86_64/layout.h>
#include <core/clock.h>
#include <core/console.h>
#include <core/irq.h>
#include <core/memory.h>
#include <core/panic.h>
#include <core/rcu.h>
#include <core/thread.h>
#include <core/timer.h>
#include <new>
#include <sched/idle_poll.h>
#include <sync/mutex.h>
#include <sync/thread_ops.h>

namespace core {

// Access to Thread's private parts for this file's helpers.
struct ThreadInternals {
    static void make_runnable_here(PerCpu& cpu, Thread* t, sched::Nanos now);
    static void enqueue(Thread* t);
    static void finish_switch();
    static void finish_switch_slow(PerCpu& cpu);
    static void balance(PerCpu& cpu, sched::Nanos now, Thread* still_running);
    static void balance_slow(PerCpu& cpu, sched::Nanos now, Thread* still_running);
    static void free_thread(Thread* t);
    static Thread* new_thread_struct();
    static void reap_zombies();
    static bool block_unless_token(Thread* self);
    static void wake_if_blocked(Thread* thread);
    static void commit_handoff_here(PerCpu& cpu, sched::Nanos t);
    static bool hold_for_handoff(PerCpu& cpu, Thread* t);
    static void pull_to_waker(PerCpu& cpu, Thread* t);
    static void unpark(Thread* thread, bool handoff);
    static void switch_at(Thread::Switch why, sched::Nanos t, bool drain);
    static void switch_from_idle(sched::Nanos t) { switch_at(Thread::Switch::Preempt, t, false); }
};

namespace {

alignas(sched::RunQueue) char g_boot_run_queue_storage[sizeof(sched::RunQueue)];
std::atomic<uint64_t> g_next_tid{1};
std::atomic<uint64_t> g_migrations{0};
// The thread list (for the dump) and its lock; the dump reads without it.
constinit ksync::Mutex g_threads_lock;
Thread* g_all_threads = nullptr;
// Thread structures are type-stable: once allocated they stay Threads for the kernel's
// lifetime, recycled through this free list (under g_threads_lock). ksync allows a waker to
// unpark a thread a little after it stopped waiting — even after it exited and was joined —
// so the memory behind a Thread* must remain a Thread: a late unpark then finds an exited
// thread (and does nothing) or a new one (a spurious wake-up, which every parker tolerates),
// never memory the heap handed to someone else. Stacks are freed at once.
Thread* g_free_threads = nullptr;
// Detached threads that exited, waiting to be freed by the next create() (a lock-free stack:
// push by CAS, taken whole by exchange).
std::atomic<Thread*> g_zombies{nullptr};
std::atomic<bool> g_threads_started{false};
// Cross-CPU wake-ups; null while there is one CPU.
sched::WakeupQueues* g_wakeups = nullptr;

// m_join values other than a joiner's address.
constexpr uintptr_t kJoinRunning = 0;
constexpr uintptr_t kJoinExited = 1;
constexpr uintptr_t kJoinDetached = 2;

constexpr sched::Nanos kBalanceIntervalNs = 1'000'000;
// How soon after a wake-up that does not preempt the running thread its preemption deadline
// is recomputed (see make_runnable_here).
constexpr uint64_t kWakeRecheckNs = 1'000'000;
// The idle loop's polling window: sched/idle_poll.h.

// Per-CPU scheduler state only this file uses, kept here rather than in PerCpu.
struct SchedCpuState {
    sched::Nanos last_balance = 0;
    uint64_t idle_poll_ns = sched::kIdlePollStartNs; // the idle loop's window (sched/idle_poll.h)
};
SchedCpuState g_sched_cpu[sched::kMaxCpus];

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
    case Thread::State::Waking:
        return "waking";
    case Thread::State::Exited:
        return "exited";
    }
    return "?";
}

void update_load(PerCpu& cpu)
{
    sched::RunQueue& rq = *cpu.run_queue;
    cpu.load.store(uint32_t(rq.runnable_count() + (rq.current() ? 1 : 0)), std::memory_order_relaxed);
}

[[gnu::noinline]] sched::Nanos drain_wakeups_slow(PerCpu& cpu)
{
    sched::Nanos t = 0;
    g_wakeups->drain(cpu.id, [&](sched::WakeupItem* item) {
        if (t == 0)
            t = now();
        ThreadInternals::make_runnable_here(cpu, static_cast<Thread*>(item), t);
    });
    return t;
}

// Takes in the wake-ups posted to this CPU. Returns the time it read for them (the run
// queue's latest update), or 0 if it delivered none and read no clock. Called on every switch
// and idle round, usually with nothing posted: that check is inline.
inline sched::Nanos drain_wakeups(PerCpu& cpu)
{
    if (!g_wakeups || !g_wakeups->may_have_pending(cpu.id))
        return 0;
    return drain_wakeups_slow(cpu);
}

void on_reschedule_ipi(void*)
{
    // dispatch_irq() acts on need_resched as the interrupt returns.
    drain_wakeups(this_cpu());
}

} // namespace

// A Waking thread whose home is `cpu` (the calling CPU, interrupts off) joins its run queue.
void ThreadInternals::make_runnable_here(PerCpu& cpu, Thread* t, sched::Nanos t_now)
{
    // A wake-up that was not won by a Blocked -> Waking CAS, or that reached the wrong CPU,
    // would put a running thread in a second run queue: stop here rather than there.
    if (t->m_state.load(std::memory_order_relaxed) != Thread::State::Waking || t->m_cpu != &cpu)
        panic("wake-up of thread %lu '%s' in state %u on cpu %u (home %u)", t->id, t->m_name,
              unsigned(t->m_state.load(std::memory_order_relaxed)), cpu.id, t->m_cpu ? t->m_cpu->id : ~0u);
    t->m_state.store(Thread::State::Runnable, std::memory_order_relaxed);
    cpu.run_queue->wake(*t, t_now);
    // A woken thread may deserve the CPU now (or the CPU is idle): decide on the way out of
    // the interrupt, or at the end of unpark_thread() for a wake in thread context. If not
    // now, the running thread's preemption deadline moves: it now has a competitor.
    if (cpu.current == cpu.idle || cpu.run_queue->should_preempt(t_now)) {
        cpu.need_resched = true;
    } else {
        // Not yet — but the running thread's lead can now run out, and its deadline may say
        // "never". Have the timer look again soon; that interrupt computes the exact deadline
        // (preempt_if_needed). Cheaper than computing it here on every wake-up (logarithms),
        // when the running thread usually blocks long before: at most one early look.
        uint64_t recheck = uint64_t(t_now) + kWakeRecheckNs;
        uint64_t armed = cpu.timers.preempt_deadline;
        if (armed == 0 || armed > recheck)
            set_preempt_deadline_here(cpu.timers, recheck);
    }
    update_load(cpu);
}

// Puts a Waking thread into its home CPU's run queue, from any CPU. Interrupts off.
void ThreadInternals::enqueue(Thread* t)
{
    PerCpu& self = this_cpu();
    PerCpu& home = *t->m_cpu;
    if (&home == &self) {
        make_runnable_here(self, t, now());
        return;
    }
    // The post publishes everything written to the thread before it (release).
    sched::PostResult r = g_wakeups->post(self.id, home.id, t);
    if (r.send_ipi)
        arch::apic_send_ipi(home.apic_id, arch::kVectorReschedule);
}

// Holds a thread whose Blocked -> Waking CAS the caller (the current thread, in thread context,
// interrupts off) just won back for a hand-off, if the slot is free and its home is this CPU.
// False: the caller enqueues it as usual.
bool ThreadInternals::hold_for_handoff(PerCpu& cpu, Thread* t)
{
    if (t->m_cpu != &cpu || cpu.handoff || cpu.current == cpu.idle || cpu.preempt_count != 0)
        return false;
    cpu.handoff = t;
    // The bound (see the file comment): the timer looks again 1 ms after the run queue's last
    // update, no clock read. If the waker has already run longer than that, the interrupt comes
    // at once and commits the slot; normally the waker blocks well before.
    uint64_t recheck = uint64_t(cpu.run_queue->last_update()) + kWakeRecheckNs;
    uint64_t armed = cpu.timers.preempt_deadline;
    if (armed == 0 || armed > recheck)
        set_preempt_deadline_here(cpu.timers, recheck);
    return true;
}

// A wake-affine wake-up (see the file comment): moves `t`, whose Blocked -> Waking CAS the
// caller (a wake-affine thread, interrupts off) just won, to the caller's CPU if it is free to
// move, nothing else waits here, and it is off its old CPU for good.
[[gnu::noinline]] void ThreadInternals::pull_to_waker(PerCpu& cpu, Thread* t)
{
    if (t->m_cpu == &cpu || t->m_pinned != kAnyCpu || t->m_migrate_disable != 0 || t->policy != sched::Policy::Fair ||
        cpu.run_queue->runnable_count() != 0 || cpu.handoff || !g_wakeups)
        return;
    // pairs with the switch-out's store of the stack pointer (arch_context_switch, after the
    // context it saves); 0 = still leaving its CPU, or never left it since it last ran.
    if (__atomic_load_n(&t->m_saved_rsp, __ATOMIC_ACQUIRE) == 0)
        return;
    t->m_cpu = &cpu;
}

// The held-back wake-up of this CPU (interrupts off), if any, becomes an ordinary one at `t`.
void ThreadInternals::commit_handoff_here(PerCpu& cpu, sched::Nanos t)
{
    Thread* h = cpu.handoff;
    if (!h)
        return;
    cpu.handoff = nullptr;
    make_runnable_here(cpu, h, t);
}

// Runs in the thread a CPU just switched to (interrupts off): completes what the thread that
// left must not do itself while still on its stack.
inline void ThreadInternals::finish_switch()
{
    PerCpu& cpu = this_cpu();
    cpu.current->m_saved_rsp = 0; // running again (see "Wake-affine wake-ups")
    rcu_quiescent(cpu); // between two threads: outside every reader section
    if (cpu.switched_out) [[unlikely]] // usually nothing else to do: that test is inline
        finish_switch_slow(cpu);
}

// finish_switch() for a thread that exited or migrates.
void ThreadInternals::finish_switch_slow(PerCpu& cpu)
{
    Thread* t = cpu.switched_out;
    cpu.switched_out = nullptr;
    Thread::Pending what = t->m_pending;
    t->m_pending = Thread::Pending::None;
    if (what == Thread::Pending::Migrate) {
        enqueue(t);
        return;
    }
    // Exit. After the exchange a joiner may free t at once: use only the old value.
    t->m_state.store(Thread::State::Exited, std::memory_order_relaxed);
    // pairs with join()'s and detach()'s acquire: everything the thread did is visible
    uintptr_t old = t->m_join.exchange(kJoinExited, std::memory_order_acq_rel);
    if (old == kJoinDetached) {
        // Nobody will join it: the next create() frees it.
        Thread* head = g_zombies.load(std::memory_order_relaxed);
        do {
            t->m_zombie_next = head;
            // pairs with reap_zombies()' exchange(acquire)
        } while (!g_zombies.compare_exchange_weak(head, t, std::memory_order_release, std::memory_order_relaxed));
    } else if (old != kJoinRunning) {
        unpark_thread(reinterpret_cast<Thread*>(old));
    }
}

// The cheap tests inline: this runs on every switch, and usually nothing waits here (or
// there is one CPU).
inline void ThreadInternals::balance(PerCpu& cpu, sched::Nanos t_now, Thread* still_running)
{
    if (cpu.run_queue->runnable_count() != 0 && g_wakeups)
        balance_slow(cpu, t_now, still_running);
}

// Sends waiting threads of `cpu` (the calling CPU, interrupts off) to less-loaded CPUs.
// `still_running` is back in the run queue but still on this CPU's stack (a switch in
// progress): it must not go anywhere before its context is saved. balance() has checked that
// threads wait here and that there are other CPUs' queues to send them to.
[[gnu::noinline]] void ThreadInternals::balance_slow(PerCpu& cpu, sched::Nanos t_now, Thread* still_running)
{
    sched::RunQueue& rq = *cpu.run_queue;
    SchedCpuState& state = g_sched_cpu[cpu.id];
    if (t_now - state.last_balance < kBalanceIntervalNs)
        return;
    unsigned ncpus = cpu_count();
    if (ncpus < 2)
        return;
    state.last_balance = t_now;
    uint32_t mine = uint32_t(rq.runnable_count() + (rq.current() ? 1 : 0));
    // Candidates from the back of the fair tree: those with the most run time, that would
    // wait longest here.
    sched::FairEntity* e = rq.fair().tree().last();
    while (e) {
        unsigned target = ncpus;
        uint32_t target_load = mine;
        for (unsigned i = 0; i < ncpus; ++i) {
            uint32_t l = core::cpu(i).load.load(std::memory_order_relaxed);
            if (i != cpu.id && l < target_load) {
                target = i;
                target_load = l;
            }
        }
        if (target == ncpus || mine - target_load < 2)
            return;
        // Find a thread free to move.
        Thread* t = nullptr;
        for (; e; e = sched::FairTree::prev(*e)) {
            Thread* candidate = static_cast<Thread*>(static_cast<sched::Entity*>(e));
            if (candidate != still_running && candidate->m_pinned == kAnyCpu && candidate->m_migrate_disable == 0) {
                t = candidate;
                break;
            }
        }
        if (!t)
            return;
        e = sched::FairTree::prev(*e);
        rq.remove(*t, t_now);
        t->m_state.store(Thread::State::Waking, std::memory_order_relaxed);
        t->m_cpu = &core::cpu(target);
        --mine;
        update_load(cpu);
        // Count it at the target now, so the next round (and other CPUs) see it; the target
        // corrects the figure when it takes the thread in.
        core::cpu(target).load.fetch_add(1, std::memory_order_relaxed);
        g_migrations.fetch_add(1, std::memory_order_relaxed);
        enqueue(t);
    }
}

void ThreadInternals::free_thread(Thread* thread)
{
    if (thread->m_owns_stack)
        free_kernel_stack(thread->m_stack_bottom, thread->m_stack_size);
    kfree(thread->m_xstate);
    thread->m_xstate = nullptr;
    ksync::MutexGuard guard(g_threads_lock);
    if (thread->m_all_prev)
        thread->m_all_prev->m_all_next = thread->m_all_next;
    else
        g_all_threads = thread->m_all_next;
    if (thread->m_all_next)
        thread->m_all_next->m_all_prev = thread->m_all_prev;
    thread->m_all_prev = thread->m_all_next = nullptr;
    thread->m_zombie_next = g_free_threads;
    g_free_threads = thread;
}

// A Thread structure in its initial state: recycled (see g_free_threads) or new. The atomics
// a late unpark may touch are reset with atomic stores; nothing else reaches a free Thread.
Thread* ThreadInternals::new_thread_struct()
{
    Thread* t = nullptr;
    {
        ksync::MutexGuard guard(g_threads_lock);
        t = g_free_threads;
        if (t)
            g_free_threads = t->m_zombie_next;
    }
    if (!t)
        return new (std::nothrow) Thread();
    static_cast<sched::FairEntity&>(*t) = sched::FairEntity{};
    static_cast<sched::RtEntity&>(*t) = sched::RtEntity{};
    t->policy = sched::Policy::Fair;
    t->wakeup_next.store(nullptr, std::memory_order_relaxed);
    t->m_saved_rsp = 0;
    t->m_stack_bottom = 0;
    t->m_stack_size = 0;
    t->m_owns_stack = false;
    t->m_pending = Thread::Pending::None;
    t->m_state.store(Thread::State::Runnable, std::memory_order_relaxed);
    t->m_wake_token.store(false, std::memory_order_relaxed);
    t->m_join.store(kJoinRunning, std::memory_order_relaxed);
    t->m_cpu = nullptr;
    t->m_pinned = kAnyCpu;
    t->m_migrate_disable = 0;
    t->m_wakes_affine = false;
    t->m_runtime_ns.store(0, std::memory_order_relaxed);
    t->m_running_since = 0;
    t->m_fs_base = 0;
    t->m_xstate = nullptr;
    t->m_app_data = nullptr;
    t->m_return_work.store(Thread::kReturnWorkAll, std::memory_order_relaxed);
    t->m_name[0] = '\0';
    t->m_zombie_next = nullptr;
    return t;
}

void ThreadInternals::reap_zombies()
{
    if (!g_zombies.load(std::memory_order_relaxed))
        return;
    // pairs with finish_switch()'s release CAS: the exited threads are off their stacks
    Thread* list = g_zombies.exchange(nullptr, std::memory_order_acquire);
    while (list) {
        Thread* next = list->m_zombie_next;
        free_thread(list);
        list = next;
    }
}

void Thread::switch_away(Switch why)
{
    IrqGuard irq;
    ThreadInternals::switch_at(why, now(), true);
}

// switch_away() with the time `t` already read (no earlier than the run queue's last update),
// with interrupts off since then and until the caller's guard (or the idle loop) turns them
// back on. `drain`: take in posted wake-ups first. The idle loop, which has just drained,
// passes false: a wake-up posted after that drain's exchange sets its bit anew while the
// polling flag is clear, so its poster sends an IPI whose handler drains once interrupts are
// back on (wakeup_queue.h, case (b)); it is not lost, only taken in after the switch.
void ThreadInternals::switch_at(Thread::Switch why, sched::Nanos t, bool drain)
{
    using Switch = Thread::Switch;
    using State = Thread::State;
    using Pending = Thread::Pending;
    PerCpu& cpu = this_cpu();
    NIMBUS_ASSERT(cpu.preempt_count == 0);
    Thread* prev = cpu.current;
    sched::RunQueue& rq = *cpu.run_queue;
    bool requeue_yield = false;
    // A held-back wake-up (see "Hand-off" above): straight to that thread if the current one
    // blocks and nothing else is, or is about to be, runnable here (RunQueue::hand_off checks
    // the run queue, and the wake-up queues must be empty); otherwise an ordinary wake-up now,
    // before anything below looks at the run queue.
    Thread* handoff = cpu.handoff;
    if (handoff) {
        cpu.handoff = nullptr;
        if (handoff->m_state.load(std::memory_order_relaxed) != State::Waking || handoff->m_cpu != &cpu)
            panic("hand-off to thread %lu '%s' in state %u", handoff->id, handoff->m_name,
                  unsigned(handoff->m_state.load(std::memory_order_relaxed)));
        bool direct = why == Switch::Block && prev != cpu.idle &&
                      !(drain && g_wakeups && g_wakeups->may_have_pending(cpu.id)) && rq.hand_off(*handoff, t);
        if (!direct) {
            make_runnable_here(cpu, handoff, t);
            handoff = nullptr;
        }
    }
    // Leaving the idle thread (perhaps from an interrupt that arrived in its halt): the CPU is
    // no longer in RCU's extended quiescent state, before any thread can enter a reader
    // section.
    if (prev == cpu.idle)
        rcu_idle(cpu, false);
    if (prev != cpu.idle && !handoff) {
        switch (why) {
        case Switch::Yield:
            requeue_yield = true;
            [[fallthrough]];
        case Switch::Preempt:
            prev->m_state.store(State::Runnable, std::memory_order_relaxed);
            break;
        case Switch::Block:
            rq.block_current(t); // the state is Blocked (or already Waking): park set it
            break;
        case Switch::Exit:
            rq.block_current(t);
            prev->m_pending = Pending::Exit;
            cpu.switched_out = prev;
            break;
        case Switch::Migrate:
            rq.block_current(t);
            prev->m_state.store(State::Waking, std::memory_order_relaxed);
            prev->m_pending = Pending::Migrate;
            cpu.switched_out = prev;
            break;
        }
    }
    sched::Entity* next_entity = handoff; // hand_off() blocked prev and made it current
    if (!handoff) {
        if (drain)
            drain_wakeups(cpu);
        next_entity = requeue_yield && rq.current() == prev ? rq.yield(t) : rq.schedule(t);
        ThreadInternals::balance(cpu, t, prev);
    }
    Thread* next = next_entity ? as_thread(next_entity) : cpu.idle;
    if (!next)
        panic("deadlock: every thread is blocked and there is no idle thread (thread '%s')", prev->name());
    cpu.need_resched = false;
    sched::Nanos deadline = next_entity ? rq.preempt_deadline(t) : sched::kNever;
    set_preempt_deadline_here(cpu.timers, deadline == sched::kNever ? 0 : uint64_t(deadline));
    update_load(cpu);
    if (next != cpu.idle)
        next->m_state.store(State::Running, std::memory_order_relaxed);
    if (next == prev) {
        // An exiting or migrating thread is in no run queue: picking it again is a bug.
        if (why == Switch::Exit || why == Switch::Migrate)
            panic("switch_away(%u): thread %lu '%s' picked again", unsigned(why), prev->id, prev->m_name);
        return;
    }
    if (prev != cpu.idle) {
        uint64_t ran = uint64_t(t) > prev->m_running_since ? uint64_t(t) - prev->m_running_since : 0;
        prev->m_runtime_ns.store(prev->m_runtime_ns.load(std::memory_order_relaxed) + ran, std::memory_order_relaxed);
    }
    next->m_running_since = uint64_t(t);
    // Only a change costs a register write. The idle thread keeps whatever FS base it finds:
    // it never uses thread-local storage.
    if (next != cpu.idle && next->m_fs_base != cpu.fs_base) {
        arch::write_fs_base(next->m_fs_base);
        cpu.fs_base = next->m_fs_base;
    }
    cpu.current = next;
    cpu.kernel_stack_top = next->stack_top();
    cpu.switches.store(cpu.switches.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    // An application thread's extended state leaves with it and comes back when it resumes
    // (see ThreadAttr::app); kernel threads keep only what arch_context_switch saves.
    if (prev->m_xstate)
        arch::save_extended_state(prev->m_xstate);
    arch_context_switch(&prev->m_saved_rsp, next->m_saved_rsp);
    if (prev->m_xstate)
        arch::restore_extended_state(prev->m_xstate);
    // Back on prev's stack, possibly on another CPU: someone switched to it. ~IrqGuard
    // restores its interrupt state.
    ThreadInternals::finish_switch();
}

void preempt_if_needed(bool from_idle)
{
    PerCpu& cpu = this_cpu();
    // An interrupt return commits a held-back wake-up (it may be the preemption timer the hold
    // armed), whatever else happens here.
    if (cpu.handoff) [[unlikely]] {
        ThreadInternals::commit_handoff_here(cpu, now());
    }
    if (!cpu.current || cpu.preempt_count != 0)
        return;
    if (!from_idle) {
        if (!cpu.need_resched)
            return;
        // The deadline passed or a wake-up came; the run queue makes the final call (a
        // wake-up may have changed the picture since).
        sched::Nanos t = now();
        if (cpu.current != cpu.idle && !cpu.run_queue->should_preempt(t)) {
            cpu.need_resched = false;
            ThreadInternals::balance(cpu, t, nullptr);
            sched::Nanos d = cpu.run_queue->preempt_deadline(t);
            set_preempt_deadline_here(cpu.timers, d == sched::kNever ? 0 : uint64_t(d));
            return;
        }
        // Interrupts are off (see thread.h): switch at the time just read, not a second one.
        ThreadInternals::switch_at(Thread::Switch::Preempt, t, true);
        return;
    }
    Thread::switch_away(Thread::Switch::Preempt);
}

void init_threads()
{
    init_boot_cpu();
    PerCpu& cpu = this_cpu();
    sched::RunQueueParams params;
    cpu.run_queue = new (g_boot_run_queue_storage) sched::RunQueue(params, 0);
    auto* main = new (std::nothrow) Thread();
    NIMBUS_ASSERT(main); // boot-time, a few hundred bytes: failure means no memory at all
    // ksync's inline current_thread() reads PerCpu::current as a ksync::Thread*: the (empty,
    // first) base must sit at the thread's own address.
    NIMBUS_ASSERT(static_cast<ksync::Thread*>(main) == reinterpret_cast<ksync::Thread*>(main));
    copy_name(main->m_name, "main");
    main->id = g_next_tid.fetch_add(1, std::memory_order_relaxed);
    main->m_stack_bottom = arch::stack_bottom(arch::kBootStackSlot);
    main->m_stack_size = arch::kStackSize;
    main->m_owns_stack = false;
    main->m_cpu = &cpu;
    main->m_state.store(Thread::State::Running, std::memory_order_relaxed);
    g_all_threads = main;
    cpu.run_queue->wake(*main, 0);
    sched::Entity* first = cpu.run_queue->schedule(0);
    NIMBUS_ASSERT(first == main);
    cpu.current = main;
    update_load(cpu);
    g_threads_started.store(true, std::memory_order_relaxed);
    MUST(set_irq_handler(arch::kVectorReschedule, &on_reschedule_ipi, nullptr));
}

Result<void> init_cross_cpu_wakeups(unsigned ncpus)
{
    if (ncpus < 2)
        return {};
    size_t size = sched::WakeupQueues::storage_size(ncpus);
    void* storage = kmalloc(size, sched::kCacheLine);
    if (!storage)
        return Errno::NOMEM;
    g_wakeups = TRY(sched::WakeupQueues::create(ncpus, storage, size));
    return {};
}

Result<void> prepare_secondary_cpu(PerCpu& cpu, uint64_t stack_bottom, size_t stack_size)
{
    auto* rq = new (std::nothrow) sched::RunQueue(sched::RunQueueParams{}, now());
    auto* idle = new (std::nothrow) Thread();
    if (!rq || !idle) {
        delete rq;
        delete idle;
        return Errno::NOMEM;
    }
    copy_name(idle->m_name, "idle");
    idle->id = g_next_tid.fetch_add(1, std::memory_order_relaxed);
    idle->m_stack_bottom = stack_bottom;
    idle->m_stack_size = stack_size;
    idle->m_owns_stack = false; // smp.cc's, kept for the CPU's lifetime
    idle->m_cpu = &cpu;
    idle->m_pinned = int(cpu.id);
    idle->m_state.store(Thread::State::Running, std::memory_order_relaxed);
    {
        ksync::MutexGuard guard(g_threads_lock);
        idle->m_all_next = g_all_threads;
        if (g_all_threads)
            g_all_threads->m_all_prev = idle;
        g_all_threads = idle;
    }
    cpu.run_queue = rq;
    cpu.idle = idle;
    return {};
}

Result<void> start_idle_thread()
{
    // Built like any thread but never put in the run queue: idle runs only when the run
    // queue has nothing. (No clock reading here: boot must not wait for calibration.)
    Thread* idle = TRY(Thread::allocate("idle", [](void*) { run_idle_loop(); }, nullptr, 16 * 1024, false));
    idle->m_state.store(Thread::State::Running, std::memory_order_relaxed);
    idle->m_cpu = &this_cpu();
    idle->m_pinned = int(this_cpu().id);
    this_cpu().idle = idle;
    return {};
}

// The idle thread: takes in wake-ups, watches for them a little while, then halts until an
// interrupt. Never in a run queue.
[[noreturn]] void run_idle_loop()
{
    for (;;) {
        arch::irq_disable();
        PerCpu& cpu = this_cpu();
        sched::Nanos t = drain_wakeups(cpu);
        if (cpu.run_queue->runnable_count() > 0) {
            // Straight to the woken thread, with the time the drain read (the run queue was
            // updated to it; nothing ran since) and without draining again.
            if (cpu.current && cpu.preempt_count == 0)
                ThreadInternals::switch_from_idle(t ? t : now());
            continue;
        }
        uint64_t& poll_ns = g_sched_cpu[cpu.id].idle_poll_ns;
        if (g_wakeups) {
            // Poll with interrupts off: an interrupt handler could switch to another thread
            // and leave the polling flag set, so posters would skip IPIs to a busy CPU.
            g_wakeups->start_polling(cpu.id);
            // The clock is read once per 64 looks: the loop's job is to notice a wake-up
            // quickly, and a clock read costs ten times a look. The window starts at the
            // first reading (64 looks late), so a wake-up that comes sooner costs no reading.
            uint64_t until = 0;
            for (unsigned spins = 1; !g_wakeups->has_pending(cpu.id); ++spins) {
                if (spins % 64 == 0) {
                    uint64_t t_now = monotonic_ns();
                    if (until == 0)
                        until = t_now + poll_ns;
                    else if (t_now >= until)
                        break;
                }
                asm volatile("pause");
            }
            if (g_wakeups->stop_polling(cpu.id))
                continue; // pending: drain instead of halting
        }
        // Halted, the CPU is in an extended quiescent state. Announcing it may complete a
        // grace period and wake a thread here: look again before halting.
        rcu_idle(cpu, true);
        if (cpu.run_queue->runnable_count() > 0 || (g_wakeups && g_wakeups->has_pending(cpu.id))) {
            rcu_idle(cpu, false);
            continue;
        }
        // sti takes effect after the next instruction, so an interrupt cannot slip in between
        // the checks above and the hlt [intel-sdm-2b STI].
        uint64_t halted_at = g_wakeups ? monotonic_ns() : 0;
        uint64_t ipis = __atomic_load_n(&cpu.irq_counts[arch::kVectorReschedule], __ATOMIC_RELAXED);
        asm volatile("sti; hlt" ::: "memory");
        arch::irq_disable();
        rcu_idle(cpu, false);
        if (g_wakeups) {
            uint64_t halted = monotonic_ns() - halted_at;
            bool posted = __atomic_load_n(&cpu.irq_counts[arch::kVectorReschedule], __ATOMIC_RELAXED) != ipis;
            poll_ns = sched::next_idle_poll_ns(poll_ns, halted, posted);
        }
    }
}

Result<Thread*> Thread::create(const char* name, Entry entry, void* arg, ThreadAttr attr)
{
    if (attr.cpu != kAnyCpu && (attr.cpu < 0 || unsigned(attr.cpu) >= cpu_count()))
        return Errno::INVAL;
    ThreadInternals::reap_zombies();
    Thread* t = TRY(allocate(name, entry, arg, attr.stack_size, attr.app));
    t->m_wakes_affine = attr.wakes_affine;
    IrqGuard irq;
    if (attr.cpu != kAnyCpu) {
        t->m_pinned = attr.cpu;
        t->m_cpu = &core::cpu(unsigned(attr.cpu));
    } else {
        t->m_cpu = &this_cpu();
    }
    t->m_state.store(State::Waking, std::memory_order_relaxed);
    ThreadInternals::enqueue(t);
    return t;
}

Result<Thread*> Thread::allocate(const char* name, Entry entry, void* arg, size_t stack_size, bool app)
{
    if (!entry || stack_size < 4096 || stack_size % 4096)
        return Errno::INVAL;
    void* xstate = nullptr;
    if (app) {
        xstate = kmalloc(arch::xsave_area_size(), 64);
        if (!xstate)
            return Errno::NOMEM;
        arch::init_extended_state(xstate);
    }
    auto stack = allocate_kernel_stack(stack_size);
    if (stack.is_error()) {
        kfree(xstate);
        return stack.error();
    }
    Thread* t = ThreadInternals::new_thread_struct();
    if (!t) {
        free_kernel_stack(stack.value(), stack_size);
        kfree(xstate);
        return Errno::NOMEM;
    }
    t->m_xstate = xstate;
    copy_name(t->m_name, name);
    t->m_stack_bottom = stack.value();
    t->m_stack_size = stack_size;
    t->m_owns_stack = true;
    t->m_saved_rsp = arch::build_initial_stack(t->stack_top(), entry, arg);
    t->m_state.store(State::Runnable, std::memory_order_relaxed);
    t->id = g_next_tid.fetch_add(1, std::memory_order_relaxed);
    ksync::MutexGuard guard(g_threads_lock);
    t->m_all_next = g_all_threads;
    if (g_all_threads)
        g_all_threads->m_all_prev = t;
    g_all_threads = t;
    return t;
}

// Join protocol, one word (m_join): kJoinRunning -> the joiner's pointer (CAS by join) or
// kJoinDetached (CAS by detach) -> kJoinExited (exchange by finish_switch once the thread is
// off its stack). The exiting side never touches the thread after its exchange, so a joiner
// may free it as soon as it reads kJoinExited.
void Thread::join(Thread* thread)
{
    NIMBUS_ASSERT(thread && thread != current_thread());
    uintptr_t expected = kJoinRunning;
    uintptr_t self = reinterpret_cast<uintptr_t>(current_thread());
    // pairs with finish_switch()'s exchange(acq_rel)
    if (thread->m_join.compare_exchange_strong(expected, self, std::memory_order_acq_rel)) {
        while (thread->m_join.load(std::memory_order_acquire) != kJoinExited)
            park_current_thread();
    } else {
        NIMBUS_ASSERT(expected == kJoinExited); // joined twice, or detached, otherwise
    }
    ThreadInternals::free_thread(thread);
}

void Thread::detach(Thread* thread)
{
    NIMBUS_ASSERT(thread && thread != current_thread());
    uintptr_t expected = kJoinRunning;
    // pairs with finish_switch()'s exchange(acq_rel)
    if (!thread->m_join.compare_exchange_strong(expected, kJoinDetached, std::memory_order_acq_rel)) {
        // It already exited, expecting a joiner: free it here.
        NIMBUS_ASSERT(expected == kJoinExited);
        ThreadInternals::free_thread(thread);
    }
}

void dump_threads()
{
    PerCpu* self = this_cpu_or_null();
    kprintf("threads:\n");
    int shown = 0;
    for (Thread* t = g_all_threads; t && shown < 256; t = t->m_all_next, ++shown) {
        bool is_idle = t->m_cpu && t->m_cpu->idle == t;
        kprintf("  %c %4lu %-16s %-9s cpu %u stack 0x%016lx-0x%016lx\n", self && self->current == t ? '*' : ' ',
                t->id, t->m_name, is_idle ? "idle" : state_name(t->state()), t->m_cpu ? t->m_cpu->id : 0,
                t->stack_bottom(), t->stack_top());
    }
}

unsigned Thread::cpu_index() const { return m_cpu->id; }

uint64_t Thread::runtime_ns() const
{
    uint64_t done = m_runtime_ns.load(std::memory_order_relaxed);
    if (this == current_thread())
        done += monotonic_ns() - m_running_since;
    return done;
}

Result<void> set_current_thread_priority(uint32_t priority)
{
    if (priority == 0 || priority > sched::kPriorityMax)
        return Errno::INVAL;
    IrqGuard irq;
    this_cpu().run_queue->fair().set_priority(*current_thread(), priority, now());
    return {};
}

bool threads_started() { return g_threads_started.load(std::memory_order_relaxed); }

void yield() { Thread::switch_away(Thread::Switch::Yield); }

// The parking protocol of the header comment. Returns true if the thread must switch away
// blocked, false if a token was already there (consumed). Interrupts off.
bool ThreadInternals::block_unless_token(Thread* self)
{
    // pairs with unpark_thread()'s exchange: the waker's writes are visible
    if (self->m_wake_token.exchange(false, std::memory_order_acquire))
        return false;
    self->m_state.store(Thread::State::Blocked, std::memory_order_seq_cst);
    if (self->m_wake_token.load(std::memory_order_seq_cst)) {
        auto expected = Thread::State::Blocked;
        if (self->m_state.compare_exchange_strong(expected, Thread::State::Running, std::memory_order_seq_cst)) {
            self->m_wake_token.exchange(false, std::memory_order_acquire);
            return false;
        }
        // A waker won the CAS and is putting us in the run queue: block and be woken.
    }
    return true;
}

void park_current_thread()
{
    Thread* self = current_thread();
    IrqGuard irq;
    if (!ThreadInternals::block_unless_token(self))
        return;
    // switch_away() without its own IrqGuard: interrupts are off already.
    ThreadInternals::switch_at(Thread::Switch::Block, now(), true);
    // Consume the token of the wake-up (or of any later unpark: we return and the caller
    // re-checks its condition either way).
    self->m_wake_token.exchange(false, std::memory_order_acquire);
}

bool park_current_thread_until(uint64_t deadline_ns)
{
    Thread* self = current_thread();
    if (deadline_ns <= monotonic_ns())
        return false; // no sleep, and a stored token stays stored
    // The timer wakes the thread without a token, so a timeout never eats a wake-up.
    struct ParkTimer : Timer {
        Thread* thread;
    } timer;
    timer.thread = self;
    timer.callback = [](Timer* base) { ThreadInternals::wake_if_blocked(static_cast<ParkTimer*>(base)->thread); };
    IrqGuard irq; // the timer cannot fire before the thread has blocked (same CPU)
    ++self->m_migrate_disable; // and the thread stays on the timer's CPU
    timer_arm(timer, deadline_ns);
    bool consumed = !ThreadInternals::block_unless_token(self);
    if (!consumed) {
        ThreadInternals::switch_at(Thread::Switch::Block, now(), true); // interrupts are off
        consumed = self->m_wake_token.exchange(false, std::memory_order_acquire);
    }
    timer_cancel(timer);
    --self->m_migrate_disable;
    // Without a token: a timeout, or (before the deadline) a spurious return.
    return consumed || monotonic_ns() < deadline_ns;
}

// Makes a Blocked thread runnable without giving it a token (its park returns as if
// spuriously). Interrupts off.
void ThreadInternals::wake_if_blocked(Thread* thread)
{
    auto expected = Thread::State::Blocked;
    // pairs with block_unless_token()'s seq_cst store of Blocked (and m_cpu before it)
    if (thread->m_state.compare_exchange_strong(expected, Thread::State::Waking, std::memory_order_seq_cst))
        enqueue(thread);
}

// unpark_thread() and unpark_thread_for_handoff(); `handoff`: the caller is in thread context
// with interrupts on and expects to block soon.
[[gnu::always_inline]] inline void ThreadInternals::unpark(Thread* thread, bool handoff)
{
    // pairs with block_unless_token()'s acquire exchange / seq_cst load. A token that was
    // already set has a waker (or the thread itself) responsible for it.
    if (thread->m_wake_token.exchange(true, std::memory_order_seq_cst))
        return;
    auto expected = Thread::State::Blocked;
    if (!thread->m_state.compare_exchange_strong(expected, Thread::State::Waking, std::memory_order_seq_cst))
        return; // running or about to run: it will see the token
    {
        IrqGuard irq;
        PerCpu& cpu = this_cpu();
        if (handoff && ThreadInternals::hold_for_handoff(cpu, thread))
            return;
        // A wake-affine waker in its own context — not an interrupt handler that runs on top of
        // it (interrupts were off), which is not about to block. It is about to park, so the
        // woken thread, once here, waits in the hand-off slot rather than preempting it.
        if (cpu.current->m_wakes_affine && irq.interrupts_were_on()) [[unlikely]] {
            ThreadInternals::pull_to_waker(cpu, thread);
            if (ThreadInternals::hold_for_handoff(cpu, thread))
                return;
        }
        ThreadInternals::enqueue(thread);
    }
    // In thread context with interrupts on (not inside a handler or a guard): if the woken
    // thread should run now, switch here rather than at the next interrupt. need_resched is
    // read first, with interrupts on: if an interrupt sets it after the read, that
    // interrupt's own return acts on it.
    if (this_cpu().need_resched && (arch::read_rflags() & (1u << 9))) {
        IrqGuard irq;
        preempt_if_needed(false);
    }
}

void unpark_thread(Thread* thread) { ThreadInternals::unpark(thread, false); }

void unpark_thread_for_handoff(Thread* thread)
{
    ThreadInternals::unpark(thread, (arch::read_rflags() & (1u << 9)) != 0);
}

void commit_handoff()
{
    {
        IrqGuard irq;
        PerCpu& cpu = this_cpu();
        if (!cpu.handoff)
            return;
        ThreadInternals::commit_handoff_here(cpu, now());
    }
    // As unpark_thread(): the committed thread may deserve the CPU now.
    if (this_cpu().need_resched && (arch::read_rflags() & (1u << 9))) {
        IrqGuard irq;
        preempt_if_needed(false);
    }
}

void kick_thread(Thread* thread)
{
    unpark_thread(thread);
    // Running elsewhere: an interrupt makes it pass an interrupt return, where the caller's
    // news (a pending signal) is looked at. If it moves meanwhile, it notices at its next
    // interrupt or system call instead.
    IrqGuard irq;
    if (thread->m_state.load(std::memory_order_seq_cst) == Thread::State::Running) {
        PerCpu* home = thread->m_cpu;
        if (home && home != &this_cpu())
            arch::apic_send_ipi(home->apic_id, arch::kVectorReschedule);
    }
}

Result<void> pin_current_thread(unsigned target)
{
    if (target >= cpu_count())
        return Errno::INVAL;
    Thread* self = current_thread();
    IrqGuard irq;
    self->m_pinned = int(target);
    if (self->m_cpu->id == target)
        return {};
    self->m_cpu = &cpu(target);
    Thread::switch_away(Thread::Switch::Migrate);
    return {};
}

void set_current_fs_base(uint64_t base)
{
    IrqGuard irq;
    PerCpu& cpu = this_cpu();
    cpu.current->m_fs_base = base;
    arch::write_fs_base(base);
    cpu.fs_base = base;
}

uint64_t current_fs_base() { return current_thread()->m_fs_base; }

void unpin_current_thread()
{
    IrqGuard irq;
    current_thread()->m_pinned = kAnyCpu;
}

void exit_current_thread()
{
    Thread::switch_away(Thread::Switch::Exit);
    __builtin_unreachable();
}

bool can_block() { return this_cpu().preempt_count == 0; }

uint64_t context_switches()
{
    uint64_t total = 0;
    for (unsigned i = 0; i < cpu_count(); ++i)
        total += cpu(i).switches.load(std::memory_order_relaxed);
    return total;
}

uint64_t balancer_migrations() { return g_migrations.load(std::memory_order_relaxed); }

} // namespace core

// Where a thread's entry function returns to (switch.S).
extern "C" [[noreturn]] void core_thread_exit_current() { core::exit_current_thread(); }

// A new thread's first code (switch.S) runs with the interrupt state of the switch that
// started it — disabled — and first completes that switch. Threads run with interrupts
// enabled once the kernel has them.
extern "C" void core_thread_first_run()
{
    core::ThreadInternals::finish_switch();
    // A new application thread starts from its initial extended state, not from whatever
    // the previous thread left in the registers (switch_away restores only resumed ones).
    if (const void* xstate = core::current_thread()->extended_state())
        arch::restore_extended_state(xstate);
    if (core::interrupts_enabled_globally())
        arch::irq_enable();
}

// The kernel binding of kernel/sync/thread_ops.h (current_thread() and can_block() are inline
// there).
namespace ksync {
void park_current() { core::park_current_thread(); }
void unpark(Thread* thread) { core::unpark_thread(static_cast<core::Thread*>(thread)); }
bool park_current_until(uint64_t deadline_ns) { return core::park_current_thread_until(deadline_ns); }
uint64_t now_ns() { return core::monotonic_ns(); }
} // namespace ksync
