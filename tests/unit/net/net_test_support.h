// Shared fakes for the network stack's unit tests: a clock advanced by hand, an Ethernet
// interface that records what the stack transmits, a wire joining two stacks, and builders
// for the frames a test feeds in.
#pragma once

#include <net/byte_order.h>
#include <net/checksum.h>
#include <net/ether/ether.h>
#include <net/ipv4/header.h>
#include <net/stack.h>
#include <net/tcp/tcp.h>

#include <gtest/gtest.h>
#include <stdint.h>
#include <atomic>
#include <string.h>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace nettest {

using Bytes = std::vector<uint8_t>;

constexpr uint64_t kSecond = 1'000'000'000;

// A TCP endpoint's observer that counts its notifications: changes (endpoint_changed) and
// channel notes (packets_queued). Atomic: the TSan tests notify from a receive thread.
struct EventCounter final : net::tcp::Observer {
    void endpoint_changed() override { changes.fetch_add(1, std::memory_order_relaxed); }
    void packets_queued() override { queued.fetch_add(1, std::memory_order_relaxed); }
    std::atomic<int> changes{ 0 };
    std::atomic<int> queued{ 0 };
};

class FakeClock final : public net::Clock {
public:
    uint64_t now_ns() const override { return m_now; }
    void advance(uint64_t ns) { m_now += ns; }
    void set(uint64_t ns) { m_now = ns; }

private:
    uint64_t m_now = 1'000 * kSecond;
};

inline net::Ipv4Address ip(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    return net::Ipv4Address::from_octets(a, b, c, d);
}

inline net::MacAddress mac(uint8_t last)
{
    return {{0x52, 0x54, 0x00, 0x12, 0x34, last}};
}

// Records every transmitted frame's bytes.
class FakeEthernet final : public net::Interface {
public:
    FakeEthernet(const char* name, net::MacAddress address, uint32_t mtu = 1500)
        : Interface(name, net::LinkKind::Ethernet, address, mtu)
    {
    }
    Result<void> transmit(net::Packet frame) override
    {
        last_meta = frame.meta();
        metas.push_back(frame.meta());
        if (device_checksums)
            net::complete_checksum(frame); // what the device does with a partial checksum
        frames.emplace_back(frame.data(), frame.data() + frame.length());
        if (fail_transmit)
            return Errno::NOBUFS;
        return {};
    }
    // A device that offers TCP segmentation and checksums (or neither) and completes the
    // partial checksums it is given, as a virtio-net device with HOST_TSO4 does.
    void offer_tso(bool on)
    {
        net::InterfaceFeatures features;
        features.tx_checksum = on;
        features.tso4 = on;
        set_features(features);
        device_checksums = true;
    }
    Bytes pop()
    {
        if (frames.empty())
            return {};
        Bytes f = std::move(frames.front());
        frames.pop_front();
        return f;
    }
    std::deque<Bytes> frames;
    net::PacketMeta last_meta;
    std::deque<net::PacketMeta> metas; // every frame's, in order (not popped by pop())
    bool device_checksums = false;     // complete partial checksums (tx_checksum's device)
    bool fail_transmit = false;
};

inline net::Packet make_packet(const Bytes& bytes)
{
    net::Packet p = net::Packet::allocate_data(bytes.size());
    EXPECT_FALSE(p.is_null());
    if (!bytes.empty())
        memcpy(p.data(), bytes.data(), bytes.size());
    return p;
}

inline void append16(Bytes& b, uint16_t v)
{
    b.push_back(uint8_t(v >> 8));
    b.push_back(uint8_t(v));
}

inline void append32(Bytes& b, uint32_t v)
{
    append16(b, uint16_t(v >> 16));
    append16(b, uint16_t(v));
}

inline void append_mac(Bytes& b, net::MacAddress m)
{
    b.insert(b.end(), m.bytes, m.bytes + 6);
}

inline Bytes ether_header(net::MacAddress dst, net::MacAddress src, uint16_t type)
{
    Bytes b;
    append_mac(b, dst);
    append_mac(b, src);
    append16(b, type);
    return b;
}

struct IpFields {
    net::Ipv4Address source;
    net::Ipv4Address destination;
    uint8_t protocol = net::kIpProtocolUdp;
    uint16_t id = 0x1234;
    uint8_t ttl = 64;
    bool dont_fragment = false;
    bool more_fragments = false;
    uint16_t fragment_offset = 0; // bytes
};

// An IPv4 header (no options, correct checksum) followed by `payload`.
inline Bytes ipv4_packet(const IpFields& f, const Bytes& payload)
{
    Bytes b(net::kIpv4HeaderSize);
    net::Ipv4Header h;
    h.total_length = uint16_t(net::kIpv4HeaderSize + payload.size());
    h.id = f.id;
    h.dont_fragment = f.dont_fragment;
    h.more_fragments = f.more_fragments;
    h.fragment_offset = f.fragment_offset;
    h.ttl = f.ttl;
    h.protocol = f.protocol;
    h.source = f.source;
    h.destination = f.destination;
    net::write_ipv4_header(b.data(), h);
    b.insert(b.end(), payload.begin(), payload.end());
    return b;
}

// A UDP header with a correct checksum, then `payload`.
inline Bytes udp_datagram(net::Ipv4Address src, uint16_t sport, net::Ipv4Address dst, uint16_t dport,
                          const Bytes& payload)
{
    Bytes b;
    append16(b, sport);
    append16(b, dport);
    append16(b, uint16_t(8 + payload.size()));
    append16(b, 0);
    b.insert(b.end(), payload.begin(), payload.end());
    uint32_t sum = net::pseudo_header_sum(src, dst, net::kIpProtocolUdp, uint16_t(b.size()));
    uint16_t c = net::finish_checksum(net::sum_bytes(b.data(), b.size(), sum));
    net::store_be16(b.data() + 6, c ? c : 0xffff);
    return b;
}

