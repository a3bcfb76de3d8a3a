// Unit tests for kernel/net/netlink: the wire format (reader, attributes, writer, datagram
// queue), the snapshot of a stack, and NETLINK_ROUTE requests answered and re-parsed — dumps,
// single links, acknowledgements, errors for what is unsupported or malformed. The constants
// are checked against the host's Linux UAPI headers (the kernel's own are written from the
// man pages).
#include "net_test_support.h"

#include <net/netlink/message.h>
#include <net/netlink/route.h>

#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_arp.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <sys/socket.h>

#include <cerrno>
#include <map>
#include <string>

namespace {

using namespace nettest;
namespace nl = net::netlink;

// --- constants and layouts against <linux/...> ---

static_assert(sizeof(nl::MessageHeader) == sizeof(struct nlmsghdr));
static_assert(nl::kHeaderLength == NLMSG_HDRLEN);
static_assert(nl::align(5) == NLMSG_ALIGN(5) && nl::align(5) == NLA_ALIGN(5));
static_assert(nl::kMsgNoop == NLMSG_NOOP && nl::kMsgError == NLMSG_ERROR && nl::kMsgDone == NLMSG_DONE &&
              nl::kMsgOverrun == NLMSG_OVERRUN && nl::kMsgMinType == NLMSG_MIN_TYPE);
static_assert(nl::kFlagRequest == NLM_F_REQUEST && nl::kFlagMulti == NLM_F_MULTI && nl::kFlagAck == NLM_F_ACK &&
              nl::kFlagEcho == NLM_F_ECHO && nl::kFlagDumpIntr == NLM_F_DUMP_INTR &&
              nl::kFlagDumpFiltered == NLM_F_DUMP_FILTERED && nl::kFlagRoot == NLM_F_ROOT &&
              nl::kFlagMatch == NLM_F_MATCH && nl::kFlagAtomic == NLM_F_ATOMIC && nl::kFlagDump == NLM_F_DUMP &&
              nl::kFlagCapped == NLM_F_CAPPED && nl::kFlagAckTlvs == NLM_F_ACK_TLVS);
static_assert(nl::kErrorLength == sizeof(struct nlmsgerr));
static_assert(sizeof(nl::SockaddrNl) == sizeof(struct sockaddr_nl) && nl::kAfNetlink == AF_NETLINK);
static_assert(nl::kNetlinkRoute == NETLINK_ROUTE);
static_assert(nl::kRtmNewLink == RTM_NEWLINK && nl::kRtmDelLink == RTM_DELLINK && nl::kRtmGetLink == RTM_GETLINK &&
              nl::kRtmSetLink == RTM_SETLINK && nl::kRtmNewAddr == RTM_NEWADDR && nl::kRtmDelAddr == RTM_DELADDR &&
              nl::kRtmGetAddr == RTM_GETADDR && nl::kRtmNewRoute == RTM_NEWROUTE &&
              nl::kRtmDelRoute == RTM_DELROUTE && nl::kRtmGetRoute == RTM_GETROUTE && nl::kRtmBase == RTM_BASE);
static_assert(nl::kRtmMax <= RTM_MAX); // older headers may stop earlier: never beyond
static_assert(sizeof(nl::IfInfoMessage) == sizeof(struct ifinfomsg) &&
              sizeof(nl::IfAddrMessage) == sizeof(struct ifaddrmsg) &&
              sizeof(nl::RouteMessage) == sizeof(struct rtmsg) && sizeof(nl::IfaCacheinfo) == sizeof(struct ifa_cacheinfo));
static_assert(nl::kIflaAddress == IFLA_ADDRESS && nl::kIflaBroadcast == IFLA_BROADCAST &&
              nl::kIflaIfname == IFLA_IFNAME && nl::kIflaMtu == IFLA_MTU && nl::kIflaLink == IFLA_LINK &&
              nl::kIflaQdisc == IFLA_QDISC && nl::kIflaStats == IFLA_STATS && nl::kIflaTxqlen == IFLA_TXQLEN &&
              nl::kIflaOperstate == IFLA_OPERSTATE && nl::kIflaLinkmode == IFLA_LINKMODE &&
              nl::kIflaStats64 == IFLA_STATS64 && nl::kIflaGroup == IFLA_GROUP && nl::kIflaExtMask == IFLA_EXT_MASK &&
              nl::kIflaPromiscuity == IFLA_PROMISCUITY && nl::kIflaNumTxQueues == IFLA_NUM_TX_QUEUES &&
              nl::kIflaNumRxQueues == IFLA_NUM_RX_QUEUES && nl::kIflaCarrier == IFLA_CARRIER &&
              nl::kIflaMinMtu == IFLA_MIN_MTU && nl::kIflaMaxMtu == IFLA_MAX_MTU);
static_assert(nl::kLinkStatsLength == sizeof(struct rtnl_link_stats));
static_assert(nl::kLinkStats64Length >= sizeof(struct rtnl_link_stats64) - 8); // 24 or 25 fields
static_assert(nl::kIfaAddress == IFA_ADDRESS && nl::kIfaLocal == IFA_LOCAL && nl::kIfaLabel == IFA_LABEL &&
              nl::kIfaBroadcast == IFA_BROADCAST && nl::kIfaCacheinfo == IFA_CACHEINFO && nl::kIfaFlags == IFA_FLAGS &&
              nl::kIfaFlagPermanent == IFA_F_PERMANENT);
static_assert(nl::kRtaDst == RTA_DST && nl::kRtaOif == RTA_OIF && nl::kRtaGateway == RTA_GATEWAY &&
              nl::kRtaPriority == RTA_PRIORITY && nl::kRtaPrefsrc == RTA_PREFSRC && nl::kRtaTable == RTA_TABLE);
static_assert(nl::kRtTableMain == RT_TABLE_MAIN && nl::kRtTableLocal == RT_TABLE_LOCAL &&
              nl::kRtprotKernel == RTPROT_KERNEL && nl::kRtprotBoot == RTPROT_BOOT &&
              nl::kRtScopeUniverse == RT_SCOPE_UNIVERSE && nl::kRtScopeLink == RT_SCOPE_LINK &&
              nl::kRtScopeHost == RT_SCOPE_HOST && nl::kRtnUnicast == RTN_UNICAST && nl::kRtnLocal == RTN_LOCAL);
static_assert(nl::kIffUp == IFF_UP && nl::kIffBroadcast == IFF_BROADCAST && nl::kIffLoopback == IFF_LOOPBACK &&
              nl::kIffRunning == IFF_RUNNING && nl::kIffNoarp == IFF_NOARP && nl::kIffMulticast == IFF_MULTICAST &&
              nl::kIffLowerUp == IFF_LOWER_UP);
static_assert(nl::kArphrdEther == ARPHRD_ETHER && nl::kArphrdLoopback == ARPHRD_LOOPBACK);
static_assert(nl::kOperUnknown == IF_OPER_UNKNOWN && nl::kOperDown == IF_OPER_DOWN && nl::kOperUp == IF_OPER_UP);

// --- helpers ---

struct Parsed {
    nl::MessageHeader header;
    Bytes payload;
    size_t datagram; // which datagram it came in
};

// Every datagram of `q` split into messages, checking the framing as a reader would:
// nlmsg_len ≥ the header, within the datagram, messages 4-byte aligned, nothing left over.
std::vector<Parsed> drain(nl::DatagramQueue& q)
{
    std::vector<Parsed> out;
    for (size_t n = 0; !q.is_empty(); n++) {
        const nl::Datagram* d = q.front();
        size_t at = 0;
        while (at < d->length) {
            EXPECT_GE(d->length - at, nl::kHeaderLength);
            if (d->length - at < nl::kHeaderLength)
                break;
            Parsed p;
            memcpy(&p.header, d->bytes() + at, sizeof p.header);
            EXPECT_GE(p.header.length, nl::kHeaderLength);
            EXPECT_LE(p.header.length, d->length - at);
            if (p.header.length < nl::kHeaderLength || p.header.length > d->length - at)
                break;
            p.payload.assign(d->bytes() + at + nl::kHeaderLength, d->bytes() + at + p.header.length);
            p.datagram = n;
            out.push_back(p);
            at += nl::align(p.header.length);
        }
        EXPECT_EQ(at, nl::align(d->length));
        q.pop_front();
    }
    EXPECT_EQ(q.byte_count(), 0u);
    return out;
}

// The attributes of a payload after a family header of `skip` bytes: type → data.
std::map<uint16_t, Bytes> attributes(const Parsed& p, size_t skip)
{
    std::map<uint16_t, Bytes> out;
    EXPECT_GE(p.payload.size(), skip);
    nl::AttributeReader r(p.payload.data() + skip, p.payload.size() - skip);
    nl::Attribute a;
    while (r.next(a)) {
        EXPECT_EQ(out.count(a.type), 0u) << "attribute " << a.type << " twice";
        out[a.type] = Bytes(a.data, a.data + a.length);
    }
    EXPECT_FALSE(r.malformed());
    return out;
}

uint32_t u32(const Bytes& b)
{
    uint32_t v = 0;
    EXPECT_EQ(b.size(), 4u);
    memcpy(&v, b.data(), b.size() < 4 ? b.size() : 4);
    return v;
}

std::string text(const Bytes& b)
{
    EXPECT_FALSE(b.empty());
    EXPECT_EQ(b.back(), 0);
    return std::string(b.begin(), b.end() - (b.empty() ? 0 : 1));
}

net::Ipv4Address addr(const Bytes& b)
{
    EXPECT_EQ(b.size(), 4u);
    return b.size() == 4 ? net::Ipv4Address{ net::load_be32(b.data()) } : net::Ipv4Address{};
}

int32_t error_of(const Parsed& p)
{
    int32_t e = 1;
    EXPECT_EQ(p.header.type, nl::kMsgError);
    EXPECT_GE(p.payload.size(), nl::kErrorLength);
    if (p.payload.size() >= 4)
        memcpy(&e, p.payload.data(), 4);
    return e;
}

// A request: header, a family header, then raw bytes (attributes).
Bytes request(uint16_t type, uint16_t flags, uint32_t seq, const Bytes& body)
{
    Bytes b(16);
    nl::MessageHeader h{ uint32_t(16 + body.size()), type, flags, seq, 0 };
    memcpy(b.data(), &h, 16);
    b.insert(b.end(), body.begin(), body.end());
    return b;
}

template<typename T>
Bytes bytes_of(const T& v)
{
    return Bytes(reinterpret_cast<const uint8_t*>(&v), reinterpret_cast<const uint8_t*>(&v) + sizeof v);
}

Bytes attribute(uint16_t type, const Bytes& data)
{
    Bytes b(4);
    nl::AttributeHeader h{ uint16_t(4 + data.size()), type };
    memcpy(b.data(), &h, 4);
    b.insert(b.end(), data.begin(), data.end());
    b.resize(nl::align(b.size()));
    return b;
}

Bytes cat(Bytes a, const Bytes& b)
{
    a.resize(nl::align(a.size()));
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

constexpr uint32_t kPort = 4242;

// The fixture: a stack with lo and eth0 (10.0.0.2/24 via 10.0.0.1), its snapshot, and a call
// that sends a datagram of requests and parses every answer.
struct Netlink : ::testing::Test {
    Netlink() { nl::take_snapshot(host.stack, snapshot); }

    std::vector<Parsed> send(const Bytes& datagram)
    {
        nl::DatagramQueue q;
        EXPECT_FALSE(nl::handle_requests(datagram.data(), datagram.size(), snapshot, context, q).is_error());
        for (const nl::Datagram* d = q.front(); d; d = d->next)
            EXPECT_LE(d->length, d->capacity);
        return drain(q);
    }

    Host host;
    nl::Snapshot snapshot;
    nl::RequestContext context{ kPort, false, false };
};

// --- the wire format ---

TEST(NetlinkWire, ReaderStopsAtShortOrOverlongMessages)
{
    Bytes a = request(nl::kRtmGetLink, nl::kFlagRequest, 1, Bytes{ 0 }); // 17 bytes, padded to 20
    Bytes two = cat(a, request(nl::kRtmGetAddr, nl::kFlagRequest, 2, Bytes{ 0 }));
    nl::MessageReader r(two.data(), two.size());
    nl::Message m;
    ASSERT_TRUE(r.next(m));
    EXPECT_EQ(m.header.sequence, 1u);
    EXPECT_EQ(m.payload_length, 1u);
    ASSERT_TRUE(r.next(m));
    EXPECT_EQ(m.header.sequence, 2u);
    EXPECT_FALSE(r.next(m));

    // The last message unpadded at the end of the datagram is whole.
    nl::MessageReader r1(a.data(), a.size());
    EXPECT_TRUE(r1.next(m));
    EXPECT_FALSE(r1.next(m));

    for (uint32_t bad : { 0u, 15u, 18u, 0xffffffffu }) {
        Bytes b = a;
        memcpy(b.data(), &bad, 4);
        nl::MessageReader rb(b.data(), b.size());
        EXPECT_FALSE(rb.next(m)) << bad;
        EXPECT_FALSE(rb.next(m));
    }
    Bytes shorter(a.begin(), a.begin() + 15);
    nl::MessageReader rs(shorter.data(), shorter.size());
    EXPECT_FALSE(rs.next(m));
}

TEST(NetlinkWire, AttributesAreBoundedAndAligned)
{
    Bytes b = cat(attribute(3, Bytes{ 'l', 'o', 0 }), attribute(4, bytes_of(uint32_t(1500))));
    b.push_back(0); // trailing bytes shorter than an attribute header are ignored
    nl::AttributeReader r(b.data(), b.size());
    nl::Attribute a;
    ASSERT_TRUE(r.next(a));
    EXPECT_EQ(a.type, 3);
    EXPECT_EQ(a.length, 3u);
    ASSERT_TRUE(r.next(a));
    EXPECT_EQ(a.type, 4);
    EXPECT_EQ(a.length, 4u);
    EXPECT_FALSE(r.next(a));
    EXPECT_FALSE(r.malformed());

    Bytes nested = attribute(0x8000 | 5, Bytes(4, 1));
    nl::AttributeReader rn(nested.data(), nested.size());
    ASSERT_TRUE(rn.next(a));
    EXPECT_EQ(a.type, 5); // NLA_F_NESTED masked off

    for (uint16_t bad : { 0, 3, 13 }) {
        Bytes c = attribute(1, Bytes(4, 0)); // 8 bytes
        memcpy(c.data(), &bad, 2);
        nl::AttributeReader rc(c.data(), c.size());
        EXPECT_FALSE(rc.next(a)) << bad;
        EXPECT_TRUE(rc.malformed()) << bad;
    }
}

TEST(NetlinkWire, WriterNeverOverrunsAndZeroesPadding)
{
    uint8_t buffer[40];
    memset(buffer, 0xee, sizeof buffer);
    nl::MessageWriter w(buffer, 32);
    ASSERT_TRUE(w.begin(nl::kRtmNewLink, nl::kFlagMulti, 7, kPort));
    ASSERT_TRUE(w.put_string(nl::kIflaIfname, "lo")); // 4 + 3 → 8
    EXPECT_EQ(buffer[16 + 7], 0);                      // padding zeroed
    ASSERT_TRUE(w.put_u32(nl::kIflaMtu, 65536));      // 32 bytes: full
    EXPECT_FALSE(w.put_u8(nl::kIflaCarrier, 1));
    EXPECT_TRUE(w.failed());
    EXPECT_EQ(w.finish(), 0u);
    for (size_t i = 32; i < sizeof buffer; i++)
        EXPECT_EQ(buffer[i], 0xee);

    nl::MessageWriter w2(buffer, sizeof buffer);
    ASSERT_TRUE(w2.begin(nl::kMsgDone, 0, 1, 2));
    ASSERT_TRUE(w2.put("abcde", 5));
    EXPECT_EQ(w2.finish(), 24u); // padding counts, as in Linux's nlmsg_append
    EXPECT_EQ(buffer[16 + 5], 0);
    uint32_t length;
    memcpy(&length, buffer, 4);
    EXPECT_EQ(length, 24u);
}

TEST(NetlinkWire, DatagramQueuePacksDumpsAndSplices)
{
    nl::DatagramQueue q;
    Bytes m(1000, 0x11);
    for (int i = 0; i < 8; i++)
        ASSERT_FALSE(q.append(m.data(), m.size(), true).is_error());
    EXPECT_EQ(q.datagram_count(), 3u); // three per 3776-byte datagram
    ASSERT_FALSE(q.append(m.data(), 21, false).is_error());
    ASSERT_FALSE(q.append(m.data(), 21, true).is_error()); // not into the unpacked one
    EXPECT_EQ(q.datagram_count(), 5u);
    q.seal();
    ASSERT_FALSE(q.append(m.data(), 21, true).is_error());
    EXPECT_EQ(q.datagram_count(), 6u);
    Bytes big(5000, 0x22); // bigger than a datagram: one of its own
    ASSERT_FALSE(q.append(big.data(), big.size(), true).is_error());
    EXPECT_EQ(q.datagram_count(), 7u);
    size_t total = q.byte_count();
    EXPECT_EQ(q.front()->length, 3000u);

    nl::DatagramQueue other;
    ASSERT_FALSE(other.append(m.data(), 100, true).is_error());
    q.splice(other);
    EXPECT_TRUE(other.is_empty());
    EXPECT_EQ(q.datagram_count(), 8u);
    EXPECT_EQ(q.byte_count(), total + 100);
    ASSERT_FALSE(q.append(m.data(), 21, true).is_error()); // never into a spliced datagram
    EXPECT_EQ(q.datagram_count(), 9u);
    q.clear();
    EXPECT_TRUE(q.is_empty());
    EXPECT_EQ(q.byte_count(), 0u);
}

// --- the snapshot ---

TEST_F(Netlink, SnapshotDescribesInterfacesAndRoutes)
{
    ASSERT_EQ(snapshot.link_count, 2u);
    const nl::LinkSnapshot& lo = snapshot.links[0];
    EXPECT_EQ(lo.index, 1u);
    EXPECT_STREQ(lo.name, "lo");
    EXPECT_EQ(lo.flags, uint32_t(IFF_UP | IFF_LOOPBACK | IFF_RUNNING | IFF_LOWER_UP));
    EXPECT_EQ(lo.type, ARPHRD_LOOPBACK);
    EXPECT_EQ(lo.mtu, 65536u);
    EXPECT_EQ(lo.address, ip(127, 0, 0, 1));
    EXPECT_EQ(lo.prefix_length, 8);
    EXPECT_TRUE(lo.broadcast.is_any());
    const nl::LinkSnapshot& eth = snapshot.links[1];
    EXPECT_EQ(eth.index, 2u);
    EXPECT_STREQ(eth.name, "eth0");
    EXPECT_EQ(eth.flags, uint32_t(IFF_UP | IFF_BROADCAST | IFF_MULTICAST | IFF_RUNNING | IFF_LOWER_UP));
    EXPECT_EQ(eth.type, ARPHRD_ETHER);
    EXPECT_EQ(eth.mtu, 1500u);
    EXPECT_EQ(memcmp(eth.mac, mac(2).bytes, 6), 0);
    EXPECT_EQ(eth.address, ip(10, 0, 0, 2));
    EXPECT_EQ(eth.prefix_length, 24);
    EXPECT_EQ(eth.broadcast, ip(10, 0, 0, 255));

    ASSERT_EQ(snapshot.route_count, 3u); // 127/8, 10.0.0.0/24, default
    bool local = false, connected = false, gateway = false;
    for (size_t i = 0; i < snapshot.route_count; i++) {
        const nl::RouteSnapshot& r = snapshot.routes[i];
        if (r.prefix_length == 8) {
            local = r.index == 1 && r.table == RT_TABLE_LOCAL && r.type == RTN_LOCAL && r.scope == RT_SCOPE_HOST;
        } else if (r.prefix_length == 24) {
            connected = r.index == 2 && r.destination == ip(10, 0, 0, 0) && r.gateway.is_any() &&
                        r.source == ip(10, 0, 0, 2) && r.scope == RT_SCOPE_LINK && r.table == RT_TABLE_MAIN;
        } else if (r.prefix_length == 0) {
            gateway = r.index == 2 && r.gateway == ip(10, 0, 0, 1) && r.scope == RT_SCOPE_UNIVERSE;
        }
    }
    EXPECT_TRUE(local && connected && gateway);

    host.eth.set_link_up(false);
    ASSERT_FALSE(host.stack.set_ipv4_address(host.eth, {}, 0).is_error());
    nl::take_snapshot(host.stack, snapshot);
    EXPECT_EQ(snapshot.links[1].flags, uint32_t(IFF_UP | IFF_BROADCAST | IFF_MULTICAST));
    EXPECT_TRUE(snapshot.links[1].address.is_any());
}

// --- requests ---

TEST_F(Netlink, LinkDumpAsGlibcAndMuslSendIt)
{
    // glibc: rtgenmsg and 3 bytes of padding in nlmsg_len (20); musl: 17 bytes.
    for (size_t body : { 4u, 1u }) {
        auto answers = send(request(nl::kRtmGetLink, NLM_F_ROOT | NLM_F_MATCH | NLM_F_REQUEST, 77, Bytes(body, 0)));
        ASSERT_EQ(answers.size(), 3u);
        for (const Parsed& p : answers) {
            EXPECT_EQ(p.header.sequence, 77u);
            EXPECT_EQ(p.header.port, kPort);
            EXPECT_EQ(p.header.flags & NLM_F_MULTI, NLM_F_MULTI);
            EXPECT_EQ(p.datagram, 0u); // one datagram holds the whole small dump
        }
        for (size_t i = 0; i < 2; i++) {
            const Parsed& p = answers[i];
            EXPECT_EQ(p.header.type, RTM_NEWLINK);
            ifinfomsg ifi;
            ASSERT_GE(p.payload.size(), sizeof ifi);
            memcpy(&ifi, p.payload.data(), sizeof ifi);
            EXPECT_EQ(ifi.ifi_index, int(i + 1));
            EXPECT_EQ(ifi.ifi_flags, snapshot.links[i].flags);
            EXPECT_EQ(ifi.ifi_type, snapshot.links[i].type);
            auto attrs = attributes(p, sizeof ifi);
            EXPECT_EQ(text(attrs[IFLA_IFNAME]), i == 0 ? "lo" : "eth0");
            EXPECT_EQ(u32(attrs[IFLA_MTU]), i == 0 ? 65536u : 1500u);
            EXPECT_EQ(u32(attrs[IFLA_TXQLEN]), 1000u);
            ASSERT_EQ(attrs[IFLA_ADDRESS].size(), 6u);
            ASSERT_EQ(attrs[IFLA_BROADCAST].size(), 6u);
            if (i == 1) {
                EXPECT_EQ(memcmp(attrs[IFLA_ADDRESS].data(), mac(2).bytes, 6), 0);
                EXPECT_EQ(attrs[IFLA_BROADCAST], Bytes(6, 0xff));
                EXPECT_EQ(attrs[IFLA_OPERSTATE], Bytes{ IF_OPER_UP });
            } else {
                EXPECT_EQ(attrs[IFLA_OPERSTATE], Bytes{ IF_OPER_UNKNOWN });
            }
            EXPECT_EQ(attrs[IFLA_STATS].size(), sizeof(rtnl_link_stats));
            EXPECT_GE(attrs[IFLA_STATS64].size(), sizeof(rtnl_link_stats64) - 8);
        }
        const Parsed& done = answers[2];
        EXPECT_EQ(done.header.type, NLMSG_DONE);
        EXPECT_EQ(done.header.length, 20u);
        EXPECT_EQ(done.payload, Bytes(4, 0));
    }
}

TEST_F(Netlink, AddressDumpIsIpv4Only)
{
    for (uint8_t family : { AF_UNSPEC, AF_INET }) {
        auto answers = send(request(RTM_GETADDR, NLM_F_DUMP | NLM_F_REQUEST, 5, Bytes{ family, 0, 0, 0 }));
        ASSERT_EQ(answers.size(), 3u);
        for (size_t i = 0; i < 2; i++) {
            const Parsed& p = answers[i];
            EXPECT_EQ(p.header.type, RTM_NEWADDR);
            EXPECT_EQ(p.header.flags, NLM_F_MULTI);
            ifaddrmsg ifa;
            ASSERT_GE(p.payload.size(), sizeof ifa);
            memcpy(&ifa, p.payload.data(), sizeof ifa);
            EXPECT_EQ(ifa.ifa_family, AF_INET);
            EXPECT_EQ(ifa.ifa_index, i + 1);
            EXPECT_EQ(ifa.ifa_prefixlen, i == 0 ? 8 : 24);
            EXPECT_EQ(ifa.ifa_scope, i == 0 ? RT_SCOPE_HOST : RT_SCOPE_UNIVERSE);
            auto attrs = attributes(p, sizeof ifa);
            net::Ipv4Address expected = i == 0 ? ip(127, 0, 0, 1) : ip(10, 0, 0, 2);
            EXPECT_EQ(addr(attrs[IFA_ADDRESS]), expected);
            EXPECT_EQ(addr(attrs[IFA_LOCAL]), expected);
            EXPECT_EQ(text(attrs[IFA_LABEL]), i == 0 ? "lo" : "eth0");
            EXPECT_EQ(attrs.count(IFA_BROADCAST), i == 0 ? 0u : 1u);
            if (i == 1)
                EXPECT_EQ(addr(attrs[IFA_BROADCAST]), ip(10, 0, 0, 255));
            EXPECT_EQ(u32(attrs[IFA_FLAGS]), uint32_t(IFA_F_PERMANENT));
            EXPECT_EQ(attrs[IFA_CACHEINFO].size(), sizeof(ifa_cacheinfo));
        }
        EXPECT_EQ(answers[2].header.type, NLMSG_DONE);
    }
    auto v6 = send(request(RTM_GETADDR, NLM_F_DUMP | NLM_F_REQUEST, 6, Bytes{ AF_INET6 }));
    ASSERT_EQ(v6.size(), 1u);
    EXPECT_EQ(v6[0].header.type, NLMSG_DONE);
    EXPECT_EQ(v6[0].header.sequence, 6u);
}

TEST_F(Netlink, RouteDump)
{
    nl::RouteMessage rtm{};
    rtm.family = AF_INET;
    auto answers = send(request(RTM_GETROUTE, NLM_F_DUMP | NLM_F_REQUEST, 9, bytes_of(rtm)));
    ASSERT_EQ(answers.size(), 4u);
    bool saw_default = false;
    for (size_t i = 0; i < 3; i++) {
        EXPECT_EQ(answers[i].header.type, RTM_NEWROUTE);
        rtmsg rt;
        memcpy(&rt, answers[i].payload.data(), sizeof rt);
        auto attrs = attributes(answers[i], sizeof rt);
        EXPECT_EQ(u32(attrs[RTA_TABLE]), rt.rtm_table);
        EXPECT_EQ(attrs.count(RTA_DST), rt.rtm_dst_len ? 1u : 0u);
        if (rt.rtm_dst_len == 0) {
            saw_default = true;
            EXPECT_EQ(addr(attrs[RTA_GATEWAY]), ip(10, 0, 0, 1));
            EXPECT_EQ(u32(attrs[RTA_OIF]), 2u);
        }
    }
    EXPECT_TRUE(saw_default);
    EXPECT_EQ(answers[3].header.type, NLMSG_DONE);
}

TEST_F(Netlink, SingleLinkByIndexOrName)
{
    nl::IfInfoMessage by_index{};
    by_index.index = 2;
    auto a = send(request(RTM_GETLINK, NLM_F_REQUEST, 1, bytes_of(by_index)));
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].header.type, RTM_NEWLINK);
    EXPECT_EQ(a[0].header.flags, 0);
    EXPECT_EQ(text(attributes(a[0], sizeof(ifinfomsg))[IFLA_IFNAME]), "eth0");

