// virtio-net configuration and header decoding (net_config.h).
#include <lib/string.h>
#include <virtio/net_config.h>

namespace virtio {
namespace {

// [§5.1.4] Field offsets.
constexpr size_t kMac = 0, kStatus = 6, kMaxPairs = 8, kMtu = 10;

bool has(size_t size, size_t offset, size_t bytes) { return offset + bytes <= size; }

uint16_t le16(const uint8_t* p) { return uint16_t(p[0] | p[1] << 8); }

void store_le16(uint8_t* p, uint16_t v)
{
    p[0] = uint8_t(v);
    p[1] = uint8_t(v >> 8);
}

} // namespace

void parse_net_status(const uint8_t* raw, size_t size, uint64_t features, NetConfig& config)
{
    config.link_up = true;
    config.announce = false;
    if (!(features & kNetStatus) || !raw || !has(size, kStatus, 2))
        return;
    uint16_t status = le16(raw + kStatus);
    config.link_up = (status & kNetStatusLinkUp) != 0;
    config.announce = (features & kNetGuestAnnounce) && (status & kNetStatusAnnounce);
}

Result<NetQueueSizes> choose_net_queue_sizes(uint16_t device_rx, uint16_t device_tx, bool legacy,
                                             const NetQueueLimits& limits)
{
    auto power_of_two = [](uint16_t n) { return n != 0 && (n & (n - 1)) == 0; };
    if (!power_of_two(device_rx) || !power_of_two(device_tx))
        return Errno::NOTSUP;
    NetQueueSizes out{ device_rx, device_tx };
    if (!legacy) {
        if (out.rx > limits.rx_max)
            out.rx = limits.rx_max;
        if (out.tx > limits.tx_max)
            out.tx = limits.tx_max;
        // Each entry pins its buffer for good: with many pairs in a small guest the largest
        // queues would take a good part of its memory.
        size_t pairs = limits.pairs ? limits.pairs : 1;
        while (limits.rx_budget_bytes && out.rx / 2 >= limits.rx_floor &&
               pairs * out.rx * limits.rx_buffer_bytes > limits.rx_budget_bytes)
            out.rx = uint16_t(out.rx / 2);
    }
    if (!power_of_two(out.rx) || !power_of_two(out.tx) || out.rx < limits.rx_min || out.tx < 2)
        return Errno::NOTSUP;
    return out;
}

Result<NetConfig> parse_net_config(const uint8_t* raw, size_t size, uint64_t features,
                                   const NetDriverLimits& limits)
{
    NetConfig out;
    if (!raw)
        size = 0;
    if (features & kNetMac) {
        if (!has(size, kMac, 6))
            return Errno::INVAL;
        bool zero = true;
        for (size_t i = 0; i < 6; i++) {
            out.mac[i] = raw[kMac + i];
            zero = zero && out.mac[i] == 0;
        }
        out.has_mac = !zero && !(out.mac[0] & 1);
        if (!out.has_mac)
            for (uint8_t& b : out.mac)
                b = 0;
    }
    parse_net_status(raw, size, features, out);
    if ((features & kNetMq) && (features & kNetCtrlVq) && has(size, kMaxPairs, 2)) {
        uint16_t pairs = le16(raw + kMaxPairs);
        if (pairs >= 1 && pairs <= 0x8000)
            out.queue_pairs = pairs;
    }
    uint16_t limit = limits.max_queue_pairs ? limits.max_queue_pairs : 1;
    if (out.queue_pairs > limit)
        out.queue_pairs = limit;
    if ((features & kNetMtu) && has(size, kMtu, 2)) {
        uint16_t mtu = le16(raw + kMtu);
        if (mtu >= 68)
            out.mtu = mtu;
    }
    return out;
}

void write_net_header(const NetHeader& header, uint8_t* out, size_t header_size)
{
    out[0] = header.flags;
    out[1] = header.gso_type;
    store_le16(out + 2, header.header_length);
    store_le16(out + 4, header.gso_size);
    store_le16(out + 6, header.csum_start);
    store_le16(out + 8, header.csum_offset);
    if (header_size >= 12)
        store_le16(out + 10, 0); // num_buffers: the driver writes 0 [§5.1.6.2]
}

Result<NetHeader> make_net_transmit_header(const NetTransmitRequest& request, size_t frame_length,
                                           uint64_t features, uint16_t mtu)
{
    constexpr size_t kEthernet = 14, kMinIp = 20, kMinTcp = 20;
    bool segment = request.tcp4_segment_size != 0;
    if (frame_length < kEthernet)
        return Errno::INVAL;
    if (frame_length > (segment ? kNetMaxSegmentedFrame : size_t(mtu) + kEthernet))
        return Errno::MSGSIZE;
    NetHeader header;
    if (request.partial_checksum) {
        if (!(features & kNetCsum) || size_t(request.csum_start) + request.csum_offset + 2 > frame_length)
            return Errno::INVAL;
        header.flags = kNetHdrNeedsCsum;
        header.csum_start = request.csum_start;
        header.csum_offset = request.csum_offset;
    }
    if (segment) {
        if (!(features & kNetHostTso4) || !(features & kNetCsum) || !request.partial_checksum)
            return Errno::INVAL;
        size_t headers = request.header_length;
        // The checksum is TCP's: its header starts at csum_start, after Ethernet and IPv4, and
        // ends within header_length; payload follows.
        if (headers < kEthernet + kMinIp + kMinTcp || headers >= frame_length ||
            size_t(request.csum_start) < kEthernet + kMinIp || size_t(request.csum_start) + kMinTcp > headers ||
            size_t(request.csum_start) + request.csum_offset + 2 > headers)
            return Errno::INVAL;
        if (headers - kEthernet + request.tcp4_segment_size > mtu)
            return Errno::INVAL;
        header.gso_type = kNetGsoTcpV4;
        header.gso_size = request.tcp4_segment_size;
        header.header_length = uint16_t(headers);
    }
    return header;
}

Result<NetReceiveInfo> parse_net_receive_header(const uint8_t* raw, size_t header_size,
                                                size_t frame_length, uint64_t features,
                                                uint16_t max_buffers)
{
    if (!raw || header_size < 10)
        return Errno::INVAL;
    NetReceiveInfo info;
    uint8_t flags = raw[0];
    uint8_t gso = raw[1];
    if (features & kNetMergeableRxBuffers) {
        if (header_size < 12)
            return Errno::INVAL;
        info.buffers = le16(raw + 10);
        if (info.buffers == 0 || info.buffers > max_buffers)
            return Errno::INVAL;
    }
    if (flags & ~(kNetHdrNeedsCsum | kNetHdrDataValid | kNetHdrRscInfo))
        return Errno::INVAL;
    if (flags & kNetHdrRscInfo)
        return Errno::INVAL; // only with VIRTIO_NET_F_RSC_EXT, which we never negotiate
    if (flags & (kNetHdrNeedsCsum | kNetHdrDataValid)) {
        if (!(features & kNetGuestCsum))
            return Errno::INVAL;
    }
    if (flags & kNetHdrNeedsCsum) {
        info.checksum_partial = true;
        info.csum_start = le16(raw + 6);
        info.csum_offset = le16(raw + 8);
        // The 16-bit field must lie within the frame (its first buffer for mergeable packets
        // is checked by the caller against the whole length it assembled).
        if (size_t(info.csum_start) + info.csum_offset + 2 > frame_length)
            return Errno::INVAL;
    }
    info.checksum_valid = (flags & kNetHdrDataValid) != 0;
    uint8_t type = gso & ~kNetGsoEcn;
    if ((gso & kNetGsoEcn) && !(features & kNetGuestEcn))
        return Errno::INVAL;
    switch (type) {
    case kNetGsoNone:
        if (gso & kNetGsoEcn)
            return Errno::INVAL;
        break;
    case kNetGsoTcpV4:
        if (!(features & kNetGuestTso4))
            return Errno::INVAL;
        break;
    case kNetGsoTcpV6:
        if (!(features & kNetGuestTso6))
            return Errno::INVAL;
        break;
    case kNetGsoUdp:
        if (!(features & kNetGuestUfo))
            return Errno::INVAL;
        break;
    default:
        return Errno::INVAL;
    }
    if (type != kNetGsoNone) {
        info.gso_type = type;
        info.gso_size = le16(raw + 4);
        if (info.gso_size == 0)
            return Errno::INVAL;
    }
    return info;
}

uint16_t NetReceiveGather::begin(const uint8_t* buffer, uint32_t written, size_t header_size, uint64_t features,
                                 uint16_t max_buffers)
{
    m_first = buffer;
    m_first_length = written;
    m_header_size = header_size;
    m_features = features;
    m_max_buffers = max_buffers;
    m_expected = 1;
    m_taken = 1;
    m_total = 0;
    m_bad = written > m_buffer_size || written < header_size + 14;
    if (!m_bad && (features & kNetMergeableRxBuffers) && header_size >= 12) {
        uint16_t buffers = net_header_buffers(buffer);
        if (buffers > 1 && buffers <= max_buffers)
            m_expected = buffers;
    }
    return m_expected;
}

void NetReceiveGather::add(const uint8_t* buffer, uint32_t written)
{
    if (m_taken >= m_expected) {
        m_bad = true;
        return;
    }
    m_taken++;
    if (m_bad)
        return;
    if (m_total == 0) {
        if (m_first_length > m_scratch_size) {
            m_bad = true;
            return;
        }
        lib::mem_copy(m_scratch, m_first, m_first_length);
        m_total = m_first_length;
    }
    if (written > m_buffer_size || written > m_scratch_size - m_total) {
        m_bad = true;
        return;
    }
    lib::mem_copy(m_scratch + m_total, buffer, written);
    m_total += written;
}

Result<NetReceivedPacket> NetReceiveGather::finish()
{
    if (m_bad || m_taken != m_expected || !m_first)
        return Errno::INVAL;
    const uint8_t* header = m_expected > 1 ? m_scratch : m_first;
    size_t total = m_expected > 1 ? m_total : m_first_length;
    NetReceivedPacket packet;
    packet.frame = header + m_header_size;
    packet.length = total - m_header_size;
    packet.info = TRY(parse_net_receive_header(header, m_header_size, packet.length, m_features, m_max_buffers));
    if (packet.info.buffers != m_expected)
        return Errno::INVAL;
    return packet;
}

} // namespace virtio
