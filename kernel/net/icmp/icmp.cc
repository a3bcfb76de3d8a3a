// ICMP: echo, errors out (rate-limited), errors in.
#include <lib/string.h>
#include <net/byte_order.h>
#include <net/checksum.h>
#include <net/icmp/icmp.h>
#include <net/interface.h>
#include <net/stack.h>
#include <utility>

namespace net {

namespace {

constexpr uint64_t kNsPerSecond = 1'000'000'000;

bool is_error_type(uint8_t type)
{
    return type == kIcmpDestinationUnreachable || type == 4 /* source quench */ || type == kIcmpRedirect ||
           type == kIcmpTimeExceeded || type == kIcmpParameterProblem;
}

// RFC 1191 §5's plateau table: the next plausible MTU below `total_length`, for routers that
// report a next-hop MTU of 0.
uint32_t plateau_below(uint32_t total_length)
{
    static constexpr uint32_t plateaus[] = {32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68};
    for (uint32_t p : plateaus)
        if (p < total_length)
            return p;
    return 68;
}

} // namespace

void Icmp::set_rate_limit(uint32_t per_second, uint32_t burst)
{
    m_rate = per_second;
    m_burst = burst;
    m_tokens_ns = uint64_t(burst) * kNsPerSecond;
    m_refilled = false;
}

bool Icmp::take_token()
{
    uint64_t now = m_stack.now();
    uint64_t cap = uint64_t(m_burst) * kNsPerSecond;
    if (m_refilled && now > m_last_refill && m_rate) {
        uint64_t elapsed = now - m_last_refill;
        uint64_t fill_time = cap / m_rate + 1; // beyond this the bucket is full anyway
        if (elapsed > fill_time)
            elapsed = fill_time;
        m_tokens_ns += elapsed * m_rate;
        if (m_tokens_ns > cap)
            m_tokens_ns = cap;
    }
    m_last_refill = now;
    m_refilled = true;
    if (m_tokens_ns < kNsPerSecond)
        return false;
    m_tokens_ns -= kNsPerSecond;
    return true;
}

void Icmp::receive(Packet packet, const Ipv4Info& info)
{
    m_stats.rx_messages++;
    size_t length = packet.length();
    const uint8_t* message = packet.data();
    if (length < kIcmpHeaderSize) {
        m_stats.rx_truncated++;
        return;
    }
    if (!packet.meta().checksum_verified && fold_sum(sum_bytes(message, length)) != 0xffff) {
        m_stats.rx_bad_checksum++;
        return;
    }
    uint8_t type = message[0];
    if (type < kIcmpTypesCounted)
        m_stats.rx_types[type]++;
    switch (type) {
    case kIcmpEchoRequest: {
        m_stats.rx_echo_requests++;
        if (info.broadcast) {
            m_stats.rx_broadcast_echo++;
            return;
        }
        // The reply is the request with type 0: identifier, sequence and data echoed [RFC 792].
        Packet reply = Packet::allocate_data(length);
        if (!reply) {
            m_stats.tx_failures++;
            return;
        }
        uint8_t* out = reply.data();
        lib::mem_copy(out, message, length);
        out[0] = kIcmpEchoReply;
        out[1] = 0;
        store_be16(out + 2, 0);
        store_be16(out + 2, finish_checksum(sum_bytes(out, length)));
        Ipv4OutputParams params;
        params.source = info.destination;
        params.destination = info.source;
        params.protocol = kIpProtocolIcmp;
        params.tos = info.tos;
        if (m_stack.ipv4().output(std::move(reply), params).is_error()) {
            m_stats.tx_failures++;
        } else {
            m_stats.tx_echo_replies++;
            m_stats.tx_types[kIcmpEchoReply]++;
        }
        return;
    }
    case kIcmpEchoReply:
        m_stats.rx_echo_replies++;
        return;
    case kIcmpDestinationUnreachable:
    case kIcmpTimeExceeded:
    case kIcmpParameterProblem:
        receive_error(message, length, info);
        return;
    default:
        m_stats.rx_ignored++;
        return;
    }
}

void Icmp::receive_error(const uint8_t* message, size_t length, const Ipv4Info& info)
{
    // The quoted datagram: its IPv4 header and at least 8 bytes of its transport header.
    const uint8_t* quoted = message + kIcmpHeaderSize;
    size_t quoted_length = length - kIcmpHeaderSize;
    if (quoted_length < kIpv4HeaderSize || quoted[0] >> 4 != 4 || (quoted[0] & 0xf) < 5) {
        m_stats.rx_bad_errors++;
        return;
    }
    size_t header_length = size_t(quoted[0] & 0xf) * 4;
    if (quoted_length < header_length + 8) {
        m_stats.rx_bad_errors++;
        return;
    }
    IcmpErrorInfo error;
    error.type = message[0];
    error.code = message[1];
    error.source = {load_be32(quoted + 12)};
    error.destination = {load_be32(quoted + 16)};
    error.protocol = quoted[9];
    error.transport = quoted + header_length;
    error.transport_length = quoted_length - header_length;
    // Only errors about datagrams we sent matter (and only they can be trusted to name a flow).
    if (!m_stack.ipv4().is_local_address(error.source)) {
        m_stats.rx_bad_errors++;
        return;
    }
    m_stats.rx_errors++;
    // Fragmentation needed [RFC 1191 §4]: the next hop's MTU (the sender's protocol is told it
    // in error.mtu), and a candidate for the path-MTU cache. The cache steers every datagram
    // to the destination, so it believes only an error about a datagram we really sent and
    // still care about: one with DF set (a router fragments the others; we set DF on TCP
    // only, so errors quoting UDP or ICMP never qualify today) that its protocol's handler
    // recognises — TCP: a connection with the quoted sequence number outstanding, UDP: a
    // bound socket. Anything else is counted (rx_pmtu_rejected) and leaves the cache alone.
    bool candidate = false;
    uint32_t mtu = 0;
    if (error.type == kIcmpDestinationUnreachable && error.code == kIcmpFragmentationNeeded) {
        m_stats.rx_fragmentation_needed++;
        uint32_t quoted_total = load_be16(quoted + 2);
        bool dont_fragment = quoted[6] & 0x40;
        uint32_t current = m_stack.ipv4().path_mtu(error.destination);
        mtu = load_be16(message + 6);
        if (mtu == 0)
            mtu = plateau_below(quoted_total);
        // An MTU no smaller than the datagram that was too big is nonsense: no update.
        candidate = mtu < quoted_total && mtu < current;
        if (candidate && !dont_fragment) {
            candidate = false;
            m_stats.rx_pmtu_rejected++;
        }
        // What the cache would hold (floored: PmtuCache::kMinMtu), for the sender to check.
        uint32_t floored = mtu > PmtuCache::kMinMtu ? mtu : PmtuCache::kMinMtu;
        error.mtu = candidate && floored < current ? floored : current;
    }
    Ipv4ProtocolHandler* handler = m_stack.ipv4().handler(error.protocol);
    // About our own echo traffic: nothing to tell (and no flow to check it against).
    bool ours = error.protocol != kIpProtocolIcmp && handler && handler->icmp_error(error);
    if (candidate) {
        if (ours)
            m_stack.ipv4().pmtu().update(error.destination, mtu, m_stack.now());
        else
            m_stats.rx_pmtu_rejected++;
    }
}

void Icmp::send_error(const Packet& original, uint8_t type, uint8_t code, uint32_t extra)
{
    size_t network_offset = original.meta().network_offset;
    size_t end = original.data_offset() + original.length();
    if (network_offset >= end) {
        m_stats.suppressed++;
        return;
    }
    const uint8_t* ip = original.buffer_at(network_offset);
    size_t available = end - network_offset;
    Ipv4Header header;
    if (parse_ipv4_header(ip, available, true, header) != Ipv4Parse::Ok) {
        m_stats.suppressed++;
        return;
    }
    Interface* interface = original.meta().interface;
    bool not_single_host = header.source.is_any() || header.source.is_broadcast() || header.source.is_multicast() ||
                           (interface && interface->is_subnet_broadcast(header.source));
    bool to_group = header.destination.is_broadcast() || header.destination.is_multicast() ||
                    (interface && interface->is_subnet_broadcast(header.destination));
    bool about_error = false;
    if (header.protocol == kIpProtocolIcmp)
        about_error = available <= header.header_length || is_error_type(ip[header.header_length]);
    if (not_single_host || to_group || header.fragment_offset != 0 || about_error) {
        m_stats.suppressed++;
        return;
    }
    if (!take_token()) {
        m_stats.rate_limited++;
        return;
    }
    size_t quote = available < kMaxQuote ? available : kMaxQuote;
    Packet message = Packet::allocate_data(kIcmpHeaderSize + quote);
    if (!message) {
        m_stats.tx_failures++;
        return;
    }
    uint8_t* out = message.data();
    out[0] = type;
    out[1] = code;
    store_be16(out + 2, 0);
    store_be32(out + 4, extra);
    lib::mem_copy(out + kIcmpHeaderSize, ip, quote);
    store_be16(out + 2, finish_checksum(sum_bytes(out, kIcmpHeaderSize + quote)));
    Ipv4OutputParams params;
    params.source = m_stack.ipv4().is_local_address(header.destination) ? header.destination : Ipv4Address();
    params.destination = header.source;
    params.protocol = kIpProtocolIcmp;
    if (m_stack.ipv4().output(std::move(message), params).is_error()) {
        m_stats.tx_failures++;
    } else {
        m_stats.tx_errors++;
        if (type < kIcmpTypesCounted)
            m_stats.tx_types[type]++;
    }
}

Result<void> Icmp::send_echo_request(Ipv4Address destination, uint16_t id, uint16_t sequence, const uint8_t* data,
                                     size_t length)
{
    if (length > kIpv4MaxDatagram - kIpv4HeaderSize - kIcmpHeaderSize)
        return Errno::MSGSIZE;
    Packet packet = Packet::allocate_data(kIcmpHeaderSize + length);
    if (!packet)
        return Errno::NOBUFS;
    uint8_t* out = packet.data();
    out[0] = kIcmpEchoRequest;
    out[1] = 0;
    store_be16(out + 2, 0);
    store_be16(out + 4, id);
    store_be16(out + 6, sequence);
    if (length)
        lib::mem_copy(out + kIcmpHeaderSize, data, length);
    store_be16(out + 2, finish_checksum(sum_bytes(out, kIcmpHeaderSize + length)));
    Ipv4OutputParams params;
    params.destination = destination;
    params.protocol = kIpProtocolIcmp;
    TRY(m_stack.ipv4().output(std::move(packet), params));
    m_stats.tx_echo_requests++;
    m_stats.tx_types[kIcmpEchoRequest]++;
    return {};
}

} // namespace net
