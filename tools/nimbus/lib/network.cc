// The network options of `nimbus run` and their QEMU backend.
#include "runner/network.h"

#include <charconv>

#include "runner/devices.h"

namespace runner {

namespace {

constexpr std::string_view kForwardSyntax = "(expected [HOSTADDR:]HOSTPORT:GUESTPORT[/udp])";
constexpr std::string_view kMacSyntax = "expected six hex bytes such as 52:54:00:12:34:57";

bool is_decimal(std::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// A decimal number in [min, max], digits only (no sign, no spaces).
std::optional<unsigned> parse_decimal(std::string_view s, unsigned min, unsigned max) {
    unsigned n = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (!is_decimal(s) || ec != std::errc{} || ptr != s.data() + s.size() || n < min || n > max) {
        return std::nullopt;
    }
    return n;
}

// Dotted-quad IPv4, each part 0..255 without leading zeros (which some parsers read as octal).
bool is_ipv4_address(std::string_view s) {
    for (int part = 0; part < 4; ++part) {
        size_t end = part < 3 ? s.find('.') : s.size();
        if (end == std::string_view::npos) {
            return false;
        }
        std::string_view digits = s.substr(0, end);
        if (digits.size() > 3 || (digits.size() > 1 && digits[0] == '0') ||
            !parse_decimal(digits, 0, 255)) {
            return false;
        }
        s.remove_prefix(part < 3 ? end + 1 : end);
    }
    return s.empty();
}

// Linux's rule for interface names [linux net/core/dev.c, dev_valid_name()].
bool is_interface_name(std::string_view name) {
    if (name.empty() || name.size() > kMaxInterfaceName || name == "." || name == "..") {
        return false;
    }
    for (char c : name) {
        if (c == '/' || c == ':' || c == ' ' || (c >= '\t' && c <= '\r')) {
            return false;
        }
    }
    return true;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

bool is_any_address(const std::string& address) { return address == "0.0.0.0"; }

} // namespace

std::optional<NetOffload> parse_net_offload(std::string_view value) {
    if (value == "all") {
        return NetOffload::All;
    }
    if (value == "csum") {
        return NetOffload::Csum;
    }
    if (value == "none") {
        return NetOffload::None;
    }
    return std::nullopt;
}

Parsed<NetOptions> parse_net_option(std::string_view value) {
    NetOptions net;
    if (value == "user") {
        net.mode = NetMode::User;
    } else if (value == "none") {
        net.mode = NetMode::None;
    } else if (value.starts_with("tap:")) {
        std::string_view name = value.substr(4);
        if (!is_interface_name(name)) {
            return Parsed<NetOptions>::fail(
                "bad tap device name '" + std::string(name) + "' in --net '" + std::string(value) +
                "' (an interface name: 1.." + std::to_string(kMaxInterfaceName) +
                " characters, no '/', ':' or spaces)");
        }
        net.mode = NetMode::Tap;
        net.tap_name = name;
    } else {
        return Parsed<NetOptions>::fail("unknown --net '" + std::string(value) +
                                        "' (expected user, tap:NAME or none)");
    }
    return Parsed<NetOptions>::ok(std::move(net));
}

Parsed<PortForward> parse_port_forward(std::string_view value) {
    std::string quoted = "-p '" + std::string(value) + "'";
    PortForward forward;
    std::string_view rest = value;
    if (size_t slash = rest.rfind('/'); slash != std::string_view::npos) {
        std::string_view protocol = rest.substr(slash + 1);
        if (protocol == "tcp") {
            forward.protocol = PortProtocol::Tcp;
        } else if (protocol == "udp") {
            forward.protocol = PortProtocol::Udp;
        } else {
            return Parsed<PortForward>::fail("bad protocol '" + std::string(protocol) + "' in " + quoted +
                                             " (expected tcp or udp)");
        }
        rest = rest.substr(0, slash);
    }
    std::vector<std::string_view> parts;
    for (size_t start = 0;;) {
        size_t colon = rest.find(':', start);
        parts.push_back(rest.substr(start, colon == std::string_view::npos ? colon : colon - start));
        if (colon == std::string_view::npos) {
            break;
        }
        start = colon + 1;
    }
    if (parts.size() != 2 && parts.size() != 3) {
        return Parsed<PortForward>::fail("bad " + quoted + " " + std::string(kForwardSyntax));
    }
    if (parts.size() == 3) {
        if (!is_ipv4_address(parts[0])) {
            return Parsed<PortForward>::fail("bad host address '" + std::string(parts[0]) + "' in " + quoted +
                                             " (expected an IPv4 address such as 127.0.0.1)");
        }
        forward.host_address = parts[0];
    }
    std::string_view host_port = parts[parts.size() - 2];
    std::string_view guest_port = parts[parts.size() - 1];
    for (std::string_view port : {host_port, guest_port}) {
        if (!parse_decimal(port, 1, 65535)) {
            return Parsed<PortForward>::fail("bad port '" + std::string(port) + "' in " + quoted +
                                             " (expected 1..65535)");
        }
    }
    forward.host_port = static_cast<uint16_t>(*parse_decimal(host_port, 1, 65535));
    forward.guest_port = static_cast<uint16_t>(*parse_decimal(guest_port, 1, 65535));
    return Parsed<PortForward>::ok(std::move(forward));
}

Parsed<std::string> parse_mac_address(std::string_view value) {
    auto bad = [&](std::string_view why) {
        return Parsed<std::string>::fail("bad --mac '" + std::string(value) + "' (" + std::string(why) + ")");
    };
    // "xx:xx:xx:xx:xx:xx": 17 characters, ':' at every third.
    constexpr size_t kTextSize = 6 * 3 - 1;
    if (value.size() != kTextSize) {
        return bad(kMacSyntax);
    }
    std::string out;
    unsigned first = 0;
    bool all_zero = true;
    for (size_t i = 0; i < value.size(); ++i) {
        if (i % 3 == 2) {
            if (value[i] != ':') {
                return bad(kMacSyntax);
            }
            out += ':';
            continue;
        }
        int digit = hex_digit(value[i]);
        if (digit < 0) {
            return bad(kMacSyntax);
        }
        if (i < 2) {
            first = first * 16 + static_cast<unsigned>(digit);
        }
        all_zero = all_zero && digit == 0;
        out += "0123456789abcdef"[digit];
    }
    // The individual/group bit, the first byte's lowest: set for group (multicast and
    // broadcast) addresses, which a NIC cannot own [IEEE Std 802-2014, MAC address format].
    if ((first & 1) != 0) {
        return bad("a multicast address: the first byte is odd; a NIC needs a unicast address");
    }
    if (all_zero) {
        return bad("the all-zero address is not a NIC's address");
    }
    return Parsed<std::string>::ok(std::move(out));
}

std::string port_forward_text(const PortForward& f) {
    return f.host_address + ":" + std::to_string(f.host_port) + ":" + std::to_string(f.guest_port) +
           (f.protocol == PortProtocol::Udp ? "/udp" : "");
}

Status check_net_options(const NetOptions& net) {
    if (!net.forwards.empty() && net.mode == NetMode::Tap) {
        return Status::fail(
            "-p forwards host ports through QEMU's user networking; with --net tap:" + net.tap_name +
            " the guest is reached at its own address on the tap device, so there is nothing to forward");
    }
    if (!net.forwards.empty() && net.mode == NetMode::None) {
        return Status::fail("-p needs a network: it cannot be combined with --net none");
    }
    if (net.mac && net.mode == NetMode::None) {
        return Status::fail("--mac sets the address of the network card, and --net none has none");
    }
    for (size_t i = 0; i < net.forwards.size(); ++i) {
        for (size_t j = 0; j < i; ++j) {
            const PortForward& a = net.forwards[j];
            const PortForward& b = net.forwards[i];
            bool same_address = a.host_address == b.host_address || is_any_address(a.host_address) ||
                                is_any_address(b.host_address);
            if (a.protocol == b.protocol && a.host_port == b.host_port && same_address) {
                return Status::fail("host " + std::string(a.protocol == PortProtocol::Udp ? "udp" : "tcp") +
                                    " port " + std::to_string(a.host_port) + " is forwarded twice (-p " +
                                    port_forward_text(a) + " and -p " + port_forward_text(b) + ")");
            }
        }
    }
    return Status::ok();
}

Status check_tap_queues(const std::string& name, unsigned tun_flags, unsigned queues) {
    bool multi_queue = (tun_flags & kTunMultiQueueFlag) != 0;
    if (multi_queue == (queues > 1)) {
        return Status::ok();
    }
    if (queues > 1) {
        return Status::fail("tap device " + name + " has one queue, but the NIC asks for " + std::to_string(queues) +
                            " (one per vCPU on q35/pc): recreate it multi-queue ('ip link del " + name +
                            "; ip tuntap add dev " + name + " mode tap multi_queue'), or run with --cpus 1");
    }
    return Status::fail("tap device " + name +
                        " is multi-queue, but the NIC uses one queue (--cpus 1, or a microvm machine): recreate it "
                        "without multi_queue ('ip link del " + name + "; ip tuntap add dev " + name + " mode tap')");
}

std::string netdev_value(const NetOptions& net, unsigned queues, bool vhost) {
    std::string value;
    if (net.mode == NetMode::User) {
        value = "user,id=" + std::string(kNetdevId);
        for (const PortForward& f : net.forwards) {
            // hostfwd=PROTO:HOSTADDR:HOSTPORT-GUESTADDR:GUESTPORT; an empty GUESTADDR is the
            // first address QEMU's DHCP server hands out (10.0.2.15).
            value += ",hostfwd=" + std::string(f.protocol == PortProtocol::Udp ? "udp" : "tcp") + ":" +
                     f.host_address + ":" + std::to_string(f.host_port) + "-:" + std::to_string(f.guest_port);
        }
    } else if (net.mode == NetMode::Tap) {
        // script=no, downscript=no: the runner never runs QEMU's network scripts; the device is
        // the user's, set up beforehand (docs/networking.md).
        value = "tap,id=" + std::string(kNetdevId) + ",ifname=" + escape_qemu_option_value(net.tap_name) +
                ",script=no,downscript=no,vhost=" + (vhost ? "on" : "off");
        if (queues > 1) {
            value += ",queues=" + std::to_string(queues);
        }
        if (net.offload == NetOffload::None) {
            value += ",vnet_hdr=off"; // no header: QEMU offers no offload (docs/networking.md)
        }
    }
    return value;
}

} // namespace runner
