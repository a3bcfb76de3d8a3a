// fuzz-links: boot lib
// libFuzzer target: hostile ACPI tables. The input is guest physical memory starting at
// kBase (the legacy RSDP area) with an RSDP at offset 0; table pointers are physical
// addresses into it. The parser must never crash, read out of bounds or report a table that
// does not lie inside the input; the AML \_S5 scan is also run on the raw bytes.
#include <boot/acpi.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace {

constexpr uint64_t kBase = 0xe0000;

class FuzzMemory final : public boot::PhysReader {
public:
    FuzzMemory(const uint8_t* data, size_t size) : m_data(data), m_size(size) {}
    bool read(uint64_t paddr, void* out, size_t size) const override
    {
        if (paddr < kBase)
            return false;
        uint64_t offset = paddr - kBase;
        if (offset > m_size || size > m_size - offset)
            return false;
        std::memcpy(out, m_data + offset, size);
        return true;
    }

private:
    const uint8_t* m_data;
    size_t m_size;
};

void check_inside(const boot::AcpiTableRef& t, size_t size)
{
    if (t.paddr < kBase || t.length < 36 || t.paddr - kBase > size || t.length > size - (t.paddr - kBase))
        std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    auto s5 = boot::find_s5_in_aml(data, size);
    if (!s5.is_error() && (s5.value().a > 7 || s5.value().b > 7))
        std::abort();

    FuzzMemory mem(data, size);
    auto info = std::make_unique<boot::AcpiInfo>();
    if (boot::parse_acpi(mem, kBase, *info).is_error())
        return 0;
    if (info->table_count > boot::AcpiInfo::kMaxTables)
        std::abort();
    for (size_t i = 0; i < info->table_count; ++i)
        check_inside(info->tables[i], size);
    if (info->madt.paddr)
        check_inside(info->madt, size);
    if (info->has_s5 && (info->slp_typ_a > 7 || info->slp_typ_b > 7))
        std::abort();
    boot::AcpiPowerOff off = boot::acpi_poweroff(*info);
    if (off.method == boot::AcpiPowerOff::Method::SleepControl && (off.sleep_value & ~0x3c) != 0)
        std::abort();
    if (off.method == boot::AcpiPowerOff::Method::Pm1Control &&
        ((off.pm1a_slp_value | off.pm1b_slp_value) & ~boot::AcpiPowerOff::kPm1SleepMask) != 0)
        std::abort();
    if (off.pm1a_control.is_io() && off.pm1a_control.address > 0xffff)
        std::abort();
    return 0;
}
