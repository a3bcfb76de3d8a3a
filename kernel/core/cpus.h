// The machine's processors and interrupt controllers, as the firmware describes them:
// discovered once at boot (boot::parse_madt / the MP table), read-only afterwards.
#pragma once

#include <boot/cpus.h>

namespace core {

// Discovers the CPUs: from the MADT when ACPI is present (core::acpi_info()), else from the
// MP table (the Firecracker / microvm,acpi=off case), else the boot CPU alone. A malformed
// table is logged and the next source tried; never fails the boot. Logs one line
// "cpus: N (madt|mptable|none), ioapics: M" (N: enabled CPUs). Call once, after init_acpi
// (it reads firmware memory through core::firmware_reader(), which edits the kernel page
// table), before other CPUs run. Does not allocate beyond firmware page mappings.
void discover_cpus();

// What discover_cpus found (source None and no CPUs before it ran). Without any table it
// lists one CPU: the boot CPU, with its APIC id from CPUID.
const boot::CpuTopology& cpu_topology();

} // namespace core
