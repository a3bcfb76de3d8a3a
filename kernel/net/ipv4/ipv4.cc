// IPv4 input, local delivery and output.
#include <lib/string.h>
#include <net/arp/arp.h>
#include <net/byte_order.h>
#include <net/checksum.h>
#include <net/icmp/icmp.h>
#include <net/interface.h>
#include <net/ipv4/ipv4.h>
#include <net/stack.h>
#include <utility>

namespace net {

void complete_checksum(Packet& packet)
{
    PacketMeta& meta = packet.meta();
    if (!meta.checksum_needed)
        return;
    meta.checksum_needed = false;
    size_t start = meta.checksum_start;
    size_t end = packet.data_offset() + packet.length();
    if (start < packet.data_offset() || start + meta.checksum_offset + 2 > end)
        return; // a bad offset is a caller bug; leave the packet as it is rather than overrun
    uint16_t checksum = finish_checksum(sum_bytes(packet.buffer_at(start), end - start));
    // 0 and ffff are the same ones'-complement value; UDP reserves 0 for "no checksum".
    store_be16(packet.buffer_at(start + meta.checksum_offset), checksum ? checksum : 0xffff);
}

Ipv4::Ipv4(Stack& stack) : m_stack(stack), m_next_id(static_cast<uint16_t>(stack.random())) {}

Result<void> Ipv4::register_protocol(uint8_t protocol, Ipv4ProtocolHandler& handler)
{
    if (m_handlers[protocol])
        return Errno::EXIST;
    m_handlers[protocol] = &handler;
    return {};
}

void Ipv4::unregister_protocol(uint8_t protocol)
{
    m_handlers[protocol] = nullptr;
}

bool Ipv4::is_local_address(Ipv4Address address) const
{
    if (address.is_loopback())
        return true;
    for (size_t i = 0; i < m_stack.interface_count(); i++) {
        Ipv4Address ours = m_stack.interface_at(i)->ipv4_address();
        if (!ours.is_any() && ours == address)
            return true;
    }
    return false;
}

Result<RouteDecision> Ipv4::route(Ipv4Address destination) const
{
    if (is_local_address(destination))
        return RouteDecision{&m_stack.loopback(), destination};
    return m_routes.lookup(destination);
}

uint32_t Ipv4::path_mtu(Ipv4Address destination) const
{
    auto decision = route(destination);
    if (decision.is_error())
        return 0;
    return path_mtu_via(*decision.value().interface, destination);
}

uint32_t Ipv4::path_mtu_via(const Interface& interface, Ipv4Address destination) const
{
    uint32_t mtu = interface.mtu();
    if (m_pmtu.is_empty())
        return mtu; // the usual case: no ICMP ever lowered a path, and no clock read per datagram
    uint32_t learnt = m_pmtu.lookup(destination, m_stack.now());
    return learnt && learnt < mtu ? learnt : mtu;
}

void Ipv4::input(Interface& interface, Packet packet)
{
    m_stats.rx_packets++;
    Ipv4Header header;
    // The loopback's packets were built by this stack: no header checksum to verify.
    bool verified = interface.kind() == LinkKind::Loopback;
    switch (parse_ipv4_header(packet.data(), packet.length(), verified, header)) {
    case Ipv4Parse::Ok:
        break;
    case Ipv4Parse::Truncated:
        m_stats.rx_truncated++;
        return;
    case Ipv4Parse::BadVersion:
        m_stats.rx_bad_version++;
        return;
    case Ipv4Parse::BadHeaderLength:
        m_stats.rx_bad_header_length++;
        return;
    case Ipv4Parse::BadTotalLength:
        m_stats.rx_bad_total_length++;
        return;
    case Ipv4Parse::BadChecksum:
        m_stats.rx_bad_checksum++;
        return;
    case Ipv4Parse::ReservedFlag:
        m_stats.rx_reserved_flag++;
        return;
    }
    packet.trim(header.total_length); // drop link-layer padding
    packet.meta().interface = &interface;
    packet.mark_network_header();
    if (header.ttl == 0) {
        m_stats.rx_ttl_zero++;
        return;
    }
    bool on_loopback = interface.kind() == LinkKind::Loopback;
    // RFC 1122 §3.2.1.3: a source that is not a single host is discarded; 127/8 never
    // arrives from the wire.
    if (header.source.is_broadcast() || header.source.is_multicast() || interface.is_subnet_broadcast(header.source) ||
        (!on_loopback && header.source.is_loopback())) {
        m_stats.rx_martian_source++;
        return;
    }
    bool broadcast = header.destination.is_broadcast() || interface.is_subnet_broadcast(header.destination);
    bool local = broadcast || (header.destination.is_loopback() ? on_loopback : is_local_address(header.destination));
    if (!local) {
        m_stats.rx_not_for_us++;
        return;
    }
    if (header.is_fragment()) {
        packet = m_reassembler.add(std::move(packet), header, m_stack.now());
        if (!packet)
            return;
        // The rebuilt header is well formed; read it again for the whole datagram's length.
        if (parse_ipv4_header(packet.data(), packet.length(), true, header) != Ipv4Parse::Ok)
            return;
        packet.meta().checksum_verified = false; // the device saw only pieces
    }
    deliver(std::move(packet), header, broadcast);
}

void Ipv4::deliver(Packet packet, const Ipv4Header& header, bool broadcast)
{
    Interface* interface = packet.meta().interface;
    packet.pull(header.header_length);
    packet.mark_transport_header();
    Ipv4ProtocolHandler* handler = m_handlers[header.protocol];
    if (!handler) {
        m_stats.rx_unknown_protocol++;
        if (!broadcast)
            m_stack.icmp().send_error(packet, kIcmpDestinationUnreachable, kIcmpProtocolUnreachable);
        return;
    }
    m_stats.rx_delivered++;
    Ipv4Info info{interface, header.source, header.destination, header.protocol, header.ttl, header.tos, broadcast};
    handler->receive(std::move(packet), info);
}

Result<void> Ipv4::output(Packet packet, const Ipv4OutputParams& params)
{
    if (!packet)
        return Errno::NOBUFS;
    if (params.destination.is_any())
        return Errno::INVAL;
    Interface* interface = params.interface;
    Ipv4Address next_hop = params.destination;
    if (!interface) {
        auto decision = route(params.destination);
        if (decision.is_error()) {
            m_stats.tx_no_route++;
            return decision.error();
        }
        interface = decision.value().interface;
        next_hop = decision.value().next_hop;
    }
    Ipv4Address source = params.source;
    if (source.is_any())
        source = is_local_address(params.destination) ? params.destination : interface->ipv4_address();
    if (source.is_any() && !params.interface)
        return Errno::ADDRNOTAVAIL;

    size_t length = kIpv4HeaderSize + packet.length();
    if (length > kIpv4MaxDatagram) {
        m_stats.tx_too_big++;
        return Errno::MSGSIZE;
    }
    uint8_t* out = packet.push(kIpv4HeaderSize);
    if (!out) {
        m_stats.tx_errors++;
        return Errno::NOBUFS;
    }
    packet.mark_network_header();
    // DF, the MTU that applies and what a larger datagram gets (PmtuDiscovery). A forced DF
    // is Do, a forced clear Dont; TCP does path-MTU discovery.
    PmtuDiscovery mode = params.pmtu_discovery;
    if (params.dont_fragment == DontFragment::Set ||
        (params.dont_fragment == DontFragment::ByProtocol && params.protocol == kIpProtocolTcp))
        mode = PmtuDiscovery::Do;
    else if (params.dont_fragment == DontFragment::Clear)
        mode = PmtuDiscovery::Dont;
    bool path = mode == PmtuDiscovery::Dont || mode == PmtuDiscovery::Want || mode == PmtuDiscovery::Do;
    uint32_t mtu = params.interface || !path ? interface->mtu() : path_mtu_via(*interface, params.destination);
    bool df = mode == PmtuDiscovery::Do || mode == PmtuDiscovery::Probe ||
              (mode == PmtuDiscovery::Want && length <= mtu);
    bool may_fragment = mode == PmtuDiscovery::Dont || mode == PmtuDiscovery::Want || mode == PmtuDiscovery::Omit;
    // A TCP super-segment (TSO) leaves as ceil(payload / gso_size) datagrams, each with its
    // own identification; a plain datagram as one.
    bool gso = packet.meta().gso_type == GsoType::TcpV4 && packet.meta().gso_size != 0 &&
               params.protocol == kIpProtocolTcp;
    if (!gso) {
        packet.meta().gso_type = GsoType::None;
        packet.meta().gso_size = 0;
    }
    Ipv4Header header;
    header.tos = params.tos;
    header.total_length = static_cast<uint16_t>(length);
    header.id = m_next_id;
    // (Pieces cut smaller for a lower path MTU may reuse the next datagram's IDs: harmless,
    // TCP sets DF and RFC 6864 leaves atomic datagrams' IDs meaningless.)
    size_t pieces = gso ? (length - kIpv4HeaderSize) / packet.meta().gso_size + 1 : 1;
    m_next_id = static_cast<uint16_t>(m_next_id + pieces);
    header.dont_fragment = df;
    header.ttl = params.ttl;
    header.protocol = params.protocol;
    header.source = source;
    header.destination = params.destination;
    write_ipv4_header(out, header);
    m_stats.tx_packets++;

    if (gso) {
        // The device cuts it when it can and every piece fits the path; otherwise we do.
        const uint8_t* tcp = packet.data() + kIpv4HeaderSize;
        size_t tcp_header = packet.length() > kIpv4HeaderSize + 12 ? size_t(tcp[12] >> 4) * 4 : 0;
        bool fits = kIpv4HeaderSize + tcp_header + packet.meta().gso_size <= mtu;
        if (interface->features().tso4 && interface->features().tx_checksum && fits && interface->is_up())
            return transmit(*interface, next_hop, std::move(packet));
        return segment_tcp(*interface, next_hop, std::move(packet), mtu);
    }
    if (length > mtu) {
        if (!may_fragment) {
            m_stats.tx_too_big++;
            return Errno::MSGSIZE;
        }
        Result<void> sent = fragment(*interface, next_hop, std::move(packet), mtu);
        if (!sent.is_error())
            m_stats.tx_fragmented++;
        return sent;
    }
    return transmit(*interface, next_hop, std::move(packet));
}

Result<void> Ipv4::transmit(Interface& interface, Ipv4Address next_hop, Packet packet)
{
    if (!interface.is_up()) {
        m_stats.tx_errors++;
        return Errno::NETDOWN;
    }
    if (packet.meta().checksum_needed && !interface.features().tx_checksum)
        complete_checksum(packet);
    Result<void> sent = interface.kind() == LinkKind::Loopback
                            ? interface.transmit(std::move(packet))
                            : m_stack.arp().resolve(interface, next_hop, std::move(packet));
    if (sent.is_error())
        m_stats.tx_errors++;
    return sent;
}

namespace {

// One piece of a payload being cut (Ipv4::cut_and_send): where its bytes start in the
// original payload, how many there are, its number and whether it ends the payload.
struct Piece {
    size_t offset;
    size_t length;
    size_t index;
    bool last;
};

} // namespace

// The loop that fragmentation and software GSO share: the payload after the first `headers`
// bytes of `packet` (data() at its IPv4 header) goes out in pieces of at most `chunk` bytes,
// each behind a copy of those headers with the IPv4 total length set. What else differs from
// piece to piece is `fix_up(piece_packet, piece)`'s, which edits the copied headers (but for
// the IPv4 checksum, computed here after it) and the piece's metadata. Each piece sent counts
// in `sent`; the first failure ends the cut.
template <typename FixUp>
Result<void> Ipv4::cut_and_send(Interface& interface, Ipv4Address next_hop, const Packet& packet, size_t headers,
                                size_t chunk, uint64_t& sent, FixUp&& fix_up)
{
    const uint8_t* original = packet.data();
    size_t payload_length = packet.length() - headers;
    size_t index = 0;
    for (size_t offset = 0; offset < payload_length; offset += chunk, ++index) {
        size_t n = payload_length - offset < chunk ? payload_length - offset : chunk;
        Packet piece = Packet::allocate_data(headers + n);
        if (!piece) {
            m_stats.tx_errors++;
            return Errno::NOBUFS;
        }
        piece.meta().tx_queue_key = packet.meta().tx_queue_key; // the flow's transmit queue
        uint8_t* out = piece.data();
        lib::mem_copy(out, original, headers);
        lib::mem_copy(out + headers, original + headers + offset, n);
        store_be16(out + 2, static_cast<uint16_t>(headers + n));
        fix_up(piece, Piece { offset, n, index, offset + n == payload_length });
        store_be16(out + 10, 0);
        store_be16(out + 10, finish_checksum(sum_bytes(out, kIpv4HeaderSize)));
        piece.mark_network_header();
        sent++;
        TRY(transmit(interface, next_hop, std::move(piece)));
    }
    return {};
}

// Splits a datagram (data() at its 20-byte header) into fragments of at most `mtu` bytes
// [RFC 791 §3.2, "An Example Fragmentation Procedure"]: every fragment but the last carries a
// multiple of 8 payload bytes and MF; each says where its bytes go in 8-byte units.
Result<void> Ipv4::fragment(Interface& interface, Ipv4Address next_hop, Packet packet, uint32_t mtu)
{
    complete_checksum(packet); // the device cannot checksum across fragments
    if (mtu < kIpv4HeaderSize + 8) {
        m_stats.tx_errors++;
        return Errno::MSGSIZE;
    }
    size_t chunk = (mtu - kIpv4HeaderSize) & ~size_t(7);
    uint16_t flags = load_be16(packet.data() + 6) & ~kIpv4OffsetMask;
    return cut_and_send(interface, next_hop, packet, kIpv4HeaderSize, chunk, m_stats.tx_fragments,
                        [flags](Packet& out, const Piece& p) {
                            uint16_t more = p.last ? 0 : kIpv4FlagMoreFragments;
                            store_be16(out.data() + 6, static_cast<uint16_t>(flags | more | (p.offset / 8)));
                        });
}

// Software segmentation (GSO) of a TCP super-segment (data() at its 20-byte IPv4 header, the
// TCP header after it, PacketMeta::gso_size payload bytes per piece): what a device with TSO
// does [virtio-v1.2 §5.1.6.2], for an interface without it or a path MTU below the piece
// size. Every piece copies both headers; the sequence number advances by the bytes before it,
// FIN and PSH stay on the last piece only, the IPv4 identification counts up from the
// super-segment's; lengths and the IPv4 checksum are rewritten and the TCP checksum set up
// again as a partial sum over the piece (completed by the device or in transmit()).
Result<void> Ipv4::segment_tcp(Interface& interface, Ipv4Address next_hop, Packet packet, uint32_t mtu)
{
    const uint8_t* ip = packet.data();
    size_t total = packet.length();
    if (total < kIpv4HeaderSize + 20) {
        m_stats.tx_errors++;
        return Errno::INVAL;
    }
    const uint8_t* tcp = ip + kIpv4HeaderSize;
    size_t tcp_header = size_t(tcp[12] >> 4) * 4;
    if (tcp_header < 20 || kIpv4HeaderSize + tcp_header > total) {
        m_stats.tx_errors++;
        return Errno::INVAL;
    }
    size_t headers = kIpv4HeaderSize + tcp_header;
    size_t chunk = packet.meta().gso_size;
    if (headers + chunk > mtu)
        chunk = mtu > headers ? mtu - headers : 0;
    if (chunk == 0) {
        m_stats.tx_too_big++;
        return Errno::MSGSIZE;
    }
    uint16_t id = load_be16(ip + 4);
    uint32_t seq = load_be32(tcp + 4);
    uint8_t flags = tcp[13];
    Ipv4Address source { load_be32(ip + 12) };
    Ipv4Address destination { load_be32(ip + 16) };
    return cut_and_send(
        interface, next_hop, packet, headers, chunk, m_stats.tx_gso_segments, [&](Packet& out, const Piece& p) {
            store_be16(out.data() + 4, static_cast<uint16_t>(id + p.index));
            uint8_t* out_tcp = out.data() + kIpv4HeaderSize;
            store_be32(out_tcp + 4, seq + static_cast<uint32_t>(p.offset));
            out_tcp[13] = p.last ? flags : static_cast<uint8_t>(flags & ~(0x01 | 0x08)); // FIN, PSH
            uint16_t tcp_length = static_cast<uint16_t>(tcp_header + p.length);
            store_be16(out_tcp + 16, fold_sum(pseudo_header_sum(source, destination, kIpProtocolTcp, tcp_length)));
            PacketMeta& meta = out.meta();
            meta.transport_offset = static_cast<uint16_t>(out.data_offset() + kIpv4HeaderSize);
            meta.checksum_needed = true;
            meta.checksum_start = meta.transport_offset;
            meta.checksum_offset = 16;
        });
}

void Ipv4::poll(uint64_t now)
{
    PacketQueue expired;
    m_reassembler.poll(now, expired);
    // RFC 792: "fragment reassembly time exceeded" (code 1), only when fragment zero came.
    while (!expired.is_empty()) {
        Packet first = expired.pop_front();
        first.mark_network_header();
        m_stack.icmp().send_error(first, kIcmpTimeExceeded, kIcmpReassemblyTimeExceeded);
    }
    m_pmtu.poll(now);
}

uint64_t Ipv4::next_deadline() const
{
    uint64_t a = m_reassembler.next_deadline();
    uint64_t b = m_pmtu.next_deadline();
    return a < b ? a : b;
}

} // namespace net
