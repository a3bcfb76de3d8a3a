// Unit tests for PCI decoding and enumeration against a fake configuration space: BAR sizing
// (and restoring), capability walks (loops, bad pointers), MSI-X decoding, multi-function
// devices, bridges (and bridges pointing backwards), MSI messages.
#include <pci/pci.h>

#include "fake_config.h"
#include <gtest/gtest.h>
#include <vector>

namespace {

using pci_test::FakeConfig;
using pci_test::FakeFunction;

std::vector<pci::Device> collect(FakeConfig& config, uint8_t first_bus = 0)
{
    std::vector<pci::Device> out;
    pci::enumerate(config, 0, first_bus,
                   [](const pci::Device& d, void* ctx) {
                       static_cast<std::vector<pci::Device>*>(ctx)->push_back(d);
                       return true;
                   },
                   &out);
    return out;
}

TEST(PciBars, SizesEveryKindAndRestoresTheRegisters)
{
    FakeConfig config;
    FakeFunction& f = config.add(0, 3, 0, 0x1af4, 0x1041);
    f.put16(pci::reg::kCommand, pci::kCommandMemory | pci::kCommandIo | pci::kCommandBusMaster);
    FakeConfig::io_bar(f, 0, 0xc040, 0x20);
    FakeConfig::memory_bar(f, 1, 0xfebfe000, 0x1000, false, false);
    FakeConfig::memory_bar(f, 4, 0x8'0000'0000ull, 0x4000, true, true);
    uint32_t before[6];
    for (unsigned i = 0; i < 6; ++i)
        before[i] = f.get32(uint16_t(pci::reg::kBar0 + 4 * i));

    pci::Device d;
    pci::read_device(config, { 0, 0, 3, 0 }, d);
    EXPECT_EQ(d.vendor_id, 0x1af4);
    EXPECT_EQ(d.device_id, 0x1041);
    EXPECT_EQ(d.bars[0].kind, pci::Bar::Kind::Io);
    EXPECT_EQ(d.bars[0].base, 0xc040u);
    EXPECT_EQ(d.bars[0].size, 0x20u);
    EXPECT_EQ(d.bars[1].kind, pci::Bar::Kind::Memory32);
    EXPECT_EQ(d.bars[1].base, 0xfebfe000u);
    EXPECT_EQ(d.bars[1].size, 0x1000u);
    EXPECT_FALSE(d.bars[2].is_present());
    EXPECT_EQ(d.bars[4].kind, pci::Bar::Kind::Memory64);
    EXPECT_TRUE(d.bars[4].prefetchable);
    EXPECT_EQ(d.bars[4].base, 0x8'0000'0000ull);
    EXPECT_EQ(d.bars[4].size, 0x4000u);
    EXPECT_FALSE(d.bars[5].is_present()); // the upper half of BAR 4
    EXPECT_EQ(d.problem, nullptr);

    for (unsigned i = 0; i < 6; ++i)
        EXPECT_EQ(f.get32(uint16_t(pci::reg::kBar0 + 4 * i)), before[i]) << "BAR " << i;
    EXPECT_EQ(f.writes_with_decode_on, 0) << "decoding must be off while BARs are sized";
    uint16_t command;
    std::memcpy(&command, f.bytes + pci::reg::kCommand, 2);
    EXPECT_EQ(command, pci::kCommandMemory | pci::kCommandIo | pci::kCommandBusMaster);
}

TEST(PciBars, OddBarsAreReportedNotTrusted)
{
    FakeConfig config;
    FakeFunction& f = config.add(0, 1, 0, 0x1234, 0x5678);
    f.put32(pci::reg::kBar0, 0x2); // reserved memory type 1
    f.bar_writable[0] = 0xfffff000;
    FakeConfig::memory_bar(f, 5, 0xe0000000, 0x1000, true, false); // 64-bit in the last slot
    pci::Device d;
    pci::read_device(config, { 0, 0, 1, 0 }, d);
    EXPECT_FALSE(d.bars[0].is_present());
    EXPECT_FALSE(d.bars[5].is_present());
    EXPECT_NE(d.problem, nullptr);

    FakeFunction& g = config.add(0, 2, 0, 0x1234, 0x5679);
    g.put32(pci::reg::kBar0, 0xfe000000);
    g.bar_writable[0] = 0xff0ff000; // a mask with a hole: not a power-of-two size
    pci::read_device(config, { 0, 0, 2, 0 }, d);
    EXPECT_FALSE(d.bars[0].is_present());
    EXPECT_NE(d.problem, nullptr);
}

TEST(PciCapabilities, WalkedInOrderAndMsixDecoded)
{
    FakeConfig config;
    FakeFunction& f = config.add(0, 3, 0, 0x1af4, 0x1041);
    FakeConfig::memory_bar(f, 1, 0xfebfe000, 0x1000, false, false);
    FakeConfig::capabilities(f, { { pci::kCapMsix, 0x98 }, { pci::kCapVendor, 0x84 }, { pci::kCapVendor, 0x70 } });
    f.put16(0x98 + 2, 3 - 1);        // 3 entries
    f.put32(0x98 + 4, 0x000 | 1);    // table in BAR 1 at 0
    f.put32(0x98 + 8, 0x800 | 1);    // PBA in BAR 1 at 0x800
    pci::Device d;
    pci::read_device(config, { 0, 0, 3, 0 }, d);
    ASSERT_EQ(d.capability_count, 3);
    EXPECT_EQ(d.capabilities[0].offset, 0x98);
    EXPECT_EQ(d.capabilities[1].offset, 0x84);
    EXPECT_EQ(d.capabilities[2].offset, 0x70);
    ASSERT_NE(d.find_capability(pci::kCapVendor), nullptr);
    EXPECT_EQ(d.find_capability(pci::kCapVendor)->offset, 0x84);
    EXPECT_EQ(d.msix.offset, 0x98);
    EXPECT_EQ(d.msix.table_size, 3);
    EXPECT_EQ(d.msix.table_bar, 1);
    EXPECT_EQ(d.msix.pba_offset, 0x800u);
    EXPECT_EQ(d.problem, nullptr);
}

TEST(PciCapabilities, LoopsAndBadPointersEndTheWalk)
{
    FakeConfig config;
    FakeFunction& f = config.add(0, 1, 0, 0x1234, 1);
    FakeConfig::capabilities(f, { { pci::kCapVendor, 0x40 }, { pci::kCapVendor, 0x50 } });
    f.put8(0x51, 0x40); // 0x50 points back at 0x40
    pci::Device d;
    pci::read_device(config, { 0, 0, 1, 0 }, d);
    EXPECT_EQ(d.capability_count, 2);
    EXPECT_NE(d.problem, nullptr);

    FakeFunction& g = config.add(0, 2, 0, 0x1234, 2);
    FakeConfig::capabilities(g, { { pci::kCapVendor, 0x40 } });
    g.put8(0x41, 0x10); // into the standard header
    pci::read_device(config, { 0, 0, 2, 0 }, d);
    EXPECT_EQ(d.capability_count, 1);
    EXPECT_NE(d.problem, nullptr);
}

TEST(PciCapabilities, MsixTableOutsideItsBarIsRejected)
{
    FakeConfig config;
    FakeFunction& f = config.add(0, 3, 0, 0x1af4, 0x1041);
    FakeConfig::memory_bar(f, 1, 0xfebfe000, 0x1000, false, false);
    FakeConfig::capabilities(f, { { pci::kCapMsix, 0x98 } });
    f.put16(0x98 + 2, 2047);     // 2048 entries * 16 bytes = 32 KiB > the 4 KiB BAR
    f.put32(0x98 + 4, 1);
    pci::Device d;
    pci::read_device(config, { 0, 0, 3, 0 }, d);
    EXPECT_EQ(d.msix.offset, 0);
    EXPECT_NE(d.problem, nullptr);

    f.put16(0x98 + 2, 0);
    f.put32(0x98 + 4, 7); // BAR 7 does not exist
    pci::read_device(config, { 0, 0, 3, 0 }, d);
    EXPECT_EQ(d.msix.offset, 0);
}

TEST(PciEnumerate, FindsFunctionsAndFollowsBridgesOnce)
{
    FakeConfig config;
    config.add(0, 0, 0, 0x8086, 0x29c0);
    FakeFunction& multi = config.add(0, 0x1f, 0, 0x8086, 0x2918, pci::kHeaderMultiFunction);
    (void)multi;
    config.add(0, 0x1f, 2, 0x8086, 0x2922);
    config.add(0, 0x1f, 3, 0x8086, 0x2930);
    config.add(0, 5, 1, 0xdead, 0xbeef); // function 1 of a single-function device: not visited
    FakeFunction& bridge = config.add(0, 2, 0, 0x1b36, 0x000c, 1);
    bridge.put8(pci::reg::kSecondaryBus, 1);
    config.add(1, 0, 0, 0x1af4, 0x1042);
    FakeFunction& back = config.add(1, 1, 0, 0x1b36, 0x000c, 1);
    back.put8(pci::reg::kSecondaryBus, 0); // points backwards: not followed
    FakeFunction& self = config.add(1, 2, 0, 0x1b36, 0x000c, 1);
    self.put8(pci::reg::kSecondaryBus, 1); // points at its own bus: not followed

    auto found = collect(config);
    ASSERT_EQ(found.size(), 8u);
    size_t on_bus1 = 0;
    for (const auto& d : found) {
        EXPECT_NE(d.vendor_id, 0xdead);
        on_bus1 += d.address.bus == 1;
    }
    EXPECT_EQ(on_bus1, 3u);
}

TEST(PciEnumerate, StopsWhenTheVisitorSaysSo)
{
    FakeConfig config;
    for (uint8_t dev = 0; dev < 8; ++dev)
        config.add(0, dev, 0, 0x1234, dev);
    size_t seen = 0;
    size_t visited = pci::enumerate(config, 0, 0,
                                    [](const pci::Device&, void* ctx) { return ++*static_cast<size_t*>(ctx) < 3; },
                                    &seen);
    EXPECT_EQ(visited, 3u);
    EXPECT_EQ(seen, 3u);
}

TEST(PciMsi, MessageForApicAndVector)
{
    auto m = pci::msi_message(3, 0x41);
    ASSERT_FALSE(m.is_error());
    EXPECT_EQ(m.value().address, 0xfee03000u);
    EXPECT_EQ(m.value().data, 0x41u);
    EXPECT_TRUE(pci::msi_message(256, 0x41).is_error());
    EXPECT_TRUE(pci::msi_message(0, 2).is_error());
}

TEST(PciConfig, Write16KeepsTheOtherHalfAndNeverClearsStatusBits)
{
    FakeConfig config;
    FakeFunction& f = config.add(0, 1, 0, 0x1234, 1);
    f.put16(pci::reg::kStatus, 0x8000 | pci::kStatusCapabilities); // a write-one-to-clear error bit set
    config.write16({ 0, 0, 1, 0 }, pci::reg::kCommand, pci::kCommandBusMaster);
    uint16_t command, status;
    std::memcpy(&command, f.bytes + pci::reg::kCommand, 2);
    std::memcpy(&status, f.bytes + pci::reg::kStatus, 2);
    EXPECT_EQ(command, pci::kCommandBusMaster);
    EXPECT_EQ(status, 0x8000 | pci::kStatusCapabilities) << "a 1 written to the status half would clear the error bit";
    config.write16({ 0, 0, 1, 0 }, 0x3e, 0x1234);
    EXPECT_EQ(f.get32(0x3c) >> 16, 0x1234u);
}

} // namespace
