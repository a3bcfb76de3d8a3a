// IPv4 reassembly with limits.
#include <lib/string.h>
#include <net/byte_order.h>
#include <net/checksum.h>
#include <net/ipv4/reassembly.h>
#include <new>
#include <utility>

namespace net {

Reassembler::~Reassembler()
{
    for (size_t i = 0; i < kMaxDatagrams; i++)
        if (m_datagrams[i])
            drop(i);
}

void Reassembler::drop(size_t index)
{
    Datagram* d = m_datagrams[index];
    m_memory -= d->memory;
    delete d; // frees the fragments' packets
    m_datagrams[index] = nullptr;
}

// Frees the oldest datagrams other than `keep` until `needed` more bytes fit the cap.
bool Reassembler::evict_for(size_t needed, size_t keep)
{
    while (m_memory + needed > kMemoryCap) {
        size_t oldest = kMaxDatagrams;
        for (size_t i = 0; i < kMaxDatagrams; i++)
            if (i != keep && m_datagrams[i] &&
                (oldest == kMaxDatagrams || m_datagrams[i]->started < m_datagrams[oldest]->started))
                oldest = i;
        if (oldest == kMaxDatagrams)
            return false;
        drop(oldest);
        m_stats.evictions++;
    }
    return true;
}

Packet Reassembler::add(Packet fragment, const Ipv4Header& header, uint64_t now)
{
    m_stats.fragments++;
    uint32_t length = header.total_length - header.header_length;
    uint32_t end = uint32_t(header.fragment_offset) + length;
    if (header.more_fragments && (length == 0 || length % 8 != 0)) {
        m_stats.bad_fragments++;
        return {};
    }

    // Find the datagram, or make room for a new one.
    size_t index = kMaxDatagrams;
    size_t free_slot = kMaxDatagrams;
    size_t oldest = kMaxDatagrams;
    for (size_t i = 0; i < kMaxDatagrams; i++) {
        Datagram* d = m_datagrams[i];
        if (!d) {
            if (free_slot == kMaxDatagrams)
                free_slot = i;
            continue;
        }
        if (d->source == header.source && d->destination == header.destination && d->id == header.id &&
            d->protocol == header.protocol) {
            index = i;
            break;
        }
        if (oldest == kMaxDatagrams || d->started < m_datagrams[oldest]->started)
            oldest = i;
    }
    if (header.header_length + end > kIpv4MaxDatagram) {
        m_stats.too_big++;
        if (index != kMaxDatagrams)
            drop(index);
        return {};
    }
    if (index == kMaxDatagrams) {
        if (free_slot == kMaxDatagrams) {
            drop(oldest);
            m_stats.evictions++;
            free_slot = oldest;
        }
        Datagram* d = new (std::nothrow) Datagram;
        if (!d) {
            m_stats.no_memory++;
            return {};
        }
        d->source = header.source;
        d->destination = header.destination;
        d->id = header.id;
        d->protocol = header.protocol;
        d->started = now;
        d->memory = sizeof(Datagram);
        m_memory += d->memory;
        m_datagrams[free_slot] = d;
        index = free_slot;
    }
    Datagram& d = *m_datagrams[index];

    // Consistency with what is known of the datagram's end.
    if (!header.more_fragments) {
        if ((d.have_last && d.total_payload != end) || end < d.received_payload) {
            m_stats.bad_fragments++;
            drop(index);
            return {};
        }
    }
    if (d.have_last && end > d.total_payload) {
        m_stats.bad_fragments++;
        drop(index);
        return {};
    }
    for (size_t i = 0; i < d.count; i++) {
        const Fragment& f = d.fragments[i];
        uint32_t f_end = uint32_t(f.offset) + f.length;
        if (f.offset == header.fragment_offset && f.length == length) {
            m_stats.duplicates++;
            return {};
        }
        if (header.fragment_offset < f_end && f.offset < end) {
            m_stats.overlaps++;
            drop(index);
            return {};
        }
    }
    if (!header.more_fragments) {
        // Any fragment already beyond the end makes the datagram inconsistent.
        for (size_t i = 0; i < d.count; i++) {
            if (uint32_t(d.fragments[i].offset) + d.fragments[i].length > end) {
                m_stats.bad_fragments++;
                drop(index);
                return {};
            }
        }
    }
    if (d.count == kMaxFragments) {
        m_stats.too_many_fragments++;
        drop(index);
        return {};
    }
    size_t size = fragment.memory_size();
    if (!evict_for(size, index)) {
        m_stats.evictions++;
        drop(index);
        return {};
    }
    d.fragments[d.count++] = {std::move(fragment), header.fragment_offset, static_cast<uint16_t>(length)};
    d.memory += size;
    m_memory += size;
    d.received_payload += length;
    if (!header.more_fragments) {
        d.have_last = true;
        d.total_payload = end;
    }
    if (!d.have_last || d.received_payload != d.total_payload)
        return {};
    return assemble(index);
}

// With no overlaps and received == total, the fragments tile [0, total) exactly.
Packet Reassembler::assemble(size_t index)
{
    Datagram& d = *m_datagrams[index];
    const Fragment* first = nullptr;
    for (size_t i = 0; i < d.count; i++)
        if (d.fragments[i].offset == 0)
            first = &d.fragments[i];
    if (!first) { // cannot happen when the pieces tile; be safe with hostile input anyway
        m_stats.bad_fragments++;
        drop(index);
        return {};
    }
    size_t header_length = first->packet.length() - first->length;
    if (header_length + d.total_payload > kIpv4MaxDatagram) {
        m_stats.too_big++;
        drop(index);
        return {};
    }
    Packet whole = Packet::allocate_data(header_length + d.total_payload);
    if (!whole) {
        m_stats.no_memory++;
        drop(index);
        return {};
    }
    uint8_t* out = whole.data();
    lib::mem_copy(out, first->packet.data(), header_length);
    for (size_t i = 0; i < d.count; i++) {
        const Fragment& f = d.fragments[i];
        const uint8_t* payload = f.packet.data() + (f.packet.length() - f.length);
        lib::mem_copy(out + header_length + f.offset, payload, f.length);
    }
    store_be16(out + 2, static_cast<uint16_t>(header_length + d.total_payload));
    store_be16(out + 6, static_cast<uint16_t>(load_be16(out + 6) & kIpv4FlagDontFragment));
    store_be16(out + 10, 0);
    store_be16(out + 10, finish_checksum(sum_bytes(out, header_length)));
    whole.meta().interface = first->packet.meta().interface;
    whole.mark_network_header();
    m_stats.reassembled++;
    drop(index);
    return whole;
}

void Reassembler::poll(uint64_t now, PacketQueue& expired)
{
    if (m_memory == 0)
        return; // no datagram in progress (each one counts its own size): the usual case
    for (size_t i = 0; i < kMaxDatagrams; i++) {
        Datagram* d = m_datagrams[i];
        if (!d || now < d->started + kTimeoutNs)
            continue;
        m_stats.timeouts++;
        for (size_t j = 0; j < d->count; j++)
            if (d->fragments[j].offset == 0)
                expired.push_back(std::move(d->fragments[j].packet));
        drop(i);
    }
}

uint64_t Reassembler::next_deadline() const
{
    uint64_t earliest = UINT64_MAX;
    if (m_memory == 0)
        return earliest; // as in poll(): asked after every socket call, usually empty
    for (const Datagram* d : m_datagrams)
        if (d && d->started + kTimeoutNs < earliest)
            earliest = d->started + kTimeoutNs;
    return earliest;
}

size_t Reassembler::datagram_count() const
{
    size_t n = 0;
    for (const Datagram* d : m_datagrams)
        n += d != nullptr;
    return n;
}

} // namespace net
