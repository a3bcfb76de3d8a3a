// The guest's network in `nimbus run` (--net, -p, --mac): the syntax of their values, the
// checks across them, and QEMU's -netdev value. Pure; the NIC's place on each machine is
// devices.h's (docs/networking.md, "Running with networking").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runner/parsed.h"

namespace runner {

// What --net asked for: QEMU's user-mode network stack (the default), a host tap device, or
// no network card at all.
enum class NetMode { User, Tap, None };

enum class PortProtocol { Tcp, Udp };

// The MAC address QEMU gives its first NIC when none is set; the runner passes it explicitly
// so that the guest's address does not depend on QEMU's NIC counter.
inline constexpr std::string_view kDefaultMac = "52:54:00:12:34:56";

// The address a -p without HOSTADDR listens on: the host's loopback only, never every
// interface unless the user writes 0.0.0.0.
inline constexpr std::string_view kDefaultForwardAddress = "127.0.0.1";

// QEMU's id of the network backend (-netdev) the NIC is connected to.
inline constexpr std::string_view kNetdevId = "nimbus-net0";

// The NIC's receive queue entries (QEMU's rx_queue_size: a power of two, 256..1024).
inline constexpr unsigned kNicRxQueueSize = 1024;

// Linux's IFNAMSIZ (16) less the terminating NUL [linux include/uapi/linux/if.h].
inline constexpr size_t kMaxInterfaceName = 15;

// One -p: connections (or datagrams) to host_address:host_port on the host reach guest_port
// of the guest (user networking's hostfwd).
struct PortForward {
    PortProtocol protocol = PortProtocol::Tcp;
    std::string host_address{kDefaultForwardAddress};  // dotted IPv4
    uint16_t host_port = 0;
    uint16_t guest_port = 0;

    bool operator==(const PortForward&) const = default;
};

// The network options of `nimbus run`, as given.
// --net-offload: the offloads the card offers the guest with a tap back-end (for measurements;
// QEMU's user network has none anyway). All: whatever QEMU offers (checksums, TSO, coalesced
// receive); Csum: checksums only (host_tso4=off,guest_tso4=off); None: no vnet header on the
// tap (vnet_hdr=off), so no offload at all.
enum class NetOffload { All, Csum, None };

// "all", "csum" or "none".
std::optional<NetOffload> parse_net_offload(std::string_view);

struct NetOptions {
    NetMode mode = NetMode::User;
    std::string tap_name;                // --net tap:NAME
    std::vector<PortForward> forwards;   // -p, in order
    std::optional<std::string> mac;      // --mac, normalised to lower case; else kDefaultMac
    NetOffload offload = NetOffload::All; // --net-offload: what the card offers the guest

    bool has_nic() const { return mode != NetMode::None; }
    std::string_view mac_address() const { return mac ? std::string_view(*mac) : kDefaultMac; }
};

// The value of --net: "user", "none" or "tap:NAME" (mode and tap_name set, nothing else).
// NAME must be a valid Linux interface name: 1..15 bytes, not "." or "..", no '/', ':' or
// white space.
Parsed<NetOptions> parse_net_option(std::string_view);

// The value of -p: [HOSTADDR:]HOSTPORT:GUESTPORT[/tcp|/udp]. Ports are 1..65535, HOSTADDR a
// dotted IPv4 address (default 127.0.0.1), the protocol tcp unless "/udp".
Parsed<PortForward> parse_port_forward(std::string_view);

// The value of --mac: six two-digit hex bytes separated by ':', a unicast address (the first
// byte's lowest bit clear) other than 00:00:00:00:00:00. Returned in lower case.
Parsed<std::string> parse_mac_address(std::string_view);

// "127.0.0.1:8080:80" or "127.0.0.1:5353:53/udp": a forward as -p would write it, in full.
std::string port_forward_text(const PortForward&);

// Checks the options together: -p only with user networking, --mac not with --net none, no
// host port forwarded twice (the same protocol and port on the same address, or on any
// address when one of them is 0.0.0.0).
Status check_net_options(const NetOptions&);

// IFF_MULTI_QUEUE in a tun device's flags, as /sys/class/net/NAME/tun_flags shows them
// [linux include/uapi/linux/if_tun.h].
inline constexpr unsigned kTunMultiQueueFlag = 0x0100;

// QEMU opens a tap device with `queues` > 1 only if it was created multi-queue, and a
// multi-queue device only with queues > 1: Linux refuses the mismatch (EINVAL, which QEMU
// reports as "could not configure /dev/net/tun"). Fails on a mismatch between `queues` and
// the device's `tun_flags`, naming the command that creates a matching device.
Status check_tap_queues(const std::string& name, unsigned tun_flags, unsigned queues);

// QEMU's -netdev value for a NIC (net.has_nic()): "user,id=nimbus-net0[,hostfwd=...]..." or
// "tap,id=nimbus-net0,ifname=NAME,script=no,downscript=no,vhost=on|off[,queues=N]".
// `queues` > 1 asks the tap for that many queue pairs (a multiqueue tap device); `vhost`
// moves the tap's data path into the host kernel's vhost-net (KVM only).
std::string netdev_value(const NetOptions&, unsigned queues, bool vhost);

} // namespace runner
