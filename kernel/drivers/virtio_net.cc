// virtio-net (virtio_net.h) [virtio-v1.2 §5.1].
//
// Receive: every entry of the receive queue (up to kMaxRxQueueSize) holds one kRxBufferBytes
// buffer, device-writable.
// The device writes the 12-byte header and the frame; with mergeable buffers a large frame
// continues in the next num_buffers - 1 entries, which the driver gathers into one contiguous
// frame. The queue's interrupt thread processes completions with interrupts off (polling
// while there is work: the moderation), hands each frame to the stack and posts the buffer
// again — one notification per batch.
//
// Transmit: the header and a copy of the frame go into 2 KiB slots, one descriptor each — one
// slot for an ordinary frame, a chain of up to 33 for a TCP super-segment the device cuts
// (TSO, HOST_TSO4). Completions are reclaimed by the next transmit (and by the queue's
// interrupt thread), so transmit interrupts stay off unless the ring fills.
//
// Multiqueue (MQ with the control queue): one receive/transmit queue pair per vCPU, as many
// as the device offers (up to kMaxPairs), each pair's queues interrupting on CPU k; frames
// name their receive queue (the stack keeps per-queue bursts); transmit takes the pair of the
// frame's flow (its queue key: a TCP connection's, chosen round robin) so that a flow never
// leaves through two queues and the host's tap keeps its receive on one queue too, else the
// calling CPU's pair. The control queue's VQ_PAIRS_SET switches the device over after DRIVER_OK;
// until it answers, only pair 0 carries traffic.
//
// Offloads, where the device offers them: checksums both ways (CSUM, GUEST_CSUM), TSO
// (HOST_TSO4) and coalesced receive (GUEST_TSO4, "LRO": frames up to 64 KiB arrive over
// several mergeable buffers and are gathered into one; only with mergeable buffers, else the
// driver negotiates again without it).
#include <core/clock.h>
#include <core/console.h>
#include <core/cpu.h>
#include <core/entropy.h>
#include <core/memory.h>
#include <core/timer.h>
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

// Receive entries: up to 1024 where the device offers them (QEMU's rx_queue_size=1024, which
// the runner asks for): while the ring is full QEMU stops taking frames from its back-end,
// whose own queue must then absorb the burst, so a stalled vCPU gets four times the slack.
// That is 2 MiB of buffers per pair, within a sixteenth of the guest's memory over all pairs,
// never fewer than 256. Transmit keeps 256: completions are reclaimed as we go, and QEMU
// offers more only to vhost-user.
constexpr uint16_t kMaxRxQueueSize = 1024;
constexpr uint16_t kMaxTxQueueSize = 256;
constexpr uint16_t kRxQueueFloor = 256;
constexpr uint64_t kRxMemoryShare = 16; // receive buffers of all pairs: at most memory / this
constexpr size_t kRxBufferBytes = 2048;
constexpr size_t kTxSlotBytes = 2048;
constexpr size_t kHeaderBytes = 12;              // VERSION_1 or mergeable buffers
constexpr size_t kMaxFrameBytes = 65535 + 14;    // the largest coalesced frame we gather
constexpr uint16_t kMaxRxBuffers = (kMaxFrameBytes + kHeaderBytes + kRxBufferBytes - 1) / kRxBufferBytes;
constexpr uint16_t kMaxTxChain = (kNetMaxSegmentedFrame + kHeaderBytes + kTxSlotBytes - 1) / kTxSlotBytes;
constexpr uint16_t kNoSlot = 0xffff;
// A full transmit ring: how long transmit waits for the device to free room, polling.
constexpr uint64_t kTxFullWaitNs = 2'000'000;
constexpr uint64_t kTxFullPollNs = 20'000;
// Receive buffers go back to the device in batches of up to this many, or an eighth of the
// ring if that is fewer. A publish costs a full fence — on TCG with one vCPU a device register
// read (Transport::needs_device_fence) — and the device has the rest of the ring meanwhile:
// at most a batch is held back, so it never runs dry because of it.
constexpr uint16_t kRxRepostBatch = 32;
// 2 * pairs + the control queue, each with its own vector and thread (Transport's limit, 16).
constexpr uint16_t kMaxPairs = 7;
static_assert(kMaxPairs <= kMaxNetQueues);

