// Boot-time stamps and their report.
#include <arch/x86_64/cpu.h>
#include <core/boot_time.h>
#include <core/clock.h>
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

void print_boot_times()
{
    // The clock knows the TSC rate (from CPUID or kvmclock, else calibrated on this first
    // use — after boot, so the measurement costs boot nothing). Under -icount shift=0 one
    // tick is 1 ns.
    uint64_t khz = tsc_frequency_hz() / 1000;
    kprintf("boot time (TSC ticks from the first instruction):\n");
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
