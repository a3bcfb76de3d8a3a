// The loopback interface.
#include <net/loopback.h>
#include <net/stack.h>
#include <utility>

namespace net {

LoopbackInterface::LoopbackInterface(Stack& stack)
    : Interface("lo", LinkKind::Loopback, MacAddress(), kMtu), m_stack(stack)
{
    set_features({.tx_checksum = true, .rx_checksum = true});
}

Result<void> LoopbackInterface::transmit(Packet packet)
{
    if (m_pending.count() >= kQueueLimit) {
        m_dropped++;
        return Errno::NOBUFS;
    }
    PacketMeta& meta = packet.meta();
    if (meta.checksum_needed) {
        meta.checksum_needed = false;
        meta.checksum_verified = true;
    }
    m_packets++;
    m_bytes += packet.length();
    m_pending.push_back(std::move(packet));
    m_stack.drain_loopback(kBudget);
    return {};
}

} // namespace net
