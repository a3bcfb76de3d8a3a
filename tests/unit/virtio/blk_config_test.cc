// Unit tests for virtio-blk configuration decoding: QEMU's usual values, then every field bogus.
#include <virtio/blk_config.h>

#include <cstring>
#include <gtest/gtest.h>

namespace {

struct Config {
    uint8_t bytes[virtio::kBlockConfigBytes] = {};
    template<typename T>
    void put(size_t offset, T v) { std::memcpy(bytes + offset, &v, sizeof v); }
};

constexpr uint64_t kAll = virtio::kBlockSizeMax | virtio::kBlockSegMax | virtio::kBlockBlockSize |
                          virtio::kBlockTopology | virtio::kBlockMultiQueue | virtio::kBlockDiscard |
                          virtio::kBlockWriteZeroes | virtio::kBlockFlush;

Config qemu_like()
{
    Config c;
    c.put<uint64_t>(0, 16384);        // 8 MiB
    c.put<uint32_t>(8, 0);            // size_max
    c.put<uint32_t>(12, 126);         // seg_max
    c.put<uint32_t>(20, 512);         // blk_size
    c.put<uint8_t>(24, 0);            // physical_block_exp
    c.put<uint16_t>(34, 4);           // num_queues
    c.put<uint32_t>(36, 4194303);     // max_discard_sectors
    c.put<uint32_t>(48, 4194303);     // max_write_zeroes_sectors
    return c;
}

virtio::BlockDriverLimits limits()
{
    virtio::BlockDriverLimits l;
    l.max_queues = 2;
    l.max_segments = 126;
    return l;
}

TEST(BlockConfig, QemuDefaults)
{
    Config c = qemu_like();
    auto r = virtio::parse_block_config(c.bytes, sizeof c.bytes, kAll, limits());
    ASSERT_FALSE(r.is_error());
    const block::Geometry& g = r.value().geometry;
    EXPECT_EQ(g.sectors, 16384u);
    EXPECT_EQ(g.logical_block_size, 512u);
    EXPECT_EQ(g.max_segments, 126u);
    EXPECT_TRUE(g.flush);
    EXPECT_TRUE(g.discard);
    EXPECT_TRUE(g.write_zeroes);
    EXPECT_EQ(g.max_discard_sectors, 4194303u);
    EXPECT_FALSE(g.read_only);
    EXPECT_EQ(r.value().queues, 2) << "capped at the driver's limit";
}

TEST(BlockConfig, FeaturesNotNegotiatedMeanFieldsAreIgnored)
{
    Config c = qemu_like();
    c.put<uint32_t>(20, 4096);
    auto r = virtio::parse_block_config(c.bytes, sizeof c.bytes, virtio::kBlockReadOnly, limits());
    ASSERT_FALSE(r.is_error());
    EXPECT_EQ(r.value().geometry.logical_block_size, 512u);
    EXPECT_EQ(r.value().queues, 1);
    EXPECT_TRUE(r.value().geometry.read_only);
    EXPECT_FALSE(r.value().geometry.discard);
    EXPECT_FALSE(r.value().geometry.flush);
}

TEST(BlockConfig, BogusValuesAreIgnoredOrRefused)
{
    Config c = qemu_like();
    c.put<uint32_t>(20, 1000);   // not a power of two
    c.put<uint8_t>(24, 40);      // absurd exponent
    c.put<uint32_t>(8, 100);     // size_max below a page
    c.put<uint32_t>(12, 0);      // seg_max 0
    c.put<uint16_t>(34, 0);      // num_queues 0
    c.put<uint32_t>(36, 0);      // discard, but 0 sectors at most
    c.put<uint32_t>(48, 8);
    auto r = virtio::parse_block_config(c.bytes, sizeof c.bytes, kAll, limits());
    ASSERT_FALSE(r.is_error());
    const block::Geometry& g = r.value().geometry;
    EXPECT_EQ(g.logical_block_size, 512u);
    EXPECT_EQ(g.physical_block_size, 512u);
    EXPECT_EQ(g.max_segment_bytes, limits().max_segment_bytes);
    EXPECT_EQ(g.max_segments, limits().max_segments);
    EXPECT_EQ(r.value().queues, 1);
    EXPECT_FALSE(g.discard);
    EXPECT_TRUE(g.write_zeroes);
    EXPECT_EQ(g.max_discard_sectors, 8u);

    c.put<uint64_t>(0, ~0ull); // capacity whose bytes overflow
    EXPECT_EQ(virtio::parse_block_config(c.bytes, sizeof c.bytes, kAll, limits()).error(), Errno::INVAL);
    EXPECT_EQ(virtio::parse_block_config(c.bytes, 7, kAll, limits()).error(), Errno::INVAL);
    EXPECT_EQ(virtio::parse_block_config(nullptr, 60, kAll, limits()).error(), Errno::INVAL);
}

TEST(BlockConfig, LargeBlocksRoundTheCapacityDown)
{
    Config c = qemu_like();
    c.put<uint64_t>(0, 16385); // not a whole number of 4 KiB blocks
    c.put<uint32_t>(20, 4096);
    c.put<uint8_t>(24, 1);
    c.put<uint32_t>(36, 12);   // discard maximum rounded to whole blocks: 8
    c.put<uint32_t>(48, 100);
    auto r = virtio::parse_block_config(c.bytes, sizeof c.bytes, kAll, limits());
    ASSERT_FALSE(r.is_error());
    EXPECT_EQ(r.value().geometry.sectors, 16384u);
    EXPECT_EQ(r.value().geometry.logical_block_size, 4096u);
    EXPECT_EQ(r.value().geometry.physical_block_size, 8192u);
    EXPECT_EQ(r.value().geometry.max_discard_sectors, 8u);
}

TEST(BlockConfig, ShortConfigurationMeansAbsentFields)
{
    Config c = qemu_like();
    c.put<uint32_t>(20, 4096);
    auto r = virtio::parse_block_config(c.bytes, 20, kAll, limits()); // ends before blk_size
    ASSERT_FALSE(r.is_error());
    EXPECT_EQ(r.value().geometry.logical_block_size, 512u);
    EXPECT_FALSE(r.value().geometry.discard);
    EXPECT_EQ(r.value().queues, 1);
}

} // namespace
