// Unit tests for ACPI table discovery: hand-built RSDP/RSDT/XSDT/FADT/DSDT images shaped like
// QEMU's (pc/q35: RSDP rev 0, PM1 control at port 0x604, \_S5 = 0; microvm: RSDP rev 2,
// hardware-reduced, sleep control register in MMIO, \_S5 = 5), then broken in every way.
#include <boot/acpi.h>

#include <cstring>
#include <gtest/gtest.h>
#include "fake_memory.h"
#include <memory>
#include <vector>

namespace {

using boot_test::Bytes;
using boot_test::FakeMemory;
using boot_test::checksum_of;
using boot_test::store;

// A table: the header (length, checksum) around `body` (which starts at offset 36).
Bytes table(const char* sig, const Bytes& body, uint8_t revision = 1)
{
    Bytes t(36, 0);
    std::memcpy(t.data(), sig, 4);
    t[8] = revision;
    std::memcpy(t.data() + 10, "NIMBUS", 6);
    t.insert(t.end(), body.begin(), body.end());
    store(t, 4, t.size(), 4);
    t[9] = checksum_of(t, 0, t.size());
    return t;
}

Bytes rsdp(uint8_t revision, uint32_t rsdt, uint64_t xsdt)
{
    Bytes r(revision >= 2 ? 36 : 20, 0);
    std::memcpy(r.data(), "RSD PTR ", 8);
    std::memcpy(r.data() + 9, "NIMBUS", 6);
    r[15] = revision;
    store(r, 16, rsdt, 4);
    r[8] = checksum_of(r, 0, 20);
    if (revision >= 2) {
        store(r, 20, 36, 4);
        store(r, 24, xsdt, 8);
        r[32] = checksum_of(r, 0, 36);
    }
    return r;
}

Bytes root(const std::vector<uint64_t>& entries, size_t width)
{
    Bytes body;
    for (size_t i = 0; i < entries.size(); ++i)
        store(body, i * width, entries[i], width);
    return table(width == 8 ? "XSDT" : "RSDT", body);
}

void store_gas(Bytes& b, size_t offset, uint8_t space, uint8_t width, uint64_t address)
{
    store(b, offset, space, 1);
    store(b, offset + 1, width, 1);
    store(b, offset + 2, 0, 1);
    store(b, offset + 3, 1, 1); // byte access
    store(b, offset + 4, address, 8);
}

// The FADT body (without the 36-byte header) of the given total length.
Bytes fadt_body(size_t total_length) { return Bytes(total_length - 36, 0); }
void fadt_set(Bytes& body, size_t table_offset, uint64_t value, size_t width)
{
    store(body, table_offset - 36, value, width);
}

// pc/q35-like FADT (revision 1, 116 bytes): legacy PM1a control at 0x604.
Bytes pc_fadt(uint32_t dsdt)
{
    Bytes f = fadt_body(116);
    fadt_set(f, 40, dsdt, 4);
    fadt_set(f, 48, 0xb2, 4);  // SMI_CMD
    fadt_set(f, 52, 0xf1, 1);  // ACPI_ENABLE
    fadt_set(f, 64, 0x604, 4); // PM1a_CNT_BLK
    fadt_set(f, 89, 2, 1);     // PM1_CNT_LEN
    fadt_set(f, 112, 0x80a5, 4);
    return table("FACP", f, 1);
}

// microvm-like FADT (revision 5, 268 bytes): hardware-reduced, GED registers in MMIO.
Bytes microvm_fadt(uint64_t dsdt)
{
    Bytes f = fadt_body(268);
    fadt_set(f, 112, (1u << 20) | (1u << 10), 4);
    store_gas(f, 116 - 36, 0, 8, 0xfea00202); // RESET_REG
    fadt_set(f, 128, 0x42, 1);                // RESET_VALUE
    fadt_set(f, 140, dsdt, 8);                // X_DSDT
    store_gas(f, 244 - 36, 0, 8, 0xfea00200); // SLEEP_CONTROL_REG
    store_gas(f, 256 - 36, 0, 8, 0xfea00201); // SLEEP_STATUS_REG
    return table("FACP", f, 5);
}

// QEMU's encodings: Name(_S5_, Package(4){Zero, Zero, Zero, Zero}) and, inside Scope(\),
// Name(_S5_, Package(4){0x05, Zero, Zero, Zero}).
const Bytes kPcS5 = { 0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00 };
const Bytes kMicrovmS5 = { 0x10, 0x0e, 0x5c, 0x00, 0x08, '_', 'S', '5', '_', 0x12, 0x07, 0x04, 0x0a, 0x05, 0x00, 0x00, 0x00 };

Bytes dsdt_with(const Bytes& aml, size_t pad_before = 0)
{
    Bytes body(pad_before, 0x5b); // ExtOpPrefix filler: no NameOp in it
    body.insert(body.end(), aml.begin(), aml.end());
    return table("DSDT", body, 2);
}

Bytes madt() { return table("APIC", Bytes(8 + 8, 0), 1); }

// Layout shared by the tests: RSDP at 0xe0000, root at 0x1000, FADT 0x2000, MADT 0x3000,
// DSDT 0x4000. Memory is 1 MiB.
constexpr uint64_t kRsdp = 0xe0000, kRoot = 0x1000, kFadt = 0x2000, kMadt = 0x3000, kDsdt = 0x4000;

FakeMemory pc_machine(const Bytes& s5 = kPcS5)
{
    FakeMemory mem(1 << 20);
    mem.put(kRsdp, rsdp(0, kRoot, 0));
    mem.put(kRoot, root({ kFadt, kMadt }, 4));
    mem.put(kFadt, pc_fadt(kDsdt));
    mem.put(kMadt, madt());
    mem.put(kDsdt, dsdt_with(s5));
    return mem;
}

FakeMemory microvm_machine(const Bytes& s5 = kMicrovmS5)
{
    FakeMemory mem(1 << 20);
    mem.put(kRsdp, rsdp(2, 0, kRoot));
    mem.put(kRoot, root({ kFadt, kMadt }, 8));
    mem.put(kFadt, microvm_fadt(kDsdt));
    mem.put(kMadt, madt());
    mem.put(kDsdt, dsdt_with(s5));
    return mem;
}

std::unique_ptr<boot::AcpiInfo> parse_ok(const FakeMemory& mem, uint64_t at = kRsdp)
{
    auto info = std::make_unique<boot::AcpiInfo>();
    auto r = boot::parse_acpi(mem, at, *info);
    EXPECT_FALSE(r.is_error()) << (info->problem ? info->problem : "");
    return info;
}

Errno parse_error(const FakeMemory& mem, uint64_t at = kRsdp)
{
    boot::AcpiInfo info;
    auto r = boot::parse_acpi(mem, at, info);
    EXPECT_TRUE(r.is_error());
    EXPECT_NE(info.problem, nullptr);
    return r.is_error() ? r.error() : Errno(0);
}

TEST(Acpi, PcRsdpV0UsesRsdtAndPm1Control)
{
    FakeMemory mem = pc_machine();
    auto info = parse_ok(mem);
    EXPECT_EQ(info->rsdp_revision, 0);
    EXPECT_FALSE(info->root_is_xsdt);
    EXPECT_EQ(info->root_paddr, kRoot);
    ASSERT_EQ(info->table_count, 3u);
    EXPECT_TRUE(info->tables[0].name() == "FACP");
    EXPECT_TRUE(info->tables[1].name() == "APIC");
    EXPECT_TRUE(info->tables[2].name() == "DSDT");
    EXPECT_EQ(info->tables_invalid, 0u);
    EXPECT_EQ(info->problem, nullptr);
    ASSERT_TRUE(info->has_fadt);
    EXPECT_FALSE(info->hardware_reduced);
    EXPECT_EQ(info->smi_command, 0xb2u);
    EXPECT_EQ(info->acpi_enable, 0xf1);
    EXPECT_TRUE(info->pm1a_control.is_io());
    EXPECT_EQ(info->pm1a_control.address, 0x604u);
    EXPECT_EQ(info->pm1a_control.access_bytes(1), 2);
    EXPECT_FALSE(info->pm1b_control.is_present());
    EXPECT_FALSE(info->reset_supported); // revision 1 FADT: no reset register
    EXPECT_EQ(info->dsdt_paddr, kDsdt);
    EXPECT_TRUE(info->has_s5);
    EXPECT_EQ(info->slp_typ_a, 0);
    EXPECT_EQ(info->madt.paddr, kMadt);
    EXPECT_EQ(info->madt.length, 52u);

    boot::AcpiPowerOff off = boot::acpi_poweroff(*info);
    EXPECT_EQ(off.method, boot::AcpiPowerOff::Method::Pm1Control);
    EXPECT_EQ(off.pm1a_control.address, 0x604u);
    EXPECT_EQ(off.pm1a_slp_value, 0);
    EXPECT_EQ(off.smi_command, 0xb2u);
    EXPECT_EQ(off.acpi_enable, 0xf1);
}

TEST(Acpi, MicrovmRsdpV2UsesXsdtAndSleepControl)
{
    FakeMemory mem = microvm_machine();
    auto info = parse_ok(mem);
    EXPECT_EQ(info->rsdp_revision, 2);
    EXPECT_TRUE(info->root_is_xsdt);
    ASSERT_TRUE(info->has_fadt);
    EXPECT_TRUE(info->hardware_reduced);
    EXPECT_TRUE(info->sleep_control.is_memory());
    EXPECT_EQ(info->sleep_control.address, 0xfea00200u);
    EXPECT_TRUE(info->reset_supported);
    EXPECT_EQ(info->reset_register.address, 0xfea00202u);
    EXPECT_EQ(info->reset_value, 0x42);
    EXPECT_TRUE(info->has_s5);
    EXPECT_EQ(info->slp_typ_a, 5);
    EXPECT_EQ(info->slp_typ_b, 0);

    boot::AcpiPowerOff off = boot::acpi_poweroff(*info);
    EXPECT_EQ(off.method, boot::AcpiPowerOff::Method::SleepControl);
    EXPECT_EQ(off.sleep_value, (5 << 2) | (1 << 5)); // 0x34: what QEMU's GED decodes as S5
    EXPECT_EQ(off.reset_register.address, 0xfea00202u);
}

TEST(Acpi, Pm1ValuesUsePerBlockSleepTypes)
{
    // Package(){5, 6}: PM1a gets 5, PM1b 6, both shifted to bits 10-12.
    Bytes s5 = { 0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x02, 0x0a, 0x05, 0x0a, 0x06 };
    FakeMemory mem = pc_machine(s5);
    Bytes f = fadt_body(116);
    fadt_set(f, 40, kDsdt, 4);
    fadt_set(f, 64, 0x604, 4);
    fadt_set(f, 68, 0x704, 4);
    fadt_set(f, 89, 2, 1);
    mem.put(kFadt, table("FACP", f, 1));
    auto info = parse_ok(mem);
    boot::AcpiPowerOff off = boot::acpi_poweroff(*info);
    ASSERT_EQ(off.method, boot::AcpiPowerOff::Method::Pm1Control);
    EXPECT_EQ(off.pm1a_slp_value, 5 << 10);
    EXPECT_EQ(off.pm1b_slp_value, 6 << 10);
    EXPECT_EQ(off.pm1b_control.address, 0x704u);
    EXPECT_EQ(off.smi_command, 0u); // SMI_CMD 0: ACPI is always on
}

TEST(Acpi, ExtendedFadtFieldsWin)
{
    // X_PM1a_CNT_BLK and X_DSDT supersede the 32-bit fields when non-zero.
    FakeMemory mem = pc_machine();
    Bytes f = fadt_body(244);
    fadt_set(f, 40, 0x9000, 4); // DSDT (wrong on purpose: X_DSDT must be used)
    fadt_set(f, 64, 0x604, 4);
    fadt_set(f, 89, 2, 1);
    fadt_set(f, 140, kDsdt, 8);
    store_gas(f, 172 - 36, 1, 16, 0x1004);
    mem.put(kFadt, table("FACP", f, 3));
    auto info = parse_ok(mem);
    EXPECT_EQ(info->dsdt_paddr, kDsdt);
    EXPECT_EQ(info->pm1a_control.address, 0x1004u);
    EXPECT_TRUE(info->has_s5);
}

TEST(Acpi, NoRsdpMeansNoAcpi)
{
    FakeMemory mem(4096);
    EXPECT_EQ(parse_error(mem, 0), Errno::NOENT);
}

TEST(Acpi, RejectsBadRsdp)
{
    {
        FakeMemory mem = pc_machine();
        EXPECT_EQ(parse_error(mem, kRsdp + 0x100), Errno::INVAL); // no signature there
    }
    {
        FakeMemory mem = pc_machine();
        mem.at(kRsdp + 8) ^= 1; // checksum
        EXPECT_EQ(parse_error(mem), Errno::INVAL);
    }
    {
        FakeMemory mem = microvm_machine();
        mem.at(kRsdp + 32) ^= 1; // extended checksum
        EXPECT_EQ(parse_error(mem), Errno::INVAL);
    }
    {
        FakeMemory mem = microvm_machine();
        Bytes r = rsdp(2, 0, kRoot);
        store(r, 20, 0xffffffff, 4); // overlong Length (checksums kept valid)
        r[8] = 0;
        r[8] = checksum_of(r, 0, 20);
        r[32] = 0;
        r[32] = checksum_of(r, 0, 36);
        mem.put(kRsdp, r);
        EXPECT_EQ(parse_error(mem), Errno::INVAL);
    }
    {
        FakeMemory mem = pc_machine();
        EXPECT_EQ(parse_error(mem, mem.size() - 10), Errno::FAULT); // runs off memory
        EXPECT_EQ(parse_error(mem, ~uint64_t(0) - 4), Errno::FAULT); // wraps around
    }
    {
        // A revision 2 RSDP whose v1 part sits right at the end of memory.
        FakeMemory mem(0x1000);
        Bytes r = rsdp(2, 0, 0x100);
        r.resize(20);
        mem.put(0x1000 - 20, r);
        EXPECT_EQ(parse_error(mem, 0x1000 - 20), Errno::FAULT);
    }
}

TEST(Acpi, RejectsBadRootTable)
{
    {
        FakeMemory mem = pc_machine();
        mem.at(kRoot + 40) ^= 0xff; // entry changed, checksum now wrong
        EXPECT_EQ(parse_error(mem), Errno::INVAL);
    }
    {
        FakeMemory mem = pc_machine();
        mem.put(kRsdp, rsdp(0, 0xff000, 0)); // zeros there: no RSDT signature
        EXPECT_EQ(parse_error(mem), Errno::INVAL);
    }
    {
        FakeMemory mem = pc_machine();
        mem.put(kRsdp, rsdp(0, 0x7fffffff, 0)); // outside memory
        EXPECT_EQ(parse_error(mem), Errno::INVAL);
    }
    {
        // The root table's length runs past the end of memory.
        FakeMemory mem = pc_machine();
        Bytes r = root({ kFadt }, 4);
        store(r, 4, 0x200000, 4);
        mem.put(kRoot, r);
        EXPECT_EQ(parse_error(mem), Errno::INVAL);
    }
    {
        // RSDT signature where an XSDT is expected.
        FakeMemory mem = microvm_machine();
        mem.put(kRoot, root({ kFadt, kMadt }, 4));
        EXPECT_EQ(parse_error(mem), Errno::INVAL);
    }
}

TEST(Acpi, XsdtOutsideMemoryFallsBackToRsdt)
{
    FakeMemory mem = pc_machine();
    mem.put(kRsdp, rsdp(2, kRoot, 0x123456789000ull));
    auto info = parse_ok(mem);
    EXPECT_FALSE(info->root_is_xsdt);
    EXPECT_EQ(info->root_paddr, kRoot);
    EXPECT_NE(info->problem, nullptr);
    EXPECT_TRUE(info->has_s5);

    // Without an RSDT to fall back to, ACPI is unusable.
    mem.put(kRsdp, rsdp(2, 0, 0x123456789000ull));
    EXPECT_EQ(parse_error(mem), Errno::INVAL);
}

TEST(Acpi, SkipsInvalidTables)
{
    FakeMemory mem = microvm_machine();
    // Entries: bad checksum, outside memory, wrapping, zero, length < header, overlong, good.
    Bytes bad = madt();
    bad[20] ^= 1;
    mem.put(0x5000, bad);
    Bytes tiny = table("SSDT", {});
    store(tiny, 4, 20, 4);
    mem.put(0x6000, tiny);
    Bytes huge = table("SSDT", {});
    store(huge, 4, 0xfffffff0, 4);
    mem.put(0x7000, huge);
    mem.put(kRoot, root({ 0x5000, 0x7fffff000ull, ~uint64_t(0) - 8, 0, 0x6000, 0x7000, kFadt, kMadt }, 8));
    auto info = parse_ok(mem);
    EXPECT_EQ(info->tables_invalid, 6u);
    EXPECT_NE(info->problem, nullptr);
    EXPECT_NE(info->find("FACP"), nullptr);
    EXPECT_EQ(info->madt.paddr, kMadt);
    EXPECT_TRUE(info->has_s5);
}

TEST(Acpi, BoundsTheTableList)
{
    FakeMemory mem = pc_machine();
    std::vector<uint64_t> entries(100, kMadt);
    entries[0] = kFadt;
    mem.put(kRoot, root(entries, 4));
    auto info = parse_ok(mem);
    EXPECT_EQ(info->table_count, boot::AcpiInfo::kMaxTables);
    EXPECT_EQ(info->tables_dropped, 100u + 1 - boot::AcpiInfo::kMaxTables); // + the DSDT
    EXPECT_TRUE(info->has_s5);
}

TEST(Acpi, FadtProblems)
{
    {
        // Truncated FADT (shorter than ACPI 1.0's): ignored, no poweroff.
        FakeMemory mem = pc_machine();
        mem.put(kFadt, table("FACP", Bytes(100 - 36, 0)));
        auto info = parse_ok(mem);
        EXPECT_FALSE(info->has_fadt);
        EXPECT_EQ(boot::acpi_poweroff(*info).method, boot::AcpiPowerOff::Method::None);
    }
    {
        // No FADT at all.
        FakeMemory mem = pc_machine();
        mem.put(kRoot, root({ kMadt }, 4));
        auto info = parse_ok(mem);
        EXPECT_FALSE(info->has_fadt);
        EXPECT_NE(info->problem, nullptr);
    }
    {
        // DSDT pointer to garbage: no \_S5, no poweroff, but the reset register survives.
        FakeMemory mem = microvm_machine();
        mem.at(kDsdt + 40) ^= 1;
        auto info = parse_ok(mem);
        EXPECT_FALSE(info->has_s5);
        EXPECT_EQ(info->tables_invalid, 1u);
        boot::AcpiPowerOff off = boot::acpi_poweroff(*info);
        EXPECT_EQ(off.method, boot::AcpiPowerOff::Method::None);
        EXPECT_EQ(off.reset_register.address, 0xfea00202u);
    }
    {
        // Hardware-reduced without a sleep control register: no ACPI poweroff.
        FakeMemory mem = microvm_machine();
        Bytes f = fadt_body(244);
        fadt_set(f, 112, 1u << 20, 4);
        fadt_set(f, 140, kDsdt, 8);
        mem.put(kFadt, table("FACP", f, 5));
        auto info = parse_ok(mem);
        EXPECT_TRUE(info->hardware_reduced);
        EXPECT_TRUE(info->has_s5);
        EXPECT_EQ(boot::acpi_poweroff(*info).method, boot::AcpiPowerOff::Method::None);
    }
    {
        // Registers in unsupported address spaces (PCI config = 2) are treated as absent.
        FakeMemory mem = microvm_machine();
        Bytes f = fadt_body(268);
        fadt_set(f, 112, (1u << 20) | (1u << 10), 4);
        store_gas(f, 116 - 36, 2, 8, 0xcf9);
        fadt_set(f, 140, kDsdt, 8);
        store_gas(f, 244 - 36, 2, 8, 0x1234);
        mem.put(kFadt, table("FACP", f, 5));
        auto info = parse_ok(mem);
        EXPECT_FALSE(info->sleep_control.is_present());
        EXPECT_FALSE(info->reset_supported);
    }
}

TEST(Acpi, DsdtWithoutS5)
{
    FakeMemory mem = pc_machine(Bytes { 0x08, '_', 'S', '4', '_', 0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00 });
    auto info = parse_ok(mem);
    EXPECT_FALSE(info->has_s5);
    EXPECT_NE(info->problem, nullptr);
    EXPECT_EQ(boot::acpi_poweroff(*info).method, boot::AcpiPowerOff::Method::None);
}

TEST(Acpi, S5InSsdt)
{
    FakeMemory mem = pc_machine(Bytes { 0x5b, 0x5b });
    mem.put(0x5000, table("SSDT", kMicrovmS5));
    mem.put(kRoot, root({ kFadt, kMadt, 0x5000 }, 4));
    auto info = parse_ok(mem);
    EXPECT_TRUE(info->has_s5);
    EXPECT_EQ(info->slp_typ_a, 5);
}

TEST(Acpi, S5AcrossStreamingWindows)
{
    // The DSDT is read in 512-byte windows: \_S5 at every offset around the window edges.
    for (size_t pad = 400; pad < 1200; ++pad) {
        FakeMemory mem = microvm_machine();
        mem.put(kDsdt, dsdt_with(kMicrovmS5, pad));
        auto info = parse_ok(mem);
        ASSERT_TRUE(info->has_s5) << "padding " << pad;
        ASSERT_EQ(info->slp_typ_a, 5) << "padding " << pad;
    }
    // \_S5 cut off by the end of the table.
    for (size_t cut = 1; cut < kMicrovmS5.size() - 4; ++cut) {
        FakeMemory mem = microvm_machine();
        mem.put(kDsdt, dsdt_with(Bytes(kMicrovmS5.begin(), kMicrovmS5.end() - cut), 600));
        auto info = parse_ok(mem);
        EXPECT_FALSE(info->has_s5) << "cut " << cut;
    }
}

Result<boot::SleepType> s5(const Bytes& aml) { return boot::find_s5_in_aml(aml.data(), aml.size()); }

// Name(_S5_, Package(n){...}) with the given element bytes and NumElements.
Bytes s5_package(uint8_t count, const Bytes& elements)
{
    Bytes b = { 0x08, '_', 'S', '5', '_', 0x12, uint8_t(2 + elements.size()), count };
    b.insert(b.end(), elements.begin(), elements.end());
    return b;
}

TEST(Acpi, AmlIntegerEncodings)
{
    auto expect = [](const Bytes& aml, uint8_t a, uint8_t b) {
        auto r = s5(aml);
        ASSERT_FALSE(r.is_error());
        EXPECT_EQ(r.value().a, a);
        EXPECT_EQ(r.value().b, b);
    };
    expect(s5_package(2, { 0x00, 0x01 }), 0, 1);                                  // ZeroOp, OneOp
    expect(s5_package(2, { 0x0a, 0x07, 0x0a, 0x03 }), 7, 3);                      // BytePrefix
    expect(s5_package(2, { 0x0b, 0x05, 0x00, 0x0b, 0x06, 0x00 }), 5, 6);          // WordPrefix
    expect(s5_package(2, { 0x0c, 0x05, 0, 0, 0, 0x00 }), 5, 0);                   // DWordPrefix
    expect(s5_package(4, { 0x0e, 0x02, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00 }), 2, 1); // QWord
    expect(s5_package(1, { 0x0b, 0x05, 0x06 }), 5, 6); // one integer, both values packed
    // Root-prefixed name, and a two-byte PkgLength (lead byte 0x4N, then bits 4-11).
    expect(Bytes { 0x08, 0x5c, '_', 'S', '5', '_', 0x12, 0x49, 0x00, 0x04, 0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00 }, 5, 5);
    // Stray "_S5_" bytes (not after NameOp, or not a Package) are skipped.
    expect(Bytes { '_', 'S', '5', '_', 0x12, 0x04, 0x01, 0x01, 0x08, '_', 'S', '5', '_', 0x0a, 0x05,
                   0x08, '_', 'S', '5', '_', 0x12, 0x04, 0x01, 0x0a, 0x03 },
           3, 0);
}

TEST(Acpi, AmlMalformedS5)
{
    EXPECT_EQ(s5({}).error(), Errno::NOENT);
    EXPECT_EQ(s5({ 0x08, '_', 'S', '5' }).error(), Errno::NOENT);
    EXPECT_EQ(s5(s5_package(0, {})).error(), Errno::INVAL);                 // empty package
    EXPECT_EQ(s5(s5_package(2, { 0xff, 0x00 })).error(), Errno::INVAL);     // Ones: not 3 bits
    EXPECT_EQ(s5(s5_package(2, { 0x0a, 0x08, 0x00 })).error(), Errno::INVAL); // 8: not 3 bits
    EXPECT_EQ(s5(s5_package(2, { 0x0a, 0x05 })).error(), Errno::INVAL);     // second missing
    EXPECT_EQ(s5(s5_package(2, { 'S', 'L', 'P', 'A', 0x00 })).error(), Errno::INVAL); // a name
    EXPECT_EQ(s5(s5_package(1, { 0x0c, 0x05 })).error(), Errno::INVAL);     // DWord truncated
    // PkgLength longer than the data, and one too short to hold NumElements.
    EXPECT_EQ(s5(Bytes { 0x08, '_', 'S', '5', '_', 0x12, 0x30, 0x02, 0x00, 0x00 }).error(), Errno::INVAL);
    EXPECT_EQ(s5(Bytes { 0x08, '_', 'S', '5', '_', 0x12, 0x01, 0x02, 0x00, 0x00 }).error(), Errno::INVAL);
    // A 4-byte PkgLength claiming 256 MiB.
    EXPECT_EQ(s5(Bytes { 0x08, '_', 'S', '5', '_', 0x12, 0xcf, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00 }).error(),
              Errno::INVAL);
    // PkgLength bytes missing at the very end.
    EXPECT_EQ(s5(Bytes { 0x08, '_', 'S', '5', '_', 0x12, 0xc0 }).error(), Errno::INVAL);
}

TEST(Acpi, GenericAddressWidths)
{
    boot::GenericAddress g;
    EXPECT_EQ(g.access_bytes(2), 2);
    g.bit_width = 8;
    EXPECT_EQ(g.access_bytes(2), 1);
    g.bit_width = 32;
    EXPECT_EQ(g.access_bytes(2), 4);
    g.access_size = 2;
    EXPECT_EQ(g.access_bytes(1), 2);
    g.access_size = 4;
    EXPECT_EQ(g.access_bytes(1), 8);
}

} // namespace