// [§5.1.2] Receive queue k is 2k, transmit queue k is 2k + 1; the control queue follows the
// device's largest pair count.
constexpr uint16_t rx_queue(uint16_t pair) { return uint16_t(2 * pair); }
constexpr uint16_t tx_queue(uint16_t pair) { return uint16_t(2 * pair + 1); }
unsigned queue_cpu(uint16_t queue) { return queue / 2; }

// One receive/transmit queue pair and its memory.
struct Pair {
    uint16_t index = 0;

    // Receive: touched only by the receive queue's interrupt thread.
    SplitQueue rx;
    uint8_t* rx_buffers = nullptr;
    uint64_t rx_phys = 0;
    uint16_t rx_size = 0;
    uint8_t* gather = nullptr; // a frame spanning several buffers, assembled
    NetReceiveGather gatherer{ nullptr, 0, kRxBufferBytes };
    uint16_t rx_reposted = 0;      // buffers added back but not yet published (see receive())
    uint16_t rx_repost_batch = 1;  // how many receive() lets gather before it publishes (kRxRepostBatch)
    bool rx_broken = false;

    ksync::Mutex tx_lock;
    SplitQueue tx;
    uint8_t* tx_slots = nullptr;
    uint64_t tx_phys = 0;
    uint16_t* tx_free = nullptr; // stack of free slot indices
    uint16_t tx_free_count = 0;
    uint16_t* tx_next = nullptr; // the next slot of a frame's chain, kNoSlot at its end
    bool tx_broken = false;
};

class NetDeviceImpl final : public NetDevice {
public:
    explicit NetDeviceImpl(Transport& transport) : m_transport(transport) {}

    Result<void> start();
    Result<void> transmit(const uint8_t* frame, size_t length, const TransmitOffload& offload) override;
    bool transmit_idle() override
    {
        bool idle = true;
        for (uint16_t p = 0; p < m_pair_count; p++) {
            Pair& pair = m_pairs[p];
            ksync::MutexGuard guard(pair.tx_lock);
            reclaim_tx(pair);
            idle = idle && (pair.tx_broken || pair.tx.outstanding() == 0);
        }
        return idle;
    }
    void hold_transmit_notifications(bool hold) override
    {
        m_hold_tx_notifications.store(hold, std::memory_order_relaxed);
        if (hold)
            return;
        // A transmit that saw the hold published without notifying, under its pair's lock:
        // once the lock is ours it is done, and the device hears of everything queued (past
        // its event index, so only a notification tells it). Later transmits see the release.
        for (uint16_t p = 0; p < m_pair_count; p++) {
            Pair& pair = m_pairs[p];
            ksync::MutexGuard guard(pair.tx_lock);
            if (!pair.tx_broken)
                m_transport.notify(tx_queue(p));
        }
    }

private:
    static void on_queue(void* self, uint16_t queue);
    Result<void> set_up_ring(SplitQueue& ring, uint16_t queue, uint16_t size);
    Result<void> set_up_pair(Pair& pair, bool mergeable, uint16_t pairs);
    Result<void> set_queue_pairs(uint16_t pairs);
    void receive(Pair& pair);
    bool post_rx_buffer(Pair& pair, uint16_t index);
    void reclaim_tx(Pair& pair); // under pair.tx_lock

    Transport& m_transport;
    uint64_t m_features = 0;
    size_t m_header_bytes = kHeaderBytes;
    bool m_device_fence = false; // Transport::needs_device_fence()
    std::atomic<bool> m_hold_tx_notifications{ false }; // hold_transmit_notifications()

