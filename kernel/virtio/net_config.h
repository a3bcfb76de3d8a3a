// virtio-net [virtio-v1.2 §5.1]: the feature bits, the device configuration decoded for the
// driver, and the per-packet header (struct virtio_net_hdr) in both directions. All of it is
// device input on the receive side, so every field is checked: the configuration falls back
// to safe defaults, a received header that makes no sense drops the packet.
#pragma once

#include <lib/result.h>
#include <stddef.h>
#include <stdint.h>

namespace virtio {

// [§5.1.3] Feature bits.
constexpr uint64_t kNetCsum = 1ull << 0;             // device completes our partial checksums
constexpr uint64_t kNetGuestCsum = 1ull << 1;        // device may hand us partial / verified checksums
constexpr uint64_t kNetCtrlGuestOffloads = 1ull << 2;
constexpr uint64_t kNetMtu = 1ull << 3;
constexpr uint64_t kNetMac = 1ull << 5;
constexpr uint64_t kNetGuestTso4 = 1ull << 7;        // device may coalesce (LRO) to us
constexpr uint64_t kNetGuestTso6 = 1ull << 8;
constexpr uint64_t kNetGuestEcn = 1ull << 9;
constexpr uint64_t kNetGuestUfo = 1ull << 10;
constexpr uint64_t kNetHostTso4 = 1ull << 11;        // device segments our large TCP sends
constexpr uint64_t kNetHostTso6 = 1ull << 12;
constexpr uint64_t kNetHostEcn = 1ull << 13;
constexpr uint64_t kNetHostUfo = 1ull << 14;
constexpr uint64_t kNetMergeableRxBuffers = 1ull << 15;
constexpr uint64_t kNetStatus = 1ull << 16;
constexpr uint64_t kNetCtrlVq = 1ull << 17;
constexpr uint64_t kNetCtrlRx = 1ull << 18;
constexpr uint64_t kNetCtrlVlan = 1ull << 19;
constexpr uint64_t kNetGuestAnnounce = 1ull << 21;
constexpr uint64_t kNetMq = 1ull << 22;
constexpr uint64_t kNetCtrlMacAddr = 1ull << 23;

// [§5.1.4] Status bits.
constexpr uint16_t kNetStatusLinkUp = 1;
constexpr uint16_t kNetStatusAnnounce = 2;

// The bytes of struct virtio_net_config the driver reads (mac, status, max pairs, mtu).
constexpr size_t kNetConfigBytes = 12;

struct NetDriverLimits {
    uint16_t max_queue_pairs = 1; // e.g. the CPU count
};

struct NetConfig {
    uint8_t mac[6] = {};
    bool has_mac = false;      // false: the driver picks a locally administered address
    bool link_up = true;       // without kNetStatus the link is always up [§5.1.4.2]
    bool announce = false;     // the device asks for a gratuitous announcement
    uint16_t mtu = 1500;
    uint16_t queue_pairs = 1;  // to request with VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET when > 1
};

// Decodes `size` bytes of configuration for the negotiated `features`. Rules:
//   mac     used with kNetMac unless it is multicast or all zero (then has_mac = false)
//   status  with kNetStatus: link and announce bits; other bits ignored
//   pairs   with kNetMq and kNetCtrlVq: 1..0x8000 [§5.1.4.1], else 1; at most the driver's limit
//   mtu     with kNetMtu: 68..65535 [§5.1.4.1], else 1500
// Fails (INVAL) only when kNetMac is negotiated and the bytes are missing.
Result<NetConfig> parse_net_config(const uint8_t* raw, size_t size, uint64_t features,
                                   const NetDriverLimits& limits);

// Re-reads only the status field (after a configuration-change interrupt).
void parse_net_status(const uint8_t* raw, size_t size, uint64_t features, NetConfig& config);

// The sizes of one receive/transmit queue pair. A modern driver may pick any power of two up
// to the device's maximum (queue_size [§4.1.4.3]); a legacy device's queues have exactly its
// size. The driver's wishes:
struct NetQueueLimits {
    uint16_t rx_max = 1024;       // receive entries at most (QEMU's rx_queue_size goes to 1024)
    uint16_t tx_max = 256;        // transmit entries at most
    uint16_t rx_floor = 256;      // the memory budget never shrinks the receive queue below this
    uint16_t rx_min = 1;          // fewer receive entries are unusable (a coalesced frame's buffers)
    size_t rx_buffer_bytes = 2048; // memory behind one receive entry
    size_t rx_budget_bytes = 0;   // receive buffers of all pairs together (0: no budget)
    uint16_t pairs = 1;           // queue pairs sharing the budget
};

struct NetQueueSizes {
    uint16_t rx = 0;
    uint16_t tx = 0;
};

// The sizes for a pair whose queues the device offers with at most `device_rx` / `device_tx`
// entries. Modern: the device's maximum, capped at rx_max / tx_max, then the receive size
// halved while pairs * rx * rx_buffer_bytes exceeds the budget (not below rx_floor, nor below
// the device's maximum when that is smaller). Legacy: the device's sizes as they are. NOTSUP
// when a size is 0 or not a power of two, rx below rx_min or tx below 2.
Result<NetQueueSizes> choose_net_queue_sizes(uint16_t device_rx, uint16_t device_tx, bool legacy,
                                             const NetQueueLimits& limits);

// The transmit queue pair (< pairs) of a frame: its flow's, queue_key mod pairs, when it has a
// key (drivers::TransmitOffload::queue_key), else the sending CPU's. A flow's frames never
// take two queues — the device serves its queues independently and would interleave them in
// any order — and Linux's multiqueue tap steers a flow's frames to the guest on the queue it
// last saw the guest send the flow on, so the flow's receive stays on one queue too.
inline uint16_t choose_transmit_pair(uint32_t queue_key, unsigned cpu, uint16_t pairs)
{
    if (pairs <= 1)
        return 0;
    return uint16_t(queue_key != 0 ? queue_key % pairs : cpu % pairs);
}

// [§5.1.6] struct virtio_net_hdr.
constexpr uint8_t kNetHdrNeedsCsum = 1;
constexpr uint8_t kNetHdrDataValid = 2;
constexpr uint8_t kNetHdrRscInfo = 4;
constexpr uint8_t kNetGsoNone = 0;
constexpr uint8_t kNetGsoTcpV4 = 1;
constexpr uint8_t kNetGsoUdp = 3;
constexpr uint8_t kNetGsoTcpV6 = 4;
constexpr uint8_t kNetGsoUdpL4 = 5;
constexpr uint8_t kNetGsoEcn = 0x80;

// The header's size: 12 bytes with VIRTIO_F_VERSION_1 or mergeable buffers, else 10.
constexpr size_t net_header_size(bool modern_or_mergeable) { return modern_or_mergeable ? 12 : 10; }

struct NetHeader {
    uint8_t flags = 0;
    uint8_t gso_type = kNetGsoNone;
    uint16_t header_length = 0;  // hdr_len: Ethernet + IP + TCP header bytes (a hint)
    uint16_t gso_size = 0;       // MSS of the segments to cut
    uint16_t csum_start = 0;     // from the start of the frame
    uint16_t csum_offset = 0;    // from csum_start: where the 16-bit checksum goes
    uint16_t num_buffers = 1;    // receive, mergeable buffers: the buffers of this packet
};

// Writes `header` into `out` (net_header_size bytes).
void write_net_header(const NetHeader& header, uint8_t* out, size_t header_size);

// What the driver asks the device to finish for one frame it sends.
struct NetTransmitRequest {
    bool partial_checksum = false; // NEEDS_CSUM: complete the sum from csum_start
    uint16_t csum_start = 0;       // from the frame's first byte
    uint16_t csum_offset = 0;      // from csum_start
    uint16_t tcp4_segment_size = 0; // non-zero: TSO, cut into segments of this payload size
    uint16_t header_length = 0;     // with TSO: Ethernet + IPv4 + TCP header bytes
};

// The largest frame with TSO: a 65,535-byte IPv4 datagram and its Ethernet header.
constexpr size_t kNetMaxSegmentedFrame = 65535 + 14;

// The header for a frame of `frame_length` bytes (Ethernet header included) on a link of
// `mtu`, with `features` negotiated [§5.1.6.2]. MSGSIZE: longer than mtu + 14 without TSO,
// than kNetMaxSegmentedFrame with it; INVAL: an offload not negotiated (TSO needs CSUM and
// HOST_TSO4, and a partial checksum), a checksum position outside the frame, a TSO header
// length that does not cover Ethernet + IPv4 + TCP (20 bytes each at least) with the checksum
// inside it and payload after it, or a segment size whose pieces would exceed the MTU.
Result<NetHeader> make_net_transmit_header(const NetTransmitRequest& request, size_t frame_length,
                                           uint64_t features, uint16_t mtu);

// What a received packet's header means for the stack, once checked.
struct NetReceiveInfo {
    uint16_t buffers = 1;          // the packet spans this many receive buffers
    bool checksum_valid = false;   // DATA_VALID: the device verified the transport checksum
    bool checksum_partial = false; // NEEDS_CSUM: the checksum is only partial (csum_* below)
    uint16_t csum_start = 0;
    uint16_t csum_offset = 0;
    uint8_t gso_type = kNetGsoNone; // coalesced (LRO) packet: the stack sees one large segment
    uint16_t gso_size = 0;
};

// The raw num_buffers field of a mergeable receive header (12 bytes): how many buffers to
// gather before the whole header can be checked with parse_net_receive_header.
inline uint16_t net_header_buffers(const uint8_t* raw) { return uint16_t(raw[10] | raw[11] << 8); }

// Decodes a received header (`header_size` bytes) for a packet of `frame_length` bytes after
// the header (all its buffers together), with
// `features` negotiated and at most `max_buffers` buffers per packet. INVAL when the device
// used something we did not negotiate, num_buffers is 0 or too many, or the checksum
// position lies outside the frame.
Result<NetReceiveInfo> parse_net_receive_header(const uint8_t* raw, size_t header_size,
                                                size_t frame_length, uint64_t features,
                                                uint16_t max_buffers);

// A received packet, gathered and checked: `frame` (Ethernet header first) points into the
// first buffer, or into the gatherer's scratch memory when it spanned several.
struct NetReceivedPacket {
    const uint8_t* frame = nullptr;
    size_t length = 0;
    NetReceiveInfo info;
};

// Puts a received packet together from its buffers [§5.1.6.4]: the first holds the header and
// the frame's start; with mergeable buffers num_buffers - 1 more hold the rest, copied after it
// into `scratch`. Everything the device wrote is its word: num_buffers, the lengths (beyond
// `buffer_size` each, beyond `scratch_size` in all), the header fields — a lie makes finish()
// fail, never a read or write out of bounds. One packet at a time; not synchronised.
class NetReceiveGather {
public:
    // `scratch` holds `scratch_size` bytes (header + the largest frame accepted).
    NetReceiveGather(uint8_t* scratch, size_t scratch_size, size_t buffer_size)
        : m_scratch(scratch), m_scratch_size(scratch_size), m_buffer_size(buffer_size)
    {
    }

