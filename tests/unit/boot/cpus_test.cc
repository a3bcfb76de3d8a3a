// Unit tests for CPU discovery: hand-built MADTs shaped like QEMU q35's and MP tables shaped
// like qboot's (QEMU microvm: entry count 0, table at 639 KiB, no BIOS data area) and
// SeaBIOS's (F segment, EBDA set), then broken in every way the parsers must survive.
#include <boot/acpi.h>
#include <boot/cpus.h>

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

void append(Bytes& b, const Bytes& more) { b.insert(b.end(), more.begin(), more.end()); }

// ---- MADT [acpi-6.5 §5.2.12] ----

Bytes lapic(uint8_t uid, uint8_t apic_id, uint32_t flags)
{
    Bytes e = { 0, 8, uid, apic_id };
    store(e, 4, flags, 4);
    return e;
}
Bytes x2apic(uint32_t apic_id, uint32_t flags, uint32_t uid)
{
    Bytes e = { 9, 16, 0, 0 };
    store(e, 4, apic_id, 4);
    store(e, 8, flags, 4);
    store(e, 12, uid, 4);
    return e;
}
Bytes ioapic(uint8_t id, uint32_t address, uint32_t gsi_base)
{
    Bytes e = { 1, 12, id, 0 };
    store(e, 4, address, 4);
    store(e, 8, gsi_base, 4);
    return e;
}
Bytes source_override(uint8_t irq, uint32_t gsi, uint16_t flags)
{
    Bytes e = { 2, 10, 0, irq };
    store(e, 4, gsi, 4);
    store(e, 8, flags, 2);
    return e;
}
Bytes lapic_nmi(uint8_t uid, uint16_t flags, uint8_t lint)
{
    Bytes e = { 4, 6, uid };
    store(e, 3, flags, 2);
    store(e, 5, lint, 1);
    return e;
}
Bytes lapic_address_override(uint64_t address)
{
    Bytes e = { 5, 12, 0, 0 };
    store(e, 4, address, 8);
    return e;
}

// A whole MADT around `entries`.
Bytes madt(const Bytes& entries, uint32_t lapic_address = 0xfee00000, uint32_t flags = 1)
{
    Bytes t(44, 0);
    std::memcpy(t.data(), "APIC", 4);
    t[8] = 1;
    std::memcpy(t.data() + 10, "NIMBUS", 6);
    store(t, 36, lapic_address, 4);
    store(t, 40, flags, 4);
    append(t, entries);
    store(t, 4, t.size(), 4);
    t[9] = checksum_of(t, 0, t.size());
    return t;
}

// QEMU q35 with 4 CPUs: what `-M q35 -smp 4` lists (dumped from a real VM).
Bytes q35_entries(int cpus)
{
    Bytes e;
    for (int i = 0; i < cpus; ++i)
        append(e, lapic(uint8_t(i), uint8_t(i), 1));
    append(e, ioapic(0, 0xfec00000, 0));
    append(e, source_override(0, 2, 0));
    for (uint8_t irq : { 5, 9, 10, 11 })
        append(e, source_override(irq, irq, 0xd)); // level, active high
    append(e, lapic_nmi(0xff, 0, 1));
    return e;
}

constexpr uint64_t kMadtAt = 0x80000;

struct MadtFixture : ::testing::Test {
    FakeMemory mem;
    std::unique_ptr<boot::CpuTopology> topo = std::make_unique<boot::CpuTopology>();

    Result<void> parse(const Bytes& table, uint32_t ref_length = 0)
    {
        mem.put(kMadtAt, table);
        boot::AcpiTableRef ref;
        std::memcpy(ref.signature, "APIC", 4);
        ref.paddr = kMadtAt;
        ref.length = ref_length ? ref_length : uint32_t(table.size());
        return boot::parse_madt(mem, ref, *topo);
    }
    void expect_reset() const
    {
        EXPECT_EQ(topo->source, boot::CpuSource::None);
        EXPECT_EQ(topo->count, 0u);
        EXPECT_EQ(topo->ioapic_count, 0u);
    }
};