    // By name, with an acknowledgement after the answer.
    Bytes body = cat(bytes_of(nl::IfInfoMessage{}), attribute(IFLA_IFNAME, Bytes{ 'l', 'o', 0 }));
    auto b = send(request(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, 2, body));
    ASSERT_EQ(b.size(), 2u);
    EXPECT_EQ(b[0].datagram, 0u);
    EXPECT_EQ(b[1].datagram, 1u); // an ACK is a datagram of its own
    EXPECT_EQ(text(attributes(b[0], sizeof(ifinfomsg))[IFLA_IFNAME]), "lo");
    EXPECT_EQ(error_of(b[1]), 0);
    EXPECT_EQ(b[1].header.flags, NLM_F_CAPPED);
    EXPECT_EQ(b[1].header.length, 36u);
    EXPECT_EQ(b[1].header.sequence, 2u);

    // A name without its NUL counts too.
    Bytes unterminated = cat(bytes_of(nl::IfInfoMessage{}), attribute(IFLA_IFNAME, Bytes{ 'e', 't', 'h', '0' }));
    auto c = send(request(RTM_GETLINK, NLM_F_REQUEST, 3, unterminated));
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(c[0].header.type, RTM_NEWLINK);
}

TEST_F(Netlink, SingleLinkErrors)
{
    nl::IfInfoMessage missing{};
    missing.index = 99;
    auto a = send(request(RTM_GETLINK, NLM_F_REQUEST, 1, bytes_of(missing)));
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(error_of(a[0]), -ENODEV);
    EXPECT_EQ(a[0].header.flags, 0); // the request's payload is echoed: not capped
    EXPECT_EQ(a[0].header.length, 20u + 32u);
    EXPECT_EQ(a[0].header.port, kPort);

    auto b = send(request(RTM_GETLINK, NLM_F_REQUEST, 2, Bytes{ 0 })); // no ifinfomsg
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(error_of(b[0]), -EINVAL);
    EXPECT_EQ(b[0].header.length, 20u + 20u); // the echoed request padded, as Linux's netlink_ack

    auto c = send(request(RTM_GETLINK, NLM_F_REQUEST, 3, bytes_of(nl::IfInfoMessage{}))); // neither index nor name
    ASSERT_EQ(c.size(), 1u);
    EXPECT_EQ(error_of(c[0]), -EINVAL);

    Bytes bad_attr = cat(bytes_of(nl::IfInfoMessage{}), Bytes{ 40, 0, 3, 0, 'l', 'o', 0, 0 });
    auto d = send(request(RTM_GETLINK, NLM_F_REQUEST, 4, bad_attr));
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(error_of(d[0]), -EINVAL);

    Bytes long_name = cat(bytes_of(nl::IfInfoMessage{}), attribute(IFLA_IFNAME, Bytes(20, 'x')));
    auto e = send(request(RTM_GETLINK, NLM_F_REQUEST, 5, long_name));
    ASSERT_EQ(e.size(), 1u);
    EXPECT_EQ(error_of(e[0]), -EINVAL);

    Bytes unknown_name = cat(bytes_of(nl::IfInfoMessage{}), attribute(IFLA_IFNAME, Bytes{ 'x', 0 }));
    auto f = send(request(RTM_GETLINK, NLM_F_REQUEST, 6, unknown_name));
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(error_of(f[0]), -ENODEV);
}

