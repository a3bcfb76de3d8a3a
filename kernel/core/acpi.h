// ACPI at run time: the tables parsed once at boot (boot::parse_acpi) and the hand-off of the
// soft-off registers to the VM exit path.
#pragma once

#include <boot/acpi.h>
#include <boot/pvh.h>

namespace core {

// Parses the ACPI tables the hypervisor announced (info.rsdp_paddr; 0 = no ACPI), logs a
// summary, maps the memory-space poweroff registers and hands them to
// arch::set_acpi_poweroff(). Never fails the boot: without usable ACPI the VM exit path keeps
// its other methods. Call once after init_memory (it maps firmware pages into the direct
// map), before other CPUs run. May allocate page-table pages.
void init_acpi(const boot::BootInfo& info);

// What init_acpi found (all zero before it ran, or without ACPI).
const boot::AcpiInfo& acpi_info();

// Reads firmware memory (ACPI tables anywhere below 2^46) through the direct map, mapping
// missing 4 KiB pages read-only on demand (a bounded number). Valid after init_memory;
// single-threaded use only (it edits the kernel page table).
const boot::PhysReader& firmware_reader();

} // namespace core