TEST_F(MadtFixture, QemuQ35FourCpus)
{
    ASSERT_FALSE(parse(madt(q35_entries(4))).is_error());
    const auto& t = *topo;
    EXPECT_EQ(t.source, boot::CpuSource::Madt);
    EXPECT_STREQ(boot::cpu_source_name(t.source), "madt");
    ASSERT_EQ(t.count, 4u);
    EXPECT_EQ(t.enabled_count(), 4u);
    for (uint32_t i = 0; i < 4; ++i) {
        EXPECT_EQ(t.cpus[i].apic_id, i);
        EXPECT_EQ(t.cpus[i].acpi_uid, i);
        EXPECT_TRUE(t.cpus[i].enabled);
        EXPECT_EQ(t.cpus[i].is_bootstrap, i == 0); // listed first [acpi-6.5 §5.2.12.1]
    }
    EXPECT_EQ(t.lapic_address, 0xfee00000u);
    EXPECT_TRUE(t.pcat_compat);
    ASSERT_EQ(t.ioapic_count, 1u);
    EXPECT_EQ(t.ioapics[0].id, 0);
    EXPECT_EQ(t.ioapics[0].address, 0xfec00000u);
    EXPECT_EQ(t.ioapics[0].gsi_base, 0u);
    ASSERT_EQ(t.override_count, 5u);
    EXPECT_EQ(t.overrides[0].source_irq, 0);
    EXPECT_EQ(t.overrides[0].gsi, 2u);
    EXPECT_EQ(t.overrides[1].source_irq, 5);
    EXPECT_EQ(t.overrides[1].flags, 0xd);
    ASSERT_EQ(t.nmi_count, 1u);
    EXPECT_EQ(t.nmis[0].acpi_uid, boot::LocalNmi::kAllProcessors);
    EXPECT_EQ(t.nmis[0].lint, 1);
    EXPECT_EQ(t.entries_skipped, 0u);
}

TEST_F(MadtFixture, ProcessorFlagsDuplicatesAndInvalidIds)
{
    Bytes e;
    append(e, lapic(0, 3, 0));          // neither enabled nor online-capable: unusable
    append(e, lapic(1, 0xff, 1));       // broadcast id: not a CPU
    append(e, lapic(2, 5, 1));          // the first usable one: the boot CPU
    append(e, lapic(3, 6, 2));          // online-capable, not enabled
    append(e, x2apic(5, 1, 9));         // the same CPU again as x2APIC: duplicate
    append(e, x2apic(300, 1, 10));      // an id only x2APIC can express
    append(e, x2apic(0xffffffff, 1, 11)); // invalid
    ASSERT_FALSE(parse(madt(e, 0xfee00000, 0)).is_error());
    const auto& t = *topo;
    ASSERT_EQ(t.count, 3u);
    EXPECT_EQ(t.cpus[0].apic_id, 5u);
    EXPECT_TRUE(t.cpus[0].is_bootstrap);
    EXPECT_EQ(t.cpus[1].apic_id, 6u);
    EXPECT_FALSE(t.cpus[1].enabled);
    EXPECT_FALSE(t.cpus[1].is_bootstrap);
    EXPECT_EQ(t.cpus[2].apic_id, 300u);
    EXPECT_EQ(t.cpus[2].acpi_uid, 10u);
    EXPECT_EQ(t.enabled_count(), 2u);
    EXPECT_EQ(t.cpus_unusable, 3u);
    EXPECT_EQ(t.cpus_duplicate, 1u);
    EXPECT_FALSE(t.pcat_compat);
    EXPECT_NE(t.find(300), nullptr);
    EXPECT_EQ(t.find(3), nullptr);

    EXPECT_TRUE(boot::mark_bootstrap(*topo, 300));
    EXPECT_FALSE(topo->cpus[0].is_bootstrap);
    EXPECT_TRUE(topo->cpus[2].is_bootstrap);
    EXPECT_FALSE(boot::mark_bootstrap(*topo, 77));
    EXPECT_TRUE(topo->cpus[2].is_bootstrap);
}

