// In-kernel tests of the portable network stack (kernel/net): the same code the host unit
// tests cover, here built freestanding, on the kernel heap and clock — a UDP datagram of every
// size class and a ping over the loopback, a TCP connection moving 4 MiB each way over the
// loopback, and a clean teardown.
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

struct Quiet final : net::tcp::Observer {
    void endpoint_changed() override {}
};

KTEST(net, loopback_tcp)
{
    KernelClock clock;
    auto* stack = new (std::nothrow) net::Stack(clock, core::monotonic_ns());
    KT_ASSERT(stack != nullptr);
    net::tcp::Tcp& tcp = stack->tcp();
    Quiet quiet;
    auto localhost = net::Ipv4Address::from_octets(127, 0, 0, 1);
    net::tcp::Endpoint* server = tcp.open(quiet).value();
    KT_ASSERT(!tcp.bind(*server, {localhost, 80}).is_error());
    KT_ASSERT(!tcp.listen(*server, 4).is_error());
    net::tcp::Endpoint* client = tcp.open(quiet).value();
    KT_ASSERT(!tcp.connect(*client, {localhost, 80}).is_error());
    auto accepted = tcp.accept(*server, quiet);
    KT_ASSERT(!accepted.is_error());
    net::tcp::Endpoint* conn = accepted.value();

    constexpr size_t kBytes = 4 << 20, kChunk = 64 << 10;
    auto* out = new (std::nothrow) uint8_t[kChunk];
    auto* in = new (std::nothrow) uint8_t[kChunk];
    KT_ASSERT(out != nullptr && in != nullptr);
    size_t sent[2] = {0, 0}, received[2] = {0, 0}, corrupt = 0;
    net::tcp::Endpoint* senders[2] = {client, conn};
    net::tcp::Endpoint* receivers[2] = {conn, client};
    for (int round = 0; round < 100000 && (received[0] < kBytes || received[1] < kBytes); round++) {
        for (int d = 0; d < 2; d++) {
            if (sent[d] < kBytes) {
                size_t n = kBytes - sent[d] < kChunk ? kBytes - sent[d] : kChunk;
                for (size_t i = 0; i < n; i++)
                    out[i] = uint8_t((sent[d] + i) * (d + 3));
                net::tcp::MemoryBuffer buffer(static_cast<const uint8_t*>(out), n);
                auto w = tcp.write(*senders[d], buffer, 0, n);
                if (!w.is_error())
                    sent[d] += w.value();
            }
            net::tcp::MemoryBuffer buffer(in, kChunk);
            auto r = tcp.read(*receivers[d], buffer, 0, kChunk, false);
            if (!r.is_error()) {
                for (size_t i = 0; i < r.value(); i++)
                    corrupt += in[i] != uint8_t((received[d] + i) * (d + 3));
                received[d] += r.value();
            }
        }
        // The delayed-ACK and other timers, as the network thread runs them.
        if (stack->next_deadline() <= clock.now_ns())
            stack->poll_timers(clock.now_ns());
    }
    KT_EXPECT_EQ(received[0], kBytes);
    KT_EXPECT_EQ(received[1], kBytes);
    KT_EXPECT_EQ(corrupt, 0);
    delete[] out;
    delete[] in;
    tcp.release(*client, true);
    tcp.release(*conn, true);
    tcp.release(*server);
    KT_EXPECT_EQ(tcp.endpoint_count(), 0);
    delete stack;
}

} // namespace
