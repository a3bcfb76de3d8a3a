// The loopback interface "lo" (127.0.0.1/8, MTU 65536): transmit queues the packet and the
// stack feeds it to its own input — from the same call when no input is in progress, else
// when the outer input finishes — so a reply sent from inside a receive handler never recurses.
#pragma once

#include <net/interface.h>
#include <net/packet.h>

namespace net {

class Stack;

class LoopbackInterface final : public Interface {
public:
    static constexpr uint32_t kMtu = 65536;
    static constexpr size_t kQueueLimit = 1024;
    // Packets processed per drain; the rest wait for poll_timers (a ping-pong of two handlers
    // on loopback cannot monopolise the network context).
    static constexpr size_t kBudget = 256;

    explicit LoopbackInterface(Stack& stack);

    // Queues the packet (NOBUFS beyond kQueueLimit) and drains the queue. Checksums left to
    // the "device" are marked verified: the bytes never left memory.
    Result<void> transmit(Packet packet) override;

    Packet dequeue() { return m_pending.pop_front(); }
    bool has_pending() const { return !m_pending.is_empty(); }
    uint64_t dropped() const { return m_dropped; }
    // Packets and bytes queued: each was sent and received once.
    uint64_t packets() const { return m_packets; }
    uint64_t bytes() const { return m_bytes; }

private:
    Stack& m_stack;
    PacketQueue m_pending;
    uint64_t m_dropped = 0;
    uint64_t m_packets = 0;
    uint64_t m_bytes = 0;
};

} // namespace net
