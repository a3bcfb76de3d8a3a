// virtio-net (virtio_net.h) [virtio-v1.2 §5.1].
//
// Receive: every entry of the receive queue holds one kRxBufferBytes buffer, device-writable.
// The device writes the 12-byte header and the frame; with mergeable buffers a large frame
// continues in the next num_buffers - 1 entries, which the driver gathers into one contiguous
// frame. The queue's interrupt thread processes completions with interrupts off (polling
// while there is work: the moderation), hands each frame to the stack and posts the buffer
// again — one notification per batch.
//
// Transmit: one slot per ring entry holds the header and a copy of the frame (one descriptor).
// Completions are reclaimed by the next transmit (and by the queue's interrupt thread), so
// transmit interrupts stay off unless the ring fills.
#include <core/console.h>
#include <core/entropy.h>
#include <core/memory.h>
#include <drivers/net_dev.h>
#include <drivers/virtio_net.h>
#include <lib/format.h>
#include <lib/string.h>
#include <new>
#include <sync/mutex.h>
#include <virtio/net_config.h>
#include <virtio/split_queue.h>

namespace drivers::virtio {
namespace {

using namespace ::virtio;

constexpr uint16_t kMaxQueueSize = 256;
constexpr size_t kRxBufferBytes = 2048;
constexpr size_t kTxSlotBytes = 2048;
constexpr size_t kHeaderBytes = 12;              // VERSION_1 or mergeable buffers
constexpr size_t kMaxFrameBytes = 65535 + 14;    // the largest coalesced frame we gather
constexpr uint16_t kMaxRxBuffers = (kMaxFrameBytes + kHeaderBytes + kRxBufferBytes - 1) / kRxBufferBytes;
constexpr uint16_t kRxQueue = 0, kTxQueue = 1;

class NetDeviceImpl final : public NetDevice {
public:
    explicit NetDeviceImpl(Transport& transport) : m_transport(transport) {}

    Result<void> start();
    Result<void> transmit(const uint8_t* frame, size_t length, const TransmitOffload& offload) override;
    bool transmit_idle() override
    {
        ksync::MutexGuard guard(m_tx_lock);
        reclaim_tx();
        return m_tx_broken || m_tx.outstanding() == 0;
    }

private:
    static void on_queue(void* self, uint16_t queue);
    Result<void> set_up_ring(SplitQueue& ring, uint16_t queue, uint16_t size);
    void receive();
    bool post_rx_buffer(uint16_t index);
    void reclaim_tx(); // under m_tx_lock

    Transport& m_transport;
    uint64_t m_features = 0;
    size_t m_header_bytes = kHeaderBytes;
    bool m_device_fence = false; // Transport::needs_device_fence()

    SplitQueue m_rx;
    uint8_t* m_rx_buffers = nullptr;
    uint64_t m_rx_phys = 0;
    uint8_t* m_gather = nullptr; // a frame spanning several buffers, assembled
    bool m_rx_broken = false;

