// Transmit queue keys (PacketMeta::tx_queue_key, issue 6): every segment of one TCP connection
// leaves with the same non-zero key, whichever part of the stack sends it — the listener's
// SYN-ACK before accept, the accepted connection's data and ACKs, timers, FIN, software GSO's
// pieces — and consecutive connections take consecutive keys, so that a multiqueue NIC (key
// mod queues) spreads them evenly and never sends one flow through two queues. Without it the
// virtio driver chose the sending CPU's queue: a flow's segments left through both queues, the
// device interleaved them, and the host's multiqueue tap moved the flow's receive between the
// guest's queues with every change (the reordering behind the host's SACK retransmissions).
#include "net_test_support.h"

#include <net/tcp/tcp.h>
#include <virtio/net_config.h>

#include <gtest/gtest.h>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace nettest;
using net::tcp::Endpoint;
using net::tcp::MemoryBuffer;
using net::tcp::Tcp;

// The queue of two that a key picks (the virtio driver's choice).
uint32_t net_queue(uint32_t key)
{
    return virtio::choose_transmit_pair(key, 0, 2);
}

// A host's transmitted TCP frames, as (the peer's port, the frame's key): `remote_port_at`
// picks the peer's port out of the TCP header (2: the destination port).
struct Keys {
    std::map<uint16_t, std::set<uint32_t>> by_flow;
    std::set<uint32_t> other; // frames that are not TCP (ARP)
};

void note(const Bytes& f, const net::PacketMeta& meta, Keys& keys, size_t remote_port_at)
{
    if (f.size() >= 14 + 20 + 20 && f[12] == 0x08 && f[13] == 0x00 && f[23] == net::kIpProtocolTcp) {
        const uint8_t* tcp = f.data() + 14 + size_t(f[14] & 0xf) * 4;
        keys.by_flow[uint16_t(tcp[remote_port_at] << 8 | tcp[remote_port_at + 1])].insert(meta.tx_queue_key);
    } else {
        keys.other.insert(meta.tx_queue_key);
    }
}

// Carries frames both ways, noting each host's keys (the k-th frame popped is metas[k]).
struct Wire {
    Wire(Host& a_, Host& b_) : a(a_), b(b_) {}
    Host& a;
    Host& b;
    Keys from_a, from_b; // from_a by the server's port would say nothing: by the client's
    size_t sent_a = 0, sent_b = 0;

    void carry()
    {
        while (!a.eth.frames.empty() || !b.eth.frames.empty()) {
            if (!a.eth.frames.empty()) {
                Bytes f = a.eth.pop();
                note(f, a.eth.metas[sent_a++], from_a, 0); // a is the client: its own port
                b.receive(f);
            }
            if (!b.eth.frames.empty()) {
                Bytes f = b.eth.pop();
                note(f, b.eth.metas[sent_b++], from_b, 2); // the client's port
                a.receive(f);
            }
        }
    }
    void run(uint64_t ns)
    {
        for (uint64_t t = 0; t < ns; t += kSecond / 100) {
            a.clock.advance(kSecond / 100);
            b.clock.advance(kSecond / 100);
            a.stack.poll_timers(a.clock.now_ns());
            b.stack.poll_timers(b.clock.now_ns());
            carry();
        }
    }
};

TEST(TxQueueKey, EverySegmentOfAConnectionCarriesItsKeyAndConnectionsSpread)
{
    Host a(2, 51), b(3, 52);
    introduce(a, b);
    Wire wire(a, b);
    EventCounter events;
    Tcp& client_tcp = a.stack.tcp();
    Tcp& server_tcp = b.stack.tcp();
    Endpoint* server = open(server_tcp, events);
    ASSERT_FALSE(server_tcp.bind(*server, { {}, 5201 }).is_error());
    ASSERT_FALSE(server_tcp.listen(*server, 8).is_error());

    // Four connections at once, as iperf3 -P 4 opens them; the handshakes complete before
    // accept (the listener's connections send through the listener).
    constexpr size_t kFlows = 4;
    Endpoint* clients[kFlows];
    for (Endpoint*& c : clients) {
        c = open(client_tcp, events);
        ASSERT_FALSE(client_tcp.connect(*c, { ip(10, 0, 0, 3), 5201 }).is_error());
    }
    wire.carry();
    Endpoint* conns[kFlows];
    for (Endpoint*& c : conns) {
        auto accepted = server_tcp.accept(*server, events);
        ASSERT_FALSE(accepted.is_error());
        c = accepted.value();
    }
    // Data both ways, delayed ACKs from the timers, then the close.
    std::string chunk(20000, 'x');
    size_t to_server[kFlows] = {}, to_client[kFlows] = {};
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < kFlows && round < 5; i++) {
            ASSERT_FALSE(write(client_tcp, *clients[i], chunk).is_error());
            ASSERT_FALSE(write(server_tcp, *conns[i], chunk.substr(0, 3000)).is_error());
        }
        wire.carry();
        for (size_t i = 0; i < kFlows; i++) {
            std::string in = read(server_tcp, *conns[i]), back = read(client_tcp, *clients[i]);
            to_server[i] += in.starts_with("<") ? 0 : in.size(); // "<errno>": nothing to read
            to_client[i] += back.starts_with("<") ? 0 : back.size();
        }
        wire.run(kSecond / 10);
    }
    for (size_t i = 0; i < kFlows; i++) {
        EXPECT_EQ(to_server[i], 5 * chunk.size());
        EXPECT_EQ(to_client[i], 5 * 3000u);
    }
    for (size_t i = 0; i < kFlows; i++) {
        client_tcp.release(*clients[i]);
        server_tcp.release(*conns[i]);
    }
    wire.run(kSecond);

    ASSERT_EQ(wire.from_a.by_flow.size(), kFlows);
    ASSERT_EQ(wire.from_b.by_flow.size(), kFlows);
    std::map<uint32_t, size_t> server_queues, client_queues; // of 2 queues
    for (const Keys* side : { &wire.from_a, &wire.from_b }) {
        for (const auto& [port, keys] : side->by_flow) {
            // One key per flow and side, from the SYN (or SYN-ACK) to the last ACK.
            ASSERT_EQ(keys.size(), 1u) << "flow of port " << port;
            uint32_t key = *keys.begin();
            EXPECT_NE(key, 0u) << "flow of port " << port;
            (side == &wire.from_a ? client_queues : server_queues)[net_queue(key)]++;
        }
    }
    // Consecutive connections, consecutive keys: on two queues, two flows each.
    EXPECT_EQ(server_queues.size(), 2u);
    EXPECT_EQ(server_queues[0], 2u);
    EXPECT_EQ(server_queues[1], 2u);
    EXPECT_EQ(client_queues[0], 2u);
    EXPECT_EQ(client_queues[1], 2u);
    server_tcp.release(*server);
}

