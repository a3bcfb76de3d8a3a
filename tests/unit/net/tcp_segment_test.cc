// Unit tests for TCP's building blocks: the segment parser and writer (options, checksum,
// malformed input), SipHash, the byte ring, and the congestion-control arithmetic.
#include <net/byte_order.h>
#include <net/checksum.h>
#include <net/tcp/byte_ring.h>
#include <net/tcp/congestion.h>
#include <net/tcp/keyed_hash.h>
#include <net/tcp/segment.h>

#include <gtest/gtest.h>
#include <string.h>
#include <vector>

namespace {

using namespace net::tcp;
using net::Ipv4Address;

const Ipv4Address kA = Ipv4Address::from_octets(192, 0, 2, 1);
const Ipv4Address kB = Ipv4Address::from_octets(198, 51, 100, 7);

Header sample_header()
{
    Header h;
    h.source = kA;
    h.destination = kB;
    h.source_port = 40000;
    h.destination_port = 80;
    h.seq = 0x01020304;
    h.ack = 0xa0b0c0d0;
    h.flags = kAck | kPsh;
    h.window = 512;
    return h;
}

std::vector<uint8_t> write(const Header& h, const char* text = "")
{
    Payload p;
    p.data[0] = reinterpret_cast<const uint8_t*>(text);
    p.length[0] = strlen(text);
    std::vector<uint8_t> out(100 + p.size());
    auto r = write_segment(h, p, ChecksumMode::Compute, out.data(), out.size());
    EXPECT_FALSE(r.is_error());
    out.resize(r.value());
    return out;
}

TEST(TcpSegment, WriteThenParseRoundTripsEveryOption)
{
    Header h = sample_header();
    h.flags = kSyn;
    h.options.has_mss = true;
    h.options.mss = 1460;
    h.options.has_window_scale = true;
    h.options.window_scale = 7;
    h.options.sack_permitted = true;
    h.options.has_timestamps = true;
    h.options.ts_value = 123456;
    h.options.ts_echo = 0;
    auto bytes = write(h);
    EXPECT_EQ(bytes.size(), 20u + 20u); // MSS 4, SACKP+TS 12, NOP+WS 4
    ParseStats stats;
    auto r = parse_segment(bytes.data(), bytes.size(), kA, kB, ChecksumMode::Compute, stats);
    ASSERT_FALSE(r.is_error());
    const Segment& s = r.value();
    EXPECT_EQ(s.source_port, 40000);
    EXPECT_EQ(s.destination_port, 80);
    EXPECT_EQ(s.seq, 0x01020304u);
    EXPECT_EQ(s.ack, 0xa0b0c0d0u);
    EXPECT_TRUE(s.has(kSyn));
    EXPECT_EQ(s.window, 512);
    EXPECT_TRUE(s.options.has_mss);
    EXPECT_EQ(s.options.mss, 1460);
    EXPECT_TRUE(s.options.has_window_scale);
    EXPECT_EQ(s.options.window_scale, 7);
    EXPECT_TRUE(s.options.sack_permitted);
    EXPECT_TRUE(s.options.has_timestamps);
    EXPECT_EQ(s.options.ts_value, 123456u);
    EXPECT_EQ(s.sequence_length(), 1u);
    EXPECT_EQ(stats.parsed, 1u);
}

TEST(TcpSegment, SackBlocksAndPayload)
{
    Header h = sample_header();
    h.options.has_timestamps = true;
    h.options.ts_value = 1;
    h.options.ts_echo = 2;
    h.options.sack_block_count = 4; // only 3 fit next to timestamps
    for (uint32_t i = 0; i < 4; i++)
        h.options.sack_blocks[i] = {1000 * i + 100, 1000 * i + 200};
    auto bytes = write(h, "hello");
    EXPECT_EQ(bytes.size(), 20u + 40u + 5u);
    ParseStats stats;
    auto r = parse_segment(bytes.data(), bytes.size(), kA, kB, ChecksumMode::Compute, stats);
    ASSERT_FALSE(r.is_error());
    EXPECT_EQ(r.value().options.sack_block_count, 3);
    EXPECT_EQ(r.value().options.sack_blocks[2].left, 2100u);
    EXPECT_EQ(r.value().options.sack_blocks[2].right, 2200u);
    ASSERT_EQ(r.value().payload_length, 5u);
    EXPECT_EQ(memcmp(r.value().payload, "hello", 5), 0);
}

TEST(TcpSegment, PayloadInTwoPiecesOfOddLength)
{
    Header h = sample_header();
    const uint8_t a[3] = {1, 2, 3};
    const uint8_t b[4] = {4, 5, 6, 7};
    Payload p;
    p.data[0] = a;
    p.length[0] = 3;
    p.data[1] = b;
    p.length[1] = 4;
    uint8_t out[64];
    auto r = write_segment(h, p, ChecksumMode::Compute, out, sizeof out);
    ASSERT_FALSE(r.is_error());
    ParseStats stats;
    auto s = parse_segment(out, r.value(), kA, kB, ChecksumMode::Compute, stats);
    ASSERT_FALSE(s.is_error());
    ASSERT_EQ(s.value().payload_length, 7u);
    EXPECT_EQ(s.value().payload[6], 7);
}

TEST(TcpSegment, OffloadLeavesThePseudoHeaderSum)
{
    Header h = sample_header();
    auto full = write(h, "abc");
    uint8_t out[64];
    Payload p;
    p.data[0] = reinterpret_cast<const uint8_t*>("abc");
    p.length[0] = 3;
    auto r = write_segment(h, p, ChecksumMode::Offload, out, sizeof out);
    ASSERT_FALSE(r.is_error());
    uint16_t partial = net::load_be16(out + 16);
    EXPECT_EQ(partial, net::fold_sum(net::pseudo_header_sum(kA, kB, 6, 23)));
    // What the device does: checksum the segment (with the partial sum in place).
    net::store_be16(out + 16, 0);
    uint16_t device = net::finish_checksum(net::sum_bytes(out, r.value(), partial));
    EXPECT_EQ(device, net::load_be16(full.data() + 16));
}

TEST(TcpSegment, WriterRejectsSmallBuffers)
{
    Header h = sample_header();
    uint8_t out[19];
    auto r = write_segment(h, Payload{}, ChecksumMode::Compute, out, sizeof out);
    ASSERT_TRUE(r.is_error());
    EXPECT_EQ(r.error(), Errno::NOSPC);
}

TEST(TcpSegment, BadInputIsCountedByReason)
{
    Header h = sample_header();
    auto good = write(h, "data");
    ParseStats stats;
    // Truncated.
    EXPECT_TRUE(parse_segment(good.data(), 19, kA, kB, ChecksumMode::Verified, stats).is_error());
    EXPECT_EQ(stats.truncated, 1u);
    // Checksum: flip a payload bit; and the wrong pseudo-header (another destination).
    auto bad = good;
    bad.back() ^= 1;
    EXPECT_TRUE(parse_segment(bad.data(), bad.size(), kA, kB, ChecksumMode::Compute, stats).is_error());
    EXPECT_TRUE(parse_segment(good.data(), good.size(), kA, Ipv4Address::from_octets(198, 51, 100, 8),
                              ChecksumMode::Compute, stats).is_error());
    EXPECT_EQ(stats.bad_checksum, 2u);
    // ... but accepted when the device says it verified it.
    EXPECT_FALSE(parse_segment(bad.data(), bad.size(), kA, kB, ChecksumMode::Verified, stats).is_error());
    // Data offset below 5 and beyond the segment.
    bad = good;
    bad[12] = 4 << 4;
    EXPECT_TRUE(parse_segment(bad.data(), bad.size(), kA, kB, ChecksumMode::Verified, stats).is_error());
    EXPECT_EQ(stats.bad_data_offset, 1u);
    bad[12] = 15 << 4;
    EXPECT_TRUE(parse_segment(bad.data(), bad.size(), kA, kB, ChecksumMode::Verified, stats).is_error());
    EXPECT_EQ(stats.truncated, 2u);
    // Port 0.
    bad = good;
    net::store_be16(bad.data(), 0);
    EXPECT_TRUE(parse_segment(bad.data(), bad.size(), kA, kB, ChecksumMode::Verified, stats).is_error());
    EXPECT_EQ(stats.bad_port, 1u);
}

TEST(TcpOptions, UnknownOptionsAreSkippedMalformedListsRejected)
{
    Options o;
    const uint8_t unknown[] = {1, 30, 6, 1, 2, 3, 4, 2, 4, 0x05, 0xb4, 0, 0};
    ASSERT_TRUE(parse_options(unknown, sizeof unknown, o));
    EXPECT_TRUE(o.has_mss);
    EXPECT_EQ(o.mss, 1460);
    const uint8_t after_end[] = {0, 2, 1}; // EOL: the rest is padding
    EXPECT_TRUE(parse_options(after_end, sizeof after_end, o));
    const uint8_t zero_length[] = {30, 0};
    EXPECT_FALSE(parse_options(zero_length, sizeof zero_length, o));
    const uint8_t one_length[] = {30, 1, 1, 1};
    EXPECT_FALSE(parse_options(one_length, sizeof one_length, o));
    const uint8_t overrun[] = {30, 5, 1, 1};
    EXPECT_FALSE(parse_options(overrun, sizeof overrun, o));
    const uint8_t no_length[] = {1, 1, 30};
    EXPECT_FALSE(parse_options(no_length, sizeof no_length, o));
    const uint8_t bad_mss[] = {2, 3, 5};
    EXPECT_FALSE(parse_options(bad_mss, sizeof bad_mss, o));
    const uint8_t bad_ws[] = {3, 4, 7, 0};
    EXPECT_FALSE(parse_options(bad_ws, sizeof bad_ws, o));
    const uint8_t bad_ts[] = {8, 9, 0, 0, 0, 0, 0, 0, 0};
    EXPECT_FALSE(parse_options(bad_ts, sizeof bad_ts, o));
    const uint8_t bad_sack[] = {5, 7, 0, 0, 0, 0, 0};
    EXPECT_FALSE(parse_options(bad_sack, sizeof bad_sack, o));
    const uint8_t empty_sack[] = {5, 2};
    EXPECT_FALSE(parse_options(empty_sack, sizeof empty_sack, o));
}

TEST(ByteRing, WrapsAndPeeksInTwoPieces)
{
    ByteRing ring;
    ASSERT_FALSE(ring.set_capacity(8).is_error());
    const uint8_t data[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    EXPECT_EQ(ring.append(data, 9), 8u);
    EXPECT_EQ(ring.free_space(), 0u);
    ring.consume(6);
    EXPECT_EQ(ring.append(data, 4), 4u);
    Payload p = ring.peek(1, 5);
    EXPECT_EQ(p.size(), 5u);
    EXPECT_EQ(p.length[0], 1u);
    EXPECT_EQ(p.data[0][0], 8);
    EXPECT_EQ(p.data[1][0], 1);
    uint8_t out[16];
    EXPECT_EQ(ring.read(out, 16), 6u);
    EXPECT_EQ(out[0], 7);
    EXPECT_EQ(out[5], 4);
    EXPECT_TRUE(ring.set_capacity(4).is_error() == false);
}

TEST(ByteRing, OutOfOrderWritesBecomeReadableOnCommit)
{
    ByteRing ring;
    ASSERT_FALSE(ring.set_capacity(10).is_error());
    const uint8_t a[] = {1, 2, 3};
    const uint8_t b[] = {4, 5, 6};
    ring.append(a, 3);
    uint8_t out[10];
    ring.read(out, 2); // head moves; the ring is not empty
    ring.write_at(3, b, 3);  // bytes 3..5 past the end
    ring.write_at(0, b, 3);  // fill the gap
    ring.commit(6);
    EXPECT_EQ(ring.size(), 7u);
    EXPECT_EQ(ring.read(out, 10), 7u);
    const uint8_t expect[] = {3, 4, 5, 6, 4, 5, 6};
    EXPECT_EQ(memcmp(out, expect, 7), 0);
    ring.write_at(20, a, 3); // beyond the buffer: ignored, no overflow
    ring.write_at(8, a, 3);  // clipped at the capacity
}

TEST(Congestion, IntegerCubeRoot)
{
    EXPECT_EQ(integer_cbrt(0), 0u);
    EXPECT_EQ(integer_cbrt(26), 2u);
    EXPECT_EQ(integer_cbrt(27), 3u);
    EXPECT_EQ(integer_cbrt(1000000000000ull), 10000u);
    EXPECT_EQ(integer_cbrt(~0ull), 2642245u);
}

TEST(Congestion, NewRenoHalvesAndGrowsLinearly)
{
    NewReno reno;
    reno.start(1000);
    EXPECT_EQ(reno.cwnd(), 10000u);
    reno.on_ack(1000, 0, 0);
    EXPECT_EQ(reno.cwnd(), 11000u); // slow start
    reno.on_fast_loss(20000, 0);
    EXPECT_EQ(reno.ssthresh(), 10000u);
    EXPECT_FALSE(reno.in_slow_start());
    for (int i = 0; i < 10; i++)
        reno.on_ack(1000, 0, 0);
    EXPECT_EQ(reno.cwnd(), 11000u); // one MSS per window
    reno.on_timeout(11000, 0);
    EXPECT_EQ(reno.cwnd(), 1000u);
    EXPECT_EQ(reno.ssthresh(), 5500u);
}

TEST(Congestion, CubicReturnsToWmaxAfterK)
{
    Cubic cubic;
    cubic.start(1000);
    for (int i = 0; i < 90; i++)
        cubic.on_ack(1000, 0, 0); // slow start to 100 segments
    ASSERT_EQ(cubic.cwnd(), 100000u);
    cubic.on_fast_loss(100000, 0);
    EXPECT_EQ(cubic.w_max(), 100000u);
    EXPECT_EQ(cubic.ssthresh(), 70000u);
    EXPECT_EQ(cubic.cwnd(), 70000u);
    // K = cbrt(W_max·(1−β)/C) = cbrt(100·0.3/0.4) = cbrt(75) ≈ 4.217 s.
    Instant t0 = 10 * kSecond;
    cubic.on_ack(1000, t0, 0); // starts the epoch
    EXPECT_NEAR(static_cast<double>(cubic.window_at(4217)), 100000.0, 1000.0);
    EXPECT_LT(cubic.window_at(1000), 100000u);
    EXPECT_GT(cubic.window_at(8000), 100000u);
    // Driving acks for 4.2 s of 100 ms RTTs brings cwnd close to W_max (concave region;
    // with RTTs this long the Reno-friendly estimate stays below the cubic curve).
    Instant t = t0;
    while (t < t0 + 4217 * kMillisecond) {
        t += 100 * kMillisecond;
        for (uint32_t acked = 0; acked < cubic.cwnd(); acked += 1000)
            cubic.on_ack(1000, t, 100 * kMillisecond);
    }
    EXPECT_GT(cubic.cwnd(), 95000u);
    EXPECT_LT(cubic.cwnd(), 106000u);
    // Fast convergence: a loss below W_max lowers W_max further.
    cubic.set_cwnd(80000);
    cubic.on_fast_loss(80000, t);
    EXPECT_EQ(cubic.w_max(), 68000u);
}

} // namespace