    ksync::Mutex m_tx_lock;
    SplitQueue m_tx;
    uint8_t* m_tx_slots = nullptr;
    uint64_t m_tx_phys = 0;
    uint16_t* m_tx_free = nullptr; // stack of free slot indices
    uint16_t m_tx_free_count = 0;
    bool m_tx_broken = false;
};

Result<void> NetDeviceImpl::set_up_ring(SplitQueue& ring, uint16_t queue, uint16_t size)
{
    QueueLayout layout = split_queue_layout(size);
    size_t pages = (layout.bytes + 4095) / 4096;
    void* memory = core::alloc_contiguous_pages(pages);
    if (!memory)
        return Errno::NOMEM;
    SplitQueue::Config config;
    config.size = size;
    config.event_idx = (m_features & kFeatureEventIdx) != 0;
    config.clamp_used_len = m_transport.is_legacy();
    if (m_device_fence) {
        config.device_fence = &Transport::device_fence;
        config.device_fence_context = &m_transport;
    }
    TRY(ring.init(config, { memory, core::virt_to_phys(memory), pages * 4096 }, {}));
    return m_transport.enable_queue(queue, size, ring.desc_phys(), ring.avail_phys(), ring.used_phys());
}

Result<void> NetDeviceImpl::start()
{
    uint64_t wanted = kFeatureEventIdx | kNetMac | kNetStatus | kNetMergeableRxBuffers | kNetCsum | kNetGuestCsum | kNetMtu;
    m_features = TRY(m_transport.negotiate(wanted));
    bool modern = (m_features & kFeatureVersion1) != 0;
    bool mergeable = (m_features & kNetMergeableRxBuffers) != 0;
    m_header_bytes = net_header_size(modern || mergeable);

    uint8_t raw[kNetConfigBytes] = {};
    size_t got = TRY(m_transport.read_config_bytes(raw, sizeof raw));
    NetDriverLimits limits;
    auto config = parse_net_config(raw, got, m_features, limits);
    if (config.is_error()) {
        log_warn("%s: unusable network configuration", m_transport.name());
        return config.error();
    }
    if (config.value().has_mac) {
        lib::mem_copy(m_mac, config.value().mac, 6);
    } else {
        // A locally administered unicast address, random per boot.
        core::fill_random(m_mac, 6);
        m_mac[0] = uint8_t((m_mac[0] & 0xfe) | 0x02);
    }
    m_mtu = config.value().mtu;
    // Without mergeable buffers a frame must fit one buffer.
    if (!mergeable && m_mtu > kRxBufferBytes - m_header_bytes - 14)
        m_mtu = 1500;
    m_link_up.store(config.value().link_up, std::memory_order_relaxed);
    m_tx_checksum = (m_features & kNetCsum) != 0;

    for (uint16_t q : { kRxQueue, kTxQueue })
        if (m_transport.queue_max_size(q) == 0)
            return Errno::NOTSUP;
    uint16_t rx_size = m_transport.queue_max_size(kRxQueue);
    uint16_t tx_size = m_transport.queue_max_size(kTxQueue);
    if (!m_transport.is_legacy()) {
        rx_size = rx_size > kMaxQueueSize ? kMaxQueueSize : rx_size;
        tx_size = tx_size > kMaxQueueSize ? kMaxQueueSize : tx_size;
    }
    if ((rx_size & (rx_size - 1)) || (tx_size & (tx_size - 1)) || rx_size < kMaxRxBuffers / 2 || tx_size < 2)
        return Errno::NOTSUP;

    size_t rx_pages = (size_t(rx_size) * kRxBufferBytes + 4095) / 4096;
    size_t tx_pages = (size_t(tx_size) * kTxSlotBytes + 4095) / 4096;
    m_rx_buffers = static_cast<uint8_t*>(core::alloc_contiguous_pages(rx_pages));
    m_tx_slots = static_cast<uint8_t*>(core::alloc_contiguous_pages(tx_pages));
    m_tx_free = static_cast<uint16_t*>(core::kmalloc(sizeof(uint16_t) * tx_size));
    m_gather = mergeable ? static_cast<uint8_t*>(core::kmalloc(kMaxFrameBytes + kHeaderBytes)) : nullptr;
    if (!m_rx_buffers || !m_tx_slots || !m_tx_free || (mergeable && !m_gather))
        return Errno::NOMEM;
    m_rx_phys = core::virt_to_phys(m_rx_buffers);
    m_tx_phys = core::virt_to_phys(m_tx_slots);
    for (uint16_t i = 0; i < tx_size; i++)
        m_tx_free[i] = uint16_t(tx_size - 1 - i);
    m_tx_free_count = tx_size;

    m_device_fence = Transport::needs_device_fence();
    TRY(m_transport.start_interrupts(2, &NetDeviceImpl::on_queue, this));
    TRY(set_up_ring(m_rx, kRxQueue, rx_size));
    TRY(set_up_ring(m_tx, kTxQueue, tx_size));
    m_tx.disable_interrupts();
    for (uint16_t i = 0; i < rx_size; i++)
        if (!post_rx_buffer(i))
            return Errno::IO;
    m_transport.driver_ok();
    if (m_rx.publish())
        m_transport.notify(kRxQueue);

    char description[160];
    lib::format_to(description, sizeof description, "%s, queues %u/%u%s%s%s%s%s", m_transport.name(), rx_size, tx_size,
                (m_features & kFeatureEventIdx) ? ", event idx" : "", m_device_fence ? ", device fences" : "",
                mergeable ? ", mergeable rx" : "", m_tx_checksum ? ", tx csum" : "",
                (m_features & kNetGuestCsum) ? ", rx csum" : "");
    return register_net_device(*this, description);
}

bool NetDeviceImpl::post_rx_buffer(uint16_t index)
{
    Segment segment{ m_rx_phys + size_t(index) * kRxBufferBytes, uint32_t(kRxBufferBytes), true };
    return !m_rx.add(&segment, 1, reinterpret_cast<void*>(uintptr_t(index) + 1)).is_error();
}

void NetDeviceImpl::on_queue(void* self, uint16_t queue)
{
    auto* d = static_cast<NetDeviceImpl*>(self);
    if (queue == kRxQueue) {
        d->receive();
    } else if (queue == kTxQueue) {
        ksync::MutexGuard guard(d->m_tx_lock);
        d->reclaim_tx();
    }
}

// The receive thread's work: every completed buffer, then re-arm and check again.
void NetDeviceImpl::receive()
{
    if (m_rx_broken)
        return;
    bool mergeable = (m_features & kNetMergeableRxBuffers) != 0;
    m_rx.disable_interrupts();
    uint16_t reposted = 0;
    for (;;) {
        SplitQueue::Completion c;
        auto next = m_rx.next_used(c);
        if (next.is_error()) {
            log_error("%s: the device corrupted its receive queue; receiving stops", name());
            m_rx_broken = true;
            return;
        }
        if (!next.value()) {
            end_burst();
            if (reposted) {
                if (m_rx.publish())
                    m_transport.notify(kRxQueue);
                reposted = 0;
            }
            if (!m_rx.enable_interrupts())
                return;
            m_rx.disable_interrupts();
            continue;
        }
        uint16_t index = uint16_t(uintptr_t(c.cookie) - 1);
        uint8_t* buffer = m_rx_buffers + size_t(index) * kRxBufferBytes;
        uint32_t written = c.written;
        const uint8_t* frame = buffer + m_header_bytes;
        size_t length = written >= m_header_bytes ? written - m_header_bytes : 0;
        bool bad = written < m_header_bytes + 14;
        uint16_t buffers = 1;
        if (!bad && mergeable) {
            buffers = net_header_buffers(buffer);
            if (buffers > 1 && buffers <= kMaxRxBuffers) {
                // Gather the rest of the frame; each further buffer holds frame bytes only.
                lib::mem_copy(m_gather, buffer, written);
                size_t total = written;
                for (uint16_t i = 1; i < buffers; i++) {
                    SplitQueue::Completion more;
                    auto got = m_rx.next_used(more);
                    if (got.is_error() || !got.value()) {
                        // The device promised buffers it has not returned: a broken device.
                        log_error("%s: the device announced %u receive buffers and returned %u; receiving stops",
                                  name(), buffers, i);
                        m_rx_broken = true;
                        return;
                    }
                    uint16_t more_index = uint16_t(uintptr_t(more.cookie) - 1);
                    const uint8_t* more_buffer = m_rx_buffers + size_t(more_index) * kRxBufferBytes;
                    if (total + more.written <= kMaxFrameBytes + m_header_bytes) {
                        lib::mem_copy(m_gather + total, more_buffer, more.written);
                        total += more.written;
                    } else {
                        bad = true;
                    }
                    post_rx_buffer(more_index);
                    reposted++;
                }
                frame = m_gather + m_header_bytes;
                length = total - m_header_bytes;
                buffer = m_gather;
            }
        }
        if (!bad) {
            auto info = parse_net_receive_header(buffer, m_header_bytes, length, m_features, kMaxRxBuffers);
            if (info.is_error()) {
                bad = true;
            } else {
                ReceivedFrame f;
                f.data = frame;
                f.length = length;
                f.checksum_valid = info.value().checksum_valid;
                f.checksum_partial = info.value().checksum_partial;
                f.csum_start = info.value().csum_start;
                f.csum_offset = info.value().csum_offset;
                f.coalesced_segment_size = info.value().gso_size;
                f.queue = 0;
                deliver(f);
            }
        }
        if (bad)
            m_stats.rx_bad_header.fetch_add(1, std::memory_order_relaxed);
        post_rx_buffer(index);
        if (++reposted >= 32) {
            // Keep the device fed during a long burst, and the stack's bursts bounded.
            end_burst();
            if (m_rx.publish())
                m_transport.notify(kRxQueue);
            reposted = 0;
        }
    }
}

void NetDeviceImpl::reclaim_tx()
{
    if (m_tx_broken)
        return;
    for (;;) {
        SplitQueue::Completion c;
        auto next = m_tx.next_used(c);
        if (next.is_error()) {
            log_error("%s: the device corrupted its transmit queue; sending stops", name());
            m_tx_broken = true;
            return;
        }
        if (!next.value())
            return;
        m_tx_free[m_tx_free_count++] = uint16_t(uintptr_t(c.cookie) - 1);
    }
}

Result<void> NetDeviceImpl::transmit(const uint8_t* frame, size_t length, const TransmitOffload& offload)
{
    if (length < 14 || length > size_t(m_mtu) + 14 || length + m_header_bytes > kTxSlotBytes)
        return Errno::MSGSIZE;
    if (offload.tcp4_segment_size != 0)
        return Errno::INVAL; // not negotiated yet
    NetHeader header;
    if (offload.partial_checksum) {
        if (!m_tx_checksum || size_t(offload.csum_start) + offload.csum_offset + 2 > length)
            return Errno::INVAL;
        header.flags = kNetHdrNeedsCsum;
        header.csum_start = offload.csum_start;
        header.csum_offset = offload.csum_offset;
    }
    ksync::MutexGuard guard(m_tx_lock);
    if (m_tx_broken)
        return Errno::IO;
    reclaim_tx();
    // The interrupt thread reclaims when the device catches up; completions that came while
    // interrupts were being re-armed may bring no interrupt, so take them now.
    if (m_tx_free_count == 0 && m_tx.enable_interrupts())
        reclaim_tx();
    if (m_tx_free_count == 0) {
        m_stats.tx_ring_full.fetch_add(1, std::memory_order_relaxed);
        return Errno::NOBUFS;
    }
    uint16_t slot = m_tx_free[--m_tx_free_count];
    uint8_t* out = m_tx_slots + size_t(slot) * kTxSlotBytes;
    write_net_header(header, out, m_header_bytes);
    lib::mem_copy(out + m_header_bytes, frame, length);
    Segment segment{ m_tx_phys + size_t(slot) * kTxSlotBytes, uint32_t(m_header_bytes + length), false };
    if (m_tx.add(&segment, 1, reinterpret_cast<void*>(uintptr_t(slot) + 1)).is_error()) {
        m_tx_free[m_tx_free_count++] = slot;
        return Errno::IO;
    }
    if (m_tx.publish())
        m_transport.notify(kTxQueue);
    m_stats.tx_packets.fetch_add(1, std::memory_order_relaxed);
    m_stats.tx_bytes.fetch_add(length, std::memory_order_relaxed);
    return {};
}

} // namespace

Result<void> probe_net(Transport& transport)
{
    TRY(start_driver<NetDeviceImpl>(transport));
    return {};
}

} // namespace drivers::virtio