TEST_F(MadtFixture, AddressOverrideUnknownTypesAndLongerEntries)
{
    Bytes e = q35_entries(1);
    append(e, lapic_address_override(0x1'0000'0000ull));
    append(e, Bytes { 0x7f, 5, 1, 2, 3 });  // a type this parser does not know: skipped
    Bytes longer = lapic(1, 1, 1);          // a later revision may append fields
    longer[1] = 12;
    longer.resize(12, 0xaa);
    append(e, longer);
    append(e, Bytes { 10, 12, 5, 0, 7, 0, 0, 0, 1, 0, 0, 0 }); // Local x2APIC NMI
    ASSERT_FALSE(parse(madt(e)).is_error());
    EXPECT_EQ(topo->lapic_address, 0x1'0000'0000ull);
    EXPECT_EQ(topo->entries_skipped, 1u);
    EXPECT_EQ(topo->count, 2u);
    ASSERT_EQ(topo->nmi_count, 2u);
    EXPECT_EQ(topo->nmis[1].acpi_uid, 7u);
    EXPECT_EQ(topo->nmis[1].flags, 5u);
    EXPECT_EQ(topo->nmis[1].lint, 1u);
}

TEST_F(MadtFixture, ZeroLocalApicAddressMeansTheDefault)
{
    ASSERT_FALSE(parse(madt(q35_entries(1), 0)).is_error());
    EXPECT_EQ(topo->lapic_address, boot::CpuTopology::kDefaultLapicAddress);
}

TEST_F(MadtFixture, NoEntriesIsValid)
{
    ASSERT_FALSE(parse(madt({})).is_error());
    EXPECT_EQ(topo->source, boot::CpuSource::Madt);
    EXPECT_EQ(topo->count, 0u);
}

TEST_F(MadtFixture, TruncatedEntriesAreErrors)
{
    // Each known type with a Length one short of its fixed size (and the bytes to match).
    const Bytes entries[] = { lapic(0, 0, 1), x2apic(1, 1, 1), ioapic(0, 0xfec00000, 0),
                              source_override(0, 2, 0), lapic_nmi(0xff, 0, 1), lapic_address_override(1),
                              Bytes { 10, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 } };
    for (const Bytes& full : entries) {
        Bytes e = full;
        e.pop_back();
        e[1] = uint8_t(e.size());
        EXPECT_EQ(parse(madt(e)).error(), Errno::INVAL) << "type " << int(e[0]);
        expect_reset();
    }
}

TEST_F(MadtFixture, ZeroAndOneLengthEntriesAreErrors)
{
    for (uint8_t len : { 0, 1 }) {
        Bytes e = lapic(0, 0, 1);
        append(e, Bytes { 0, len, 0, 0, 0, 0, 0, 0 });
        EXPECT_EQ(parse(madt(e)).error(), Errno::INVAL);
        expect_reset();
    }
}

TEST_F(MadtFixture, EntryPastTheEndIsAnError)
{
    Bytes e = lapic(0, 0, 1);
    append(e, Bytes { 9, 16, 0, 0, 1, 0, 0, 0 }); // says 16, 8 bytes left in the table
    EXPECT_EQ(parse(madt(e)).error(), Errno::INVAL);
    expect_reset();
    // A single trailing byte cannot even hold an entry header.
    e = lapic(0, 0, 1);
    e.push_back(0);
    EXPECT_EQ(parse(madt(e)).error(), Errno::INVAL);
}

TEST_F(MadtFixture, BadHeaderOrChecksum)
{
    Bytes t = madt(q35_entries(2));
    Bytes bad = t;
    bad[20] ^= 1; // checksum
    EXPECT_EQ(parse(bad).error(), Errno::INVAL);
    expect_reset();
    bad = t;
    bad[0] = 'X'; // signature (checksum fixed up)
    bad[9] = uint8_t(bad[9] - ('X' - 'A'));
    EXPECT_EQ(parse(bad).error(), Errno::INVAL);
    // The reference and the header disagree about the length.
    EXPECT_EQ(parse(t, uint32_t(t.size() - 8)).error(), Errno::INVAL);
    // Shorter than the fixed part.
    EXPECT_EQ(parse(t, 40).error(), Errno::INVAL);
    // Absurdly long.
    EXPECT_EQ(parse(t, 64u << 20).error(), Errno::INVAL);
}

