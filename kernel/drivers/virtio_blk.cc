// virtio-blk (virtio_blk.h) [virtio-v1.2 §5.2].
//
// Each virtqueue has a mutex-protected state: the SplitQueue, a RequestQueue of requests
// waiting for room, and a slot per possible in-flight device request holding the request
// header, the discard/write-zeroes range and the status byte the device writes (DMA memory).
// submit() picks the queue of the submitting CPU, queues the request and starts as many
// waiting requests as fit — merging sequential ones — with one notification per batch. The
// queue's interrupt thread takes completions, completes every request of each merged chain
// with the device's status, and starts waiting requests in the room that freed.
#include <core/console.h>
#include <core/cpu.h>
#include <core/memory.h>
#include <drivers/block_dev.h>
#include <drivers/virtio_blk.h>
#include <lib/format.h>
#include <new>
#include <sync/mutex.h>
#include <virtio/blk_config.h>
#include <virtio/split_queue.h>

namespace drivers::virtio {
namespace {

// [§5.2.6] Request types and status values.
constexpr uint32_t kTypeIn = 0, kTypeOut = 1, kTypeFlush = 4, kTypeDiscard = 11, kTypeWriteZeroes = 13;
constexpr uint8_t kStatusOk = 0, kStatusUnsupported = 2;

constexpr uint16_t kMaxQueueSize = 256;
constexpr uint16_t kMaxIndirect = 128; // segments + header + status per indirect table
constexpr uint32_t kMaxSegmentBytes = 1u << 20;
constexpr uint64_t kMaxRequestBytes = 1u << 20;
constexpr size_t kMaxQueues = 16;

struct RequestHeader {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};
struct DiscardRange {
    uint64_t sector;
    uint32_t sectors;
    uint32_t flags;
};

// DMA memory for one device request: device-readable header and range, the status the device
// writes. 64 bytes per slot, slots contiguous.
struct alignas(64) SlotDma {
    RequestHeader header;
    DiscardRange range;
    uint8_t status;
};

struct Slot {
    SlotDma* dma = nullptr;
    uint64_t dma_phys = 0;
    block::Request* chain = nullptr;
    Slot* next_free = nullptr;
};

class BlockDevice;

struct Queue {
    BlockDevice* device = nullptr;
    uint16_t index = 0;
    ksync::Mutex lock;
    ::virtio::SplitQueue ring;
    block::RequestQueue waiting;
    Slot* slots = nullptr;
    Slot* free_slots = nullptr;
    bool dead = false; // the device broke the queue: every request fails with IO
};

class BlockDevice final : public block::Device {
public:
    explicit BlockDevice(Transport& transport) : m_transport(transport) {}

    Result<void> start();
    void submit(block::Request& request) override;
    size_t queue_count() const { return m_queue_count; }
    static void on_queue(void* self, uint16_t queue);

private:
    Result<void> set_up_queue(Queue& q, uint16_t size);
    void start_waiting(Queue& q);
    void fail_everything(Queue& q);
    static void complete_chain(block::Request* chain, lib::Errno status);

