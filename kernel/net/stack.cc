// The stack object: interfaces, configuration, input dispatch and timers.
#include <net/byte_order.h>
#include <lib/string.h>
#include <net/stack.h>
#include <utility>

namespace net {

Stack::Stack(Clock& clock, uint64_t seed)
    : m_clock(clock), m_random_state(seed ? seed : 0x9e3779b97f4a7c15ull), m_loopback(*this), m_ether(*this),
      m_arp(*this), m_ipv4(*this), m_icmp(*this), m_udp(*this, seed),
      m_tcp(*this, seed)
{
    // Construction cannot fail: the tables are empty and the limits are not reached.
    m_interfaces[m_interface_count++] = &m_loopback;
    m_loopback.m_address = Ipv4Address::from_octets(127, 0, 0, 1);
    m_loopback.m_prefix_length = 8;
    (void)m_ipv4.routes().add({Ipv4Address::from_octets(127, 0, 0, 0), 8, {}, &m_loopback});
    (void)m_ipv4.register_protocol(kIpProtocolIcmp, m_icmp);
    (void)m_ipv4.register_protocol(kIpProtocolUdp, m_udp);
    (void)m_ipv4.register_protocol(tcp::kProtocolNumber, m_tcp);
}

Stack::~Stack() = default;

uint32_t Stack::random()
{
    // xorshift64* [Marsaglia 2003; Vigna 2016].
    m_random_state ^= m_random_state >> 12;
    m_random_state ^= m_random_state << 25;
    m_random_state ^= m_random_state >> 27;
    return static_cast<uint32_t>((m_random_state * 0x2545f4914f6cdd1dull) >> 32);
}

Result<void> Stack::add_interface(Interface& interface)
{
    for (size_t i = 0; i < m_interface_count; i++)
        if (m_interfaces[i] == &interface)
            return Errno::EXIST;
    if (m_interface_count == kMaxInterfaces)
        return Errno::NOSPC;
    m_interfaces[m_interface_count++] = &interface;
    return {};
}

void Stack::remove_interface(Interface& interface)
{
    if (&interface == &m_loopback)
        return;
    m_arp.flush(interface);
    m_ipv4.routes().remove_interface(interface);
    interface.m_address = {};
    interface.m_classifier_address.store(0, std::memory_order_relaxed);
    interface.m_prefix_length = 0;
    for (size_t i = 0; i < m_interface_count; i++) {
        if (m_interfaces[i] == &interface) {
            for (size_t j = i + 1; j < m_interface_count; j++)
                m_interfaces[j - 1] = m_interfaces[j];
            m_interfaces[--m_interface_count] = nullptr;
            return;
        }
    }
}

Result<void> Stack::set_ipv4_address(Interface& interface, Ipv4Address address, unsigned prefix_length)
{
    if (prefix_length > 32 || address.is_broadcast() || address.is_multicast())
        return Errno::INVAL;
    bool known = false;
    for (size_t i = 0; i < m_interface_count; i++)
        known |= m_interfaces[i] == &interface;
    if (!known)
        return Errno::NODEV;
    if (!interface.m_address.is_any())
        (void)m_ipv4.routes().remove(interface.m_address, static_cast<uint8_t>(interface.m_prefix_length));
    m_arp.flush(interface);
    interface.m_address = address;
    interface.m_classifier_address.store(address.value, std::memory_order_relaxed);
    interface.m_prefix_length = prefix_length;
    if (address.is_any())
        return {};
    TRY(m_ipv4.routes().add({address, static_cast<uint8_t>(prefix_length), {}, &interface}));
    m_arp.announce(interface);
    return {};
}

Result<void> Stack::set_default_gateway(Interface& interface, Ipv4Address gateway)
{
    (void)m_ipv4.routes().remove({}, 0);
    return m_ipv4.routes().add({{}, 0, gateway, &interface});
}

void Stack::input(Interface& interface, Packet frame)
{
    if (!frame)
        return;
    frame.meta() = PacketMeta{.interface = &interface, .checksum_verified = frame.meta().checksum_verified};
    if (interface.kind() == LinkKind::Loopback)
        m_ipv4.input(interface, std::move(frame));
    else
        m_ether.input(interface, std::move(frame));
    drain_loopback(LoopbackInterface::kBudget);
}

Channel* Stack::classify(Interface& interface, Packet& frame, const ReceiveBurst& burst, bool& was_empty)
{
    if (interface.kind() != LinkKind::Ethernet || !frame)
        return nullptr;
    size_t length = frame.length();
    if (length < kEtherHeaderSize + kIpv4HeaderSize + kUdpHeaderSize)
        return nullptr;
    const uint8_t* d = frame.data();
    // Unicast to us, IPv4 without a VLAN tag: the only frames a connection receives.
    if (lib::mem_compare(d, interface.mac().bytes, 6) != 0 || load_be16(d + 12) != kEtherTypeIpv4)
        return nullptr;
    Ipv4Header ip;
    if (parse_ipv4_header(d + kEtherHeaderSize, length - kEtherHeaderSize, false, ip) !=
            Ipv4Parse::Ok ||
        ip.is_fragment() || ip.ttl == 0)
        return nullptr;
    size_t transport = kEtherHeaderSize + ip.header_length;
    if (ip.protocol == kIpProtocolTcp && ip.total_length >= ip.header_length + tcp::kHeaderSize)
        return m_tcp.classify(frame, ip, transport, interface, burst, was_empty);
    if (ip.protocol == kIpProtocolUdp && ip.total_length >= ip.header_length + kUdpHeaderSize)
        return m_udp.classify(frame, ip, transport, interface, burst, was_empty);
    return nullptr;
}

void Stack::drain_loopback(size_t budget)
{
    if (m_draining)
        return;
    m_draining = true;
    for (size_t i = 0; i < budget && m_loopback.has_pending(); i++) {
        Packet packet = m_loopback.dequeue();
        packet.meta().interface = &m_loopback;
        m_ipv4.input(m_loopback, std::move(packet));
    }
    m_draining = false;
}

void Stack::poll_timers(uint64_t now_ns)
{
    m_arp.poll(now_ns);
    m_ipv4.poll(now_ns);
    m_tcp.poll(now_ns);
    drain_loopback(LoopbackInterface::kBudget);
}

uint64_t Stack::next_deadline() const
{
    if (m_loopback.has_pending())
        return m_clock.now_ns();
    uint64_t deadline = m_arp.next_deadline();
    uint64_t ip = m_ipv4.next_deadline();
    uint64_t tcp = m_tcp.next_deadline();
    if (ip < deadline)
        deadline = ip;
    return tcp < deadline ? tcp : deadline;
}

void Stack::read_mib(Mib& mib) const
{
    const Ipv4Stats& ip = m_ipv4.stats();
    mib.ip_in_receives += ip.rx_packets;
    mib.ip_in_hdr_errors += ip.rx_truncated + ip.rx_bad_version + ip.rx_bad_header_length + ip.rx_bad_total_length +
                            ip.rx_bad_checksum + ip.rx_reserved_flag + ip.rx_ttl_zero + ip.rx_martian_source;
    mib.ip_in_addr_errors += ip.rx_not_for_us;
    mib.ip_in_unknown_protos += ip.rx_unknown_protocol;
    mib.ip_in_delivers += ip.rx_delivered;
    mib.ip_out_requests += ip.tx_packets;
    mib.ip_out_discards += ip.tx_errors;
    mib.ip_out_no_routes += ip.tx_no_route;
    mib.ip_frag_oks += ip.tx_fragmented;
    mib.ip_frag_fails += ip.tx_too_big;
    mib.ip_frag_creates += ip.tx_fragments;
    const ReassemblyStats& reasm = m_ipv4.reassembler().stats();
    mib.ip_reasm_timeout += reasm.timeouts;
    mib.ip_reasm_reqds += reasm.fragments;
    mib.ip_reasm_oks += reasm.reassembled;
    mib.ip_reasm_fails += reasm.overlaps + reasm.too_big + reasm.bad_fragments + reasm.too_many_fragments +
                          reasm.timeouts + reasm.evictions + reasm.no_memory;

    const IcmpStats& icmp = m_icmp.stats();
    mib.icmp_in_msgs += icmp.rx_messages;
    mib.icmp_in_errors += icmp.rx_truncated + icmp.rx_bad_checksum + icmp.rx_bad_errors;
    mib.icmp_in_csum_errors += icmp.rx_bad_checksum;
    mib.icmp_out_errors += icmp.tx_failures;
    mib.icmp_out_rate_limit_global += icmp.rate_limited;
    static_assert(Mib::kIcmpTypes == kIcmpTypesCounted);
    for (unsigned t = 0; t < kIcmpTypesCounted; t++) {
        mib.icmp_in_types[t] += icmp.rx_types[t];
        mib.icmp_out_types[t] += icmp.tx_types[t];
        mib.icmp_out_msgs += icmp.tx_types[t];
    }

    m_tcp.add_mib(mib);

    const UdpStats& udp = m_udp.stats();
    mib.udp_in_datagrams += udp.rx_delivered;
    mib.udp_no_ports += udp.rx_no_port;
    mib.udp_in_errors += udp.rx_truncated + udp.rx_bad_length + udp.rx_bad_checksum;
    mib.udp_in_csum_errors += udp.rx_bad_checksum;
    mib.udp_out_datagrams += udp.tx_datagrams;
    mib.udp_sndbuf_errors += udp.tx_errors;
}

} // namespace net
