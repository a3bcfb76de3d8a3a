// Unit tests for virtio-net's configuration decoding and packet headers: defaults without
// features, bad MAC / MTU / pair counts ignored, every way a received header can lie, the
// transmit header builder (checksum offload, TSO) and the gathering of mergeable buffers
// (coalesced LRO frames up to 64 KiB, lengths and counts that lie).
#include <virtio/net_config.h>

#include <gtest/gtest.h>
#include <string.h>
#include <utility>
#include <vector>

namespace {

using namespace virtio;

struct RawConfig {
    uint8_t bytes[kNetConfigBytes] = {};
    RawConfig(const uint8_t (&mac)[6], uint16_t status, uint16_t pairs, uint16_t mtu)
    {
        memcpy(bytes, mac, 6);
        bytes[6] = uint8_t(status);
        bytes[7] = uint8_t(status >> 8);
        bytes[8] = uint8_t(pairs);
        bytes[9] = uint8_t(pairs >> 8);
        bytes[10] = uint8_t(mtu);
        bytes[11] = uint8_t(mtu >> 8);
    }
};

constexpr uint8_t kQemuMac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

TEST(NetConfig, FieldsNeedTheirFeatures)
{
    RawConfig raw(kQemuMac, 0, 4, 9000);
    NetDriverLimits limits;
    limits.max_queue_pairs = 8;
    auto none = parse_net_config(raw.bytes, sizeof raw.bytes, 0, limits);
    ASSERT_FALSE(none.is_error());
    EXPECT_FALSE(none.value().has_mac);
    EXPECT_TRUE(none.value().link_up); // no STATUS feature: always up
    EXPECT_EQ(none.value().mtu, 1500);
    EXPECT_EQ(none.value().queue_pairs, 1);

    uint64_t all = kNetMac | kNetStatus | kNetMq | kNetCtrlVq | kNetMtu;
    auto full = parse_net_config(raw.bytes, sizeof raw.bytes, all, limits);
    ASSERT_FALSE(full.is_error());
    EXPECT_TRUE(full.value().has_mac);
    EXPECT_EQ(memcmp(full.value().mac, kQemuMac, 6), 0);
    EXPECT_FALSE(full.value().link_up); // status 0: link down
    EXPECT_EQ(full.value().mtu, 9000);
    EXPECT_EQ(full.value().queue_pairs, 4);
}

TEST(NetConfig, BadValuesFallBack)
{
    NetDriverLimits limits;
    limits.max_queue_pairs = 2;
    uint64_t all = kNetMac | kNetStatus | kNetMq | kNetCtrlVq | kNetMtu;
    const uint8_t multicast[6] = {0x01, 0, 0x5e, 0, 0, 1};
    RawConfig raw(multicast, kNetStatusLinkUp | 0xff00, 0, 40);
    auto r = parse_net_config(raw.bytes, sizeof raw.bytes, all, limits);
    ASSERT_FALSE(r.is_error());
    EXPECT_FALSE(r.value().has_mac);
    EXPECT_TRUE(r.value().link_up);
    EXPECT_EQ(r.value().mtu, 1500);       // below 68
    EXPECT_EQ(r.value().queue_pairs, 1);  // 0 pairs is invalid

    RawConfig many(kQemuMac, 1, 0x9000, 1500);
    EXPECT_EQ(parse_net_config(many.bytes, sizeof many.bytes, all, limits).value().queue_pairs, 1);
    RawConfig some(kQemuMac, 1, 16, 1500);
    EXPECT_EQ(parse_net_config(some.bytes, sizeof some.bytes, all, limits).value().queue_pairs, 2);
    // MQ without a control queue cannot be used.
    EXPECT_EQ(parse_net_config(some.bytes, sizeof some.bytes, kNetMq, limits).value().queue_pairs, 1);
}

TEST(NetConfig, ShortConfiguration)
{
    RawConfig raw(kQemuMac, 1, 1, 1500);
    NetDriverLimits limits;
    EXPECT_TRUE(parse_net_config(raw.bytes, 5, kNetMac, limits).is_error());
    auto r = parse_net_config(raw.bytes, 6, kNetMac | kNetStatus | kNetMtu, limits);
    ASSERT_FALSE(r.is_error());
    EXPECT_TRUE(r.value().link_up);
    EXPECT_EQ(r.value().mtu, 1500);
    EXPECT_FALSE(parse_net_config(nullptr, 0, 0, limits).is_error());
}

TEST(NetConfig, StatusChange)
{
    RawConfig raw(kQemuMac, kNetStatusLinkUp | kNetStatusAnnounce, 1, 1500);
    NetConfig c;
    parse_net_status(raw.bytes, sizeof raw.bytes, kNetStatus, c);
    EXPECT_TRUE(c.link_up);
    EXPECT_FALSE(c.announce); // not negotiated
    parse_net_status(raw.bytes, sizeof raw.bytes, kNetStatus | kNetGuestAnnounce, c);
    EXPECT_TRUE(c.announce);
}

// The driver's limits (kernel/drivers/virtio_net.cc): 1024 receive entries of 2 KiB, 256
// transmit entries, at least 16 receive entries.
NetQueueLimits driver_limits(size_t budget, uint16_t pairs)
{
    NetQueueLimits l;
    l.rx_max = 1024;
    l.tx_max = 256;
    l.rx_floor = 256;
    l.rx_min = 16;
    l.rx_buffer_bytes = 2048;
    l.rx_budget_bytes = budget;
    l.pairs = pairs;
    return l;
}

TEST(NetQueueSizes, ModernTakesUpToTheLimits)
{
    constexpr size_t kPlenty = size_t(1) << 30;
    auto sizes = [](uint16_t rx, uint16_t tx, const NetQueueLimits& l) {
        auto r = choose_net_queue_sizes(rx, tx, false, l);
        EXPECT_FALSE(r.is_error());
        return r.is_error() ? std::pair<int, int>(-1, -1) : std::pair<int, int>(r.value().rx, r.value().tx);
    };
    // QEMU's default (256/256), rx_queue_size=1024, and a device offering more than we want.
    EXPECT_EQ(sizes(256, 256, driver_limits(kPlenty, 1)), std::make_pair(256, 256));
    EXPECT_EQ(sizes(1024, 256, driver_limits(kPlenty, 1)), std::make_pair(1024, 256));
    EXPECT_EQ(sizes(32768, 1024, driver_limits(kPlenty, 1)), std::make_pair(1024, 256));
    EXPECT_EQ(sizes(512, 64, driver_limits(kPlenty, 1)), std::make_pair(512, 64));
    // No budget: the limits alone.
    EXPECT_EQ(sizes(1024, 256, driver_limits(0, 7)), std::make_pair(1024, 256));
    // The budget: 2 pairs of 1024 x 2 KiB fit 4 MiB; 7 pairs get 512 each in 8 MiB (7 MiB),
    // 256 each in 4 MiB (3.5 MiB), and never less than the floor however small the budget.
    EXPECT_EQ(sizes(1024, 256, driver_limits(4 << 20, 2)), std::make_pair(1024, 256));
    EXPECT_EQ(sizes(1024, 256, driver_limits(4 << 20, 3)), std::make_pair(512, 256));
    EXPECT_EQ(sizes(1024, 256, driver_limits(8 << 20, 7)), std::make_pair(512, 256));
    EXPECT_EQ(sizes(1024, 256, driver_limits(4 << 20, 7)), std::make_pair(256, 256));
    EXPECT_EQ(sizes(1024, 256, driver_limits(1, 7)), std::make_pair(256, 256));
    // A device below the floor keeps its size.
    EXPECT_EQ(sizes(128, 128, driver_limits(1, 7)), std::make_pair(128, 128));
}

TEST(NetQueueSizes, LegacyTakesTheDeviceSizes)
{
    // A legacy queue's size is the device's: no cap, no budget.
    auto r = choose_net_queue_sizes(1024, 1024, true, driver_limits(1, 7));
    ASSERT_FALSE(r.is_error());
    EXPECT_EQ(r.value().rx, 1024);
    EXPECT_EQ(r.value().tx, 1024);
    EXPECT_EQ(choose_net_queue_sizes(8, 256, true, driver_limits(0, 1)).error(), Errno::NOTSUP);
}

TEST(NetQueueSizes, UnusableQueuesAreRefused)
{
    for (bool legacy : {false, true}) {
        EXPECT_EQ(choose_net_queue_sizes(0, 256, legacy, driver_limits(0, 1)).error(), Errno::NOTSUP);
        EXPECT_EQ(choose_net_queue_sizes(256, 0, legacy, driver_limits(0, 1)).error(), Errno::NOTSUP);
        EXPECT_EQ(choose_net_queue_sizes(768, 256, legacy, driver_limits(0, 1)).error(), Errno::NOTSUP);
        EXPECT_EQ(choose_net_queue_sizes(256, 100, legacy, driver_limits(0, 1)).error(), Errno::NOTSUP);
        EXPECT_EQ(choose_net_queue_sizes(8, 256, legacy, driver_limits(0, 1)).error(), Errno::NOTSUP); // < 16
        EXPECT_EQ(choose_net_queue_sizes(256, 1, legacy, driver_limits(0, 1)).error(), Errno::NOTSUP);
    }
    EXPECT_FALSE(choose_net_queue_sizes(16, 2, false, driver_limits(0, 1)).is_error());
}

TEST(NetHeader, WriteLayout)
{
    NetHeader h;
    h.flags = kNetHdrNeedsCsum;
    h.gso_type = kNetGsoTcpV4;
    h.header_length = 54;
    h.gso_size = 1448;
    h.csum_start = 34;
    h.csum_offset = 16;
    uint8_t out[12];
    memset(out, 0xaa, sizeof out);
    write_net_header(h, out, 12);
    const uint8_t expect[12] = {1, 1, 54, 0, 0xa8, 0x05, 34, 0, 16, 0, 0, 0};
    EXPECT_EQ(memcmp(out, expect, 12), 0);
    uint8_t legacy[12];
    memset(legacy, 0xaa, sizeof legacy);
    write_net_header(h, legacy, 10);
    EXPECT_EQ(legacy[10], 0xaa); // untouched beyond 10 bytes
}

uint8_t* header(uint8_t (&raw)[12], uint8_t flags, uint8_t gso, uint16_t gso_size, uint16_t start,
                uint16_t offset, uint16_t buffers)
{
    memset(raw, 0, 12);
    raw[0] = flags;
    raw[1] = gso;
    raw[4] = uint8_t(gso_size);
    raw[5] = uint8_t(gso_size >> 8);
    raw[6] = uint8_t(start);
    raw[7] = uint8_t(start >> 8);
    raw[8] = uint8_t(offset);
    raw[9] = uint8_t(offset >> 8);
    raw[10] = uint8_t(buffers);
    raw[11] = uint8_t(buffers >> 8);
    return raw;
}

TEST(NetReceiveHeader, AcceptsWhatWasNegotiated)
{
    uint8_t raw[12];
    uint64_t f = kNetMergeableRxBuffers | kNetGuestCsum | kNetGuestTso4;
    auto plain = parse_net_receive_header(header(raw, 0, 0, 0, 0, 0, 1), 12, 60, f, 17);
    ASSERT_FALSE(plain.is_error());
    EXPECT_EQ(plain.value().buffers, 1);
    EXPECT_FALSE(plain.value().checksum_partial);

    auto partial = parse_net_receive_header(header(raw, kNetHdrNeedsCsum, kNetGsoTcpV4, 1448, 34, 16, 3),
                                            12, 4000, f, 17);
    ASSERT_FALSE(partial.is_error());
    EXPECT_EQ(net_header_buffers(raw), 3);
    EXPECT_EQ(partial.value().buffers, 3);
    EXPECT_TRUE(partial.value().checksum_partial);
    EXPECT_EQ(partial.value().csum_start, 34);
    EXPECT_EQ(partial.value().csum_offset, 16);
    EXPECT_EQ(partial.value().gso_type, kNetGsoTcpV4);
    EXPECT_EQ(partial.value().gso_size, 1448);

    auto valid = parse_net_receive_header(header(raw, kNetHdrDataValid, 0, 0, 0, 0, 1), 12, 60, f, 17);
    ASSERT_FALSE(valid.is_error());
    EXPECT_TRUE(valid.value().checksum_valid);

    // Legacy header without mergeable buffers: 10 bytes, always one buffer.
    auto legacy = parse_net_receive_header(header(raw, 0, 0, 0, 0, 0, 0), 10, 60, 0, 1);
    ASSERT_FALSE(legacy.is_error());
    EXPECT_EQ(legacy.value().buffers, 1);
}

TEST(NetReceiveHeader, RejectsLies)
{
    uint8_t raw[12];
    uint64_t f = kNetMergeableRxBuffers | kNetGuestCsum | kNetGuestTso4;
    auto bad = [&](uint8_t* h, size_t size, size_t frame, uint64_t features) {
        return parse_net_receive_header(h, size, frame, features, 17).is_error();
    };
    EXPECT_TRUE(bad(header(raw, 0, 0, 0, 0, 0, 0), 12, 60, f));             // zero buffers
    EXPECT_TRUE(bad(header(raw, 0, 0, 0, 0, 0, 18), 12, 60, f));            // too many
    EXPECT_TRUE(bad(header(raw, 0, 0, 0, 0, 0, 1), 10, 60, f));             // mergeable needs 12
    EXPECT_TRUE(bad(header(raw, 0x08, 0, 0, 0, 0, 1), 12, 60, f));          // unknown flag
    EXPECT_TRUE(bad(header(raw, kNetHdrRscInfo, 0, 0, 0, 0, 1), 12, 60, f));
    EXPECT_TRUE(bad(header(raw, kNetHdrNeedsCsum, 0, 0, 50, 9, 1), 12, 60, f)); // 50+9+2 > 60
    EXPECT_FALSE(bad(header(raw, kNetHdrNeedsCsum, 0, 0, 50, 8, 1), 12, 60, f));
    EXPECT_TRUE(bad(header(raw, kNetHdrNeedsCsum, 0, 0, 0xffff, 0xffff, 1), 12, 60, f));
    EXPECT_TRUE(bad(header(raw, kNetHdrDataValid, 0, 0, 0, 0, 1), 12, 60, kNetMergeableRxBuffers));
    EXPECT_TRUE(bad(header(raw, 0, kNetGsoTcpV6, 1400, 0, 0, 1), 12, 60, f)); // not negotiated
    EXPECT_TRUE(bad(header(raw, 0, kNetGsoUdp, 1400, 0, 0, 1), 12, 60, f));
    EXPECT_TRUE(bad(header(raw, 0, kNetGsoTcpV4 | kNetGsoEcn, 1400, 0, 0, 1), 12, 60, f));
    EXPECT_TRUE(bad(header(raw, 0, 0x42, 1400, 0, 0, 1), 12, 60, f));
    EXPECT_TRUE(bad(header(raw, 0, kNetGsoTcpV4, 0, 0, 0, 1), 12, 60, f));    // gso without size
    EXPECT_TRUE(bad(nullptr, 12, 60, f));
}

// --- transmit headers ---

constexpr uint64_t kTso = kNetCsum | kNetHostTso4;

NetTransmitRequest tso_request(uint16_t mss, uint16_t headers = 14 + 20 + 32)
{
    NetTransmitRequest r;
    r.partial_checksum = true;
    r.csum_start = 34;
    r.csum_offset = 16;
    r.tcp4_segment_size = mss;
    r.header_length = headers;
    return r;
}

TEST(NetTransmitHeader, PlainAndChecksum)
{
    NetTransmitRequest plain;
    auto h = make_net_transmit_header(plain, 60, 0, 1500);
    ASSERT_FALSE(h.is_error());
    EXPECT_EQ(h.value().flags, 0);
    EXPECT_EQ(h.value().gso_type, kNetGsoNone);
    EXPECT_EQ(make_net_transmit_header(plain, 1515, 0, 1500).error(), Errno::MSGSIZE); // mtu + 14
    EXPECT_FALSE(make_net_transmit_header(plain, 1514, 0, 1500).is_error());
    EXPECT_EQ(make_net_transmit_header(plain, 13, 0, 1500).error(), Errno::INVAL);

    NetTransmitRequest csum;
    csum.partial_checksum = true;
    csum.csum_start = 34;
    csum.csum_offset = 16;
    EXPECT_EQ(make_net_transmit_header(csum, 60, 0, 1500).error(), Errno::INVAL); // CSUM not negotiated
    h = make_net_transmit_header(csum, 60, kNetCsum, 1500);
    ASSERT_FALSE(h.is_error());
    EXPECT_EQ(h.value().flags, kNetHdrNeedsCsum);
    EXPECT_EQ(h.value().csum_start, 34);
    EXPECT_EQ(h.value().csum_offset, 16);
    EXPECT_EQ(make_net_transmit_header(csum, 51, kNetCsum, 1500).error(), Errno::INVAL); // 34+16+2 > 51
}

TEST(NetTransmitHeader, SegmentationOffload)
{
    // 45 segments of 1448 bytes with timestamps (TCP header 32): the IPv4 datagram's limit.
    size_t frame = 14 + 20 + 32 + 45 * 1448;
    auto h = make_net_transmit_header(tso_request(1448), frame, kTso, 1500);
    ASSERT_FALSE(h.is_error());
    EXPECT_EQ(h.value().flags, kNetHdrNeedsCsum);
    EXPECT_EQ(h.value().gso_type, kNetGsoTcpV4);
    EXPECT_EQ(h.value().gso_size, 1448);
    EXPECT_EQ(h.value().header_length, 66);
    uint8_t out[12];
    write_net_header(h.value(), out, 12);
    const uint8_t expect[12] = {1, 1, 66, 0, 0xa8, 0x05, 34, 0, 16, 0, 0, 0};
    EXPECT_EQ(memcmp(out, expect, 12), 0);

    EXPECT_EQ(make_net_transmit_header(tso_request(1448), frame, kNetCsum, 1500).error(), Errno::INVAL); // no TSO4
    EXPECT_EQ(make_net_transmit_header(tso_request(1448), frame, kNetHostTso4, 1500).error(), Errno::INVAL); // no CSUM
    NetTransmitRequest no_csum = tso_request(1448);
    no_csum.partial_checksum = false;
    EXPECT_EQ(make_net_transmit_header(no_csum, frame, kTso, 1500).error(), Errno::INVAL);
    EXPECT_EQ(make_net_transmit_header(tso_request(1449), frame, kTso, 1500).error(), Errno::INVAL); // 20+32+1449 > mtu
    EXPECT_FALSE(make_net_transmit_header(tso_request(1448), frame, kTso, 1500).is_error());
    EXPECT_EQ(make_net_transmit_header(tso_request(1448), kNetMaxSegmentedFrame + 1, kTso, 1500).error(),
              Errno::MSGSIZE);
    EXPECT_EQ(make_net_transmit_header(tso_request(1448, 53), frame, kTso, 1500).error(), Errno::INVAL); // < 54
    EXPECT_EQ(make_net_transmit_header(tso_request(1448, 66), 66, kTso, 1500).error(), Errno::INVAL); // no payload
    NetTransmitRequest udp_like = tso_request(1448);
    udp_like.csum_start = 14; // inside the IPv4 header: not a TCP checksum
    EXPECT_EQ(make_net_transmit_header(udp_like, frame, kTso, 1500).error(), Errno::INVAL);
    NetTransmitRequest outside = tso_request(1448);
    outside.csum_start = 60; // TCP header would end past header_length
    EXPECT_EQ(make_net_transmit_header(outside, frame, kTso, 1500).error(), Errno::INVAL);
}

// --- gathering mergeable buffers ---

struct Device {
    static constexpr size_t kBuffer = 2048;
    std::vector<std::vector<uint8_t>> buffers;
    std::vector<uint8_t> frame;