TEST_F(Netlink, UnsupportedRequestsGetEopnotsupp)
{
    for (uint16_t type : { uint16_t(RTM_NEWLINK), uint16_t(RTM_DELADDR), uint16_t(RTM_NEWROUTE),
                           uint16_t(RTM_GETADDR), uint16_t(RTM_GETROUTE), uint16_t(30 /* RTM_GETNEIGH */),
                           uint16_t(127), uint16_t(0xffff) }) {
        auto a = send(request(type, NLM_F_REQUEST, type, bytes_of(nl::IfInfoMessage{})));
        ASSERT_EQ(a.size(), 1u) << type;
        EXPECT_EQ(error_of(a[0]), -EOPNOTSUPP) << type;
        nlmsghdr echoed;
        memcpy(&echoed, a[0].payload.data() + 4, sizeof echoed);
        EXPECT_EQ(echoed.nlmsg_type, type);
        EXPECT_EQ(echoed.nlmsg_seq, type);
        EXPECT_EQ(a[0].payload.size(), 4u + 32u);
    }
    auto dump = send(request(30, NLM_F_DUMP | NLM_F_REQUEST, 1, Bytes{ 0 }));
    ASSERT_EQ(dump.size(), 1u);
    EXPECT_EQ(error_of(dump[0]), -EOPNOTSUPP);

    context.cap_ack = true; // NETLINK_CAP_ACK: only the header is echoed
    auto capped = send(request(RTM_NEWLINK, NLM_F_REQUEST, 1, Bytes(100, 0)));
    ASSERT_EQ(capped.size(), 1u);
    EXPECT_EQ(capped[0].header.flags, NLM_F_CAPPED);
    EXPECT_EQ(capped[0].header.length, 36u);
}

