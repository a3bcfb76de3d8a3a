// ACPI at run time: reading firmware tables through on-demand direct-map pages, the boot-time
// parse, and the soft-off hand-off to the VM exit path.
//
// Why on demand: the final kernel page table maps only RAM and ACPI-typed regions, but
// firmware keeps the RSDP and tables in "reserved" ranges (SeaBIOS: the F segment and the top
// of low RAM), possibly above the early 1 GiB map. Each page a read touches is mapped
// read-only at kDirectMap + paddr the first time; the count is bounded so hostile pointers
// cannot make the kernel spend unbounded page-table memory.
#include <arch/x86_64/layout.h>
#include <arch/x86_64/vm_exit.h>
#include <core/acpi.h>
#include <core/console.h>
#include <core/memory.h>
#include <lib/format.h>
#include <lib/string.h>

namespace core {
namespace {

constexpr unsigned kMaxFirmwarePages = 1024;       // 4 MiB of firmware mappings at most

// Boot-time state: written by init_acpi (single CPU), read-only afterwards.
boot::AcpiInfo g_acpi_info;

size_t g_firmware_budget = kMaxFirmwarePages; // pages the firmware reader may still map

// Tables are mapped read-only (write-back); registers read-write and uncached.
bool map_firmware_range(uint64_t paddr, uint64_t size, bool writable)
{
    auto r = writable ? map_physical(paddr, size, mm::Protection::ReadWrite, mm::CacheMode::Uncached, &g_firmware_budget)
                      : map_physical(paddr, size, mm::Protection::Read, mm::CacheMode::WriteBack, &g_firmware_budget);
    return !r.is_error();
}

class FirmwareReader final : public boot::PhysReader {
public:
    bool read(uint64_t paddr, void* out, size_t size) const override
    {
        if (size == 0)
            return true;
        if (!map_firmware_range(paddr, size, false))
            return false;
        lib::mem_copy(out, phys_to_virt(paddr), size);
        return true;
    }
};
FirmwareReader g_firmware_reader;

// A memory-space register must be mapped writable before the exit path may touch it; an
// I/O-port register needs nothing. False if it cannot be made usable.
bool prepare_register(const boot::GenericAddress& reg)
{
    if (!reg.is_present() || reg.is_io())
        return true;
    // The exit path accesses up to 4 bytes (PM1 control at least 2, whatever the declared
    // width): map all of them.
    return map_firmware_range(reg.address, 4, true);
}

const char* describe(const boot::GenericAddress& reg)
{
    return reg.is_io() ? "port" : "mmio";
}

} // namespace

const boot::PhysReader& firmware_reader() { return g_firmware_reader; }
const boot::AcpiInfo& acpi_info() { return g_acpi_info; }

void init_acpi(const boot::BootInfo& info)
{
    auto parsed = boot::parse_acpi(g_firmware_reader, info.rsdp_paddr, g_acpi_info);
    const boot::AcpiInfo& a = g_acpi_info;
    if (parsed.is_error()) {
        if (parsed.error() == Errno::NOENT)
            log_info("acpi: none (no RSDP from the hypervisor)");
        else
            log_warn("acpi: unusable (%s): RSDP at %#lx", a.problem, info.rsdp_paddr);
        return;
    }
    char names[5 * boot::AcpiInfo::kMaxTables + 1];
    size_t used = 0;
    names[0] = '\0';
    for (size_t i = 0; i < a.table_count; ++i)
        used += lib::format_to(names + used, sizeof(names) - used, " %.4s", a.tables[i].signature);
    log_info("acpi: RSDP rev %u at %#lx, %s at %#lx:%s", a.rsdp_revision, info.rsdp_paddr,
             a.root_is_xsdt ? "XSDT" : "RSDT", a.root_paddr, names);
    if (a.problem)
        log_warn("acpi: %s", a.problem);

    boot::AcpiPowerOff off = boot::acpi_poweroff(a);
    // Registers the exit path cannot reach are dropped, with their method.
    if (!prepare_register(off.reset_register))
        off.reset_register = {};
    bool usable = true;
    switch (off.method) {
    case boot::AcpiPowerOff::Method::None:
        break;
    case boot::AcpiPowerOff::Method::SleepControl:
        usable = prepare_register(off.sleep_control);
        if (usable)
            log_info("acpi: soft-off via the sleep control register (%s %#lx, SLP_TYP %u)",
                     describe(off.sleep_control), off.sleep_control.address, a.slp_typ_a);
        break;
    case boot::AcpiPowerOff::Method::Pm1Control:
        usable = prepare_register(off.pm1a_control) && prepare_register(off.pm1b_control);
        if (usable)
            log_info("acpi: soft-off via PM1a_CNT (%s %#lx, SLP_TYP %u)", describe(off.pm1a_control),
                     off.pm1a_control.address, a.slp_typ_a);
        break;
    }
    if (!usable) {
        log_warn("acpi: the soft-off register cannot be mapped; no ACPI poweroff");
        off.method = boot::AcpiPowerOff::Method::None;
    } else if (off.method == boot::AcpiPowerOff::Method::None) {
        log_info("acpi: no soft-off method (hardware-reduced without a sleep control register, or no \\_S5)");
    }
    arch::set_acpi_poweroff(off);
}

} // namespace core