TEST_F(MadtFixture, UnreadableIsFault)
{
    boot::AcpiTableRef ref;
    ref.paddr = 0x10fff0; // crosses the end of the fake memory
    ref.length = 100;
    EXPECT_EQ(boot::parse_madt(mem, ref, *topo).error(), Errno::FAULT);
    expect_reset();
}

TEST_F(MadtFixture, CountsAreBounded)
{
    Bytes e;
    size_t n = boot::CpuTopology::kMaxCpus + 6;
    for (size_t i = 0; i < n; ++i)
        append(e, x2apic(uint32_t(i), 1, uint32_t(i)));
    for (size_t i = 0; i < boot::CpuTopology::kMaxOverrides + 2; ++i)
        append(e, source_override(uint8_t(i), uint32_t(i), 0));
    for (size_t i = 0; i < boot::CpuTopology::kMaxIoApics + 1; ++i)
        append(e, ioapic(uint8_t(i), 0xfec00000 + uint32_t(i) * 0x1000, uint32_t(i) * 24));
    ASSERT_FALSE(parse(madt(e)).is_error());
    EXPECT_EQ(topo->count, boot::CpuTopology::kMaxCpus);
    EXPECT_EQ(topo->cpus_dropped, 6u);
    EXPECT_EQ(topo->override_count, boot::CpuTopology::kMaxOverrides);
    EXPECT_EQ(topo->ioapic_count, boot::CpuTopology::kMaxIoApics);
    EXPECT_EQ(topo->entries_dropped, 3u);
}

// The MADT as parse_acpi finds it (RSDP → RSDT → APIC), then parse_madt on its reference.
TEST_F(MadtFixture, FromParseAcpi)
{
    Bytes table = madt(q35_entries(2));
    mem.put(kMadtAt, table);
    Bytes rsdt(36, 0);
    std::memcpy(rsdt.data(), "RSDT", 4);
    store(rsdt, 36, kMadtAt, 4);
    store(rsdt, 4, rsdt.size(), 4);
    rsdt[9] = checksum_of(rsdt, 0, rsdt.size());
    mem.put(0x81000, rsdt);
    Bytes rsdp(20, 0);
    std::memcpy(rsdp.data(), "RSD PTR ", 8);
    store(rsdp, 16, 0x81000, 4);
    rsdp[8] = checksum_of(rsdp, 0, 20);
    mem.put(0xf0000, rsdp);
    auto info = std::make_unique<boot::AcpiInfo>();
    ASSERT_FALSE(boot::parse_acpi(mem, 0xf0000, *info).is_error());
    ASSERT_EQ(info->madt.paddr, kMadtAt);
    ASSERT_FALSE(boot::parse_madt(mem, info->madt, *topo).is_error());
    EXPECT_EQ(topo->count, 2u);
}

// ---- MP table [mp-1.4 §4] ----

Bytes mp_processor(uint8_t apic_id, uint8_t flags)
{
    Bytes e(20, 0);
    e[0] = 0;
    e[1] = apic_id;
    e[2] = 0x14;
    e[3] = flags;
    return e;
}
Bytes mp_bus(uint8_t id) { return { 1, id, 'I', 'S', 'A', ' ', ' ', ' ' }; }
Bytes mp_ioapic(uint8_t id, uint8_t flags, uint32_t address)
{
    Bytes e = { 2, id, 0x11, flags };
    store(e, 4, address, 4);
    return e;
}
Bytes mp_io_interrupt(uint8_t irq, uint8_t ioapic_id) { return { 3, 0, 0, 0, 0, irq, ioapic_id, irq }; }
Bytes mp_local_interrupt(uint8_t type, uint8_t lint) { return { 4, type, 0, 0, 0, 0, 0xff, lint }; }