TEST_F(Netlink, ControlMessagesAndNonRequests)
{
    // Not a request: ignored, unless an ACK is asked for (then error 0).
    EXPECT_TRUE(send(request(RTM_GETLINK, NLM_F_DUMP, 1, Bytes{ 0 })).empty());
    auto a = send(request(RTM_GETLINK, NLM_F_DUMP | NLM_F_ACK, 1, Bytes{ 0 }));
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(error_of(a[0]), 0);
    // Control types (below NLMSG_MIN_TYPE) are skipped.
    EXPECT_TRUE(send(request(NLMSG_NOOP, NLM_F_REQUEST, 1, Bytes{})).empty());
    EXPECT_TRUE(send(request(NLMSG_DONE, NLM_F_REQUEST, 1, Bytes(4, 0))).empty());
    // A request without even an rtgenmsg: ignored (ACKed if asked).
    EXPECT_TRUE(send(request(RTM_GETLINK, NLM_F_DUMP | NLM_F_REQUEST, 1, Bytes{})).empty());
    auto b = send(request(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, 4, Bytes{}));
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(error_of(b[0]), 0);
    // A dump is never acknowledged: its NLMSG_DONE ends it.
    auto c = send(request(RTM_GETADDR, NLM_F_DUMP | NLM_F_REQUEST | NLM_F_ACK, 1, Bytes{ 0 }));
    ASSERT_EQ(c.size(), 3u);
    EXPECT_EQ(c.back().header.type, NLMSG_DONE);
}