inline Bytes icmp_message(uint8_t type, uint8_t code, uint32_t rest, const Bytes& body)
{
    Bytes b{type, code, 0, 0};
    append32(b, rest);
    b.insert(b.end(), body.begin(), body.end());
    net::store_be16(b.data() + 2, net::finish_checksum(net::sum_bytes(b.data(), b.size())));
    return b;
}

inline Bytes concat(Bytes a, const Bytes& b)
{
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

// A stack with one Ethernet interface "eth0" at 10.0.0.2/24 (MAC ..:02), gateway 10.0.0.1.
// The gratuitous ARP sent when the address is set is discarded.
struct Host {
    explicit Host(uint8_t last = 2, uint64_t seed = 1)
        : eth("eth0", mac(last)), stack(clock, seed)
    {
        EXPECT_FALSE(stack.add_interface(eth).is_error());
        EXPECT_FALSE(stack.set_ipv4_address(eth, ip(10, 0, 0, last), 24).is_error());
        EXPECT_FALSE(stack.set_default_gateway(eth, ip(10, 0, 0, 1)).is_error());
        eth.frames.clear();
        eth.metas.clear();
    }
    // Feeds a frame to eth0.
    void receive(const Bytes& frame) { stack.input(eth, make_packet(frame)); }
    // Teaches the ARP cache `address` → `m` by an ARP reply addressed to us.
    void learn(net::Ipv4Address address, net::MacAddress m);

    FakeClock clock;
    FakeEthernet eth;
    net::Stack stack;
};

inline Bytes arp_frame(uint16_t op, net::MacAddress eth_dst, net::MacAddress sender_mac, net::Ipv4Address sender_ip,
                       net::MacAddress target_mac, net::Ipv4Address target_ip)
{
    Bytes b = ether_header(eth_dst, sender_mac, net::kEtherTypeArp);
    append16(b, 1);
    append16(b, 0x0800);
    b.push_back(6);
    b.push_back(4);
    append16(b, op);
    append_mac(b, sender_mac);
    append32(b, sender_ip.value);
    append_mac(b, target_mac);
    append32(b, target_ip.value);
    return b;
}

inline void Host::learn(net::Ipv4Address address, net::MacAddress m)
{
    receive(arp_frame(net::kArpOpReply, eth.mac(), m, address, eth.mac(), eth.ipv4_address()));
}

// Two hosts on one wire that know each other's MAC (no ARP exchange), nothing sent yet.
inline void introduce(Host& a, Host& b)
{
    a.learn(b.eth.ipv4_address(), b.eth.mac());
    b.learn(a.eth.ipv4_address(), a.eth.mac());
    for (Host* h : { &a, &b }) {
        h->eth.frames.clear();
        h->eth.metas.clear();
    }
}

// Frames a raw IPv4 packet to eth0 of `host` as if from the gateway (MAC 1).
inline Bytes from_gateway(Host& host, const Bytes& ip_packet)
{
    return concat(ether_header(host.eth.mac(), mac(1), net::kEtherTypeIpv4), ip_packet);
}

// A UDP receiver that records what arrives.
struct Received {
    Bytes payload;
    net::UdpEndpoint source;
    net::UdpEndpoint destination;
};

class RecordingReceiver final : public net::UdpReceiver {
public:
    void deliver(net::Packet payload, net::UdpEndpoint source, net::UdpEndpoint destination) override
    {
        received.push_back({Bytes(payload.data(), payload.data() + payload.length()), source, destination});
    }
    void icmp_error(const net::IcmpErrorInfo& error) override
    {
        errors.push_back(error);
        errors.back().transport = nullptr; // valid only during the call
    }
    std::vector<Received> received;
    std::vector<net::IcmpErrorInfo> errors;
};

// Carries frames between two FakeEthernet interfaces until nothing is left in flight.
inline size_t pump(Host& a, Host& b, size_t limit = 10'000)
{
    size_t moved = 0;
    while (moved < limit && (!a.eth.frames.empty() || !b.eth.frames.empty())) {
        if (!a.eth.frames.empty()) {
            b.receive(a.eth.pop());
            moved++;
        }
        if (!b.eth.frames.empty()) {
            a.receive(b.eth.pop());
            moved++;
        }
    }
    return moved;
}

// TCP endpoints through a stack's layer, for the TCP tests.
inline net::tcp::Endpoint* open(net::tcp::Tcp& tcp, net::tcp::Observer& observer)
{
    auto e = tcp.open(observer);
    EXPECT_FALSE(e.is_error());
    return e.is_error() ? nullptr : e.value();
}

inline Result<size_t> write(net::tcp::Tcp& tcp, net::tcp::Endpoint& e, const std::string& text)
{
    net::tcp::MemoryBuffer buffer(reinterpret_cast<const uint8_t*>(text.data()), text.size());
    return tcp.write(e, buffer, 0, text.size());
}

// What read() gave, or "<errno>".
inline std::string read(net::tcp::Tcp& tcp, net::tcp::Endpoint& e, size_t max = 1 << 22, bool peek = false)
{
    std::vector<uint8_t> out(max);
    net::tcp::MemoryBuffer buffer(out.data(), out.size());
    auto n = tcp.read(e, buffer, 0, out.size(), peek);
    if (n.is_error())
        return "<" + std::to_string(int(n.error())) + ">";
    return std::string(out.begin(), out.begin() + n.value());
}

} // namespace nettest
