// virtio-blk's device configuration [virtio-v1.2 §5.2.4] decoded into a block::Geometry —
// device input, so every field is checked: a value that makes no sense is ignored (the
// default kept) or, where nothing sensible is left, the device is refused.
#pragma once

#include <block/block.h>
#include <lib/result.h>
#include <stddef.h>
#include <stdint.h>

namespace virtio {

// [§5.2.3] Feature bits that shape the configuration.
constexpr uint64_t kBlockSizeMax = 1ull << 1;
constexpr uint64_t kBlockSegMax = 1ull << 2;
constexpr uint64_t kBlockReadOnly = 1ull << 5;
constexpr uint64_t kBlockBlockSize = 1ull << 6;
constexpr uint64_t kBlockFlush = 1ull << 9;
constexpr uint64_t kBlockTopology = 1ull << 10;
constexpr uint64_t kBlockMultiQueue = 1ull << 12;
constexpr uint64_t kBlockDiscard = 1ull << 13;
constexpr uint64_t kBlockWriteZeroes = 1ull << 14;

// The bytes of struct virtio_blk_config the driver reads (through write_zeroes_may_unmap).
constexpr size_t kBlockConfigBytes = 60;

// What the driver can do at most, whatever the device says.
struct BlockDriverLimits {
    uint16_t max_queues = 1;              // e.g. the CPU count
    uint32_t max_segments = 126;          // descriptors per request minus header and status
    uint32_t max_segment_bytes = 1u << 20;
    uint64_t max_request_bytes = 1u << 20;
};

struct BlockConfig {
    block::Geometry geometry;
    uint16_t queues = 1;
};

// Decodes `size` bytes of configuration (little-endian, as read from the device; fields beyond
// `size` count as absent) for the negotiated `features`. Rules:
//   capacity   required (size >= 8); rounded down to whole logical blocks; INVAL if its bytes
//              overflow 64 bits
//   blk_size   a power of two in 512..65536, else 512; physical_block_exp <= 7 or ignored
//   size_max   at least 4096 (else ignored), at most the driver's segment limit
//   seg_max    at least 1 (else ignored), at most the driver's limit
//   num_queues 0 counts as 1; at most the driver's limit
//   discard / write-zeroes: a maximum of 0 sectors turns the operation off (Linux does the
//              same); the smaller maximum of the two is used for both
Result<BlockConfig> parse_block_config(const uint8_t* raw, size_t size, uint64_t features,
                                       const BlockDriverLimits& limits);

} // namespace virtio