TEST_F(Netlink, SeveralRequestsInOneDatagramAndGarbageAfter)
{
    Bytes d = cat(request(RTM_GETLINK, NLM_F_DUMP | NLM_F_REQUEST, 1, Bytes{ 0 }),
                  request(RTM_GETADDR, NLM_F_DUMP | NLM_F_REQUEST, 2, Bytes{ 0 }));
    d = cat(d, request(200, NLM_F_REQUEST, 3, Bytes{ 0 }));
    Bytes garbage = cat(d, Bytes{ 0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 }); // overlong
    for (const Bytes& datagram : { d, garbage }) {
        auto a = send(datagram);
        ASSERT_EQ(a.size(), 3u + 3u + 1u);
        EXPECT_EQ(a[2].header.type, NLMSG_DONE);
        EXPECT_EQ(a[2].header.sequence, 1u);
        EXPECT_EQ(a[3].datagram, 1u); // each dump in its own datagrams
        EXPECT_EQ(a[5].header.type, NLMSG_DONE);
        EXPECT_EQ(a[5].header.sequence, 2u);
        EXPECT_EQ(error_of(a[6]), -EOPNOTSUPP);
        EXPECT_EQ(a[6].datagram, 2u);
    }
    // A first message overrunning the datagram: nothing at all.
    Bytes overrun = d;
    uint32_t big = uint32_t(d.size() + 1);
    memcpy(overrun.data(), &big, 4);
    EXPECT_TRUE(send(overrun).empty());
}

