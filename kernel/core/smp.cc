// Application-processor start-up (see arch/x86_64/ap_boot.S for the trampoline).
//
// The boot CPU prepares everything an AP needs before it sends a single IPI — per-CPU area,
// run queue, idle thread and its stack, IST stacks, GDT/TSS storage — in slots indexed by
// arrival order: an AP takes the next slot with an atomic increment in the trampoline, so all
// APs can be started with one round of IPIs and CPU ids come out dense (boot CPU 0, then 1, 2
// ... in arrival order). Each AP loads its own descriptors, enables its APIC, announces
// itself through its slot's ready flag and enters its idle loop. The boot CPU waits (sleeping,
// bounded) for the ready flags and registers the CPUs in id order; from then on the
// scheduler may place threads on them.
//
// The INIT / start-up IPI sequence [intel-sdm-3a §9.4.4.1]: INIT, start-up IPI, and a second
// start-up IPI for CPUs that have not arrived after a while. The 10 ms wait after INIT that
// the SDM's example uses is for pre-integrated-APIC hardware; under a hypervisor (which is
// the only place Nimbus runs) INIT takes effect at once, so it is skipped, as Linux does.
#include <arch/x86_64/apic.h>
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/descriptors.h>
#include <arch/x86_64/fpu.h>
#include <arch/x86_64/layout.h>
#include <core/boot_info.h>
#include <core/clock.h>
#include <core/console.h>
#include <core/cpus.h>
#include <core/irq.h>
#include <core/memory.h>
#include <core/smp.h>
#include <core/thread.h>
#include <core/timer.h>
#include <core/tlb.h>
#include <new>

extern "C" char ap_trampoline_start[];
extern "C" char ap_trampoline_end[];

// Read by ap_boot.S.
extern "C" {
uint64_t g_ap_cr3 = 0;
uint32_t g_ap_next = 0;
uint64_t g_ap_stacks[sched::kMaxCpus];
}

