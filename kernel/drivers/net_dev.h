// The kernel's side of network devices: what a NIC driver offers the network stack, and the
// registry of NICs (eth0, eth1, …).
//
// A driver receives frames in its receive thread and hands each to the receiver the stack
// installed (set_receiver), with what the device said about its checksum; the frame's bytes
// are the driver's and valid only during the call. transmit() takes a whole Ethernet frame
// (copied before it returns) and what the device should complete (a partial checksum, TCP
// segmentation) if it offered to.
#pragma once

#include <atomic>
#include <lib/result.h>
#include <stddef.h>
#include <stdint.h>

namespace drivers {

constexpr size_t kMaxNetDevices = 8;
// Receive/transmit queue pairs a NIC may use (virtio-net multiqueue: one per vCPU).
constexpr size_t kMaxNetQueues = 8;

// What the device finishes for a frame we send. Only what the device offered may be asked
// (can_offload_checksum / can_segment_tcp4).
struct TransmitOffload {
    bool partial_checksum = false; // complete the ones'-complement sum from csum_start
    uint16_t csum_start = 0;       // from the frame's first byte
    uint16_t csum_offset = 0;      // from csum_start: where the 16-bit result goes
    uint16_t tcp4_segment_size = 0; // non-zero: cut this TCP/IPv4 frame into segments of this MSS
    uint16_t header_length = 0;     // Ethernet + IPv4 + TCP header bytes, with segmentation
    // The frame's flow's queue choice (net::PacketMeta::tx_queue_key): a multiqueue NIC sends
    // it on queue key mod its queues, so one flow stays on one queue; 0: the calling CPU's.
    uint32_t queue_key = 0;
};

// A received frame and what the device checked.
struct ReceivedFrame {
    const uint8_t* data = nullptr;
    size_t length = 0;
    bool checksum_valid = false;   // the transport checksum was verified by the device
    bool checksum_partial = false; // the checksum field holds only a partial sum (local peer)
    uint16_t csum_start = 0;
    uint16_t csum_offset = 0;
    uint16_t coalesced_segment_size = 0; // non-zero: several TCP segments merged (LRO)
    uint16_t queue = 0; // the receive queue (< queue_count()): its own thread, its own bursts
};

using FrameReceiver = void (*)(void* context, const ReceivedFrame& frame);
// Called after a burst of frames of receive queue `queue` (every frame the device had
// completed, or at most 32): the stack may have queued them and processes them together now
// (one lock, one ACK per burst). Each queue's frames and bursts come from one thread; several
// queues' threads run at once.
using BurstEnd = void (*)(void* context, uint16_t queue);

struct NetStats {
    std::atomic<uint64_t> rx_packets{ 0 };
    std::atomic<uint64_t> rx_bytes{ 0 };
    std::atomic<uint64_t> rx_bad_header{ 0 };   // the device's header made no sense: dropped
    std::atomic<uint64_t> rx_no_receiver{ 0 };  // no stack attached yet: dropped
    std::atomic<uint64_t> tx_packets{ 0 };
    std::atomic<uint64_t> tx_bytes{ 0 };
    std::atomic<uint64_t> tx_ring_full{ 0 };    // no room in the transmit ring: dropped
    std::atomic<uint64_t> tx_ring_waits{ 0 };   // no room at first: transmit waited for the device
    std::atomic<uint64_t> tx_segmented{ 0 };    // frames the device cut into segments (TSO)
    std::atomic<uint64_t> rx_coalesced{ 0 };    // frames the device coalesced (LRO)
    std::atomic<uint64_t> rx_queue_packets[kMaxNetQueues] = {}; // per receive queue
    std::atomic<uint64_t> tx_queue_packets[kMaxNetQueues] = {}; // per transmit queue
};

class NetDevice {
public:
    virtual ~NetDevice() = default;

    const char* name() const { return m_name; }
    const uint8_t* mac() const { return m_mac; }
    uint16_t mtu() const { return m_mtu; }
    bool link_up() const { return m_link_up.load(std::memory_order_relaxed); }
    bool can_offload_checksum() const { return m_tx_checksum; }
    bool can_segment_tcp4() const { return m_tso4; }
    // The device may deliver coalesced TCP/IPv4 frames of up to 64 KiB (LRO, GUEST_TSO4).
    bool can_receive_coalesced() const { return m_lro4; }
    // Receive (and transmit) queues in use: frames carry their queue's number; transmit uses
    // the frame's flow's queue (TransmitOffload::queue_key), else the calling CPU's.
    uint16_t queue_count() const { return m_queue_count; }
    NetStats& stats() { return m_stats; }

    // Sends one frame of at most mtu() + 14 bytes (with tcp4_segment_size up to 65,535 + 14,
    // and partial_checksum required): MSGSIZE when longer, INVAL for an offload the device did
    // not offer, positions outside the frame or a segment size that breaks the MTU,
    // NOBUFS when the transmit ring is full (counted; the caller may retry or drop).
    virtual Result<void> transmit(const uint8_t* frame, size_t length, const TransmitOffload& offload) = 0;

    // Whether the device has sent everything handed to transmit() (nothing in flight).
    virtual bool transmit_idle() = 0;

    // For tests (fault injection): while held, transmit() queues frames without notifying the
    // device, which then stops taking them — the transmit ring fills as if the device had
    // stalled. Releasing notifies every transmit queue of what waits.
    virtual void hold_transmit_notifications(bool hold) = 0;

    // Installs the receiver (before or after frames arrive; earlier frames are dropped).
    // Replacing a receiver while frames arrive is for tests (which put the old one back): a
    // frame may reach the old receiver with the new context or the reverse, so both must
    // tolerate it — the network service's never changes.
    void set_receiver(FrameReceiver receiver, void* context)
    {
        m_receiver.store(nullptr, std::memory_order_release);
        m_receiver_context = context;
        m_receiver.store(receiver, std::memory_order_release);
    }
    FrameReceiver receiver(void** context) const
    {
        *context = m_receiver_context;
        return m_receiver.load(std::memory_order_acquire);
    }
    // Installs the burst-end callback (the network service's; once, before frames arrive).
    void set_burst_end(BurstEnd burst_end, void* context)
    {
        m_burst_end_context = context;
        m_burst_end.store(burst_end, std::memory_order_release);
    }

protected:
    // For drivers: hands a frame to the stack; end_burst() after the last of a burst.
    void deliver(const ReceivedFrame& frame);
    void end_burst(uint16_t queue);

    char m_name[8] = {};
    uint8_t m_mac[6] = {};
    uint16_t m_mtu = 1500;
    std::atomic<bool> m_link_up{ true };
    bool m_tx_checksum = false;
    bool m_tso4 = false;
    bool m_lro4 = false;
    uint16_t m_queue_count = 1;
    NetStats m_stats;

private:
    friend Result<void> register_net_device(NetDevice& device, const char* description);
    std::atomic<FrameReceiver> m_receiver{ nullptr };
    void* m_receiver_context = nullptr;
    std::atomic<BurstEnd> m_burst_end{ nullptr };
    void* m_burst_end_context = nullptr;
};

// Adds a NIC; it gets the next name (eth0, eth1, …) and is logged with its MAC, MTU, link and
// `description` (the transport and features). BUSY past kMaxNetDevices. Boot only.
Result<void> register_net_device(NetDevice& device, const char* description);

size_t net_device_count();
NetDevice* net_device(size_t index); // nullptr past the count

} // namespace drivers