TEST_F(Netlink, FullDumpStaysWithinTheDatagramLimit)
{
    std::vector<std::unique_ptr<FakeEthernet>> nics;
    for (size_t i = 2; i < net::Stack::kMaxInterfaces; i++) {
        nics.push_back(std::make_unique<FakeEthernet>(("eth" + std::to_string(i - 1)).c_str(), mac(uint8_t(i + 10))));
        ASSERT_FALSE(host.stack.add_interface(*nics.back()).is_error());
        ASSERT_FALSE(host.stack.set_ipv4_address(*nics.back(), ip(10, uint8_t(i), 0, 2), 16).is_error());
    }
    nl::take_snapshot(host.stack, snapshot);
    ASSERT_EQ(snapshot.link_count, net::Stack::kMaxInterfaces);
    nl::DatagramQueue q;
    Bytes r = request(RTM_GETLINK, NLM_F_DUMP | NLM_F_REQUEST, 1, Bytes{ 0 });
    ASSERT_FALSE(nl::handle_requests(r.data(), r.size(), snapshot, context, q).is_error());
    // Eight links fit one datagram (~440 bytes each); spanning is DatagramQueue's (above).
    for (const nl::Datagram* d = q.front(); d; d = d->next)
        EXPECT_LE(d->length, nl::DatagramQueue::kDumpDatagramSize);
    auto a = drain(q);
    ASSERT_EQ(a.size(), net::Stack::kMaxInterfaces + 1);
    for (size_t i = 0; i + 1 < a.size(); i++) {
        EXPECT_EQ(a[i].header.type, RTM_NEWLINK);
        ifinfomsg ifi;
        memcpy(&ifi, a[i].payload.data(), sizeof ifi);
        EXPECT_EQ(ifi.ifi_index, int(i + 1));
    }
    EXPECT_EQ(a.back().header.type, NLMSG_DONE);

    // /16 broadcast, and addresses of every interface.
    auto addrs = send(request(RTM_GETADDR, NLM_F_DUMP | NLM_F_REQUEST, 2, Bytes{ 0 }));
    ASSERT_EQ(addrs.size(), net::Stack::kMaxInterfaces + 1);
    EXPECT_EQ(addr(attributes(addrs[2], sizeof(ifaddrmsg))[IFA_BROADCAST]), ip(10, 2, 255, 255));
}

