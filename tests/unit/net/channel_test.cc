// Net channels (net/channel/channel.h, Stack::classify, the TCP and UDP consumer sides):
// which frames the classifier puts on a connection's or a UDP socket's channel and which it
// leaves for the ordinary path, that the owner's calls process what waits there in order, and
// the channel's own rules (single producer, references, the listener). Two stacks on a
// simulated wire; the receiving side offers every frame to the classifier first, as the
// kernel's receive thread does.
#include "net_test_support.h"

#include <net/channel/channel.h>
#include <net/tcp/tcp.h>

#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace {

using namespace nettest;
using net::Channel;
using net::tcp::Endpoint;
using net::tcp::MemoryBuffer;
using net::tcp::Tcp;


// A receive thread's burst on `h`: every frame offered to the classifier, the rest handed to
// input() afterwards (in order, as one TCP batch), the channels told and let go.
struct Burst {
    size_t queued = 0;   // frames the classifier took
    size_t ordinary = 0; // frames left for input()
};

Burst receive_burst(Host& h, std::vector<Bytes> frames, uint64_t burst)
{
    Burst result;
    std::vector<Channel*> touched;
    std::vector<net::Packet> rest;
    for (const Bytes& f : frames) {
        net::Packet p = make_packet(f);
        bool was_empty = false;
        if (Channel* c = h.stack.classify(h.eth, p, { &h.eth, burst }, was_empty)) {
            touched.push_back(c);
            result.queued++;
        } else {
            EXPECT_FALSE(p.is_null());
            EXPECT_EQ(p.length(), f.size()); // left as it was
            rest.push_back(std::move(p));
        }
    }
    for (Channel* c : touched)
        c->notify();
    for (Channel* c : touched)
        c->unref();
    h.stack.tcp().begin_batch();
    for (net::Packet& p : rest) {
        result.ordinary++;
        h.stack.input(h.eth, std::move(p));
    }
    h.stack.tcp().end_batch();
    return result;
}

std::vector<Bytes> take_frames(Host& h)
{
    std::vector<Bytes> out(h.eth.frames.begin(), h.eth.frames.end());
    h.eth.frames.clear();
    return out;
}

// Moves frames both ways until the wire is quiet, each direction's frames as one burst.
void pump_bursts(Host& a, Host& b, uint64_t& burst)
{
    for (int i = 0; i < 1000 && (!a.eth.frames.empty() || !b.eth.frames.empty()); i++) {
        receive_burst(b, take_frames(a), ++burst);
        receive_burst(a, take_frames(b), ++burst);
    }
}

struct Pair {
    Host a{ 2, 11 };
    Host b{ 3, 22 };
    EventCounter client_events, server_events;
    Endpoint* listener = nullptr;
    Endpoint* client = nullptr; // on a
    Endpoint* conn = nullptr;   // on b, accepted
    uint64_t burst = 0;

    Pair()
    {
        listener = open(b.stack.tcp(), server_events);
        EXPECT_FALSE(b.stack.tcp().bind(*listener, { {}, 5001 }).is_error());
        EXPECT_FALSE(b.stack.tcp().listen(*listener, 4).is_error());
        client = open(a.stack.tcp(), client_events);
        EXPECT_FALSE(a.stack.tcp().connect(*client, { ip(10, 0, 0, 3), 5001 }).is_error());
        pump_bursts(a, b, burst);
        auto accepted = b.stack.tcp().accept(*listener, server_events);
        EXPECT_FALSE(accepted.is_error());
        conn = accepted.is_error() ? nullptr : accepted.value();
    }

    ~Pair()
    {
        if (client)
            a.stack.tcp().release(*client, true);
        if (conn)
            b.stack.tcp().release(*conn, true);
        b.stack.tcp().release(*listener);
    }
};

// The IPv4 and TCP checksums of an Ethernet frame, recomputed after an edit.
void fix_checksums(Bytes& f)
{
    uint8_t* ip4 = f.data() + 14;
    size_t ihl = size_t(ip4[0] & 0xf) * 4;
    net::store_be16(ip4 + 10, 0);
    net::store_be16(ip4 + 10, net::finish_checksum(net::sum_bytes(ip4, ihl)));
    uint8_t* t = ip4 + ihl;
    size_t length = net::load_be16(ip4 + 2) - ihl;
    net::store_be16(t + 16, 0);
    uint32_t sum = net::pseudo_header_sum(net::Ipv4Address{ net::load_be32(ip4 + 12) },
                                          net::Ipv4Address{ net::load_be32(ip4 + 16) }, 6, uint16_t(length));
    net::store_be16(t + 16, net::finish_checksum(net::sum_bytes(t, length, sum)));
}

