// fuzz-links: virtio lib
// libFuzzer target: a lying virtio-net device. The first 8 bytes are the negotiated features,
// the next 2 the frame length the header claims to describe; the rest is split between the
// device configuration (first 12 bytes) and a received packet header. Decoding never reads
// past the bytes it was given, and what it accepts keeps the checksum field inside the frame.
// The same bytes then play a device filling mergeable receive buffers (NetReceiveGather):
// num_buffers, every written length (also beyond the buffer) and the gso/checksum fields
// (LRO: gso_size, hdr_len) are the device's lies; a packet it accepts lies within the memory
// given, spans the buffers the header announced and has its checksum field inside the frame.
// Last, the transmit header builder gets the bytes as an offload request: what it accepts
// keeps every position inside the frame and each TSO piece within the MTU.
#include <virtio/net_config.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr size_t kBuffer = 64;  // small buffers: lengths reach past them quickly
constexpr uint16_t kMaxBuffers = 6;

// The device's buffers: the first carries the 12-byte header from `bytes`; the byte after it
// says how many buffers the device really returns (1-8, whatever num_buffers claims); each
// buffer's written length is the next byte (up to 255 for a 64-byte buffer: a lie).
void gather(const uint8_t* bytes, size_t size, uint64_t features)
{
    static uint8_t buffers[8][kBuffer];
    static uint8_t scratch[kBuffer * kMaxBuffers];
    for (size_t b = 0; b < 8; b++)
        for (size_t i = 0; i < kBuffer; i++)
            buffers[b][i] = bytes[(b * kBuffer + i) % size];
    std::memcpy(buffers[0], bytes, 12);
    size_t at = 12;
    auto next = [&]() -> uint8_t { return at < size ? bytes[at++] : 0; };
    unsigned returned = 1 + next() % 8;
    virtio::NetReceiveGather g(scratch, sizeof scratch, kBuffer);
    uint16_t want = g.begin(buffers[0], next(), 12, features, kMaxBuffers);
    if (want < 1 || want > kMaxBuffers)
        std::abort();
    for (unsigned i = 1; i < returned; i++)
        g.add(buffers[i], next());
    auto r = g.finish();
    if (r.is_error())
        return;
    const virtio::NetReceivedPacket& p = r.value();
    if (returned != want || p.length < 14)
        std::abort();
    bool in_first = p.frame >= &buffers[0][0] && p.frame + p.length <= &buffers[0][0] + kBuffer;
    bool in_scratch = p.frame >= scratch && p.frame + p.length <= scratch + sizeof scratch;
    if (!(want == 1 ? in_first : in_scratch))
        std::abort();
    if (p.info.checksum_partial && size_t(p.info.csum_start) + p.info.csum_offset + 2 > p.length)
        std::abort();
    if (p.info.gso_type != virtio::kNetGsoNone && p.info.gso_size == 0)
        std::abort();
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < p.length; i++)
        sink = sink ^ p.frame[i]; // ASan: every byte claimed is readable
}

void build(const uint8_t* bytes, size_t size, uint64_t features)
{
    virtio::NetTransmitRequest request;
    request.partial_checksum = bytes[0] & 1;
    request.csum_start = uint16_t(bytes[1] | bytes[2] << 8);
    request.csum_offset = bytes[3];
    request.tcp4_segment_size = uint16_t(bytes[4] | bytes[5] << 8);
    request.header_length = uint16_t(bytes[6] | bytes[7] << 8);
    size_t frame = size_t(bytes[8] | bytes[9] << 8) + (size > 10 ? bytes[10] : 0);
    uint16_t mtu = uint16_t(68 + (size > 11 ? bytes[11] * 64 : 1432));
    auto h = virtio::make_net_transmit_header(request, frame, features, mtu);
    if (h.is_error())
        return;
    const virtio::NetHeader& v = h.value();
    if ((v.flags & virtio::kNetHdrNeedsCsum) && size_t(v.csum_start) + v.csum_offset + 2 > frame)
        std::abort();
    if (v.gso_type == virtio::kNetGsoNone && frame > size_t(mtu) + 14)
        std::abort();
    if (v.gso_type != virtio::kNetGsoNone &&
        (!(v.flags & virtio::kNetHdrNeedsCsum) || v.header_length >= frame || v.gso_size == 0 ||
         v.header_length - 14u + v.gso_size > mtu || frame > virtio::kNetMaxSegmentedFrame))
        std::abort();
}

} // namespace

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
    if (header.size() >= 12)
        gather(header.data(), header.size(), features);
    if (header.size() >= 10)
        build(header.data(), header.size(), features);
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
