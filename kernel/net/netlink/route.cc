// NETLINK_ROUTE: requests in, answers built from a snapshot (route.h).
#include <lib/string.h>
#include <net/byte_order.h>
#include <net/netlink/route.h>
#include <net/stack.h>
#include <new>

namespace net::netlink {
namespace {

// Room for one link, address or route message (a link is ~480 bytes with both stats blocks).
constexpr size_t kMessageRoom = 768;

constexpr int negative(Errno e) { return -int(e); }

// How one request went: the error for its NLMSG_ERROR (0: none, or an ACK if asked), and
// whether it was a dump (answered by NLMSG_DONE: never acknowledged).
struct Outcome {
    int error = 0;
    bool dumped = false;
};

void put_be32(MessageWriter& w, uint16_t type, Ipv4Address a)
{
    uint8_t bytes[4];
    store_be32(bytes, a.value);
    w.put_attribute(type, bytes, sizeof bytes);
}

// RTM_NEWLINK for `link` (rtnl_fill_ifinfo's attributes that describe our interfaces).
size_t build_link(uint8_t* buffer, size_t room, const LinkSnapshot& link, uint16_t flags, uint32_t sequence,
                  uint32_t port)
{
    MessageWriter w(buffer, room);
    w.begin(kRtmNewLink, flags, sequence, port);
    IfInfoMessage m{ kAfUnspec, 0, link.type, int32_t(link.index), link.flags, 0 };
    w.put(&m, sizeof m);
    bool loopback = link.flags & kIffLoopback;
    bool running = link.flags & kIffRunning;
    w.put_string(kIflaIfname, link.name);
    w.put_u32(kIflaTxqlen, link.tx_queue_length);
    w.put_u8(kIflaOperstate, loopback ? kOperUnknown : running ? kOperUp : kOperDown);
    w.put_u8(kIflaLinkmode, 0);
    w.put_u32(kIflaMtu, link.mtu);
    w.put_u32(kIflaGroup, 0);
    w.put_u32(kIflaPromiscuity, 0);
    w.put_u32(kIflaNumTxQueues, 1);
    w.put_u32(kIflaNumRxQueues, 1);
    w.put_u8(kIflaCarrier, running ? 1 : 0);
    w.put_string(kIflaQdisc, "noqueue"); // the stack queues nothing in front of a driver
    static const uint8_t kZeroMac[6] = {}, kBroadcastMac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    w.put_attribute(kIflaAddress, link.mac, sizeof link.mac);
    w.put_attribute(kIflaBroadcast, loopback ? kZeroMac : kBroadcastMac, 6);
    static const uint8_t kZeroStats[kLinkStats64Length] = {};
    w.put_attribute(kIflaStats64, kZeroStats, kLinkStats64Length);
    w.put_attribute(kIflaStats, kZeroStats, kLinkStatsLength);
    return w.finish();
}

// RTM_NEWADDR for the IPv4 address of `link` (inet_fill_ifaddr's attributes).
size_t build_address(uint8_t* buffer, size_t room, const LinkSnapshot& link, uint16_t flags, uint32_t sequence,
                     uint32_t port)
{
    MessageWriter w(buffer, room);
    w.begin(kRtmNewAddr, flags, sequence, port);
    uint8_t scope = link.address.is_loopback() ? kRtScopeHost : kRtScopeUniverse;
    IfAddrMessage m{ kAfInet, link.prefix_length, uint8_t(kIfaFlagPermanent), scope, link.index };
    w.put(&m, sizeof m);
    put_be32(w, kIfaAddress, link.address);
    put_be32(w, kIfaLocal, link.address);
    if (!link.broadcast.is_any())
        put_be32(w, kIfaBroadcast, link.broadcast);
    w.put_string(kIfaLabel, link.name);
    w.put_u32(kIfaFlags, kIfaFlagPermanent);
    IfaCacheinfo cache{ kInfinityLifeTime, kInfinityLifeTime, 0, 0 };
    w.put_attribute(kIfaCacheinfo, &cache, sizeof cache);
    return w.finish();
}

// RTM_NEWROUTE for `route` (fib_dump_info's attributes).
size_t build_route(uint8_t* buffer, size_t room, const RouteSnapshot& route, uint16_t flags, uint32_t sequence,
                   uint32_t port)
{
    MessageWriter w(buffer, room);
    w.begin(kRtmNewRoute, flags, sequence, port);
    RouteMessage m{ kAfInet, route.prefix_length, 0, 0, route.table, route.protocol, route.scope, route.type, 0 };
    w.put(&m, sizeof m);
    w.put_u32(kRtaTable, route.table);
    if (route.prefix_length > 0)
        put_be32(w, kRtaDst, route.destination);
    if (!route.source.is_any())
        put_be32(w, kRtaPrefsrc, route.source);
    if (!route.gateway.is_any())
        put_be32(w, kRtaGateway, route.gateway);
    w.put_u32(kRtaOif, route.index);
    return w.finish();
}

// NLMSG_ERROR for `request`: an ACK (error 0) or an error, echoing the request's header and,
// for an uncapped error, its payload (netlink_ack).
Result<void> queue_error(const Message& request, int error, const RequestContext& context, DatagramQueue& answers)
{
    bool capped = error == 0 || context.cap_ack;
    size_t echoed = capped ? kHeaderLength : request.header.length;
    size_t room = align(kHeaderLength + 4 + echoed);
    uint8_t inline_buffer[128];
    uint8_t* buffer = inline_buffer;
    uint8_t* heap = nullptr;
    if (room > sizeof inline_buffer) {
        heap = new (std::nothrow) uint8_t[room];
        if (!heap)
            return Errno::NOMEM;
        buffer = heap;
    }
    MessageWriter w(buffer, room);
    w.begin(kMsgError, capped ? kFlagCapped : 0, request.header.sequence, context.port);
    int32_t code = error;
    uint8_t head[4 + kHeaderLength];
    lib::mem_copy(head, &code, 4);
    lib::mem_copy(head + 4, &request.header, kHeaderLength);
    if (capped) {
        w.put(head, sizeof head);
    } else {
        w.put(head, 4);
        w.put(request.bytes, request.header.length);
    }
    size_t length = w.finish();
    Result<void> queued = length ? answers.append(buffer, length, false) : Result<void>(Errno::NOMEM);
    delete[] heap;
    return queued;
}

// NLMSG_DONE ending a dump: its payload is the dump's result (0, or a negative errno).
Result<void> queue_done(const Message& request, int error, uint16_t extra_flags, const RequestContext& context,
                        DatagramQueue& answers)
{
    uint8_t buffer[kHeaderLength + 4];
    MessageWriter w(buffer, sizeof buffer);
    w.begin(kMsgDone, kFlagMulti | extra_flags, request.header.sequence, context.port);
    int32_t code = error;
    w.put(&code, sizeof code);
    size_t length = w.finish();
    Result<void> queued = answers.append(buffer, length, true);
    answers.seal();
    return queued;
}

// Every attribute after the family header well formed (EINVAL otherwise, as nlmsg_parse).
bool attributes_valid(const Message& m, size_t header_length)
{
    if (m.payload_length < header_length)
        return true;
    size_t skip = align(header_length) < m.payload_length ? align(header_length) : m.payload_length;
    AttributeReader reader(m.payload + skip, m.payload_length - skip);
    Attribute a;
    while (reader.next(a)) {
    }
    return !reader.malformed();
}

// Strict checking (NETLINK_GET_STRICT_CHK): the dump request's family header must be whole,
// with only the fields Linux lets a dump filter on set, and its attributes well formed.
bool strict_header_valid(const Message& m, size_t header_length, size_t allowed_offset, size_t allowed_length)
{
    if (m.payload_length < header_length)
        return false;
    for (size_t i = 1; i < header_length; i++) // byte 0 is the family
        if (m.payload[i] != 0 && (i < allowed_offset || i >= allowed_offset + allowed_length))
            return false;
    return attributes_valid(m, header_length);
}

Result<Outcome> dump_links(const Message& m, const Snapshot& snapshot, const RequestContext& context,
                           DatagramQueue& answers)
{
    int error = 0;
    if (context.strict_check && !strict_header_valid(m, sizeof(IfInfoMessage), 0, 0))
        error = negative(Errno::INVAL);
    uint8_t buffer[kMessageRoom];
    answers.seal();
    for (size_t i = 0; error == 0 && i < snapshot.link_count; i++) {
        size_t length = build_link(buffer, sizeof buffer, snapshot.links[i], kFlagMulti, m.header.sequence,
                                   context.port);
        if (length)
            TRY(answers.append(buffer, length, true));
    }
    TRY(queue_done(m, error, 0, context, answers));
    return Outcome{ 0, true };
}

Result<Outcome> dump_addresses(const Message& m, uint8_t family, const Snapshot& snapshot,
                               const RequestContext& context, DatagramQueue& answers)
{
    int error = 0;
    uint32_t only_index = 0;
    uint16_t filtered = 0;
    if (context.strict_check) {
        // inet_valid_dump_ifaddr_req: only ifa_index may be set (bytes 4..7); it filters.
        if (!strict_header_valid(m, sizeof(IfAddrMessage), 4, 4)) {
            error = negative(Errno::INVAL);
        } else {
            IfAddrMessage h;
            lib::mem_copy(&h, m.payload, sizeof h);
            only_index = h.index;
            if (only_index)
                filtered = kFlagDumpFiltered;
        }
    }
    uint8_t buffer[kMessageRoom];
    answers.seal();
    bool ipv4 = family != kAfInet6; // no IPv6 addresses; other families fall back to all (IPv4)
    for (size_t i = 0; error == 0 && ipv4 && i < snapshot.link_count; i++) {
        const LinkSnapshot& link = snapshot.links[i];
        if (link.address.is_any() || (only_index && link.index != only_index))
            continue;
        size_t length = build_address(buffer, sizeof buffer, link, kFlagMulti | filtered, m.header.sequence,
                                      context.port);
        if (length)
            TRY(answers.append(buffer, length, true));
    }
    TRY(queue_done(m, error, filtered, context, answers));
    return Outcome{ 0, true };
}

Result<Outcome> dump_routes(const Message& m, uint8_t family, const Snapshot& snapshot,
                            const RequestContext& context, DatagramQueue& answers)
{
    int error = 0;
    if (context.strict_check && m.payload_length < sizeof(RouteMessage))
        error = negative(Errno::INVAL);
    uint8_t buffer[kMessageRoom];
    answers.seal();
    for (size_t i = 0; error == 0 && family != kAfInet6 && i < snapshot.route_count; i++) {
        size_t length = build_route(buffer, sizeof buffer, snapshot.routes[i], kFlagMulti, m.header.sequence,
                                    context.port);
        if (length)
            TRY(answers.append(buffer, length, true));
    }
    TRY(queue_done(m, error, 0, context, answers));
    return Outcome{ 0, true };
}

// RTM_GETLINK without NLM_F_DUMP (rtnl_getlink): one link by ifi_index, else by IFLA_IFNAME
// or IFLA_ALT_IFNAME.
Result<Outcome> get_link(const Message& m, const Snapshot& snapshot, const RequestContext& context,
                         DatagramQueue& answers)
{
    if (m.payload_length < sizeof(IfInfoMessage))
        return Outcome{ negative(Errno::INVAL) };
    IfInfoMessage h;
    lib::mem_copy(&h, m.payload, sizeof h);
    AttributeReader reader(m.payload + sizeof h, m.payload_length - sizeof h);
    Attribute a;
    const char* name = nullptr;
    size_t name_length = 0;
    while (reader.next(a)) {
        if (a.type == kIflaIfname || a.type == kIflaAltIfname) {
            name = reinterpret_cast<const char*>(a.data);
            name_length = lib::str_nlength(name, a.length);
            if (name_length > LinkSnapshot::kNameMax)
                return Outcome{ negative(Errno::INVAL) };
        }
    }
    if (reader.malformed())
        return Outcome{ negative(Errno::INVAL) };
    const LinkSnapshot* link = nullptr;
    if (h.index > 0)
        link = snapshot.find_link(uint32_t(h.index));
    else if (name)
        link = snapshot.find_link(name, name_length);
    else
        return Outcome{ negative(Errno::INVAL) };
    if (!link)
        return Outcome{ negative(Errno::NODEV) };
    uint8_t buffer[kMessageRoom];
    size_t length = build_link(buffer, sizeof buffer, *link, 0, m.header.sequence, context.port);
    if (!length)
        return Errno::NOMEM;
    TRY(answers.append(buffer, length, false));
    return Outcome{};
}

// rtnetlink_rcv_msg: one request of type ≥ NLMSG_MIN_TYPE.
Result<Outcome> dispatch(const Message& m, const Snapshot& snapshot, const RequestContext& context,
                         DatagramQueue& answers)
{
    uint16_t type = m.header.type;
    if (type > kRtmMax)
        return Outcome{ negative(Errno::NOTSUP) };
    if (m.payload_length < kRtGenLength)
        return Outcome{}; // "all the messages must have at least 1 byte length": ignored
    uint8_t family = m.payload[0];
    unsigned kind = unsigned(type - kRtmBase) & 3;
    if (kind == kKindGet && (m.header.flags & kFlagDump)) {
        switch (type) {
        case kRtmGetLink:
            return dump_links(m, snapshot, context, answers);
        case kRtmGetAddr:
            return dump_addresses(m, family, snapshot, context, answers);
        case kRtmGetRoute:
            return dump_routes(m, family, snapshot, context, answers);
        default:
            return Outcome{ negative(Errno::NOTSUP) };
        }
    }
    if (type == kRtmGetLink)
        return get_link(m, snapshot, context, answers);
    return Outcome{ negative(Errno::NOTSUP) };
}

} // namespace

const LinkSnapshot* Snapshot::find_link(uint32_t index) const
{
    for (size_t i = 0; i < link_count; i++)
        if (links[i].index == index)
            return &links[i];
    return nullptr;
}

const LinkSnapshot* Snapshot::find_link(const char* name, size_t length) const
{
    for (size_t i = 0; i < link_count; i++)
        if (lib::str_length(links[i].name) == length && lib::mem_compare(links[i].name, name, length) == 0)
            return &links[i];
    return nullptr;
}

void take_snapshot(const Stack& stack, Snapshot& out)
{
    out.link_count = 0;
    out.route_count = 0;
    for (size_t i = 0; i < stack.interface_count() && out.link_count < Snapshot::kMaxLinks; i++) {
        const Interface* in = stack.interface_at(i);
        if (!in)
            continue;
        LinkSnapshot& link = out.links[out.link_count++];
        link = LinkSnapshot{};
        link.index = uint32_t(i + 1);
        size_t n = lib::str_nlength(in->name(), LinkSnapshot::kNameMax);
        lib::mem_copy(link.name, in->name(), n);
        link.name[n] = 0;
        link.mtu = in->mtu();
        link.tx_queue_length = 1000;
        lib::mem_copy(link.mac, in->mac().bytes, sizeof link.mac);
        if (in->kind() == LinkKind::Loopback) {
            link.type = kArphrdLoopback;
            link.flags = kIffUp | kIffLoopback | kIffRunning | kIffLowerUp;
        } else {
            link.type = kArphrdEther;
            link.flags = kIffUp | kIffBroadcast | kIffMulticast;
            if (in->is_up())
                link.flags |= kIffRunning | kIffLowerUp;
        }
        if (!in->ipv4_address().is_any()) {
            link.address = in->ipv4_address();
            link.prefix_length = uint8_t(in->prefix_length());
            if (in->kind() != LinkKind::Loopback && link.prefix_length < 31) {
                uint32_t host_mask = 0xffffffffu >> link.prefix_length;
                link.broadcast = Ipv4Address{ link.address.value | host_mask };
            }
        }
    }
    const RouteTable& table = stack.ipv4().routes();
    for (size_t i = 0; i < table.count() && out.route_count < Snapshot::kMaxRoutes; i++) {
        const Route* r = table.at(i);
        uint32_t index = 0;
        for (size_t j = 0; j < stack.interface_count(); j++)
            if (stack.interface_at(j) == r->interface)
                index = uint32_t(j + 1);
        if (index == 0)
            continue;
        RouteSnapshot& route = out.routes[out.route_count++];
        route = RouteSnapshot{};
        route.destination = r->network;
        route.prefix_length = r->prefix_length;
        route.gateway = r->gateway;
        route.index = index;
        if (r->interface->kind() == LinkKind::Loopback) {
            // Linux keeps 127/8 in the local table: "local 127.0.0.0/8 dev lo scope host".
            route.table = kRtTableLocal;
            route.type = kRtnLocal;
            route.scope = kRtScopeHost;
            route.source = r->interface->ipv4_address();
        } else if (r->gateway.is_any()) {
            route.scope = kRtScopeLink;
            route.source = r->interface->ipv4_address();
        } else {
            route.protocol = kRtprotBoot;
            route.scope = kRtScopeUniverse;
        }
    }
}

Result<void> handle_requests(const uint8_t* data, size_t length, const Snapshot& snapshot,
                             const RequestContext& context, DatagramQueue& answers)
{
    MessageReader reader(data, length);
    Message m;
    while (reader.next(m)) {
        Outcome outcome;
        // Only requests are handled; control messages (below NLMSG_MIN_TYPE) are skipped.
        if ((m.header.flags & kFlagRequest) && m.header.type >= kMsgMinType)
            outcome = TRY(dispatch(m, snapshot, context, answers));
        if (outcome.dumped)
            continue;
        if ((m.header.flags & kFlagAck) || outcome.error)
            TRY(queue_error(m, outcome.error, context, answers));
    }
    return {};
}

} // namespace net::netlink