// After an address edit in a UDP frame: the IPv4 checksum recomputed, the UDP one dropped
// (0: none, allowed over IPv4).
void fix_checksums_udp(Bytes& f)
{
    uint8_t* ip4 = f.data() + 14;
    net::store_be16(ip4 + 10, 0);
    net::store_be16(ip4 + 10, net::finish_checksum(net::sum_bytes(ip4, 20)));
    net::store_be16(ip4 + 20 + 6, 0);
}

// A copy of data segment `f` carrying `payload` at sequence number `seq`.
Bytes with_payload(const Bytes& f, uint32_t seq, const std::string& payload)
{
    size_t ihl = size_t(f[14] & 0xf) * 4;
    size_t header = size_t(f[14 + ihl + 12] >> 4) * 4;
    Bytes out(f.begin(), f.begin() + 14 + ihl + header);
    out.insert(out.end(), payload.begin(), payload.end());
    net::store_be16(out.data() + 16, uint16_t(ihl + header + payload.size()));
    net::store_be32(out.data() + 14 + ihl + 4, seq);
    fix_checksums(out);
    return out;
}

TEST(TcpChannel, ChannelRules)
{
    int retired = 0;
    auto* c = new Channel([](Channel* ch, void* n) { ++*static_cast<int*>(n); delete ch; }, &retired);
    FakeEthernet eth0("eth0", mac(2)), eth1("eth1", mac(3));
    net::Packet p = make_packet(Bytes(100, 1));
    bool was_empty = false;
    EXPECT_EQ(c->push(p, &eth0, was_empty), net::PushResult::Closed); // closed to producers
    EXPECT_FALSE(p.is_null());
    c->set_accepting(true);
    ASSERT_EQ(c->push(p, &eth0, was_empty), net::PushResult::Queued);
    EXPECT_TRUE(was_empty);
    EXPECT_TRUE(p.is_null());
    net::Packet q = make_packet(Bytes(50, 2));
    EXPECT_EQ(c->push(q, &eth1, was_empty), net::PushResult::OtherProducer); // eth0 is the producer now
    size_t pushed = 1;
    while (true) {
        net::Packet r = make_packet(Bytes(10, uint8_t(pushed)));
        net::PushResult result = c->push(r, &eth0, was_empty);
        if (result != net::PushResult::Queued) {
            EXPECT_EQ(result, net::PushResult::Full);
            EXPECT_FALSE(r.is_null()); // full: the caller keeps it
            break;
        }
        EXPECT_FALSE(was_empty);
        pushed++;
    }
    EXPECT_EQ(pushed, Channel::kCapacity);
    EXPECT_EQ(c->pop().length(), 100u); // first in, first out
    EXPECT_EQ(c->pop().data()[0], 1u);

    struct Listener final : net::ChannelListener {
        void packets_queued() override { calls++; }
        int calls = 0;
    } listener;
    c->notify(); // none yet
    c->set_listener(&listener);
    c->notify();
    c->set_listener(nullptr);
    c->notify();
    EXPECT_EQ(listener.calls, 1);

    ASSERT_TRUE(c->try_ref());
    c->unref();
    EXPECT_EQ(retired, 0);
    c->unref(); // the last: retired with its packets
    EXPECT_EQ(retired, 1);
}

