// UDP [RFC 768, RFC 1122 §4.1]: header parse and checksum check, output with checksum (or
// left to the device), and the demultiplexer — bound (address, port) pairs → receivers.
//
// A receiver (what a datagram socket will be) derives from UdpReceiver; Udp links it into a
// bucket of its table while bound (intrusive: binding never allocates). Lookup prefers an exact
// local-address match over a wildcard (0.0.0.0) binding.
//
// Net channels (channel.h): a receiver that names a ChannelListener gets a channel while
// bound. A receive thread queues unicast datagrams to its binding there (classify, outside
// the stack's context); they are checked and delivered when the owner calls drain (a
// socket's recv and poll), in the stack's context. Bindings never overlap, so a channel's
// table key is the binding itself.
#pragma once

#include <lib/result.h>
#include <net/addr.h>
#include <net/channel/channel.h>
#include <net/channel/flow_table.h>
#include <net/ipv4/ipv4.h>
#include <net/packet.h>
#include <stddef.h>
#include <stdint.h>

namespace net {

class Stack;

constexpr size_t kUdpHeaderSize = 8;

using UdpEndpoint = Ipv4Endpoint;

class UdpReceiver {
public:
    virtual ~UdpReceiver() = default;
    // A datagram for this receiver: data() at the payload. Consumes it. `destination` is the
    // address it was sent to (ours, or a broadcast).
    virtual void deliver(Packet payload, UdpEndpoint source, UdpEndpoint destination) = 0;
    // An ICMP error about a datagram this receiver sent (port unreachable → ECONNREFUSED).
    virtual void icmp_error(const IcmpErrorInfo&) {}
    // Who hears that datagrams were queued on the receiver's channel; none: no channel
    // (everything is delivered in the stack's context, at once).
    virtual ChannelListener* channel_listener() { return nullptr; }

    bool is_bound() const { return m_bound; }
    UdpEndpoint local() const { return m_local; }

private:
    friend class Udp;
    UdpReceiver* m_next_in_bucket = nullptr;
    UdpEndpoint m_local;
    bool m_bound = false;
    Channel* m_channel = nullptr; // while bound, for receivers that want one
};

struct UdpStats {
    uint64_t rx_datagrams = 0;
    uint64_t rx_truncated = 0;      // fewer than 8 bytes
    uint64_t rx_bad_length = 0;     // length field < 8 or > the IP payload
    uint64_t rx_bad_checksum = 0;
    uint64_t rx_no_port = 0;        // nobody bound: port unreachable sent (unless broadcast)
    uint64_t rx_delivered = 0;
    uint64_t rx_channel = 0;        // datagrams taken off net channels
    uint64_t tx_datagrams = 0;
    uint64_t tx_errors = 0;
};

class Udp final : public Ipv4ProtocolHandler {
public:
    static constexpr size_t kBuckets = 256;
    static constexpr uint16_t kEphemeralFirst = 49152; // RFC 6335 §6 dynamic ports
    static constexpr uint16_t kEphemeralLast = 65535;

    // `seed` keys the channel table's hash.
    Udp(Stack& stack, uint64_t seed);
    ~Udp();
    Udp(const Udp&) = delete;
    Udp& operator=(const Udp&) = delete;

    // Binds `receiver` to `local` (port 0: an ephemeral port). Returns the port. Errors: INVAL
    // (already bound), ADDRNOTAVAIL (an address that is not ours), ADDRINUSE (taken — an exact
    // or a wildcard binding overlapping it), AGAIN (no ephemeral port free).
    Result<uint16_t> bind(UdpReceiver& receiver, UdpEndpoint local);
    void unbind(UdpReceiver& receiver);
    // The receiver a datagram to `local` goes to, or nullptr.
    UdpReceiver* lookup(UdpEndpoint local) const;

    // Sends `payload` (data() at the payload, headroom for the headers) from `source` (address
    // any: chosen by the route) to `destination`. The checksum is computed, or left to the
    // device when the outgoing interface offers it. Consumes the packet. Errors: Ipv4::output's,
    // INVAL for port 0, MSGSIZE beyond 65507 bytes. `via` forces the outgoing interface (no
    // routing; the source may then stay 0.0.0.0 — DHCP before the interface has an address).
    // `header` is the sending socket's IP_TOS, IP_TTL and IP_MTU_DISCOVER: all eight TOS bits,
    // the ECN field included (a UDP application may mark ECN itself, as Linux lets it); DF and
    // local fragmentation as PmtuDiscovery says (MSGSIZE beyond the MTU with Do, Probe, Interface).
    Result<void> send(UdpEndpoint source, UdpEndpoint destination, Packet payload, Interface* via = nullptr,
                      Ipv4HeaderChoice header = {});

    void receive(Packet packet, const Ipv4Info& info) override;

    // --- net channels ---
    // The receive thread's step (Stack::classify; see Tcp::classify): a unicast datagram to
    // a binding with a channel is queued there.
    Channel* classify(Packet& frame, const Ipv4Header& ip, size_t udp_offset, Interface& from,
                      const ReceiveBurst& burst, bool& was_empty);
    // Delivers what waits on `receiver`'s channel (the owner, before it looks at its queue).
    void drain(UdpReceiver& receiver);
    void set_channel_retire(Channel::RetireFn retire, void* context)
    {
        m_channel_retire = retire;
        m_channel_retire_context = context;
    }
    ChannelStats& channel_stats() { return m_channel_stats; }
    bool icmp_error(const IcmpErrorInfo& error) override;

    const UdpStats& stats() const { return m_stats; }

private:
    static size_t bucket_of(uint16_t port) { return (port ^ (port >> 8)) % kBuckets; }
    bool port_conflicts(UdpEndpoint local) const;
    // After the IPv4 layer: length, checksum, then the receiver (`target`, or looked up).
    void input(Packet packet, Ipv4Address source, Ipv4Address destination, bool broadcast, UdpReceiver* target);
    void link_channel(UdpReceiver& receiver);
    void unlink_channel(UdpReceiver& receiver);

    Stack& m_stack;
    UdpReceiver* m_buckets[kBuckets] = {};
    uint16_t m_next_ephemeral;
    UdpStats m_stats;
    FlowTable m_flows; // bindings with channels
    Channel::RetireFn m_channel_retire = retire_channel_now;
    void* m_channel_retire_context = nullptr;
    ChannelStats m_channel_stats;
};

} // namespace net
