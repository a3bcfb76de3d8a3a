// SplitQueue: the driver side of one split virtqueue [virtio-v1.2 §2.7] — descriptor free list,
// indirect tables, batched kicks with VIRTIO_F_EVENT_IDX, interrupt suppression, and a used
// ring that is validated entry by entry because the device is not trusted.
//
// ## Protocol and memory ordering (the device runs concurrently on another CPU)
//
// Driver → device. add() writes descriptors (or an indirect table) and the avail ring slot;
// the device may not look at them until avail->idx covers the slot. publish() issues a release
// fence, then stores avail->idx (the linearisation point of a batch); pairs with the device's
// read of avail->idx followed by its read barrier [§2.7.13]. Then a full fence (store → load:
// on x86 the only reordering TSO allows) before reading used->flags / avail_event, pairing with
// the device's full fence between its read of avail->idx and its write of avail_event; without
// it both sides could miss each other and the queue would stall [§2.7.10].
//
// Device → driver. The device writes used ring entries, then used->idx. next_used() reads
// used->idx, then an acquire fence, then the entries (pairs with the device's write barrier
// before its idx store [§2.7.8]). enable_interrupts() stores avail->flags / used_event, a full
// fence, then re-reads used->idx: either the device sees the re-armed interrupt or the driver
// sees the completion — never neither.
//
// The two full fences are where a CPU fence alone may not be enough: an emulator can run the
// device in another host thread and still drop the guest's fences (QEMU's TCG before 8.1 with one
// vCPU). Config::device_fence then names an access that orders the driver against the device
// (an exit to the hypervisor), made after either of them before the driver decides not to kick
// or to sleep.
//
// Every device-visible field is read and written with single atomic accesses (relaxed plus
// explicit fences), so the compiler neither tears nor caches them. Entries the device writes
// (used id, len, idx) are read once into locals and checked before use, so a hostile device can
// at worst break its own queue: nothing the driver keeps (free list, cookies, chain lengths)
// lives in device-writable memory; the descriptor table is only ever written by the driver and
// its links are mirrored in driver-private state that the device is never told about.
//
// ## Context
//
// No locks inside: the driver serialises all calls on one queue (an interrupt handler may only
// call disable_interrupts() if the driver thread cannot be inside another call at that moment —
// otherwise it should mask the interrupt at the transport and wake the thread). Nothing here
// blocks or allocates: all memory is passed to init().
#pragma once

#include <lib/result.h>
#include <virtio/ring.h>

#include <cstddef>
#include <cstdint>

namespace virtio {

namespace detail {
struct DescState; // driver-private bookkeeping of one descriptor (split_queue.cc)
}

// Memory the device reaches by DMA: `virt` for the CPU, `phys` for the device. Caller-owned;
// it must stay allocated (and the device must be reset) before it is freed.
struct DmaMemory {
    void* virt = nullptr;
    uint64_t phys = 0;
    size_t size = 0;
};

// Where the parts of a split queue live inside one block of ring memory.
struct QueueLayout {
    size_t bytes;        // total to allocate (all the offsets below fit inside)
    size_t avail_offset; // driver area; the descriptor table is at offset 0
    size_t used_offset;  // device area, page-aligned (legacy virtio 0.9.5 needs it)
    size_t state_offset; // driver-private bookkeeping, never given to the device
};

// The layout of a queue of `size` entries (a power of two, 1..32768; other sizes give a
// layout of 0 bytes). Descriptors at 0 (16-aligned), the avail ring right after them
// (2-aligned), the used ring at the next 4 KiB boundary (the legacy layout with QueueAlign
// 4096, which is also valid for modern transports), then the driver's state. Allocate the
// block 4 KiB-aligned for legacy transports (they take a page frame number); modern
// transports need only 16-byte alignment.
QueueLayout split_queue_layout(uint16_t size);

// Bytes of the indirect-table pool: one table of `max_indirect` descriptors per possible head.
size_t indirect_pool_bytes(uint16_t size, uint16_t max_indirect);

// One buffer of a request.
struct Segment {
    uint64_t phys;      // guest-physical address
    uint32_t len;       // bytes, > 0
    bool device_writes; // device-writable (VIRTQ_DESC_F_WRITE); these come after all readable ones
};

class SplitQueue {
public:
    struct Config {
        uint16_t size = 0;         // entries, as negotiated with the transport
        bool event_idx = false;    // VIRTIO_F_EVENT_IDX negotiated
        bool indirect = false;     // VIRTIO_F_INDIRECT_DESC negotiated
        uint16_t max_indirect = 0; // longest chain put in an indirect table (1..size)
        // Legacy devices are known to report wrong used lengths [virtio-v1.2 §2.7.8.2, legacy
        // note]: with this set, a length beyond the chain's writable bytes is clamped to them
        // instead of breaking the queue.
        bool clamp_used_len = false;
        // Non-null: an access that orders the driver's accesses as the device sees them where
        // a CPU fence does not (e.g. a read of a device register). publish() and
        // enable_interrupts*() (the store -> load points of the protocol above) make it before
        // answering "no kick needed" / "nothing pending", the answers a stale read would make
        // wrong. Must not block; it is called wherever the queue is used.
        void (*device_fence)(void* context) = nullptr;
        void* device_fence_context = nullptr;
    };