// The configuration table around `entries`; `count` is ENTRY COUNT (qboot writes 0).
Bytes mp_config(const Bytes& entries, uint16_t count, uint32_t lapic_address = 0xfee00000)
{
    Bytes t(44, 0);
    std::memcpy(t.data(), "PCMP", 4);
    t[6] = 4;
    std::memcpy(t.data() + 8, "NIMBUS  ", 8);
    store(t, 34, count, 2);
    store(t, 36, lapic_address, 4);
    append(t, entries);
    store(t, 4, t.size(), 2);
    t[7] = checksum_of(t, 0, t.size());
    return t;
}

Bytes mp_floating(uint32_t table, uint8_t default_config = 0, uint8_t revision = 4)
{
    Bytes f(16, 0);
    std::memcpy(f.data(), "_MP_", 4);
    store(f, 4, table, 4);
    f[8] = 1;
    f[9] = revision;
    f[11] = default_config;
    f[10] = checksum_of(f, 0, 16);
    return f;
}

// qboot's table for `cpus` CPUs (QEMU microvm, dumped from a real VM): processors with the
// BSP first, an ISA bus, the I/O APIC (id cpus+1), 16 interrupt assignments, LINT0/1.
Bytes qboot_entries(int cpus)
{
    Bytes e;
    for (int i = 0; i < cpus; ++i)
        append(e, mp_processor(uint8_t(i), i == 0 ? 3 : 1));
    append(e, mp_bus(0));
    append(e, mp_ioapic(uint8_t(cpus + 1), 1, 0xfec00000));
    for (uint8_t irq = 0; irq < 16; ++irq)
        append(e, mp_io_interrupt(irq, uint8_t(cpus + 1)));
    append(e, mp_local_interrupt(3, 0));
    append(e, mp_local_interrupt(1, 1));
    return e;
}

struct MpFixture : ::testing::Test {
    FakeMemory mem;
    std::unique_ptr<boot::CpuTopology> topo = std::make_unique<boot::CpuTopology>();

    // Places the floating pointer at `fp` and the table right after it.
    void place(uint64_t fp, const Bytes& config)
    {
        mem.put(fp, mp_floating(uint32_t(fp + 16)));
        mem.put(fp + 16, config);
    }
    void set_bda(uint16_t ebda_segment, uint16_t base_kib)
    {
        mem.at(0x40e) = uint8_t(ebda_segment);
        mem.at(0x40f) = uint8_t(ebda_segment >> 8);
        mem.at(0x413) = uint8_t(base_kib);
        mem.at(0x414) = uint8_t(base_kib >> 8);
    }
    void expect_reset() const
    {
        EXPECT_EQ(topo->source, boot::CpuSource::None);
        EXPECT_EQ(topo->count, 0u);
    }
};

TEST_F(MpFixture, QbootTableAt639KibWithoutBiosDataArea)
{
    place(0x9fc00, mp_config(qboot_entries(4), 0));
    auto fp = boot::find_mp_floating_pointer(mem);
    ASSERT_FALSE(fp.is_error());
    EXPECT_EQ(fp.value(), 0x9fc00u);
    ASSERT_FALSE(boot::discover_mp_table(mem, *topo).is_error());
    const auto& t = *topo;
    EXPECT_EQ(t.source, boot::CpuSource::MpTable);
    EXPECT_STREQ(boot::cpu_source_name(t.source), "mptable");
    ASSERT_EQ(t.count, 4u);
    for (uint32_t i = 0; i < 4; ++i) {
        EXPECT_EQ(t.cpus[i].apic_id, i);
        EXPECT_TRUE(t.cpus[i].enabled);
        EXPECT_EQ(t.cpus[i].is_bootstrap, i == 0);
    }
    ASSERT_EQ(t.ioapic_count, 1u);
    EXPECT_EQ(t.ioapics[0].id, 5);
    EXPECT_EQ(t.ioapics[0].address, 0xfec00000u);
    EXPECT_EQ(t.ioapics[0].gsi_base, 0u);
    EXPECT_EQ(t.lapic_address, 0xfee00000u);
    EXPECT_EQ(t.entries_skipped, 1u + 16u + 2u);
}

