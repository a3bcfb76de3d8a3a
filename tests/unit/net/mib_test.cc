// Unit tests for Stack::read_mib (net/mib.h): the SNMP counters /proc/net/snmp shows, from
// real traffic — ICMP by type, IPv4 in and out, UDP to a closed port, TCP opens, segments,
// established connections, and retransmissions that outlive their connection.
#include "net_test_support.h"

namespace {

using namespace nettest;
using net::tcp::Endpoint;
using net::tcp::Tcp;

net::Mib mib_of(const Host& host)
{
    net::Mib m;
    host.stack.read_mib(m);
    return m;
}

TEST(Mib, IcmpIpAndUdpCountWhatArrivedAndLeft)
{
    Host host;
    host.learn(ip(10, 0, 0, 1), mac(1));
    host.eth.frames.clear();
    IpFields f;
    f.source = ip(10, 0, 0, 1);
    f.destination = ip(10, 0, 0, 2);
    f.protocol = net::kIpProtocolIcmp;
    // An echo request (answered), one with a bad checksum, and a UDP datagram to a closed
    // port (answered with port unreachable).
    host.receive(from_gateway(host, ipv4_packet(f, icmp_message(net::kIcmpEchoRequest, 0, 0x10001, Bytes{1, 2}))));
    Bytes bad = icmp_message(net::kIcmpEchoRequest, 0, 1, Bytes{1, 2});
    bad[8] ^= 0xff;
    host.receive(from_gateway(host, ipv4_packet(f, bad)));
    IpFields u = f;
    u.protocol = net::kIpProtocolUdp;
    host.receive(from_gateway(host, ipv4_packet(u, udp_datagram(f.source, 5000, f.destination, 9, Bytes{7}))));
    EXPECT_EQ(host.eth.frames.size(), 2u);

    net::Mib m = mib_of(host);
    EXPECT_EQ(m.ip_in_receives, 3u);
    EXPECT_EQ(m.ip_in_delivers, 3u);
    EXPECT_EQ(m.ip_out_requests, 2u);
    EXPECT_EQ(m.icmp_in_msgs, 2u);
    EXPECT_EQ(m.icmp_in_errors, 1u);
    EXPECT_EQ(m.icmp_in_csum_errors, 1u);
    EXPECT_EQ(m.icmp_in_types[net::kIcmpEchoRequest], 1u); // the good one only
    EXPECT_EQ(m.icmp_out_types[net::kIcmpEchoReply], 1u);
    EXPECT_EQ(m.icmp_out_types[net::kIcmpDestinationUnreachable], 1u);
    EXPECT_EQ(m.icmp_out_msgs, 2u);
    EXPECT_EQ(m.udp_no_ports, 1u);
    EXPECT_EQ(m.udp_in_datagrams, 0u);

    // A header that does not add up counts as a header error, not a delivery.
    Bytes broken = ipv4_packet(f, icmp_message(net::kIcmpEchoRequest, 0, 1, Bytes{}));
    broken[10] ^= 0xff; // the header checksum
    host.receive(from_gateway(host, broken));
    m = mib_of(host);
    EXPECT_EQ(m.ip_in_receives, 4u);
    EXPECT_EQ(m.ip_in_hdr_errors, 1u);
    EXPECT_EQ(m.ip_in_delivers, 3u);
}

TEST(Mib, TcpOpensSegmentsEstablishedAndRetransmissions)
{
    Host a(2), b(3);
    introduce(a, b);
    EventCounter events;
    Tcp& server_tcp = b.stack.tcp();
    Tcp& client_tcp = a.stack.tcp();
    Endpoint* listener = open(server_tcp, events);
    ASSERT_FALSE(server_tcp.bind(*listener, {ip(10, 0, 0, 3), 80}).is_error());
    ASSERT_FALSE(server_tcp.listen(*listener, 4).is_error());
    Endpoint* client = open(client_tcp, events);
    ASSERT_FALSE(client_tcp.connect(*client, {ip(10, 0, 0, 3), 80}).is_error());
    pump(a, b);
    EXPECT_EQ(mib_of(b).tcp_curr_estab, 1u); // waiting in the accept queue counts too
    auto accepted = server_tcp.accept(*listener, events);
    ASSERT_FALSE(accepted.is_error());
    Endpoint* conn = accepted.value();

    net::Mib ma = mib_of(a), mb = mib_of(b);
    EXPECT_EQ(ma.tcp_active_opens, 1u);
    EXPECT_EQ(mb.tcp_passive_opens, 1u);
    EXPECT_EQ(ma.tcp_curr_estab, 1u);
    EXPECT_EQ(mb.tcp_curr_estab, 1u);
    // Nothing lost: what one sent the other received.
    EXPECT_EQ(ma.tcp_out_segs, mb.tcp_in_segs);
    EXPECT_EQ(mb.tcp_out_segs, ma.tcp_in_segs);
    EXPECT_EQ(ma.tcp_retrans_segs, 0u);

    // A data segment lost on the wire comes again after the retransmission timeout.
    ASSERT_EQ(write(client_tcp, *client, "hello").value(), 5u);
    ASSERT_EQ(a.eth.frames.size(), 1u);
    a.eth.frames.clear();
    for (int i = 0; i < 300 && mib_of(a).tcp_retrans_segs == 0; i++) {
        a.clock.advance(kSecond / 100);
        a.stack.poll_timers(a.clock.now_ns());
    }
    EXPECT_EQ(mib_of(a).tcp_retrans_segs, 1u);
    pump(a, b);
    EXPECT_EQ(read(server_tcp, *conn), "hello");

    // Both sides close; the client's retransmission is still counted once it is freed, and
    // nothing is established any more.
    client_tcp.release(*client);
    pump(a, b);
    server_tcp.release(*conn);
    server_tcp.release(*listener);
    pump(a, b);
    for (int i = 0; i < 70; i++) {
        a.clock.advance(kSecond);
        b.clock.advance(kSecond);
        a.stack.poll_timers(a.clock.now_ns());
        b.stack.poll_timers(b.clock.now_ns());
        pump(a, b);
    }
    EXPECT_EQ(client_tcp.connection_count(), 0u);
    ma = mib_of(a);
    mb = mib_of(b);
    EXPECT_EQ(ma.tcp_retrans_segs, 1u);
    EXPECT_EQ(ma.tcp_curr_estab, 0u);
    EXPECT_EQ(mb.tcp_curr_estab, 0u);
    EXPECT_EQ(ma.tcp_active_opens, 1u);
    EXPECT_EQ(mb.tcp_passive_opens, 1u);
    EXPECT_EQ(mb.tcp_in_segs, ma.tcp_out_segs - 1); // the lost one never arrived
}

TEST(Mib, TcpAttemptFailsCountsARefusedConnect)
{
    Host a(2), b(3);
    introduce(a, b);
    EventCounter events;
    Tcp& client_tcp = a.stack.tcp();
    Endpoint* client = open(client_tcp, events);
    ASSERT_FALSE(client_tcp.connect(*client, {ip(10, 0, 0, 3), 81}).is_error()); // nobody listens
    pump(a, b);
    EXPECT_EQ(mib_of(a).tcp_attempt_fails, 1u);
    EXPECT_EQ(mib_of(b).tcp_out_rsts, 1u);
    client_tcp.release(*client); // still counted once the connection is freed
    pump(a, b);
    EXPECT_EQ(mib_of(a).tcp_attempt_fails, 1u);
    EXPECT_EQ(mib_of(a).tcp_active_opens, 1u);
}

} // namespace