TEST(TxQueueKey, ResetsForNoConnectionHaveNoKey)
{
    Host a(2, 61), b(3, 62);
    introduce(a, b);
    Wire wire(a, b);
    EventCounter events;
    Endpoint* stray = open(a.stack.tcp(), events);
    ASSERT_FALSE(a.stack.tcp().connect(*stray, { ip(10, 0, 0, 3), 9 }).is_error()); // nobody listens
    wire.carry();
    ASSERT_EQ(wire.from_b.by_flow.size(), 1u);
    EXPECT_EQ(*wire.from_b.by_flow.begin()->second.begin(), 0u); // the RST: the sending CPU's queue
    ASSERT_EQ(wire.from_a.by_flow.size(), 1u);
    EXPECT_NE(*wire.from_a.by_flow.begin()->second.begin(), 0u); // the SYN: its connection's
    a.stack.tcp().release(*stray, true);
}

TEST(TxQueueKey, SoftwareSegmentationKeepsTheKey)
{
    // A connection that builds super-segments whose interface lost the offload: IPv4 output
    // cuts them, and every piece leaves on the connection's queue.
    Host a(2, 71), b(3, 72);
    a.eth.offer_tso(true);
    introduce(a, b);
    Wire wire(a, b);
    EventCounter events;
    Endpoint* server = open(b.stack.tcp(), events);
    ASSERT_FALSE(b.stack.tcp().bind(*server, { {}, 5003 }).is_error());
    ASSERT_FALSE(b.stack.tcp().listen(*server, 1).is_error());
    Endpoint* client = open(a.stack.tcp(), events);
    ASSERT_FALSE(a.stack.tcp().connect(*client, { ip(10, 0, 0, 3), 5003 }).is_error());
    wire.carry();
    auto accepted = b.stack.tcp().accept(*server, events);
    ASSERT_FALSE(accepted.is_error());
    ASSERT_GT(client->connection()->segment_offload(), 0u);
    net::InterfaceFeatures checksums_only;
    checksums_only.tx_checksum = true;
    a.eth.set_features(checksums_only);
    size_t before = a.eth.metas.size();
    ASSERT_FALSE(write(a.stack.tcp(), *client, std::string(30000, 'y')).is_error());
    ASSERT_GT(a.eth.metas.size(), before + 2); // cut into pieces
    uint32_t key = a.eth.metas[before].tx_queue_key;
    EXPECT_NE(key, 0u);
    for (size_t i = before; i < a.eth.metas.size(); i++)
        EXPECT_EQ(a.eth.metas[i].tx_queue_key, key) << "piece " << i - before;
    wire.carry();
    EXPECT_EQ(read(b.stack.tcp(), *accepted.value()).size(), 30000u);
}

// The driver's side: a keyed frame takes key mod pairs whatever CPU sends it; one without a
// key takes the CPU's pair; a single pair is always 0.
TEST(TxQueueKey, TheDriverMapsKeysToPairs)
{
    for (unsigned cpu = 0; cpu < 4; cpu++) {
        EXPECT_EQ(virtio::choose_transmit_pair(7, cpu, 2), 1u);
        EXPECT_EQ(virtio::choose_transmit_pair(8, cpu, 2), 0u);
        EXPECT_EQ(virtio::choose_transmit_pair(5, cpu, 3), 2u);
        EXPECT_EQ(virtio::choose_transmit_pair(0, cpu, 2), cpu % 2);
        EXPECT_EQ(virtio::choose_transmit_pair(9, cpu, 1), 0u);
        EXPECT_EQ(virtio::choose_transmit_pair(0, cpu, 1), 0u);
    }
    // Consecutive keys fill the pairs evenly.
    size_t per_pair[3] = {};
    for (uint32_t key = 1; key <= 30; key++)
        per_pair[virtio::choose_transmit_pair(key, 0, 3)]++;
    EXPECT_EQ(per_pair[0], 10u);
    EXPECT_EQ(per_pair[1], 10u);
    EXPECT_EQ(per_pair[2], 10u);
}

} // namespace