namespace core {
namespace {

constexpr size_t kIdleStackSize = 16 * 1024;
constexpr uint64_t kFirstWaitNs = 2'000'000;      // before the second start-up IPI
constexpr uint64_t kStartTimeoutNs = 2'000'000'000; // generous: TCG with more vCPUs than cores

struct ApSlot {
    PerCpu* cpu = nullptr;
    void* descriptors = nullptr;
    uint64_t ist_tops[5] = {};
    std::atomic<bool> ready{false};
};

ApSlot* g_slots = nullptr;
unsigned g_slot_count = 0;
// Set once the boot CPU stopped waiting: a straggler then parks itself for good.
std::atomic<bool> g_closed{false};

// A page of conventional memory (RAM below 640 KiB, not page 0) for the trampoline: the
// highest one the memory map calls RAM. The allocator never hands out the first MiB, and
// what the hypervisor left there (start_info, the command line) has been copied already.
uint64_t find_trampoline_page()
{
    const boot::BootInfo& info = boot_info();
    uint64_t best = 0;
    for (size_t i = 0; i < info.region_count; ++i) {
        const auto& r = info.regions[i];
        if (r.type != boot::MemoryType::Ram)
            continue;
        uint64_t begin = (r.base + 0xfff) & ~uint64_t(0xfff);
        if (begin < 0x1000)
            begin = 0x1000; // page 0: the real-mode interrupt table and BIOS data
        uint64_t end = r.base + r.size;
        if (end > 0xa0000)
            end = 0xa0000;
        end &= ~uint64_t(0xfff);
        if (end >= begin + 0x1000 && end - 0x1000 > best)
            best = end - 0x1000;
    }
    return best;
}

// Everything AP `index` (arrival order) needs, allocated on the boot CPU. NOMEM.
Result<void> prepare_slot(ApSlot& slot, unsigned index)
{
    auto* cpu = new (std::nothrow) PerCpu();
    if (!cpu)
        return Errno::NOMEM;
    cpu->self = cpu;
    cpu->id = index + 1;
    slot.cpu = cpu;
    slot.descriptors = kmalloc(arch::cpu_descriptors_size(), 16);
    if (!slot.descriptors)
        return Errno::NOMEM;
    for (int i = 0; i < 5; ++i) {
        uint64_t bottom = TRY(allocate_kernel_stack(arch::kStackSize));
        cpu->ist_bottom[i] = bottom;
        slot.ist_tops[i] = bottom + arch::kStackSize;
    }
    cpu->ist_size = arch::kStackSize;
    uint64_t stack = TRY(allocate_kernel_stack(kIdleStackSize));
    TRY(prepare_secondary_cpu(*cpu, stack, kIdleStackSize));
    g_ap_stacks[index] = stack + kIdleStackSize;
    return {};
}

} // namespace

void start_secondary_cpus(unsigned max_cpus)
{
    const boot::CpuTopology& topology = cpu_topology();
    PerCpu& boot_cpu = this_cpu();
    uint32_t aps[boot::CpuTopology::kMaxCpus];
    unsigned count = 0;
    for (size_t i = 0; i < topology.count; ++i) {
        const boot::CpuEntry& e = topology.cpus[i];
        if (e.enabled && e.apic_id != boot_cpu.apic_id && count + 1 < max_cpus && count + 1 < sched::kMaxCpus)
            aps[count++] = e.apic_id;
    }
    if (count == 0 || apic_info().mode == arch::ApicMode::None) {
        log_info("smp: 1 cpu online");
        return;
    }
    uint64_t page = find_trampoline_page();
    size_t size = size_t(ap_trampoline_end - ap_trampoline_start);
    if (!page || size > 0x1000) {
        log_warn("smp: no conventional memory for the start-up code: running on the boot CPU only");
        return;
    }
    if (init_cross_cpu_wakeups(count + 1).is_error()) {
        log_warn("smp: no memory for the wake-up queues: running on the boot CPU only");
        return;
    }
    g_slots = new (std::nothrow) ApSlot[count];
    if (!g_slots) {
        log_warn("smp: no memory: running on the boot CPU only");
        return;
    }
    for (unsigned i = 0; i < count; ++i) {
        if (prepare_slot(g_slots[i], i).is_error()) {
            log_warn("smp: no memory for CPU %u: starting %u of %u", i + 1, i, count);
            count = i;
            break;
        }
    }
    g_slot_count = count;
    init_tlb_shootdown();
    __builtin_memcpy(phys_to_virt(page), ap_trampoline_start, size);
    g_ap_cr3 = arch::read_cr3();
    // The IPIs below publish the slots (the APIC write is ordered after these stores).
    std::atomic_thread_fence(std::memory_order_seq_cst);

    uint8_t vector = uint8_t(page >> 12);
    for (unsigned i = 0; i < count; ++i)
        arch::apic_send_init(aps[i]);
    for (unsigned i = 0; i < count; ++i)
        arch::apic_send_startup(aps[i], vector);
    uint64_t start = monotonic_ns();
    bool second_sent = false;
    for (;;) {
        unsigned ready = 0;
        for (unsigned i = 0; i < count; ++i)
            ready += g_slots[i].ready.load(std::memory_order_acquire) ? 1 : 0;
        uint64_t waited = monotonic_ns() - start;
        if (ready == count || waited > kStartTimeoutNs)
            break;
        if (!second_sent && waited > kFirstWaitNs) {
            // Who has not arrived gets another start-up IPI (one arriving meanwhile ignores
            // it: it is no longer waiting for one). Arrival order is not APIC-id order, so
            // send it to everyone.
            for (unsigned i = 0; i < count; ++i)
                arch::apic_send_startup(aps[i], vector);
            second_sent = true;
        }
        sleep_ns(50'000);
    }
    g_closed.store(true, std::memory_order_seq_cst);
    unsigned online = 0;
    while (online < count && g_slots[online].ready.load(std::memory_order_acquire))
        register_cpu(g_slots[online++].cpu);
    if (online < count)
        log_warn("smp: %u of %u CPUs did not start", count - online, count);
    log_info("smp: %u cpus online", online + 1);
}

} // namespace core

// First C++ code of an AP (ap_boot.S), on its slot's idle stack, with the kernel's page
// tables, interrupts disabled, GS not yet set.
extern "C" [[noreturn]] void ap_main(uint32_t index)
{
    using namespace core;
    if (index >= g_slot_count || g_closed.load(std::memory_order_seq_cst))
        arch::halt_forever(); // a straggler after the boot CPU gave up on it
    ApSlot& slot = g_slots[index];
    PerCpu& cpu = *slot.cpu;
    arch::wrmsr(arch::kMsrGsBase, uint64_t(&cpu));
    arch::load_cpu_descriptors(slot.descriptors, slot.ist_tops);
    arch::init_fpu_secondary();
    cpu.apic_id = init_interrupts_secondary();
    cpu.current = cpu.idle;
    // pairs with start_secondary_cpus()' acquire loads
    slot.ready.store(true, std::memory_order_release);
    run_idle_loop();
}
