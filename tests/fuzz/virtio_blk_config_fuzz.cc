// fuzz-links: virtio block lib
// libFuzzer target: bogus virtio-blk configuration. The first 8 bytes are the negotiated
// features, the next 2 the driver's queue limit, the rest the device's configuration bytes.
// Decoding must never read past them, and whatever it accepts must be a geometry the block
// layer can live with.
#include <virtio/blk_config.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size < 10)
        return 0;
    uint64_t features;
    uint16_t queues;
    std::memcpy(&features, data, 8);
    std::memcpy(&queues, data + 8, 2);
    std::vector<uint8_t> config(data + 10, data + size); // exact size: ASan sees any overread
    virtio::BlockDriverLimits limits;
    limits.max_queues = queues;
    auto r = virtio::parse_block_config(config.data(), config.size(), features, limits);
    if (r.is_error())
        return 0;
    const block::Geometry& g = r.value().geometry;
    uint32_t lbs = g.logical_block_size;
    if (lbs < 512 || lbs > 65536 || (lbs & (lbs - 1)) || g.physical_block_size < lbs)
        std::abort();
    if (g.sectors % (lbs / 512) || g.sectors > (~0ull >> 9))
        std::abort();
    if (g.max_segments == 0 || g.max_segments > limits.max_segments || g.max_segment_bytes < 4096 ||
        g.max_segment_bytes > limits.max_segment_bytes || g.max_request_bytes == 0)
        std::abort();
    if ((g.discard || g.write_zeroes) && (g.max_discard_sectors == 0 || g.max_discard_sectors % (lbs / 512)))
        std::abort();
    if (r.value().queues == 0 || (queues && r.value().queues > queues))
        std::abort();
    return 0;
}
