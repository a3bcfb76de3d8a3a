// Unit tests for the network stack's shared pieces: the Internet checksum (RFC 1071 example,
// split sums, pseudo-header, incremental update) and IPv4 address text.
#include <net/addr.h>
#include <net/byte_order.h>
#include <net/checksum.h>

#include <gtest/gtest.h>
#include <string.h>

namespace {

TEST(Checksum, Rfc1071Example)
{
    // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
    const uint8_t data[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    EXPECT_EQ(net::fold_sum(net::sum_bytes(data, sizeof data)), 0xddf2);
    EXPECT_EQ(net::finish_checksum(net::sum_bytes(data, sizeof data)), 0x220d);
}

TEST(Checksum, Ipv4HeaderVerifiesToZero)
{
    // A real IPv4 header (checksum b861) sums with its own checksum to ffff.
    const uint8_t header[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                              0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
    EXPECT_EQ(net::fold_sum(net::sum_bytes(header, sizeof header)), 0xffff);
    uint8_t copy[sizeof header];
    memcpy(copy, header, sizeof header);
    net::store_be16(copy + 10, 0);
    EXPECT_EQ(net::finish_checksum(net::sum_bytes(copy, sizeof copy)), 0xb861);
}

TEST(Checksum, SplitSumsMatchWholeSumAtAnyCut)
{
    uint8_t data[257];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = static_cast<uint8_t>(i * 37 + 11);
    uint16_t whole = net::fold_sum(net::sum_bytes(data, sizeof data));
    for (size_t cut = 0; cut <= sizeof data; cut++) {
        uint32_t sum = net::sum_bytes(data, cut);
        sum = net::sum_bytes(data + cut, sizeof data - cut, sum, cut % 2 == 1);
        EXPECT_EQ(net::fold_sum(sum), whole) << "cut " << cut;
    }
}

// RFC 1071's definition, one big-endian word at a time: what sum_bytes' word-at-a-time
// version must agree with after folding.
uint16_t reference_sum(const uint8_t* data, size_t length, uint32_t sum, bool odd_start)
{
    uint64_t acc = sum;
    size_t i = 0;
    if (odd_start && length > 0)
        acc += data[i++];
    for (; i + 1 < length; i += 2)
        acc += uint32_t(data[i]) << 8 | data[i + 1];
    if (i < length)
        acc += uint32_t(data[i]) << 8;
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    return static_cast<uint16_t>(acc);
}

TEST(Checksum, MatchesTheDefinitionForEveryLengthAlignmentAndStart)
{
    // Lengths across the 32- and 8-byte steps, every start alignment, both halves of a word,
    // carried-in sums, and bytes that make every carry path fire (0xff runs).
    uint8_t buffer[2100];
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < sizeof buffer; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buffer[i] = i % 97 < 40 ? 0xff : static_cast<uint8_t>(x);
    }
    const uint32_t carried[] = {0, 1, 0xffff, 0x1fffe, 0xfffffffe};
    for (size_t length = 0; length <= 1600; length += length < 80 ? 1 : 37) {
        for (size_t offset = 0; offset < 8; offset++) {
            for (uint32_t sum : carried) {
                for (bool odd : {false, true}) {
                    const uint8_t* data = buffer + offset;
                    ASSERT_EQ(net::fold_sum(net::sum_bytes(data, length, sum, odd)),
                              reference_sum(data, length, sum, odd))
                        << "length " << length << " offset " << offset << " sum " << sum << " odd " << odd;
                }
            }
        }
    }
    uint8_t zeros[64] = {};
    EXPECT_EQ(net::sum_bytes(zeros, sizeof zeros), 0u); // a zero sum stays zero, not 0xffff
    uint8_t ones[64];
    memset(ones, 0xff, sizeof ones);
    EXPECT_EQ(net::fold_sum(net::sum_bytes(ones, sizeof ones)), 0xffff);
}

TEST(Checksum, PseudoHeaderEqualsSummedBytes)
{
    auto src = net::Ipv4Address::from_octets(10, 0, 2, 15);
    auto dst = net::Ipv4Address::from_octets(198, 18, 255, 1);
    uint8_t bytes[12];
    net::store_be32(bytes, src.value);
    net::store_be32(bytes + 4, dst.value);
    bytes[8] = 0;
    bytes[9] = 6;
    net::store_be16(bytes + 10, 1480);
    EXPECT_EQ(net::fold_sum(net::pseudo_header_sum(src, dst, 6, 1480)),
              net::fold_sum(net::sum_bytes(bytes, sizeof bytes)));
}

TEST(Checksum, IncrementalUpdateMatchesRecompute)
{
    uint8_t header[20] = {0x45, 0x00, 0x00, 0x54, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01,
                          0x00, 0x00, 10, 0, 2, 15, 10, 0, 2, 2};
    net::store_be16(header + 10, net::finish_checksum(net::sum_bytes(header, 20)));
    for (uint16_t ttl_proto : {0x3f01, 0x0101, 0xff01, 0x0001}) {
        uint16_t old_field = net::load_be16(header + 8);
        uint16_t updated = net::update_checksum(net::load_be16(header + 10), old_field, ttl_proto);
        net::store_be16(header + 8, ttl_proto);
        net::store_be16(header + 10, 0);
        EXPECT_EQ(updated, net::finish_checksum(net::sum_bytes(header, 20)));
        net::store_be16(header + 10, updated);
    }
}

TEST(Ipv4Text, FormatAndParse)
{
    char text[16];
    EXPECT_EQ(net::format_ipv4(net::Ipv4Address::from_octets(198, 18, 0, 1), text), 10u);
    EXPECT_STREQ(text, "198.18.0.1");
    net::format_ipv4(net::Ipv4Address::broadcast(), text);
    EXPECT_STREQ(text, "255.255.255.255");
    net::format_ipv4(net::Ipv4Address::any(), text);
    EXPECT_STREQ(text, "0.0.0.0");

    net::Ipv4Address a;
    ASSERT_TRUE(net::parse_ipv4("10.0.2.15", 9, a));
    EXPECT_EQ(a, net::Ipv4Address::from_octets(10, 0, 2, 15));
    for (const char* bad : {"", "1.2.3", "1.2.3.4.", "256.1.1.1", "1..2.3", "1.2.3.4x", "1234.1.1.1",
                            "a.b.c.d", " 1.2.3.4"})
        EXPECT_FALSE(net::parse_ipv4(bad, strlen(bad), a)) << bad;
}

TEST(Ipv4Address, Prefixes)
{
    auto a = net::Ipv4Address::from_octets(198, 18, 3, 4);
    EXPECT_TRUE(a.same_prefix(net::Ipv4Address::from_octets(198, 19, 0, 0), 15));
    EXPECT_FALSE(a.same_prefix(net::Ipv4Address::from_octets(198, 20, 0, 0), 15));
    EXPECT_TRUE(a.same_prefix(net::Ipv4Address::from_octets(1, 2, 3, 4), 0));
    EXPECT_TRUE(a.same_prefix(a, 32));
    EXPECT_FALSE(a.same_prefix(net::Ipv4Address::from_octets(198, 18, 3, 5), 32));
    EXPECT_TRUE(net::Ipv4Address::from_octets(127, 0, 0, 1).is_loopback());
    EXPECT_TRUE(net::Ipv4Address::from_octets(224, 0, 0, 251).is_multicast());
}

} // namespace
