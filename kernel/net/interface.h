// A network interface as the stack sees it: a name, a link-layer kind and address, an MTU, an
// IPv4 address, link state, offload features and the driver's transmit. The driver (or a test's
// fake) derives from it; the stack never owns an interface, it only refers to one between
// Stack::add_interface and the interface's destruction.
#pragma once

#include <atomic>

#include <lib/result.h>
#include <lib/string.h>
#include <net/addr.h>
#include <net/packet.h>
#include <stdint.h>

namespace net {

enum class LinkKind : uint8_t {
    Ethernet, // frames carry an Ethernet II header; IPv4 neighbours are resolved with ARP
    Loopback, // bare IPv4 packets, no link header
};

// Offloads the device offers (virtio-net feature bits, negotiated by the driver).
struct InterfaceFeatures {
    bool tx_checksum = false; // the device completes checksums (PacketMeta::checksum_needed)
    bool rx_checksum = false; // the device may mark received checksums verified
    // The device cuts TCP/IPv4 segments of up to 64 KiB (PacketMeta::gso_size) into MTU-sized
    // ones (virtio-net HOST_TSO4): TCP sends super-segments through this interface.
    bool tso4 = false;
    // The device may hand over coalesced TCP/IPv4 segments of up to 64 KiB (GUEST_TSO4).
    bool lro4 = false;
};

class Interface {
public:
    static constexpr size_t kNameMax = 15;

    // `name` is copied (at most kNameMax characters).
    Interface(lib::StringView name, LinkKind kind, MacAddress mac, uint32_t mtu);
    virtual ~Interface() = default;
    Interface(const Interface&) = delete;
    Interface& operator=(const Interface&) = delete;

    // Sends one frame (an Ethernet frame, or an IPv4 packet on a loopback interface). Ownership
    // passes to the driver whatever the result; an error (NETDOWN, NOBUFS) means it was dropped.
    // Called from the stack's network context; must not call back into the stack synchronously
    // (a loopback queues instead).
    virtual Result<void> transmit(Packet frame) = 0;

    const char* name() const { return m_name; }
    LinkKind kind() const { return m_kind; }
    MacAddress mac() const { return m_mac; }
    uint32_t mtu() const { return m_mtu; }
    void set_mtu(uint32_t mtu) { m_mtu = mtu; }
    bool is_up() const { return m_up; }
    void set_link_up(bool up) { m_up = up; }
    InterfaceFeatures features() const { return m_features; }
    void set_features(InterfaceFeatures features) { m_features = features; }

    // Set through Stack::set_ipv4_address (which also updates routes and announces it).
    Ipv4Address ipv4_address() const { return m_address; }
    // The same, for the net-channel classifier outside the stack's context.
    Ipv4Address classifier_address() const
    {
        return Ipv4Address{ m_classifier_address.load(std::memory_order_relaxed) };
    }
    unsigned prefix_length() const { return m_prefix_length; }
    // The subnet-directed broadcast address (all host bits set); none for /31 and /32.
    bool is_subnet_broadcast(Ipv4Address address) const;

private:
    friend class Stack;
    char m_name[kNameMax + 1] = {};
    LinkKind m_kind;
    MacAddress m_mac;
    uint32_t m_mtu;
    bool m_up = true;
    InterfaceFeatures m_features;
    Ipv4Address m_address;
    std::atomic<uint32_t> m_classifier_address{ 0 };
    unsigned m_prefix_length = 0;
};

// The stack's time source (nanoseconds, monotonic). The kernel passes its monotonic clock;
// tests a fake they advance by hand.
class Clock {
public:
    virtual ~Clock() = default;
    virtual uint64_t now_ns() const = 0;
};

} // namespace net