TEST_F(MpFixture, FoundInTheEbda)
{
    set_bda(0x9000, 640);
    place(0x90010, mp_config(qboot_entries(2), 0));
    // A second, valid pointer in the ROM: the EBDA is searched first [mp-1.4 §4].
    mem.put(0xf0000, mp_floating(0x90020));
    EXPECT_EQ(boot::find_mp_floating_pointer(mem).value(), 0x90010u);
    ASSERT_FALSE(boot::discover_mp_table(mem, *topo).is_error());
    EXPECT_EQ(topo->count, 2u);
}

TEST_F(MpFixture, FoundInTheLastKibOfBaseMemory)
{
    set_bda(0, 512); // 512 KiB of base memory: search 511-512 KiB
    place(0x7fc30, mp_config(qboot_entries(1), 1));
    EXPECT_EQ(boot::find_mp_floating_pointer(mem).value(), 0x7fc30u);
    set_bda(0, 0); // no BDA (Firecracker, qboot): 639 KiB is assumed, where nothing is
    EXPECT_EQ(boot::find_mp_floating_pointer(mem).error(), Errno::NOENT);
}

TEST_F(MpFixture, FoundInTheBiosRom)
{
    set_bda(0x9fc0, 639); // SeaBIOS: EBDA at 639 KiB, table in the F segment
    place(0xf5ba0, mp_config(qboot_entries(8), 30));
    EXPECT_EQ(boot::find_mp_floating_pointer(mem).value(), 0xf5ba0u);
    ASSERT_FALSE(boot::discover_mp_table(mem, *topo).is_error());
    EXPECT_EQ(topo->count, 8u);
    // The very last paragraph of the ROM is searched too.
    FakeMemory other;
    other.put(0xffff0, mp_floating(0x9fc00));
    EXPECT_EQ(boot::find_mp_floating_pointer(other).value(), 0xffff0u);
}

TEST_F(MpFixture, InvalidOrMisplacedPointersAreNotFound)
{
    Bytes fp = mp_floating(0x9fc10);
    mem.put(0xf0008, fp);                 // not on a 16-byte boundary
    mem.put(0xe0000, fp);                 // outside every search area
    Bytes bad = fp;
    bad[10] ^= 1;                         // checksum
    mem.put(0xf0100, bad);
    bad = mp_floating(0x9fc10);
    bad[8] = 2;                           // length must be one paragraph
    bad[10] = uint8_t(bad[10] - 1);
    mem.put(0xf0200, bad);
    mem.put(0xf0300, mp_floating(0x9fc10, 0, 2)); // revision 2 does not exist
    EXPECT_EQ(boot::find_mp_floating_pointer(mem).error(), Errno::NOENT);
    EXPECT_EQ(boot::discover_mp_table(mem, *topo).error(), Errno::NOENT);
    expect_reset();
    EXPECT_EQ(boot::parse_mp_table(mem, 0xf0100, *topo).error(), Errno::INVAL);
}

TEST_F(MpFixture, NothingReadableIsNotFound)
{
    FakeMemory tiny(0x100);
    EXPECT_EQ(boot::find_mp_floating_pointer(tiny).error(), Errno::NOENT);
}

TEST_F(MpFixture, DisabledProcessorsAndIoApics)
{
    Bytes e;
    append(e, mp_processor(0, 3));
    append(e, mp_processor(1, 0));     // EN clear: unusable
    append(e, mp_processor(2, 3));     // a second BP flag: ignored
    append(e, mp_processor(2, 1));     // duplicate id
    append(e, mp_ioapic(4, 0, 0xfec00000)); // EN clear
    append(e, mp_ioapic(5, 1, 0xfec01000));
    append(e, mp_ioapic(6, 1, 0xfec02000));
    place(0xf0000, mp_config(e, 7, 0));
    ASSERT_FALSE(boot::parse_mp_table(mem, 0xf0000, *topo).is_error());
    const auto& t = *topo;
    ASSERT_EQ(t.count, 2u);
    EXPECT_TRUE(t.cpus[0].is_bootstrap);
    EXPECT_FALSE(t.cpus[1].is_bootstrap);
    EXPECT_EQ(t.cpus_unusable, 1u);
    EXPECT_EQ(t.cpus_duplicate, 1u);
    ASSERT_EQ(t.ioapic_count, 2u);
    EXPECT_EQ(t.ioapics[0].id, 5);
    EXPECT_EQ(t.ioapics[0].gsi_base, 0u);
    EXPECT_EQ(t.ioapics[1].gsi_base, boot::IoApicEntry::kGsiBaseUnknown);
    EXPECT_EQ(t.lapic_address, boot::CpuTopology::kDefaultLapicAddress); // 0 in the table
}

