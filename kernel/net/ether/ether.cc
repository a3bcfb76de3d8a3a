// Ethernet II input filtering and output framing.
#include <lib/string.h>
#include <net/arp/arp.h>
#include <net/byte_order.h>
#include <net/ether/ether.h>
#include <net/interface.h>
#include <net/ipv4/ipv4.h>
#include <net/stack.h>
#include <utility>

namespace net {

bool parse_ether_header(const uint8_t* data, size_t length, EtherHeader& out)
{
    if (length < kEtherHeaderSize)
        return false;
    lib::mem_copy(out.destination.bytes, data, 6);
    lib::mem_copy(out.source.bytes, data + 6, 6);
    out.type = load_be16(data + 12);
    return true;
}

void write_ether_header(uint8_t* out, const EtherHeader& header)
{
    lib::mem_copy(out, header.destination.bytes, 6);
    lib::mem_copy(out + 6, header.source.bytes, 6);
    store_be16(out + 12, header.type);
}

void Ether::input(Interface& interface, Packet frame)
{
    m_stats.rx_frames++;
    EtherHeader header;
    if (!parse_ether_header(frame.data(), frame.length(), header)) {
        m_stats.rx_runt++;
        return;
    }
    if (header.type == kEtherTypeVlan || header.type == kEtherTypeQinQ) {
        m_stats.rx_vlan++;
        return;
    }
    // Unicast to us or broadcast; no multicast group is joined yet.
    if (!(header.destination == interface.mac()) && !header.destination.is_broadcast()) {
        m_stats.rx_not_for_us++;
        return;
    }
    if (header.source.is_multicast()) {
        m_stats.rx_bad_source++;
        return;
    }
    frame.pull(kEtherHeaderSize);
    frame.meta().interface = &interface;
    switch (header.type) {
    case kEtherTypeIpv4:
        m_stack.ipv4().input(interface, std::move(frame));
        return;
    case kEtherTypeArp:
        m_stack.arp().input(interface, std::move(frame));
        return;
    default:
        m_stats.rx_unknown_type++;
        return;
    }
}

Result<void> Ether::output(Interface& interface, Packet packet, MacAddress destination, uint16_t type)
{
    uint8_t* header = packet.push(kEtherHeaderSize);
    if (!header) {
        m_stats.tx_errors++;
        return Errno::NOBUFS;
    }
    write_ether_header(header, {destination, interface.mac(), type});
    // Pad runts with zeros [IEEE 802.3 §4.2.3.3]; a buffer without the tailroom is copied
    // (rare: allocate_data leaves room for a minimum frame).
    if (packet.length() < kEtherMinFrame) {
        size_t pad = kEtherMinFrame - packet.length();
        if (packet.tailroom() < pad) {
            Packet copy = packet.copy(0);
            if (!copy || copy.tailroom() < pad) {
                m_stats.tx_errors++;
                return Errno::NOBUFS;
            }
            packet = std::move(copy);
        }
        lib::mem_set(packet.put(pad), 0, pad);
    }
    if (!interface.is_up()) {
        m_stats.tx_errors++;
        return Errno::NETDOWN;
    }
    Result<void> sent = interface.transmit(std::move(packet));
    if (sent.is_error())
        m_stats.tx_errors++;
    else
        m_stats.tx_frames++;
    return sent;
}

} // namespace net