    // Spreads a 12-byte header and `frame` over buffers as a device does.
    void fill(const uint8_t (&hdr)[12])
    {
        std::vector<uint8_t> all(hdr, hdr + 12);
        all.insert(all.end(), frame.begin(), frame.end());
        buffers.clear();
        for (size_t at = 0; at < all.size(); at += kBuffer) {
            size_t n = all.size() - at < kBuffer ? all.size() - at : kBuffer;
            buffers.emplace_back(all.begin() + long(at), all.begin() + long(at + n));
            buffers.back().resize(kBuffer);
        }
    }
};

TEST(NetReceiveGather, CoalescedFrameOverManyBuffers)
{
    Device d;
    d.frame.resize(14 + 20 + 32 + 60 * 1024);
    for (size_t i = 0; i < d.frame.size(); i++)
        d.frame[i] = uint8_t(i * 7 + (i >> 8));
    size_t total = 12 + d.frame.size();
    uint16_t count = uint16_t((total + Device::kBuffer - 1) / Device::kBuffer);
    uint8_t raw[12];
    d.fill(*reinterpret_cast<uint8_t(*)[12]>(header(raw, kNetHdrNeedsCsum, kNetGsoTcpV4, 1448, 34, 16, count)));
    uint64_t f = kNetMergeableRxBuffers | kNetGuestCsum | kNetGuestTso4;
    std::vector<uint8_t> scratch(65535 + 14 + 12);
    NetReceiveGather g(scratch.data(), scratch.size(), Device::kBuffer);
    ASSERT_EQ(g.begin(d.buffers[0].data(), Device::kBuffer, 12, f, 33), count);
    for (uint16_t i = 1; i < count; i++) {
        size_t written = i + 1 < count ? Device::kBuffer : total - size_t(i) * Device::kBuffer;
        g.add(d.buffers[i].data(), uint32_t(written));
    }
    auto p = g.finish();
    ASSERT_FALSE(p.is_error());
    ASSERT_EQ(p.value().length, d.frame.size());
    EXPECT_EQ(memcmp(p.value().frame, d.frame.data(), d.frame.size()), 0);
    EXPECT_EQ(p.value().info.gso_type, kNetGsoTcpV4);
    EXPECT_EQ(p.value().info.gso_size, 1448);
    EXPECT_TRUE(p.value().info.checksum_partial);

    // One buffer: the frame stays where the device put it.
    Device small;
    small.frame.assign(60, 0x5a);
    small.fill(*reinterpret_cast<uint8_t(*)[12]>(header(raw, 0, 0, 0, 0, 0, 1)));
    ASSERT_EQ(g.begin(small.buffers[0].data(), 72, 12, f, 33), 1);
    auto one = g.finish();
    ASSERT_FALSE(one.is_error());
    EXPECT_EQ(one.value().frame, small.buffers[0].data() + 12);
    EXPECT_EQ(one.value().length, 60u);
}

TEST(NetReceiveGather, LiesAreRejected)
{
    uint64_t f = kNetMergeableRxBuffers | kNetGuestCsum | kNetGuestTso4;
    std::vector<uint8_t> scratch(3 * 2048);
    std::vector<uint8_t> buffer(2048, 0);
    uint8_t raw[12];
    NetReceiveGather g(scratch.data(), scratch.size(), 2048);
    auto with_header = [&](uint8_t flags, uint8_t gso, uint16_t gso_size, uint16_t start, uint16_t offset,
                           uint16_t buffers) {
        memcpy(buffer.data(), header(raw, flags, gso, gso_size, start, offset, buffers), 12);
        return buffer.data();
    };
    // Written beyond the buffer.
    g.begin(with_header(0, 0, 0, 0, 0, 1), 2049, 12, f, 33);
    EXPECT_TRUE(g.finish().is_error());
    // Shorter than a header and an Ethernet header.
    g.begin(with_header(0, 0, 0, 0, 0, 1), 12 + 13, 12, f, 33);
    EXPECT_TRUE(g.finish().is_error());
    // More buffers than the scratch memory holds: the copy stops, the packet is dropped.
    ASSERT_EQ(g.begin(with_header(0, 0, 0, 0, 0, 4), 2048, 12, f, 33), 4);
    for (int i = 0; i < 3; i++)
        g.add(buffer.data(), 2048);
    EXPECT_TRUE(g.finish().is_error());
    // A later buffer claims more than its size.
    ASSERT_EQ(g.begin(with_header(0, 0, 0, 0, 0, 2), 2048, 12, f, 33), 2);
    g.add(buffer.data(), 4096);
    EXPECT_TRUE(g.finish().is_error());
    // Fewer buffers taken than announced, or more added.
    ASSERT_EQ(g.begin(with_header(0, 0, 0, 0, 0, 3), 2048, 12, f, 33), 3);
    g.add(buffer.data(), 100);
    EXPECT_TRUE(g.finish().is_error());
    ASSERT_EQ(g.begin(with_header(0, 0, 0, 0, 0, 1), 100, 12, f, 33), 1);
    g.add(buffer.data(), 100);
    EXPECT_TRUE(g.finish().is_error());
    // num_buffers 0 or past the limit: one buffer taken, the packet rejected.
    EXPECT_EQ(g.begin(with_header(0, 0, 0, 0, 0, 0), 100, 12, f, 33), 1);
    EXPECT_TRUE(g.finish().is_error());
    EXPECT_EQ(g.begin(with_header(0, 0, 0, 0, 0, 34), 100, 12, f, 33), 1);
    EXPECT_TRUE(g.finish().is_error());
    // A checksum position inside the first buffer's bytes but past the gathered frame.
    ASSERT_EQ(g.begin(with_header(kNetHdrNeedsCsum, kNetGsoTcpV4, 1448, 2100, 16, 2), 2048, 12, f, 33), 2);
    g.add(buffer.data(), 50);
    EXPECT_TRUE(g.finish().is_error());
    // Coalesced without GUEST_TSO4 negotiated; gso_size 0.
    g.begin(with_header(0, kNetGsoTcpV4, 1448, 0, 0, 1), 100, 12, kNetMergeableRxBuffers | kNetGuestCsum, 33);
    EXPECT_TRUE(g.finish().is_error());
    g.begin(with_header(0, kNetGsoTcpV4, 0, 0, 0, 1), 100, 12, f, 33);
    EXPECT_TRUE(g.finish().is_error());
    // And a good one afterwards: nothing sticks.
    g.begin(with_header(kNetHdrDataValid, kNetGsoTcpV4, 1448, 0, 0, 1), 100, 12, f, 33);
    EXPECT_FALSE(g.finish().is_error());
}

} // namespace