    Pair m_pairs[kMaxPairs];
    uint16_t m_pair_count = 1;  // pairs in use (the device's, at most the CPUs and kMaxPairs)
    uint16_t m_ctrl_queue = 0;  // with MQ: 2 * the device's max_virtqueue_pairs
    SplitQueue m_ctrl;
    uint8_t* m_ctrl_buffer = nullptr; // the command, its data and the device's ack
    uint64_t m_ctrl_phys = 0;
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

// `pairs`: how many pairs share the receive memory budget.
Result<void> NetDeviceImpl::set_up_pair(Pair& pair, bool mergeable, uint16_t pairs)
{
    uint16_t rxq = rx_queue(pair.index), txq = tx_queue(pair.index);
    NetQueueLimits limits;
    limits.rx_max = kMaxRxQueueSize;
    limits.tx_max = kMaxTxQueueSize;
    limits.rx_floor = kRxQueueFloor;
    limits.rx_min = kMaxRxBuffers / 2;
    limits.rx_buffer_bytes = kRxBufferBytes;
    limits.rx_budget_bytes = size_t(core::total_memory() / kRxMemoryShare);
    limits.pairs = pairs;
    NetQueueSizes sizes = TRY(choose_net_queue_sizes(m_transport.queue_max_size(rxq),
                                                     m_transport.queue_max_size(txq), m_transport.is_legacy(), limits));
    uint16_t rx_size = sizes.rx, tx_size = sizes.tx;
    size_t rx_pages = (size_t(rx_size) * kRxBufferBytes + 4095) / 4096;
    size_t tx_pages = (size_t(tx_size) * kTxSlotBytes + 4095) / 4096;
    pair.rx_buffers = static_cast<uint8_t*>(core::alloc_contiguous_pages(rx_pages));
    pair.tx_slots = static_cast<uint8_t*>(core::alloc_contiguous_pages(tx_pages));
    pair.tx_free = static_cast<uint16_t*>(core::kmalloc(sizeof(uint16_t) * tx_size));
    pair.tx_next = static_cast<uint16_t*>(core::kmalloc(sizeof(uint16_t) * tx_size));
    pair.gather = mergeable ? static_cast<uint8_t*>(core::kmalloc(kMaxFrameBytes + kHeaderBytes)) : nullptr;
    if (!pair.rx_buffers || !pair.tx_slots || !pair.tx_free || !pair.tx_next || (mergeable && !pair.gather))
        return Errno::NOMEM;
    pair.rx_phys = core::virt_to_phys(pair.rx_buffers);
    pair.rx_size = rx_size;
    pair.rx_repost_batch = rx_size / 8 < kRxRepostBatch ? uint16_t(rx_size / 8) : kRxRepostBatch;
    if (pair.rx_repost_batch == 0)
        pair.rx_repost_batch = 1;
    pair.rx_reposted = 0;
    pair.gatherer = NetReceiveGather(pair.gather, mergeable ? kMaxFrameBytes + kHeaderBytes : 0, kRxBufferBytes);
    pair.tx_phys = core::virt_to_phys(pair.tx_slots);
    for (uint16_t i = 0; i < tx_size; i++) {
        pair.tx_free[i] = uint16_t(tx_size - 1 - i);
        pair.tx_next[i] = kNoSlot;
    }
    pair.tx_free_count = tx_size;
    TRY(set_up_ring(pair.rx, rxq, rx_size));
    TRY(set_up_ring(pair.tx, txq, tx_size));
    pair.tx.disable_interrupts();
    for (uint16_t i = 0; i < rx_size; i++)
        if (!post_rx_buffer(pair, i))
            return Errno::IO;
    return {};
}

// [§5.1.6.5.5] VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET over the control queue, waiting (bounded) for
// the device's ack.
Result<void> NetDeviceImpl::set_queue_pairs(uint16_t pairs)
{
    uint8_t* b = m_ctrl_buffer;
    b[0] = kNetCtrlClassMq;
    b[1] = kNetCtrlMqPairsSet;
    b[8] = uint8_t(pairs);
    b[9] = uint8_t(pairs >> 8);
    b[16] = 0xff;
    Segment segments[3] = { { m_ctrl_phys, 2, false }, { m_ctrl_phys + 8, 2, false }, { m_ctrl_phys + 16, 1, true } };
    TRY(m_ctrl.add(segments, 3, reinterpret_cast<void*>(uintptr_t(1))));
    m_ctrl.publish();
    m_transport.notify(m_ctrl_queue);
    for (unsigned polls = 0; polls < 1000; polls++) {
        SplitQueue::Completion c;
        auto got = m_ctrl.next_used(c);
        if (got.is_error())
            return Errno::IO;
        if (got.value()) {
            // The ack byte is the device's word: anything but OK is a refusal.
            return c.written >= 1 && static_cast<volatile uint8_t*>(b)[16] == kNetCtrlOk ? Result<void>{}
                                                                                         : Result<void>{ Errno::IO };
        }
        core::sleep_ns(1'000'000);
    }
    return Errno::TIMEDOUT;
}

Result<void> NetDeviceImpl::start()
{
    uint64_t wanted = kFeatureEventIdx | kNetMac | kNetStatus | kNetMergeableRxBuffers | kNetCsum | kNetGuestCsum |
                      kNetMtu | kNetHostTso4 | kNetGuestTso4 | kNetCtrlVq | kNetMq;
    m_features = TRY(m_transport.negotiate(wanted));
    if ((m_features & kNetGuestTso4) && !(m_features & kNetMergeableRxBuffers)) {
        // Coalesced frames of 64 KiB would need 64 KiB receive buffers [§5.1.6.3.1]: without
        // mergeable buffers, do without (negotiation starts again with a reset).
        m_features = TRY(m_transport.negotiate(wanted & ~kNetGuestTso4));
    }
    bool modern = (m_features & kFeatureVersion1) != 0;
    bool mergeable = (m_features & kNetMergeableRxBuffers) != 0;
    m_header_bytes = net_header_size(modern || mergeable);

    // Only as far as the negotiated fields reach: QEMU sizes the configuration by the offered
    // features (10 bytes without MTU) and reads all ones for an access that crosses its end —
    // a 4-byte read at 8 would lose max_virtqueue_pairs.
    uint8_t raw[kNetConfigBytes] = {};
    size_t got = TRY(m_transport.read_config_bytes(raw, (m_features & kNetMtu) ? kNetConfigBytes : 10));
    // The device's largest pair count first (it places the control queue), then ours.
    NetDriverLimits device_limits;
    device_limits.max_queue_pairs = 0x8000;
    auto device_config = parse_net_config(raw, got, m_features, device_limits);
    if (device_config.is_error()) {
        log_warn("%s: unusable network configuration", m_transport.name());
        return device_config.error();
    }
    const NetConfig& config = device_config.value();
    bool mq = (m_features & kNetMq) && (m_features & kNetCtrlVq) && config.queue_pairs > 1;
    uint16_t pairs = config.queue_pairs;
    unsigned cpus = core::cpu_count();
    if (pairs > cpus)
        pairs = uint16_t(cpus);
    if (pairs > kMaxPairs)
        pairs = kMaxPairs;
    // Every queue up to the control queue gets its interrupt thread: 2 * the device's pairs + 1
    // must stay within the transport's per-queue threads, or one thread serves them all.
    if (!mq || pairs < 2 || 2 * size_t(config.queue_pairs) + 1 > 16)
        mq = false;
    m_pair_count = mq ? pairs : 1;
    m_queue_count = m_pair_count;
    m_ctrl_queue = mq ? uint16_t(2 * config.queue_pairs) : 0;

    if (config.has_mac) {
        lib::mem_copy(m_mac, config.mac, 6);
    } else {
        // A locally administered unicast address, random per boot.
        core::fill_random(m_mac, 6);
        m_mac[0] = uint8_t((m_mac[0] & 0xfe) | 0x02);
    }
    m_mtu = config.mtu;
    // Without mergeable buffers a frame must fit one buffer.
    if (!mergeable && m_mtu > kRxBufferBytes - m_header_bytes - 14)
        m_mtu = 1500;
    m_link_up.store(config.link_up, std::memory_order_relaxed);
    m_tx_checksum = (m_features & kNetCsum) != 0;
    m_tso4 = m_tx_checksum && (m_features & kNetHostTso4) != 0;
    m_lro4 = (m_features & kNetGuestTso4) && (m_features & kNetGuestCsum) && mergeable;

    m_device_fence = Transport::needs_device_fence();
    uint16_t interrupt_queues = mq ? uint16_t(m_ctrl_queue + 1) : 2;
    TRY(m_transport.start_interrupts(interrupt_queues, &NetDeviceImpl::on_queue, this, queue_cpu));
    for (uint16_t p = 0; p < m_pair_count; p++) {
        m_pairs[p].index = p;
        TRY(set_up_pair(m_pairs[p], mergeable, m_pair_count));
    }
    if (mq) {
        m_ctrl_buffer = static_cast<uint8_t*>(core::alloc_contiguous_pages(1));
        if (!m_ctrl_buffer)
            return Errno::NOMEM;
        m_ctrl_phys = core::virt_to_phys(m_ctrl_buffer);
        uint16_t ctrl_size = m_transport.queue_max_size(m_ctrl_queue);
        if (ctrl_size == 0)
            return Errno::NOTSUP;
        if (!m_transport.is_legacy() && ctrl_size > 16)
            ctrl_size = 16;
        TRY(set_up_ring(m_ctrl, m_ctrl_queue, ctrl_size));
        m_ctrl.disable_interrupts();
    }
    m_transport.driver_ok();
    for (uint16_t p = 0; p < m_pair_count; p++)
        if (m_pairs[p].rx.publish())
            m_transport.notify(rx_queue(p));
    if (mq) {
        if (auto set = set_queue_pairs(m_pair_count); set.is_error()) {
            // The device stays on pair 0 [§5.1.6.5.5]: so do we.
            log_warn("%s: the device refused %u queue pairs (%s); one pair", m_transport.name(), m_pair_count,
                     lib::errno_name(set.error()));
            m_pair_count = 1;
            m_queue_count = 1;
        }
    }

    char description[200];
    lib::format_to(description, sizeof description, "%s, %u queue pair%s of %u/%u%s%s%s%s%s%s%s", m_transport.name(),
                m_pair_count, m_pair_count == 1 ? "" : "s", m_pairs[0].rx_size, m_pairs[0].tx.size(),
                (m_features & kFeatureEventIdx) ? ", event idx" : "", m_device_fence ? ", device fences" : "",
                mergeable ? ", mergeable rx" : "", m_tx_checksum ? ", tx csum" : "",
                (m_features & kNetGuestCsum) ? ", rx csum" : "", m_tso4 ? ", tso4" : "", m_lro4 ? ", lro4" : "");
    return register_net_device(*this, description);
}

bool NetDeviceImpl::post_rx_buffer(Pair& pair, uint16_t index)
{
    Segment segment{ pair.rx_phys + size_t(index) * kRxBufferBytes, uint32_t(kRxBufferBytes), true };
    return !pair.rx.add(&segment, 1, reinterpret_cast<void*>(uintptr_t(index) + 1)).is_error();
}

void NetDeviceImpl::on_queue(void* self, uint16_t queue)
{
    auto* d = static_cast<NetDeviceImpl*>(self);
    uint16_t p = queue / 2;
    if (p >= d->m_pair_count || (d->m_ctrl_queue != 0 && queue == d->m_ctrl_queue))
        return; // the control queue is polled; unused pairs stay silent
    Pair& pair = d->m_pairs[p];
    if (queue == rx_queue(p)) {
        d->receive(pair);
    } else {
        ksync::MutexGuard guard(pair.tx_lock);
        d->reclaim_tx(pair);
    }
}

// A receive queue's thread: every completed buffer, then re-arm and check again.
void NetDeviceImpl::receive(Pair& pair)
{
    if (pair.rx_broken)
        return;
    uint16_t rxq = rx_queue(pair.index);
    uint16_t batch = pair.rx_repost_batch;
    pair.rx.disable_interrupts();
    uint16_t& reposted = pair.rx_reposted;
    for (;;) {
        SplitQueue::Completion c;
        auto next = pair.rx.next_used(c);
        if (next.is_error()) {
            log_error("%s: the device corrupted receive queue %u; it stops", name(), pair.index);
            pair.rx_broken = true;
            return;
        }
        if (!next.value()) {
            end_burst(pair.index);
            if (reposted >= batch) {
                if (pair.rx.publish())
                    m_transport.notify(rxq);
                reposted = 0;
            }
            if (!pair.rx.enable_interrupts())
                return;
            pair.rx.disable_interrupts();
            continue;
        }
        uint16_t index = uint16_t(uintptr_t(c.cookie) - 1);
        const uint8_t* buffer = pair.rx_buffers + size_t(index) * kRxBufferBytes;
        uint16_t buffers = pair.gatherer.begin(buffer, c.written, m_header_bytes, m_features, kMaxRxBuffers);
        for (uint16_t i = 1; i < buffers; i++) {
            // The rest of the frame; each further buffer holds frame bytes only.
            SplitQueue::Completion more;
            auto more_got = pair.rx.next_used(more);
            if (more_got.is_error() || !more_got.value()) {
                // The device promised buffers it has not returned: a broken device.
                log_error("%s: the device announced %u receive buffers and returned %u; queue %u stops", name(),
                          buffers, i, pair.index);
                pair.rx_broken = true;
                return;
            }
            uint16_t more_index = uint16_t(uintptr_t(more.cookie) - 1);
            pair.gatherer.add(pair.rx_buffers + size_t(more_index) * kRxBufferBytes, more.written);
            post_rx_buffer(pair, more_index);
            reposted++;
        }
        auto packet = pair.gatherer.finish();
        if (!packet.is_error()) {
            const NetReceiveInfo& info = packet.value().info;
            ReceivedFrame f;
            f.data = packet.value().frame;
            f.length = packet.value().length;
            f.checksum_valid = info.checksum_valid;
            f.checksum_partial = info.checksum_partial;
            f.csum_start = info.csum_start;
            f.csum_offset = info.csum_offset;
            f.coalesced_segment_size = info.gso_type == kNetGsoTcpV4 ? info.gso_size : 0;
            f.queue = pair.index;
            if (f.coalesced_segment_size)
                m_stats.rx_coalesced.fetch_add(1, std::memory_order_relaxed);
            deliver(f);
        } else {
            m_stats.rx_bad_header.fetch_add(1, std::memory_order_relaxed);
        }
        post_rx_buffer(pair, index);
        if (++reposted >= batch) {
            // Keep the device fed during a long burst, and the stack's bursts bounded.
            end_burst(pair.index);
            if (pair.rx.publish())
                m_transport.notify(rxq);
            reposted = 0;
        }
    }
}

void NetDeviceImpl::reclaim_tx(Pair& pair)
{
    if (pair.tx_broken)
        return;
    for (;;) {
        SplitQueue::Completion c;
        auto next = pair.tx.next_used(c);
        if (next.is_error()) {
            log_error("%s: the device corrupted transmit queue %u; it stops", name(), pair.index);
            pair.tx_broken = true;
            return;
        }
        if (!next.value())
            return;
        // The cookie is the chain's first slot (the driver's own: the queue checked that the
        // device returned a head we published); every slot of it is free again.
        for (uint16_t slot = uint16_t(uintptr_t(c.cookie) - 1); slot != kNoSlot;) {
            uint16_t next_slot = pair.tx_next[slot];
            pair.tx_next[slot] = kNoSlot;
            pair.tx_free[pair.tx_free_count++] = slot;
            slot = next_slot;
        }
    }
}

Result<void> NetDeviceImpl::transmit(const uint8_t* frame, size_t length, const TransmitOffload& offload)
{
    NetTransmitRequest request;
    request.partial_checksum = offload.partial_checksum;
    request.csum_start = offload.csum_start;
    request.csum_offset = offload.csum_offset;
    request.tcp4_segment_size = offload.tcp4_segment_size;
    request.header_length = offload.header_length;
    NetHeader header = TRY(make_net_transmit_header(request, length, m_features, m_mtu));
    if (header.gso_type != kNetGsoNone && !m_tso4)
        return Errno::INVAL;
    size_t bytes = m_header_bytes + length;
    uint16_t slots = uint16_t((bytes + kTxSlotBytes - 1) / kTxSlotBytes);
    if (slots > kMaxTxChain)
        return Errno::MSGSIZE;
    // The frame's flow's pair, else the calling CPU's (a thread that moves on meanwhile only
    // shares a lock).
    uint16_t p = 0;
    if (m_pair_count > 1) {
        unsigned cpu = 0;
        if (offload.queue_key == 0) {
            core::PreemptGuard preempt;
            cpu = core::this_cpu().id;
        }
        p = choose_transmit_pair(offload.queue_key, cpu, m_pair_count);
    }
    Pair& pair = m_pairs[p];
    ksync::InlineMutexGuard guard(pair.tx_lock); // every frame: the lock's fast path inline
    if (pair.tx_broken)
        return Errno::IO;
    reclaim_tx(pair);
    // The interrupt thread reclaims when the device catches up; completions that came while
    // interrupts were being re-armed may bring no interrupt, so take them now.
    if ((pair.tx_free_count < slots || pair.tx.free_descriptors() < slots) && pair.tx.enable_interrupts())
        reclaim_tx(pair);
    // A full ring: a few super-segments of 33 slots fill it, and a dropped one costs TCP a
    // whole window of retransmissions. The device works in its own thread and frees the ring
    // within microseconds: wait for it, briefly (the sender is held back, as a full queue
    // would hold back Linux's), then give up (a stopped device must not stall the stack).
    for (uint64_t deadline = 0; pair.tx_free_count < slots || pair.tx.free_descriptors() < slots;) {
        uint64_t now = core::monotonic_ns();
        if (deadline == 0) {
            deadline = now + kTxFullWaitNs;
            m_stats.tx_ring_waits.fetch_add(1, std::memory_order_relaxed);
        }
        if (now >= deadline) {
            m_stats.tx_ring_full.fetch_add(1, std::memory_order_relaxed);
            return Errno::NOBUFS;
        }
        core::sleep_ns(kTxFullPollNs);
        reclaim_tx(pair);
        if (pair.tx_broken)
            return Errno::IO;
    }
    // Header and frame fill the slots in order, one descriptor per slot.
    Segment segments[kMaxTxChain];
    uint16_t first = kNoSlot, previous = kNoSlot;
    size_t done = 0; // bytes of header + frame placed
    for (uint16_t i = 0; i < slots; i++) {
        uint16_t slot = pair.tx_free[--pair.tx_free_count];
        if (previous == kNoSlot)
            first = slot;
        else
            pair.tx_next[previous] = slot;
        previous = slot;
        uint8_t* out = pair.tx_slots + size_t(slot) * kTxSlotBytes;
        size_t used = 0;
        if (i == 0) {
            write_net_header(header, out, m_header_bytes);
            used = m_header_bytes;
        }
        size_t frame_at = done + used - m_header_bytes; // frame bytes already placed
        size_t n = length - frame_at < kTxSlotBytes - used ? length - frame_at : kTxSlotBytes - used;
        lib::mem_copy(out + used, frame + frame_at, n);
        done += used + n;
        segments[i] = Segment{ pair.tx_phys + size_t(slot) * kTxSlotBytes, uint32_t(used + n), false };
    }
    if (pair.tx.add(segments, slots, reinterpret_cast<void*>(uintptr_t(first) + 1)).is_error()) {
        for (uint16_t slot = first; slot != kNoSlot;) {
            uint16_t next_slot = pair.tx_next[slot];
            pair.tx_next[slot] = kNoSlot;
            pair.tx_free[pair.tx_free_count++] = slot;
            slot = next_slot;
        }
        return Errno::IO;
    }
    if (pair.tx.publish() && !m_hold_tx_notifications.load(std::memory_order_relaxed)) [[likely]]
        m_transport.notify(tx_queue(p));
    m_stats.tx_packets.fetch_add(1, std::memory_order_relaxed);
    m_stats.tx_bytes.fetch_add(length, std::memory_order_relaxed);
    m_stats.tx_queue_packets[p].fetch_add(1, std::memory_order_relaxed);
    if (header.gso_type != kNetGsoNone)
        m_stats.tx_segmented.fetch_add(1, std::memory_order_relaxed);
    return {};
}

} // namespace

Result<void> probe_net(Transport& transport)
{
    TRY(start_driver<NetDeviceImpl>(transport));
    return {};
}

} // namespace drivers::virtio
