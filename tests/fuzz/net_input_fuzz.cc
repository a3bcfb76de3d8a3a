// fuzz-links: net
// libFuzzer target: hostile frames into a whole stack (Ethernet, ARP, IPv4 with reassembly,
// ICMP, UDP with a few bound ports, one of them an echo server; loopback), with time advancing.
// The input is a sequence of records "op, length (2 bytes), bytes": a raw Ethernet frame, a raw
// loopback packet, a time step, an IPv4 datagram to us whose header the harness completes
// (so the fuzzer reaches the transport layers past the header checksum), or a UDP send. Nothing
// may crash, leak (ASan) or break the stack's own limits.
#include <net/byte_order.h>
#include <net/checksum.h>
#include <net/stack.h>

#include <cstdint>
#include <cstring>
#include <utility>

namespace {

#define CHECK(cond)           \
    do {                      \
        if (!(cond))          \
            __builtin_trap(); \
    } while (0)

class FuzzClock final : public net::Clock {
public:
    uint64_t now_ns() const override { return now; }
    uint64_t now = 1'000'000'000;
};

// Keeps the last few transmitted frames so they can be replayed as input (ARP replies to our
// own requests, fragments of our own datagrams).
class FuzzEthernet final : public net::Interface {
public:
    FuzzEthernet() : Interface("eth0", net::LinkKind::Ethernet, {{0x52, 0x54, 0, 0, 0, 2}}, 1500) {}
    Result<void> transmit(net::Packet frame) override
    {
        transmitted++;
        last = std::move(frame);
        return {};
    }
    net::Packet last;
    uint64_t transmitted = 0;
};

class Sink final : public net::UdpReceiver {
public:
    void deliver(net::Packet payload, net::UdpEndpoint, net::UdpEndpoint) override { bytes += payload.length(); }
    size_t bytes = 0;
};

class Echo final : public net::UdpReceiver {
public:
    explicit Echo(net::Stack& stack) : m_stack(stack) {}
    void deliver(net::Packet payload, net::UdpEndpoint source, net::UdpEndpoint destination) override
    {
        (void)m_stack.udp().send(destination, source, payload.copy());
    }

private:
    net::Stack& m_stack;
};

net::Packet packet_of(const uint8_t* data, size_t size)
{
    net::Packet p = net::Packet::allocate_data(size);
    if (p && size)
        memcpy(p.data(), data, size);
    return p;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    FuzzClock clock;
    FuzzEthernet eth;
    net::Stack stack(clock, 1);
    CHECK(!stack.add_interface(eth).is_error());
    auto ours = net::Ipv4Address::from_octets(10, 0, 0, 2);
    CHECK(!stack.set_ipv4_address(eth, ours, 24).is_error());
    CHECK(!stack.set_default_gateway(eth, net::Ipv4Address::from_octets(10, 0, 0, 1)).is_error());
    Sink sink_any, sink_local;
    Echo echo(stack);
    CHECK(!stack.udp().bind(sink_any, {{}, 53}).is_error());
    CHECK(!stack.udp().bind(sink_local, {ours, 5353}).is_error());
    CHECK(!stack.udp().bind(echo, {{}, 7}).is_error());
    stack.icmp().set_rate_limit(1000, 1000);

    size_t pos = 0;
    while (pos + 3 <= size) {
        uint8_t op = data[pos];
        size_t length = net::load_be16(data + pos + 1);
        pos += 3;
        if (length > size - pos)
            length = size - pos;
        const uint8_t* body = data + pos;
        pos += length;
        switch (op % 7) {
        case 0: // a raw Ethernet frame
            stack.input(eth, packet_of(body, length));
            break;
        case 1: { // a raw frame marked checksum-verified by the "device"
            net::Packet p = packet_of(body, length);
            if (p)
                p.meta().checksum_verified = true;
            stack.input(eth, std::move(p));
            break;
        }
        case 2: // a raw packet on the loopback
            stack.input(stack.loopback(), packet_of(body, length));
            break;
        case 3: { // time passes: up to ~65 s in ms steps
            uint16_t ms = length >= 2 ? net::load_be16(body) : uint16_t(length);
            clock.now += uint64_t(ms) * 1'000'000;
            if (stack.next_deadline() <= clock.now)
                stack.poll_timers(clock.now);
            break;
        }
        case 4: { // an IPv4 datagram to us with a valid header around the fuzzer's bytes
            if (length < 4)
                break;
            uint8_t header[14 + 20];
            memcpy(header, eth.mac().bytes, 6);
            const uint8_t peer[6] = {0x52, 0x54, 0, 0, 0, 1};
            memcpy(header + 6, peer, 6);
            net::store_be16(header + 12, 0x0800);
            uint8_t* ip = header + 14;
            ip[0] = 0x45;
            ip[1] = 0;
            net::store_be16(ip + 2, uint16_t(20 + length - 4));
            net::store_be16(ip + 4, uint16_t(body[0] & 3)); // a few IDs, so fragments meet
            net::store_be16(ip + 6, uint16_t(net::load_be16(body + 1) & 0x3fff));
            ip[8] = 64;
            ip[9] = body[3] % 3 == 0 ? 1 : body[3] % 3 == 1 ? 17 : body[3];
            net::store_be32(ip + 12, net::Ipv4Address::from_octets(10, 0, 0, 1 + (body[0] >> 7)).value);
            net::store_be32(ip + 16, (body[0] & 0x40) ? 0xffffffffu : ours.value);
            net::store_be16(ip + 10, 0);
            net::store_be16(ip + 10, net::finish_checksum(net::sum_bytes(ip, 20)));
            net::Packet p = net::Packet::allocate_data(sizeof header + length - 4);
            if (!p)
                break;
            memcpy(p.data(), header, sizeof header);
            memcpy(p.data() + sizeof header, body + 4, length - 4);
            // A UDP checksum the fuzzer cannot be expected to get right: 0 when it asks.
            if (ip[9] == 17 && length - 4 >= 8 && (body[0] & 0x20))
                net::store_be16(p.data() + sizeof header + 6, 0);
            stack.input(eth, std::move(p));
            break;
        }
        case 5: { // we send a UDP datagram somewhere
            if (length < 6)
                break;
            net::Ipv4Address to{net::load_be32(body)};
            uint16_t port = net::load_be16(body + 4);
            (void)stack.udp().send({{}, 53}, {to, port}, packet_of(body + 6, length - 6));
            break;
        }
        case 6: // replay what we last sent (our own ARP requests, datagrams, fragments)
            if (eth.last)
                stack.input(eth, std::move(eth.last));
            break;
        }
        // Limits hold whatever came in.
        CHECK(stack.ipv4().reassembler().memory_used() <= net::Reassembler::kMemoryCap);
        CHECK(stack.ipv4().reassembler().datagram_count() <= net::Reassembler::kMaxDatagrams);
        CHECK(stack.arp().entry_count() <= net::Arp::kCacheSize);
    }
    clock.now += 3600ull * 1'000'000'000;
    stack.poll_timers(clock.now);
    CHECK(stack.ipv4().reassembler().datagram_count() == 0);
    stack.udp().unbind(sink_any);
    stack.udp().unbind(sink_local);
    stack.udp().unbind(echo);
    return 0;
}
