// fuzz-links: net lib
// libFuzzer target: hostile NETLINK_ROUTE request datagrams (kernel/net/netlink). The first
// byte picks the socket's options (NETLINK_CAP_ACK, NETLINK_GET_STRICT_CHK); the rest is the
// datagram, copied to an exact-size buffer so ASan sees any overread. Every answer must be
// well formed: datagrams within their capacity, messages framed and aligned, addressed to the
// socket, of the types we send, with parseable attributes, errors ≤ 0 echoing a header, and
// dumps packed within the datagram limit. Nothing may leak (the queue owns everything).
#include <net/netlink/message.h>
#include <net/netlink/route.h>
#include <net/stack.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

namespace nl = net::netlink;

constexpr uint32_t kPort = 0xfffff000; // an autobound port id

class NullClock final : public net::Clock {
public:
    uint64_t now_ns() const override { return 1; }
};

class NullEthernet final : public net::Interface {
public:
    NullEthernet() : Interface("eth0", net::LinkKind::Ethernet, { { 0x52, 0x54, 0, 0x12, 0x34, 0x56 } }, 1500) {}
    Result<void> transmit(net::Packet) override { return {}; }
};

// lo and eth0 10.0.2.15/24 via 10.0.2.2, as the guest's default network.
const nl::Snapshot& snapshot()
{
    static nl::Snapshot* s = [] {
        static NullClock clock;
        static net::Stack stack(clock, 1);
        static NullEthernet eth;
        if (stack.add_interface(eth).is_error() ||
            stack.set_ipv4_address(eth, net::Ipv4Address::from_octets(10, 0, 2, 15), 24).is_error() ||
            stack.set_default_gateway(eth, net::Ipv4Address::from_octets(10, 0, 2, 2)).is_error())
            std::abort();
        auto* out = new nl::Snapshot;
        nl::take_snapshot(stack, *out);
        return out;
    }();
    return *s;
}

void check_attributes(const uint8_t* data, size_t length)
{
    nl::AttributeReader r(data, length);
    nl::Attribute a;
    while (r.next(a)) {
    }
    if (r.malformed())
        std::abort();
}

void check_datagram(const nl::Datagram& d)
{
    if (d.length > d.capacity || d.length < nl::kHeaderLength)
        std::abort();
    size_t at = 0;
    bool multi = false;
    size_t messages = 0;
    while (at < d.length) {
        if (d.length - at < nl::kHeaderLength)
            std::abort();
        nl::MessageHeader h;
        std::memcpy(&h, d.bytes() + at, sizeof h);
        if (h.length < nl::kHeaderLength || h.length > d.length - at || h.port != kPort)
            std::abort();
        const uint8_t* payload = d.bytes() + at + nl::kHeaderLength;
        size_t payload_length = h.length - nl::kHeaderLength;
        messages++;
        multi = h.flags & nl::kFlagMulti;
        switch (h.type) {
        case nl::kRtmNewLink:
            if (payload_length < sizeof(nl::IfInfoMessage))
                std::abort();
            check_attributes(payload + sizeof(nl::IfInfoMessage), payload_length - sizeof(nl::IfInfoMessage));
            break;
        case nl::kRtmNewAddr:
            if (payload_length < sizeof(nl::IfAddrMessage))
                std::abort();
            check_attributes(payload + sizeof(nl::IfAddrMessage), payload_length - sizeof(nl::IfAddrMessage));
            break;
        case nl::kRtmNewRoute:
            if (payload_length < sizeof(nl::RouteMessage))
                std::abort();
            check_attributes(payload + sizeof(nl::RouteMessage), payload_length - sizeof(nl::RouteMessage));
            break;
        case nl::kMsgDone:
        case nl::kMsgError: {
            size_t need = h.type == nl::kMsgDone ? 4 : nl::kErrorLength;
            if (payload_length < need)
                std::abort();
            int32_t error;
            std::memcpy(&error, payload, 4);
            if (error > 0 || error < -4095)
                std::abort();
            if (h.type == nl::kMsgError) {
                nl::MessageHeader echoed;
                std::memcpy(&echoed, payload + 4, sizeof echoed);
                if (echoed.length < nl::kHeaderLength || (!(h.flags & nl::kFlagCapped) && payload_length != 4 + nl::align(echoed.length)))
                    std::abort();
                if (messages != 1 || d.length != h.length) // an ACK or error is a datagram of its own
                    std::abort();
            }
            break;
        }
        default:
            std::abort();
        }
        at += nl::align(h.length);
    }
    // Packed dump datagrams stay within the limit; only a lone message may exceed it.
    if (multi && messages > 1 && d.length > nl::DatagramQueue::kDumpDatagramSize)
        std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size < 1)
        return 0;
    nl::RequestContext context;
    context.port = kPort;
    context.cap_ack = data[0] & 1;
    context.strict_check = data[0] & 2;
    std::vector<uint8_t> datagram(data + 1, data + size);
    nl::DatagramQueue answers;
    if (nl::handle_requests(datagram.data(), datagram.size(), snapshot(), context, answers).is_error())
        std::abort(); // only allocation fails, and the host does not run out
    size_t bytes = 0, count = 0;
    for (const nl::Datagram* d = answers.front(); d; d = d->next) {
        check_datagram(*d);
        bytes += d->length;
        count++;
    }
    if (bytes != answers.byte_count() || count != answers.datagram_count())
        std::abort();
    return 0;
}