    // Takes over `ring` (split_queue_layout(size).bytes, 16-byte aligned virt and phys) and,
    // with config.indirect, `indirect_pool` (indirect_pool_bytes(size, max_indirect), 16-byte
    // aligned; ignored otherwise). Zeroes the ring, so calling init() again after a device reset
    // starts afresh (cookies still outstanding are forgotten: take them with
    // detach_outstanding() first). The device must not be using the ring during init().
    // INVAL: size not a power of two in 1..32768, max_indirect 0 or > size with indirect, memory
    // missing, too small or misaligned.
    Result<void> init(const Config& config, DmaMemory ring, DmaMemory indirect_pool);

    // Addresses to program into the transport (queue_desc / queue_driver / queue_device).
    uint64_t desc_phys() const { return m_ring_phys; }
    uint64_t avail_phys() const { return m_ring_phys + m_layout.avail_offset; }
    uint64_t used_phys() const { return m_ring_phys + m_layout.used_offset; }
    uint16_t size() const { return m_size; }

    // Adds one request: `segments[0..count)`, every device-readable segment before every
    // device-writable one. A chain of more than one segment goes into an indirect table when
    // indirect is on and count <= max_indirect (one descriptor used), else into `count` direct
    // descriptors. `cookie` comes back with the request's completion (any value, nullptr too).
    // The device sees the request only after publish().
    // INVAL: count 0, a zero length, a readable segment after a writable one, more than `size`
    // descriptors needed, more than 4 GiB in total [§2.7.5]. BUSY: not enough free descriptors
    // now (wait for completions). IO: the queue is broken.
    Result<void> add(const Segment* segments, size_t count, void* cookie);

    // Makes every request added since the last publish() visible to the device and answers
    // whether the device must be notified (the caller then kicks the transport once for the
    // whole batch): false when nothing was added, when the device set VIRTQ_USED_F_NO_NOTIFY,
    // or — with event_idx — when the batch did not cross the device's avail_event. Also false on
    // a broken queue.
    bool publish();

    struct Completion {
        void* cookie;     // as given to add()
        uint32_t written; // bytes the device wrote, <= the request's writable bytes
    };
    // The next completion: true and `out` filled, or false when none is pending. Each request's
    // descriptors are free again when it is returned. IO, and the queue is broken for good, when
    // the device wrote garbage: a used id out of range or not the head of an outstanding
    // published request, a length beyond the request's writable bytes (unless
    // clamp_used_len), or used->idx claiming more completions than requests in flight.
    Result<bool> next_used(Completion& out);

    // Interrupt suppression while the driver polls [§2.7.7]. disable_interrupts() sets
    // VIRTQ_AVAIL_F_NO_INTERRUPT or, with event_idx, moves used_event behind the used index (the
    // device may still interrupt once per 65536 completions polled without re-enabling; and
    // like every suppression it is only a hint). enable_interrupts() re-arms (event_idx:
    // used_event = the next entry) and answers whether completions are already pending — then
    // the caller polls again instead of sleeping, or it could sleep through them. Also true on a
    // broken queue, so the caller polls and meets the IO.
    void disable_interrupts();
    bool enable_interrupts();
    // Like enable_interrupts(), but with event_idx asks for the interrupt only after `count`
    // more completions (clamped to 1..requests in flight); true when that many are already
    // pending. The delay lasts until the next next_used() (which re-arms for the next entry
    // while interrupts are on). Without event_idx the same as enable_interrupts().
    bool enable_interrupts_after(uint16_t count);

    // After a device reset, or on a broken queue: takes one outstanding request out of the
    // queue, frees its descriptors and gives its cookie, so the driver can fail it (EIO). False
    // when none is left. Never gives a cookie that next_used() returned. Detaching breaks the
    // queue (IO) until init() is called again.
    bool detach_outstanding(void*& cookie);

    uint16_t free_descriptors() const { return m_free_count; }
    size_t outstanding() const { return m_outstanding; }
    bool broken() const { return m_broken; }

private:
    Errno fail();
    uint16_t published_in_flight() const;
    bool device_wants_kick(uint16_t new_idx, uint16_t old_idx) const;
    void release_head(uint16_t head);
    uint16_t used_idx() const;

    QueueLayout m_layout {};
    uint64_t m_ring_phys = 0;
    VirtqDesc* m_desc = nullptr;
    uint8_t* m_avail = nullptr;
    uint8_t* m_used = nullptr;
    detail::DescState* m_state = nullptr;
    uint8_t* m_pool = nullptr; // indirect tables, max_indirect descriptors per head
    uint64_t m_pool_phys = 0;

    uint16_t m_size = 0;
    uint16_t m_max_indirect = 0; // 0 = no indirect tables
    bool m_event_idx = false;
    bool m_clamp_used_len = false;
    void (*m_device_fence)(void*) = nullptr;
    void* m_device_fence_context = nullptr;

    uint16_t m_free_head = 0;  // valid while m_free_count > 0
    uint16_t m_free_count = 0;
    size_t m_outstanding = 0;  // requests added and not yet completed or detached
    uint16_t m_avail_next = 0; // the avail index the next add() uses
    uint16_t m_avail_published = 0; // avail->idx as last stored
    uint16_t m_last_used = 0;  // the next used entry to consume
    uint16_t m_used_seen = 0;  // used->idx as last read and validated
    bool m_interrupts_enabled = true;
    bool m_broken = false;
    uint16_t m_detach_cursor = 0;
};

} // namespace virtio
