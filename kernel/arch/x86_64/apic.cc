// Local APIC access in both modes. In x2APIC mode register n is MSR 0x800 + n/16; in xAPIC
// mode it is at MMIO offset n [intel-sdm-3a Table 11-1, Table 11-6].
#include <arch/x86_64/apic.h>
#include <arch/x86_64/cpu.h>

namespace arch {
namespace {

constexpr uint32_t kMsrApicBase = 0x1b;
constexpr uint64_t kApicBaseEnable = 1u << 11;
constexpr uint64_t kApicBaseX2 = 1u << 10;
constexpr uint32_t kMsrTscDeadline = 0x6e0;

// Register offsets (xAPIC MMIO layout).
constexpr uint32_t kRegId = 0x20;
constexpr uint32_t kRegTpr = 0x80;
constexpr uint32_t kRegEoi = 0xb0;
constexpr uint32_t kRegSpurious = 0xf0;
constexpr uint32_t kRegIcrLow = 0x300;
constexpr uint32_t kRegIcrHigh = 0x310;
constexpr uint32_t kRegLvtTimer = 0x320;
constexpr uint32_t kRegLvtLint0 = 0x350;
constexpr uint32_t kRegLvtLint1 = 0x360;
constexpr uint32_t kRegLvtError = 0x370;
constexpr uint32_t kRegTimerInitial = 0x380;
constexpr uint32_t kRegTimerCurrent = 0x390;
constexpr uint32_t kRegTimerDivide = 0x3e0;

constexpr uint32_t kLvtMasked = 1u << 16;
constexpr uint32_t kLvtTimerTscDeadline = 2u << 17;

ApicMode g_mode = ApicMode::None;
volatile uint32_t* g_mmio = nullptr;

uint32_t read_reg(uint32_t reg)
{
    if (g_mode == ApicMode::X2Apic)
        return uint32_t(rdmsr(0x800 + reg / 16));
    return g_mmio[reg / 4];
}

void write_reg(uint32_t reg, uint32_t value)
{
    if (g_mode == ApicMode::X2Apic)
        wrmsr(0x800 + reg / 16, value);
    else
        g_mmio[reg / 4] = value;
}

} // namespace

ApicInfo init_local_apic(void* (*map_mmio)(uint64_t paddr))
{
    ApicInfo info;
    CpuidResult leaf1 = cpuid(1);
    if (!(leaf1.edx & (1u << 9)))
        return info; // no APIC
    bool x2 = leaf1.ecx & (1u << 21);
    uint64_t base = rdmsr(kMsrApicBase);
    if (x2) {
        wrmsr(kMsrApicBase, base | kApicBaseEnable | kApicBaseX2);
        g_mode = ApicMode::X2Apic;
    } else {
        wrmsr(kMsrApicBase, base | kApicBaseEnable);
        g_mmio = static_cast<volatile uint32_t*>(map_mmio(base & 0x000ffffffffff000ull));
        if (!g_mmio)
            return info;
        g_mode = ApicMode::XApic;
    }
    info.mode = g_mode;
    info.tsc_deadline = leaf1.ecx & (1u << 24);
    info.id = g_mode == ApicMode::X2Apic ? read_reg(kRegId) : read_reg(kRegId) >> 24;

    write_reg(kRegTpr, 0);
    write_reg(kRegLvtLint0, kLvtMasked);
    write_reg(kRegLvtLint1, kLvtMasked);
    write_reg(kRegLvtError, kLvtMasked);
    write_reg(kRegLvtTimer, kLvtMasked | kVectorTimer);
    write_reg(kRegTimerDivide, 0xb); // divide by 1
    write_reg(kRegSpurious, (1u << 8) | kVectorSpurious); // software enable
    return info;
}

void apic_eoi() { write_reg(kRegEoi, 0); }

void apic_timer_oneshot(uint32_t ticks)
{
    write_reg(kRegLvtTimer, kVectorTimer); // one-shot, unmasked
    write_reg(kRegTimerInitial, ticks);
}

uint32_t apic_timer_remaining() { return read_reg(kRegTimerCurrent); }

void apic_set_tsc_deadline(uint64_t deadline)
{
    write_reg(kRegLvtTimer, kVectorTimer | kLvtTimerTscDeadline);
    // The LVT write must be visible before the deadline MSR write [intel-sdm-3a §11.5.4.1].
    asm volatile("mfence" ::: "memory");
    wrmsr(kMsrTscDeadline, deadline);
}

void apic_send_ipi(uint32_t dest, uint8_t vector)
{
    if (g_mode == ApicMode::X2Apic) {
        wrmsr(0x800 + kRegIcrLow / 16, (uint64_t(dest) << 32) | vector);
        return;
    }
    write_reg(kRegIcrHigh, dest << 24);
    write_reg(kRegIcrLow, vector);
}

} // namespace arch
