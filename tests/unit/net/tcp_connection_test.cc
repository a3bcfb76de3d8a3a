// Scripted segment exchanges with one Connection (or a Listener) and a fake clock: the test
// plays the peer, writes each segment with the real writer and parses it with the real
// parser, and checks every segment the connection sends back.
#include <net/tcp/connection.h>
#include <net/tcp/listener.h>

#include <algorithm>
#include <deque>
#include <gtest/gtest.h>
#include <string.h>
#include <string>
#include <vector>

namespace {

using namespace net::tcp;
using net::Ipv4Address;

const Ipv4Address kLocal = Ipv4Address::from_octets(10, 0, 0, 1);
const Ipv4Address kRemote = Ipv4Address::from_octets(10, 0, 0, 2);
constexpr uint16_t kLocalPort = 5000;
constexpr uint16_t kRemotePort = 80;
constexpr uint32_t kPeerIss = 7000000;

// The connection's side of the wire: every transmitted segment is written to bytes, parsed
// back (checksum verified) and kept with the time it was sent.
class Wire : public Output {
public:
    struct Packet {
        std::vector<uint8_t> bytes;
        Ipv4Address source, destination;
        Instant time;
    };

    explicit Wire(const Instant* clock) : m_clock(clock) {}

    void transmit(const OutgoingSegment& o) override
    {
        std::vector<uint8_t> bytes(80 + o.payload.size());
        auto r = write_segment(o.header, o.payload, ChecksumMode::Compute, bytes.data(), bytes.size());
        if (r.is_error()) {
            ADD_FAILURE() << "write_segment failed";
            return;
        }
        bytes.resize(r.value());
        m_pending.push_back({bytes, o.header.source, o.header.destination, *m_clock});
    }
    void state_changed(Connection&) override { changes++; }

    size_t pending() const { return m_pending.size(); }
    // The oldest unread segment (its bytes stay alive until the Wire dies).
    Segment pop()
    {
        EXPECT_FALSE(m_pending.empty());
        if (m_pending.empty())
            return Segment{};
        m_history.push_back(m_pending.front());
        m_pending.pop_front();
        last_time = m_history.back().time;
        return parse(m_history.back());
    }
    void clear() { m_pending.clear(); }

    static Segment parse(const Packet& p)
    {
        ParseStats stats;
        auto r = parse_segment(p.bytes.data(), p.bytes.size(), p.source, p.destination,
                               ChecksumMode::Compute, stats);
        EXPECT_FALSE(r.is_error());
        return r.is_error() ? Segment{} : r.value();
    }

    int changes = 0;
    Instant last_time = 0;

private:
    const Instant* m_clock;
    std::deque<Packet> m_pending;
    std::deque<Packet> m_history;
};

Options peer_syn_options(uint16_t mss = 1460, int window_scale = 7, bool sack = true, bool ts = true)
{
    Options o;
    o.has_mss = true;
    o.mss = mss;
    if (window_scale >= 0) {
        o.has_window_scale = true;
        o.window_scale = static_cast<uint8_t>(window_scale);
    }
    o.sack_permitted = sack;
    o.has_timestamps = ts;
    return o;
}

std::string pattern(size_t length, size_t start = 0)
{
    std::string s(length, '\0');
    for (size_t i = 0; i < length; i++)
        s[i] = static_cast<char>('a' + (start + i) % 26);
    return s;
}

class TcpTest : public ::testing::Test {
protected:
    void TearDown() override { delete c; }

    void make()
    {
        auto r = Connection::create(config, wire, FourTuple{kLocal, kLocalPort, kRemote, kRemotePort});
        ASSERT_FALSE(r.is_error());
        c = r.value();
    }

    uint32_t peer_ts() const { return static_cast<uint32_t>(now / kMillisecond) + 777; }

    // A segment from the peer. Timestamps are added when the connection uses them.
    Segment build(uint32_t seq, uint32_t ack, uint8_t flags, const std::string& data = "",
                  uint16_t window = 8192, Options options = Options{})
    {
        Header h;
        h.source = kRemote;
        h.destination = kLocal;
        h.source_port = kRemotePort;
        h.destination_port = kLocalPort;
        h.seq = seq;
        h.ack = ack;
        h.flags = flags;
        h.window = window;
        h.options = options;
        if (c != nullptr && c->timestamps_enabled() && !options.has_timestamps && !(flags & kRst)) {
            h.options.has_timestamps = true;
            h.options.ts_value = peer_ts();
            h.options.ts_echo = last_ts_from_connection;
        }
        Payload p;
        p.data[0] = reinterpret_cast<const uint8_t*>(data.data());
        p.length[0] = data.size();
        m_inbound.emplace_back(100 + data.size());
        auto& bytes = m_inbound.back();
        auto r = write_segment(h, p, ChecksumMode::Compute, bytes.data(), bytes.size());
        EXPECT_FALSE(r.is_error());
        bytes.resize(r.value());
        ParseStats stats;
        auto s = parse_segment(bytes.data(), bytes.size(), kRemote, kLocal, ChecksumMode::Compute, stats);
        EXPECT_FALSE(s.is_error());
        return s.value();
    }

    InputResult deliver(uint32_t seq, uint32_t ack, uint8_t flags, const std::string& data = "",
                        uint16_t window = 8192, Options options = Options{})
    {
        return c->on_segment(build(seq, ack, flags, data, window, options), now);
    }

    // Pops the next segment the connection sent, remembering its timestamp for echoes.
    Segment pop()
    {
        Segment s = wire.pop();
        if (s.options.has_timestamps)
            last_ts_from_connection = s.options.ts_value;
        return s;
    }

    // Runs every timer up to `t` at its own deadline.
    void run_until(Instant t)
    {
        for (int guard = 0; guard < 100000 && c->next_deadline() <= t; guard++) {
            now = c->next_deadline();
            c->on_timer(now);
        }
        now = t;
    }

    // Active open against a scripted peer; leaves the connection established and the
    // wire empty. Window field 8192 (scaled by the peer's shift after the SYN).
    void establish(Options peer = peer_syn_options(), uint16_t syn_window = 65535)
    {
        make();
        ASSERT_FALSE(c->open_active(now).is_error());
        Segment syn = pop();
        ASSERT_TRUE(syn.has(kSyn));
        peer.ts_echo = syn.options.ts_value;
        if (peer.has_timestamps)
            peer.ts_value = peer_ts();
        deliver(kPeerIss, syn.seq + 1, kSyn | kAck, "", syn_window, peer);
        ASSERT_EQ(c->state(), State::Established);
        Segment ack = pop();
        EXPECT_TRUE(ack.has(kAck));
        peer_nxt = kPeerIss + 1;
        EXPECT_EQ(wire.pending(), 0u);
    }

