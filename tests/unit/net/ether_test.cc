// Unit tests for Ethernet II: header round trip, the receive filter, VLAN and runt drops,
// output framing and padding.
#include "net_test_support.h"

namespace {

using namespace nettest;

TEST(Ether, HeaderRoundTrip)
{
    uint8_t bytes[14];
    net::write_ether_header(bytes, {mac(9), mac(2), net::kEtherTypeArp});
    net::EtherHeader h;
    ASSERT_TRUE(net::parse_ether_header(bytes, sizeof bytes, h));
    EXPECT_EQ(h.destination, mac(9));
    EXPECT_EQ(h.source, mac(2));
    EXPECT_EQ(h.type, net::kEtherTypeArp);
    EXPECT_FALSE(net::parse_ether_header(bytes, 13, h));
}

TEST(Ether, DropsAndCountsBadFrames)
{
    Host host;
    const auto& stats = host.stack.ether().stats();
    host.receive(Bytes(13, 0));
    EXPECT_EQ(stats.rx_runt, 1u);
    host.receive(Bytes());
    EXPECT_EQ(stats.rx_runt, 2u);

    Bytes vlan = ether_header(host.eth.mac(), mac(1), net::kEtherTypeVlan);
    append16(vlan, 5);
    append16(vlan, net::kEtherTypeIpv4);
    host.receive(concat(vlan, Bytes(46, 0)));
    EXPECT_EQ(stats.rx_vlan, 1u);
    host.receive(concat(ether_header(host.eth.mac(), mac(1), net::kEtherTypeQinQ), Bytes(46, 0)));
    EXPECT_EQ(stats.rx_vlan, 2u);

    host.receive(concat(ether_header(mac(77), mac(1), net::kEtherTypeIpv4), Bytes(46, 0)));
    EXPECT_EQ(stats.rx_not_for_us, 1u);
    net::MacAddress group{{0x01, 0x00, 0x5e, 0, 0, 1}};
    host.receive(concat(ether_header(group, mac(1), net::kEtherTypeIpv4), Bytes(46, 0)));
    EXPECT_EQ(stats.rx_not_for_us, 2u);

    host.receive(concat(ether_header(host.eth.mac(), net::MacAddress::broadcast(), net::kEtherTypeIpv4), Bytes(46, 0)));
    EXPECT_EQ(stats.rx_bad_source, 1u);

    host.receive(concat(ether_header(host.eth.mac(), mac(1), 0x86dd), Bytes(46, 0)));
    host.receive(concat(ether_header(host.eth.mac(), mac(1), 46), Bytes(46, 0))); // 802.3 length
    EXPECT_EQ(stats.rx_unknown_type, 2u);
    EXPECT_EQ(stats.rx_frames, 9u);
    EXPECT_TRUE(host.eth.frames.empty());
}

TEST(Ether, AcceptsBroadcastAndOurMac)
{
    Host host;
    // An ARP request for our address, broadcast: answered.
    host.receive(arp_frame(net::kArpOpRequest, net::MacAddress::broadcast(), mac(1), ip(10, 0, 0, 1),
                           net::MacAddress(), ip(10, 0, 0, 2)));
    EXPECT_EQ(host.eth.frames.size(), 1u);
    EXPECT_EQ(host.stack.ether().stats().rx_not_for_us, 0u);
}

TEST(Ether, OutputPrependsHeaderAndPadsRunts)
{
    Host host;
    uint64_t before = host.stack.ether().stats().tx_frames; // the gratuitous ARP
    net::Packet p = make_packet(Bytes{1, 2, 3});
    ASSERT_FALSE(host.stack.ether().output(host.eth, std::move(p), mac(9), 0x0800).is_error());
    ASSERT_EQ(host.eth.frames.size(), 1u);
    Bytes expected = concat(ether_header(mac(9), host.eth.mac(), 0x0800), Bytes{1, 2, 3});
    expected.resize(60, 0);
    EXPECT_EQ(host.eth.frames[0], expected);
    EXPECT_EQ(host.stack.ether().stats().tx_frames, before + 1);
    // A buffer without tailroom is copied to be padded.
    net::Packet tight = net::Packet::allocate(14 + 3, 14);
    tight.put(3);
    ASSERT_FALSE(host.stack.ether().output(host.eth, std::move(tight), mac(9), 0x0800).is_error());
    EXPECT_EQ(host.eth.frames[1].size(), 60u);
}

TEST(Ether, OutputErrors)
{
    Host host;
    net::Packet no_room = net::Packet::allocate(64, 4);
    no_room.put(10);
    EXPECT_EQ(host.stack.ether().output(host.eth, std::move(no_room), mac(9), 0x0800).error(), Errno::NOBUFS);
    host.eth.set_link_up(false);
    EXPECT_EQ(host.stack.ether().output(host.eth, make_packet(Bytes(100)), mac(9), 0x0800).error(), Errno::NETDOWN);
    host.eth.set_link_up(true);
    host.eth.fail_transmit = true;
    EXPECT_EQ(host.stack.ether().output(host.eth, make_packet(Bytes(100)), mac(9), 0x0800).error(), Errno::NOBUFS);
    EXPECT_EQ(host.stack.ether().stats().tx_errors, 3u);
}

} // namespace
