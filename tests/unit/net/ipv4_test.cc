// Unit tests for IPv4: header validation (every rejection counted), routing, delivery rules,
// fragmentation on output and reassembly on input with its limits.
#include "net_test_support.h"

#include <algorithm>
#include <random>

namespace {

using namespace nettest;

// A handler for an otherwise unused protocol number that records payloads.
class Recorder final : public net::Ipv4ProtocolHandler {
public:
    void receive(net::Packet packet, const net::Ipv4Info& info) override
    {
        payloads.emplace_back(packet.data(), packet.data() + packet.length());
        infos.push_back(info);
    }
    std::vector<Bytes> payloads;
    std::vector<net::Ipv4Info> infos;
};

constexpr uint8_t kTestProtocol = 253; // RFC 3692 experimental

struct Ipv4Fixture : ::testing::Test {
    Ipv4Fixture() { EXPECT_FALSE(host.stack.ipv4().register_protocol(kTestProtocol, recorder).is_error()); }
    IpFields fields(uint16_t id = 0x1234)
    {
        IpFields f;
        f.source = ip(10, 0, 0, 1);
        f.destination = ip(10, 0, 0, 2);
        f.protocol = kTestProtocol;
        f.id = id;
        return f;
    }
    void receive_ip(const Bytes& packet) { host.receive(from_gateway(host, packet)); }
    Host host;
    Recorder recorder;
};

TEST_F(Ipv4Fixture, DeliversByProtocolAndTrimsPadding)
{
    Bytes frame = from_gateway(host, ipv4_packet(fields(), Bytes{1, 2, 3}));
    frame.resize(60, 0xee); // Ethernet padding after the datagram
    host.receive(frame);
    ASSERT_EQ(recorder.payloads.size(), 1u);
    EXPECT_EQ(recorder.payloads[0], (Bytes{1, 2, 3}));
    EXPECT_EQ(recorder.infos[0].source, ip(10, 0, 0, 1));
    EXPECT_EQ(recorder.infos[0].interface, &host.eth);
    EXPECT_FALSE(recorder.infos[0].broadcast);
    EXPECT_EQ(host.stack.ipv4().register_protocol(kTestProtocol, recorder).error(), Errno::EXIST);
}

TEST_F(Ipv4Fixture, EveryBadHeaderIsCountedAndDropped)
{
    const auto& s = host.stack.ipv4().stats();
    Bytes good = ipv4_packet(fields(), Bytes(8, 0));
    auto mutate = [&](auto change) {
        Bytes b = good;
        change(b);
        return b;
    };
    auto fix_checksum = [](Bytes& b) {
        net::store_be16(b.data() + 10, 0);
        size_t hl = size_t(b[0] & 0xf) * 4;
        net::store_be16(b.data() + 10, net::finish_checksum(net::sum_bytes(b.data(), std::min(hl, b.size()))));
    };
    receive_ip(Bytes(good.begin(), good.begin() + 19));
    EXPECT_EQ(s.rx_truncated, 1u);
    receive_ip(mutate([&](Bytes& b) { b[0] = 0x65; fix_checksum(b); }));
    EXPECT_EQ(s.rx_bad_version, 1u);
    receive_ip(mutate([&](Bytes& b) { b[0] = 0x44; fix_checksum(b); }));
    EXPECT_EQ(s.rx_bad_header_length, 1u);
    receive_ip(mutate([&](Bytes& b) { b[0] = 0x4f; fix_checksum(b); })); // IHL 60 > 28 bytes
    EXPECT_EQ(s.rx_truncated, 2u);
    receive_ip(mutate([&](Bytes& b) { net::store_be16(b.data() + 2, 29); fix_checksum(b); }));
    EXPECT_EQ(s.rx_bad_total_length, 1u);
    receive_ip(mutate([&](Bytes& b) { net::store_be16(b.data() + 2, 19); fix_checksum(b); }));
    EXPECT_EQ(s.rx_bad_total_length, 2u);
    receive_ip(mutate([&](Bytes& b) { b[10] ^= 1; }));
    EXPECT_EQ(s.rx_bad_checksum, 1u);
    receive_ip(mutate([&](Bytes& b) { b[6] |= 0x80; fix_checksum(b); }));
    EXPECT_EQ(s.rx_reserved_flag, 1u);
    receive_ip(mutate([&](Bytes& b) { b[8] = 0; fix_checksum(b); }));
    EXPECT_EQ(s.rx_ttl_zero, 1u);
    for (auto source : {ip(255, 255, 255, 255), ip(224, 0, 0, 1), ip(127, 0, 0, 1), ip(10, 0, 0, 255)}) {
        IpFields f = fields();
        f.source = source;
        receive_ip(ipv4_packet(f, Bytes(8, 0)));
    }
    EXPECT_EQ(s.rx_martian_source, 4u);
    for (auto destination : {ip(10, 0, 0, 3), ip(127, 0, 0, 1), ip(224, 0, 0, 1)}) {
        IpFields f = fields();
        f.destination = destination;
        receive_ip(ipv4_packet(f, Bytes(8, 0)));
    }
    EXPECT_EQ(s.rx_not_for_us, 3u);
    EXPECT_TRUE(recorder.payloads.empty());
    EXPECT_TRUE(host.eth.frames.empty()); // no ICMP about garbage
    // Options are skipped: IHL 6 with a 4-byte NOP option.
    Bytes with_option = mutate([&](Bytes& b) {
        b.insert(b.begin() + 20, {1, 1, 1, 1});
        b[0] = 0x46;
        net::store_be16(b.data() + 2, uint16_t(b.size()));
        fix_checksum(b);
    });
    receive_ip(with_option);
    ASSERT_EQ(recorder.payloads.size(), 1u);
    EXPECT_EQ(recorder.payloads[0], Bytes(8, 0));
}

TEST_F(Ipv4Fixture, BroadcastsAreDeliveredAndMarked)
{
    IpFields f = fields();
    f.destination = ip(255, 255, 255, 255);
    receive_ip(ipv4_packet(f, Bytes{1}));
    f.destination = ip(10, 0, 0, 255);
    receive_ip(ipv4_packet(f, Bytes{2}));
    ASSERT_EQ(recorder.infos.size(), 2u);
    EXPECT_TRUE(recorder.infos[0].broadcast);
    EXPECT_TRUE(recorder.infos[1].broadcast);
}

TEST_F(Ipv4Fixture, UnknownProtocolGetsProtocolUnreachable)
{
    IpFields f = fields();
    f.protocol = 99;
    receive_ip(ipv4_packet(f, Bytes(8, 0)));
    EXPECT_EQ(host.stack.ipv4().stats().rx_unknown_protocol, 1u);
    ASSERT_EQ(host.eth.frames.size(), 1u); // ARP request for the sender
    host.eth.frames.clear();
    host.learn(ip(10, 0, 0, 1), mac(1));
    ASSERT_EQ(host.eth.frames.size(), 1u); // the ICMP error waited for ARP
    Bytes frame = host.eth.pop();
    EXPECT_EQ(frame[14 + 9], net::kIpProtocolIcmp);
    EXPECT_EQ(frame[34], net::kIcmpDestinationUnreachable);
    EXPECT_EQ(frame[35], net::kIcmpProtocolUnreachable);
}

TEST(Ipv4Route, LongestPrefixWinsAndGatewayIsNextHop)
{
    net::RouteTable table;
    FakeEthernet a("a", mac(1)), b("b", mac(2)), c("c", mac(3));
    ASSERT_FALSE(table.add({{}, 0, ip(10, 0, 0, 1), &a}).is_error());
    ASSERT_FALSE(table.add({ip(10, 1, 0, 0), 16, {}, &b}).is_error());
    ASSERT_FALSE(table.add({ip(10, 1, 2, 99), 24, ip(10, 1, 0, 254), &c}).is_error());
    EXPECT_EQ(table.add({ip(10, 1, 2, 0), 24, {}, &a}).error(), Errno::EXIST);
    EXPECT_EQ(table.add({ip(10, 1, 2, 0), 33, {}, &a}).error(), Errno::INVAL);

    auto r = table.lookup(ip(10, 1, 2, 3));
    ASSERT_FALSE(r.is_error());
    EXPECT_EQ(r.value().interface, &c);
    EXPECT_EQ(r.value().next_hop, ip(10, 1, 0, 254));
    r = table.lookup(ip(10, 1, 3, 3));
    EXPECT_EQ(r.value().interface, &b);
    EXPECT_EQ(r.value().next_hop, ip(10, 1, 3, 3));
    r = table.lookup(ip(8, 8, 8, 8));
    EXPECT_EQ(r.value().interface, &a);
    EXPECT_EQ(r.value().next_hop, ip(10, 0, 0, 1));

    ASSERT_FALSE(table.remove({}, 0).is_error());
    EXPECT_EQ(table.lookup(ip(8, 8, 8, 8)).error(), Errno::NETUNREACH);
    table.remove_interface(c);
    EXPECT_EQ(table.lookup(ip(10, 1, 2, 3)).value().interface, &b);
    EXPECT_EQ(table.remove(ip(1, 2, 3, 4), 8).error(), Errno::NOENT);
    for (size_t i = table.count(); i < net::RouteTable::kMaxRoutes; i++)
        ASSERT_FALSE(table.add({net::Ipv4Address{uint32_t(i) << 8}, 24, {}, &a}).is_error());
    EXPECT_EQ(table.add({ip(99, 0, 0, 0), 8, {}, &a}).error(), Errno::NOSPC);
}

TEST(Ipv4Route, StackRoutesLocalAddressesToLoopback)
{
    Host host;
    auto& ipv4 = host.stack.ipv4();
    EXPECT_EQ(ipv4.route(ip(127, 0, 0, 1)).value().interface, &host.stack.loopback());
    EXPECT_EQ(ipv4.route(ip(127, 9, 9, 9)).value().interface, &host.stack.loopback());
    EXPECT_EQ(ipv4.route(ip(10, 0, 0, 2)).value().interface, &host.stack.loopback());
    EXPECT_EQ(ipv4.route(ip(10, 0, 0, 9)).value().interface, &host.eth);
    EXPECT_EQ(ipv4.route(ip(10, 0, 0, 9)).value().next_hop, ip(10, 0, 0, 9));
    EXPECT_EQ(ipv4.route(ip(1, 1, 1, 1)).value().next_hop, ip(10, 0, 0, 1));
    EXPECT_EQ(ipv4.path_mtu(ip(1, 1, 1, 1)), 1500u);
    EXPECT_EQ(ipv4.path_mtu(ip(127, 0, 0, 1)), 65536u);
}

TEST(Ipv4Output, BuildsHeaderAndRoutesViaGateway)
{
    Host host;
    host.learn(ip(10, 0, 0, 1), mac(1));
    host.eth.frames.clear();
    net::Ipv4OutputParams params;
    params.destination = ip(192, 0, 2, 9);
    params.protocol = kTestProtocol;
    ASSERT_FALSE(host.stack.ipv4().output(make_packet(Bytes{9, 8, 7}), params).is_error());
    ASSERT_EQ(host.eth.frames.size(), 1u);
    Bytes frame = host.eth.pop();
    EXPECT_EQ(Bytes(frame.begin(), frame.begin() + 14), ether_header(mac(1), mac(2), net::kEtherTypeIpv4));
    net::Ipv4Header h;
    ASSERT_EQ(net::parse_ipv4_header(frame.data() + 14, frame.size() - 14, false, h), net::Ipv4Parse::Ok);
    EXPECT_EQ(h.source, ip(10, 0, 0, 2));
    EXPECT_EQ(h.destination, ip(192, 0, 2, 9));
    EXPECT_EQ(h.total_length, 23);
    EXPECT_EQ(h.ttl, 64);
    EXPECT_FALSE(h.dont_fragment);
    EXPECT_FALSE(h.is_fragment());

    // TCP gets DF by default; the flag can be forced either way.
    params.protocol = net::kIpProtocolTcp;
    ASSERT_FALSE(host.stack.ipv4().output(make_packet(Bytes(20)), params).is_error());
    ASSERT_EQ(net::parse_ipv4_header(host.eth.frames.back().data() + 14, 60 - 14, false, h), net::Ipv4Parse::Ok);
    EXPECT_TRUE(h.dont_fragment);
    params.dont_fragment = net::DontFragment::Clear;
    ASSERT_FALSE(host.stack.ipv4().output(make_packet(Bytes(20)), params).is_error());
    ASSERT_EQ(net::parse_ipv4_header(host.eth.frames.back().data() + 14, 60 - 14, false, h), net::Ipv4Parse::Ok);
    EXPECT_FALSE(h.dont_fragment);
}

TEST(Ipv4Output, Errors)
{
    Host host;
    net::Ipv4OutputParams params;
    params.protocol = kTestProtocol;
    params.destination = ip(8, 8, 8, 8);
    ASSERT_FALSE(host.stack.ipv4().routes().remove({}, 0).is_error());
    EXPECT_EQ(host.stack.ipv4().output(make_packet(Bytes(4)), params).error(), Errno::NETUNREACH);
    EXPECT_EQ(host.stack.ipv4().stats().tx_no_route, 1u);
    params.destination = ip(10, 0, 0, 9);
    params.dont_fragment = net::DontFragment::Set;
    EXPECT_EQ(host.stack.ipv4().output(make_packet(Bytes(1481)), params).error(), Errno::MSGSIZE);
    EXPECT_EQ(host.stack.ipv4().stats().tx_too_big, 1u);
    net::Packet no_room = net::Packet::allocate(64, 0);
    no_room.put(4);
    EXPECT_EQ(host.stack.ipv4().output(std::move(no_room), params).error(), Errno::NOBUFS);
    host.eth.set_link_up(false);
    EXPECT_EQ(host.stack.ipv4().output(make_packet(Bytes(4)), params).error(), Errno::NETDOWN);
}

// ---- fragmentation and reassembly ----

// Sends `size` payload bytes from `host` to 10.0.0.9 with MTU `mtu`; returns the IP packets.
std::vector<Bytes> fragments_of(size_t size, uint32_t mtu, uint8_t protocol = kTestProtocol)
{
    Host host;
    host.eth.set_mtu(mtu);
    host.learn(ip(10, 0, 0, 9), mac(9));
    host.eth.frames.clear();
    Bytes payload(size);
    for (size_t i = 0; i < size; i++)
        payload[i] = uint8_t(i * 7 + i / 251);
    net::Ipv4OutputParams params;
    params.destination = ip(10, 0, 0, 9);
    params.protocol = protocol;
    EXPECT_FALSE(host.stack.ipv4().output(make_packet(payload), params).is_error());
    std::vector<Bytes> out;
    for (auto& f : host.eth.frames) {
        net::Ipv4Header h;
        EXPECT_EQ(net::parse_ipv4_header(f.data() + 14, f.size() - 14, false, h), net::Ipv4Parse::Ok);
        out.emplace_back(f.begin() + 14, f.begin() + 14 + h.total_length);
    }
    return out;
}

Bytes expected_payload(size_t size)
{
    Bytes payload(size);
    for (size_t i = 0; i < size; i++)
        payload[i] = uint8_t(i * 7 + i / 251);
    return payload;
}

TEST(Ipv4Fragment, OutputSplitsAtMultiplesOfEight)
{
    auto pieces = fragments_of(4000, 1500);
    ASSERT_EQ(pieces.size(), 3u);
    size_t offset = 0;
    for (size_t i = 0; i < pieces.size(); i++) {
        net::Ipv4Header h;
        ASSERT_EQ(net::parse_ipv4_header(pieces[i].data(), pieces[i].size(), false, h), net::Ipv4Parse::Ok);
        EXPECT_LE(pieces[i].size(), 1500u);
        EXPECT_EQ(h.fragment_offset, offset);
        EXPECT_EQ(h.more_fragments, i + 1 < pieces.size());
        EXPECT_EQ(h.id, net::load_be16(pieces[0].data() + 4));
        offset += h.total_length - 20;
    }
    EXPECT_EQ(offset, 4000u);
    EXPECT_EQ(pieces[0].size(), 20u + 1480);
    EXPECT_TRUE(fragments_of(1480, 1500).size() == 1);
}

// IP_MTU_DISCOVER's modes (PmtuDiscovery), as Linux applies them to a UDP datagram: DF, which
// MTU counts (the path's, here lowered to 1000 by a learnt PMTU, or eth0's 1500), and whether
// a datagram beyond it is fragmented or refused.
TEST(Ipv4Pmtu, DiscoveryModes)
{
    using M = net::PmtuDiscovery;
    struct Case {
        M mode;
        size_t size;       // bytes after the IPv4 header
        Errno error;       // Errno(0): sent
        size_t datagrams;  // frames out
        bool df;           // on the first of them
    };
    const Case cases[] = {
        { M::Dont, 900, Errno(0), 1, false },      { M::Dont, 1200, Errno(0), 2, false },
        { M::Want, 900, Errno(0), 1, true },       { M::Want, 1200, Errno(0), 2, false },
        { M::Do, 980, Errno(0), 1, true },         { M::Do, 981, Errno::MSGSIZE, 0, false },
        { M::Probe, 1200, Errno(0), 1, true },     { M::Probe, 1481, Errno::MSGSIZE, 0, false },
        { M::Interface, 1200, Errno(0), 1, false }, { M::Interface, 1481, Errno::MSGSIZE, 0, false },
        { M::Omit, 1200, Errno(0), 1, false },     { M::Omit, 1481, Errno(0), 2, false },
    };
    for (const Case& c : cases) {
        Host host;
        host.learn(ip(10, 0, 0, 9), mac(9));
        host.stack.ipv4().pmtu().update(ip(10, 0, 0, 9), 1000, host.stack.now());
        host.eth.frames.clear();
        net::Ipv4OutputParams params;
        params.destination = ip(10, 0, 0, 9);
        params.protocol = kTestProtocol;
        params.pmtu_discovery = c.mode;
        auto sent = host.stack.ipv4().output(make_packet(Bytes(c.size)), params);
        SCOPED_TRACE(testing::Message() << "mode " << int(c.mode) << ", " << c.size << " bytes");
        EXPECT_EQ(sent.is_error() ? sent.error() : Errno(0), c.error);
        ASSERT_EQ(host.eth.frames.size(), c.datagrams);
        if (c.datagrams == 0)
            continue;
        net::Ipv4Header h;
        const Bytes& f = host.eth.frames[0];
        ASSERT_EQ(net::parse_ipv4_header(f.data() + 14, f.size() - 14, false, h), net::Ipv4Parse::Ok);
        EXPECT_EQ(h.dont_fragment, c.df);
        EXPECT_EQ(h.more_fragments, c.datagrams > 1);
    }
}

// A TCP super-segment (PacketMeta gso) through an interface without TSO, or with TSO but a
// path MTU its pieces do not fit: IPv4 output cuts it into TCP segments (software GSO).
std::vector<Bytes> segments_of(size_t payload_size, uint16_t gso_size, uint32_t mtu, bool device_tso,
                               net::Ipv4Stats* stats = nullptr)
{
    Host host;
    host.eth.set_mtu(mtu);
    host.eth.offer_tso(device_tso);
    host.learn(ip(10, 0, 0, 9), mac(9));
    host.eth.frames.clear();
    // A TCP header with timestamps (32 bytes), PSH|FIN|ACK, seq 1000, then the payload.
    Bytes tcp(32, 0);
    net::store_be16(tcp.data(), 4000);
    net::store_be16(tcp.data() + 2, 80);
    net::store_be32(tcp.data() + 4, 1000);
    net::store_be32(tcp.data() + 8, 77);
    tcp[12] = 8 << 4;
    tcp[13] = 0x10 | 0x08 | 0x01;
    net::store_be16(tcp.data() + 14, 512);
    tcp[20] = 1;
    tcp[21] = 1;
    tcp[22] = 8;
    tcp[23] = 10;
    for (size_t i = 0; i < payload_size; i++)
        tcp.push_back(uint8_t(i * 13 + i / 509));
    net::Packet packet = make_packet(tcp);
    packet.mark_transport_header();
    net::PacketMeta& meta = packet.meta();
    meta.checksum_needed = true;
    meta.checksum_start = uint16_t(packet.data_offset());
    meta.checksum_offset = 16;
    meta.gso_type = net::GsoType::TcpV4;
    meta.gso_size = gso_size;
    uint32_t sum = net::pseudo_header_sum(ip(10, 0, 0, 2), ip(10, 0, 0, 9), net::kIpProtocolTcp, uint16_t(tcp.size()));
    net::store_be16(packet.data() + 16, net::fold_sum(sum));
    net::Ipv4OutputParams params;
    params.destination = ip(10, 0, 0, 9);
    params.protocol = net::kIpProtocolTcp;
    EXPECT_FALSE(host.stack.ipv4().output(std::move(packet), params).is_error());
    if (stats)
        *stats = host.stack.ipv4().stats();
    std::vector<Bytes> out;
    for (auto& f : host.eth.frames)
        out.emplace_back(f.begin() + 14, f.end());
    return out;
}

TEST(Ipv4Gso, SoftwareSegmentationCutsAtTheSegmentSize)
{
    net::Ipv4Stats stats;
    auto pieces = segments_of(10 * 1448 + 100, 1448, 1500, false, &stats);
    ASSERT_EQ(pieces.size(), 11u);
    EXPECT_EQ(stats.tx_gso_segments, 11u);
    EXPECT_EQ(stats.tx_fragments, 0u);
    size_t offset = 0;
    uint16_t first_id = net::load_be16(pieces[0].data() + 4);
    for (size_t i = 0; i < pieces.size(); i++) {
        const Bytes& p = pieces[i];
        net::Ipv4Header h;
        ASSERT_EQ(net::parse_ipv4_header(p.data(), p.size(), false, h), net::Ipv4Parse::Ok); // checksum too
        EXPECT_LE(h.total_length, 1500);
        EXPECT_FALSE(h.is_fragment());
        EXPECT_TRUE(h.dont_fragment);
        EXPECT_EQ(h.id, uint16_t(first_id + i));
        const uint8_t* tcp = p.data() + 20;
        size_t length = h.total_length - 20u;
        size_t payload = length - 32;
        EXPECT_EQ(payload, i + 1 < pieces.size() ? 1448u : 100u);
        EXPECT_EQ(net::load_be32(tcp + 4), 1000 + offset);
        uint8_t flags = tcp[13];
        bool last = i + 1 == pieces.size();
        EXPECT_EQ(flags, last ? 0x19 : 0x10) << i; // PSH and FIN on the last piece only
        EXPECT_EQ(tcp[20], 1);                     // options copied
        EXPECT_EQ(tcp[22], 8);
        uint32_t sum = net::pseudo_header_sum(h.source, h.destination, net::kIpProtocolTcp, uint16_t(length));
        EXPECT_EQ(net::finish_checksum(net::sum_bytes(tcp, length, sum)), 0) << i;
        for (size_t k = 0; k < payload; k++)
            ASSERT_EQ(tcp[32 + k], uint8_t((offset + k) * 13 + (offset + k) / 509)) << i << " " << k;
        offset += payload;
    }
    EXPECT_EQ(offset, 10u * 1448 + 100);
}

TEST(Ipv4Gso, TheDeviceGetsItWholeWhenThePiecesFit)
{
    auto whole = segments_of(40 * 1448, 1448, 1500, true);
    ASSERT_EQ(whole.size(), 1u);
    EXPECT_EQ(whole[0].size(), 20u + 32 + 40 * 1448);
    // A path MTU below the pieces (PMTU lowered after the segment was built): cut here.
    auto cut = segments_of(4 * 1448, 1448, 1000, true);
    ASSERT_EQ(cut.size(), 7u); // 948-byte pieces
    for (const Bytes& p : cut)
        EXPECT_LE(p.size(), 1000u);
}

// The boundaries of the cutting loop both share: a payload an exact multiple of the piece
// size leaves no empty piece behind; one byte more makes a last piece of one byte.
TEST(Ipv4Fragment, BoundariesOfThePieceSize)
{
    struct Case {
        size_t size;
        size_t pieces;
        size_t last_payload;
    };
    for (Case c : { Case { 2 * 1480, 2, 1480 }, Case { 2 * 1480 + 1, 3, 1 }, Case { 1481, 2, 1 } }) {
        auto pieces = fragments_of(c.size, 1500);
        ASSERT_EQ(pieces.size(), c.pieces) << c.size;
        net::Ipv4Header last;
        ASSERT_EQ(net::parse_ipv4_header(pieces.back().data(), pieces.back().size(), false, last), net::Ipv4Parse::Ok);
        EXPECT_FALSE(last.more_fragments) << c.size;
        EXPECT_EQ(last.total_length - 20u, c.last_payload) << c.size;
        EXPECT_EQ(last.fragment_offset, c.size - c.last_payload) << c.size;
        Bytes expected = expected_payload(c.size);
        EXPECT_EQ(Bytes(pieces.back().begin() + 20, pieces.back().end()),
                  Bytes(expected.end() - c.last_payload, expected.end()));
    }
}

TEST(Ipv4Gso, BoundariesOfTheSegmentSize)
{
    struct Case {
        size_t size;
        size_t pieces;
        size_t last_payload;
    };
    for (Case c : { Case { 3 * 1448, 3, 1448 }, Case { 3 * 1448 + 1, 4, 1 } }) {
        net::Ipv4Stats stats;
        auto pieces = segments_of(c.size, 1448, 1500, false, &stats);
        ASSERT_EQ(pieces.size(), c.pieces) << c.size;
        EXPECT_EQ(stats.tx_gso_segments, c.pieces);
        for (size_t i = 0; i < pieces.size(); i++) {
            const uint8_t* tcp = pieces[i].data() + 20;
            size_t payload = net::load_be16(pieces[i].data() + 2) - 20u - 32;
            bool last = i + 1 == pieces.size();
            EXPECT_EQ(payload, last ? c.last_payload : 1448u) << c.size << " " << i;
            EXPECT_EQ(net::load_be32(tcp + 4), 1000 + i * 1448) << c.size << " " << i;
            EXPECT_EQ(tcp[13], last ? 0x19 : 0x10) << c.size << " " << i; // FIN and PSH end it
        }
    }
}

struct Reassembly : Ipv4Fixture {
    void feed(const std::vector<Bytes>& pieces, std::vector<size_t> order)
    {
        for (size_t i : order)
            receive_ip(readdress(pieces[i]));
    }
    // The fragments were sent to 10.0.0.9 from 10.0.0.2; present them as 10.0.0.1 → us.
    static Bytes readdress(Bytes b)
    {
        net::store_be32(b.data() + 12, ip(10, 0, 0, 1).value);
        net::store_be32(b.data() + 16, ip(10, 0, 0, 2).value);
        net::store_be16(b.data() + 10, 0);
        net::store_be16(b.data() + 10, net::finish_checksum(net::sum_bytes(b.data(), 20)));
        return b;
    }
    const net::ReassemblyStats& stats() { return host.stack.ipv4().reassembler().stats(); }
};

TEST_F(Reassembly, InOrder)
{
    auto pieces = fragments_of(4000, 1500);
    feed(pieces, {0, 1, 2});
    ASSERT_EQ(recorder.payloads.size(), 1u);
    EXPECT_EQ(recorder.payloads[0], expected_payload(4000));
    EXPECT_EQ(stats().reassembled, 1u);
    EXPECT_EQ(host.stack.ipv4().reassembler().datagram_count(), 0u);
    EXPECT_EQ(host.stack.ipv4().reassembler().memory_used(), 0u);
}

TEST_F(Reassembly, ReversedAndShuffledAndLarge)
{
    auto pieces = fragments_of(4000, 1500);
    feed(pieces, {2, 1, 0});
    auto big = fragments_of(65535 - 20, 576);
    std::vector<size_t> order;
    for (size_t i = 0; i < big.size(); i++)
        order.push_back(i);
    std::shuffle(order.begin(), order.end(), std::mt19937(42));
    feed(big, order);
    ASSERT_EQ(recorder.payloads.size(), 2u);
    EXPECT_EQ(recorder.payloads[0], expected_payload(4000));
    EXPECT_EQ(recorder.payloads[1], expected_payload(65535 - 20));
}

TEST_F(Reassembly, DuplicatesAreIgnored)
{
    auto pieces = fragments_of(4000, 1500);
    feed(pieces, {0, 0, 1, 1, 2});
    ASSERT_EQ(recorder.payloads.size(), 1u);
    EXPECT_EQ(recorder.payloads[0], expected_payload(4000));
    EXPECT_EQ(stats().duplicates, 2u);
    feed(pieces, {2}); // a late duplicate starts a new datagram that then times out
    EXPECT_EQ(host.stack.ipv4().reassembler().datagram_count(), 1u);
}

TEST_F(Reassembly, OverlapDropsTheWholeDatagram)
{
    auto pieces = fragments_of(4000, 1500);
    // A fragment at offset 8 overlapping the first one.
    Bytes overlap = pieces[1];
    net::store_be16(overlap.data() + 6, net::kIpv4FlagMoreFragments | 1);
    net::store_be16(overlap.data() + 10, 0);
    net::store_be16(overlap.data() + 10, net::finish_checksum(net::sum_bytes(overlap.data(), 20)));
    feed(pieces, {0});
    receive_ip(readdress(overlap));
    EXPECT_EQ(stats().overlaps, 1u);
    EXPECT_EQ(host.stack.ipv4().reassembler().datagram_count(), 0u);
    feed(pieces, {1, 2}); // the rest alone never completes
    EXPECT_TRUE(recorder.payloads.empty());
}

TEST_F(Reassembly, TimeoutFreesIncompleteDatagrams)
{
    auto pieces = fragments_of(4000, 1500);
    feed(pieces, {0, 2});
    EXPECT_EQ(host.stack.ipv4().reassembler().datagram_count(), 1u);
    EXPECT_GT(host.stack.ipv4().reassembler().memory_used(), 0u);
    EXPECT_EQ(host.stack.next_deadline(), host.clock.now_ns() + net::Reassembler::kTimeoutNs);
    host.clock.advance(net::Reassembler::kTimeoutNs);
    host.stack.poll_timers(host.clock.now_ns());
    EXPECT_EQ(stats().timeouts, 1u);
    EXPECT_EQ(host.stack.ipv4().reassembler().datagram_count(), 0u);
    EXPECT_EQ(host.stack.ipv4().reassembler().memory_used(), 0u);
    feed(pieces, {1});
    EXPECT_TRUE(recorder.payloads.empty());
}

TEST_F(Reassembly, TimeoutSendsTimeExceededOnlyWithFragmentZero)
{
    host.learn(ip(10, 0, 0, 1), mac(1));
    host.eth.frames.clear();
    auto pieces = fragments_of(4000, 1500);
    feed(pieces, {0});
    host.clock.advance(net::Reassembler::kTimeoutNs - 1);
    host.learn(ip(10, 0, 0, 1), mac(1)); // keep the neighbour Reachable (no re-probe frame)
    host.clock.advance(1);
    host.stack.poll_timers(host.clock.now_ns());
    ASSERT_EQ(host.eth.frames.size(), 1u);
    Bytes frame = host.eth.pop();
    EXPECT_EQ(frame[14 + 9], net::kIpProtocolIcmp);
    EXPECT_EQ(frame[34], net::kIcmpTimeExceeded);
    EXPECT_EQ(frame[35], net::kIcmpReassemblyTimeExceeded);
    // The quote is fragment zero's header (as received) and the start of its payload.
    Bytes zero = readdress(pieces[0]);
    EXPECT_EQ(Bytes(frame.begin() + 42, frame.begin() + 42 + 28), Bytes(zero.begin(), zero.begin() + 28));
    feed(pieces, {1, 2});
    host.clock.advance(net::Reassembler::kTimeoutNs);
    host.stack.poll_timers(host.clock.now_ns());
    EXPECT_TRUE(host.eth.frames.empty());
    EXPECT_EQ(stats().timeouts, 2u);
}

TEST_F(Reassembly, MemoryCapAndDatagramLimitEvictOldest)
{
    // Many datagrams, each missing its last fragment: the cap holds.
    for (uint16_t id = 0; id < 40; id++) {
        IpFields f = fields(id);
        f.more_fragments = true;
        for (uint16_t off = 0; off < 10 * 1480; off += 1480) {
            f.fragment_offset = off;
            receive_ip(ipv4_packet(f, Bytes(1480, 1)));
        }
        EXPECT_LE(host.stack.ipv4().reassembler().memory_used(), net::Reassembler::kMemoryCap);
        EXPECT_LE(host.stack.ipv4().reassembler().datagram_count(), net::Reassembler::kMaxDatagrams);
    }
    EXPECT_GT(stats().evictions, 0u);
    EXPECT_TRUE(recorder.payloads.empty());
}

TEST_F(Reassembly, DatagramLimitEvictsTheOldest)
{
    for (uint16_t id = 0; id < 2 * net::Reassembler::kMaxDatagrams; id++) {
        host.clock.advance(1);
        IpFields f = fields(id);
        f.more_fragments = true;
        receive_ip(ipv4_packet(f, Bytes(8, 1)));
    }
    EXPECT_EQ(host.stack.ipv4().reassembler().datagram_count(), net::Reassembler::kMaxDatagrams);
    EXPECT_EQ(stats().evictions, net::Reassembler::kMaxDatagrams);
    // The newest survive: completing the last one works, the first one cannot.
    IpFields last = fields(2 * net::Reassembler::kMaxDatagrams - 1);
    last.fragment_offset = 8;
    receive_ip(ipv4_packet(last, Bytes(8, 2)));
    IpFields first = fields(0);
    first.fragment_offset = 8;
    receive_ip(ipv4_packet(first, Bytes(8, 2)));
    ASSERT_EQ(recorder.payloads.size(), 1u);
    EXPECT_EQ(recorder.payloads[0], concat(Bytes(8, 1), Bytes(8, 2)));
}

TEST_F(Reassembly, LimitsAndBadFragments)
{
    IpFields f = fields(7);
    f.more_fragments = true;
    f.fragment_offset = 0;
    receive_ip(ipv4_packet(f, Bytes(13, 0))); // not a multiple of 8
    EXPECT_EQ(stats().bad_fragments, 1u);
    f.fragment_offset = 65528; // ends beyond 65535
    receive_ip(ipv4_packet(f, Bytes(16, 0)));
    EXPECT_EQ(stats().too_big, 1u);
    // Two different ends.
    f.more_fragments = false;
    f.fragment_offset = 800;
    receive_ip(ipv4_packet(f, Bytes(8, 0)));
    f.fragment_offset = 1600;
    receive_ip(ipv4_packet(f, Bytes(8, 0)));
    EXPECT_EQ(stats().bad_fragments, 2u);
    // A fragment beyond a known end.
    f.fragment_offset = 800;
    receive_ip(ipv4_packet(f, Bytes(8, 0)));
    f.more_fragments = true;
    f.fragment_offset = 1600;
    receive_ip(ipv4_packet(f, Bytes(8, 0)));
    EXPECT_EQ(stats().bad_fragments, 3u);
    // Too many fragments.
    f.id = 8;
    for (size_t i = 0; i <= net::Reassembler::kMaxFragments; i++) {
        f.fragment_offset = uint16_t(8 * i);
        receive_ip(ipv4_packet(f, Bytes(8, 0)));
    }
    EXPECT_EQ(stats().too_many_fragments, 1u);
    EXPECT_TRUE(recorder.payloads.empty());
}

TEST(Ipv4Pmtu, CacheLowersExpiresAndIsBounded)
{
    net::PmtuCache cache;
    uint64_t now = 100;
    cache.update(ip(1, 1, 1, 1), 1400, now);
    EXPECT_EQ(cache.lookup(ip(1, 1, 1, 1), now), 1400u);
    cache.update(ip(1, 1, 1, 1), 1450, now); // never raised by a report
    EXPECT_EQ(cache.lookup(ip(1, 1, 1, 1), now), 1400u);
    cache.update(ip(1, 1, 1, 1), 100, now);
    EXPECT_EQ(cache.lookup(ip(1, 1, 1, 1), now), net::PmtuCache::kMinMtu);
    EXPECT_EQ(cache.lookup(ip(1, 1, 1, 1), now + net::PmtuCache::kLifetimeNs), 0u);
    for (uint32_t i = 0; i < 3 * net::PmtuCache::kSize; i++)
        cache.update(net::Ipv4Address{i + 1000}, 1000, now + i);
    EXPECT_EQ(cache.count(), net::PmtuCache::kSize);
    EXPECT_EQ(cache.lookup(net::Ipv4Address{1000 + 3 * net::PmtuCache::kSize - 1}, now + 1000), 1000u);
    cache.poll(now + 1000 + net::PmtuCache::kLifetimeNs + 1000);
    EXPECT_EQ(cache.count(), 0u);
    EXPECT_EQ(cache.next_deadline(), UINT64_MAX);
    EXPECT_EQ(cache.lookup(net::Ipv4Address{1000}, now), 0u);
    // Used again after it emptied (the scans are skipped only while it is empty).
    uint64_t later = now + 3 * net::PmtuCache::kLifetimeNs;
    cache.update(ip(2, 2, 2, 2), 1300, later);
    EXPECT_EQ(cache.count(), 1u);
    EXPECT_EQ(cache.lookup(ip(2, 2, 2, 2), later), 1300u);
    EXPECT_EQ(cache.next_deadline(), later + net::PmtuCache::kLifetimeNs);
    cache.poll(later + net::PmtuCache::kLifetimeNs);
    EXPECT_EQ(cache.count(), 0u);
    EXPECT_EQ(cache.lookup(ip(2, 2, 2, 2), later), 0u);
}

} // namespace