    Config config;
    Instant now = 1000 * kSecond;
    Wire wire{&now};
    Connection* c = nullptr;
    uint32_t last_ts_from_connection = 0;
    uint32_t peer_nxt = 0;

private:
    std::deque<std::vector<uint8_t>> m_inbound;
};

// --- handshakes ---

TEST_F(TcpTest, ActiveOpenNegotiatesOptions)
{
    make();
    ASSERT_FALSE(c->open_active(now).is_error());
    EXPECT_EQ(c->state(), State::SynSent);
    Segment syn = pop();
    EXPECT_EQ(syn.flags, kSyn);
    EXPECT_EQ(syn.seq, c->iss());
    EXPECT_TRUE(syn.options.has_mss);
    EXPECT_EQ(syn.options.mss, 1460);
    EXPECT_TRUE(syn.options.has_window_scale);
    EXPECT_EQ(syn.options.window_scale, 3); // 256 KiB >> 3 fits 16 bits
    EXPECT_TRUE(syn.options.sack_permitted);
    EXPECT_TRUE(syn.options.has_timestamps);
    EXPECT_EQ(syn.options.ts_echo, 0u);
    EXPECT_EQ(syn.window, 65535);

    Options peer = peer_syn_options(1400, 7);
    peer.ts_value = 100;
    peer.ts_echo = syn.options.ts_value;
    deliver(kPeerIss, syn.seq + 1, kSyn | kAck, "", 29200, peer);
    EXPECT_EQ(c->state(), State::Established);
    Segment ack = pop();
    EXPECT_EQ(ack.flags, kAck);
    EXPECT_EQ(ack.seq, c->iss() + 1);
    EXPECT_EQ(ack.ack, kPeerIss + 1);
    EXPECT_EQ(ack.window, (256 * 1024) >> 3);
    EXPECT_EQ(ack.options.ts_echo, 100u);
    EXPECT_EQ(c->send_mss(), 1400u - 12u);
    EXPECT_EQ(c->send_window_scale(), 7);
    EXPECT_EQ(c->snd_wnd(), 29200u); // the SYN's window is not scaled
    EXPECT_TRUE(c->sack_enabled());
    PollState p = c->poll_state();
    EXPECT_TRUE(p.connected);
    EXPECT_TRUE(p.events & kEventWritable);
    EXPECT_GT(wire.changes, 0);
}

TEST_F(TcpTest, ActiveOpenWithoutOptionsFallsBack)
{
    make();
    ASSERT_FALSE(c->open_active(now).is_error());
    Segment syn = pop();
    deliver(kPeerIss, syn.seq + 1, kSyn | kAck, "", 5000); // no options at all
    EXPECT_EQ(c->state(), State::Established);
    EXPECT_EQ(c->send_mss(), 536u);
    EXPECT_FALSE(c->timestamps_enabled());
    EXPECT_FALSE(c->sack_enabled());
    EXPECT_EQ(c->receive_window_scale(), 0);
    Segment ack = pop();
    EXPECT_EQ(ack.window, 65535); // unscaled, capped
    EXPECT_FALSE(ack.options.has_timestamps);
}

TEST_F(TcpTest, PassiveOpen)
{
    make();
    ASSERT_FALSE(c->open_passive().is_error());
    EXPECT_EQ(c->state(), State::Listen);
    // An ACK in LISTEN is answered with a reset <SEQ=SEG.ACK>.
    deliver(1, 4242, kAck);
    Segment rst = pop();
    EXPECT_EQ(rst.flags, kRst);
    EXPECT_EQ(rst.seq, 4242u);
    EXPECT_EQ(c->state(), State::Listen);

    Options peer = peer_syn_options(1460, 2);
    peer.ts_value = 55;
    deliver(kPeerIss, 0, kSyn, "", 65535, peer);
    EXPECT_EQ(c->state(), State::SynReceived);
    Segment synack = pop();
    EXPECT_EQ(synack.flags, kSyn | kAck);
    EXPECT_EQ(synack.ack, kPeerIss + 1);
    EXPECT_EQ(synack.options.window_scale, 3);
    EXPECT_EQ(synack.options.ts_echo, 55u);
    EXPECT_TRUE(synack.options.sack_permitted);
    last_ts_from_connection = synack.options.ts_value;
    deliver(kPeerIss + 1, synack.seq + 1, kAck, "", 1000);
    EXPECT_EQ(c->state(), State::Established);
    EXPECT_EQ(c->snd_wnd(), 4000u); // 1000 << 2
    EXPECT_EQ(wire.pending(), 0u);
}

TEST_F(TcpTest, SimultaneousOpen)
{
    make();
    ASSERT_FALSE(c->open_active(now).is_error());
    Segment syn = pop();
    // The peer's own SYN crosses ours.
    Options peer = peer_syn_options();
    peer.ts_value = 10;
    deliver(kPeerIss, 0, kSyn, "", 65535, peer);
    EXPECT_EQ(c->state(), State::SynReceived);
    Segment synack = pop();
    EXPECT_EQ(synack.flags, kSyn | kAck);
    EXPECT_EQ(synack.seq, syn.seq); // the same ISN
    EXPECT_EQ(synack.ack, kPeerIss + 1);
    // The peer's SYN-ACK (it got our SYN).
    peer.ts_value = 11;
    peer.ts_echo = syn.options.ts_value;
    deliver(kPeerIss, syn.seq + 1, kSyn | kAck, "", 65535, peer);
    EXPECT_EQ(c->state(), State::Established);
    Segment ack = pop();
    EXPECT_EQ(ack.flags, kAck);
    EXPECT_EQ(ack.ack, kPeerIss + 1);
}

TEST_F(TcpTest, SimultaneousOpenCompletedByPlainAck)
{
    config.timestamps = false;
    make();
    ASSERT_FALSE(c->open_active(now).is_error());
    Segment syn = pop();
    deliver(kPeerIss, 0, kSyn, "", 65535, peer_syn_options(1460, 7, true, false));
    pop();
    deliver(kPeerIss + 1, syn.seq + 1, kAck, "", 100);
    EXPECT_EQ(c->state(), State::Established);
}

TEST_F(TcpTest, SynSentRejectsBadAckAndAcceptsOnlyAnAcceptableReset)
{
    make();
    ASSERT_FALSE(c->open_active(now).is_error());
    Segment syn = pop();
    deliver(kPeerIss, syn.seq + 1000, kAck);
    Segment rst = pop();
    EXPECT_EQ(rst.flags, kRst);
    EXPECT_EQ(rst.seq, syn.seq + 1000);
    EXPECT_EQ(c->state(), State::SynSent);
    deliver(0, 0, kRst); // no ACK: ignored
    EXPECT_EQ(c->state(), State::SynSent);
    EXPECT_EQ(c->stats().failed_opens, 0u);
    deliver(0, syn.seq + 1, kRst | kAck);
    EXPECT_EQ(c->state(), State::Closed);
    EXPECT_EQ(c->poll_state().error, Errno::CONNREFUSED);
    EXPECT_EQ(c->stats().failed_opens, 1u); // /proc/net/snmp AttemptFails
    c->close(now);
    EXPECT_EQ(c->stats().failed_opens, 1u); // counted once
    uint8_t buf[4];
    auto r = c->receive(buf, 4, now);
    ASSERT_TRUE(r.is_error());
    EXPECT_EQ(r.error(), Errno::CONNREFUSED);
}

TEST_F(TcpTest, SynRetransmitsWithBackoffThenTimesOut)
{
    config.max_syn_retransmits = 3;
    make();
    Instant start = now;
    ASSERT_FALSE(c->open_active(now).is_error());
    pop();
    run_until(start + 100 * kSecond);
    std::vector<Duration> at;
    while (wire.pending() > 0) {
        Segment s = pop();
        EXPECT_EQ(s.flags, kSyn);
        at.push_back(wire.last_time - start);
    }
    ASSERT_EQ(at.size(), 3u);
    EXPECT_EQ(at[0], 1 * kSecond);
    EXPECT_EQ(at[1], 3 * kSecond);
    EXPECT_EQ(at[2], 7 * kSecond);
    EXPECT_EQ(c->state(), State::Closed);
    EXPECT_EQ(c->poll_state().error, Errno::TIMEDOUT);
}

TEST_F(TcpTest, IsnIsKeyedAndClockDriven)
{
    FourTuple a{kLocal, 1, kRemote, 2};
    FourTuple b{kLocal, 1, kRemote, 3};
    HashKey k1{1, 2};
    HashKey k2{3, 4};
    EXPECT_NE(Connection::generate_isn(k1, a, 0), Connection::generate_isn(k1, b, 0));
    EXPECT_NE(Connection::generate_isn(k1, a, 0), Connection::generate_isn(k2, a, 0));
    EXPECT_EQ(Connection::generate_isn(k1, a, 4000) - Connection::generate_isn(k1, a, 0), 1000u);
}

// --- data ---

TEST_F(TcpTest, DataTransferSegmentsByMssAndNagleHoldsTheTail)
{
    config.timestamps = false;
    establish(peer_syn_options(1460, 0, false, false));
    std::string data = pattern(5000);
    auto r = c->send(reinterpret_cast<const uint8_t*>(data.data()), data.size(), now);
    ASSERT_FALSE(r.is_error());
    EXPECT_EQ(r.value(), 5000u);
    // The SYN-ACK's window (65535) and IW10 allow all, but Nagle holds the short tail.
    std::string got;
    uint32_t base = c->iss() + 1;
    for (int i = 0; i < 3; i++) {
        Segment s = pop();
        EXPECT_EQ(s.seq, base + 1460 * i);
        EXPECT_EQ(s.payload_length, 1460u);
        got.append(reinterpret_cast<const char*>(s.payload), s.payload_length);
    }
    EXPECT_EQ(wire.pending(), 0u);
    deliver(peer_nxt, base + 3 * 1460, kAck, "", 65535);
    Segment tail = pop();
    EXPECT_EQ(tail.payload_length, 5000u - 3 * 1460);
    EXPECT_TRUE(tail.has(kPsh));
    got.append(reinterpret_cast<const char*>(tail.payload), tail.payload_length);
    EXPECT_EQ(got, data);
    deliver(peer_nxt, base + 5000, kAck, "", 65535);
    EXPECT_EQ(c->send_queued(), 0u);
    EXPECT_EQ(c->next_deadline(), kNever);
}

TEST_F(TcpTest, NagleAndNodelay)
{
    config.timestamps = false;
    establish(peer_syn_options(1460, 0, false, false));
    uint32_t base = c->iss() + 1;
    std::string small = pattern(100);
    auto send = [&](const std::string& s) {
        ASSERT_FALSE(c->send(reinterpret_cast<const uint8_t*>(s.data()), s.size(), now).is_error());
    };
    send(small);
    EXPECT_EQ(pop().payload_length, 100u); // nothing in flight: goes at once
    send(small);
    EXPECT_EQ(wire.pending(), 0u); // held: 100 bytes unacknowledged
    send(pattern(2000));
    EXPECT_EQ(pop().payload_length, 1460u); // a full segment may go
    EXPECT_EQ(wire.pending(), 0u);
    deliver(peer_nxt, base + 1560, kAck, "", 65535);
    EXPECT_EQ(pop().payload_length, 640u);
    c->set_nodelay(true, now);
    send(small);
    EXPECT_EQ(pop().payload_length, 100u); // NODELAY: despite 640 in flight
}

TEST_F(TcpTest, DelayedAckEverySecondSegmentOr40ms)
{
    establish();
    uint32_t seq = peer_nxt;
    deliver(seq, c->snd_nxt(), kAck, pattern(1000));
    EXPECT_EQ(wire.pending(), 0u);
    EXPECT_EQ(c->next_deadline(), now + 40 * kMillisecond);
    Instant t0 = now;
    run_until(t0 + 39 * kMillisecond);
    EXPECT_EQ(wire.pending(), 0u);
    run_until(t0 + 40 * kMillisecond);
    Segment ack = pop();
    EXPECT_EQ(ack.ack, seq + 1000);
    EXPECT_EQ(wire.last_time, t0 + 40 * kMillisecond);
    EXPECT_EQ(c->stats().delayed_acks, 1u);
    // Two full-sized segments: the second is acknowledged at once.
    deliver(seq + 1000, c->snd_nxt(), kAck, pattern(1000));
    EXPECT_EQ(wire.pending(), 0u);
    deliver(seq + 2000, c->snd_nxt(), kAck, pattern(1000));
    EXPECT_EQ(pop().ack, seq + 3000);
    uint8_t buf[4000];
    auto r = c->receive(buf, sizeof buf, now);
    ASSERT_FALSE(r.is_error());
    EXPECT_EQ(r.value(), 3000u);
    EXPECT_EQ(memcmp(buf, pattern(1000).data(), 1000), 0);
}

TEST_F(TcpTest, ReorderingAndDuplicationGenerateSackAndReassemble)
{
    establish();
    uint32_t s = peer_nxt;
    std::string all = pattern(6000);
    auto piece = [&](size_t from, size_t length) { return all.substr(from, length); };
    uint32_t ack = c->snd_nxt();
    deliver(s + 1000, ack, kAck, piece(1000, 1000));
    Segment a1 = pop();
    EXPECT_EQ(a1.ack, s);
    ASSERT_EQ(a1.options.sack_block_count, 1);
    EXPECT_EQ(a1.options.sack_blocks[0].left, s + 1000);
    EXPECT_EQ(a1.options.sack_blocks[0].right, s + 2000);
    deliver(s + 3000, ack, kAck, piece(3000, 1000));
    Segment a2 = pop();
    ASSERT_EQ(a2.options.sack_block_count, 2);
    EXPECT_EQ(a2.options.sack_blocks[0].left, s + 3000); // the newest first
    EXPECT_EQ(a2.options.sack_blocks[1].left, s + 1000);
    deliver(s + 3000, ack, kAck, piece(3000, 1000)); // duplicate out-of-order
    pop();
    deliver(s, ack, kAck, piece(0, 1000));
    Segment a3 = pop();
    EXPECT_EQ(a3.ack, s + 2000); // the hole filled: immediate ACK
    ASSERT_EQ(a3.options.sack_block_count, 1);
    EXPECT_EQ(a3.options.sack_blocks[0].left, s + 3000);
    deliver(s, ack, kAck, piece(0, 1000)); // an old duplicate
    EXPECT_EQ(pop().ack, s + 2000);
    EXPECT_GE(c->stats().duplicate_segments, 1u);
    // A FIN beyond a hole waits for the hole.
    deliver(s + 5000, ack, kAck | kFin, piece(5000, 1000));
    pop();
    EXPECT_EQ(c->state(), State::Established);
    deliver(s + 1500, ack, kAck, piece(1500, 3500)); // overlaps data already held
    Segment a4 = pop();
    EXPECT_EQ(a4.ack, s + 6001);
    EXPECT_EQ(a4.options.sack_block_count, 0);
    EXPECT_EQ(c->state(), State::CloseWait);
    std::string got(6000, '\0');
    auto r = c->receive(reinterpret_cast<uint8_t*>(got.data()), 6000, now);
    ASSERT_FALSE(r.is_error());
    EXPECT_EQ(r.value(), 6000u);
    EXPECT_EQ(got, all);
    EXPECT_EQ(c->receive(reinterpret_cast<uint8_t*>(got.data()), 10, now).value(), 0u); // EOF
    EXPECT_GE(c->stats().out_of_order_segments, 3u);
}

TEST_F(TcpTest, LargeWindowWithScaling)
{
    config.receive_buffer_size = 4 << 20;
    config.send_buffer_size = 4 << 20;
    config.nodelay = true;
    make();
    ASSERT_FALSE(c->open_active(now).is_error());
    Segment syn = pop();
    EXPECT_EQ(syn.options.window_scale, 7); // 4 MiB >> 7 = 32768
    Options peer = peer_syn_options(1460, 9);
    peer.ts_echo = syn.options.ts_value;
    peer.ts_value = peer_ts();
    deliver(kPeerIss, syn.seq + 1, kSyn | kAck, "", 65535, peer);
    Segment ack = pop();
    EXPECT_EQ(ack.window, 32768); // 4 MiB advertised
    deliver(kPeerIss + 1, syn.seq + 1, kAck, "", 2000);
    EXPECT_EQ(c->snd_wnd(), 2000u << 9);
    // Data 3 MiB beyond rcv_nxt is inside the scaled window (it would not be in 64 KiB).
    deliver(kPeerIss + 1 + (3 << 20), syn.seq + 1, kAck, pattern(1000));
    Segment sack = pop();
    ASSERT_EQ(sack.options.sack_block_count, 1);
    EXPECT_EQ(sack.options.sack_blocks[0].left, kPeerIss + 1 + (3u << 20));
    // The sender fills a window far beyond 64 KiB as the congestion window opens.
    std::string data = pattern(2 << 20);
    ASSERT_EQ(c->send(reinterpret_cast<const uint8_t*>(data.data()), data.size(), now).value(), data.size());
    // One ACK per segment: slow start doubles the window every round trip.
    uint32_t max_flight = 0;
    for (int round = 0; round < 12 && wire.pending() > 0; round++) {
        std::vector<uint32_t> ends;
        while (wire.pending() > 0) {
            Segment s = pop();
            ends.push_back(s.seq + static_cast<uint32_t>(s.payload_length));
        }
        for (uint32_t end : ends)
            deliver(kPeerIss + 1, end, kAck, "", 2000);
        max_flight = std::max(max_flight, c->snd_nxt() - c->snd_una());
    }
    EXPECT_GT(max_flight, 500000u);
    EXPECT_LE(max_flight, 2000u << 9);
}

TEST_F(TcpTest, ZeroWindowProbesBackOffUntilTheWindowOpens)
{
    config.timestamps = false;
    establish(peer_syn_options(1460, 0, false, false));
    uint32_t base = c->iss() + 1;
    deliver(peer_nxt, base, kAck, "", 0); // the peer's buffer is full
    EXPECT_EQ(c->snd_wnd(), 0u);
    std::string data = pattern(1000);
    ASSERT_FALSE(c->send(reinterpret_cast<const uint8_t*>(data.data()), data.size(), now).is_error());
    EXPECT_EQ(wire.pending(), 0u);
    Instant t0 = now;
    std::vector<Duration> at;
    for (int i = 0; i < 6; i++) {
        run_until(c->next_deadline());
        Segment probe = pop();
        EXPECT_EQ(probe.seq, base);
        EXPECT_EQ(probe.payload_length, 1u);
        at.push_back(now - t0);
        t0 = now;
        deliver(peer_nxt, base, kAck, "", 0); // still closed
        EXPECT_EQ(c->state(), State::Established);
    }
    // Persist intervals back off from the RTO (200 ms: the handshake's RTT sample was 0).
    EXPECT_EQ(at[0], 200 * kMillisecond);
    EXPECT_EQ(at[1], 400 * kMillisecond);
    EXPECT_EQ(at[2], 800 * kMillisecond);
    EXPECT_EQ(at[5], 6400 * kMillisecond);
    EXPECT_EQ(c->stats().zero_window_probes, 6u);
    EXPECT_EQ(c->stats().duplicate_acks, 0u); // answers to probes are not duplicate ACKs
    deliver(peer_nxt, base, kAck, "", 8192);
    Segment s = pop();
    EXPECT_EQ(s.seq, base);
    EXPECT_EQ(s.payload_length, 1000u);
}

TEST_F(TcpTest, OwnZeroWindowAndWindowUpdate)
{
    config.receive_buffer_size = 4096;
    config.timestamps = false;
    establish(peer_syn_options(1460, -1, false, false));
    deliver(peer_nxt, c->snd_nxt(), kAck, pattern(2048));
    deliver(peer_nxt + 2048, c->snd_nxt(), kAck, pattern(2048));
    Segment full = pop();
    EXPECT_EQ(full.ack, peer_nxt + 4096);
    EXPECT_EQ(full.window, 0);
    // A probe is not accepted but answered.
    deliver(peer_nxt + 4096, c->snd_nxt(), kAck, "x");
    Segment answer = pop();
    EXPECT_EQ(answer.ack, peer_nxt + 4096);
    EXPECT_EQ(answer.window, 0);
    // Reading a little does not reopen the window (receiver SWS avoidance) ...
    uint8_t buf[4096];
    ASSERT_EQ(c->receive(buf, 1000, now).value(), 1000u);
    EXPECT_EQ(wire.pending(), 0u);
    // ... reading past min(half the buffer, MSS) does, with a window update.
    ASSERT_EQ(c->receive(buf, 1000, now).value(), 1000u);
    Segment update = pop();
    EXPECT_EQ(update.window, 2000);
}

// --- loss recovery ---

TEST_F(TcpTest, RetransmissionTimeoutBacksOffThenGivesUp)
{
    config.max_retransmits = 5;
    config.max_rto = 2 * kSecond;
    establish();
    EXPECT_EQ(c->rto(), 200 * kMillisecond); // RTT 0 measured on the SYN: the 200 ms floor
    std::string data = pattern(100);
    ASSERT_FALSE(c->send(reinterpret_cast<const uint8_t*>(data.data()), data.size(), now).is_error());
    Segment first = pop();
    Instant t0 = now;
    run_until(t0 + 60 * kSecond);
    std::vector<Duration> gaps;
    Instant last = t0;
    while (wire.pending() > 0) {
        Segment s = pop();
        EXPECT_EQ(s.seq, first.seq);
        EXPECT_EQ(s.payload_length, 100u);
        gaps.push_back(wire.last_time - last);
        last = wire.last_time;
    }
    ASSERT_EQ(gaps.size(), 5u);
    EXPECT_EQ(gaps[0], 200 * kMillisecond);
    EXPECT_EQ(gaps[1], 400 * kMillisecond);
    EXPECT_EQ(gaps[2], 800 * kMillisecond);
    EXPECT_EQ(gaps[3], 1600 * kMillisecond);
    EXPECT_EQ(gaps[4], 2000 * kMillisecond); // capped at max_rto
    EXPECT_EQ(c->state(), State::Closed);
    EXPECT_EQ(c->poll_state().error, Errno::TIMEDOUT);
    EXPECT_EQ(c->stats().timeouts, 5u);
}

TEST_F(TcpTest, TimeoutCollapsesTheWindowAndRttResetsTheBackoff)
{
    config.congestion = CongestionAlgorithm::NewReno;
    config.timestamps = false;
    config.nodelay = true;
    establish(peer_syn_options(1000, 0, false, false));
    uint32_t base = c->iss() + 1;
    std::string data = pattern(4000);
    ASSERT_FALSE(c->send(reinterpret_cast<const uint8_t*>(data.data()), data.size(), now).is_error());
    while (wire.pending() > 0)
        pop();
    run_until(now + 200 * kMillisecond);
    Segment again = pop();
    EXPECT_EQ(again.seq, base);
    EXPECT_EQ(c->cwnd(), 1000u);
    EXPECT_EQ(c->ssthresh(), 2000u); // max(flight/2, 2·MSS)
    EXPECT_EQ(c->backed_off_rto(), 400 * kMillisecond);
    deliver(peer_nxt, base + 1000, kAck, "", 65535);
    EXPECT_EQ(c->backed_off_rto(), 200 * kMillisecond);
    // Go-back-N: the next segment is sent again (cwnd now 2000 in slow start).
    Segment next = pop();
    EXPECT_EQ(next.seq, base + 1000);
}

TEST_F(TcpTest, AcksAfterGoBackCarrySndMax)
{
    // After a timeout snd_nxt walks back; the peer already holds the later data, so a pure
    // ACK must carry the highest sequence number sent, or the peer refuses it (a two-way
    // transfer under heavy loss deadlocked on exactly this).
    config.timestamps = false;
    establish(peer_syn_options(1460, 0, false, false));
    std::string data = pattern(4 * 1460);
    ASSERT_FALSE(c->send(reinterpret_cast<const uint8_t*>(data.data()), data.size(), now).is_error());
    while (wire.pending() > 0)
        pop();
    uint32_t highest = c->snd_nxt();
    run_until(now + 200 * kMillisecond);
    EXPECT_EQ(pop().seq, c->iss() + 1); // the retransmission
    EXPECT_NE(c->snd_nxt(), highest);
    deliver(peer_nxt, c->iss() + 1, kAck, pattern(10));
    run_until(now + 40 * kMillisecond);
    Segment ack = pop();
    EXPECT_EQ(ack.payload_length, 0u);
    EXPECT_EQ(ack.seq, highest);
}

TEST_F(TcpTest, FastRetransmitAndNewRenoRecovery)
{
    config.congestion = CongestionAlgorithm::NewReno;
    config.timestamps = false;
    config.sack = false;
    establish(peer_syn_options(1460, 0, false, false));
    const uint32_t mss = 1460;
    uint32_t base = c->iss() + 1;
    std::string data = pattern(10 * mss);
    ASSERT_FALSE(c->send(reinterpret_cast<const uint8_t*>(data.data()), data.size(), now).is_error());
    for (int i = 0; i < 10; i++)
        EXPECT_EQ(pop().seq, base + i * mss);
    deliver(peer_nxt, base + mss, kAck, "", 65535); // segment 0 arrived, 1 lost
    EXPECT_EQ(c->cwnd(), 11 * mss);
    for (int i = 0; i < 2; i++)
        deliver(peer_nxt, base + mss, kAck, "", 65535);
    EXPECT_EQ(wire.pending(), 0u);
    EXPECT_FALSE(c->in_recovery());
    deliver(peer_nxt, base + mss, kAck, "", 65535); // the third duplicate
    EXPECT_TRUE(c->in_recovery());
    Segment rx = pop();
    EXPECT_EQ(rx.seq, base + mss);
    EXPECT_EQ(rx.payload_length, mss);
    EXPECT_EQ(c->ssthresh(), 9 * mss / 2);
    EXPECT_EQ(c->cwnd(), 9 * mss / 2 + 3 * mss);
    deliver(peer_nxt, base + mss, kAck, "", 65535); // inflation
    EXPECT_EQ(c->cwnd(), 9 * mss / 2 + 4 * mss);
    // Partial ACK: segments 1-4 arrived, 5 lost too: retransmitted at once.
    deliver(peer_nxt, base + 5 * mss, kAck, "", 65535);
    Segment rx2 = pop();
    EXPECT_EQ(rx2.seq, base + 5 * mss);
    EXPECT_TRUE(c->in_recovery());
    EXPECT_EQ(c->cwnd(), 9 * mss / 2 + 4 * mss - 4 * mss + mss);
    // Full ACK ends recovery; cwnd = min(ssthresh, flight + MSS).
    deliver(peer_nxt, base + 10 * mss, kAck, "", 65535);
    EXPECT_FALSE(c->in_recovery());
    EXPECT_EQ(c->cwnd(), 2 * mss);
    EXPECT_EQ(c->stats().fast_retransmits, 1u);
    EXPECT_EQ(c->stats().duplicate_acks, 3u + 1u);
}

TEST_F(TcpTest, SackScoreboardSkipsWhatThePeerHas)
{
    config.congestion = CongestionAlgorithm::NewReno;
    config.timestamps = false;
    establish(peer_syn_options(1460, 0, true, false));
    const uint32_t mss = 1460;
    uint32_t base = c->iss() + 1;
    std::string data = pattern(10 * mss);
    ASSERT_FALSE(c->send(reinterpret_cast<const uint8_t*>(data.data()), data.size(), now).is_error());
    while (wire.pending() > 0)
        pop();
    auto seg = [&](int i) { return base + i * mss; };
    deliver(peer_nxt, seg(1), kAck, "", 65535); // 0 arrived; 1 and 3 are lost
    auto dup = [&](std::vector<std::pair<int, int>> blocks) {
        Options opts;
        opts.sack_block_count = static_cast<uint8_t>(blocks.size());
        for (size_t b = 0; b < blocks.size(); b++)
            opts.sack_blocks[b] = {seg(blocks[b].first), seg(blocks[b].second)};
        deliver(peer_nxt, seg(1), kAck, "", 65535, opts);
    };
    dup({{2, 3}});
    dup({{4, 5}, {2, 3}});
    dup({{4, 6}, {2, 3}});
    Segment rx = pop(); // fast retransmit of 1, exactly up to the SACKed 2
    EXPECT_EQ(rx.seq, seg(1));
    EXPECT_EQ(rx.payload_length, mss);
    dup({{4, 7}, {2, 3}});
    Segment rx2 = pop(); // the next hole is 3, not 2 (SACKed)
    EXPECT_EQ(rx2.seq, seg(3));
    EXPECT_EQ(rx2.payload_length, mss);
    EXPECT_GE(c->stats().sack_skipped_bytes, mss);
    dup({{4, 8}, {2, 3}});
    // No more holes below the highest SACK: new data if the window allows (none queued).
    EXPECT_EQ(wire.pending(), 0u);
    deliver(peer_nxt, seg(10), kAck, "", 65535);
    EXPECT_FALSE(c->in_recovery());
}

// --- resets and challenge ACKs ---

TEST_F(TcpTest, ResetRulesAndChallengeAcks)
{
    config.challenge_ack_limit = 5;
    establish();
    uint32_t snd = c->snd_nxt();
    // In the window but not exact: a challenge ACK [rfc5961 §3.2].
    deliver(peer_nxt + 100, 0, kRst);
    EXPECT_EQ(c->state(), State::Established);
    Segment challenge = pop();
    EXPECT_EQ(challenge.flags, kAck);
    EXPECT_EQ(challenge.seq, snd);
    EXPECT_EQ(challenge.ack, peer_nxt);
    // Outside the window: dropped silently.
    deliver(peer_nxt + 10000000, 0, kRst);
    EXPECT_EQ(wire.pending(), 0u);
    EXPECT_EQ(c->state(), State::Established);
    // A SYN on an established connection: challenge ACK [rfc5961 §4.2].
    deliver(peer_nxt + 5, 0, kSyn);
    EXPECT_EQ(pop().ack, peer_nxt);
    EXPECT_EQ(c->state(), State::Established);
    // An ACK for data never sent: ACK and drop [rfc9293 §3.10.7.4].
    deliver(peer_nxt, snd + 5000, kAck, "data");
    EXPECT_EQ(pop().ack, peer_nxt);
    EXPECT_EQ(c->rcv_nxt(), peer_nxt);
    EXPECT_EQ(c->stats().bad_ack, 1u);
    // An ACK too far below snd_una (beyond the largest window): challenge ACK [rfc5961 §5.2].
    deliver(peer_nxt, snd - 1000000, kAck, "data");
    EXPECT_EQ(pop().ack, peer_nxt);
    EXPECT_EQ(c->stats().bad_ack, 2u);
    // Rate limit: 5 a second.
    for (int i = 0; i < 10; i++)
        deliver(peer_nxt + 1 + i, 0, kRst);
    // Three challenge ACKs were sent above, so two of these go out and eight do not.
    EXPECT_EQ(c->stats().challenge_acks_limited, 8u);
    while (wire.pending() > 0)
        pop();
    now += kSecond;
    deliver(peer_nxt + 1, 0, kRst);
    EXPECT_EQ(wire.pending(), 1u);
    pop();
    // The exact sequence number resets the connection.
    deliver(peer_nxt, 0, kRst);
    EXPECT_EQ(c->state(), State::Closed);
    EXPECT_EQ(c->poll_state().error, Errno::CONNRESET);
    EXPECT_TRUE(c->poll_state().events & kEventHangup);
    uint8_t b = 0;
    EXPECT_EQ(c->send(&b, 1, now).error(), Errno::CONNRESET);
    // A closed connection answers with RST.
    deliver(peer_nxt, snd, kAck, "x");
    Segment rst = pop();
    EXPECT_TRUE(rst.has(kRst));
}

TEST_F(TcpTest, PawsRejectsOldTimestamps)
{
    establish();
    Options old;
    old.has_timestamps = true;
    old.ts_value = peer_ts() - 1000; // older than ts_recent
    old.ts_echo = last_ts_from_connection;
    deliver(peer_nxt, c->snd_nxt(), kAck, "stale", 8192, old);
    EXPECT_EQ(c->stats().paws_rejected, 1u);
    EXPECT_EQ(c->rcv_nxt(), peer_nxt);
    EXPECT_EQ(pop().ack, peer_nxt);
    deliver(peer_nxt, c->snd_nxt(), kAck, "fresh");
    EXPECT_EQ(c->rcv_nxt(), peer_nxt + 5);
}

TEST_F(TcpTest, PawsToleratesATimestampOneTickBehind)
{
    establish();
    now += 10 * kMillisecond; // the peer's clock moves on: ts_recent is now 10 ticks behind
    deliver(peer_nxt, c->snd_nxt(), kAck, "a");
    EXPECT_EQ(c->rcv_nxt(), peer_nxt + 1);
    Options behind;
    behind.has_timestamps = true;
    behind.ts_echo = last_ts_from_connection;
    behind.ts_value = peer_ts() - 1; // one tick behind ts_recent: accepted, as Linux does
    deliver(peer_nxt + 1, c->snd_nxt(), kAck, "b", 8192, behind);
    EXPECT_EQ(c->stats().paws_rejected, 0u);
    EXPECT_EQ(c->rcv_nxt(), peer_nxt + 2);
    behind.ts_value = peer_ts() - 2; // two: an old duplicate
    deliver(peer_nxt + 2, c->snd_nxt(), kAck, "c", 8192, behind);
    EXPECT_EQ(c->stats().paws_rejected, 1u);
    EXPECT_EQ(c->rcv_nxt(), peer_nxt + 2);
}

TEST_F(TcpTest, RttMeasurementFromTimestamps)
{
    establish();
    std::string data = pattern(100);
    ASSERT_FALSE(c->send(reinterpret_cast<const uint8_t*>(data.data()), data.size(), now).is_error());
    Segment s = pop();
    last_ts_from_connection = s.options.ts_value;
    now += 300 * kMillisecond;
    deliver(peer_nxt, s.seq + 100, kAck);
    // Second sample: SRTT = 7/8·0 + 1/8·300 ms.
    EXPECT_EQ(c->srtt(), 300 * kMillisecond / 8);
    EXPECT_EQ(c->stats().rtt_samples, 2u);
}

// --- closing ---

TEST_F(TcpTest, ActiveCloseThroughTimeWait)
{
    config.time_wait = 60 * kSecond;
    establish();
    ASSERT_FALSE(c->shutdown(now).is_error());
    EXPECT_EQ(c->state(), State::FinWait1);
    Segment fin = pop();
    EXPECT_TRUE(fin.has(kFin));
    uint8_t b = 0;
    EXPECT_EQ(c->send(&b, 1, now).error(), Errno::PIPE);
    deliver(peer_nxt, fin.seq + 1, kAck);
    EXPECT_EQ(c->state(), State::FinWait2);
    deliver(peer_nxt, fin.seq + 1, kAck | kFin);
    EXPECT_EQ(c->state(), State::TimeWait);
    EXPECT_EQ(pop().ack, peer_nxt + 1);
    // A retransmitted FIN is acknowledged again.
    deliver(peer_nxt, fin.seq + 1, kAck | kFin);
    EXPECT_EQ(pop().ack, peer_nxt + 1);
    Instant t0 = now;
    run_until(t0 + 59 * kSecond);
    EXPECT_EQ(c->state(), State::TimeWait);
    run_until(t0 + 60 * kSecond);
    EXPECT_EQ(c->state(), State::Closed);
    EXPECT_EQ(c->poll_state().error, Errno(0));
}

TEST_F(TcpTest, TimeWaitAllowsANewerSyn)
{
    config.timestamps = false;
    establish(peer_syn_options(1460, 7, true, false));
    ASSERT_FALSE(c->shutdown(now).is_error());
    Segment fin = pop();
    deliver(peer_nxt, fin.seq + 1, kAck | kFin);
    ASSERT_EQ(c->state(), State::TimeWait);
    pop();
    // An old SYN (lower sequence number): challenge ACK, stays.
    EXPECT_EQ(deliver(peer_nxt - 10, 0, kSyn), InputResult::Done);
    EXPECT_EQ(c->state(), State::TimeWait);
    EXPECT_EQ(deliver(peer_nxt + 100000, 0, kSyn), InputResult::Reopen);
    EXPECT_EQ(c->state(), State::Closed);
}

TEST_F(TcpTest, TimeWaitReuseByTimestamp)
{
    establish();
    ASSERT_FALSE(c->shutdown(now).is_error());
    Segment fin = pop();
    last_ts_from_connection = fin.options.ts_value;
    deliver(peer_nxt, fin.seq + 1, kAck | kFin);
    ASSERT_EQ(c->state(), State::TimeWait);
    now += kSecond;
    Options newer;
    newer.has_timestamps = true;
    newer.ts_value = peer_ts();
    // Even with a lower sequence number, a newer timestamp makes it a new incarnation.
    EXPECT_EQ(deliver(peer_nxt - 1000, 0, kSyn, "", 8192, newer), InputResult::Reopen);
}

TEST_F(TcpTest, SimultaneousClose)
{
    establish();
    ASSERT_FALSE(c->shutdown(now).is_error());
    Segment fin = pop();
    // The peer's FIN crosses ours (it does not acknowledge our FIN).
    deliver(peer_nxt, fin.seq, kAck | kFin);
    EXPECT_EQ(c->state(), State::Closing);
    Segment ack = pop();
    EXPECT_EQ(ack.ack, peer_nxt + 1);
    deliver(peer_nxt + 1, fin.seq + 1, kAck);
    EXPECT_EQ(c->state(), State::TimeWait);
}

TEST_F(TcpTest, PassiveClose)
{
    establish();
    deliver(peer_nxt, c->snd_nxt(), kAck | kFin, "bye");
    EXPECT_EQ(c->state(), State::CloseWait);
    EXPECT_EQ(pop().ack, peer_nxt + 4);
    EXPECT_TRUE(c->poll_state().fin_received);
    EXPECT_TRUE(c->poll_state().events & kEventReadable);
    uint8_t buf[8];
    EXPECT_EQ(c->receive(buf, 8, now).value(), 3u);
    EXPECT_EQ(c->receive(buf, 8, now).value(), 0u);
    // Still allowed to send in CLOSE-WAIT.
    EXPECT_EQ(c->send(buf, 2, now).value(), 2u);
    Segment data = pop();
    EXPECT_EQ(data.payload_length, 2u);
    c->close(now);
    EXPECT_EQ(c->state(), State::LastAck);
    Segment fin = pop();
    EXPECT_TRUE(fin.has(kFin));
    deliver(peer_nxt + 4, fin.seq + 1, kAck);
    EXPECT_EQ(c->state(), State::Closed);
    EXPECT_EQ(c->poll_state().error, Errno(0));
}

TEST_F(TcpTest, CloseWithUnreadDataResets)
{
    establish();
    deliver(peer_nxt, c->snd_nxt(), kAck, "unread");
    c->close(now);
    bool saw_rst = false;
    while (wire.pending() > 0)
        saw_rst |= pop().has(kRst);
    EXPECT_TRUE(saw_rst);
    EXPECT_EQ(c->state(), State::Closed);
}

TEST_F(TcpTest, KeepAliveProbesThenTimesOut)
{
    establish();
    c->set_keepalive(true, 10 * kSecond, 1 * kSecond, 3, now);
    Instant t0 = now;
    run_until(t0 + 10 * kSecond);
    Segment probe = pop();
    EXPECT_EQ(probe.seq, c->snd_una() - 1);
    EXPECT_EQ(probe.payload_length, 0u);
    // An answer resets the idle timer.
    deliver(peer_nxt, c->snd_nxt(), kAck);
    run_until(t0 + 19 * kSecond);
    EXPECT_EQ(wire.pending(), 0u);
    run_until(t0 + 20 * kSecond);
    EXPECT_EQ(pop().seq, c->snd_una() - 1);
    run_until(t0 + 22 * kSecond);
    EXPECT_EQ(wire.pending(), 2u);
    EXPECT_EQ(c->state(), State::Established);
    run_until(t0 + 23 * kSecond);
    EXPECT_EQ(c->state(), State::Closed);
    EXPECT_EQ(c->poll_state().error, Errno::TIMEDOUT);
    EXPECT_EQ(c->stats().keepalive_probes, 4u);
}

// --- the listener ---

class ListenerTest : public TcpTest {
protected:
    void TearDown() override
    {
        for (Connection* a : accepted)
            delete a;
        delete listener;
        TcpTest::TearDown();
    }
    void make_listener()
    {
        lc.connection = config;
        auto r = Listener::create(lc, wire);
        ASSERT_FALSE(r.is_error());
        listener = r.value();
    }
    // A SYN from remote port `port`.
    Segment syn_from(uint16_t port, uint32_t isn, Options options)
    {
        Segment s = build(isn, 0, kSyn, "", 65535, options);
        s.source_port = port;
        return s;
    }
    Segment ack_from(uint16_t port, uint32_t seq, uint32_t ack, Options options = Options{})
    {
        Segment s = build(seq, ack, kAck, "", 1000, options);
        s.source_port = port;
        return s;
    }

