// The network stack object: the interfaces it serves and the protocol layers (Ethernet, ARP,
// IPv4, ICMP, UDP, TCP), tied together.
//
// Concurrency: a Stack is not synchronised. All of its entry points — input, the layers'
// send calls, poll_timers, configuration — must be called from one network context at a time
// (for now one "network thread", or under one mutex held by the caller) — except classify(),
// the net channels' receive-side step, which runs concurrently with it. Nothing is global:
// every table hangs off the Stack, so several stacks coexist (the tests connect two over a
// fake wire).
//
// Time: the stack never sleeps and starts no thread. It reads the Clock for timestamps; its
// owner calls poll_timers(now) when next_deadline() has passed.
#pragma once

#include <lib/result.h>
#include <net/arp/arp.h>
#include <net/ether/ether.h>
#include <net/icmp/icmp.h>
#include <net/interface.h>
#include <net/ipv4/ipv4.h>
#include <net/loopback.h>
#include <net/packet.h>
#include <net/tcp/tcp.h>
#include <net/mib.h>
#include <net/udp/udp.h>
#include <stddef.h>
#include <stdint.h>

namespace net {

class Stack {
public:
    static constexpr size_t kMaxInterfaces = 8;

    // `clock` must outlive the stack; `seed` varies IPv4 IDs and ephemeral ports (the kernel
    // passes entropy, tests a constant). Creates and adds the loopback interface "lo",
    // 127.0.0.1/8.
    Stack(Clock& clock, uint64_t seed);
    Stack(const Stack&) = delete;
    Stack& operator=(const Stack&) = delete;
    ~Stack();

    // Makes `interface` known to the stack (it must stay alive until remove_interface).
    // NOSPC when kMaxInterfaces are in use, EXIST if added already.
    Result<void> add_interface(Interface& interface);
    // Forgets the interface: its routes, ARP entries and address.
    void remove_interface(Interface& interface);
    // Sets the interface's address and prefix, replaces its connected route, and announces the
    // address with a gratuitous ARP. INVAL for a prefix > 32 or a multicast/broadcast address.
    Result<void> set_ipv4_address(Interface& interface, Ipv4Address address, unsigned prefix_length);
    // Routes 0.0.0.0/0 via `gateway` on `interface` (replacing a previous default route).
    Result<void> set_default_gateway(Interface& interface, Ipv4Address gateway);

    // A frame received on `interface` (an Ethernet frame; an IPv4 packet on a loopback).
    // Consumes it. Packets looped back meanwhile are processed before it returns.
    void input(Interface& interface, Packet frame);
    // The net-channel classifier (osv-design.md §6), for a receive thread: may be called
    // outside the stack's context, concurrently with it, inside a read-side section (RCU).
    // A frame for one of our established TCP connections (Tcp::classify) or for a UDP socket
    // (Udp::classify) whose channel is open is queued there and the channel returned,
    // referenced: the caller notifies it and drops the reference once its burst is over.
    // Anything else — another protocol, a fragment, a frame not addressed to the
    // interface's MAC, a malformed header, a SYN or RST, a full channel — returns null with
    // the frame untouched, for input(). `burst`
    // names the caller's receive queue and numbers its bursts (see Channel::divert);
    // `was_empty` tells whether the channel held nothing before.
    Channel* classify(Interface& interface, Packet& frame, const ReceiveBurst& burst, bool& was_empty);
    // Runs every timer due at `now_ns` and any looped-back packets still queued.
    void poll_timers(uint64_t now_ns);

    // The MIB counters (net/mib.h) of every layer, added to `mib` (zeroed by the caller).
    void read_mib(Mib& mib) const;
    // The earliest time poll_timers has work (now, if loopback packets wait); UINT64_MAX when
    // nothing is pending.
    uint64_t next_deadline() const;

    Ether& ether() { return m_ether; }
    Arp& arp() { return m_arp; }
    Ipv4& ipv4() { return m_ipv4; }
    const Ipv4& ipv4() const { return m_ipv4; }
    Icmp& icmp() { return m_icmp; }
    Udp& udp() { return m_udp; }
    tcp::Tcp& tcp() { return m_tcp; }
    LoopbackInterface& loopback() const { return const_cast<LoopbackInterface&>(m_loopback); }

    size_t interface_count() const { return m_interface_count; }
    Interface* interface_at(size_t index) const { return index < m_interface_count ? m_interfaces[index] : nullptr; }
    uint64_t now() const { return m_clock.now_ns(); }
    // A pseudo-random 32-bit number (xorshift; not for secrets).
    uint32_t random();

    // Processes up to `budget` queued loopback packets (called by the loopback on transmit;
    // re-entrant calls return at once and leave the work to the outer one).
    void drain_loopback(size_t budget);

private:
    Clock& m_clock;
    uint64_t m_random_state;
    Interface* m_interfaces[kMaxInterfaces] = {};
    size_t m_interface_count = 0;
    bool m_draining = false;
    // Declaration order is construction order: the layers read random() and each other.
    LoopbackInterface m_loopback;
    Ether m_ether;
    Arp m_arp;
    Ipv4 m_ipv4;
    Icmp m_icmp;
    Udp m_udp;
    tcp::Tcp m_tcp;
};

} // namespace net
