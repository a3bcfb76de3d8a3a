// CPU discovery at boot: picks the firmware table to trust, records the topology, and checks
// that the CPU running the boot is among the listed ones.
#include <arch/x86_64/cpu.h>
#include <core/acpi.h>
#include <core/console.h>
#include <core/cpus.h>
#include <lib/errno.h>

namespace core {
namespace {

// Written once by discover_cpus (boot CPU, before the others run), read-only afterwards.
boot::CpuTopology g_topology;

// The running CPU's APIC id: the 32-bit x2APIC id from CPUID leaf 0xB where it exists, else
// the 8-bit initial APIC id from leaf 1 EBX[31:24] [intel-sdm-2a CPUID].
uint32_t current_apic_id()
{
    if (arch::cpuid(0).eax >= 0xb) {
        arch::CpuidResult leaf_b = arch::cpuid(0xb, 0);
        if (leaf_b.ebx != 0) // EBX = 0: leaf 0xB not implemented
            return leaf_b.edx;
    }
    return arch::cpuid(1).ebx >> 24;
}

} // namespace

const boot::CpuTopology& cpu_topology() { return g_topology; }

void discover_cpus()
{
    const boot::PhysReader& reader = firmware_reader();
    bool found = false;
    if (acpi_info().madt.paddr != 0) {
        auto r = boot::parse_madt(reader, acpi_info().madt, g_topology);
        found = !r.is_error();
        if (!found)
            log_warn("cpus: the MADT is unusable (%s); trying the MP table", lib::errno_name(r.error()));
    }
    if (!found) {
        // Low memory (the BIOS data area, base memory, the ROM) is readable through the
        // firmware reader like any ACPI table.
        auto r = boot::discover_mp_table(reader, g_topology);
        found = !r.is_error();
        if (!found && r.error() != Errno::NOENT)
            log_warn("cpus: the MP table is unusable (%s)", lib::errno_name(r.error()));
    }

    // The CPU running this is certainly there. Without a table (the parsers reset the
    // topology on error), with a table that lists no usable CPU, or with one that does not
    // list this CPU (not to be trusted for starting the others), it is the only one.
    uint32_t self = current_apic_id();
    bool alone = !found;
    if (found && g_topology.enabled_count() == 0) {
        log_warn("cpus: the %s lists no usable CPU; assuming the boot CPU alone",
                 boot::cpu_source_name(g_topology.source));
        alone = true;
    } else if (found && !boot::mark_bootstrap(g_topology, self)) {
        log_warn("cpus: the boot CPU (APIC id %u) is not in the %s; assuming it alone", self,
                 boot::cpu_source_name(g_topology.source));
        alone = true;
    }
    if (alone) {
        g_topology.cpus[0] = { self, 0, true, true };
        g_topology.count = 1;
    }

    const boot::CpuTopology& t = g_topology;
    log_info("cpus: %zu (%s), ioapics: %zu", t.enabled_count(), boot::cpu_source_name(t.source), t.ioapic_count);
    log_debug("cpus: boot CPU APIC id %u, local APIC at %#lx, %zu listed, %zu online-capable, %zu unusable, "
              "%zu duplicate, %zu dropped, %zu overrides, %zu NMI entries",
              self, t.lapic_address, t.count, t.count - t.enabled_count(), t.cpus_unusable, t.cpus_duplicate,
              t.cpus_dropped, t.override_count, t.nmi_count);
}

} // namespace core
