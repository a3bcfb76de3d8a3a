// The kernel binding of ksync::RcuDomain (rcu.h).
#include <arch/x86_64/apic.h>
#include <core/clock.h>
#include <core/console.h>
#include <core/memory.h>
#include <core/rcu.h>
#include <core/thread.h>
#include <arch/x86_64/cpu.h>
#include <atomic>
#include <new>
#include <sync/mutex.h>

namespace core {

ksync::RcuDomain* g_rcu_domain = nullptr;

namespace {
// Callbacks queued before the housekeeping thread started, a lock-free stack (push by CAS,
// taken whole by exchange). A pusher pushes and then checks g_housekeeper_started; the
// starter sets it and then takes the stack — both seq_cst, so at least one of them sees the
// other and hands the callback to the domain (handing over twice is impossible: the
// exchange gives each node to one taker).
std::atomic<ksync::RcuHead*> g_early{nullptr};
std::atomic<bool> g_housekeeper_started{false};

void hand_over_early()
{
    ksync::RcuHead* head = g_early.exchange(nullptr, std::memory_order_seq_cst);
    while (head) {
        ksync::RcuHead* next = head->next;
        g_rcu_domain->call_rcu(head, head->func);
        head = next;
    }
}

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
    ksync::RcuDomain& rcu = *g_rcu_domain;
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
    IrqGuard irq;
    g_rcu_domain = rcu;
    // Halted CPUs count as busy until they next go idle: wake them once so they do.
    kick_cpus();
    return {};
}

namespace {

// The housekeeping thread starts with the first RCU use from thread context, not at boot:
// creating a thread (its first stack mapping) costs about a million instructions, which boot
// does not need to pay. Callbacks queued before it exists (g_early) are handed over then.
constinit ksync::Mutex g_start_lock;

void start_housekeeper()
{
    if (g_housekeeper_started.load(std::memory_order_acquire))
        return;
    ksync::MutexGuard guard(g_start_lock);
    if (g_housekeeper_started.load(std::memory_order_relaxed))
        return;
    if (Thread::create("rcu", &housekeeper, nullptr).is_error()) {
        log_warn("rcu: no memory for the housekeeping thread yet; callbacks wait");
        return;
    }
    g_housekeeper_started.store(true, std::memory_order_seq_cst);
    hand_over_early();
}

bool in_thread_context() { return threads_started() && can_block() && (arch::read_rflags() & (1u << 9)); }

} // namespace

void rcu_synchronize()
{
    if (!g_rcu_domain)
        return; // boot, one thread on one CPU: no reader can be running
    start_housekeeper();
    // Through a callback, so that the housekeeper (which kicks tickless CPUs) is involved.
    struct Waiter : ksync::RcuHead {
        Thread* thread;
        std::atomic<bool> done{false};
    } waiter;
    waiter.thread = current_thread();
    g_rcu_domain->call_rcu(&waiter, [](ksync::RcuHead* head) {
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
    if (g_rcu_domain && !g_housekeeper_started.load(std::memory_order_acquire) && in_thread_context())
        start_housekeeper();
    if (g_housekeeper_started.load(std::memory_order_acquire)) {
        g_rcu_domain->call_rcu(head, func);
        return;
    }
    // Not running yet (boot, or a first use from interrupt context): park it on g_early.
    head->func = func;
    ksync::RcuHead* top = g_early.load(std::memory_order_relaxed);
    do {
        head->next = top;
    } while (!g_early.compare_exchange_weak(top, head, std::memory_order_seq_cst, std::memory_order_relaxed));
    if (g_housekeeper_started.load(std::memory_order_seq_cst))
        hand_over_early(); // the starter may have taken the stack just before our push
}

uint64_t rcu_grace_periods() { return g_rcu_domain ? g_rcu_domain->completed() : 0; }

void rcu_idle(PerCpu& cpu, bool idle)
{
    if (g_rcu_domain && cpu.id < g_rcu_domain->cpu_count())
        g_rcu_domain->set_idle(cpu.id, idle);
}

} // namespace core
