// Interrupt vectors and the local APIC.
#include <arch/x86_64/apic.h>
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/trap_frame.h>
#include <core/console.h>
#include <core/cpu.h>
#include <core/irq.h>
#include <core/memory.h>
#include <core/rcu.h>
#include <core/thread.h>
#include <sync/mutex.h>

namespace core {
namespace {

struct Slot {
    IrqHandler handler = nullptr;
    void* context = nullptr;
};
// Written at set-up, before the vector can fire; read by dispatch_irq on any CPU.
Slot g_slots[256];
// Device vectors handed out by allocate_irq_vector(), below the kernel's reserved ones.
constexpr unsigned kFirstDeviceVector = 0x30;
constexpr unsigned kLastDeviceVector = 0xef;
constinit ksync::Mutex g_vector_lock;
arch::ApicInfo g_apic; // the boot CPU's; mode and timer kind are the same on every CPU
bool g_enabled = false;

void* map_apic(uint64_t paddr) { return map_mmio(paddr, 4096); }

} // namespace

void init_interrupts()
{
    g_apic = arch::init_local_apic(&map_apic);
    this_cpu().apic_id = g_apic.id;
    static const char* const kModes[] = { "none", "xAPIC", "x2APIC" };
    log_info("apic: %s, id %u%s", kModes[unsigned(g_apic.mode)], g_apic.id,
             g_apic.tsc_deadline ? ", TSC-deadline timer" : "");
}

uint32_t init_interrupts_secondary()
{
    return arch::init_local_apic_secondary().id;
}

const arch::ApicInfo& apic_info() { return g_apic; }

Result<void> set_irq_handler(uint8_t vector, IrqHandler handler, void* context)
{
    if (vector < arch::kFirstIrqVector || vector == arch::kVectorSpurious || !handler)
        return Errno::INVAL;
    IrqGuard irq; // boot-time callers and the vector allocator: one CPU at a time
    if (g_slots[vector].handler)
        return Errno::EXIST;
    g_slots[vector].context = context;
    // pairs with dispatch_irq()'s acquire load: the context is visible with the handler
    __atomic_store_n(&g_slots[vector].handler, handler, __ATOMIC_RELEASE);
    return {};
}

void clear_irq_handler(uint8_t vector) { __atomic_store_n(&g_slots[vector].handler, nullptr, __ATOMIC_RELEASE); }

Result<uint8_t> allocate_irq_vector(IrqHandler handler, void* context)
{
    if (!handler)
        return Errno::INVAL;
    ksync::MutexGuard guard(g_vector_lock);
    for (unsigned v = kFirstDeviceVector; v <= kLastDeviceVector; ++v) {
        if (__atomic_load_n(&g_slots[v].handler, __ATOMIC_RELAXED))
            continue;
        TRY(set_irq_handler(uint8_t(v), handler, context));
        return uint8_t(v);
    }
    return Errno::BUSY;
}

void dispatch_irq(uint8_t vector)
{
    PerCpu& cpu = this_cpu();
    __atomic_store_n(&cpu.irq_counts[vector], cpu.irq_counts[vector] + 1, __ATOMIC_RELAXED); // read by irq_count()
    if (vector == arch::kVectorSpurious)
        return; // no EOI for the spurious vector [intel-sdm-3a §11.9]
    // pairs with set_irq_handler()'s release store
    if (IrqHandler handler = __atomic_load_n(&g_slots[vector].handler, __ATOMIC_ACQUIRE))
        handler(g_slots[vector].context);
    else
        log_warn("irq: unexpected vector %u", vector);
    arch::apic_eoi();
    // An interrupt in preemptible code is outside every RCU reader section.
    if (cpu.preempt_count == 0)
        rcu_quiescent(cpu);
    // Returning to thread context (traps.S moved us onto the thread's stack): the place to
    // act on a preemption request.
    preempt_if_needed(false);
}

void enable_interrupts()
{
    // Mask both 8259s; the local APIC's LINT0 is masked too, so nothing legacy gets through.
    arch::outb(0x21, 0xff);
    arch::outb(0xa1, 0xff);
    g_enabled = true;
    arch::irq_enable();
}

bool interrupts_enabled_globally() { return g_enabled; }

uint64_t irq_count(uint8_t vector)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < cpu_count(); ++i)
        total += __atomic_load_n(&cpu(i).irq_counts[vector], __ATOMIC_RELAXED);
    return total;
}

} // namespace core
