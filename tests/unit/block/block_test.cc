// Unit tests for the portable block layer: request checks against a geometry, and the queue's
// merging of sequential requests within the device's limits.
#include <block/block.h>

#include <gtest/gtest.h>
#include <vector>

namespace {

class FakeDevice final : public block::Device {
public:
    explicit FakeDevice(const block::Geometry& g) { m_geometry = g; }
    void submit(block::Request&) override {}
};

block::Geometry disk()
{
    block::Geometry g;
    g.sectors = 2048; // 1 MiB
    g.max_segments = 4;
    g.max_segment_bytes = 4096;
    g.max_request_bytes = 16384;
    g.discard = true;
    return g;
}

struct Built {
    block::Segment segments[8];
    block::Request request;
};

void build(Built& b, block::Op op, uint64_t sector, uint32_t sectors, uint16_t segment_count, uint32_t segment_bytes)
{
    for (uint16_t i = 0; i < segment_count; ++i)
        b.segments[i] = { 0x100000 + i * 0x1000ull, segment_bytes };
    b.request = block::Request{};
    b.request.op = op;
    b.request.sector = sector;
    b.request.sectors = sectors;
    b.request.segments = segment_count ? b.segments : nullptr;
    b.request.segment_count = segment_count;
}

TEST(BlockValidate, GoodRequestsPass)
{
    FakeDevice d(disk());
    Built b;
    build(b, block::Op::Read, 0, 8, 1, 4096);
    EXPECT_EQ(d.validate(b.request), lib::Errno(0));
    build(b, block::Op::Write, 2040, 8, 2, 2048);
    EXPECT_EQ(d.validate(b.request), lib::Errno(0));
    build(b, block::Op::Flush, 0, 0, 0, 0);
    EXPECT_EQ(d.validate(b.request), lib::Errno(0));
    build(b, block::Op::Discard, 100, 50, 0, 0);
    EXPECT_EQ(d.validate(b.request), lib::Errno(0));
}

TEST(BlockValidate, BadRequestsGetTheirError)
{
    FakeDevice d(disk());
    Built b;
    build(b, block::Op::Read, 2041, 8, 1, 4096); // runs past the end
    EXPECT_EQ(d.validate(b.request), lib::Errno::INVAL);
    build(b, block::Op::Read, 2048, 8, 1, 4096); // starts at the end
    EXPECT_EQ(d.validate(b.request), lib::Errno::INVAL);
    build(b, block::Op::Read, ~0ull - 2, 8, 1, 4096); // wraps
    EXPECT_EQ(d.validate(b.request), lib::Errno::INVAL);
    build(b, block::Op::Read, 0, 8, 1, 2048); // segments do not add up to the sectors
    EXPECT_EQ(d.validate(b.request), lib::Errno::INVAL);
    build(b, block::Op::Read, 0, 40, 5, 4096); // too many segments
    EXPECT_EQ(d.validate(b.request), lib::Errno::INVAL);
    build(b, block::Op::Read, 0, 16, 1, 8192); // a segment above the limit
    EXPECT_EQ(d.validate(b.request), lib::Errno::INVAL);
    build(b, block::Op::Read, 0, 0, 0, 0); // nothing
    EXPECT_EQ(d.validate(b.request), lib::Errno::INVAL);
    build(b, block::Op::WriteZeroes, 0, 8, 0, 0); // not offered
    EXPECT_EQ(d.validate(b.request), lib::Errno::NOTSUP);
    build(b, block::Op::Flush, 0, 8, 0, 0); // flush carries nothing
    EXPECT_EQ(d.validate(b.request), lib::Errno::INVAL);

    block::Geometry ro = disk();
    ro.read_only = true;
    FakeDevice r(ro);
    build(b, block::Op::Write, 0, 8, 1, 4096);
    EXPECT_EQ(r.validate(b.request), lib::Errno::ROFS);
    build(b, block::Op::Discard, 0, 8, 0, 0);
    EXPECT_EQ(r.validate(b.request), lib::Errno::ROFS);
    build(b, block::Op::Read, 0, 8, 1, 4096);
    EXPECT_EQ(r.validate(b.request), lib::Errno(0));
    build(b, block::Op::Flush, 0, 0, 0, 0);
    EXPECT_EQ(r.validate(b.request), lib::Errno(0));
}

TEST(BlockValidate, LogicalBlockAlignment)
{
    block::Geometry g = disk();
    g.logical_block_size = 4096;
    FakeDevice d(g);
    Built b;
    build(b, block::Op::Read, 8, 8, 1, 4096);
    EXPECT_EQ(d.validate(b.request), lib::Errno(0));
    build(b, block::Op::Read, 4, 8, 1, 4096);
    EXPECT_EQ(d.validate(b.request), lib::Errno::INVAL);
    build(b, block::Op::Read, 8, 4, 1, 2048);
    EXPECT_EQ(d.validate(b.request), lib::Errno::INVAL);
}

TEST(RequestQueue, MergesSequentialRequestsOfOneKindInOrder)
{
    block::Geometry g = disk();
    Built a, b, c, other, gap;
    build(a, block::Op::Write, 0, 8, 1, 4096);
    build(b, block::Op::Write, 8, 8, 1, 4096);
    build(c, block::Op::Write, 16, 8, 1, 4096);
    build(other, block::Op::Read, 24, 8, 1, 4096);
    build(gap, block::Op::Read, 40, 8, 1, 4096);
    block::RequestQueue q;
    for (Built* x : { &a, &b, &c, &other, &gap })
        q.push(x->request);
    EXPECT_EQ(q.size(), 5u);

    block::Request* first = q.pop_merged(g);
    ASSERT_EQ(first, &a.request);
    ASSERT_EQ(first->next_merged, &b.request);
    ASSERT_EQ(b.request.next_merged, &c.request);
    EXPECT_EQ(c.request.next_merged, nullptr);
    EXPECT_EQ(block::chain_segments(*first), 3u);
    EXPECT_EQ(block::chain_bytes(*first), 3u * 4096);

    EXPECT_EQ(q.pop_merged(g), &other.request); // a different op does not merge
    EXPECT_EQ(other.request.next_merged, nullptr);
    EXPECT_EQ(q.pop_merged(g), &gap.request);   // nor does a request with a gap before it
    EXPECT_EQ(q.pop_merged(g), nullptr);
    EXPECT_TRUE(q.is_empty());
}

TEST(RequestQueue, MergingStopsAtTheDevicesLimits)
{
    block::Geometry g = disk(); // 4 segments, 16 KiB per request
    std::vector<Built> reqs(6);
    for (size_t i = 0; i < reqs.size(); ++i)
        build(reqs[i], block::Op::Read, i * 8, 8, 1, 4096);
    block::RequestQueue q;
    for (auto& r : reqs)
        q.push(r.request);
    block::Request* first = q.pop_merged(g);
    EXPECT_EQ(block::chain_bytes(*first), 16384u);
    EXPECT_EQ(block::chain_segments(*first), 4u);
    first = q.pop_merged(g);
    EXPECT_EQ(first, &reqs[4].request);
    EXPECT_EQ(block::chain_bytes(*first), 8192u);

    // Segment limit before the byte limit.
    g.max_request_bytes = 1 << 20;
    g.max_segments = 3;
    Built x, y;
    build(x, block::Op::Write, 0, 8, 2, 2048);
    build(y, block::Op::Write, 8, 8, 2, 2048);
    q.push(x.request);
    q.push(y.request);
    EXPECT_EQ(q.pop_merged(g)->next_merged, nullptr);
    EXPECT_EQ(q.pop_merged(g), &y.request);
}

TEST(RequestQueue, FlushAndDiscardNeverMerge)
{
    block::Geometry g = disk();
    Built f, d1, d2;
    build(f, block::Op::Flush, 0, 0, 0, 0);
    build(d1, block::Op::Discard, 0, 8, 0, 0);
    build(d2, block::Op::Discard, 8, 8, 0, 0);
    block::RequestQueue q;
    q.push(f.request);
    q.push(d1.request);
    q.push(d2.request);
    EXPECT_EQ(q.pop_merged(g)->next_merged, nullptr);
    EXPECT_EQ(q.pop_merged(g)->next_merged, nullptr);
    EXPECT_EQ(q.pop_merged(g)->next_merged, nullptr);
    EXPECT_TRUE(q.is_empty());
}

} // namespace
