// The ACPI MCFG table: where the PCI Express enhanced configuration windows (ECAM) are
// [pci-fw-3.2 §4.1.2; pcie-5.0 §7.2.2]. Hypervisor input: every entry is checked.
#pragma once

#include <boot/acpi.h>
#include <lib/result.h>
#include <stddef.h>
#include <stdint.h>

namespace pci {

// One ECAM window: buses [start_bus, end_bus] of `segment`, 1 MiB per bus. As in the table,
// `base` is where bus 0's space would be even when start_bus is not 0 [pci-fw-3.2 table 4-3].
struct EcamWindow {
    uint64_t base = 0;
    uint16_t segment = 0;
    uint8_t start_bus = 0;
    uint8_t end_bus = 0;

    uint64_t first_address() const { return base + (uint64_t(start_bus) << 20); }
    uint64_t size() const { return (uint64_t(end_bus) - start_bus + 1) << 20; }
    // The physical address of `offset` in bus/device/function's configuration space.
    uint64_t address(uint8_t bus, uint8_t device, uint8_t function, uint16_t offset) const
    {
        return base + ((uint64_t(bus) << 20) | (uint64_t(device) << 15) | (uint64_t(function) << 12) | offset);
    }
};

struct McfgInfo {
    static constexpr size_t kMaxWindows = 8;
    EcamWindow windows[kMaxWindows];
    size_t count = 0;
    size_t skipped = 0; // malformed entries (base not 1 MiB aligned, end < start, zero base)
};

// Decodes the MCFG table `table` (as found by boot::parse_acpi, whose checksum and length were
// checked). INVAL if the table is too short for its header or its length is not a whole number
// of entries; a bad entry is skipped and counted.
Result<void> parse_mcfg(const boot::PhysReader& reader, const boot::AcpiTableRef& table, McfgInfo& out);

} // namespace pci
