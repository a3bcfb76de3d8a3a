// NETLINK_ROUTE [rtnetlink(7), RFC 3549 §3.1]: the requests programs send to learn the
// interfaces (getifaddrs, if_nameindex, getaddrinfo's AI_ADDRCONFIG, `ip`), answered from a
// plain snapshot of the stack's interfaces and routes, so the message code needs no Stack
// and runs on the host for the tests and the fuzzer.
//
// What is answered: RTM_GETLINK (dump, and one link by index or IFLA_IFNAME), RTM_GETADDR and
// RTM_GETROUTE dumps (IPv4: families AF_UNSPEC and AF_INET; AF_INET6 dumps are empty — there
// is no IPv6). Everything else that is a request gets NLMSG_ERROR: EOPNOTSUPP for types we do
// not serve (changing links, addresses or routes included), EINVAL or ENODEV as Linux for
// malformed or unmatched GETLINK requests. Acknowledgements follow Linux's netlink_rcv_skb:
// for NLM_F_ACK or an error, never for a dump (its NLMSG_DONE ends it).
#pragma once

#include <lib/result.h>
#include <net/addr.h>
#include <net/netlink/message.h>
#include <stddef.h>
#include <stdint.h>

namespace net {
class Stack;
}

namespace net::netlink {

// Netlink protocols (socket(AF_NETLINK, type, protocol)): only NETLINK_ROUTE is served.
constexpr int kNetlinkRoute = 0;

// Address families as rtnetlink carries them.
constexpr uint8_t kAfUnspec = 0, kAfInet = 2, kAfInet6 = 10;

// rtnetlink message types [rtnetlink(7)]: kind = (type - kRtmBase) & 3 (new, del, get, set).
constexpr uint16_t kRtmBase = 16;
constexpr uint16_t kRtmNewLink = 16, kRtmDelLink = 17, kRtmGetLink = 18, kRtmSetLink = 19;
constexpr uint16_t kRtmNewAddr = 20, kRtmDelAddr = 21, kRtmGetAddr = 22;
constexpr uint16_t kRtmNewRoute = 24, kRtmDelRoute = 25, kRtmGetRoute = 26;
constexpr uint16_t kRtmMax = 123; // RTM_MAX (RTM_GETTUNNEL rounded to a group of four, less one)
constexpr unsigned kKindGet = 2;

// struct ifinfomsg
struct IfInfoMessage {
    uint8_t family;
    uint8_t pad;
    uint16_t type;  // ARPHRD_*
    int32_t index;
    uint32_t flags; // IFF_*
    uint32_t change;
};
static_assert(sizeof(IfInfoMessage) == 16);

// struct ifaddrmsg
struct IfAddrMessage {
    uint8_t family;
    uint8_t prefix_length;
    uint8_t flags; // IFA_F_* (the low 8 bits; IFA_FLAGS carries all 32)
    uint8_t scope;
    uint32_t index;
};
static_assert(sizeof(IfAddrMessage) == 8);

// struct rtmsg
struct RouteMessage {
    uint8_t family;
    uint8_t destination_length;
    uint8_t source_length;
    uint8_t tos;
    uint8_t table;
    uint8_t protocol;
    uint8_t scope;
    uint8_t type;
    uint32_t flags;
};
static_assert(sizeof(RouteMessage) == 12);

// struct rtgenmsg: just a family; what a dump request needs at least.
constexpr size_t kRtGenLength = 1;

// Link attributes (IFLA_*).
constexpr uint16_t kIflaAddress = 1, kIflaBroadcast = 2, kIflaIfname = 3, kIflaMtu = 4, kIflaLink = 5,
                   kIflaQdisc = 6, kIflaStats = 7, kIflaTxqlen = 13, kIflaOperstate = 16, kIflaLinkmode = 17,
                   kIflaStats64 = 23, kIflaGroup = 27, kIflaExtMask = 29, kIflaPromiscuity = 30,
                   kIflaNumTxQueues = 31, kIflaNumRxQueues = 32, kIflaCarrier = 33, kIflaMinMtu = 50,
                   kIflaMaxMtu = 51, kIflaAltIfname = 53;
// struct rtnl_link_stats (IFLA_STATS, 24 __u32) and rtnl_link_stats64 (IFLA_STATS64, 25 __u64
// since Linux 5.19): we keep no counters, so both are zeros of Linux's sizes.
constexpr size_t kLinkStatsLength = 24 * 4, kLinkStats64Length = 25 * 8;

// Address attributes (IFA_*) and flags (IFA_F_*).
constexpr uint16_t kIfaAddress = 1, kIfaLocal = 2, kIfaLabel = 3, kIfaBroadcast = 4, kIfaCacheinfo = 6,
                   kIfaFlags = 8;
constexpr uint32_t kIfaFlagPermanent = 0x80;
// struct ifa_cacheinfo: preferred and valid lifetimes (INFINITY_LIFE_TIME for a permanent
// address), creation and update stamps.
struct IfaCacheinfo {
    uint32_t preferred;
    uint32_t valid;
    uint32_t created;
    uint32_t updated;
};
static_assert(sizeof(IfaCacheinfo) == 16);
constexpr uint32_t kInfinityLifeTime = 0xffffffff;

// Route attributes (RTA_*), tables, protocols, scopes and types.
constexpr uint16_t kRtaDst = 1, kRtaOif = 4, kRtaGateway = 5, kRtaPriority = 6, kRtaPrefsrc = 7, kRtaTable = 15;
constexpr uint8_t kRtTableMain = 254, kRtTableLocal = 255;
constexpr uint8_t kRtprotKernel = 2, kRtprotBoot = 3;
constexpr uint8_t kRtScopeUniverse = 0, kRtScopeLink = 253, kRtScopeHost = 254;
constexpr uint8_t kRtnUnicast = 1, kRtnLocal = 2;

// Interface flags (IFF_*, as SIOCGIFFLAGS and ifinfomsg carry them).
constexpr uint32_t kIffUp = 0x1, kIffBroadcast = 0x2, kIffLoopback = 0x8, kIffRunning = 0x40, kIffNoarp = 0x80,
                   kIffMulticast = 0x1000, kIffLowerUp = 0x10000;
// Link types (ARPHRD_*).
constexpr uint16_t kArphrdEther = 1, kArphrdLoopback = 772;
// RFC 2863 operational states (IF_OPER_*).
constexpr uint8_t kOperUnknown = 0, kOperDown = 2, kOperUp = 6;

// One interface as the answers describe it. The index is Linux's ifindex (1 for lo).
struct LinkSnapshot {
    static constexpr size_t kNameMax = 15; // IFNAMSIZ - 1
    uint32_t index = 0;
    char name[kNameMax + 1] = {};
    uint32_t flags = 0;     // IFF_*
    uint16_t type = 0;      // ARPHRD_*
    uint32_t mtu = 0;
    uint32_t tx_queue_length = 0;
    uint8_t mac[6] = {};
    Ipv4Address address;    // any: none
    uint8_t prefix_length = 0;
    Ipv4Address broadcast;  // any: none (loopback, /31, /32)
};

// One IPv4 route.
struct RouteSnapshot {
    Ipv4Address destination;
    uint8_t prefix_length = 0;
    Ipv4Address gateway; // any: on-link
    Ipv4Address source;  // preferred source (any: none)
    uint32_t index = 0;  // outgoing interface
    uint8_t table = kRtTableMain;
    uint8_t protocol = kRtprotKernel;
    uint8_t scope = kRtScopeLink;
    uint8_t type = kRtnUnicast;
};

// What the answers are built from: copied out of the stack under its lock, then used without it.
struct Snapshot {
    static constexpr size_t kMaxLinks = 8, kMaxRoutes = 32;
    LinkSnapshot links[kMaxLinks];
    size_t link_count = 0;
    RouteSnapshot routes[kMaxRoutes];
    size_t route_count = 0;

