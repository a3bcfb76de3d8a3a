// virtio-net configuration and header decoding (net_config.h).
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

} // namespace virtio
