// The local APIC: x2APIC (MSRs) where the CPU offers it, xAPIC (MMIO) otherwise. End of
// interrupt, the one-shot timer (TSC-deadline mode when offered), IPIs.
// [intel-sdm-3a §11 (APIC), §11.12 (x2APIC), §11.5.4 (timer)]
#pragma once

#include <cstdint>

namespace arch {

// Vectors the kernel reserves at the top of the IDT. Device vectors are allocated below.
inline constexpr uint8_t kVectorSpurious = 0xff;
inline constexpr uint8_t kVectorTimer = 0xfe;
inline constexpr uint8_t kVectorReschedule = 0xfd;
inline constexpr uint8_t kVectorTlbShootdown = 0xfc;

enum class ApicMode : uint8_t { None, XApic, X2Apic };

struct ApicInfo {
    ApicMode mode = ApicMode::None;
    bool tsc_deadline = false; // CPUID.1:ECX[24]
    uint32_t id = 0;
};

// Enables this CPU's local APIC: x2APIC when CPUID says so, else xAPIC through `mmio` (the
// APIC page mapped uncached, from map_mmio(base)). Masks LINT0/LINT1 and the timer, sets the
// spurious vector. Returns mode None when the CPU has no APIC (then there are no interrupts).
ApicInfo init_local_apic(void* (*map_mmio)(uint64_t paddr));

// Enables and programs the calling (non-boot) CPU's local APIC in the mode init_local_apic
// chose on the boot CPU.
ApicInfo init_local_apic_secondary();

// The calling CPU's APIC id from CPUID (usable before its APIC is enabled).
uint32_t cpuid_apic_id();

void apic_eoi();

// One-shot timer: fires kVectorTimer after `ticks` APIC timer ticks (divide by 1); 0 stops it.
void apic_timer_oneshot(uint32_t ticks);
uint32_t apic_timer_remaining();

// TSC-deadline timer (only with ApicInfo::tsc_deadline): fires when the TSC reaches
// `deadline`; 0 disarms it.
void apic_set_tsc_deadline(uint64_t deadline);

// Sends `vector` to the CPU with APIC id `dest` (fixed delivery, physical destination).
// Stores before the call are visible to the target's handler.
void apic_send_ipi(uint32_t dest, uint8_t vector);

// An NMI to every other CPU (the panic path stops them with it).
void apic_send_nmi_to_others();

// AP start-up [intel-sdm-3a §9.4.4.1]: INIT, then a start-up IPI that starts the target in
// real mode at physical address page << 12.
void apic_send_init(uint32_t dest);
void apic_send_startup(uint32_t dest, uint8_t page);

} // namespace arch