    // Starts a packet with its first buffer (`written` bytes). Returns how many buffers it
    // spans, this one included — what the caller takes from the ring before finish(): 1
    // without mergeable buffers or when num_buffers is 0 or above `max_buffers` (finish()
    // then rejects the packet).
    uint16_t begin(const uint8_t* buffer, uint32_t written, size_t header_size, uint64_t features,
                   uint16_t max_buffers);
    // The packet's next buffer.
    void add(const uint8_t* buffer, uint32_t written);
    // The packet, checked (parse_net_receive_header over the whole frame, at least an Ethernet
    // header, no more than the scratch memory holds). INVAL: the device lied; the buffers
    // are the caller's to post again either way.
    Result<NetReceivedPacket> finish();

private:
    uint8_t* m_scratch;
    size_t m_scratch_size;
    size_t m_buffer_size;
    const uint8_t* m_first = nullptr;
    size_t m_first_length = 0;
    size_t m_header_size = 0;
    uint64_t m_features = 0;
    uint16_t m_max_buffers = 1;
    uint16_t m_expected = 1;
    uint16_t m_taken = 0;
    size_t m_total = 0; // bytes gathered in scratch (header included) once a second buffer came
    bool m_bad = false;
};

// The control queue [§5.1.6.5]: class/command numbers and the ack the device writes.
constexpr uint8_t kNetCtrlClassMq = 4;
constexpr uint8_t kNetCtrlMqPairsSet = 0;
constexpr uint8_t kNetCtrlOk = 0;

} // namespace virtio