TEST(TcpChannel, EstablishedSegmentsWaitOnTheChannelUntilTheOwnerCallsIn)
{
    Pair p;
    ASSERT_NE(p.conn, nullptr);
    Tcp& server = p.b.stack.tcp();
    // The handshake took the ordinary path: SYNs are never classified, and the final ACK
    // belongs to a connection not yet accepted (not in the table).
    EXPECT_EQ(server.channel_stats().queued.load(), 0u);

    ASSERT_FALSE(write(p.a.stack.tcp(), *p.client, "hello").is_error());
    Burst burst = receive_burst(p.b, take_frames(p.a), ++p.burst);
    EXPECT_EQ(burst.queued, 1u);
    EXPECT_EQ(burst.ordinary, 0u);
    EXPECT_EQ(p.server_events.queued, 1);
    // Nothing processed yet: no data in the connection, no ACK on the wire.
    EXPECT_EQ(p.conn->connection()->stats().bytes_received, 0u);
    EXPECT_TRUE(p.b.eth.frames.empty());

    net::tcp::EndpointStatus st = server.status(*p.conn); // processes the channel first
    EXPECT_TRUE(st.readable);
    EXPECT_EQ(st.readable_bytes, 5u);
    EXPECT_EQ(server.stats().rx_channel, 1u);
    EXPECT_EQ(server.channel_stats().consumed.load(), 1u);
    EXPECT_EQ(read(server, *p.conn), "hello");

    // read() itself processes what waits, too.
    p.a.stack.tcp().set_nodelay(*p.client, true); // (the first segment is not acknowledged yet)
    ASSERT_FALSE(write(p.a.stack.tcp(), *p.client, " world").is_error());
    EXPECT_EQ(receive_burst(p.b, take_frames(p.a), ++p.burst).queued, 1u);
    EXPECT_EQ(read(server, *p.conn), " world");
}

TEST(TcpChannel, ALargeCoalescedSegmentIsClassifiedWhole)
{
    // A coalescing NIC (LRO) hands over one 60 KiB segment: the classifier takes it like any
    // other, the owner's call processes it, and the bytes arrive intact and acknowledged. A
    // second receive queue (another producer) pushing to the same flow in the same burst
    // takes the ordinary path instead, so the channel keeps one producer.
    Pair p;
    ASSERT_NE(p.conn, nullptr);
    Tcp& server = p.b.stack.tcp();
    ASSERT_FALSE(write(p.a.stack.tcp(), *p.client, "x").is_error());
    std::vector<Bytes> frames = take_frames(p.a);
    ASSERT_EQ(frames.size(), 1u);
    uint32_t seq = net::load_be32(frames[0].data() + 14 + 20 + 4);
    std::string big(60 * 1024, '\0');
    for (size_t i = 0; i < big.size(); i++)
        big[i] = char('a' + i % 23);
    Bytes large = with_payload(frames[0], seq + 1, big);
    ASSERT_EQ(large.size(), 14u + 20 + 32 + 60 * 1024);
    EXPECT_EQ(receive_burst(p.b, { frames[0], large }, ++p.burst).queued, 2u);
    EXPECT_EQ(read(server, *p.conn), "x" + big);
    EXPECT_FALSE(p.b.eth.frames.empty()); // acknowledged at once: far more than two segments

    // The receive queue that pushed first (receive_burst's producer) owns the channel; another
    // queue's segment of the flow goes the ordinary way.
    p.b.eth.frames.clear();
    int queue1 = 0;
    net::Packet first = make_packet(with_payload(frames[0], seq + 1 + uint32_t(big.size()), "yz"));
    bool was_empty = false;
    Channel* c = p.b.stack.classify(p.b.eth, first, { &p.b.eth, ++p.burst }, was_empty);
    ASSERT_NE(c, nullptr);
    net::Packet second = make_packet(with_payload(frames[0], seq + 3 + uint32_t(big.size()), "!"));
    uint64_t other_queue = p.b.stack.tcp().channel_stats().other_queue.load();
    EXPECT_EQ(p.b.stack.classify(p.b.eth, second, { &queue1, p.burst }, was_empty), nullptr);
    EXPECT_FALSE(second.is_null());
    EXPECT_EQ(p.b.stack.tcp().channel_stats().other_queue.load(), other_queue + 1); // counted as such
    c->notify();
    c->unref();
    p.b.stack.tcp().begin_batch();
    p.b.stack.input(p.b.eth, std::move(second));
    p.b.stack.tcp().end_batch();
    EXPECT_EQ(read(server, *p.conn), "yz!");
}

