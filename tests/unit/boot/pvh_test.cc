// Unit tests for the PVH start_info parser and the free-memory computation.
#include <boot/pvh.h>

#include <cstring>
#include <gtest/gtest.h>
#include "fake_memory.h"
#include <vector>

namespace {

using boot_test::Bytes;
using boot_test::FakeMemory;
using boot_test::checksum_of;
using boot_test::store;

struct StartInfo {
    uint32_t magic = 0x336ec578, version = 1, flags = 0, nr_modules = 0;
    uint64_t modlist_paddr = 0, cmdline_paddr = 0, rsdp_paddr = 0, memmap_paddr = 0;
    uint32_t memmap_entries = 0, reserved = 0;
};
struct Memmap {
    uint64_t addr, size;
    uint32_t type, reserved;
};
struct Mod {
    uint64_t paddr, size, cmdline, reserved;
};

FakeMemory standard_boot(StartInfo& si)
{
    FakeMemory mem(0x10000);
    si.memmap_paddr = 0x2000;
    si.memmap_entries = 3;
    si.cmdline_paddr = 0x3000;
    si.modlist_paddr = 0x4000;
    si.nr_modules = 1;
    si.rsdp_paddr = 0xe0000;
    mem.put(0x2000, Memmap { 0, 0x9fc00, 1, 0 });
    mem.put(0x2018, Memmap { 0x9fc00, 0x400, 2, 0 });
    mem.put(0x2030, Memmap { 0x100000, 0x7f00000, 1, 0 });
    mem.put_string(0x3000, "log=debug boot.times");
    mem.put(0x4000, Mod { 0x5000000, 0x123456, 0, 0 });
    mem.put(0x1000, si);
    return mem;
}

TEST(Pvh, ParsesStandardBoot)
{
    StartInfo si;
    FakeMemory mem = standard_boot(si);
    auto info = std::make_unique<boot::BootInfo>();
    ASSERT_EQ(boot::parse_start_info(mem, 0x1000, *info), boot::PvhError::None);
    ASSERT_EQ(info->region_count, 3u);
    EXPECT_EQ(info->regions[2].base, 0x100000u);
    EXPECT_EQ(info->regions[2].type, boot::MemoryType::Ram);
    EXPECT_TRUE(info->command_line() == "log=debug boot.times");
    ASSERT_EQ(info->module_count, 1u);
    EXPECT_EQ(info->modules[0].size, 0x123456u);
    EXPECT_EQ(info->rsdp_paddr, 0xe0000u);
}

TEST(Pvh, RejectsMalformedInput)
{
    auto info = std::make_unique<boot::BootInfo>();
    {
        StartInfo si;
        FakeMemory mem = standard_boot(si);
        EXPECT_EQ(boot::parse_start_info(mem, 0xffff0, *info), boot::PvhError::Unreadable);
        si.magic = 0x12345678;
        mem.put(0x1000, si);
        EXPECT_EQ(boot::parse_start_info(mem, 0x1000, *info), boot::PvhError::BadMagic);
    }
    {
        StartInfo si;
        FakeMemory mem = standard_boot(si);
        si.version = 0;
        mem.put(0x1000, si);
        EXPECT_EQ(boot::parse_start_info(mem, 0x1000, *info), boot::PvhError::NoMemoryMap);
    }
    {
        StartInfo si;
        FakeMemory mem = standard_boot(si);
        si.memmap_entries = 100000;
        mem.put(0x1000, si);
        EXPECT_EQ(boot::parse_start_info(mem, 0x1000, *info), boot::PvhError::TooManyRegions);
    }
    {
        StartInfo si;
        FakeMemory mem = standard_boot(si);
        si.memmap_paddr = 0xfff0;
        mem.put(0x1000, si);
        EXPECT_EQ(boot::parse_start_info(mem, 0x1000, *info), boot::PvhError::MemoryMapUnreadable);
    }
    {
        StartInfo si;
        FakeMemory mem = standard_boot(si);
        mem.put(0x2000, Memmap { ~0ull - 10, 0x1000, 1, 0 });
        EXPECT_EQ(boot::parse_start_info(mem, 0x1000, *info), boot::PvhError::RegionOverflow);
    }
    {
        StartInfo si;
        FakeMemory mem = standard_boot(si);
        si.nr_modules = 1000;
        mem.put(0x1000, si);
        EXPECT_EQ(boot::parse_start_info(mem, 0x1000, *info), boot::PvhError::TooManyModules);
    }
    {
        StartInfo si;
        FakeMemory mem = standard_boot(si);
        si.cmdline_paddr = 0x20000; // outside memory
        mem.put(0x1000, si);
        EXPECT_EQ(boot::parse_start_info(mem, 0x1000, *info), boot::PvhError::CmdlineUnreadable);
    }
    {
        // A command line with no NUL before the end of memory.
        StartInfo si;
        FakeMemory mem = standard_boot(si);
        si.cmdline_paddr = 0x10000 - 5;
        mem.put(0x1000, si);
        for (int i = 0; i < 5; ++i)
            mem.put<char>(0x10000 - 5 + i, 'x');
        EXPECT_EQ(boot::parse_start_info(mem, 0x1000, *info), boot::PvhError::CmdlineUnreadable);
    }
    {
        StartInfo si;
        FakeMemory mem = standard_boot(si);
        std::string huge(8000, 'a');
        mem.put_string(0x6000, huge.c_str());
        si.cmdline_paddr = 0x6000;
        mem.put(0x1000, si);
        EXPECT_EQ(boot::parse_start_info(mem, 0x1000, *info), boot::PvhError::CmdlineTooLong);
    }
}

TEST(Pvh, CommandLineEndingAtMemoryEdge)
{
    StartInfo si;
    FakeMemory mem = standard_boot(si);
    si.cmdline_paddr = 0x10000 - 4;
    mem.put_string(0x10000 - 4, "abc");
    mem.put(0x1000, si);
    auto info = std::make_unique<boot::BootInfo>();
    ASSERT_EQ(boot::parse_start_info(mem, 0x1000, *info), boot::PvhError::None);
    EXPECT_TRUE(info->command_line() == "abc");
}

TEST(Pvh, FreeRangesExcludeReservations)
{
    auto info = std::make_unique<boot::BootInfo>();
    info->regions[0] = { 0, 0x9fc00, boot::MemoryType::Ram };
    info->regions[1] = { 0x9fc00, 0x400, boot::MemoryType::Reserved };
    info->regions[2] = { 0x100000, 0x7f00000, boot::MemoryType::Ram };
    info->regions[3] = { 0x100000000, 0x40000000, boot::MemoryType::Ram };
    info->region_count = 4;
    boot::PhysRange reserved[] = { { 0, 0x100000 }, { 0x100000, 0x180123 }, { 0x5000000, 0x5123456 } };
    boot::PhysRange out[16];
    size_t dropped = 99;
    size_t n = boot::compute_free_ranges(*info, reserved, 3, out, 16, &dropped);
    ASSERT_EQ(n, 3u);
    EXPECT_EQ(dropped, 0u);
    EXPECT_EQ(out[0].begin, 0x181000u);
    EXPECT_EQ(out[0].end, 0x5000000u);
    EXPECT_EQ(out[1].begin, 0x5124000u);
    EXPECT_EQ(out[1].end, 0x8000000u);
    EXPECT_EQ(out[2].begin, 0x100000000u);
    EXPECT_EQ(out[2].end, 0x140000000u);
}

TEST(Pvh, FreeRangesHandleHostileMaps)
{
    auto info = std::make_unique<boot::BootInfo>();
    // Overlapping RAM entries, a reserved hole inside RAM, unaligned edges.
    info->regions[0] = { 0x100123, 0x1000000, boot::MemoryType::Ram };
    info->regions[1] = { 0x800000, 0x1000000, boot::MemoryType::Ram };
    info->regions[2] = { 0x900000, 0x1000, boot::MemoryType::Reserved };
    info->regions[3] = { 0x2000000, 0x10, boot::MemoryType::Ram }; // less than a page
    info->region_count = 4;
    boot::PhysRange out[16];
    size_t n = boot::compute_free_ranges(*info, nullptr, 0, out, 16, nullptr);
    ASSERT_EQ(n, 2u);
    EXPECT_EQ(out[0].begin, 0x101000u);
    EXPECT_EQ(out[0].end, 0x900000u);
    EXPECT_EQ(out[1].begin, 0x901000u);
    EXPECT_EQ(out[1].end, 0x1800000u);
    // Output capacity smaller than needed: reported, not overrun.
    size_t dropped = 0;
    n = boot::compute_free_ranges(*info, nullptr, 0, out, 1, &dropped);
    EXPECT_EQ(n, 1u);
    EXPECT_GE(dropped, 1u);
}

TEST(Pvh, MappableRangesSortMergeAndClip)
{
    auto info = std::make_unique<boot::BootInfo>();
    // Unsorted, overlapping after rounding, with a reserved hole and RAM beyond the limit.
    info->regions[0] = { 0x100000, 0x7f00000, boot::MemoryType::Ram };
    info->regions[1] = { 0, 0xa0000, boot::MemoryType::Ram };
    info->regions[2] = { 0x7000000, 0x1000, boot::MemoryType::AcpiNvs };
    info->regions[3] = { 0x8000800, 0x800, boot::MemoryType::AcpiReclaimable }; // unaligned, adjacent
    info->regions[4] = { 0xfec00000, 0x1000, boot::MemoryType::Reserved };
    info->regions[5] = { 0x3ff000000000, 0x2000000000, boot::MemoryType::Ram }; // crosses the limit
    info->regions[6] = { 0x500000000000, 0x1000, boot::MemoryType::Ram };     // beyond it
    info->region_count = 7;
    boot::PhysRange out[boot::BootInfo::kMaxRegions];
    size_t n = boot::compute_mappable_ranges(*info, uint64_t(1) << 46, out);
    ASSERT_EQ(n, 3u);
    EXPECT_EQ(out[0].begin, 0u);
    EXPECT_EQ(out[0].end, 0xa0000u);
    EXPECT_EQ(out[1].begin, 0x100000u);
    EXPECT_EQ(out[1].end, 0x8001000u);
    EXPECT_EQ(out[2].begin, 0x3ff000000000u);
    EXPECT_EQ(out[2].end, uint64_t(1) << 46);
    for (size_t i = 1; i < n; ++i)
        EXPECT_GT(out[i].begin, out[i - 1].end);
}

} // namespace
