// In-kernel ACPI tests: the parser on the tables of the machine the kernel runs on.
#include <boot/acpi.h>
#include <core/acpi.h>
#include <core/boot_info.h>
#include <core/ktest.h>

namespace {

KTEST(acpi, real_tables_parse)
{
    uint64_t rsdp = core::boot_info().rsdp_paddr;
    boot::AcpiInfo info;
    auto parsed = boot::parse_acpi(core::firmware_reader(), rsdp, info);
    if (rsdp == 0) {
        // microvm,acpi=off (Firecracker-like): no ACPI is a valid configuration.
        KT_EXPECT(parsed.is_error() && parsed.error() == Errno::NOENT);
        KT_EXPECT(core::acpi_info().table_count == 0);
        return;
    }
    KT_ASSERT(!parsed.is_error());
    KT_EXPECT(info.root_paddr != 0);
    KT_EXPECT(info.tables_invalid == 0);
    // Every VMM we run on describes the CPUs (MADT) and power management (FADT).
    KT_EXPECT(info.find("FACP") != nullptr);
    KT_EXPECT(info.find("DSDT") != nullptr);
    KT_EXPECT(info.madt.paddr != 0);
    KT_EXPECT(info.madt.length >= 44);
    KT_ASSERT(info.has_fadt);
    KT_EXPECT(info.has_s5);
    KT_EXPECT(info.slp_typ_a <= 7);
    if (info.hardware_reduced)
        KT_EXPECT(info.sleep_control.is_present());
    else
        KT_EXPECT(info.pm1a_control.is_present());
    KT_EXPECT(boot::acpi_poweroff(info).method != boot::AcpiPowerOff::Method::None);
}

KTEST(acpi, boot_parse_matches)
{
    // What init_acpi recorded at boot is what a fresh parse finds.
    uint64_t rsdp = core::boot_info().rsdp_paddr;
    if (rsdp == 0)
        return;
    boot::AcpiInfo info;
    KT_ASSERT(!boot::parse_acpi(core::firmware_reader(), rsdp, info).is_error());
    const boot::AcpiInfo& boot_time = core::acpi_info();
    KT_EXPECT_EQ(boot_time.table_count, info.table_count);
    KT_EXPECT_EQ(boot_time.root_paddr, info.root_paddr);
    KT_EXPECT_EQ(boot_time.has_s5, info.has_s5);
    KT_EXPECT_EQ(boot_time.slp_typ_a, info.slp_typ_a);
    KT_EXPECT_EQ(boot_time.madt.paddr, info.madt.paddr);
}

KTEST(acpi, unreadable_rsdp_is_an_error)
{
    // An RSDP pointer into nowhere (beyond the direct-map window) fails cleanly.
    boot::AcpiInfo info;
    auto parsed = boot::parse_acpi(core::firmware_reader(), uint64_t(1) << 50, info);
    KT_EXPECT(parsed.is_error() && parsed.error() == Errno::FAULT);
}

} // namespace
