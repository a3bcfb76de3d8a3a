// The per-CPU areas: CPU 0's is static, the others' are allocated by smp.cc.
#include <arch/x86_64/cpu.h>
#include <core/cpu.h>
#include <lib/assert.h>
#include <new>
#include <sched/wakeup_queue.h>

namespace core {
namespace {

PerCpu g_boot_cpu;
PerCpu* g_cpus[sched::kMaxCpus];
// Published with release after g_cpus[i] is written: readers that see count > i see cpu i.
std::atomic<unsigned> g_cpu_count{0};

} // namespace

PerCpu* this_cpu_or_null()
{
    if (arch::rdmsr(arch::kMsrGsBase) == 0)
        return nullptr;
    return &this_cpu();
}

void init_boot_cpu()
{
    g_boot_cpu.self = &g_boot_cpu;
    g_boot_cpu.id = 0;
    arch::wrmsr(arch::kMsrGsBase, uint64_t(&g_boot_cpu));
    register_cpu(&g_boot_cpu);
}

unsigned cpu_count() { return g_cpu_count.load(std::memory_order_acquire); }

PerCpu& cpu(unsigned index) { return *g_cpus[index]; }

void register_cpu(PerCpu* cpu)
{
    unsigned n = g_cpu_count.load(std::memory_order_relaxed); // only smp.cc's boot path adds
    NIMBUS_ASSERT(cpu->id == n && n < sched::kMaxCpus);
    g_cpus[n] = cpu;
    // pairs with cpu_count()'s acquire load
    g_cpu_count.store(n + 1, std::memory_order_release);
}

} // namespace core
