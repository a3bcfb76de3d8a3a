// The kernel's RCU (read-copy-update): the portable grace-period core (sync/rcu.h) bound to
// the scheduler. A reader section is a stretch with preemption disabled (RcuReadGuard); a
// CPU passes a quiescent state on every context switch, on every interrupt that arrives in
// preemptible code, and while it halts idle. Updaters publish with ksync::rcu_assign and then
// wait (rcu_synchronize) or defer (rcu_call) the reclamation.
//
// Tickless CPUs may run one thread for seconds without a switch or an interrupt; the "rcu"
// housekeeping thread kicks them with a reschedule IPI (whose arrival in preemptible code is
// a quiescent state) while a grace period waits, and runs the deferred callbacks.
#pragma once

#include <core/cpu.h>
#include <sync/rcu.h>

namespace core {

// Read side: no blocking inside; nests.
class RcuReadGuard {
public:
    RcuReadGuard() = default;
    RcuReadGuard(const RcuReadGuard&) = delete;
    RcuReadGuard& operator=(const RcuReadGuard&) = delete;

private:
    PreemptGuard m_no_preemption;
};

// Creates the domain for the CPUs running now. After start_secondary_cpus(). NOMEM. The
// housekeeping thread starts with the first RCU use from thread context (a thread's first
// stack costs boot about a million instructions otherwise).
Result<void> init_rcu();

// Waits for a grace period: every reader section that began before the call has ended.
// Blocks.
void rcu_synchronize();

// Runs func(head) in the housekeeping thread after a grace period; never blocks. `head` must
// stay valid until then. Callbacks queued before the housekeeping thread runs (at boot, or a
// first use from interrupt context) wait for the first use from thread context.
void rcu_call(ksync::RcuHead* head, void (*func)(ksync::RcuHead*));

// Grace periods completed so far.
uint64_t rcu_grace_periods();

// The domain, once init_rcu() made it (for the inline rcu_quiescent below).
extern ksync::RcuDomain* g_rcu_domain;

// Scheduler hooks (thread.cc, irq.cc), on the CPU concerned, interrupts disabled.
inline void rcu_quiescent(PerCpu& cpu)
{
    // Inline: every context switch reports one.
    if (g_rcu_domain && cpu.id < g_rcu_domain->cpu_count())
        g_rcu_domain->quiescent(cpu.id);
}
void rcu_idle(PerCpu& cpu, bool idle);

} // namespace core