TEST(TcpChannel, OnlyPlainSegmentsOfKnownFlowsAreClassified)
{
    Pair p;
    ASSERT_NE(p.conn, nullptr);
    ASSERT_FALSE(write(p.a.stack.tcp(), *p.client, "x").is_error());
    Bytes data = p.a.eth.pop();
    ASSERT_FALSE(data.empty());
    Tcp& server = p.b.stack.tcp();
    uint32_t seq = net::load_be32(data.data() + 14 + 20 + 4);

    auto classified = [&](const Bytes& f) {
        net::Packet packet = make_packet(f);
        bool was_empty = false;
        Channel* c = p.b.stack.classify(p.b.eth, packet, { &p.b.eth, ++p.burst }, was_empty);
        if (c) {
            c->unref();
            return true;
        }
        EXPECT_EQ(packet.length(), f.size());
        EXPECT_EQ(memcmp(packet.data(), f.data(), f.size()), 0) << "the frame must be left as it was";
        return false;
    };

    Bytes other_mac = data;
    other_mac[5] ^= 1;
    EXPECT_FALSE(classified(other_mac));
    Bytes fragment = data;
    fragment[14 + 6] |= 0x20; // more fragments
    fix_checksums(fragment);
    EXPECT_FALSE(classified(fragment));
    Bytes bad_ip_checksum = data;
    bad_ip_checksum[14 + 10] ^= 0xff;
    EXPECT_FALSE(classified(bad_ip_checksum));
    Bytes rst = data;
    rst[14 + 20 + 13] |= 0x04;
    fix_checksums(rst);
    EXPECT_FALSE(classified(rst));
    Bytes syn = data;
    syn[14 + 20 + 13] |= 0x02;
    fix_checksums(syn);
    EXPECT_FALSE(classified(syn));
    Bytes unknown_port = data;
    net::store_be16(unknown_port.data() + 14 + 20, 4444);
    fix_checksums(unknown_port);
    EXPECT_FALSE(classified(unknown_port));
    Bytes udp = data;
    udp[14 + 9] = 17;
    fix_checksums(udp);
    EXPECT_FALSE(classified(udp));
    Bytes truncated(data.begin(), data.begin() + 14 + 20 + 10);
    EXPECT_FALSE(classified(truncated));
    EXPECT_EQ(server.channel_stats().queued.load(), 0u);

    // A bad TCP checksum is the consumer's business: queued, then dropped when processed.
    Bytes bad_tcp_checksum = with_payload(data, seq, "y");
    bad_tcp_checksum.back() ^= 0xff;
    EXPECT_TRUE(classified(bad_tcp_checksum));
    EXPECT_EQ(server.status(*p.conn).readable_bytes, 0u);
    EXPECT_EQ(server.parse_stats().bad_checksum, 1u);

    // Once a frame of the flow took the ordinary path, the rest of the burst follows it (the
    // ordinary path runs after the burst: a later frame on the channel would overtake it).
    Bytes syn_first = with_payload(data, seq - 100, "");
    syn_first[14 + 20 + 13] |= 0x02;
    fix_checksums(syn_first);
    Burst burst = receive_burst(p.b, { syn_first, data }, ++p.burst);
    EXPECT_EQ(burst.queued, 0u);
    EXPECT_EQ(burst.ordinary, 2u);
    EXPECT_EQ(read(server, *p.conn), "x");
    EXPECT_GE(server.channel_stats().diverted.load(), 2u);
}

TEST(TcpChannel, AFullChannelFallsBackToTheOrdinaryPathInOrder)
{
    Pair p;
    ASSERT_NE(p.conn, nullptr);
    ASSERT_FALSE(write(p.a.stack.tcp(), *p.client, "0").is_error());
    Bytes first = p.a.eth.pop();
    uint32_t seq = net::load_be32(first.data() + 14 + 20 + 4);
    // 300 segments of 10 bytes in one burst: 256 fill the channel, the rest go the ordinary
    // way, which processes the channel before them.
    std::vector<Bytes> frames;
    std::string expect;
    for (int i = 0; i < 300; i++) {
        char text[16];
        snprintf(text, sizeof text, "[%07d]", i);
        std::string payload(text, 9);
        payload += '\n';
        frames.push_back(with_payload(first, seq + uint32_t(expect.size()), payload));
        expect += payload;
    }
    Tcp& server = p.b.stack.tcp();
    Burst burst = receive_burst(p.b, frames, ++p.burst);
    EXPECT_EQ(burst.queued, Channel::kCapacity);
    EXPECT_EQ(burst.ordinary, 300 - Channel::kCapacity);
    EXPECT_EQ(server.channel_stats().full.load(), 1u);
    EXPECT_EQ(read(server, *p.conn), expect);
    EXPECT_EQ(p.conn->connection()->stats().out_of_order_segments, 0u);
}

