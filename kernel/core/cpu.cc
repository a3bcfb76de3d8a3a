// CPU 0's per-CPU area. The SMP issue adds one per application processor, found from the
// MADT / MP table.
#include <arch/x86_64/cpu.h>
#include <core/cpu.h>
#include <new>

namespace core {
namespace {

PerCpu g_boot_cpu;

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
}

} // namespace core
