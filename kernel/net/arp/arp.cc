// ARP: packet format, the neighbour cache and its timers.
#include <lib/string.h>
#include <net/arp/arp.h>
#include <net/byte_order.h>
#include <net/ether/ether.h>
#include <net/interface.h>
#include <net/stack.h>
#include <utility>

namespace net {

namespace {

constexpr uint16_t kHardwareEthernet = 1;

// The multicast MAC of an IPv4 group: 01:00:5e and the group's low 23 bits [RFC 1112 §6.4].
MacAddress multicast_mac(Ipv4Address group)
{
    return {{0x01, 0x00, 0x5e, static_cast<uint8_t>((group.value >> 16) & 0x7f),
             static_cast<uint8_t>(group.value >> 8), static_cast<uint8_t>(group.value)}};
}

} // namespace

ArpParse parse_arp_packet(const uint8_t* data, size_t length, ArpPacket& out)
{
    if (length < 8)
        return ArpParse::Truncated;
    if (load_be16(data) != kHardwareEthernet || load_be16(data + 2) != kEtherTypeIpv4 || data[4] != 6 ||
        data[5] != 4)
        return ArpParse::BadFormat;
    if (length < kArpPacketSize)
        return ArpParse::Truncated;
    out.operation = load_be16(data + 6);
    if (out.operation != kArpOpRequest && out.operation != kArpOpReply)
        return ArpParse::BadOperation;
    lib::mem_copy(out.sender_mac.bytes, data + 8, 6);
    out.sender_ip = {load_be32(data + 14)};
    lib::mem_copy(out.target_mac.bytes, data + 18, 6);
    out.target_ip = {load_be32(data + 24)};
    return ArpParse::Ok;
}

void write_arp_packet(uint8_t* out, const ArpPacket& packet)
{
    store_be16(out, kHardwareEthernet);
    store_be16(out + 2, kEtherTypeIpv4);
    out[4] = 6;
    out[5] = 4;
    store_be16(out + 6, packet.operation);
    lib::mem_copy(out + 8, packet.sender_mac.bytes, 6);
    store_be32(out + 14, packet.sender_ip.value);
    lib::mem_copy(out + 18, packet.target_mac.bytes, 6);
    store_be32(out + 24, packet.target_ip.value);
}

Arp::Entry* Arp::find(const Interface& interface, Ipv4Address address)
{
    for (Entry& e : m_entries)
        if (e.state != ArpState::Free && e.interface == &interface && e.address == address)
            return &e;
    return nullptr;
}

const Arp::Entry* Arp::find(const Interface& interface, Ipv4Address address) const
{
    return const_cast<Arp*>(this)->find(interface, address);
}

// A free entry, or the least recently used one without parked packets (released first).
Arp::Entry* Arp::allocate_entry()
{
    Entry* victim = nullptr;
    for (Entry& e : m_entries) {
        if (e.state == ArpState::Free)
            return &e;
        if (e.parked.is_empty() && (!victim || e.last_used < victim->last_used))
            victim = &e;
    }
    if (victim)
        release(*victim);
    return victim;
}

void Arp::release(Entry& entry)
{
    m_stats.unresolved_drops += entry.parked.count();
    entry.parked.clear();
    entry = Entry();
}

void Arp::confirm(Entry& entry, MacAddress mac, uint64_t now)
{
    entry.mac = mac;
    entry.state = ArpState::Reachable;
    entry.probes = 0;
    arm(entry, now + kReachableNs);
    // Packets parked while Incomplete go out now, in order.
    while (!entry.parked.is_empty())
        (void)send_to(*entry.interface, mac, entry.parked.pop_front());
}

Result<void> Arp::send_to(Interface& interface, MacAddress mac, Packet packet)
{
    return m_stack.ether().output(interface, std::move(packet), mac, kEtherTypeIpv4);
}

Result<void> Arp::resolve(Interface& interface, Ipv4Address next_hop, Packet packet)
{
    if (next_hop.is_broadcast() || interface.is_subnet_broadcast(next_hop))
        return send_to(interface, MacAddress::broadcast(), std::move(packet));
    if (next_hop.is_multicast())
        return send_to(interface, multicast_mac(next_hop), std::move(packet));

    uint64_t now = m_stack.now();
    Entry* entry = find(interface, next_hop);
    if (entry && entry->state != ArpState::Incomplete) {
        entry->last_used = now;
        if (entry->state == ArpState::Stale && entry->probes == 0) {
            // Still usable, but confirm it: a unicast probe to the cached MAC.
            entry->probes = 1;
            arm(*entry, now + kRetryIntervalNs);
            send_request(interface, next_hop, &entry->mac);
        }
        return send_to(interface, entry->mac, std::move(packet));
    }
    if (!entry) {
        entry = allocate_entry();
        if (!entry) {
            m_stats.cache_full++;
            return Errno::NOBUFS;
        }
        entry->state = ArpState::Incomplete;
        entry->interface = &interface;
        entry->address = next_hop;
        entry->probes = 1;
        arm(*entry, now + kRetryIntervalNs);
        send_request(interface, next_hop, nullptr);
    }
    entry->last_used = now;
    if (entry->parked.count() >= kQueuePerEntry) {
        entry->parked.pop_front();
        m_stats.queue_overflows++;
    }
    entry->parked.push_back(std::move(packet));
    m_stats.queued++;
    return {};
}

void Arp::input(Interface& interface, Packet packet)
{
    m_stats.rx_packets++;
    ArpPacket arp;
    switch (parse_arp_packet(packet.data(), packet.length(), arp)) {
    case ArpParse::Ok:
        break;
    case ArpParse::Truncated:
        m_stats.rx_truncated++;
        return;
    case ArpParse::BadFormat:
        m_stats.rx_bad_format++;
        return;
    case ArpParse::BadOperation:
        m_stats.rx_bad_operation++;
        return;
    }
    if (arp.sender_mac.is_multicast() || arp.sender_mac.is_zero() || arp.sender_ip.is_broadcast() ||
        arp.sender_ip.is_multicast() || arp.sender_ip.is_loopback() ||
        interface.is_subnet_broadcast(arp.sender_ip)) {
        m_stats.rx_bad_sender++;
        return;
    }
    Ipv4Address ours = interface.ipv4_address();
    if (!ours.is_any() && arp.sender_ip == ours) {
        // Someone else uses our address [RFC 5227 §2.4]: never cache it; count.
        if (!(arp.sender_mac == interface.mac()))
            m_stats.rx_conflicts++;
        return;
    }
    bool for_us = !ours.is_any() && arp.target_ip == ours;
    uint64_t now = m_stack.now();

    // RFC 826: update an existing entry from any ARP packet (the merge flag); a probe from an
    // address-less host (sender 0.0.0.0) teaches nothing.
    bool merged = false;
    if (!arp.sender_ip.is_any()) {
        if (Entry* entry = find(interface, arp.sender_ip)) {
            merged = true;
            if (entry->state == ArpState::Incomplete || (for_us && arp.operation == kArpOpReply)) {
                confirm(*entry, arp.sender_mac, now);
            } else if (!(entry->mac == arp.sender_mac)) {
                entry->mac = arp.sender_mac;
                entry->state = ArpState::Stale;
                entry->probes = 0;
                arm(*entry, now + kStaleLifetimeNs);
            }
        }
    }
    if (!for_us)
        return;
    if (!merged && !arp.sender_ip.is_any()) {
        if (Entry* entry = allocate_entry()) {
            entry->interface = &interface;
            entry->address = arp.sender_ip;
            entry->last_used = now;
            confirm(*entry, arp.sender_mac, now);
        }
    }
    if (arp.operation == kArpOpRequest) {
        m_stats.rx_requests++;
        send_reply(interface, arp);
    } else {
        m_stats.rx_replies++;
    }
}

void Arp::send_request(Interface& interface, Ipv4Address target, const MacAddress* unicast)
{
    Packet packet = Packet::allocate_data(kArpPacketSize);
    if (!packet)
        return;
    write_arp_packet(packet.data(), {kArpOpRequest, interface.mac(), interface.ipv4_address(), MacAddress(), target});
    if (target == interface.ipv4_address())
        m_stats.tx_gratuitous++;
    else
        m_stats.tx_requests++;
    (void)m_stack.ether().output(interface, std::move(packet), unicast ? *unicast : MacAddress::broadcast(),
                                 kEtherTypeArp);
}

void Arp::send_reply(Interface& interface, const ArpPacket& request)
{
    Packet packet = Packet::allocate_data(kArpPacketSize);
    if (!packet)
        return;
    write_arp_packet(packet.data(), {kArpOpReply, interface.mac(), interface.ipv4_address(), request.sender_mac,
                                     request.sender_ip});
    m_stats.tx_replies++;
    (void)m_stack.ether().output(interface, std::move(packet), request.sender_mac, kEtherTypeArp);
}

void Arp::announce(Interface& interface)
{
    if (interface.kind() != LinkKind::Ethernet || interface.ipv4_address().is_any())
        return;
    send_request(interface, interface.ipv4_address(), nullptr);
}

void Arp::flush(Interface& interface)
{
    for (Entry& e : m_entries)
        if (e.state != ArpState::Free && e.interface == &interface)
            release(e);
}

void Arp::poll(uint64_t now)
{
    if (now < m_earliest)
        return; // nothing due (the network's timer thread polls at every channel sweep too)
    for (Entry& e : m_entries) {
        if (e.state == ArpState::Free || now < e.deadline)
            continue;
        switch (e.state) {
        case ArpState::Incomplete:
            if (e.probes < kMaxProbes) {
                e.probes++;
                arm(e, now + kRetryIntervalNs);
                send_request(*e.interface, e.address, nullptr);
            } else {
                m_stats.resolution_failures++;
                release(e);
            }
            break;
        case ArpState::Reachable:
            e.state = ArpState::Stale;
            e.probes = 0;
            arm(e, now + kStaleLifetimeNs);
            break;
        case ArpState::Stale:
            if (e.probes == 0) {
                release(e); // unused for kStaleLifetimeNs
            } else if (e.probes < kMaxProbes) {
                e.probes++;
                arm(e, now + kRetryIntervalNs);
                send_request(*e.interface, e.address, &e.mac);
            } else {
                m_stats.resolution_failures++;
                release(e);
            }
            break;
        case ArpState::Free:
            break;
        }
    }
    m_earliest = UINT64_MAX;
    for (const Entry& e : m_entries)
        if (e.state != ArpState::Free && e.deadline < m_earliest)
            m_earliest = e.deadline;
}

void Arp::arm(Entry& entry, uint64_t deadline)
{
    entry.deadline = deadline;
    if (deadline < m_earliest)
        m_earliest = deadline;
}

bool Arp::lookup(const Interface& interface, Ipv4Address address, MacAddress& mac, ArpState& state) const
{
    const Entry* e = find(interface, address);
    if (!e)
        return false;
    mac = e->mac;
    state = e->state;
    return true;
}

size_t Arp::entry_count() const
{
    size_t n = 0;
    for (const Entry& e : m_entries)
        n += e.state != ArpState::Free;
    return n;
}

} // namespace net