TEST(TcpChannel, TheSweepAndTheTimersProcessWhatNobodyCalledInFor)
{
    Pair p;
    ASSERT_NE(p.conn, nullptr);
    Tcp& server = p.b.stack.tcp();
    // Data nobody reads: the sweep processes it (and the delayed ACK follows).
    ASSERT_FALSE(write(p.a.stack.tcp(), *p.client, "unread").is_error());
    EXPECT_EQ(receive_burst(p.b, take_frames(p.a), ++p.burst).queued, 1u);
    server.drain_channels();
    EXPECT_EQ(p.conn->connection()->stats().bytes_received, 6u);
    for (int i = 0; i < 50 && p.b.eth.frames.empty(); i++) {
        p.b.clock.advance(kSecond / 100);
        p.b.stack.poll_timers(p.b.clock.now_ns());
    }
    ASSERT_FALSE(p.b.eth.frames.empty()); // the ACK
    EXPECT_EQ(receive_burst(p.a, take_frames(p.b), ++p.burst).queued, 1u);
    (void)p.a.stack.tcp().status(*p.client); // the client calls in: the ACK is processed
    EXPECT_EQ(p.client->connection()->snd_una(), p.client->connection()->snd_nxt());

    // The server sends; the client's ACK waits on the server's channel when the
    // retransmission timer comes due: the timer processes the channel first, so nothing is
    // retransmitted.
    ASSERT_FALSE(write(server, *p.conn, "reply").is_error());
    receive_burst(p.a, take_frames(p.b), ++p.burst);
    p.a.stack.tcp().drain_channels(); // (the client's sweep)
    for (int i = 0; i < 100 && p.a.eth.frames.empty(); i++) { // the client's delayed ACK
        p.a.clock.advance(kSecond / 100);
        p.a.stack.poll_timers(p.a.clock.now_ns());
    }
    EXPECT_EQ(receive_burst(p.b, take_frames(p.a), ++p.burst).queued, 1u);
    p.b.clock.advance(5 * kSecond);
    p.b.stack.poll_timers(p.b.clock.now_ns());
    EXPECT_EQ(p.conn->connection()->stats().retransmitted_segments, 0u);
    EXPECT_EQ(p.conn->connection()->snd_una(), p.conn->connection()->snd_nxt());
    EXPECT_EQ(read(p.a.stack.tcp(), *p.client), "reply");
}

TEST(TcpChannel, ReleasedAndClosedConnectionsTakeTheOrdinaryPath)
{
    Pair p;
    ASSERT_NE(p.conn, nullptr);
    Tcp& server = p.b.stack.tcp();
    // Data is queued, then the socket closes: close() sees it (unread data: RST).
    ASSERT_FALSE(write(p.a.stack.tcp(), *p.client, "late").is_error());
    EXPECT_EQ(receive_burst(p.b, take_frames(p.a), ++p.burst).queued, 1u);
    server.release(*p.conn);
    p.conn = nullptr;
    std::vector<Bytes> out = take_frames(p.b);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_TRUE(out[0][14 + 20 + 13] & 0x04) << "RST for unread data";
    receive_burst(p.a, out, ++p.burst);
    EXPECT_TRUE(p.a.stack.tcp().status(*p.client).error);
    EXPECT_EQ(server.connection_count(), 0u);

    // An orphan finishing its close: its segments are not queued (nobody would call in).
    Pair q;
    ASSERT_NE(q.conn, nullptr);
    Tcp& server2 = q.b.stack.tcp();
    server2.release(*q.conn); // FIN
    q.conn = nullptr;
    receive_burst(q.a, take_frames(q.b), ++q.burst);
    q.a.stack.tcp().release(*q.client); // FIN back, ACK of ours
    q.client = nullptr;
    Burst burst = receive_burst(q.b, take_frames(q.a), ++q.burst);
    EXPECT_EQ(burst.queued, 0u);
    EXPECT_GE(burst.ordinary, 1u);
    EXPECT_EQ(server2.channel_stats().queued.load(), 0u);
}

