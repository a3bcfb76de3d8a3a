// fuzz-links: net
// libFuzzer target: hostile frames into a whole stack (Ethernet, ARP, IPv4 with reassembly,
// ICMP, UDP with a few bound ports, one of them an echo server; TCP with a listener whose
// connections echo; loopback), with time advancing. The input is a sequence of records "op,
// length (2 bytes), bytes": a raw Ethernet frame, a raw loopback packet, a time step, an IPv4
// datagram to us whose header the harness completes (so the fuzzer reaches the transport
// layers past the header checksum; TCP segments may be marked checksum-verified), a UDP send,
// an application step (accept, echo, close, connect out). Nothing may crash, leak (ASan) or
// break the stack's own limits, and every TCP endpoint is gone once the application closed
// them all and enough time passed.
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

// Echoes datagrams; with a net channel, so unicast ones wait there until drained.
class Echo final : public net::UdpReceiver, public net::ChannelListener {
public:
    explicit Echo(net::Stack& stack) : m_stack(stack) {}
    void deliver(net::Packet payload, net::UdpEndpoint source, net::UdpEndpoint destination) override
    {
        (void)m_stack.udp().send(destination, source, payload.copy());
    }
    net::ChannelListener* channel_listener() override { return this; }
    void packets_queued() override {}

private:
    net::Stack& m_stack;
};

class Quiet final : public net::tcp::Observer {
public:
    void endpoint_changed() override { changes++; }
    uint64_t changes = 0;
};

// The application side of TCP: accepts, echoes what it reads, closes, connects out.
class TcpApp {
public:
    static constexpr size_t kMax = 16;

    explicit TcpApp(net::Stack& stack) : m_tcp(stack.tcp())
    {
        m_listener = m_tcp.open(m_observer).value();
        CHECK(!m_tcp.bind(*m_listener, {{}, 80}).is_error());
        CHECK(!m_tcp.listen(*m_listener, 4).is_error());
    }

    void step(const uint8_t* body, size_t length)
    {
        uint8_t what = length > 0 ? body[0] : 0;
        switch (what % 5) {
        case 0: // accept what is ready
            while (m_count < kMax) {
                auto e = m_tcp.accept(*m_listener, m_observer);
                if (e.is_error())
                    break;
                m_endpoints[m_count++] = e.value();
            }
            break;
        case 1: // echo on every endpoint (peek sometimes)
            for (size_t i = 0; i < m_count; i++) {
                uint8_t buffer[4096];
                net::tcp::MemoryBuffer out(buffer, sizeof buffer);
                auto n = m_tcp.read(*m_endpoints[i], out, 0, sizeof buffer, (what & 0x80) != 0);
                if (!n.is_error() && n.value() > 0) {
                    net::tcp::MemoryBuffer in(static_cast<const uint8_t*>(buffer), n.value());
                    (void)m_tcp.write(*m_endpoints[i], in, 0, n.value());
                }
                (void)m_tcp.status(*m_endpoints[i]);
            }
            break;
        case 2: // close (or abort, or shut down) the oldest
            if (m_count > 0) {
                if (what & 0x40) {
                    (void)m_tcp.shutdown(*m_endpoints[0], (what & 0x20) != 0, true);
                    break;
                }
                m_tcp.release(*m_endpoints[0], (what & 0x80) != 0);
                for (size_t i = 1; i < m_count; i++)
                    m_endpoints[i - 1] = m_endpoints[i];
                m_count--;
            }
            break;
        case 3: // connect out to 10.0.0.1:port
            if (m_count < kMax && length >= 3) {
                auto e = m_tcp.open(m_observer);
                if (e.is_error())
                    break;
                uint16_t port = net::load_be16(body + 1);
                (void)m_tcp.connect(*e.value(), {net::Ipv4Address::from_octets(10, 0, 0, 1), port});
                m_endpoints[m_count++] = e.value();
            }
            break;
        case 4: // write the rest of the record on the newest
            if (m_count > 0 && length > 1) {
                net::tcp::MemoryBuffer in(body + 1, length - 1);
                (void)m_tcp.write(*m_endpoints[m_count - 1], in, 0, length - 1);
            }
            break;
        }
    }

    void close_all()
    {
        for (size_t i = 0; i < m_count; i++)
            m_tcp.release(*m_endpoints[i]);
        m_count = 0;
        m_tcp.release(*m_listener);
    }

private:
    net::tcp::Tcp& m_tcp;
    Quiet m_observer;
    net::tcp::Endpoint* m_listener = nullptr;
    net::tcp::Endpoint* m_endpoints[kMax] = {};
    size_t m_count = 0;
};

net::Packet packet_of(const uint8_t* data, size_t size)
{
    net::Packet p = net::Packet::allocate_data(size);
    if (p && size)
        memcpy(p.data(), data, size);
    return p;
}

