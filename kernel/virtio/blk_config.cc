// virtio-blk configuration decoding (blk_config.h).
#include <virtio/blk_config.h>

namespace virtio {
namespace {

// [§5.2.4] Field offsets.
constexpr size_t kCapacity = 0, kSizeMax = 8, kSegMax = 12, kBlkSize = 20, kPhysicalBlockExp = 24,
                 kNumQueues = 34, kMaxDiscardSectors = 36, kMaxWriteZeroesSectors = 48;

bool has(size_t size, size_t offset, size_t bytes) { return offset + bytes <= size; }

uint64_t le(const uint8_t* p, size_t bytes)
{
    uint64_t v = 0;
    for (size_t i = bytes; i-- > 0;)
        v = (v << 8) | p[i];
    return v;
}

} // namespace

Result<BlockConfig> parse_block_config(const uint8_t* raw, size_t size, uint64_t features,
                                       const BlockDriverLimits& limits)
{
    if (!raw || !has(size, kCapacity, 8))
        return Errno::INVAL;
    BlockConfig out;
    block::Geometry& g = out.geometry;

    uint64_t capacity = le(raw + kCapacity, 8);
    if (capacity > (~0ull >> block::kSectorShift))
        return Errno::INVAL;

    if ((features & kBlockBlockSize) && has(size, kBlkSize, 4)) {
        uint64_t block = le(raw + kBlkSize, 4);
        if (block >= 512 && block <= 65536 && (block & (block - 1)) == 0)
            g.logical_block_size = uint32_t(block);
    }
    g.physical_block_size = g.logical_block_size;
    if ((features & kBlockTopology) && has(size, kPhysicalBlockExp, 1)) {
        uint8_t exp = raw[kPhysicalBlockExp];
        if (exp <= 7 && (uint64_t(g.logical_block_size) << exp) <= 0x80000000ull)
            g.physical_block_size = g.logical_block_size << exp;
    }
    uint64_t block_sectors = g.logical_block_size >> block::kSectorShift;
    g.sectors = capacity / block_sectors * block_sectors;

    g.max_segment_bytes = limits.max_segment_bytes;
    if ((features & kBlockSizeMax) && has(size, kSizeMax, 4)) {
        uint64_t size_max = le(raw + kSizeMax, 4);
        if (size_max >= 4096 && size_max < g.max_segment_bytes)
            g.max_segment_bytes = uint32_t(size_max);
    }
    g.max_segments = limits.max_segments;
    if ((features & kBlockSegMax) && has(size, kSegMax, 4)) {
        uint64_t seg_max = le(raw + kSegMax, 4);
        if (seg_max >= 1 && seg_max < g.max_segments)
            g.max_segments = uint32_t(seg_max);
    }
    g.max_request_bytes = limits.max_request_bytes;
    if (g.max_request_bytes > uint64_t(g.max_segments) * g.max_segment_bytes)
        g.max_request_bytes = uint64_t(g.max_segments) * g.max_segment_bytes;

    g.read_only = (features & kBlockReadOnly) != 0;
    g.flush = (features & kBlockFlush) != 0;
    g.discard = (features & kBlockDiscard) != 0;
    g.write_zeroes = (features & kBlockWriteZeroes) != 0;
    uint64_t max_discard = g.discard && has(size, kMaxDiscardSectors, 4) ? le(raw + kMaxDiscardSectors, 4) : 0;
    uint64_t max_zeroes = g.write_zeroes && has(size, kMaxWriteZeroesSectors, 4) ? le(raw + kMaxWriteZeroesSectors, 4) : 0;
    g.discard = g.discard && max_discard != 0;
    g.write_zeroes = g.write_zeroes && max_zeroes != 0;
    uint64_t max = 0;
    if (g.discard)
        max = max_discard;
    if (g.write_zeroes && (max == 0 || max_zeroes < max))
        max = max_zeroes;
    // Whole logical blocks per request.
    max = max / block_sectors * block_sectors;
    if (max == 0) {
        g.discard = g.write_zeroes = false;
    }
    g.max_discard_sectors = uint32_t(max);

    out.queues = 1;
    if ((features & kBlockMultiQueue) && has(size, kNumQueues, 2)) {
        uint64_t n = le(raw + kNumQueues, 2);
        out.queues = n == 0 ? 1 : uint16_t(n);
    }
    if (out.queues > limits.max_queues)
        out.queues = limits.max_queues ? limits.max_queues : 1;
    return out;
}

} // namespace virtio
