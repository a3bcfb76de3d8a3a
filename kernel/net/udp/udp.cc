// UDP input, output and port demultiplexing.
#include <net/byte_order.h>
#include <net/checksum.h>
#include <net/icmp/icmp.h>
#include <net/interface.h>
#include <net/stack.h>
#include <net/udp/udp.h>
#include <utility>

namespace net {

namespace {
constexpr size_t kChannelBuckets = 256;
}

Udp::Udp(Stack& stack, uint64_t seed)
    : m_stack(stack),
      m_next_ephemeral(
          static_cast<uint16_t>(kEphemeralFirst + stack.random() % (kEphemeralLast - kEphemeralFirst + 1))),
      m_flows(SipKey{ seed ^ 0x7564702d6b657931ull, seed * 0x9e3779b97f4a7c15ull + 17 }, kChannelBuckets)
{
}

Udp::~Udp()
{
    for (UdpReceiver* bucket : m_buckets)
        for (UdpReceiver* r = bucket; r; r = r->m_next_in_bucket)
            unlink_channel(*r);
}

void Udp::link_channel(UdpReceiver& receiver)
{
    ChannelListener* listener = receiver.channel_listener();
    if (listener == nullptr)
        return;
    const UdpEndpoint& local = receiver.m_local;
    FlowKey key{ local.address, Ipv4Address::any(), local.port, 0, kIpProtocolUdp };
    auto opened = Channel::open(m_flows, key, &receiver, listener, m_channel_retire, m_channel_retire_context);
    if (opened.is_error())
        return; // the ordinary path serves it
    receiver.m_channel = opened.value();
    receiver.m_channel->set_accepting(true);
}

// Datagrams still on the channel are dropped (the socket is closing or rebinding).
void Udp::unlink_channel(UdpReceiver& receiver)
{
    if (receiver.m_channel == nullptr)
        return;
    receiver.m_channel->close(m_flows);
    receiver.m_channel = nullptr;
}

bool Udp::port_conflicts(UdpEndpoint local) const
{
    for (const UdpReceiver* r = m_buckets[bucket_of(local.port)]; r; r = r->m_next_in_bucket)
        if (r->m_local.port == local.port &&
            (r->m_local.address == local.address || r->m_local.address.is_any() || local.address.is_any()))
            return true;
    return false;
}

Result<uint16_t> Udp::bind(UdpReceiver& receiver, UdpEndpoint local)
{
    if (receiver.m_bound)
        return Errno::INVAL;
    if (!local.address.is_any() && !local.address.is_broadcast() && !m_stack.ipv4().is_local_address(local.address))
        return Errno::ADDRNOTAVAIL;
    if (local.port == 0) {
        constexpr uint32_t range = kEphemeralLast - kEphemeralFirst + 1;
        bool found = false;
        for (uint32_t tries = 0; tries < range; tries++) {
            uint16_t port = m_next_ephemeral;
            m_next_ephemeral = port == kEphemeralLast ? kEphemeralFirst : static_cast<uint16_t>(port + 1);
            if (!port_conflicts({local.address, port})) {
                local.port = port;
                found = true;
                break;
            }
        }
        if (!found)
            return Errno::AGAIN;
    } else if (port_conflicts(local)) {
        return Errno::ADDRINUSE;
    }
    receiver.m_local = local;
    receiver.m_bound = true;
    UdpReceiver*& head = m_buckets[bucket_of(local.port)];
    receiver.m_next_in_bucket = head;
    head = &receiver;
    link_channel(receiver);
    return local.port;
}

void Udp::unbind(UdpReceiver& receiver)
{
    if (!receiver.m_bound)
        return;
    for (UdpReceiver** link = &m_buckets[bucket_of(receiver.m_local.port)]; *link; link = &(*link)->m_next_in_bucket) {
        if (*link == &receiver) {
            *link = receiver.m_next_in_bucket;
            break;
        }
    }
    receiver.m_next_in_bucket = nullptr;
    receiver.m_bound = false;
    unlink_channel(receiver);
}

UdpReceiver* Udp::lookup(UdpEndpoint local) const
{
    UdpReceiver* wildcard = nullptr;
    for (UdpReceiver* r = m_buckets[bucket_of(local.port)]; r; r = r->m_next_in_bucket) {
        if (r->m_local.port != local.port)
            continue;
        if (r->m_local.address == local.address)
            return r;
        if (r->m_local.address.is_any())
            wildcard = r;
    }
    return wildcard;
}

void Udp::receive(Packet packet, const Ipv4Info& info)
{
    input(std::move(packet), info.source, info.destination, info.broadcast, nullptr);
}

void Udp::input(Packet packet, Ipv4Address source_address, Ipv4Address destination_address, bool broadcast,
                UdpReceiver* target)
{
    m_stats.rx_datagrams++;
    if (packet.length() < kUdpHeaderSize) {
        m_stats.rx_truncated++;
        return;
    }
    const uint8_t* header = packet.data();
    uint16_t length = load_be16(header + 4);
    if (length < kUdpHeaderSize || length > packet.length()) {
        m_stats.rx_bad_length++;
        return;
    }
    packet.trim(length);
    uint16_t checksum = load_be16(header + 6);
    // Checksum 0: the sender computed none, allowed over IPv4 [RFC 768].
    if (checksum != 0 && !packet.meta().checksum_verified) {
        uint32_t sum = pseudo_header_sum(source_address, destination_address, kIpProtocolUdp, length);
        if (fold_sum(sum_bytes(header, length, sum)) != 0xffff) {
            m_stats.rx_bad_checksum++;
            return;
        }
    }
    UdpEndpoint source{source_address, load_be16(header)};
    UdpEndpoint destination{destination_address, load_be16(header + 2)};
    UdpReceiver* receiver = target ? target : lookup(destination);
    if (!receiver) {
        m_stats.rx_no_port++;
        if (!broadcast)
            m_stack.icmp().send_error(packet, kIcmpDestinationUnreachable, kIcmpPortUnreachable);
        return;
    }
    packet.pull(kUdpHeaderSize);
    m_stats.rx_delivered++;
    receiver->deliver(std::move(packet), source, destination);
}

Channel* Udp::classify(Packet& frame, const Ipv4Header& ip, size_t udp_offset, Interface& from,
                       const ReceiveBurst& burst, bool& was_empty)
{
    uint16_t port = load_be16(frame.data() + udp_offset + 2);
    // Bindings do not overlap: a wildcard one, else one to this address.
    FlowEntry* f = m_flows.lookup({ Ipv4Address::any(), Ipv4Address::any(), port, 0, kIpProtocolUdp });
    if (f) {
        // The IPv4 layer would accept only our own address (or a broadcast: left to it).
        if (ip.destination != from.classifier_address())
            return nullptr;
    } else {
        f = m_flows.lookup({ ip.destination, Ipv4Address::any(), port, 0, kIpProtocolUdp });
        if (f == nullptr)
            return nullptr;
    }
    return offer_to_channel(*static_cast<Channel*>(f->owner), frame, ip, udp_offset, from, burst, false, was_empty,
                            m_channel_stats);
}

void Udp::drain(UdpReceiver& receiver)
{
    Channel* channel = receiver.m_channel;
    if (channel == nullptr)
        return;
    // A delivery does not unbind (the owner is the caller), so the channel stays.
    while (Packet packet = channel->pop()) {
        m_stats.rx_channel++;
        m_channel_stats.consumed.fetch_add(1, std::memory_order_relaxed);
        const uint8_t* ip = packet.network_header();
        Ipv4Address source{ load_be32(ip + 12) }, destination{ load_be32(ip + 16) };
        input(std::move(packet), source, destination, false, &receiver);
    }
}

// An error about a datagram from a port nobody holds names nothing of ours (false).
bool Udp::icmp_error(const IcmpErrorInfo& error)
{
    if (error.transport_length < kUdpHeaderSize)
        return false;
    UdpEndpoint local{error.source, load_be16(error.transport)};
    UdpReceiver* receiver = lookup(local);
    if (!receiver)
        return false;
    receiver->icmp_error(error);
    return true;
}

Result<void> Udp::send(UdpEndpoint source, UdpEndpoint destination, Packet payload, Interface* via,
                       Ipv4HeaderChoice header_choice)
{
    if (!payload)
        return Errno::NOBUFS;
    if (destination.port == 0)
        return Errno::INVAL;
    if (payload.length() > kIpv4MaxDatagram - kIpv4HeaderSize - kUdpHeaderSize)
        return Errno::MSGSIZE;
    // The source address is in the checksum, so it must be chosen before the IPv4 layer would.
    Ipv4Address from = source.address;
    Interface* interface = via;
    if (!via && (from.is_any() || !destination.address.is_broadcast())) {
        auto decision = m_stack.ipv4().route(destination.address);
        if (decision.is_error()) {
            m_stats.tx_errors++;
            return decision.error();
        }
        interface = decision.value().interface;
        if (from.is_any())
            from = m_stack.ipv4().is_local_address(destination.address) ? destination.address
                                                                       : interface->ipv4_address();
    }
    uint16_t length = static_cast<uint16_t>(payload.length() + kUdpHeaderSize);
    uint8_t* header = payload.push(kUdpHeaderSize);
    if (!header) {
        m_stats.tx_errors++;
        return Errno::NOBUFS;
    }
    payload.mark_transport_header();
    store_be16(header, source.port);
    store_be16(header + 2, destination.port);
    store_be16(header + 4, length);
    uint32_t pseudo = pseudo_header_sum(from, destination.address, kIpProtocolUdp, length);
    if (interface && interface->features().tx_checksum) {
        // [virtio-v1.2 §5.1.6.2]: the field holds the pseudo-header sum; the device adds the rest.
        store_be16(header + 6, fold_sum(pseudo));
        PacketMeta& meta = payload.meta();
        meta.checksum_needed = true;
        meta.checksum_start = static_cast<uint16_t>(payload.data_offset());
        meta.checksum_offset = 6;
    } else {
        store_be16(header + 6, 0);
        uint16_t checksum = finish_checksum(sum_bytes(header, length, pseudo));
        store_be16(header + 6, checksum ? checksum : 0xffff);
    }
    Ipv4OutputParams params;
    params.source = from;
    params.destination = destination.address;
    params.protocol = kIpProtocolUdp;
    params.interface = via;
    params.tos = header_choice.tos;
    params.ttl = header_choice.ttl;
    params.pmtu_discovery = header_choice.pmtu_discovery;
    Result<void> sent = m_stack.ipv4().output(std::move(payload), params);
    if (sent.is_error())
        m_stats.tx_errors++;
    else
        m_stats.tx_datagrams++;
    return sent;
}

} // namespace net
