// The TCP layer of a Stack (net/tcp/tcp.h): endpoints bound, listening, connecting and
// accepting through the whole stack — over the loopback interface inside one stack, and
// between two stacks on a simulated wire — the port rules, resets for closed ports, orphaned
// connections finishing on their own, and the timer heap.
#include "net_test_support.h"

#include <net/tcp/tcp.h>

#include <algorithm>
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace {

using namespace nettest;
using net::Ipv4Endpoint;
using net::tcp::Endpoint;
using net::tcp::EndpointKind;
using net::tcp::MemoryBuffer;
using net::tcp::Tcp;

const net::Ipv4Address kLoopback = ip(127, 0, 0, 1);

// Frames of IPv4 protocol 6 among those the interface sent.
size_t tcp_frames(const FakeEthernet& eth)
{
    size_t n = 0;
    for (const Bytes& f : eth.frames)
        n += f.size() > 23 && f[12] == 0x08 && f[13] == 0x00 && f[23] == 6;
    return n;
}



// Advances the host's clock in steps, running its timers, for `ns` in total.
void run_for(Host& h, uint64_t ns, uint64_t step = kSecond / 100)
{
    for (uint64_t t = 0; t < ns; t += step) {
        h.clock.advance(step);
        h.stack.poll_timers(h.clock.now_ns());
    }
}

// The same for two hosts joined by a wire.
void run_both(Host& a, Host& b, uint64_t ns, uint64_t step = kSecond / 100)
{
    for (uint64_t t = 0; t < ns; t += step) {
        a.clock.advance(step);
        b.clock.advance(step);
        a.stack.poll_timers(a.clock.now_ns());
        b.stack.poll_timers(b.clock.now_ns());
        pump(a, b);
    }
}

// A listener on `server_tcp` and a connection to it from `client_tcp` (the same stack over the
// loopback, or two stacks joined by `pump`), accepted.
struct Connected {
    Endpoint* server = nullptr;
    Endpoint* client = nullptr;
    Endpoint* conn = nullptr;
};

Connected connect_pair(Tcp& server_tcp, Tcp& client_tcp, EventCounter& events, net::Ipv4Address to,
                       Host* a = nullptr, Host* b = nullptr)
{
    Connected c;
    c.server = open(server_tcp, events);
    EXPECT_FALSE(server_tcp.listen(*c.server, 1).is_error());
    c.client = open(client_tcp, events);
    EXPECT_FALSE(client_tcp.connect(*c.client, {to, c.server->local().port}).is_error());
    if (a && b)
        pump(*a, *b);
    auto accepted = server_tcp.accept(*c.server, events);
    EXPECT_FALSE(accepted.is_error());
    c.conn = accepted.is_error() ? nullptr : accepted.value();
    return c;
}

TEST(TcpLayer, LoopbackConnectAcceptExchangeAndClose)
{
    Host h;
    Tcp& tcp = h.stack.tcp();
    EventCounter server_events, client_events, accepted_events;
    Endpoint* server = open(tcp, server_events);
    ASSERT_FALSE(tcp.bind(*server, {kLoopback, 80}).is_error());
    ASSERT_FALSE(tcp.listen(*server, 8).is_error());
    EXPECT_EQ(server->kind(), EndpointKind::Listening);
    EXPECT_FALSE(tcp.status(*server).readable);

    Endpoint* client = open(tcp, client_events);
    ASSERT_FALSE(tcp.connect(*client, {kLoopback, 80}).is_error());
    // The loopback runs the handshake at once.
    EXPECT_TRUE(tcp.status(*client).connected);
    EXPECT_TRUE(tcp.status(*client).writable);
    EXPECT_TRUE(tcp.status(*server).readable);
    EXPECT_GT(server_events.changes, 0);
    EXPECT_GE(client->local().port, Tcp::kEphemeralFirst);
    EXPECT_EQ(client->local().address, kLoopback);

    auto accepted = tcp.accept(*server, accepted_events);
    ASSERT_FALSE(accepted.is_error());
    Endpoint* conn = accepted.value();
    EXPECT_EQ(conn->local(), (Ipv4Endpoint{kLoopback, 80}));
    EXPECT_EQ(conn->remote(), client->local());
    EXPECT_EQ(tcp.accept(*server, accepted_events).error(), Errno::AGAIN);

    ASSERT_EQ(write(tcp, *client, "hello").value(), 5u);
    EXPECT_TRUE(tcp.status(*conn).readable);
    EXPECT_EQ(tcp.status(*conn).readable_bytes, 5u);
    EXPECT_EQ(read(tcp, *conn, 3, true), "hel"); // peek leaves the bytes
    EXPECT_EQ(read(tcp, *conn), "hello");
    EXPECT_EQ(read(tcp, *conn), "<" + std::to_string(int(Errno::AGAIN)) + ">");
    ASSERT_EQ(write(tcp, *conn, "world").value(), 5u);
    EXPECT_EQ(read(tcp, *client), "world");

    // The client closes first: the server reads end of stream, then closes too.
    tcp.release(*client);
    EXPECT_TRUE(tcp.status(*conn).readable);
    EXPECT_TRUE(tcp.status(*conn).read_hangup);
    EXPECT_EQ(read(tcp, *conn), "");
    tcp.release(*conn);
    tcp.release(*server);
    // The client's side sits in TIME-WAIT as an orphan, then goes.
    EXPECT_EQ(tcp.endpoint_count(), 1u);
    run_for(h, 61 * kSecond, kSecond);
    EXPECT_EQ(tcp.endpoint_count(), 0u);
    EXPECT_EQ(tcp.connection_count(), 0u);
    EXPECT_GE(tcp.stats().orphans_reaped, 2u);
}

TEST(TcpLayer, ConnectToAClosedPortIsRefused)
{
    Host h;
    Tcp& tcp = h.stack.tcp();
    EventCounter events;
    Endpoint* client = open(tcp, events);
    ASSERT_FALSE(tcp.connect(*client, {kLoopback, 9}).is_error());
    auto status = tcp.status(*client);
    EXPECT_FALSE(status.connected);
    EXPECT_TRUE(status.error);
    EXPECT_EQ(status.pending_error, Errno::CONNREFUSED);
    EXPECT_EQ(tcp.stats().rx_no_endpoint, 1u);
    EXPECT_EQ(tcp.take_error(*client), Errno::CONNREFUSED);
    EXPECT_EQ(tcp.take_error(*client), Errno(0)); // reported once
    EXPECT_FALSE(tcp.status(*client).error);
    // A failed connect may be retried (here: still refused).
    ASSERT_FALSE(tcp.connect(*client, {kLoopback, 9}).is_error());
    EXPECT_EQ(tcp.status(*client).pending_error, Errno::CONNREFUSED);
    tcp.release(*client);
    EXPECT_EQ(tcp.endpoint_count(), 0u);
}

TEST(TcpLayer, BindRules)
{
    Host h;
    Tcp& tcp = h.stack.tcp();
    EventCounter events;
    Endpoint* a = open(tcp, events);
    Endpoint* b = open(tcp, events);
    Endpoint* c = open(tcp, events);
    EXPECT_EQ(tcp.bind(*a, {ip(192, 0, 2, 1), 80}).error(), Errno::ADDRNOTAVAIL);
    ASSERT_FALSE(tcp.bind(*a, {{}, 80}).is_error());
    EXPECT_EQ(tcp.bind(*a, {{}, 81}).error(), Errno::INVAL); // bound already
    EXPECT_EQ(tcp.bind(*b, {ip(10, 0, 0, 2), 80}).error(), Errno::ADDRINUSE);
    ASSERT_FALSE(tcp.bind(*b, {ip(10, 0, 0, 2), 81}).is_error());

    // SO_REUSEADDR on both: they may share while neither listens; the second listen fails.
    tcp.set_reuse(*a, true, false);
    tcp.set_reuse(*c, true, false);
    ASSERT_FALSE(tcp.bind(*c, {kLoopback, 80}).is_error());
    ASSERT_FALSE(tcp.listen(*a, 4).is_error());
    EXPECT_EQ(tcp.listen(*c, 4).error(), Errno::ADDRINUSE);
    Endpoint* d = open(tcp, events);
    tcp.set_reuse(*d, true, false);
    EXPECT_EQ(tcp.bind(*d, {{}, 80}).error(), Errno::ADDRINUSE); // a listens
    // SO_REUSEPORT on both: two listeners on one port.
    Endpoint* e = open(tcp, events);
    Endpoint* f = open(tcp, events);
    tcp.set_reuse(*e, false, true);
    tcp.set_reuse(*f, false, true);
    ASSERT_FALSE(tcp.bind(*e, {{}, 90}).is_error());
    ASSERT_FALSE(tcp.bind(*f, {{}, 90}).is_error());
    ASSERT_FALSE(tcp.listen(*e, 4).is_error());
    ASSERT_FALSE(tcp.listen(*f, 4).is_error());

    // Ephemeral ports: distinct, in range.
    std::vector<uint16_t> ports;
    std::vector<Endpoint*> opened;
    for (int i = 0; i < 50; i++) {
        Endpoint* x = open(tcp, events);
        ASSERT_FALSE(tcp.bind(*x, {{}, 0}).is_error());
        EXPECT_GE(x->local().port, Tcp::kEphemeralFirst);
        for (uint16_t p : ports)
            EXPECT_NE(p, x->local().port);
        ports.push_back(x->local().port);
        opened.push_back(x);
    }
    for (Endpoint* x : opened)
        tcp.release(*x);
    for (Endpoint* x : {a, b, c, d, e, f})
        tcp.release(*x);
    EXPECT_EQ(tcp.endpoint_count(), 0u);
    // Released ports are free again.
    Endpoint* g = open(tcp, events);
    EXPECT_FALSE(tcp.bind(*g, {{}, 80}).is_error());
    tcp.release(*g);
}

TEST(TcpLayer, OperationsOutOfOrderGiveLinuxErrors)
{
    Host h;
    Tcp& tcp = h.stack.tcp();
    EventCounter events;
    Endpoint* e = open(tcp, events);
    EXPECT_EQ(write(tcp, *e, "x").error(), Errno::NOTCONN);
    EXPECT_EQ(read(tcp, *e), "<" + std::to_string(int(Errno::NOTCONN)) + ">");
    EXPECT_EQ(tcp.shutdown(*e, true, true).error(), Errno::NOTCONN);
    EXPECT_EQ(tcp.accept(*e, events).error(), Errno::INVAL);
    EXPECT_TRUE(tcp.status(*e).hangup);
    ASSERT_FALSE(tcp.listen(*e, 1).is_error()); // binds an ephemeral port
    EXPECT_GE(e->local().port, Tcp::kEphemeralFirst);
    EXPECT_EQ(tcp.connect(*e, {kLoopback, 1}).error(), Errno::ISCONN);
    Endpoint* c = open(tcp, events);
    EXPECT_EQ(tcp.connect(*c, {ip(255, 255, 255, 255), 1}).error(), Errno::NETUNREACH);
    ASSERT_FALSE(tcp.connect(*c, e->local()).is_error()); // 0.0.0.0 listener, via 127.0.0.1
    EXPECT_TRUE(tcp.status(*c).connected);
    EXPECT_EQ(tcp.connect(*c, e->local()).error(), Errno::ISCONN);
    EXPECT_EQ(tcp.listen(*c, 1).error(), Errno::INVAL);
    tcp.release(*c, true);
    tcp.release(*e);
    EXPECT_EQ(tcp.endpoint_count(), 0u);
}

TEST(TcpLayer, ReleasingAListenerResetsWhatNobodyAccepted)
{
    Host h;
    Tcp& tcp = h.stack.tcp();
    EventCounter events;
    Endpoint* server = open(tcp, events);
    ASSERT_FALSE(tcp.bind(*server, {{}, 7}).is_error());
    ASSERT_FALSE(tcp.listen(*server, 8).is_error());
    Endpoint* clients[3];
    for (Endpoint*& c : clients) {
        c = open(tcp, events);
        ASSERT_FALSE(tcp.connect(*c, {ip(10, 0, 0, 2), 7}).is_error());
        EXPECT_TRUE(tcp.status(*c).connected);
    }
    tcp.release(*server);
    for (Endpoint* c : clients) {
        EXPECT_EQ(tcp.status(*c).pending_error, Errno::CONNRESET);
        EXPECT_EQ(write(tcp, *c, "x").error(), Errno::CONNRESET);
        EXPECT_EQ(write(tcp, *c, "x").error(), Errno::PIPE);
        EXPECT_EQ(read(tcp, *c), ""); // after the error: end of stream
        tcp.release(*c);
    }
    EXPECT_EQ(tcp.endpoint_count(), 0u);
}

TEST(TcpLayer, ShutdownWriteSendsFinAndReadShutdownEndsReading)
{
    Host h;
    Tcp& tcp = h.stack.tcp();
    EventCounter events;
    auto [server, client, conn] = connect_pair(tcp, tcp, events, kLoopback);
    ASSERT_NE(conn, nullptr);
    ASSERT_FALSE(write(tcp, *client, "last words").is_error());
    ASSERT_FALSE(tcp.shutdown(*client, false, true).is_error());
    EXPECT_EQ(write(tcp, *client, "more").error(), Errno::PIPE);
    EXPECT_EQ(read(tcp, *conn), "last words");
    EXPECT_EQ(read(tcp, *conn), "");
    // The other direction still works.
    ASSERT_FALSE(write(tcp, *conn, "reply").is_error());
    EXPECT_EQ(read(tcp, *client), "reply");
    ASSERT_FALSE(tcp.shutdown(*client, true, false).is_error());
    EXPECT_TRUE(tcp.status(*client).readable);
    EXPECT_EQ(read(tcp, *client), "");
    // Both directions finished: the side that closed first waits in TIME-WAIT holding no
    // buffer memory (its rings were released), the other is gone.
    ASSERT_FALSE(tcp.shutdown(*conn, false, true).is_error());
    EXPECT_EQ(read(tcp, *client), "");
    EXPECT_EQ(client->connection()->state(), net::tcp::State::TimeWait);
    EXPECT_FALSE(client->connection()->holds_buffer_memory());
    for (Endpoint* e : {client, conn, server})
        tcp.release(*e);
    run_for(h, 61 * kSecond, kSecond);
    EXPECT_EQ(tcp.endpoint_count(), 0u);
}

TEST(TcpLayer, AClosedHalfClosedConnectionDoesNotWaitForeverForTheFin)
{
    Host h;
    Tcp& tcp = h.stack.tcp();
    EventCounter events;
    auto [server, client, conn] = connect_pair(tcp, tcp, events, kLoopback);
    ASSERT_NE(conn, nullptr);
    // The client shuts down writing (FIN acknowledged: FIN-WAIT-2), then closes; the server
    // never closes its side.
    ASSERT_FALSE(tcp.shutdown(*client, false, true).is_error());
    EXPECT_EQ(client->connection()->state(), net::tcp::State::FinWait2);
    tcp.release(*client);
    EXPECT_EQ(tcp.endpoint_count(), 3u);
    run_for(h, 61 * kSecond, kSecond);
    EXPECT_EQ(tcp.endpoint_count(), 2u); // the orphan went
    tcp.release(*conn);
    tcp.release(*server);
    run_for(h, 61 * kSecond, kSecond);
    EXPECT_EQ(tcp.endpoint_count(), 0u);
}

TEST(TcpLayer, CorkHoldsPartialSegmentsUntilUncorkedOr200Ms)
{
    Host a(2, 11), b(3, 22);
    EventCounter events;
    auto [server, client, conn] = connect_pair(b.stack.tcp(), a.stack.tcp(), events, ip(10, 0, 0, 3), &a, &b);
    ASSERT_NE(conn, nullptr);
    Tcp& tcp = a.stack.tcp();
    // As nginx sends a response with tcp_nopush: cork, header, body, uncork — one segment.
    tcp.set_cork(*client, true);
    ASSERT_FALSE(write(tcp, *client, "HTTP/1.1 200 OK\r\n\r\n").is_error());
    EXPECT_EQ(tcp_frames(a.eth), 0u);
    ASSERT_FALSE(write(tcp, *client, "<body>").is_error());
    EXPECT_EQ(tcp_frames(a.eth), 0u);
    tcp.set_cork(*client, false);
    EXPECT_EQ(tcp_frames(a.eth), 1u);
    pump(a, b);
    EXPECT_EQ(read(b.stack.tcp(), *conn), "HTTP/1.1 200 OK\r\n\r\n<body>");
    // Corked and forgotten: out after 200 ms.
    run_both(a, b, kSecond / 10); // the delayed ACK of the first
    tcp.set_cork(*client, true);
    ASSERT_FALSE(write(tcp, *client, "late").is_error());
    EXPECT_EQ(tcp_frames(a.eth), 0u);
    EXPECT_LE(tcp.next_deadline(), a.clock.now_ns() + kSecond / 5);
    a.clock.advance(kSecond / 5);
    a.stack.poll_timers(a.clock.now_ns());
    EXPECT_EQ(tcp_frames(a.eth), 1u);
    pump(a, b);
    EXPECT_EQ(read(b.stack.tcp(), *conn), "late");
    // A full segment is not held.
    ASSERT_FALSE(write(tcp, *client, std::string(3000, 'x')).is_error());
    EXPECT_GE(tcp_frames(a.eth), 2u);
    for (Endpoint* e : {client})
        tcp.release(*e, true);
    b.stack.tcp().release(*conn, true);
    b.stack.tcp().release(*server);
}

TEST(TcpLayer, ABurstOfSegmentsIsAcknowledgedOnce)
{
    Host a(2, 11), b(3, 22);
    EventCounter events;
    auto [server, client, conn] = connect_pair(b.stack.tcp(), a.stack.tcp(), events, ip(10, 0, 0, 3), &a, &b);
    ASSERT_NE(conn, nullptr);
    for (bool burst : {false, true}) {
        size_t mss = client->connection()->send_mss(); // 1448: timestamps take 12 bytes
        ASSERT_FALSE(write(a.stack.tcp(), *client, std::string(10 * mss, 'z')).is_error());
        ASSERT_EQ(tcp_frames(a.eth), 10u); // the initial window
        uint64_t coalesced = b.stack.tcp().stats().acks_coalesced;
        if (burst)
            b.stack.tcp().begin_batch();
        while (!a.eth.frames.empty())
            b.receive(a.eth.pop());
        if (burst)
            b.stack.tcp().end_batch();
        // Every second full segment is acknowledged at once — or, in a burst, the last only.
        EXPECT_EQ(tcp_frames(b.eth), burst ? 1u : 5u) << burst;
        EXPECT_EQ(b.stack.tcp().stats().acks_coalesced - coalesced, burst ? 4u : 0u);
        EXPECT_EQ(read(b.stack.tcp(), *conn).size(), 10u * mss);
        pump(a, b);
        run_both(a, b, kSecond / 10);
        EXPECT_EQ(client->connection()->snd_una(), client->connection()->snd_nxt());
    }
    a.stack.tcp().release(*client, true);
    b.stack.tcp().release(*conn, true);
    b.stack.tcp().release(*server);
}

TEST(TcpLayer, MegabytesBothWaysBetweenTwoStacks)
{
    Host a(2, 11), b(3, 22);
    EventCounter events;
    Endpoint* server = open(b.stack.tcp(), events);
    ASSERT_FALSE(b.stack.tcp().bind(*server, {{}, 5001}).is_error());
    ASSERT_FALSE(b.stack.tcp().listen(*server, 4).is_error());
    Endpoint* client = open(a.stack.tcp(), events);
    ASSERT_FALSE(a.stack.tcp().connect(*client, {ip(10, 0, 0, 3), 5001}).is_error());
    EXPECT_TRUE(a.stack.tcp().status(*client).connecting);
    EXPECT_TRUE(a.stack.tcp().connecting(*client)); // the short form recv/send use
    EXPECT_FALSE(b.stack.tcp().connecting(*server)); // listening
    pump(a, b);
    ASSERT_TRUE(a.stack.tcp().status(*client).connected);
    EXPECT_FALSE(a.stack.tcp().connecting(*client));
    EXPECT_EQ(client->local().address, ip(10, 0, 0, 2));
    auto accepted = b.stack.tcp().accept(*server, events);
    ASSERT_FALSE(accepted.is_error());
    Endpoint* conn = accepted.value();
    EXPECT_EQ(conn->remote(), client->local());

    constexpr size_t kBytes = 3 << 20;
    std::vector<uint8_t> up(kBytes), down(kBytes);
    for (size_t i = 0; i < kBytes; i++) {
        up[i] = uint8_t(i * 7 + (i >> 11));
        down[i] = uint8_t(i * 13 + (i >> 9));
    }
    std::vector<uint8_t> got_up, got_down;
    size_t sent_up = 0, sent_down = 0;
    std::vector<uint8_t> chunk(100000);
    for (int round = 0; round < 100000 && (got_up.size() < kBytes || got_down.size() < kBytes); round++) {
        if (sent_up < kBytes) {
            MemoryBuffer buffer(up.data() + sent_up, kBytes - sent_up);
            auto n = a.stack.tcp().write(*client, buffer, 0, kBytes - sent_up);
            if (!n.is_error())
                sent_up += n.value();
            else
                ASSERT_EQ(n.error(), Errno::AGAIN);
        }
        if (sent_down < kBytes) {
            MemoryBuffer buffer(down.data() + sent_down, kBytes - sent_down);
            auto n = b.stack.tcp().write(*conn, buffer, 0, kBytes - sent_down);
            if (!n.is_error())
                sent_down += n.value();
        }
        pump(a, b);
        MemoryBuffer out(chunk.data(), chunk.size());
        auto n = b.stack.tcp().read(*conn, out, 0, chunk.size(), false);
        if (!n.is_error())
            got_up.insert(got_up.end(), chunk.begin(), chunk.begin() + n.value());
        n = a.stack.tcp().read(*client, out, 0, chunk.size(), false);
        if (!n.is_error())
            got_down.insert(got_down.end(), chunk.begin(), chunk.begin() + n.value());
        run_both(a, b, kSecond / 100, kSecond / 100); // delayed ACKs and timers
    }
    ASSERT_EQ(got_up.size(), kBytes);
    ASSERT_EQ(got_down.size(), kBytes);
    EXPECT_TRUE(got_up == up);
    EXPECT_TRUE(got_down == down);
    const auto& stats = client->connection()->stats();
    EXPECT_EQ(stats.retransmitted_segments, 0u); // a lossless wire
    EXPECT_GT(a.stack.tcp().stats().tx_segments, kBytes / 1460);

    a.stack.tcp().release(*client);
    pump(a, b);
    EXPECT_EQ(read(b.stack.tcp(), *conn), "");
    b.stack.tcp().release(*conn);
    b.stack.tcp().release(*server);
    run_both(a, b, 61 * kSecond, kSecond);
    EXPECT_EQ(a.stack.tcp().endpoint_count(), 0u);
    EXPECT_EQ(b.stack.tcp().endpoint_count(), 0u);
}

TEST(TcpLayer, SynRetransmissionsComeFromTheTimerHeapThenTimeOut)
{
    Host a(2, 11);
    a.learn(ip(10, 0, 0, 9), mac(9)); // nobody answers from there
    Tcp& tcp = a.stack.tcp();
    EXPECT_EQ(tcp.next_deadline(), UINT64_MAX);
    EventCounter events;
    Endpoint* client = open(tcp, events);
    ASSERT_FALSE(tcp.connect(*client, {ip(10, 0, 0, 9), 80}).is_error());
    EXPECT_EQ(tcp_frames(a.eth), 1u); // the SYN
    uint64_t first = tcp.next_deadline();
    EXPECT_NE(first, UINT64_MAX);
    EXPECT_EQ(first, a.clock.now_ns() + 1 * kSecond); // the initial RTO
    EXPECT_EQ(a.stack.next_deadline(), first);
    a.clock.set(first);
    a.stack.poll_timers(first);
    EXPECT_EQ(tcp_frames(a.eth), 2u); // retransmitted
    EXPECT_GT(tcp.next_deadline(), first);
    int before = events.changes;
    run_for(a, 200 * kSecond, kSecond / 10);
    // max_syn_retransmits (6); some may die in ARP once the neighbour entry expires.
    EXPECT_EQ(client->connection()->stats().retransmitted_segments, 6u);
    EXPECT_EQ(tcp.status(*client).pending_error, Errno::TIMEDOUT);
    EXPECT_GT(events.changes, before);
    EXPECT_EQ(tcp.next_deadline(), UINT64_MAX);
    tcp.release(*client);
}

TEST(TcpLayer, ManyConnectionsAndOrphansAreReaped)
{
    Host h;
    Tcp& tcp = h.stack.tcp();
    EventCounter events;
    Endpoint* server = open(tcp, events);
    ASSERT_FALSE(tcp.bind(*server, {{}, 6000}).is_error());
    ASSERT_FALSE(tcp.listen(*server, 512).is_error());
    std::vector<Endpoint*> clients, accepted;
    for (int i = 0; i < 300; i++) {
        Endpoint* c = open(tcp, events);
        ASSERT_FALSE(tcp.connect(*c, {kLoopback, 6000}).is_error()) << i;
        clients.push_back(c);
        auto a = tcp.accept(*server, events);
        ASSERT_FALSE(a.is_error()) << i;
        accepted.push_back(a.value());
    }
    EXPECT_EQ(tcp.connection_count(), 600u);
    for (size_t i = 0; i < clients.size(); i++) {
        ASSERT_EQ(write(tcp, *clients[i], "ping " + std::to_string(i)).is_error(), false);
        EXPECT_EQ(read(tcp, *accepted[i]), "ping " + std::to_string(i));
    }
    // The servers close first this time (their side goes to TIME-WAIT).
    for (Endpoint* e : accepted)
        tcp.release(*e);
    for (Endpoint* e : clients) {
        EXPECT_EQ(read(tcp, *e), "");
        tcp.release(*e);
    }
    tcp.release(*server);
    EXPECT_EQ(tcp.endpoint_count(), 300u); // TIME-WAIT
    run_for(h, 61 * kSecond, kSecond);
    EXPECT_EQ(tcp.endpoint_count(), 0u);
    EXPECT_EQ(tcp.connection_count(), 0u);
}

// An ICMP error from the router 10.0.0.1 to `to`, quoting the IPv4 header and first 8 TCP
// bytes of `frame` (an Ethernet frame we sent).
Bytes icmp_about(const Bytes& frame, uint8_t type, uint8_t code, uint32_t rest, net::MacAddress to)
{
    Bytes quoted(frame.begin() + 14, frame.begin() + 14 + 20 + 8);
    IpFields f;
    f.source = ip(10, 0, 0, 1);
    f.destination = net::Ipv4Address{ net::load_be32(frame.data() + 14 + 12) };
    f.protocol = net::kIpProtocolIcmp;
    return concat(ether_header(to, mac(1), net::kEtherTypeIpv4), ipv4_packet(f, icmp_message(type, code, rest, quoted)));
}

TEST(TcpLayer, FragmentationNeededShrinksSegmentsAndResendsAtOnce)
{
    Host a(2, 11), b(3, 22);
    EventCounter events;
    auto [server, client, conn] = connect_pair(b.stack.tcp(), a.stack.tcp(), events, ip(10, 0, 0, 3), &a, &b);
    ASSERT_NE(conn, nullptr);
    Tcp& tcp = a.stack.tcp();
    size_t mss = client->connection()->send_mss(); // 1448
    std::string data(8 * mss, 'p');
    for (size_t i = 0; i < data.size(); i++)
        data[i] = char('a' + i % 26);
    ASSERT_FALSE(write(tcp, *client, data).is_error());
    std::vector<Bytes> sent(a.eth.frames.begin(), a.eth.frames.end());
    a.eth.frames.clear(); // a narrower link dropped them all
    ASSERT_EQ(sent.size(), 8u);

    // A forged error (a sequence number we never sent) changes nothing: neither the
    // connection nor the path-MTU cache that new connections (and everything else sent to
    // that address) would obey.
    const net::Ipv4Address peer = ip(10, 0, 0, 3);
    Bytes forged = sent[0];
    net::store_be32(forged.data() + 14 + 20 + 4, client->connection()->snd_nxt() + 100000);
    a.receive(icmp_about(forged, 3, 4, 1200, mac(2)));
    EXPECT_EQ(client->connection()->send_mss(), mss);
    EXPECT_EQ(tcp.stats().icmp_ignored, 1u);
    EXPECT_EQ(a.stack.ipv4().path_mtu(peer), 1500u);
    EXPECT_EQ(a.stack.icmp().stats().rx_pmtu_rejected, 1u);
    EXPECT_TRUE(a.eth.frames.empty());
    // Nor does one about a connection that does not exist (another source port).
    Bytes stranger = sent[0];
    net::store_be16(stranger.data() + 14 + 20, uint16_t(client->local().port + 1));
    a.receive(icmp_about(stranger, 3, 4, 1200, mac(2)));
    EXPECT_EQ(a.stack.ipv4().path_mtu(peer), 1500u);
    EXPECT_EQ(a.stack.icmp().stats().rx_pmtu_rejected, 2u);
    EXPECT_EQ(tcp.stats().icmp_ignored, 2u);

    a.receive(icmp_about(sent[0], 3, 4, 1000, mac(2)));
    EXPECT_EQ(a.stack.ipv4().path_mtu(peer), 1000u); // believed: the cache has it too
    EXPECT_EQ(a.stack.icmp().stats().rx_pmtu_rejected, 2u);
    EXPECT_EQ(client->connection()->send_mss(), 1000u - 40 - 12); // timestamps on
    EXPECT_EQ(client->connection()->stats().path_mtu_updates, 1u);
    ASSERT_FALSE(a.eth.frames.empty()); // resent at once, not after the RTO
    for (const Bytes& f : a.eth.frames)
        EXPECT_LE(f.size(), 14u + 1000);
    EXPECT_EQ(client->connection()->stats().timeouts, 0u);
    run_both(a, b, 2 * kSecond);
    EXPECT_EQ(read(b.stack.tcp(), *conn), data);
    // Errors about other codes do not end an established connection.
    ASSERT_FALSE(write(tcp, *client, "more").is_error());
    Bytes more = a.eth.pop();
    a.receive(icmp_about(more, 3, 1, 0, mac(2)));
    EXPECT_TRUE(tcp.status(*client).connected);
    EXPECT_FALSE(tcp.status(*client).error);
    tcp.release(*client, true);
    b.stack.tcp().release(*conn, true);
    b.stack.tcp().release(*server);
}

TEST(TcpLayer, UnreachableEndsAConnectAttemptAndNamesTheTimeout)
{
    Host a(2, 11);
    a.learn(ip(10, 0, 0, 3), mac(3));
    EventCounter events;
    Tcp& tcp = a.stack.tcp();
    // In SYN-SENT: the attempt ends with the error (Linux: EHOSTUNREACH for host unreachable).
    Endpoint* e = open(tcp, events);
    ASSERT_FALSE(tcp.connect(*e, { ip(10, 0, 0, 3), 80 }).is_error());
    Bytes syn = a.eth.pop();
    ASSERT_FALSE(syn.empty());
    a.receive(icmp_about(syn, 3, 1, 0, mac(2)));
    net::tcp::EndpointStatus st = tcp.status(*e);
    EXPECT_FALSE(st.connecting);
    EXPECT_FALSE(st.connected);
    EXPECT_EQ(tcp.take_error(*e), Errno::HOSTUNREACH);
    tcp.release(*e);

    // Port unreachable: ECONNREFUSED.
    e = open(tcp, events);
    ASSERT_FALSE(tcp.connect(*e, { ip(10, 0, 0, 3), 81 }).is_error());
    a.receive(icmp_about(a.eth.pop(), 3, 3, 0, mac(2)));
    EXPECT_EQ(tcp.take_error(*e), Errno::CONNREFUSED);
    tcp.release(*e);

    // Established, then the peer vanishes: the soft error is what the timeout reports.
    Host b(3, 22);
    tcp.defaults().max_retransmits = 2;
    auto [server, client, conn] = connect_pair(b.stack.tcp(), tcp, events, ip(10, 0, 0, 3), &a, &b);
    ASSERT_NE(conn, nullptr);
    ASSERT_FALSE(write(tcp, *client, "hello?").is_error());
    Bytes lost = a.eth.pop();
    a.receive(icmp_about(lost, 11, 0, 0, mac(2))); // time exceeded in transit
    EXPECT_TRUE(tcp.status(*client).connected);
    run_for(a, 120 * kSecond, kSecond / 10);
    EXPECT_EQ(tcp.take_error(*client), Errno::HOSTUNREACH);
    tcp.release(*client, true);
    b.stack.tcp().release(*conn, true);
    b.stack.tcp().release(*server);
}

// IP_TOS and IP_TTL (Tcp::set_ip_header) go into the IPv4 header of every segment the
// endpoint sends: the SYN, a listener's SYN-ACK, an accepted connection's segments (it starts
// from its listener's), with the ECN bits of the TOS left 0; a reset for a port nobody holds
// carries the defaults.
TEST(TcpLayer, SegmentsCarryTheEndpointsTosAndTtl)
{
    Host a(2, 11), b(3, 22);
    EventCounter events;
    Tcp& client_tcp = a.stack.tcp();
    Tcp& server_tcp = b.stack.tcp();
    struct Header {
        uint8_t tos, ttl, flags;
        bool df;
    };
    std::vector<Header> from_a, from_b;
    auto note = [](const Bytes& f, std::vector<Header>& into) {
        if (f.size() >= 14 + 20 + 20 && f[12] == 0x08 && f[13] == 0x00 && f[23] == net::kIpProtocolTcp) {
            EXPECT_EQ(net::fold_sum(net::sum_bytes(f.data() + 14, 20)), 0xffff); // header checksum
            into.push_back({ f[15], f[22], f[14 + 20 + 13], (f[20] & 0x40) != 0 });
        }
    };
    auto carry = [&] {
        while (!a.eth.frames.empty() || !b.eth.frames.empty()) {
            if (!a.eth.frames.empty()) {
                Bytes f = a.eth.pop();
                note(f, from_a);
                b.receive(f);
            }
            if (!b.eth.frames.empty()) {
                Bytes f = b.eth.pop();
                note(f, from_b);
                a.receive(f);
            }
        }
    };
    // The first segment seen carries all of `flags` and these header fields.
    auto expect_first = [](const std::vector<Header>& seen, uint8_t flags, uint8_t tos, uint8_t ttl) {
        ASSERT_GE(seen.size(), 1u);
        EXPECT_EQ(seen[0].flags & flags, flags);
        EXPECT_EQ(seen[0].tos, tos);
        EXPECT_EQ(seen[0].ttl, ttl);
    };
    Endpoint* server = open(server_tcp, events);
    server_tcp.set_ip_header(*server, 0x28 | 0x3, 5); // ECN bits: TCP's, cleared
    ASSERT_FALSE(server_tcp.listen(*server, 1).is_error());
    Endpoint* client = open(client_tcp, events);
    client_tcp.set_ip_header(*client, 0x10, 200);
    ASSERT_FALSE(client_tcp.connect(*client, { ip(10, 0, 0, 3), server->local().port }).is_error());
    carry();
    auto accepted = server_tcp.accept(*server, events);
    ASSERT_FALSE(accepted.is_error());
    Endpoint* conn = accepted.value();
    ASSERT_GE(from_a.size(), 2u); // SYN, ACK
    expect_first(from_a, 0x02, 0x10, 200);
    for (const Header& h : from_a) {
        EXPECT_EQ(h.tos, 0x10);
        EXPECT_EQ(h.ttl, 200);
        EXPECT_TRUE(h.df); // by default (IP_PMTUDISC_WANT)
    }
    expect_first(from_b, 0x12, 0x28, 5); // SYN-ACK

    // The accepted connection sends with the listener's choice; a change applies at once.
    client_tcp.set_ip_header(*client, 0, 1);
    struct Send {
        Tcp& tcp;
        Endpoint& from;
        const char* text;
        const std::vector<Header>& seen;
        uint8_t tos, ttl;
    };
    for (const Send& send : { Send { server_tcp, *conn, "from the server", from_b, 0x28, 5 },
                              Send { client_tcp, *client, "from the client", from_a, 0, 1 } }) {
        from_a.clear();
        from_b.clear();
        ASSERT_FALSE(write(send.tcp, send.from, send.text).is_error());
        carry();
        expect_first(send.seen, 0x10, send.tos, send.ttl);
    }
    EXPECT_EQ(read(server_tcp, *conn), "from the client");
    EXPECT_EQ(read(client_tcp, *client), "from the server");

    // DF off (IP_PMTUDISC_DONT and the like), then on again, from the next segment.
    client_tcp.set_nodelay(*client, true); // (the server delays its ACK: no Nagle wait)
    for (bool df : { false, true }) {
        client_tcp.set_ip_header(*client, 0, 1, df);
        from_a.clear();
        ASSERT_FALSE(write(client_tcp, *client, "df?").is_error());
        carry();
        ASSERT_GE(from_a.size(), 1u);
        EXPECT_EQ(from_a[0].df, df);
        EXPECT_EQ(read(server_tcp, *conn), "df?");
    }

    // A SYN to a closed port: the reset has no socket's options.
    Endpoint* stray = open(client_tcp, events);
    client_tcp.set_ip_header(*stray, 0x10, 200);
    ASSERT_FALSE(client_tcp.connect(*stray, { ip(10, 0, 0, 3), 9 }).is_error());
    from_b.clear();
    carry();
    ASSERT_EQ(from_b.size(), 1u);
    expect_first(from_b, 0x04, 0, 64);
    client_tcp.release(*stray, true);
    client_tcp.release(*client, true);
    server_tcp.release(*conn, true);
    server_tcp.release(*server);
    carry();
}

// --- segmentation offload (TSO) and large received segments (LRO) ---

struct TcpFrame {
    size_t payload = 0;
    uint32_t seq = 0;
    uint8_t flags = 0;
    uint16_t ip_id = 0;
};

bool parse_tcp_frame(const Bytes& f, TcpFrame& out)
{
    if (f.size() < 14 + 20 + 20 || f[12] != 0x08 || f[13] != 0x00 || f[23] != 6)
        return false;
    size_t ip_total = size_t(f[16]) << 8 | f[17];
    size_t tcp_header = size_t(f[14 + 20 + 12] >> 4) * 4;
    out.payload = ip_total - 20 - tcp_header;
    out.seq = uint32_t(f[38]) << 24 | uint32_t(f[39]) << 16 | uint32_t(f[40]) << 8 | f[41];
    out.flags = f[14 + 20 + 13];
    out.ip_id = uint16_t(f[18] << 8 | f[19]);
    return true;
}

// Two hosts on a wire; `a` sends `bytes` to `b` over one connection and `b` reads them. Every
// frame `a` sends is recorded (with its metadata) before it reaches `b`, its checksum completed
// as a device would; super-segments reach `b` whole, as a coalescing (LRO) device hands them.
struct OffloadRun {
    std::vector<TcpFrame> data_frames; // a → b, with payload
    std::vector<net::PacketMeta> data_metas;
    size_t largest_frame = 0;
    size_t acks_without_timer = 0; // ACKs b sent right after a large segment, before any timer
    std::vector<uint8_t> received;
};

OffloadRun run_offload(bool tso, size_t bytes, bool drop_tso_after_connect = false)
{
    OffloadRun run;
    Host a(2, 31), b(3, 32);
    a.eth.offer_tso(tso);
    EventCounter events;
    Endpoint* server = open(b.stack.tcp(), events);
    EXPECT_FALSE(b.stack.tcp().bind(*server, {{}, 5002}).is_error());
    EXPECT_FALSE(b.stack.tcp().listen(*server, 4).is_error());
    Endpoint* client = open(a.stack.tcp(), events);
    EXPECT_FALSE(a.stack.tcp().connect(*client, {ip(10, 0, 0, 3), 5002}).is_error());
    auto deliver_a_to_b = [&](bool watch_acks) {
        while (!a.eth.frames.empty()) {
            Bytes f = a.eth.pop();
            net::PacketMeta meta = a.eth.metas.front();
            a.eth.metas.pop_front();
            TcpFrame t;
            if (parse_tcp_frame(f, t) && t.payload > 0) {
                run.data_frames.push_back(t);
                run.data_metas.push_back(meta);
            }
            run.largest_frame = std::max(run.largest_frame, f.size());
            size_t before = b.eth.frames.size();
            b.receive(f); // checksums verified by the receiver: the whole 64 KiB segment's too
            if (watch_acks && t.payload >= 2 * 1448 && b.eth.frames.size() > before)
                run.acks_without_timer++;
        }
        while (!b.eth.frames.empty())
            a.receive(b.eth.pop());
    };
    for (int i = 0; i < 10; i++)
        deliver_a_to_b(false);
    a.eth.metas.clear();
    auto accepted = b.stack.tcp().accept(*server, events);
    EXPECT_FALSE(accepted.is_error());
    if (accepted.is_error())
        return run;
    Endpoint* conn = accepted.value();
    EXPECT_EQ(client->connection()->segment_offload(), tso ? 65535u - 80 : 0u);
    if (drop_tso_after_connect) {
        a.eth.offer_tso(false); // the route now leaves through a device that cannot cut them
    }
    std::vector<uint8_t> data(bytes);
    for (size_t i = 0; i < bytes; i++)
        data[i] = uint8_t(i * 31 + (i >> 10));
    size_t sent = 0;
    std::vector<uint8_t> chunk(1 << 20);
    for (int round = 0; round < 20000 && run.received.size() < bytes; round++) {
        if (sent < bytes) {
            MemoryBuffer buffer(data.data() + sent, bytes - sent);
            auto n = a.stack.tcp().write(*client, buffer, 0, bytes - sent);
            if (!n.is_error())
                sent += n.value();
        }
        deliver_a_to_b(true);
        MemoryBuffer out(chunk.data(), chunk.size());
        auto n = b.stack.tcp().read(*conn, out, 0, chunk.size(), false);
        if (!n.is_error())
            run.received.insert(run.received.end(), chunk.begin(), chunk.begin() + n.value());
        deliver_a_to_b(true);
        a.clock.advance(kSecond / 1000);
        b.clock.advance(kSecond / 1000);
        a.stack.poll_timers(a.clock.now_ns());
        b.stack.poll_timers(b.clock.now_ns());
    }
    EXPECT_EQ(run.received.size(), bytes);
    EXPECT_TRUE(run.received == data);
    EXPECT_EQ(client->connection()->stats().retransmitted_segments, 0u);
    return run;
}

TEST(TcpOffload, SuperSegmentsWhenTheInterfaceCutsThem)
{
    OffloadRun run = run_offload(true, 4 << 20);
    size_t super = 0;
    for (size_t i = 0; i < run.data_frames.size(); i++) {
        const TcpFrame& f = run.data_frames[i];
        const net::PacketMeta& m = run.data_metas[i];
        EXPECT_TRUE(m.checksum_needed);
        if (f.payload > 1448) {
            super++;
            // Whole segments only, within the IPv4 limit, with the MSS for the device to cut at.
            EXPECT_EQ(m.gso_type, net::GsoType::TcpV4);
            EXPECT_EQ(m.gso_size, 1448);
            EXPECT_EQ(f.payload % 1448, 0u) << f.payload;
            EXPECT_LE(f.payload + 20 + 32, 65535u);
        } else {
            EXPECT_EQ(m.gso_type, net::GsoType::None);
            EXPECT_EQ(m.gso_size, 0);
        }
    }
    EXPECT_GT(super, run.data_frames.size() / 2); // most of the stream
    EXPECT_GT(run.largest_frame, 60000u);         // the window opened to 64 KiB sends
    // The receiver took the 64 KiB segments whole (LRO's view) and acknowledged each at once:
    // "every second full segment" counts MSS-sized units.
    EXPECT_GT(run.acks_without_timer, super / 2);
}

TEST(TcpOffload, WithoutTheOffloadSegmentsAreCutAtTheMss)
{
    OffloadRun run = run_offload(false, 1 << 20);
    ASSERT_FALSE(run.data_frames.empty());
    EXPECT_LE(run.largest_frame, 1514u);
    for (size_t i = 0; i < run.data_frames.size(); i++) {
        EXPECT_LE(run.data_frames[i].payload, 1448u);
        EXPECT_EQ(run.data_metas[i].gso_type, net::GsoType::None);
    }
}

TEST(TcpOffload, SoftwareSegmentationWhenTheDeviceCannot)
{
    // The connection was told it may build super-segments, then its interface lost the
    // offload: IPv4 output cuts them (software GSO) into MSS-sized segments with their own
    // checksums (the receiver verifies them: the "device" completes none), sequence numbers,
    // IPv4 identifications, and PSH/FIN only on the last piece.
    OffloadRun run = run_offload(true, 2 << 20, true);
    ASSERT_FALSE(run.data_frames.empty());
    EXPECT_LE(run.largest_frame, 1514u);
    size_t full = 0, pushed = 0;
    for (size_t i = 0; i < run.data_frames.size(); i++) {
        const TcpFrame& f = run.data_frames[i];
        EXPECT_LE(f.payload, 1448u);
        EXPECT_FALSE(run.data_metas[i].checksum_needed); // completed in software
        EXPECT_EQ(run.data_metas[i].gso_type, net::GsoType::None);
        full += f.payload == 1448;
        pushed += (f.flags & 0x08) != 0;
    }
    EXPECT_GT(full, run.data_frames.size() / 2);
    EXPECT_LT(pushed, run.data_frames.size() / 4); // PSH only where a super-segment ended
}

TEST(TcpOffload, NagleStillHoldsTheShortTail)
{
    // One byte in flight, then 10 full segments and 100 bytes: the initial window (10 MSS)
    // leaves room for 9 whole segments, which leave as one super-segment; the rest (less than
    // a segment the window allows) waits for the ACK, as it would without the offload.
    Host a(2, 41), b(3, 42);
    a.eth.offer_tso(true);
    EventCounter events;
    Connected c = connect_pair(b.stack.tcp(), a.stack.tcp(), events, ip(10, 0, 0, 3), &a, &b);
    ASSERT_NE(c.conn, nullptr);
    a.eth.frames.clear();
    a.eth.metas.clear();
    ASSERT_FALSE(write(a.stack.tcp(), *c.client, std::string(1, 'x')).is_error()); // in flight
    ASSERT_FALSE(write(a.stack.tcp(), *c.client, std::string(10 * 1448 + 100, 'y')).is_error());
    std::vector<size_t> payloads;
    for (const Bytes& f : a.eth.frames) {
        TcpFrame t;
        if (parse_tcp_frame(f, t) && t.payload > 0)
            payloads.push_back(t.payload);
    }
    ASSERT_EQ(payloads.size(), 2u);
    EXPECT_EQ(payloads[0], 1u);
    EXPECT_EQ(payloads[1], 9u * 1448);
    EXPECT_EQ(a.eth.metas.back().gso_size, 1448);
}

} // namespace
