// Interface: the name copy and the subnet broadcast test.
#include <net/interface.h>

namespace net {

Interface::Interface(lib::StringView name, LinkKind kind, MacAddress mac, uint32_t mtu)
    : m_kind(kind), m_mac(mac), m_mtu(mtu)
{
    size_t n = name.size() < kNameMax ? name.size() : kNameMax;
    for (size_t i = 0; i < n; i++)
        m_name[i] = name[i];
    m_name[n] = '\0';
}

bool Interface::is_subnet_broadcast(Ipv4Address address) const
{
    if (m_address.is_any() || m_prefix_length >= 31)
        return false;
    uint32_t host_mask = 0xffffffffu >> m_prefix_length;
    return address.same_prefix(m_address, m_prefix_length) && (address.value & host_mask) == host_mask;
}

} // namespace net
