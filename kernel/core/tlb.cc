// Cross-CPU TLB shootdown (tlb.h).
//
// One request at a time (callers hold the kernel's memory lock): the initiator fills in the
// request, counts the other CPUs into `pending` and sends each an IPI; each handler
// invalidates and counts itself out; the one that brings `pending` to zero unparks the
// initiator, which sleeps meanwhile. A handler reads everything it needs from the request
// before its decrement — after it the initiator may return and reuse the request.
//
// The initiator invalidates its own CPU again inside the interrupt-disabled send loop: it may
// have been migrated since the page-table code invalidated "locally", and every CPU other
// than the one it sends from gets an IPI, so all CPUs are covered either way.
#include <arch/x86_64/apic.h>
#include <arch/x86_64/cpu.h>
#include <atomic>
#include <core/cpu.h>
#include <core/irq.h>
#include <core/thread.h>
#include <core/tlb.h>

namespace core {
namespace {

struct Request {
    uint64_t pages[kTlbShootdownBatch];
    unsigned count = 0;
    bool all = false;
    Thread* initiator = nullptr; // to unpark; null: it polls
    std::atomic<unsigned> pending{0};
};

Request g_request;
std::atomic<uint64_t> g_shootdowns{0};

void invalidate(const Request& r)
{
    if (r.all) {
        arch::flush_tlb_global();
        return;
    }
    for (unsigned i = 0; i < r.count; ++i)
        arch::invlpg(r.pages[i]);
}

void on_shootdown_ipi(void*)
{
    Request& r = g_request;
    invalidate(r);
    Thread* initiator = r.initiator;
    // pairs with tlb_shootdown()'s acquire load: our invalidation happened before it returns
    if (r.pending.fetch_sub(1, std::memory_order_acq_rel) == 1 && initiator)
        unpark_thread(initiator);
}

} // namespace

void init_tlb_shootdown() { MUST(set_irq_handler(arch::kVectorTlbShootdown, &on_shootdown_ipi, nullptr)); }

void tlb_shootdown(const uint64_t* pages, unsigned count, bool all)
{
    unsigned ncpus = cpu_count();
    if (ncpus < 2)
        return;
    Request& r = g_request;
    r.all = all || count > kTlbShootdownBatch;
    r.count = r.all ? 0 : count;
    for (unsigned i = 0; i < r.count; ++i)
        r.pages[i] = pages[i];
    // Sleep while waiting where a thread may (interrupts on: not an exception handler, not
    // inside an IrqGuard); otherwise wait on the counter — a bounded wait for other CPUs'
    // interrupt handlers, not for a lock.
    bool sleep = threads_started() && can_block() && (arch::read_rflags() & (1u << 9));
    r.initiator = sleep ? current_thread() : nullptr;
    r.pending.store(ncpus - 1, std::memory_order_relaxed);
    g_shootdowns.fetch_add(1, std::memory_order_relaxed);
    {
        IrqGuard irq;
        invalidate(r);
        unsigned self = this_cpu().id;
        // The IPI write is ordered after the stores above (apic_send_ipi's contract).
        for (unsigned i = 0; i < ncpus; ++i)
            if (i != self)
                arch::apic_send_ipi(cpu(i).apic_id, arch::kVectorTlbShootdown);
    }
    // pairs with the handlers' acq_rel decrements
    while (r.pending.load(std::memory_order_acquire) != 0) {
        if (sleep)
            park_current_thread();
        else
            asm volatile("pause");
    }
}

uint64_t tlb_shootdowns() { return g_shootdowns.load(std::memory_order_relaxed); }

} // namespace core