    const LinkSnapshot* find_link(uint32_t index) const;
    const LinkSnapshot* find_link(const char* name, size_t length) const;
};

// Fills `out` from `stack`: every interface (index = position + 1, so lo is 1), its flags as
// Linux shows them (lo: UP|LOOPBACK|RUNNING|LOWER_UP; Ethernet: UP|BROADCAST|MULTICAST, with
// RUNNING|LOWER_UP while the link is up) and its IPv4 address, and the routes. The caller
// holds whatever serialises the stack.
void take_snapshot(const Stack& stack, Snapshot& out);

// The requesting socket.
struct RequestContext {
    uint32_t port = 0;         // its port id: every answer carries it in nlmsg_pid
    bool cap_ack = false;      // NETLINK_CAP_ACK: errors do not echo the request's payload
    bool strict_check = false; // NETLINK_GET_STRICT_CHK: dump headers checked and filtered
};

// Answers every message of one datagram sent to the kernel (Linux's netlink_rcv_skb then
// rtnetlink_rcv_msg), appending the answers to `answers`: each dump packed into datagrams of
// its own ending with NLMSG_DONE, every other answer (a single link, an ACK, an error) in a
// datagram of its own. `data` is untrusted. NOMEM when an answer could not be queued (the
// ones before it stay in `answers`).
Result<void> handle_requests(const uint8_t* data, size_t length, const Snapshot& snapshot,
                             const RequestContext& context, DatagramQueue& answers);

} // namespace net::netlink
