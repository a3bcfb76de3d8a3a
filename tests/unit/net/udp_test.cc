// Unit tests for UDP: binding and the demultiplexer, ephemeral ports, header and checksum
// checks, checksum offload, loopback, and a round trip between two stacks on a fake wire.
#include "net_test_support.h"

#include <set>

namespace {

using namespace nettest;

Bytes udp_to_host(Host& host, uint16_t dport, const Bytes& payload, net::Ipv4Address dst = ip(10, 0, 0, 2))
{
    IpFields f;
    f.source = ip(10, 0, 0, 1);
    f.destination = dst;
    return from_gateway(host, ipv4_packet(f, udp_datagram(f.source, 7777, dst, dport, payload)));
}

TEST(Udp, BindRules)
{
    Host host;
    auto& udp = host.stack.udp();
    RecordingReceiver a, b, c, d;
    EXPECT_EQ(udp.bind(a, {{}, 53}).value(), 53);
    EXPECT_EQ(udp.bind(a, {{}, 54}).error(), Errno::INVAL); // already bound
    EXPECT_EQ(udp.bind(b, {{}, 53}).error(), Errno::ADDRINUSE);
    EXPECT_EQ(udp.bind(b, {ip(10, 0, 0, 2), 53}).error(), Errno::ADDRINUSE); // wildcard overlaps
    EXPECT_EQ(udp.bind(b, {ip(10, 0, 0, 99), 80}).error(), Errno::ADDRNOTAVAIL);
    EXPECT_EQ(udp.bind(b, {ip(10, 0, 0, 2), 80}).value(), 80);
    EXPECT_EQ(udp.bind(c, {ip(127, 0, 0, 1), 80}).value(), 80); // another address, same port
    EXPECT_EQ(udp.bind(d, {{}, 80}).error(), Errno::ADDRINUSE);
    EXPECT_EQ(udp.lookup({ip(10, 0, 0, 2), 53}), &a);
    EXPECT_EQ(udp.lookup({ip(10, 0, 0, 2), 80}), &b);
    EXPECT_EQ(udp.lookup({ip(127, 0, 0, 1), 80}), &c);
    EXPECT_EQ(udp.lookup({ip(127, 0, 0, 1), 81}), nullptr);
    udp.unbind(a);
    EXPECT_FALSE(a.is_bound());
    EXPECT_EQ(udp.lookup({ip(10, 0, 0, 2), 53}), nullptr);
    EXPECT_EQ(udp.bind(d, {{}, 53}).value(), 53);
    udp.unbind(a); // no-op
    udp.unbind(b);
    udp.unbind(c);
    udp.unbind(d);
}

TEST(Udp, EphemeralPortsAreDistinctAndInRange)
{
    Host host;
    std::vector<RecordingReceiver> receivers(300);
    std::set<uint16_t> ports;
    for (auto& r : receivers) {
        auto port = host.stack.udp().bind(r, {{}, 0});
        ASSERT_FALSE(port.is_error());
        EXPECT_GE(port.value(), net::Udp::kEphemeralFirst);
        ports.insert(port.value());
    }
    EXPECT_EQ(ports.size(), receivers.size());
    for (auto& r : receivers)
        host.stack.udp().unbind(r);
}

TEST(Udp, EphemeralRangeExhaustion)
{
    Host host;
    constexpr size_t range = net::Udp::kEphemeralLast - net::Udp::kEphemeralFirst + 1;
    std::vector<RecordingReceiver> receivers(range + 1);
    for (size_t i = 0; i < range; i++)
        ASSERT_FALSE(host.stack.udp().bind(receivers[i], {{}, 0}).is_error());
    EXPECT_EQ(host.stack.udp().bind(receivers[range], {{}, 0}).error(), Errno::AGAIN);
    for (auto& r : receivers)
        host.stack.udp().unbind(r);
}

TEST(Udp, DeliversToExactBeforeWildcard)
{
    Host host;
    RecordingReceiver wildcard, exact;
    ASSERT_FALSE(host.stack.udp().bind(wildcard, {{}, 5000}).is_error());
    host.receive(udp_to_host(host, 5000, Bytes{1}));
    host.receive(udp_to_host(host, 5000, Bytes{2}, ip(10, 0, 0, 255)));
    ASSERT_EQ(wildcard.received.size(), 2u);
    EXPECT_EQ(wildcard.received[0].payload, Bytes{1});
    EXPECT_EQ(wildcard.received[0].source.address, ip(10, 0, 0, 1));
    EXPECT_EQ(wildcard.received[0].source.port, 7777);
    EXPECT_EQ(wildcard.received[0].destination.port, 5000);
    EXPECT_EQ(wildcard.received[1].destination.address, ip(10, 0, 0, 255));
    host.stack.udp().unbind(wildcard);
    ASSERT_FALSE(host.stack.udp().bind(exact, {ip(10, 0, 0, 2), 5000}).is_error());
    host.receive(udp_to_host(host, 5000, Bytes{3}));
    ASSERT_EQ(exact.received.size(), 1u);
    host.stack.udp().unbind(exact);
}

TEST(Udp, BadDatagramsAreCounted)
{
    Host host;
    RecordingReceiver r;
    ASSERT_FALSE(host.stack.udp().bind(r, {{}, 5000}).is_error());
    const auto& s = host.stack.udp().stats();
    IpFields f;
    f.source = ip(10, 0, 0, 1);
    f.destination = ip(10, 0, 0, 2);
    Bytes good = udp_datagram(f.source, 1, f.destination, 5000, Bytes{1, 2, 3, 4});
    host.receive(from_gateway(host, ipv4_packet(f, Bytes(good.begin(), good.begin() + 7))));
    EXPECT_EQ(s.rx_truncated, 1u);
    Bytes b = good;
    net::store_be16(b.data() + 4, 7);
    host.receive(from_gateway(host, ipv4_packet(f, b)));
    net::store_be16(b.data() + 4, 13);
    host.receive(from_gateway(host, ipv4_packet(f, b)));
    EXPECT_EQ(s.rx_bad_length, 2u);
    b = good;
    b[9] ^= 1;
    host.receive(from_gateway(host, ipv4_packet(f, b)));
    EXPECT_EQ(s.rx_bad_checksum, 1u);
    EXPECT_TRUE(r.received.empty());
    // Checksum 0: none computed, accepted.
    b[9] ^= 1;
    net::store_be16(b.data() + 6, 0);
    host.receive(from_gateway(host, ipv4_packet(f, b)));
    // Length shorter than the IP payload: trailing bytes are not payload.
    Bytes shorter = udp_datagram(f.source, 1, f.destination, 5000, Bytes{9, 9});
    shorter.push_back(0xee);
    host.receive(from_gateway(host, ipv4_packet(f, shorter)));
    // The device verified it: a wrong checksum goes unchecked (trust the device).
    ASSERT_EQ(r.received.size(), 2u);
    EXPECT_EQ(r.received[0].payload, (Bytes{1, 2, 3, 4}));
    EXPECT_EQ(r.received[1].payload, (Bytes{9, 9}));
    host.stack.udp().unbind(r);
}

TEST(Udp, SendBuildsChecksummedDatagram)
{
    Host host;
    host.learn(ip(10, 0, 0, 1), mac(1));
    host.eth.frames.clear();
    ASSERT_FALSE(host.stack.udp().send({{}, 4000}, {ip(192, 0, 2, 1), 53}, make_packet(Bytes{'h', 'i'})).is_error());
    ASSERT_EQ(host.eth.frames.size(), 1u);
    Bytes frame = host.eth.pop();
    IpFields f;
    f.source = ip(10, 0, 0, 2);
    f.destination = ip(192, 0, 2, 1);
    f.id = net::load_be16(frame.data() + 18);
    Bytes expected = concat(ether_header(mac(1), mac(2), net::kEtherTypeIpv4),
                            ipv4_packet(f, udp_datagram(f.source, 4000, f.destination, 53, Bytes{'h', 'i'})));
    expected.resize(60, 0);
    EXPECT_EQ(frame, expected);
    EXPECT_EQ(host.stack.udp().send({{}, 4000}, {ip(192, 0, 2, 1), 0}, make_packet(Bytes{})).error(), Errno::INVAL);
    EXPECT_EQ(host.stack.udp().send({{}, 4000}, {ip(192, 0, 2, 1), 1}, make_packet(Bytes(65508))).error(),
              Errno::MSGSIZE);
}

// IP_TOS and IP_TTL: what the socket chose lands in the IPv4 header (frame offsets 15 and 22),
// the ECN bits included (UDP's to set); the defaults are TOS 0 and TTL 64.
TEST(Udp, SendPutsTheSocketsTosAndTtlInTheHeader)
{
    Host host;
    host.learn(ip(10, 0, 0, 1), mac(1));
    host.eth.frames.clear();
    ASSERT_FALSE(host.stack.udp().send({{}, 4000}, {ip(192, 0, 2, 1), 53}, make_packet(Bytes{'a'})).is_error());
    ASSERT_FALSE(host.stack.udp()
                     .send({{}, 4000}, {ip(192, 0, 2, 1), 53}, make_packet(Bytes{'b'}), nullptr,
                           net::Ipv4HeaderChoice{0xb9, 3})
                     .is_error());
    ASSERT_EQ(host.eth.frames.size(), 2u);
    Bytes plain = host.eth.pop(), chosen = host.eth.pop();
    EXPECT_EQ(plain[15], 0);
    EXPECT_EQ(plain[22], 64);
    EXPECT_EQ(chosen[15], 0xb9);
    EXPECT_EQ(chosen[22], 3);
    // The header checksum covers the new fields.
    EXPECT_EQ(net::fold_sum(net::sum_bytes(chosen.data() + 14, 20)), 0xffff);
}

TEST(Udp, ChecksumOffloadLeavesPseudoHeaderSumForTheDevice)
{
    Host host;
    host.eth.set_features({.tx_checksum = true, .rx_checksum = true});
    host.learn(ip(10, 0, 0, 1), mac(1));
    host.eth.frames.clear();
    Bytes payload(100, 0x5a);
    ASSERT_FALSE(host.stack.udp().send({{}, 4000}, {ip(10, 0, 0, 1), 53}, make_packet(payload)).is_error());
    ASSERT_EQ(host.eth.frames.size(), 1u);
    const net::PacketMeta& meta = host.eth.last_meta;
    ASSERT_TRUE(meta.checksum_needed);
    EXPECT_EQ(meta.checksum_offset, 6);
    Bytes frame = host.eth.pop();
    // Do what the device does: checksum from checksum_start (14 + 20 into the frame) to the end.
    Bytes udp(frame.begin() + 34, frame.end());
    uint16_t partial = net::load_be16(udp.data() + 6);
    EXPECT_EQ(partial, net::fold_sum(net::pseudo_header_sum(ip(10, 0, 0, 2), ip(10, 0, 0, 1), 17, 108)));
    net::store_be16(udp.data() + 6, net::finish_checksum(net::sum_bytes(udp.data(), udp.size())));
    EXPECT_EQ(udp, udp_datagram(ip(10, 0, 0, 2), 4000, ip(10, 0, 0, 1), 53, payload));

    // Received with DATA_VALID: not verified again (a corrupt checksum passes).
    RecordingReceiver r;
    ASSERT_FALSE(host.stack.udp().bind(r, {{}, 5000}).is_error());
    Bytes in = udp_to_host(host, 5000, Bytes{1, 2});
    in[14 + 20 + 6] ^= 0xff;
    net::Packet packet = make_packet(in);
    packet.meta().checksum_verified = true;
    host.stack.input(host.eth, std::move(packet));
    EXPECT_EQ(r.received.size(), 1u);
    host.stack.udp().unbind(r);
}

TEST(Udp, OffloadedChecksumIsCompletedInSoftwareBeforeFragmenting)
{
    // The device cannot checksum a datagram split over fragments: IPv4 completes it first.
    Host a(2, 11), b(3, 22);
    a.eth.set_features({.tx_checksum = true, .rx_checksum = false});
    RecordingReceiver server;
    ASSERT_FALSE(b.stack.udp().bind(server, {{}, 9}).is_error());
    Bytes payload(3000);
    for (size_t i = 0; i < payload.size(); i++)
        payload[i] = uint8_t(i * 13);
    ASSERT_FALSE(a.stack.udp().send({{}, 1234}, {ip(10, 0, 0, 3), 9}, make_packet(payload)).is_error());
    pump(a, b);
    ASSERT_EQ(server.received.size(), 1u);
    EXPECT_EQ(server.received[0].payload, payload);
    EXPECT_EQ(b.stack.udp().stats().rx_bad_checksum, 0u);
    EXPECT_FALSE(a.eth.last_meta.checksum_needed);
    b.stack.udp().unbind(server);
}

TEST(Udp, OffloadIsCompletedInSoftwareForADeviceWithoutIt)
{
    // A packet marked checksum_needed routed to a device without tx_checksum gets it in software.
    Host host;
    host.learn(ip(10, 0, 0, 1), mac(1));
    host.eth.frames.clear();
    Bytes udp = udp_datagram(ip(10, 0, 0, 2), 1, ip(10, 0, 0, 1), 2, Bytes{1, 2, 3});
    Bytes partial = udp;
    uint32_t pseudo = net::pseudo_header_sum(ip(10, 0, 0, 2), ip(10, 0, 0, 1), 17, 11);
    net::store_be16(partial.data() + 6, net::fold_sum(pseudo));
    net::Packet p = make_packet(partial);
    p.meta().checksum_needed = true;
    p.meta().checksum_start = uint16_t(p.data_offset());
    p.meta().checksum_offset = 6;
    net::Ipv4OutputParams params;
    params.destination = ip(10, 0, 0, 1);
    params.protocol = net::kIpProtocolUdp;
    ASSERT_FALSE(host.stack.ipv4().output(std::move(p), params).is_error());
    ASSERT_EQ(host.eth.frames.size(), 1u);
    Bytes frame = host.eth.pop();
    EXPECT_EQ(Bytes(frame.begin() + 34, frame.begin() + 34 + 11), udp);
}

TEST(Udp, LoopbackRoundTrip)
{
    Host host;
    RecordingReceiver server, client;
    ASSERT_FALSE(host.stack.udp().bind(server, {ip(127, 0, 0, 1), 7}).is_error());
    uint16_t client_port = host.stack.udp().bind(client, {{}, 0}).value();
    ASSERT_FALSE(host.stack.udp().send({{}, client_port}, {ip(127, 0, 0, 1), 7}, make_packet(Bytes{4, 2})).is_error());
    ASSERT_EQ(server.received.size(), 1u);
    EXPECT_EQ(server.received[0].payload, (Bytes{4, 2}));
    EXPECT_EQ(server.received[0].source.address, ip(127, 0, 0, 1));
    // To our own Ethernet address: also over loopback, never on the wire.
    RecordingReceiver own;
    ASSERT_FALSE(host.stack.udp().bind(own, {ip(10, 0, 0, 2), 9}).is_error());
    ASSERT_FALSE(host.stack.udp().send({{}, client_port}, {ip(10, 0, 0, 2), 9}, make_packet(Bytes{1})).is_error());
    ASSERT_EQ(own.received.size(), 1u);
    EXPECT_EQ(own.received[0].source.address, ip(10, 0, 0, 2));
    // A closed loopback port: ICMP port unreachable comes back to the client's icmp_error.
    ASSERT_FALSE(host.stack.udp().send({{}, client_port}, {ip(127, 0, 0, 1), 8}, make_packet(Bytes{1})).is_error());
    ASSERT_EQ(client.errors.size(), 1u);
    EXPECT_EQ(client.errors[0].code, net::kIcmpPortUnreachable);
    EXPECT_TRUE(host.eth.frames.empty());
    host.stack.udp().unbind(server);
    host.stack.udp().unbind(client);
    host.stack.udp().unbind(own);
}

// An echo server: sends every datagram back to its source.
class EchoServer final : public net::UdpReceiver {
public:
    explicit EchoServer(net::Stack& stack) : m_stack(stack) {}
    void deliver(net::Packet payload, net::UdpEndpoint source, net::UdpEndpoint destination) override
    {
        net::Packet reply = payload.copy();
        (void)m_stack.udp().send(destination, source, std::move(reply));
    }

private:
    net::Stack& m_stack;
};

TEST(Udp, LoopbackPingPongIsBoundedPerCall)
{
    // Two echo servers bouncing one datagram forever over loopback: each call does a bounded
    // amount of work and leaves the rest for poll_timers (next_deadline says "now").
    Host host;
    EchoServer first(host.stack), second(host.stack);
    ASSERT_FALSE(host.stack.udp().bind(first, {ip(127, 0, 0, 1), 1000}).is_error());
    ASSERT_FALSE(host.stack.udp().bind(second, {ip(127, 0, 0, 1), 2000}).is_error());
    ASSERT_FALSE(
        host.stack.udp().send({ip(127, 0, 0, 1), 1000}, {ip(127, 0, 0, 1), 2000}, make_packet(Bytes{1})).is_error());
    EXPECT_EQ(host.stack.udp().stats().rx_delivered, net::LoopbackInterface::kBudget);
    EXPECT_EQ(host.stack.next_deadline(), host.clock.now_ns());
    host.stack.poll_timers(host.clock.now_ns());
    EXPECT_EQ(host.stack.udp().stats().rx_delivered, 2 * net::LoopbackInterface::kBudget);
    host.stack.udp().unbind(first);
    host.stack.udp().unbind(second);
    host.stack.poll_timers(host.clock.now_ns()); // the datagram in flight finds no port
    EXPECT_EQ(host.stack.next_deadline(), UINT64_MAX);
}

TEST(Udp, RoundTripBetweenTwoStacksOverAWire)
{
    Host a(2, 11), b(3, 22);
    EchoServer echo(b.stack);
    ASSERT_FALSE(b.stack.udp().bind(echo, {{}, 7}).is_error());
    RecordingReceiver client;
    uint16_t port = a.stack.udp().bind(client, {{}, 0}).value();
    for (size_t size : {0, 1, 100, 1472, 1473, 8000, 65507}) {
        Bytes payload(size);
        for (size_t i = 0; i < size; i++)
            payload[i] = uint8_t(i ^ size);
        ASSERT_FALSE(a.stack.udp().send({{}, port}, {ip(10, 0, 0, 3), 7}, make_packet(payload)).is_error());
        pump(a, b);
        ASSERT_EQ(client.received.size(), 1u) << size;
        EXPECT_EQ(client.received[0].payload, payload) << size;
        EXPECT_EQ(client.received[0].source.address, ip(10, 0, 0, 3));
        EXPECT_EQ(client.received[0].source.port, 7);
        client.received.clear();
    }
    EXPECT_EQ(a.stack.arp().stats().tx_requests, 1u); // resolved once
    EXPECT_GT(b.stack.ipv4().reassembler().stats().reassembled, 0u);
    a.stack.udp().unbind(client);
    b.stack.udp().unbind(echo);
}

} // namespace
