// fuzz-links: virtio lib
// libFuzzer target: a lying virtio-net device. The first 8 bytes are the negotiated features,
// the next 2 the frame length the header claims to describe; the rest is split between the
// device configuration (first 12 bytes) and a received packet header. Decoding never reads
// past the bytes it was given, and what it accepts keeps the checksum field inside the frame.
#include <virtio/net_config.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size < 10)
        return 0;
    uint64_t features;
    uint16_t frame;
    std::memcpy(&features, data, 8);
    std::memcpy(&frame, data + 8, 2);
    data += 10;
    size -= 10;
    size_t config_size = size < virtio::kNetConfigBytes ? size : virtio::kNetConfigBytes;
    std::vector<uint8_t> config(data, data + config_size);
    virtio::NetDriverLimits limits;
    limits.max_queue_pairs = 4;
    auto c = virtio::parse_net_config(config.data(), config.size(), features, limits);
    if (!c.is_error()) {
        const virtio::NetConfig& v = c.value();
        if (v.queue_pairs < 1 || v.queue_pairs > 4 || v.mtu < 68 || (v.has_mac && (v.mac[0] & 1)))
            std::abort();
    }
    std::vector<uint8_t> header(data + config_size, data + size);
    if (header.size() < 10)
        return 0;
    size_t header_size = header.size() >= 12 ? 12 : 10;
    auto r = virtio::parse_net_receive_header(header.data(), header_size, frame, features, 17);
    if (r.is_error())
        return 0;
    const virtio::NetReceiveInfo& info = r.value();
    if (info.buffers < 1 || info.buffers > 17)
        std::abort();
    if (info.checksum_partial && size_t(info.csum_start) + info.csum_offset + 2 > frame)
        std::abort();
    if (info.gso_type != virtio::kNetGsoNone && info.gso_size == 0)
        std::abort();
    return 0;
}
