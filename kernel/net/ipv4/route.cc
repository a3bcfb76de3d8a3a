// Routing table and path-MTU cache.
#include <net/ipv4/route.h>

namespace net {

namespace {

Ipv4Address masked(Ipv4Address address, uint8_t prefix_length)
{
    if (prefix_length == 0)
        return {0};
    uint32_t mask = prefix_length >= 32 ? 0xffffffffu : ~(0xffffffffu >> prefix_length);
    return {address.value & mask};
}

} // namespace

Result<void> RouteTable::add(Route route)
{
    if (route.prefix_length > 32 || !route.interface)
        return Errno::INVAL;
    route.network = masked(route.network, route.prefix_length);
    for (size_t i = 0; i < m_count; i++)
        if (m_routes[i].network == route.network && m_routes[i].prefix_length == route.prefix_length)
            return Errno::EXIST;
    if (m_count == kMaxRoutes)
        return Errno::NOSPC;
    m_routes[m_count++] = route;
    return {};
}

Result<void> RouteTable::remove(Ipv4Address network, uint8_t prefix_length)
{
    network = masked(network, prefix_length);
    for (size_t i = 0; i < m_count; i++) {
        if (m_routes[i].network == network && m_routes[i].prefix_length == prefix_length) {
            for (size_t j = i + 1; j < m_count; j++)
                m_routes[j - 1] = m_routes[j];
            m_count--;
            return {};
        }
    }
    return Errno::NOENT;
}

void RouteTable::remove_interface(const Interface& interface)
{
    size_t kept = 0;
    for (size_t i = 0; i < m_count; i++)
        if (m_routes[i].interface != &interface)
            m_routes[kept++] = m_routes[i];
    m_count = kept;
}

Result<RouteDecision> RouteTable::lookup(Ipv4Address destination) const
{
    const Route* best = nullptr;
    for (size_t i = 0; i < m_count; i++) {
        const Route& r = m_routes[i];
        if (destination.same_prefix(r.network, r.prefix_length) && (!best || r.prefix_length > best->prefix_length))
            best = &r;
    }
    if (!best)
        return Errno::NETUNREACH;
    return RouteDecision{best->interface, best->gateway.is_any() ? destination : best->gateway};
}

void PmtuCache::update(Ipv4Address destination, uint32_t mtu, uint64_t now)
{
    if (mtu < kMinMtu)
        mtu = kMinMtu;
    Entry* slot = nullptr;
    for (Entry& e : m_entries) {
        if (e.mtu != 0 && e.destination == destination && now < e.expires) {
            if (mtu < e.mtu)
                e.mtu = mtu;
            e.expires = now + kLifetimeNs;
            return;
        }
        // Prefer a free or expired slot, else the one closest to expiry.
        bool unused = e.mtu == 0 || now >= e.expires;
        if (!slot || (unused && !(slot->mtu == 0 || now >= slot->expires)) ||
            (!unused && slot->mtu != 0 && now < slot->expires && e.expires < slot->expires))
            slot = &e;
    }
    if (slot->mtu == 0)
        m_used++;
    *slot = {destination, mtu, now + kLifetimeNs};
}

uint32_t PmtuCache::lookup(Ipv4Address destination, uint64_t now) const
{
    if (m_used == 0)
        return 0;
    for (const Entry& e : m_entries)
        if (e.mtu != 0 && e.destination == destination && now < e.expires)
            return e.mtu;
    return 0;
}

void PmtuCache::poll(uint64_t now)
{
    if (m_used == 0)
        return;
    for (Entry& e : m_entries) {
        if (e.mtu != 0 && now >= e.expires) {
            e = Entry();
            m_used--;
        }
    }
}

uint64_t PmtuCache::next_deadline() const
{
    uint64_t earliest = UINT64_MAX;
    if (m_used == 0)
        return earliest;
    for (const Entry& e : m_entries)
        if (e.mtu != 0 && e.expires < earliest)
            earliest = e.expires;
    return earliest;
}

size_t PmtuCache::count() const
{
    size_t n = 0;
    for (const Entry& e : m_entries)
        n += e.mtu != 0;
    return n;
}

} // namespace net
