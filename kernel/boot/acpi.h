// ACPI table discovery: validates the RSDP the hypervisor hands over, walks the RSDT/XSDT,
// and extracts what the kernel needs (poweroff/reset registers from the FADT, the \_S5 sleep
// type from the DSDT, the MADT location). Portable: built for the kernel and the host.
//
// Everything here is hypervisor input. Every table is read through a PhysReader, checked for
// signature, length (bounded, no wrap-around) and checksum before a field of it is used, and
// a malformed table is skipped or reported — never trusted, never a panic. No AML interpreter:
// \_S5 is found by a bounded scan for `Name(_S5_, Package(){...})` with constant integers,
// which is how every firmware we know (QEMU pc/q35/microvm, Firecracker, cloud-hypervisor,
// SeaBIOS, OVMF) writes it.
//
// Spec: [acpi-6.5] Advanced Configuration and Power Interface Specification 6.5.
#pragma once

#include <boot/pvh.h>
#include <lib/result.h>
#include <lib/string.h>
#include <stddef.h>
#include <stdint.h>

namespace boot {

// [acpi-6.5 §5.2.3.2] Generic Address Structure, decoded.
struct GenericAddress {
    enum class Space : uint8_t {
        SystemMemory = 0,
        SystemIo = 1,
    };
    uint8_t space_id = 0;    // Space for the two the kernel uses; anything else is unsupported
    uint8_t bit_width = 0;
    uint8_t bit_offset = 0;
    uint8_t access_size = 0; // 0 undefined (legacy), 1 byte, 2 word, 3 dword, 4 qword
    uint64_t address = 0;    // 0 means "not present"

    bool is_present() const { return address != 0; }
    bool is_io() const { return space_id == uint8_t(Space::SystemIo); }
    bool is_memory() const { return space_id == uint8_t(Space::SystemMemory); }
    // Width of one access in bytes (1, 2, 4 or 8): access_size if given, else bit_width
    // rounded up, else `fallback`.
    uint8_t access_bytes(uint8_t fallback) const;
};

// One table the root table points to and that passed validation.
struct AcpiTableRef {
    char signature[4] = {};
    uint64_t paddr = 0;
    uint32_t length = 0;

    lib::StringView name() const { return { signature, 4 }; }
};

// What parse_acpi found. Values that were not found stay zero / false.
struct AcpiInfo {
    static constexpr size_t kMaxTables = 64;

    uint8_t rsdp_revision = 0;
    uint64_t root_paddr = 0; // the RSDT or XSDT actually used
    bool root_is_xsdt = false;

    // Valid tables in root-table order (the FADT-referenced DSDT/FACS are not in the root
    // table; the DSDT is added at the end when valid).
    AcpiTableRef tables[kMaxTables];
    size_t table_count = 0;
    size_t tables_dropped = 0; // valid but beyond kMaxTables
    size_t tables_invalid = 0; // unreadable, bad length or bad checksum: skipped

    // [acpi-6.5 §5.2.9] FADT ("FACP").
    bool has_fadt = false;
    uint8_t fadt_revision = 0;
    uint32_t fadt_flags = 0;
    bool hardware_reduced = false;       // Flags.HW_REDUCED_ACPI (bit 20)
    uint32_t smi_command = 0;            // SMI_CMD port (0: ACPI is always enabled)
    uint8_t acpi_enable = 0;             // value for SMI_CMD that enables ACPI mode
    GenericAddress pm1a_control;         // X_PM1a_CNT_BLK, else PM1a_CNT_BLK as 16-bit I/O
    GenericAddress pm1b_control;         // optional
    GenericAddress sleep_control;        // SLEEP_CONTROL_REG (hardware-reduced ACPI)
    bool reset_supported = false;        // Flags.RESET_REG_SUP (bit 10) and a reset register
    GenericAddress reset_register;
    uint8_t reset_value = 0;
    uint64_t dsdt_paddr = 0;             // X_DSDT, else DSDT