TEST_F(MpFixture, DefaultConfiguration)
{
    mem.put(0xf0000, mp_floating(0, 5));
    ASSERT_FALSE(boot::discover_mp_table(mem, *topo).is_error());
    ASSERT_EQ(topo->count, 2u);
    EXPECT_TRUE(topo->cpus[0].is_bootstrap);
    EXPECT_EQ(topo->cpus[1].apic_id, 1u);
    ASSERT_EQ(topo->ioapic_count, 1u);
    EXPECT_EQ(topo->ioapics[0].id, 2);
    mem.put(0xf0000, mp_floating(0, 8)); // no such default configuration
    EXPECT_EQ(boot::discover_mp_table(mem, *topo).error(), Errno::INVAL);
    expect_reset();
    mem.put(0xf0000, mp_floating(0, 0)); // neither a table nor a default
    EXPECT_EQ(boot::discover_mp_table(mem, *topo).error(), Errno::INVAL);
}

TEST_F(MpFixture, BadConfigurationTables)
{
    Bytes good = mp_config(qboot_entries(2), 0);
    auto fails_with = [&](const Bytes& config, Errno expected) {
        FakeMemory m;
        m.put(0xf0000, mp_floating(0xf0010));
        m.put(0xf0010, config);
        auto r = boot::parse_mp_table(m, 0xf0000, *topo);
        EXPECT_TRUE(r.is_error());
        if (r.is_error())
            EXPECT_EQ(r.error(), expected);
        expect_reset();
    };
    Bytes bad = good;
    bad[50] ^= 1; // checksum
    fails_with(bad, Errno::INVAL);
    bad = good;
    bad[0] = 'X'; // signature
    bad[7] = uint8_t(bad[7] - ('X' - 'P'));
    fails_with(bad, Errno::INVAL);
    // Length shorter than the header.
    bad = mp_config({}, 0);
    store(bad, 4, 40, 2);
    bad[7] = 0;
    bad[7] = checksum_of(bad, 0, 40);
    fails_with(bad, Errno::INVAL);
    // An unknown entry type: its size is unknown.
    Bytes e = qboot_entries(1);
    append(e, Bytes { 0x80, 0, 0, 0, 0, 0, 0, 0 });
    fails_with(mp_config(e, 0), Errno::INVAL);
    // A processor entry (20 bytes) cut by the table's length.
    e = qboot_entries(1);
    append(e, Bytes(8, 0)); // type 0 with 8 bytes left
    fails_with(mp_config(e, 0), Errno::INVAL);
    // A table running past readable memory.
    FakeMemory m(0x100000);
    m.put(0xffff0, mp_floating(0xfffe0));
    EXPECT_EQ(boot::parse_mp_table(m, 0xffff0, *topo).error(), Errno::FAULT);
    // The table pointer is zero.
    FakeMemory z;
    Bytes fp = mp_floating(0);
    z.put(0xf0000, fp);
    EXPECT_EQ(boot::parse_mp_table(z, 0xf0000, *topo).error(), Errno::INVAL);
    EXPECT_EQ(boot::parse_mp_table(z, ~uint64_t(0) - 4, *topo).error(), Errno::FAULT);
}

TEST_F(MpFixture, EntriesBeyondEntryCountAreRead)
{
    // The walk follows BASE TABLE LENGTH; ENTRY COUNT (here 1) does not cut it short.
    place(0xf0000, mp_config(qboot_entries(3), 1));
    ASSERT_FALSE(boot::parse_mp_table(mem, 0xf0000, *topo).is_error());
    EXPECT_EQ(topo->count, 3u);
}

} // namespace
