// The kernel binding of ksync::RcuDomain (rcu.h).
#include <arch/x86_64/apic.h>
#include <core/clock.h>
#include <core/console.h>
#include <core/memory.h>
#include <core/rcu.h>
#include <core/thread.h>
#include <new>

namespace core {
namespace {

ksync::RcuDomain* g_rcu = nullptr;
// Callbacks queued before the domain existed (boot): handed over by init_rcu().
ksync::RcuHead* g_early = nullptr;

// How long a grace period may wait before the housekeeper kicks the CPUs.
constexpr uint64_t kKickAfterNs = 1'000'000;

// Sends every other CPU a reschedule IPI: one running preemptible code reports a quiescent
// state from the interrupt (dispatch_irq), one halted in idle is already counted.
void kick_cpus()
{
    IrqGuard irq;
    unsigned self = this_cpu().id;
    for (unsigned i = 0; i < cpu_count(); ++i)
        if (i != self)
            arch::apic_send_ipi(cpu(i).apic_id, arch::kVectorReschedule);
}

[[noreturn]] void housekeeper(void*)
{
    ksync::RcuDomain& rcu = *g_rcu;
    uint64_t gp_seen_since = 0;
    for (;;) {
        rcu.poll();
        // This thread's own switches report this CPU; the others may need a kick.
        if (rcu.grace_period_running()) {
            uint64_t now = monotonic_ns();
            if (!gp_seen_since)
                gp_seen_since = now;
            else if (now - gp_seen_since >= kKickAfterNs)
                kick_cpus();
            rcu.wait_for_callbacks(now + kKickAfterNs);
            continue;
        }
        gp_seen_since = 0;
        // Nothing running: sleep until callbacks come (tickless), or poll soon if some wait.
        rcu.wait_for_callbacks(rcu.callbacks_queued() ? monotonic_ns() + kKickAfterNs : ksync::kNoDeadline);
    }
}

} // namespace

Result<void> init_rcu()
{
    unsigned n = cpu_count();
    size_t size = ksync::RcuDomain::storage_size(n);
    void* storage = kmalloc(size, 64);
    if (!storage)
        return Errno::NOMEM;
    ksync::RcuDomain* rcu = TRY(ksync::RcuDomain::create(n, storage, size));
    {
        IrqGuard irq;
        g_rcu = rcu;
    }
    TRY(Thread::create("rcu", &housekeeper, nullptr));
    while (ksync::RcuHead* head = g_early) {
        g_early = head->next;
        rcu->call_rcu(head, head->func);
    }
    // Halted CPUs count as busy until they next go idle: wake them once so they do.
    kick_cpus();
    return {};
}

void rcu_synchronize()
{
    if (!g_rcu)
        return; // boot, one thread on one CPU: no reader can be running
    // Through a callback, so that the housekeeper (which kicks tickless CPUs) is involved.
    struct Waiter : ksync::RcuHead {
        Thread* thread;
        std::atomic<bool> done{false};
    } waiter;
    waiter.thread = current_thread();
    g_rcu->call_rcu(&waiter, [](ksync::RcuHead* head) {
        auto* w = static_cast<Waiter*>(head);
        Thread* t = w->thread;
        w->done.store(true, std::memory_order_release); // w may be gone after this
        unpark_thread(t);
    });
    while (!waiter.done.load(std::memory_order_acquire))
        park_current_thread();
}

void rcu_call(ksync::RcuHead* head, void (*func)(ksync::RcuHead*))
{
    if (g_rcu) {
        g_rcu->call_rcu(head, func);
        return;
    }
    IrqGuard irq; // boot: one CPU
    head->func = func;
    head->next = g_early;
    g_early = head;
}

uint64_t rcu_grace_periods() { return g_rcu ? g_rcu->completed() : 0; }

void rcu_quiescent(PerCpu& cpu)
{
    if (g_rcu && cpu.id < g_rcu->cpu_count())
        g_rcu->quiescent(cpu.id);
}

void rcu_idle(PerCpu& cpu, bool idle)
{
    if (g_rcu && cpu.id < g_rcu->cpu_count())
        g_rcu->set_idle(cpu.id, idle);
}

} // namespace core
