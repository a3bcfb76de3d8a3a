// In-kernel tests of the portable network stack (kernel/net): the same code the host unit
// tests cover, here built freestanding, on the kernel heap and clock — a UDP datagram of every
// size class and a ping over the loopback, and a clean teardown.
#include <core/clock.h>
#include <core/ktest.h>
#include <lib/string.h>
#include <net/stack.h>
#include <new>
#include <utility>

namespace {

class KernelClock final : public net::Clock {
public:
    uint64_t now_ns() const override { return core::monotonic_ns(); }
};

class Counter final : public net::UdpReceiver {
public:
    void deliver(net::Packet payload, net::UdpEndpoint, net::UdpEndpoint) override
    {
        datagrams++;
        bytes += payload.length();
        // Every payload byte is its index's low byte (see the sender).
        for (size_t i = 0; i < payload.length(); i++)
            if (payload.data()[i] != uint8_t(i))
                corrupt++;
    }
    size_t datagrams = 0;
    size_t bytes = 0;
    size_t corrupt = 0;
};

KTEST(net, loopback_udp_and_ping)
{
    KernelClock clock;
    auto* stack = new (std::nothrow) net::Stack(clock, core::monotonic_ns());
    KT_ASSERT(stack != nullptr);
    Counter counter;
    auto localhost = net::Ipv4Address::from_octets(127, 0, 0, 1);
    KT_EXPECT(!stack->udp().bind(counter, {localhost, 9}).is_error());
    size_t sent_bytes = 0;
    for (size_t size : {size_t(0), size_t(1), size_t(1472), size_t(9000), size_t(65507)}) {
        net::Packet payload = net::Packet::allocate_data(size);
        KT_ASSERT(!payload.is_null());
        for (size_t i = 0; i < size; i++)
            payload.data()[i] = uint8_t(i);
        KT_EXPECT(!stack->udp().send({{}, 5000}, {localhost, 9}, std::move(payload)).is_error());
        sent_bytes += size;
    }
    KT_EXPECT_EQ(counter.datagrams, 5);
    KT_EXPECT_EQ(counter.bytes, sent_bytes);
    KT_EXPECT_EQ(counter.corrupt, 0);

    const uint8_t data[] = {'n', 'i', 'm', 'b', 'u', 's'};
    KT_EXPECT(!stack->icmp().send_echo_request(localhost, 1, 1, data, sizeof data).is_error());
    KT_EXPECT_EQ(stack->icmp().stats().rx_echo_replies, 1);
    // A closed port answers with ICMP port unreachable (over the loopback too).
    KT_EXPECT(!stack->udp().send({{}, 5000}, {localhost, 10}, net::Packet::allocate_data(4)).is_error());
    KT_EXPECT_EQ(stack->udp().stats().rx_no_port, 1);
    KT_EXPECT_EQ(stack->icmp().stats().tx_errors, 1);
    stack->udp().unbind(counter);
    KT_EXPECT_EQ(stack->next_deadline(), UINT64_MAX);
    delete stack;
}

} // namespace