TEST(TcpChannel, MegabytesBothWaysThroughChannels)
{
    Pair p;
    ASSERT_NE(p.conn, nullptr);
    Tcp& ta = p.a.stack.tcp();
    Tcp& tb = p.b.stack.tcp();
    constexpr size_t kBytes = 2 << 20;
    std::vector<uint8_t> up(kBytes), down(kBytes);
    for (size_t i = 0; i < kBytes; i++) {
        up[i] = uint8_t(i * 7 + (i >> 11));
        down[i] = uint8_t(i * 13 + (i >> 9));
    }
    std::vector<uint8_t> got_up, got_down, chunk(100000);
    size_t sent_up = 0, sent_down = 0;
    for (int round = 0; round < 100000 && (got_up.size() < kBytes || got_down.size() < kBytes); round++) {
        if (sent_up < kBytes) {
            MemoryBuffer buffer(up.data() + sent_up, kBytes - sent_up);
            auto n = ta.write(*p.client, buffer, 0, kBytes - sent_up);
            if (!n.is_error())
                sent_up += n.value();
        }
        if (sent_down < kBytes) {
            MemoryBuffer buffer(down.data() + sent_down, kBytes - sent_down);
            auto n = tb.write(*p.conn, buffer, 0, kBytes - sent_down);
            if (!n.is_error())
                sent_down += n.value();
        }
        pump_bursts(p.a, p.b, p.burst);
        MemoryBuffer out(chunk.data(), chunk.size());
        auto n = tb.read(*p.conn, out, 0, chunk.size(), false);
        if (!n.is_error())
            got_up.insert(got_up.end(), chunk.begin(), chunk.begin() + n.value());
        n = ta.read(*p.client, out, 0, chunk.size(), false);
        if (!n.is_error())
            got_down.insert(got_down.end(), chunk.begin(), chunk.begin() + n.value());
        for (Host* h : { &p.a, &p.b }) {
            h->clock.advance(kSecond / 100);
            h->stack.poll_timers(h->clock.now_ns());
        }
    }
    ASSERT_EQ(got_up.size(), kBytes);
    ASSERT_EQ(got_down.size(), kBytes);
    EXPECT_TRUE(got_up == up);
    EXPECT_TRUE(got_down == down);
    for (Tcp* t : { &ta, &tb }) {
        EXPECT_GT(t->channel_stats().queued.load(), kBytes / 1448);
        EXPECT_EQ(t->channel_stats().consumed.load(), t->channel_stats().queued.load());
    }
    EXPECT_EQ(p.client->connection()->stats().retransmitted_segments, 0u);
}

// A UDP receiver with a channel: what arrives is recorded when the owner drains.
class ChannelReceiver final : public net::UdpReceiver, public net::ChannelListener {
public:
    void deliver(net::Packet payload, net::UdpEndpoint source, net::UdpEndpoint) override
    {
        received.emplace_back(std::string(payload.data(), payload.data() + payload.length()));
        sources.push_back(source);
    }
    net::ChannelListener* channel_listener() override { return this; }
    void packets_queued() override { notes++; }
    std::vector<std::string> received;
    std::vector<net::UdpEndpoint> sources;
    int notes = 0;
};

net::Packet payload_of(const std::string& text)
{
    net::Packet p = net::Packet::allocate_data(text.size());
    memcpy(p.data(), text.data(), text.size());
    return p;
}

