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
// ICR fields [intel-sdm-3a §11.6.1]: delivery mode in bits 8-10, delivery status 12, level 14.
constexpr uint32_t kIcrNmi = 4u << 8;
constexpr uint32_t kIcrInit = 5u << 8;
constexpr uint32_t kIcrAllExcludingSelf = 3u << 18;
constexpr uint32_t kIcrStartup = 6u << 8;
constexpr uint32_t kIcrDeliveryPending = 1u << 12;
constexpr uint32_t kIcrLevelAssert = 1u << 14;
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

namespace {

// Programs this CPU's APIC (already enabled in g_mode): masked LVTs, divide-by-1 timer,
// software enable with the spurious vector.
ApicInfo configure(bool tsc_deadline)
{
    ApicInfo info;
    info.mode = g_mode;
    info.tsc_deadline = tsc_deadline;
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

// xAPIC: the previous IPI must have left the ICR before the next is written (the delivery
// status bit [intel-sdm-3a §11.6.1]). A bounded wait on the local APIC itself, not a lock;
// x2APIC has no such bit.
void wait_icr_idle()
{
    if (g_mode != ApicMode::XApic)
        return;
    for (int i = 0; i < 100000 && (read_reg(kRegIcrLow) & kIcrDeliveryPending); ++i)
        asm volatile("pause");
}

void send_icr(uint32_t dest, uint32_t low)
{
    if (g_mode == ApicMode::X2Apic) {
        // x2APIC ICR writes are not serialising; order earlier stores (the data the IPI
        // announces) before the MSR write [intel-sdm-3a §11.12.3].
        asm volatile("mfence" ::: "memory");
        wrmsr(0x800 + kRegIcrLow / 16, (uint64_t(dest) << 32) | low);
        return;
    }
    wait_icr_idle();
    write_reg(kRegIcrHigh, dest << 24);
    write_reg(kRegIcrLow, low);
}

} // namespace

ApicInfo init_local_apic(void* (*map_mmio)(uint64_t paddr))
{
    CpuidResult leaf1 = cpuid(1);
    if (!(leaf1.edx & (1u << 9)))
        return {}; // no APIC
    bool x2 = leaf1.ecx & (1u << 21);
    uint64_t base = rdmsr(kMsrApicBase);
    if (x2) {
        wrmsr(kMsrApicBase, base | kApicBaseEnable | kApicBaseX2);
        g_mode = ApicMode::X2Apic;
    } else {
        wrmsr(kMsrApicBase, base | kApicBaseEnable);
        g_mmio = static_cast<volatile uint32_t*>(map_mmio(base & 0x000ffffffffff000ull));
        if (!g_mmio)
            return {};
        g_mode = ApicMode::XApic;
    }
    return configure(leaf1.ecx & (1u << 24));
}

ApicInfo init_local_apic_secondary()
{
    if (g_mode == ApicMode::None)
        return {};
    CpuidResult leaf1 = cpuid(1);
    uint64_t base = rdmsr(kMsrApicBase);
    // Every CPU's xAPIC page is at the same physical address (each sees its own), so the
    // boot CPU's mapping serves.
    wrmsr(kMsrApicBase, base | kApicBaseEnable | (g_mode == ApicMode::X2Apic ? kApicBaseX2 : 0));
    return configure(leaf1.ecx & (1u << 24));
}

uint32_t cpuid_apic_id()
{
    // CPUID.0BH:EDX is the full x2APIC id; CPUID.1:EBX[31:24] its low 8 bits [intel-sdm-3a
    // §11.12.8]. Leaf 0BH is valid when it reports a non-zero EBX for sub-leaf 0.
    if (cpuid(0).eax >= 0xb) {
        CpuidResult leaf = cpuid(0xb, 0);
        if (leaf.ebx != 0)
            return leaf.edx;
    }
    return cpuid(1).ebx >> 24;
}

void apic_send_nmi_to_others()
{
    // Destination shorthand "all excluding self" (the destination field is ignored).
    send_icr(0, kIcrNmi | kIcrAllExcludingSelf);
}

void apic_send_init(uint32_t dest) { send_icr(dest, kIcrInit | kIcrLevelAssert); }

void apic_send_startup(uint32_t dest, uint8_t page) { send_icr(dest, kIcrStartup | page); }

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

void apic_send_ipi(uint32_t dest, uint8_t vector) { send_icr(dest, vector); }

} // namespace arch
