// Unit tests for virtio-net's configuration decoding and packet headers: defaults without
// features, bad MAC / MTU / pair counts ignored, and every way a received header can lie.
#include <virtio/net_config.h>

#include <gtest/gtest.h>
#include <string.h>

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

} // namespace
