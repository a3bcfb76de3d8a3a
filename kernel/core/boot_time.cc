// Boot-time stamps and their report.
#include <arch/x86_64/cpu.h>
#include <core/boot_time.h>
#include <core/console.h>

extern "C" uint64_t g_boot_entry_tsc; // written by boot.S before anything else runs

namespace core {
namespace {

struct Stamp {
    const char* name;
    uint64_t tsc;
};
constexpr int kMaxStamps = 16;
Stamp g_stamps[kMaxStamps];
int g_stamp_count = 0;

} // namespace

void boot_stamp(const char* name)
{
    if (g_stamp_count < kMaxStamps)
        g_stamps[g_stamp_count++] = { name, arch::rdtsc() };
}

uint64_t boot_ticks()
{
    return g_stamp_count ? g_stamps[g_stamp_count - 1].tsc - g_boot_entry_tsc : 0;
}

uint64_t tsc_khz()
{
    uint32_t max_leaf = arch::cpuid(0).eax;
    if (max_leaf >= 0x15) {
        auto r = arch::cpuid(0x15); // TSC/crystal ratio and crystal Hz [intel-sdm-2a CPUID]
        if (r.eax && r.ebx && r.ecx)
            return uint64_t(r.ecx) * r.ebx / r.eax / 1000;
    }
    if (max_leaf >= 0x16) {
        auto r = arch::cpuid(0x16); // base frequency in MHz
        if (r.eax & 0xffff)
            return uint64_t(r.eax & 0xffff) * 1000;
    }
    // Hypervisor timing leaf (KVM, VMware convention): EAX = TSC kHz.
    if (arch::cpuid(1).ecx & (1u << 31)) {
        if (arch::cpuid(0x40000000).eax >= 0x40000010) {
            auto r = arch::cpuid(0x40000010);
            if (r.eax)
                return r.eax;
        }
    }
    return 0;
}

void print_boot_times()
{
    uint64_t khz = tsc_khz();
    kprintf("boot time (TSC ticks from the first instruction%s):\n",
            khz ? "" : "; TSC frequency unknown, under -icount shift=0 one tick is 1 ns");
    uint64_t previous = g_boot_entry_tsc;
    for (int i = 0; i < g_stamp_count; ++i) {
        uint64_t delta = g_stamps[i].tsc - previous, total = g_stamps[i].tsc - g_boot_entry_tsc;
        if (khz)
            kprintf("  %-16s +%10lu  = %10lu ticks  (%lu us)\n", g_stamps[i].name, delta, total,
                    total * 1000 / khz);
        else
            kprintf("  %-16s +%10lu  = %10lu ticks\n", g_stamps[i].name, delta, total);
        previous = g_stamps[i].tsc;
    }
}

} // namespace core
