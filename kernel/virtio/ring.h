// The split virtqueue's wire format [virtio-v1.2 §2.7]: descriptor, ring layouts, flag bits and
// the event-index rule. Shared by SplitQueue (the driver side) and the host tests' fake devices.
#pragma once

#include <cstddef>
#include <cstdint>

namespace virtio {

// Every ring field is little-endian [virtio-v1.2 §2.4]. x86-64 is too, so the fields are
// read and written as native integers; a big-endian port would need byte swaps here.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "virtio rings are little-endian");

// [virtio-v1.2 §2.7.5] struct virtq_desc. Table alignment 16.
struct VirtqDesc {
    uint64_t addr;  // guest-physical address of the buffer (or of an indirect table)
    uint32_t len;   // bytes (for an indirect table: 16 × entries)
    uint16_t flags; // kDescF*
    uint16_t next;  // index of the next descriptor when flags has kDescFNext
};
static_assert(sizeof(VirtqDesc) == 16);

inline constexpr uint16_t kDescFNext = 1;     // VIRTQ_DESC_F_NEXT: the chain continues at `next`
inline constexpr uint16_t kDescFWrite = 2;    // VIRTQ_DESC_F_WRITE: device-writable buffer
inline constexpr uint16_t kDescFIndirect = 4; // VIRTQ_DESC_F_INDIRECT [virtio-v1.2 §2.7.5.3]

// [virtio-v1.2 §2.7.8] struct virtq_used_elem.
struct VirtqUsedElem {
    uint32_t id;  // head of the completed chain
    uint32_t len; // bytes the device wrote into the chain's writable buffers
};
static_assert(sizeof(VirtqUsedElem) == 8);

// [virtio-v1.2 §2.7.6] struct virtq_avail (alignment 2), for a queue of `size` entries:
//   +0 le16 flags, +2 le16 idx, +4 le16 ring[size], +4+2·size le16 used_event.
inline constexpr size_t kAvailFlagsOffset = 0;
inline constexpr size_t kAvailIdxOffset = 2;
inline constexpr size_t kAvailRingOffset = 4;
inline constexpr size_t avail_used_event_offset(uint16_t size) { return 4 + 2 * size_t(size); }
inline constexpr size_t avail_ring_bytes(uint16_t size) { return 6 + 2 * size_t(size); }
inline constexpr uint16_t kAvailFNoInterrupt = 1; // VIRTQ_AVAIL_F_NO_INTERRUPT [§2.7.7]

// [virtio-v1.2 §2.7.8] struct virtq_used (alignment 4):
//   +0 le16 flags, +2 le16 idx, +4 virtq_used_elem ring[size], +4+8·size le16 avail_event.
inline constexpr size_t kUsedFlagsOffset = 0;
inline constexpr size_t kUsedIdxOffset = 2;
inline constexpr size_t kUsedRingOffset = 4;
inline constexpr size_t used_avail_event_offset(uint16_t size) { return 4 + 8 * size_t(size); }
inline constexpr size_t used_ring_bytes(uint16_t size) { return 6 + 8 * size_t(size); }
inline constexpr uint16_t kUsedFNoNotify = 1; // VIRTQ_USED_F_NO_NOTIFY [§2.7.10]

inline constexpr uint16_t kMaxQueueSize = 32768; // [virtio-v1.2 §2.7]

// The event-index rule [virtio-v1.2 §2.7.7.2, §2.7.10.2]: with VIRTIO_F_EVENT_IDX, the side
// that moved its index from `old_idx` to `new_idx` signals the other side when the other side's
// event index lies in [old_idx, new_idx) — modulo 2^16, i.e. the other side asked to be told
// once entry `event` is published. Both directions use it: the driver's kick (event =
// avail_event) and the device's interrupt (event = used_event).
inline constexpr bool need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
    return uint16_t(new_idx - event - 1) < uint16_t(new_idx - old_idx);
}

} // namespace virtio
