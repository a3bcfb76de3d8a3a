// Unit tests for ICMP: echo reply byte for byte, unreachable errors and the rules that
// suppress them, the rate limit, fragmentation-needed → path MTU, and error callbacks.
#include "net_test_support.h"

namespace {

using namespace nettest;

Bytes echo_request_packet(uint16_t id, uint16_t seq, const Bytes& data, net::Ipv4Address dst = ip(10, 0, 0, 2))
{
    Bytes rest;
    IpFields f;
    f.source = ip(10, 0, 0, 1);
    f.destination = dst;
    f.protocol = net::kIpProtocolIcmp;
    return ipv4_packet(f, icmp_message(net::kIcmpEchoRequest, 0, uint32_t(id) << 16 | seq, data));
}

TEST(Icmp, EchoReplyIsByteExact)
{
    Host host;
    host.learn(ip(10, 0, 0, 1), mac(1));
    host.eth.frames.clear();
    Bytes data;
    for (int i = 0; i < 56; i++)
        data.push_back(uint8_t(i));
    host.receive(from_gateway(host, echo_request_packet(0xbeef, 7, data)));
    ASSERT_EQ(host.eth.frames.size(), 1u);
    Bytes reply = host.eth.pop();

    IpFields f;
    f.source = ip(10, 0, 0, 2);
    f.destination = ip(10, 0, 0, 1);
    f.protocol = net::kIpProtocolIcmp;
    f.id = net::load_be16(reply.data() + 14 + 4); // the stack's own choice
    Bytes expected = concat(ether_header(mac(1), mac(2), net::kEtherTypeIpv4),
                            ipv4_packet(f, icmp_message(net::kIcmpEchoReply, 0, 0xbeef0007u, data)));
    EXPECT_EQ(reply, expected);
    EXPECT_EQ(host.stack.icmp().stats().tx_echo_replies, 1u);
}

TEST(Icmp, BadMessagesAreCounted)
{
    Host host;
    const auto& s = host.stack.icmp().stats();
    IpFields f;
    f.source = ip(10, 0, 0, 1);
    f.destination = ip(10, 0, 0, 2);
    f.protocol = net::kIpProtocolIcmp;
    host.receive(from_gateway(host, ipv4_packet(f, Bytes{8, 0, 0})));
    EXPECT_EQ(s.rx_truncated, 1u);
    Bytes bad = icmp_message(net::kIcmpEchoRequest, 0, 1, Bytes{1, 2});
    bad[8] ^= 0xff;
    host.receive(from_gateway(host, ipv4_packet(f, bad)));
    EXPECT_EQ(s.rx_bad_checksum, 1u);
    host.receive(from_gateway(host, ipv4_packet(f, icmp_message(13, 0, 0, Bytes(12))))); // timestamp
    EXPECT_EQ(s.rx_ignored, 1u);
    // Echo to a broadcast address is ignored.
    host.receive(from_gateway(host, echo_request_packet(1, 1, Bytes{}, ip(10, 0, 0, 255))));
    EXPECT_EQ(s.rx_broadcast_echo, 1u);
    // Errors quoting something that is not an IPv4 header, too short, or not from us.
    host.receive(from_gateway(host, ipv4_packet(f, icmp_message(3, 3, 0, Bytes(10)))));
    Bytes quoted(28, 0);
    quoted[0] = 0x45;
    net::store_be32(quoted.data() + 12, ip(10, 0, 0, 77).value);
    host.receive(from_gateway(host, ipv4_packet(f, icmp_message(3, 3, 0, quoted))));
    quoted[0] = 0x46;
    net::store_be32(quoted.data() + 12, ip(10, 0, 0, 2).value);
    host.receive(from_gateway(host, ipv4_packet(f, icmp_message(3, 3, 0, quoted))));
    EXPECT_EQ(s.rx_bad_errors, 3u);
    EXPECT_TRUE(host.eth.frames.empty());
}

TEST(Icmp, PortUnreachableForUdpWithoutSocket)
{
    Host host;
    host.learn(ip(10, 0, 0, 1), mac(1));
    host.eth.frames.clear();
    IpFields f;
    f.source = ip(10, 0, 0, 1);
    f.destination = ip(10, 0, 0, 2);
    Bytes offending = ipv4_packet(f, udp_datagram(f.source, 5000, f.destination, 9, Bytes{1, 2, 3, 4}));
    host.receive(from_gateway(host, offending));
    ASSERT_EQ(host.eth.frames.size(), 1u);
    Bytes frame = host.eth.pop();
    IpFields g;
    g.source = ip(10, 0, 0, 2);
    g.destination = ip(10, 0, 0, 1);
    g.protocol = net::kIpProtocolIcmp;
    g.id = net::load_be16(frame.data() + 14 + 4);
    Bytes expected = concat(ether_header(mac(1), mac(2), net::kEtherTypeIpv4),
                            ipv4_packet(g, icmp_message(3, net::kIcmpPortUnreachable, 0, offending)));
    EXPECT_EQ(frame, expected);
    EXPECT_EQ(host.stack.udp().stats().rx_no_port, 1u);
}

TEST(Icmp, ErrorsAreSuppressedByRfc1122Rules)
{
    Host host;
    host.learn(ip(10, 0, 0, 1), mac(1));
    host.eth.frames.clear();
    const auto& s = host.stack.icmp().stats();
    IpFields f;
    f.source = ip(10, 0, 0, 1);
    f.destination = ip(10, 0, 0, 2);
    f.protocol = 99; // nobody: would be protocol unreachable
    // To a broadcast: IPv4 does not even ask.
    IpFields b = f;
    b.destination = ip(255, 255, 255, 255);
    host.receive(from_gateway(host, ipv4_packet(b, Bytes(8, 0))));
    // From 0.0.0.0: not a single host.
    IpFields z = f;
    z.source = ip(0, 0, 0, 0);
    host.receive(from_gateway(host, ipv4_packet(z, Bytes(8, 0))));
    EXPECT_EQ(s.suppressed, 1u);
    // A non-initial fragment.
    IpFields frag = f;
    frag.fragment_offset = 8;
    net::Packet p = make_packet(ipv4_packet(frag, Bytes(8, 0)));
    p.mark_network_header();
    host.stack.icmp().send_error(p, 3, 2);
    EXPECT_EQ(s.suppressed, 2u);
    // About an ICMP error.
    IpFields i = f;
    i.protocol = net::kIpProtocolIcmp;
    net::Packet error = make_packet(ipv4_packet(i, icmp_message(3, 1, 0, Bytes(28))));
    error.mark_network_header();
    host.stack.icmp().send_error(error, 3, 2);
    EXPECT_EQ(s.suppressed, 3u);
    EXPECT_TRUE(host.eth.frames.empty());
    // About an echo request: allowed.
    net::Packet echo = make_packet(ipv4_packet(i, icmp_message(8, 0, 0, Bytes(4))));
    echo.mark_network_header();
    host.stack.icmp().send_error(echo, 3, 2);
    EXPECT_EQ(host.eth.frames.size(), 1u);
    EXPECT_EQ(s.tx_errors, 1u);
}

TEST(Icmp, ErrorsAreRateLimited)
{
    Host host;
    host.stack.icmp().set_rate_limit(10, 3);
    host.learn(ip(10, 0, 0, 1), mac(1));
    host.eth.frames.clear();
    IpFields f;
    f.source = ip(10, 0, 0, 1);
    f.destination = ip(10, 0, 0, 2);
    auto closed_port = [&] {
        host.receive(from_gateway(host, ipv4_packet(f, udp_datagram(f.source, 1, f.destination, 9, {}))));
    };
    for (int i = 0; i < 10; i++)
        closed_port();
    EXPECT_EQ(host.eth.frames.size(), 3u); // the burst
    EXPECT_EQ(host.stack.icmp().stats().rate_limited, 7u);
    host.clock.advance(kSecond / 10); // one token
    closed_port();
    closed_port();
    EXPECT_EQ(host.eth.frames.size(), 4u);
    host.clock.advance(100 * kSecond); // refills to the burst, not beyond
    for (int i = 0; i < 10; i++)
        closed_port();
    EXPECT_EQ(host.eth.frames.size(), 7u);
    // Echo replies are not rate limited.
    host.eth.frames.clear();
    for (int i = 0; i < 10; i++)
        host.receive(from_gateway(host, echo_request_packet(1, uint16_t(i), Bytes{})));
    EXPECT_EQ(host.eth.frames.size(), 10u);
}

// A UDP receiver bound on the host gets ICMP errors about what it sent.
TEST(Icmp, FragmentationNeededLowersPathMtuAndReachesTheSender)
{
    Host host;
    RecordingReceiver socket;
    ASSERT_FALSE(host.stack.udp().bind(socket, {{}, 4000}).is_error());
    EXPECT_EQ(host.stack.ipv4().path_mtu(ip(192, 0, 2, 1)), 1500u);

    // What we sent: 10.0.0.2:4000 → 192.0.2.1:53, 1400 bytes, DF.
    IpFields sent;
    sent.source = ip(10, 0, 0, 2);
    sent.destination = ip(192, 0, 2, 1);
    sent.dont_fragment = true;
    Bytes original = ipv4_packet(sent, udp_datagram(sent.source, 4000, sent.destination, 53, Bytes(1372)));
    Bytes quote(original.begin(), original.begin() + 28);
    IpFields router;
    router.source = ip(10, 0, 0, 1);
    router.destination = ip(10, 0, 0, 2);
    router.protocol = net::kIpProtocolIcmp;
    host.receive(from_gateway(host, ipv4_packet(router, icmp_message(3, 4, 1280, quote))));
    EXPECT_EQ(host.stack.ipv4().path_mtu(ip(192, 0, 2, 1)), 1280u);
    EXPECT_EQ(host.stack.icmp().stats().rx_fragmentation_needed, 1u);
    ASSERT_EQ(socket.errors.size(), 1u);
    EXPECT_EQ(socket.errors[0].type, 3);
    EXPECT_EQ(socket.errors[0].code, 4);
    EXPECT_EQ(socket.errors[0].mtu, 1280u);
    EXPECT_EQ(socket.errors[0].destination, ip(192, 0, 2, 1));

    // A router that reports 0 (pre-RFC 1191): the plateau below 1400 is 1006.
    host.receive(from_gateway(host, ipv4_packet(router, icmp_message(3, 4, 0, quote))));
    EXPECT_EQ(host.stack.ipv4().path_mtu(ip(192, 0, 2, 1)), 1006u);
    // A forged tiny MTU is floored.
    host.receive(from_gateway(host, ipv4_packet(router, icmp_message(3, 4, 68, quote))));
    EXPECT_EQ(host.stack.ipv4().path_mtu(ip(192, 0, 2, 1)), net::PmtuCache::kMinMtu);
    // Output now fragments to the path MTU.
    host.learn(ip(10, 0, 0, 1), mac(1));
    host.eth.frames.clear();
    ASSERT_FALSE(host.stack.udp().send({{}, 4000}, {ip(192, 0, 2, 1), 53}, make_packet(Bytes(1000))).is_error());
    EXPECT_EQ(host.eth.frames.size(), 2u);
    // The path MTU expires.
    host.clock.advance(net::PmtuCache::kLifetimeNs);
    host.stack.poll_timers(host.clock.now_ns());
    EXPECT_EQ(host.stack.ipv4().path_mtu(ip(192, 0, 2, 1)), 1500u);

    // Port unreachable is handed to the socket too.
    Bytes port_quote = quote;
    host.receive(from_gateway(host, ipv4_packet(router, icmp_message(3, 3, 0, port_quote))));
    ASSERT_EQ(socket.errors.size(), 4u);
    EXPECT_EQ(socket.errors.back().code, 3);
    EXPECT_EQ(host.stack.icmp().stats().rx_pmtu_rejected, 0u);
    host.stack.udp().unbind(socket);
}

// The path-MTU cache believes a fragmentation-needed only about a datagram we sent with DF
// from a socket that still exists: errors naming no bound port, or quoting a datagram without
// DF (routers fragment those instead), are counted and change nothing.
TEST(Icmp, FragmentationNeededForNoSocketOrWithoutDfLeavesThePathMtu)
{
    Host host;
    RecordingReceiver socket;
    ASSERT_FALSE(host.stack.udp().bind(socket, {{}, 4000}).is_error());
    IpFields router;
    router.source = ip(10, 0, 0, 1);
    router.destination = ip(10, 0, 0, 2);
    router.protocol = net::kIpProtocolIcmp;
    auto quote_of = [](uint16_t sport, bool df) {
        IpFields sent;
        sent.source = ip(10, 0, 0, 2);
        sent.destination = ip(192, 0, 2, 1);
        sent.dont_fragment = df;
        Bytes original = ipv4_packet(sent, udp_datagram(sent.source, sport, sent.destination, 53, Bytes(1372)));
        return Bytes(original.begin(), original.begin() + 28);
    };
    // From a port nobody holds.
    host.receive(from_gateway(host, ipv4_packet(router, icmp_message(3, 4, 1280, quote_of(4001, true)))));
    EXPECT_EQ(host.stack.ipv4().path_mtu(ip(192, 0, 2, 1)), 1500u);
    EXPECT_EQ(host.stack.icmp().stats().rx_pmtu_rejected, 1u);
    // From the socket's port, but not sent with DF: the socket still hears of it, with the MTU
    // unchanged.
    host.receive(from_gateway(host, ipv4_packet(router, icmp_message(3, 4, 1280, quote_of(4000, false)))));
    EXPECT_EQ(host.stack.ipv4().path_mtu(ip(192, 0, 2, 1)), 1500u);
    EXPECT_EQ(host.stack.icmp().stats().rx_pmtu_rejected, 2u);
    ASSERT_EQ(socket.errors.size(), 1u);
    EXPECT_EQ(socket.errors[0].mtu, 1500u);
    // The same about a datagram with DF from the socket: believed.
    host.receive(from_gateway(host, ipv4_packet(router, icmp_message(3, 4, 1280, quote_of(4000, true)))));
    EXPECT_EQ(host.stack.ipv4().path_mtu(ip(192, 0, 2, 1)), 1280u);
    EXPECT_EQ(host.stack.icmp().stats().rx_pmtu_rejected, 2u);
    EXPECT_EQ(host.stack.icmp().stats().rx_fragmentation_needed, 3u);
    host.stack.udp().unbind(socket);
}

TEST(Icmp, ErrorCallbackReachesRegisteredProtocol)
{
    constexpr uint8_t kSctp = 132; // any protocol the stack does not handle itself
    struct SctpStandIn final : net::Ipv4ProtocolHandler {
        void receive(net::Packet, const net::Ipv4Info&) override {}
        bool icmp_error(const net::IcmpErrorInfo& e) override
        {
            errors.push_back(e);
            // The quoted bytes are valid only during the call.
            ports.push_back(e.transport_length >= 2 ? net::load_be16(e.transport) : 0);
            return true;
        }
        std::vector<net::IcmpErrorInfo> errors;
        std::vector<uint16_t> ports;
    } sctp;
    Host host;
    ASSERT_FALSE(host.stack.ipv4().register_protocol(kSctp, sctp).is_error());
    IpFields sent;
    sent.source = ip(10, 0, 0, 2);
    sent.destination = ip(192, 0, 2, 1);
    sent.protocol = kSctp;
    Bytes quote = ipv4_packet(sent, Bytes{0x12, 0x34, 0x00, 0x50, 1, 2, 3, 4});
    IpFields router;
    router.source = ip(10, 0, 0, 1);
    router.destination = ip(10, 0, 0, 2);
    router.protocol = net::kIpProtocolIcmp;
    host.receive(from_gateway(host, ipv4_packet(router, icmp_message(net::kIcmpTimeExceeded, 0, 0, quote))));
    ASSERT_EQ(sctp.errors.size(), 1u);
    EXPECT_EQ(sctp.errors[0].type, net::kIcmpTimeExceeded);
    EXPECT_EQ(sctp.errors[0].protocol, kSctp);
    ASSERT_EQ(sctp.errors[0].transport_length, 8u);
    EXPECT_EQ(sctp.ports[0], 0x1234);
}

TEST(Icmp, PingOverLoopback)
{
    Host host;
    ASSERT_FALSE(host.stack.icmp().send_echo_request(ip(127, 0, 0, 1), 1, 1, nullptr, 0).is_error());
    ASSERT_FALSE(host.stack.icmp().send_echo_request(ip(10, 0, 0, 2), 1, 2, nullptr, 0).is_error());
    EXPECT_EQ(host.stack.icmp().stats().rx_echo_requests, 2u);
    EXPECT_EQ(host.stack.icmp().stats().rx_echo_replies, 2u);
    EXPECT_TRUE(host.eth.frames.empty());
}

} // namespace
