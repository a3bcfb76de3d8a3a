// Unit tests for MCFG decoding: QEMU q35's table, then malformed entries and lengths.
#include <pci/mcfg.h>

#include <cstring>
#include <gtest/gtest.h>
#include <vector>

namespace {

class Memory final : public boot::PhysReader {
public:
    explicit Memory(std::vector<uint8_t> bytes) : m_bytes(std::move(bytes)) {}
    bool read(uint64_t paddr, void* out, size_t size) const override
    {
        if (paddr < kBase || paddr - kBase > m_bytes.size() || size > m_bytes.size() - (paddr - kBase))
            return false;
        std::memcpy(out, m_bytes.data() + (paddr - kBase), size);
        return true;
    }
    static constexpr uint64_t kBase = 0x7000;

private:
    std::vector<uint8_t> m_bytes;
};

std::vector<uint8_t> entry(uint64_t base, uint16_t segment, uint8_t start, uint8_t end)
{
    std::vector<uint8_t> e(16, 0);
    std::memcpy(e.data(), &base, 8);
    std::memcpy(e.data() + 8, &segment, 2);
    e[10] = start;
    e[11] = end;
    return e;
}

boot::AcpiTableRef table_of(const std::vector<uint8_t>& bytes)
{
    boot::AcpiTableRef ref;
    std::memcpy(ref.signature, "MCFG", 4);
    ref.paddr = Memory::kBase;
    ref.length = uint32_t(bytes.size());
    return ref;
}

TEST(Mcfg, QemuQ35Window)
{
    std::vector<uint8_t> t(44, 0);
    auto e = entry(0xb0000000, 0, 0, 0xff);
    t.insert(t.end(), e.begin(), e.end());
    Memory memory(t);
    pci::McfgInfo info;
    ASSERT_FALSE(pci::parse_mcfg(memory, table_of(t), info).is_error());
    ASSERT_EQ(info.count, 1u);
    EXPECT_EQ(info.windows[0].base, 0xb0000000u);
    EXPECT_EQ(info.windows[0].size(), 256u << 20);
    EXPECT_EQ(info.windows[0].address(1, 2, 3, 0x10), 0xb0000000u + (1u << 20) + (2u << 15) + (3u << 12) + 0x10);
}

TEST(Mcfg, BaseIsBusZeroEvenWhenTheRangeStartsLater)
{
    std::vector<uint8_t> t(44, 0);
    auto e = entry(0xe0000000, 1, 0x10, 0x1f);
    t.insert(t.end(), e.begin(), e.end());
    Memory memory(t);
    pci::McfgInfo info;
    ASSERT_FALSE(pci::parse_mcfg(memory, table_of(t), info).is_error());
    ASSERT_EQ(info.count, 1u);
    EXPECT_EQ(info.windows[0].first_address(), 0xe0000000u + (0x10u << 20));
    EXPECT_EQ(info.windows[0].size(), 16u << 20);
    EXPECT_EQ(info.windows[0].address(0x10, 0, 0, 0), info.windows[0].first_address());
}

TEST(Mcfg, MalformedEntriesAreSkipped)
{
    std::vector<uint8_t> t(44, 0);
    for (auto e : { entry(0, 0, 0, 0xff), entry(0xb0000800, 0, 0, 0xff), entry(0xb0000000, 0, 5, 4),
                    entry(0xfffffffffff00000ull, 0, 0, 0xff), entry(0xc0000000, 0, 0, 0) })
        t.insert(t.end(), e.begin(), e.end());
    Memory memory(t);
    pci::McfgInfo info;
    ASSERT_FALSE(pci::parse_mcfg(memory, table_of(t), info).is_error());
    EXPECT_EQ(info.count, 1u);
    EXPECT_EQ(info.skipped, 4u);
    EXPECT_EQ(info.windows[0].base, 0xc0000000u);
}

TEST(Mcfg, BadLengthsAreErrors)
{
    std::vector<uint8_t> t(44 + 15, 0);
    Memory memory(t);
    pci::McfgInfo info;
    EXPECT_EQ(pci::parse_mcfg(memory, table_of(t), info).error(), Errno::INVAL);
    std::vector<uint8_t> short_table(20, 0);
    EXPECT_EQ(pci::parse_mcfg(memory, table_of(short_table), info).error(), Errno::INVAL);
    auto ref = table_of(std::vector<uint8_t>(44 + 16, 0));
    ref.paddr = 0x1000; // unreadable
    EXPECT_EQ(pci::parse_mcfg(memory, ref, info).error(), Errno::FAULT);
}

} // namespace
