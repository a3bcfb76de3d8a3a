// Unit tests for the Stack object: interface registration and removal, address configuration,
// and the loopback interface as input.
#include "net_test_support.h"

namespace {

using namespace nettest;

TEST(Stack, InterfaceRegistrationLimits)
{
    FakeClock clock;
    net::Stack stack(clock, 1);
    EXPECT_EQ(stack.interface_count(), 1u); // lo
    EXPECT_EQ(stack.interface_at(0), &stack.loopback());
    EXPECT_EQ(stack.loopback().ipv4_address(), ip(127, 0, 0, 1));
    std::vector<std::unique_ptr<FakeEthernet>> nics;
    for (size_t i = 1; i < net::Stack::kMaxInterfaces; i++) {
        nics.push_back(std::make_unique<FakeEthernet>("eth", mac(uint8_t(i))));
        ASSERT_FALSE(stack.add_interface(*nics.back()).is_error());
    }
    EXPECT_EQ(stack.add_interface(*nics[0]).error(), Errno::EXIST);
    FakeEthernet extra("extra", mac(99));
    EXPECT_EQ(stack.add_interface(extra).error(), Errno::NOSPC);
    EXPECT_EQ(stack.set_ipv4_address(extra, ip(10, 9, 9, 9), 24).error(), Errno::NODEV);
    EXPECT_EQ(stack.set_ipv4_address(*nics[0], ip(10, 9, 9, 9), 33).error(), Errno::INVAL);
    EXPECT_EQ(stack.set_ipv4_address(*nics[0], ip(224, 0, 0, 1), 24).error(), Errno::INVAL);
    EXPECT_EQ(stack.interface_at(net::Stack::kMaxInterfaces), nullptr);
}

TEST(Stack, RemoveInterfaceForgetsRoutesNeighboursAndAddress)
{
    Host host;
    host.learn(ip(10, 0, 0, 1), mac(1));
    EXPECT_EQ(host.stack.arp().entry_count(), 1u);
    host.stack.remove_interface(host.eth);
    EXPECT_EQ(host.stack.interface_count(), 1u);
    EXPECT_EQ(host.stack.arp().entry_count(), 0u);
    EXPECT_TRUE(host.eth.ipv4_address().is_any());
    EXPECT_EQ(host.stack.ipv4().route(ip(10, 0, 0, 1)).error(), Errno::NETUNREACH);
    EXPECT_EQ(host.stack.ipv4().route(ip(8, 8, 8, 8)).error(), Errno::NETUNREACH);
    EXPECT_FALSE(host.stack.ipv4().is_local_address(ip(10, 0, 0, 2)));
    host.stack.remove_interface(host.stack.loopback()); // refused silently
    EXPECT_EQ(host.stack.interface_count(), 1u);
}

TEST(Stack, AddressChangeReplacesConnectedRouteAndUnsetWorks)
{
    Host host;
    ASSERT_FALSE(host.stack.set_ipv4_address(host.eth, ip(192, 168, 1, 5), 24).is_error());
    EXPECT_EQ(host.stack.ipv4().route(ip(10, 0, 0, 9)).value().next_hop, ip(10, 0, 0, 1)); // via default
    EXPECT_EQ(host.stack.ipv4().route(ip(192, 168, 1, 9)).value().next_hop, ip(192, 168, 1, 9));
    host.eth.frames.clear();
    ASSERT_FALSE(host.stack.set_ipv4_address(host.eth, {}, 0).is_error());
    EXPECT_TRUE(host.eth.frames.empty()); // nothing to announce
    EXPECT_EQ(host.stack.ipv4().route(ip(192, 168, 1, 9)).value().next_hop, ip(10, 0, 0, 1));
    // Without an address, output needs a forced interface (DHCP's case).
    net::Ipv4OutputParams params;
    params.destination = ip(10, 0, 0, 9);
    params.protocol = 253;
    EXPECT_EQ(host.stack.ipv4().output(make_packet(Bytes(4)), params).error(), Errno::ADDRNOTAVAIL);
    params.destination = ip(255, 255, 255, 255);
    params.interface = &host.eth;
    ASSERT_FALSE(host.stack.ipv4().output(make_packet(Bytes(4)), params).is_error());
    ASSERT_EQ(host.eth.frames.size(), 1u);
    Bytes frame = host.eth.pop();
    EXPECT_EQ(Bytes(frame.begin(), frame.begin() + 6), Bytes(6, 0xff));
    EXPECT_EQ(net::load_be32(frame.data() + 14 + 12), 0u); // source 0.0.0.0
}

TEST(Stack, LoopbackInputAndNullInput)
{
    Host host;
    RecordingReceiver r;
    ASSERT_FALSE(host.stack.udp().bind(r, {{}, 9}).is_error());
    IpFields f;
    f.source = ip(127, 0, 0, 1);
    f.destination = ip(127, 0, 0, 1);
    Bytes datagram = ipv4_packet(f, udp_datagram(f.source, 1, f.destination, 9, Bytes{5}));
    host.stack.input(host.stack.loopback(), make_packet(datagram));
    ASSERT_EQ(r.received.size(), 1u);
    host.stack.input(host.eth, net::Packet()); // ignored
    host.stack.udp().unbind(r);
}

} // namespace