TEST_F(Netlink, StrictChecking)
{
    context.strict_check = true;
    nl::IfAddrMessage only_eth{ AF_INET, 0, 0, 0, 2 };
    auto a = send(request(RTM_GETADDR, NLM_F_DUMP | NLM_F_REQUEST, 1, bytes_of(only_eth)));
    ASSERT_EQ(a.size(), 2u);
    EXPECT_EQ(text(attributes(a[0], sizeof(ifaddrmsg))[IFA_LABEL]), "eth0");
    EXPECT_EQ(a[0].header.flags, NLM_F_MULTI | NLM_F_DUMP_FILTERED);
    EXPECT_EQ(a[1].header.type, NLMSG_DONE);

    nl::IfAddrMessage bad{ AF_INET, 24, 0, 0, 0 };
    auto b = send(request(RTM_GETADDR, NLM_F_DUMP | NLM_F_REQUEST, 2, bytes_of(bad)));
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(b[0].header.type, NLMSG_DONE);
    int32_t e;
    memcpy(&e, b[0].payload.data(), 4);
    EXPECT_EQ(e, -EINVAL);

    auto c = send(request(RTM_GETLINK, NLM_F_DUMP | NLM_F_REQUEST, 3, Bytes{ 0 })); // short header
    ASSERT_EQ(c.size(), 1u);
    memcpy(&e, c[0].payload.data(), 4);
    EXPECT_EQ(e, -EINVAL);

    Bytes ext_mask = cat(bytes_of(nl::IfInfoMessage{}), attribute(IFLA_EXT_MASK, bytes_of(uint32_t(1))));
    auto d = send(request(RTM_GETLINK, NLM_F_DUMP | NLM_F_REQUEST, 4, ext_mask)); // as `ip link` sends it
    EXPECT_EQ(d.size(), 3u);
}

} // namespace