// A peer's answer to the TCP segment we sent last: ports and addresses swapped, seq from its
// ACK and ack from its seq and length (each nudged by the fuzzer), flags, window and payload
// from the record — so handshakes complete and data flows despite keyed ISNs. Null if the
// last frame was not a TCP segment.
net::Packet answer_last_segment(const net::Packet& last, const uint8_t* body, size_t length)
{
    if (!last || last.length() < 14 + 20 + 20 || length < 4)
        return {};
    const uint8_t* frame = last.data();
    const uint8_t* ip = frame + 14;
    size_t ihl = size_t(ip[0] & 0xf) * 4;
    if (net::load_be16(frame + 12) != 0x0800 || ip[9] != 6 || last.length() < 14 + ihl + 20)
        return {};
    const uint8_t* tcp = ip + ihl;
    size_t data_offset = size_t(tcp[12] >> 4) * 4;
    size_t total = net::load_be16(ip + 2);
    size_t payload = total > ihl + data_offset ? total - ihl - data_offset : 0;
    uint8_t flags = tcp[13];
    uint32_t their_seq = net::load_be32(tcp + 4);
    uint32_t their_ack = net::load_be32(tcp + 8);
    uint32_t consumed = uint32_t(payload) + ((flags & 0x02) ? 1 : 0) + ((flags & 0x01) ? 1 : 0);
    size_t data = length - 4;
    net::Packet p = net::Packet::allocate_data(14 + 20 + 20 + data);
    if (!p)
        return {};
    uint8_t* out = p.data();
    memcpy(out, frame + 6, 6); // back to our MAC
    memcpy(out + 6, frame, 6);
    net::store_be16(out + 12, 0x0800);
    uint8_t* oip = out + 14;
    memset(oip, 0, 20);
    oip[0] = 0x45;
    net::store_be16(oip + 2, uint16_t(40 + data));
    oip[8] = 64;
    oip[9] = 6;
    memcpy(oip + 12, ip + 16, 4);
    memcpy(oip + 16, ip + 12, 4);
    net::store_be16(oip + 10, net::finish_checksum(net::sum_bytes(oip, 20)));
    uint8_t* otcp = oip + 20;
    memset(otcp, 0, 20);
    memcpy(otcp, tcp + 2, 2);
    memcpy(otcp + 2, tcp, 2);
    int8_t nudge = int8_t(body[0]);
    net::store_be32(otcp + 4, their_ack + uint32_t(int32_t(nudge >> 4)));
    net::store_be32(otcp + 8, their_seq + consumed + uint32_t(int32_t(nudge & 0x7) - 3));
    otcp[12] = 5 << 4;
    otcp[13] = body[1];
    net::store_be16(otcp + 14, net::load_be16(body + 2));
    memcpy(otcp + 20, body + 4, data);
    p.meta().checksum_verified = true;
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
    TcpApp app(stack);

    // Frames from the "wire" go as the kernel's receive thread sends them: offered to the
    // net-channel classifier first (each its own burst), the rest to input(); what waits on a
    // channel is processed by the app's calls, the timers and the sweep below.
    uint64_t burst = 0;
    auto receive = [&](net::Packet p) {
        bool was_empty = false;
        if (p) {
            if (net::Channel* c = stack.classify(eth, p, { &eth, ++burst }, was_empty)) {
                c->notify();
                c->unref();
                return;
            }
        }
        stack.input(eth, std::move(p));
    };

    size_t pos = 0;
    while (pos + 3 <= size) {
        uint8_t op = data[pos];
        size_t length = net::load_be16(data + pos + 1);
        pos += 3;
        if (length > size - pos)
            length = size - pos;
        const uint8_t* body = data + pos;
        pos += length;
        switch (op % 9) {
        case 0: // a raw Ethernet frame
            receive(packet_of(body, length));
            break;
        case 1: { // a raw frame marked checksum-verified by the "device"
            net::Packet p = packet_of(body, length);
            if (p)
                p.meta().checksum_verified = true;
            receive(std::move(p));
            break;
        }
        case 2: // a raw packet on the loopback
            stack.input(stack.loopback(), packet_of(body, length));
            break;
        case 3: { // time passes: up to ~65 s in ms steps
            uint16_t ms = length >= 2 ? net::load_be16(body) : uint16_t(length);
            clock.now += uint64_t(ms) * 1'000'000;
            if (ms & 1) {
                stack.tcp().drain_channels(); // the sweep
                stack.udp().drain(echo);      // the echo socket's recv
            }
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
            ip[9] = body[3] % 4 == 0 ? 1 : body[3] % 4 == 1 ? 17 : body[3] % 4 == 2 ? 6 : body[3];
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
            // A TCP checksum neither: the "device" verified it.
            if (ip[9] == 6 && (body[0] & 0x20))
                p.meta().checksum_verified = true;
            receive(std::move(p));
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
                receive(std::move(eth.last));
            break;
        case 7:
            app.step(body, length);
            break;
        case 8: { // answer our last TCP segment
            net::Packet answer = answer_last_segment(eth.last, body, length);
            if (answer)
                receive(std::move(answer));
            break;
        }
        }
        // Limits hold whatever came in.
        CHECK(stack.ipv4().reassembler().memory_used() <= net::Reassembler::kMemoryCap);
        CHECK(stack.ipv4().reassembler().datagram_count() <= net::Reassembler::kMaxDatagrams);
        CHECK(stack.arp().entry_count() <= net::Arp::kCacheSize);
    }
    app.close_all();
    // Released connections finish on their own: FIN retransmissions, FIN-WAIT-2 and
    // TIME-WAIT timeouts, persist probes — none may hold an endpoint forever.
    for (int i = 0; i < 240; i++) {
        clock.now += 30ull * 1'000'000'000;
        stack.poll_timers(clock.now);
    }
    CHECK(stack.ipv4().reassembler().datagram_count() == 0);
    CHECK(stack.tcp().endpoint_count() == 0);
    stack.udp().unbind(sink_any);
    stack.udp().unbind(sink_local);
    stack.udp().unbind(echo);
    return 0;
}