    ListenerConfig lc;
    Listener* listener = nullptr;
    std::vector<Connection*> accepted;
};

TEST_F(ListenerTest, HandshakeThroughTheSynQueue)
{
    make_listener();
    listener->on_segment(syn_from(1000, 500, peer_syn_options()), now);
    EXPECT_EQ(listener->half_open(), 1u);
    Segment synack = pop();
    EXPECT_EQ(synack.flags, kSyn | kAck);
    EXPECT_EQ(synack.ack, 501u);
    EXPECT_EQ(listener->accept(), nullptr);
    Options ts;
    ts.has_timestamps = true;
    ts.ts_value = 1;
    ts.ts_echo = synack.options.ts_value;
    listener->on_segment(ack_from(1000, 501, synack.seq + 1, ts), now);
    EXPECT_EQ(listener->half_open(), 0u);
    Connection* a = listener->accept();
    ASSERT_NE(a, nullptr);
    accepted.push_back(a);
    EXPECT_EQ(a->state(), State::Established);
    EXPECT_EQ(a->tuple().remote_port, 1000);
    EXPECT_EQ(a->send_window_scale(), 7);
}

TEST_F(ListenerTest, HalfOpenConnectionsRetransmitThenExpire)
{
    config.max_syn_retransmits = 2;
    make_listener();
    listener->on_segment(syn_from(1000, 500, peer_syn_options()), now);
    pop();
    Instant t0 = now;
    while (listener->next_deadline() != kNever) {
        now = listener->next_deadline();
        listener->on_timer(now);
    }
    EXPECT_EQ(wire.pending(), 2u); // two SYN-ACK retransmissions
    EXPECT_EQ(pop().flags, kSyn | kAck);
    EXPECT_EQ(wire.last_time - t0, 1 * kSecond);
    EXPECT_EQ(listener->half_open(), 0u);
    EXPECT_EQ(listener->stats().half_open_expired, 1u);
}

TEST_F(ListenerTest, SynFloodFallsBackToCookiesAndAValidAckCompletes)
{
    lc.syn_backlog = 4;
    lc.backlog = 8;
    lc.cookie_key = HashKey{0x1234, 0x5678};
    make_listener();
    for (uint16_t port = 2000; port < 2100; port++)
        listener->on_segment(syn_from(port, port * 1000u, peer_syn_options()), now);
    EXPECT_EQ(listener->half_open(), 4u);
    EXPECT_EQ(listener->stats().syn_queue_full, 96u);
    EXPECT_EQ(listener->stats().cookies_sent, 96u);
    // Find the cookie SYN-ACK sent to port 2050.
    Segment cookie;
    bool found = false;
    while (wire.pending() > 0) {
        Segment s = pop();
        if (s.destination_port == 2050) {
            cookie = s;
            found = true;
        }
    }
    ASSERT_TRUE(found);
    EXPECT_EQ(cookie.ack, 2050u * 1000 + 1);
    EXPECT_TRUE(cookie.options.has_timestamps);
    EXPECT_TRUE(cookie.options.has_window_scale);
    EXPECT_TRUE(cookie.options.sack_permitted);
    now += 3 * kSecond;
    // A forged ACK (wrong cookie) is refused with RST.
    Options ts;
    ts.has_timestamps = true;
    ts.ts_value = 9;
    ts.ts_echo = cookie.options.ts_value;
    listener->on_segment(ack_from(2050, 2050u * 1000 + 1, cookie.seq + 2, ts), now);
    EXPECT_TRUE(pop().has(kRst));
    EXPECT_EQ(listener->stats().cookies_rejected, 1u);
    // Tampered option bits (SACK off) fail too.
    Options tampered = ts;
    tampered.ts_echo ^= 1u << 4;
    listener->on_segment(ack_from(2050, 2050u * 1000 + 1, cookie.seq + 1, tampered), now);
    EXPECT_TRUE(pop().has(kRst));
    // The right one builds an established connection with the encoded options.
    listener->on_segment(ack_from(2050, 2050u * 1000 + 1, cookie.seq + 1, ts), now);
    EXPECT_EQ(listener->stats().cookies_accepted, 1u);
    Connection* a = listener->accept();
    ASSERT_NE(a, nullptr);
    accepted.push_back(a);
    EXPECT_EQ(a->state(), State::Established);
    EXPECT_EQ(a->send_mss(), 1460u - 12u);
    EXPECT_EQ(a->send_window_scale(), 7);
    EXPECT_TRUE(a->sack_enabled());
    EXPECT_TRUE(a->timestamps_enabled());
    EXPECT_EQ(a->snd_wnd(), 1000u << 7);
    // It carries data both ways.
    const char* hello = "hello";
    EXPECT_EQ(a->send(reinterpret_cast<const uint8_t*>(hello), 5, now).value(), 5u);
    Segment out = pop();
    EXPECT_EQ(out.seq, cookie.seq + 1);
    EXPECT_EQ(out.payload_length, 5u);
    EXPECT_GE(out.options.ts_value, cookie.options.ts_value); // TSvals never go back
}

TEST_F(ListenerTest, CookiesExpire)
{
    lc.syn_backlog = 0;
    make_listener();
    listener->on_segment(syn_from(3000, 77, peer_syn_options(1460, -1, false, false)), now);
    Segment cookie = pop();
    EXPECT_FALSE(cookie.options.has_timestamps);
    EXPECT_FALSE(cookie.options.has_window_scale);
    EXPECT_EQ(cookie.options.mss, 1460);
    now += 200 * kSecond; // more than two 64 s periods
    listener->on_segment(ack_from(3000, 78, cookie.seq + 1), now);
    EXPECT_EQ(listener->stats().cookies_rejected, 1u);
    EXPECT_EQ(listener->accept(), nullptr);
}

TEST_F(ListenerTest, CookieWithoutTimestampsUsesTheMssTable)
{
    lc.syn_backlog = 0;
    make_listener();
    listener->on_segment(syn_from(3001, 77, peer_syn_options(1300, 5, true, false)), now);
    Segment cookie = pop();
    now += 65 * kSecond; // the previous period is still accepted
    listener->on_segment(ack_from(3001, 78, cookie.seq + 1), now);
    Connection* a = listener->accept();
    ASSERT_NE(a, nullptr);
    accepted.push_back(a);
    EXPECT_EQ(a->send_mss(), 1220u); // the largest table entry <= 1300
    EXPECT_EQ(a->send_window_scale(), 0);
    EXPECT_FALSE(a->sack_enabled());
}

} // namespace