TEST(UdpChannel, DatagramsToABoundSocketWaitForItsOwner)
{
    Host a(2, 11), b(3, 22);
    a.learn(ip(10, 0, 0, 3), mac(3));
    b.learn(ip(10, 0, 0, 2), mac(2));
    ChannelReceiver wildcard, exact;
    RecordingReceiver plain; // no listener: no channel
    ASSERT_FALSE(b.stack.udp().bind(wildcard, { {}, 53 }).is_error());
    ASSERT_FALSE(b.stack.udp().bind(exact, { ip(10, 0, 0, 3), 54 }).is_error());
    ASSERT_FALSE(b.stack.udp().bind(plain, { {}, 55 }).is_error());
    uint64_t burst = 0;
    auto send = [&](uint16_t port, const std::string& text) {
        EXPECT_FALSE(a.stack.udp().send({ {}, 4000 }, { ip(10, 0, 0, 3), port }, payload_of(text)).is_error());
        return receive_burst(b, take_frames(a), ++burst);
    };
    EXPECT_EQ(send(53, "one").queued, 1u);
    EXPECT_EQ(send(53, "two").queued, 1u);
    EXPECT_EQ(wildcard.notes, 2);
    EXPECT_TRUE(wildcard.received.empty()); // not until the owner drains
    b.stack.udp().drain(wildcard);
    ASSERT_EQ(wildcard.received.size(), 2u);
    EXPECT_EQ(wildcard.received[0], "one");
    EXPECT_EQ(wildcard.received[1], "two");
    EXPECT_EQ(wildcard.sources[0], (net::UdpEndpoint{ ip(10, 0, 0, 2), 4000 }));
    EXPECT_EQ(b.stack.udp().stats().rx_channel, 2u);

    EXPECT_EQ(send(54, "exact").queued, 1u);
    b.stack.udp().drain(exact);
    ASSERT_EQ(exact.received.size(), 1u);
    EXPECT_EQ(exact.received[0], "exact");

    Burst ordinary = send(55, "plain");
    EXPECT_EQ(ordinary.queued, 0u);
    ASSERT_EQ(plain.received.size(), 1u); // delivered by the ordinary path at once
    EXPECT_EQ(send(56, "nobody").queued, 0u); // no binding: the ordinary path (port unreachable)
    EXPECT_EQ(b.stack.udp().stats().rx_no_port, 1u);

    // A bad checksum is found when the owner drains.
    ASSERT_FALSE(a.stack.udp().send({ {}, 4000 }, { ip(10, 0, 0, 3), 53 }, payload_of("bad")).is_error());
    std::vector<Bytes> frames = take_frames(a);
    ASSERT_EQ(frames.size(), 1u);
    frames[0][14 + 20 + 8] ^= 0x55; // the payload (the frame is padded to 60 bytes)
    EXPECT_EQ(receive_burst(b, frames, ++burst).queued, 1u);
    b.stack.udp().drain(wildcard);
    EXPECT_EQ(wildcard.received.size(), 2u);
    EXPECT_EQ(b.stack.udp().stats().rx_bad_checksum, 1u);

    // Unbinding drops what waits; the channel goes with the binding.
    EXPECT_EQ(send(53, "dropped").queued, 1u);
    b.stack.udp().unbind(wildcard);
    b.stack.udp().drain(wildcard);
    EXPECT_EQ(wildcard.received.size(), 2u);
    EXPECT_EQ(send(53, "again").queued, 0u);
    ASSERT_FALSE(b.stack.udp().bind(wildcard, { {}, 53 }).is_error());
    EXPECT_EQ(send(53, "rebound").queued, 1u);
    b.stack.udp().drain(wildcard);
    EXPECT_EQ(wildcard.received.back(), "rebound");
    b.stack.udp().unbind(wildcard);
    b.stack.udp().unbind(exact);
    b.stack.udp().unbind(plain);
}

TEST(UdpChannel, OnlyUnicastToOurAddressIsClassified)
{
    Host a(2, 11), b(3, 22);
    a.learn(ip(10, 0, 0, 3), mac(3));
    ChannelReceiver wildcard;
    ASSERT_FALSE(b.stack.udp().bind(wildcard, { {}, 67 }).is_error());
    // A broadcast (the MAC is not ours): the ordinary path, delivered at once.
    net::UdpEndpoint everyone{ net::Ipv4Address{ 0xffffffffu }, 67 };
    ASSERT_FALSE(a.stack.udp().send({ ip(10, 0, 0, 2), 68 }, everyone, payload_of("bcast"), &a.eth).is_error());
    std::vector<Bytes> bf = take_frames(a);
    ASSERT_EQ(bf.size(), 1u);
    Burst burst = receive_burst(b, bf, 1);
    EXPECT_EQ(burst.queued, 0u);
    EXPECT_EQ(wildcard.received.size(), 1u);
    // Our MAC, but an address that is not ours: left to the IPv4 layer (which drops it).
    ASSERT_FALSE(a.stack.udp().send({ {}, 68 }, { ip(10, 0, 0, 3), 67 }, payload_of("x")).is_error());
    std::vector<Bytes> frames = take_frames(a);
    ASSERT_EQ(frames.size(), 1u);
    net::store_be32(frames[0].data() + 14 + 16, ip(10, 0, 0, 77).value);
    fix_checksums_udp(frames[0]);
    EXPECT_EQ(receive_burst(b, frames, 2).queued, 0u);
    EXPECT_EQ(wildcard.received.size(), 1u);
    b.stack.udp().unbind(wildcard);
}

} // namespace