    // [acpi-6.5 §7.4.2] \_S5 (soft off): the SLP_TYP values for PM1a / PM1b (or the sleep
    // control register). Found in the DSDT, else in an SSDT.
    bool has_s5 = false;
    uint8_t slp_typ_a = 0;
    uint8_t slp_typ_b = 0;

    // [acpi-6.5 §5.2.12] MADT ("APIC"), for the SMP bring-up; paddr 0 if absent.
    AcpiTableRef madt;

    // A short, static description of the first non-fatal problem (for a log line), or nullptr.
    const char* problem = nullptr;

    // The first valid table with this signature, or nullptr.
    const AcpiTableRef* find(lib::StringView signature) const;
};

// Parses the ACPI tables reachable from the RSDP at `rsdp_paddr` into `out` (reset first).
// Errors (the whole of ACPI is then unusable; `out.problem` says why):
//   NOENT  rsdp_paddr is 0: the hypervisor offers no ACPI (e.g. microvm,acpi=off)
//   FAULT  the RSDP is not readable
//   INVAL  bad RSDP signature, checksum or length; no valid RSDT/XSDT (unreadable, bad
//          signature, length or checksum)
// Tables below the root are validated one by one: an invalid one is skipped and counted,
// never an error. Reads at most a bounded number of bytes (see acpi.cc's limits).
Result<void> parse_acpi(const PhysReader& reader, uint64_t rsdp_paddr, AcpiInfo& out);

// Searches an AML byte stream for `Name(_S5_, Package(){SLP_TYPa, SLP_TYPb, ...})` and
// decodes the first two integers [acpi-6.5 §20.2]. NOENT if no such object, INVAL if one is
// found but malformed (non-integer elements, values above 7). Exposed for tests.
struct SleepType {
    uint8_t a = 0;
    uint8_t b = 0;
};
Result<SleepType> find_s5_in_aml(const uint8_t* aml, size_t size);

// How to end the machine through ACPI, derived from AcpiInfo: the registers (physical
// addresses / ports as in the tables) and the exact values to write.
struct AcpiPowerOff {
    enum class Method : uint8_t {
        None,         // no usable ACPI soft-off
        Pm1Control,   // fixed hardware: PM1a/PM1b control block [acpi-6.5 §4.8.3.2.1]
        SleepControl, // hardware-reduced: sleep control register [acpi-6.5 §4.8.3.7]
    };
    Method method = Method::None;

    // Pm1Control: write (value & ~kPm1SleepMask) | slp_value, then the same | kPm1SleepEnable.
    GenericAddress pm1a_control;
    GenericAddress pm1b_control;
    uint16_t pm1a_slp_value = 0; // SLP_TYPa << 10
    uint16_t pm1b_slp_value = 0; // SLP_TYPb << 10
    // Switch to ACPI mode first if SCI_EN is clear: write acpi_enable to the SMI_CMD port.
    uint32_t smi_command = 0;
    uint8_t acpi_enable = 0;

    // SleepControl: one write of sleep_value (SLP_TYPa << 2 | SLP_EN).
    GenericAddress sleep_control;
    uint8_t sleep_value = 0;

    // The ACPI reset register, if any: a reset fallback after poweroff [acpi-6.5 §4.8.3.6].
    GenericAddress reset_register;
    uint8_t reset_value = 0;

    // [acpi-6.5 §4.8.3.2.1 Table 4.13] PM1 control bits.
    static constexpr uint16_t kPm1SciEnable = 1u << 0;
    static constexpr uint16_t kPm1SleepTypeShift = 10;
    static constexpr uint16_t kPm1SleepMask = 7u << 10;
    static constexpr uint16_t kPm1SleepEnable = 1u << 13;
    // [acpi-6.5 §4.8.3.7] Sleep control register bits.
    static constexpr uint8_t kSleepTypeShift = 2;
    static constexpr uint8_t kSleepEnable = 1u << 5;
};
AcpiPowerOff acpi_poweroff(const AcpiInfo& info);

} // namespace boot