    Transport& m_transport;
    uint64_t m_features = 0;
    Queue* m_queues = nullptr;
    size_t m_queue_count = 0;
    bool m_indirect = false;
    uint16_t m_descriptors_per_request = 0; // worst case, to check room before taking a request
};

Result<void> BlockDevice::set_up_queue(Queue& q, uint16_t size)
{
    ::virtio::QueueLayout layout = ::virtio::split_queue_layout(size);
    size_t ring_pages = (layout.bytes + 4095) / 4096;
    void* ring = core::alloc_contiguous_pages(ring_pages);
    if (!ring)
        return Errno::NOMEM;
    ::virtio::DmaMemory pool{};
    if (m_indirect) {
        size_t bytes = ::virtio::indirect_pool_bytes(size, kMaxIndirect);
        void* p = core::alloc_contiguous_pages((bytes + 4095) / 4096);
        if (!p)
            return Errno::NOMEM;
        pool = { p, core::virt_to_phys(p), bytes };
    }
    ::virtio::SplitQueue::Config cfg;
    cfg.size = size;
    cfg.event_idx = (m_features & kFeatureEventIdx) != 0;
    cfg.indirect = m_indirect;
    cfg.max_indirect = m_indirect ? kMaxIndirect : 0;
    cfg.clamp_used_len = m_transport.is_legacy();
    if (Transport::needs_device_fence()) {
        cfg.device_fence = &Transport::device_fence;
        cfg.device_fence_context = &m_transport;
    }
    TRY(q.ring.init(cfg, { ring, core::virt_to_phys(ring), ring_pages * 4096 }, pool));

    // One slot per descriptor-chain head the ring can hold.
    size_t slot_bytes = sizeof(SlotDma) * size;
    auto* dma = static_cast<SlotDma*>(core::alloc_contiguous_pages((slot_bytes + 4095) / 4096));
    q.slots = static_cast<Slot*>(core::kmalloc(sizeof(Slot) * size));
    if (!dma || !q.slots)
        return Errno::NOMEM;
    for (uint16_t i = 0; i < size; ++i) {
        new (&q.slots[i]) Slot();
        q.slots[i].dma = &dma[i];
        q.slots[i].dma_phys = core::virt_to_phys(&dma[i]);
        q.slots[i].next_free = i + 1 < size ? &q.slots[i + 1] : nullptr;
    }
    q.free_slots = &q.slots[0];
    return m_transport.enable_queue(q.index, size, q.ring.desc_phys(), q.ring.avail_phys(), q.ring.used_phys());
}

Result<void> BlockDevice::start()
{
    using namespace ::virtio;
    // Not VIRTIO_F_EVENT_IDX: with it, QEMU 7.2's virtio-blk-pci (q35, 32 requests in flight)
    // loses a kick — the driver publishes requests while reading an avail_event that makes the
    // kick unnecessary, and the device never looks again (avail idx 32 ahead, avail_event =
    // used idx). Not understood yet (see kernel/drivers/README.md); flag-based suppression
    // (VIRTQ_USED_F_NO_NOTIFY, VIRTQ_AVAIL_F_NO_INTERRUPT) has no such window.
    uint64_t wanted = kBlockSizeMax | kBlockSegMax | kBlockReadOnly | kBlockBlockSize | kBlockFlush | kBlockTopology |
                      kBlockMultiQueue | kBlockDiscard | kBlockWriteZeroes | kFeatureIndirectDesc;
    m_features = TRY(m_transport.negotiate(wanted));

    uint16_t size = m_transport.queue_max_size(0);
    if (size == 0)
        return Errno::NOTSUP;
    if (!m_transport.is_legacy() && size > kMaxQueueSize)
        size = kMaxQueueSize; // the legacy device's size is fixed
    if ((size & (size - 1)) || size < 3)
        return Errno::NOTSUP;
    m_indirect = (m_features & kFeatureIndirectDesc) != 0;

    uint8_t raw[::virtio::kBlockConfigBytes] = {};
    size_t got = TRY(m_transport.read_config_bytes(raw, sizeof raw));
    ::virtio::BlockDriverLimits limits;
    limits.max_queues = uint16_t(core::cpu_count() < kMaxQueues ? core::cpu_count() : kMaxQueues);
    if (limits.max_queues > m_transport.queue_count())
        limits.max_queues = m_transport.queue_count();
    limits.max_segments = m_indirect ? kMaxIndirect - 2 : uint32_t(size) - 2;
    limits.max_segment_bytes = kMaxSegmentBytes;
    limits.max_request_bytes = kMaxRequestBytes;
    auto config = ::virtio::parse_block_config(raw, got, m_features, limits);
    if (config.is_error()) {
        log_warn("%s: unusable block configuration", m_transport.name());
        return config.error();
    }
    m_geometry = config.value().geometry;
    size_t queues = config.value().queues;
    if (queues == 0)
        return Errno::NOTSUP;
    m_descriptors_per_request = m_indirect ? 1 : uint16_t(m_geometry.max_segments + 2);

    m_queues = static_cast<Queue*>(core::kmalloc(sizeof(Queue) * queues));
    if (!m_queues)
        return Errno::NOMEM;
    for (size_t i = 0; i < queues; ++i) {
        new (&m_queues[i]) Queue();
        m_queues[i].device = this;
        m_queues[i].index = uint16_t(i);
    }
    m_queue_count = queues;
    TRY(m_transport.start_interrupts(uint16_t(queues), &BlockDevice::on_queue, this));
    for (size_t i = 0; i < queues; ++i) {
        uint16_t qsize = m_transport.queue_max_size(uint16_t(i));
        if (!m_transport.is_legacy() && qsize > size)
            qsize = size;
        if (qsize == 0 || (qsize & (qsize - 1)) || qsize < m_descriptors_per_request)
            return Errno::NOTSUP;
        TRY(set_up_queue(m_queues[i], qsize));
    }
    m_transport.driver_ok();
    return {};
}

void BlockDevice::complete_chain(block::Request* chain, lib::Errno status)
{
    while (chain) {
        block::Request* next = chain->next_merged;
        chain->next_merged = nullptr;
        chain->complete(*chain, status);
        chain = next;
    }
}

void BlockDevice::submit(block::Request& request)
{
    lib::Errno invalid = validate(request);
    if (invalid == lib::Errno(0) && request.op == block::Op::Flush && !m_geometry.flush) {
        request.complete(request, lib::Errno(0)); // no volatile cache: nothing to flush
        return;
    }
    if (invalid != lib::Errno(0)) {
        request.complete(request, invalid);
        return;
    }
    Queue& q = m_queues[core::this_cpu().id % m_queue_count];
    ksync::MutexGuard guard(q.lock);
    if (q.dead) {
        request.complete(request, lib::Errno::IO);
        return;
    }
    q.waiting.push(request);
    start_waiting(q);
}

// Starts waiting requests while there is room. Under q.lock.
void BlockDevice::start_waiting(Queue& q)
{
    bool added = false;
    while (!q.waiting.is_empty() && q.free_slots && q.ring.free_descriptors() >= m_descriptors_per_request) {
        block::Request* chain = q.waiting.pop_merged(m_geometry);
        Slot* slot = q.free_slots;
        q.free_slots = slot->next_free;
        slot->chain = chain;

        SlotDma& d = *slot->dma;
        d.status = 0xff;
        ::virtio::Segment segments[kMaxIndirect];
        size_t count = 0;
        segments[count++] = { slot->dma_phys + __builtin_offsetof(SlotDma, header), sizeof(RequestHeader), false };
        switch (chain->op) {
        case block::Op::Read:
        case block::Op::Write: {
            bool reads = chain->op == block::Op::Read;
            d.header = { reads ? kTypeIn : kTypeOut, 0, chain->sector };
            for (block::Request* r = chain; r; r = r->next_merged) {
                for (uint16_t i = 0; i < r->segment_count; ++i)
                    segments[count++] = { r->segments[i].phys, r->segments[i].bytes, reads };
            }
            break;
        }
        case block::Op::Flush:
            d.header = { kTypeFlush, 0, 0 };
            break;
        case block::Op::Discard:
        case block::Op::WriteZeroes:
            d.header = { chain->op == block::Op::Discard ? kTypeDiscard : kTypeWriteZeroes, 0, 0 };
            d.range = { chain->sector, chain->sectors, 0 };
            segments[count++] = { slot->dma_phys + __builtin_offsetof(SlotDma, range), sizeof(DiscardRange), false };
            break;
        }
        segments[count++] = { slot->dma_phys + __builtin_offsetof(SlotDma, status), 1, true };
        if (auto r = q.ring.add(segments, count, slot); r.is_error()) {
            // Room was checked and the chain is within the limits: only a broken queue gets here.
            slot->chain = nullptr;
            slot->next_free = q.free_slots;
            q.free_slots = slot;
            complete_chain(chain, lib::Errno::IO);
            continue;
        }
        added = true;
    }
    if (added && q.ring.publish())
        m_transport.notify(q.index);
}

// The device broke queue `q` (garbage in the used ring): fail everything, for good.
void BlockDevice::fail_everything(Queue& q)
{
    if (!q.dead)
        log_error("%s: the device corrupted queue %u; failing its requests", m_name, q.index);
    q.dead = true;
    void* cookie;
    while (q.ring.detach_outstanding(cookie)) {
        auto* slot = static_cast<Slot*>(cookie);
        complete_chain(slot->chain, lib::Errno::IO);
        slot->chain = nullptr;
    }
    while (block::Request* chain = q.waiting.pop_merged(m_geometry))
        complete_chain(chain, lib::Errno::IO);
}

void BlockDevice::on_queue(void* self, uint16_t index)
{
    auto* device = static_cast<BlockDevice*>(self);
    if (index >= device->m_queue_count)
        return;
    Queue& q = device->m_queues[index];
    ksync::MutexGuard guard(q.lock);
    if (q.dead)
        return;
    q.ring.disable_interrupts();
    for (;;) {
        ::virtio::SplitQueue::Completion c;
        auto next = q.ring.next_used(c);
        if (next.is_error()) {
            device->fail_everything(q);
            return;
        }
        if (!next.value()) {
            device->start_waiting(q);
            if (!q.ring.enable_interrupts())
                return;
            q.ring.disable_interrupts();
            continue;
        }
        auto* slot = static_cast<Slot*>(c.cookie);
        uint8_t status = slot->dma->status;
        lib::Errno result = status == kStatusOk            ? lib::Errno(0)
                            : status == kStatusUnsupported ? lib::Errno::NOTSUP
                                                           : lib::Errno::IO;
        if (c.written == 0)
            result = lib::Errno::IO; // the device did not even write the status
        block::Request* chain = slot->chain;
        slot->chain = nullptr;
        slot->next_free = q.free_slots;
        q.free_slots = slot;
        complete_chain(chain, result);
    }
}

} // namespace

Result<void> probe_block(Transport& transport)
{
    BlockDevice* device = TRY(start_driver<BlockDevice>(transport));
    char description[64];
    lib::format_to(description, sizeof description, "%s, %zu queue%s", transport.name(), device->queue_count(),
                   device->queue_count() == 1 ? "" : "s");
    return register_block_device(*device, description);
}

} // namespace drivers::virtio
