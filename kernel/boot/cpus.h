// CPU discovery from firmware tables: the ACPI MADT, or — with ACPI off, the Firecracker
// shape — the Intel MultiProcessor table. Portable: built for the kernel and the host.
//
// Both tables are hypervisor input. Everything is read through a PhysReader, every structure
// is checksummed and every entry length-checked against its type's fixed size and the end of
// its table before a field of it is used; counts are bounded. A malformed table is an error
// (Result), never a crash and never a partial topology.
//
// Specs: [acpi-6.5] ACPI 6.5 §5.2.12 (MADT); [mp-1.4] Intel MultiProcessor Specification
// version 1.4 (May 1997), chapter 4 (MP configuration table) and chapter 5 (default
// configurations).
#pragma once

#include <boot/acpi.h>
#include <boot/pvh.h>
#include <lib/result.h>
#include <stddef.h>
#include <stdint.h>

namespace boot {

enum class CpuSource : uint8_t {
    None,    // no usable table: the caller assumes the boot CPU alone
    Madt,
    MpTable,
};
const char* cpu_source_name(CpuSource); // "none", "madt", "mptable"

// One logical processor (one local APIC).
struct CpuEntry {
    uint32_t apic_id = 0;       // xAPIC ids are 8 bits, x2APIC ids 32
    uint32_t acpi_uid = 0;      // ACPI processor UID (MADT only; ties NMI entries to CPUs)
    bool enabled = false;       // usable now; false: present but only online-capable (MADT)
    bool is_bootstrap = false;  // the CPU that runs the boot (see the parse functions)
};

struct IoApicEntry {
    // MP-table I/O APICs after the first: the table gives no GSI base [mp-1.4 §4.3.3], and
    // it depends on how many pins the earlier ones have, which only their version register
    // tells.
    static constexpr uint32_t kGsiBaseUnknown = ~uint32_t(0);

    uint8_t id = 0;
    uint32_t address = 0;       // physical MMIO base
    uint32_t gsi_base = 0;      // first global system interrupt it serves
};

// [acpi-6.5 §5.2.12.5] An ISA IRQ that arrives on a different GSI or with other polarity /
// trigger mode than the ISA default (edge, active high).
struct InterruptOverride {
    uint8_t bus = 0;            // always 0 (ISA)
    uint8_t source_irq = 0;
    uint32_t gsi = 0;
    uint16_t flags = 0;         // MPS INTI flags: bits 0-1 polarity, bits 2-3 trigger mode
};

// [acpi-6.5 §5.2.12.7] Which LINT pin of which CPU(s) is wired to NMI.
struct LocalNmi {
    static constexpr uint32_t kAllProcessors = ~uint32_t(0);

    uint32_t acpi_uid = 0;      // kAllProcessors for "every processor" (UID 0xFF)
    uint16_t flags = 0;         // MPS INTI flags
    uint8_t lint = 0;           // 0 or 1
};

// What the firmware says about the processors and interrupt controllers.
struct CpuTopology {
    static constexpr size_t kMaxCpus = 1024;
    static constexpr size_t kMaxIoApics = 32;
    static constexpr size_t kMaxOverrides = 64;
    static constexpr size_t kMaxNmis = 16;
    static constexpr uint64_t kDefaultLapicAddress = 0xfee00000;

    CpuSource source = CpuSource::None;

    // Enabled and online-capable processors, in table order; duplicates (the same APIC id
    // listed twice) are dropped and counted.
    CpuEntry cpus[kMaxCpus];
    size_t count = 0;
    size_t cpus_dropped = 0;    // beyond kMaxCpus
    size_t cpus_duplicate = 0;
    size_t cpus_unusable = 0;   // listed but neither enabled nor online-capable

    IoApicEntry ioapics[kMaxIoApics];
    size_t ioapic_count = 0;
    InterruptOverride overrides[kMaxOverrides];
    size_t override_count = 0;
    LocalNmi nmis[kMaxNmis];
    size_t nmi_count = 0;
    size_t entries_dropped = 0; // I/O APICs, overrides or NMIs beyond their arrays
    size_t entries_skipped = 0; // entries of types this parser does not use

    uint64_t lapic_address = kDefaultLapicAddress;
    bool pcat_compat = false;   // MADT flag PCAT_COMPAT: there are 8259 PICs to mask
                                // [acpi-6.5 §5.2.12, Multiple APIC Flags]; MADT only

    size_t enabled_count() const;
    // The entry with this APIC id, or nullptr.
    const CpuEntry* find(uint32_t apic_id) const;
};

// Parses the MADT `madt` (from AcpiInfo::madt) into `out` (reset first; on error it is left
// reset). The table is re-validated: signature "APIC", the header's length equal to
// madt.length, checksum. The boot CPU is the first processor entry listed, as the spec asks
// firmware to order them [acpi-6.5 §5.2.12.1]; mark_bootstrap() corrects that.
// Errors: FAULT (unreadable), INVAL (bad header/checksum, too long, an entry shorter than 2
// bytes, shorter than its type's fixed size, or running past the table's end).
Result<void> parse_madt(const PhysReader& reader, const AcpiTableRef& madt, CpuTopology& out);

// Finds the MP floating pointer structure [mp-1.4 §4]: on a 16-byte boundary in the first
// KiB of the EBDA (real-mode segment at phys 0x40E), else the last KiB of base memory (size
// in KiB at phys 0x413; 639 KiB if that is implausible), else 0xF0000-0xFFFFF; valid if
// signature "_MP_", length 1 (paragraph), revision 1 or 4 and checksum all hold.
// Returns its physical address; NOENT if there is none.
Result<uint64_t> find_mp_floating_pointer(const PhysReader& reader);

// Parses the MP configuration the floating pointer at `fp_paddr` describes into `out`
// (reset first; left reset on error): the "PCMP" table (header, checksum, entries) or one of
// the default configurations [mp-1.4 §5] (two CPUs, APIC ids 0 and 1). The boot CPU is the
// one flagged BP. Errors: FAULT (unreadable), INVAL (bad pointer, table header, checksum,
// an unknown entry type or an entry running past the table).
Result<void> parse_mp_table(const PhysReader& reader, uint64_t fp_paddr, CpuTopology& out);

// find_mp_floating_pointer + parse_mp_table.
Result<void> discover_mp_table(const PhysReader& reader, CpuTopology& out);

// Marks the CPU with `apic_id` (the running CPU's, from CPUID) as the only bootstrap CPU.
// False (nothing changed) if no listed CPU has that id.
bool mark_bootstrap(CpuTopology& topology, uint32_t apic_id);

} // namespace boot
