// Unit tests for the DHCP client (net/dhcp/client.h) against a scripted server and a fake
// clock: the four-message exchange, the lease's fields, retransmission back-off, renewing and
// rebinding, NAKs, expiry, and replies that lie.
#include <net/byte_order.h>
#include <net/dhcp/client.h>

#include <gtest/gtest.h>
#include <string.h>
#include <vector>

namespace {

using net::Ipv4Address;
using namespace net::dhcp;

constexpr uint64_t kSecond = 1'000'000'000ull;
const net::MacAddress kMac{ { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 } };
const Ipv4Address kServer = Ipv4Address::from_octets(198, 18, 0, 1);
const Ipv4Address kOffered = Ipv4Address::from_octets(198, 18, 0, 15);

struct Message {
    std::vector<uint8_t> bytes;
    uint32_t xid() const { return net::load_be32(bytes.data() + 4); }
    // The value of option `code`, or empty.
    std::vector<uint8_t> option(uint8_t code) const
    {
        for (size_t i = 240; i < bytes.size();) {
            uint8_t c = bytes[i++];
            if (c == 0)
                continue;
            if (c == 255)
                break;
            uint8_t len = bytes[i++];
            if (c == code)
                return { bytes.begin() + i, bytes.begin() + i + len };
            i += len;
        }
        return {};
    }
    uint8_t type() const
    {
        auto t = option(53);
        return t.size() == 1 ? t[0] : 0;
    }
};

Message take(Client& c, Outgoing* meta = nullptr)
{
    Outgoing out;
    if (!c.take_outgoing(out))
        return {};
    if (meta)
        *meta = out;
    return { std::vector<uint8_t>(out.bytes, out.bytes + out.length) };
}

// A server reply to `request` of `type` with the usual options; `extra` appended raw.
struct ReplyOptions {
    uint32_t lease = 86400;
    bool include_lease = true;
    bool include_server = true;
    uint32_t mask = 0xffffff00;
    Ipv4Address router = Ipv4Address::from_octets(198, 18, 0, 1);
    Ipv4Address yiaddr = kOffered;
    std::vector<uint8_t> extra;
};

std::vector<uint8_t> reply(const Message& request, uint8_t type, const ReplyOptions& o = {})
{
    std::vector<uint8_t> m(240, 0);
    m[0] = 2;
    m[1] = 1;
    m[2] = 6;
    net::store_be32(m.data() + 4, request.xid());
    net::store_be32(m.data() + 16, o.yiaddr.value);
    memcpy(m.data() + 28, kMac.bytes, 6);
    net::store_be32(m.data() + 236, 0x63825363);
    auto opt = [&](uint8_t code, std::vector<uint8_t> v) {
        m.push_back(code);
        m.push_back(uint8_t(v.size()));
        m.insert(m.end(), v.begin(), v.end());
    };
    auto be32 = [](uint32_t v) { return std::vector<uint8_t>{ uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v) }; };
    opt(53, { type });
    if (o.include_server)
        opt(54, be32(kServer.value));
    opt(1, be32(o.mask));
    opt(3, be32(o.router.value));
    opt(6, { 198, 18, 0, 53, 198, 18, 0, 54 });
    opt(15, { 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'o', 'r', 'g' });
    if (o.include_lease)
        opt(51, be32(o.lease));
    m.insert(m.end(), o.extra.begin(), o.extra.end());
    m.push_back(255);
    return m;
}

// Runs the exchange to BOUND at time `now`.
void acquire(Client& c, uint64_t now, const ReplyOptions& o = {})
{
    c.start(now);
    Message discover = take(c);
    ASSERT_EQ(discover.type(), 1);
    auto offer = reply(discover, 2, o);
    c.on_message(offer.data(), offer.size(), now);
    Message request = take(c);
    ASSERT_EQ(request.type(), 3);
    auto ack = reply(request, 5, o);
    c.on_message(ack.data(), ack.size(), now);
    ASSERT_EQ(c.state(), State::Bound);
}

TEST(Dhcp, DiscoverLooksRight)
{
    Client c(kMac, 42, "nimbus");
    c.start(0);
    Outgoing meta;
    Message d = take(c, &meta);
    ASSERT_GE(d.bytes.size(), 300u);
    EXPECT_EQ(d.bytes[0], 1);
    EXPECT_EQ(net::load_be16(d.bytes.data() + 10), 0x8000); // broadcast replies
    EXPECT_EQ(memcmp(d.bytes.data() + 28, kMac.bytes, 6), 0);
    EXPECT_EQ(net::load_be32(d.bytes.data() + 236), 0x63825363u);
    EXPECT_EQ(d.type(), 1);
    EXPECT_EQ(d.option(12), (std::vector<uint8_t>{ 'n', 'i', 'm', 'b', 'u', 's' }));
    EXPECT_EQ(d.option(61).size(), 7u);
    EXPECT_FALSE(d.option(55).empty());
    EXPECT_TRUE(d.option(50).empty());
    EXPECT_TRUE(meta.destination.is_broadcast());
    EXPECT_TRUE(meta.source.is_any());
    EXPECT_EQ(c.state(), State::Selecting);
    EXPECT_FALSE(c.take_outgoing(meta)); // one message at a time
}

TEST(Dhcp, FullExchangeGivesTheLease)
{
    Client c(kMac, 7, nullptr);
    uint32_t generation = c.lease_generation();
    c.start(0);
    Message discover = take(c);
    auto offer = reply(discover, 2);
    c.on_message(offer.data(), offer.size(), 0);
    EXPECT_EQ(c.state(), State::Requesting);
    Message request = take(c);
    EXPECT_EQ(request.xid(), discover.xid());
    EXPECT_EQ(request.option(50), (std::vector<uint8_t>{ 198, 18, 0, 15 }));
    EXPECT_EQ(request.option(54), (std::vector<uint8_t>{ 198, 18, 0, 1 }));
    auto ack = reply(request, 5);
    c.on_message(ack.data(), ack.size(), kSecond);
    ASSERT_EQ(c.state(), State::Bound);
    EXPECT_NE(c.lease_generation(), generation);
    const Lease& l = c.lease();
    EXPECT_EQ(l.address, kOffered);
    EXPECT_EQ(l.prefix_length, 24);
    EXPECT_EQ(l.router, Ipv4Address::from_octets(198, 18, 0, 1));
    ASSERT_EQ(l.dns_count, 2);
    EXPECT_EQ(l.dns[1], Ipv4Address::from_octets(198, 18, 0, 54));
    EXPECT_STREQ(l.domain, "example.org");
    EXPECT_EQ(l.lease_seconds, 86400u);
    EXPECT_EQ(l.renew_seconds, 43200u);
    EXPECT_EQ(l.rebind_seconds, 75600u);
    EXPECT_EQ(c.next_deadline(), kSecond + 43200 * kSecond);
    char text[128];
    EXPECT_GT(format_resolv_conf(l, text, sizeof text), 0u);
    EXPECT_STREQ(text, "nameserver 198.18.0.53\nnameserver 198.18.0.54\nsearch example.org\n");
    EXPECT_EQ(format_resolv_conf(l, text, 10), 0u);
}

TEST(Dhcp, DiscoverBacksOffTo64Seconds)
{
    Client c(kMac, 99, nullptr);
    c.start(0);
    take(c);
    uint64_t now = 0;
    uint64_t expected[] = { 4, 8, 16, 32, 64, 64, 64 };
    for (uint64_t e : expected) {
        uint64_t wait = c.next_deadline() - now;
        EXPECT_GE(wait, (e - 1) * kSecond);
        EXPECT_LT(wait, (e + 1) * kSecond);
        now = c.next_deadline();
        c.on_timer(now - 1);
        EXPECT_TRUE(take(c).bytes.empty()); // not due yet
        c.on_timer(now);
        EXPECT_EQ(take(c).type(), 1);
    }
}

TEST(Dhcp, StrangersAndGarbageAreIgnored)
{
    Client c(kMac, 5, nullptr);
    c.start(0);
    Message discover = take(c);
    auto offer = reply(discover, 2);
    auto other_xid = offer;
    other_xid[4] ^= 1;
    c.on_message(other_xid.data(), other_xid.size(), 0);
    auto other_mac = offer;
    other_mac[33] ^= 1;
    c.on_message(other_mac.data(), other_mac.size(), 0);
    auto bad_cookie = offer;
    bad_cookie[239] = 0;
    c.on_message(bad_cookie.data(), bad_cookie.size(), 0);
    c.on_message(offer.data(), 100, 0);
    auto overrun = offer;
    overrun.pop_back(); // drop the end option...
    overrun.push_back(3);
    overrun.push_back(200); // ...and claim 200 bytes that are not there
    c.on_message(overrun.data(), overrun.size(), 0);
    ReplyOptions no_server;
    no_server.include_server = false;
    auto anonymous = reply(discover, 2, no_server);
    c.on_message(anonymous.data(), anonymous.size(), 0);
    ReplyOptions loopback;
    loopback.yiaddr = Ipv4Address::from_octets(127, 0, 0, 1);
    auto bad_address = reply(discover, 2, loopback);
    c.on_message(bad_address.data(), bad_address.size(), 0);
    auto ack_first = reply(discover, 5);
    c.on_message(ack_first.data(), ack_first.size(), 0);
    EXPECT_EQ(c.state(), State::Selecting);
    EXPECT_EQ(c.stats().not_ours, 2u);
    EXPECT_EQ(c.stats().malformed, 3u);
    EXPECT_EQ(c.stats().unusable, 3u);
    EXPECT_TRUE(take(c).bytes.empty());
    c.on_message(offer.data(), offer.size(), 0); // the real one still works
    EXPECT_EQ(c.state(), State::Requesting);
}

TEST(Dhcp, NakRestartsWithANewTransaction)
{
    Client c(kMac, 11, nullptr);
    c.start(0);
    Message discover = take(c);
    auto offer = reply(discover, 2);
    c.on_message(offer.data(), offer.size(), 0);
    Message request = take(c);
    auto nak = reply(request, 6);
    c.on_message(nak.data(), nak.size(), kSecond);
    EXPECT_EQ(c.state(), State::Selecting);
    EXPECT_EQ(c.stats().naks, 1u);
    Message again = take(c);
    EXPECT_EQ(again.type(), 1);
    EXPECT_NE(again.xid(), discover.xid());
}

TEST(Dhcp, RequestGivesUpAfterFourTries)
{
    Client c(kMac, 12, nullptr);
    c.start(0);
    Message discover = take(c);
    auto offer = reply(discover, 2);
    c.on_message(offer.data(), offer.size(), 0);
    take(c);
    for (int i = 0; i < 3; i++) {
        c.on_timer(c.next_deadline());
        EXPECT_EQ(take(c).type(), 3);
    }
    c.on_timer(c.next_deadline());
    EXPECT_EQ(c.state(), State::Selecting);
    EXPECT_EQ(take(c).type(), 1);
}

TEST(Dhcp, RenewRebindExpire)
{
    Client c(kMac, 13, nullptr);
    ReplyOptions o;
    o.lease = 1000; // T1 500 s, T2 875 s
    acquire(c, 0, o);
    uint32_t generation = c.lease_generation();
    EXPECT_EQ(c.next_deadline(), 500 * kSecond);

    // T1: unicast REQUEST to the server with ciaddr, no requested-address / server id.
    c.on_timer(500 * kSecond);
    EXPECT_EQ(c.state(), State::Renewing);
    Outgoing meta;
    Message renew = take(c, &meta);
    EXPECT_EQ(renew.type(), 3);
    EXPECT_EQ(meta.destination, kServer);
    EXPECT_EQ(meta.source, kOffered);
    EXPECT_EQ(net::load_be32(renew.bytes.data() + 12), kOffered.value);
    EXPECT_TRUE(renew.option(50).empty());
    EXPECT_TRUE(renew.option(54).empty());
    // Next try: half of the 375 s left to T2.
    EXPECT_EQ(c.next_deadline(), 500 * kSecond + 187500 * (kSecond / 1000));
    auto ack = reply(renew, 5, o);
    c.on_message(ack.data(), ack.size(), 510 * kSecond);
    EXPECT_EQ(c.state(), State::Bound);
    EXPECT_EQ(c.lease_generation(), generation); // same parameters: nothing to reconfigure

    // No answers: renewing, then rebinding (broadcast), then expiry → DISCOVER.
    uint64_t bound = 510 * kSecond;
    c.on_timer(bound + 500 * kSecond);
    take(c);
    while (c.state() == State::Renewing) {
        c.on_timer(c.next_deadline());
        take(c, &meta);
    }
    EXPECT_EQ(c.state(), State::Rebinding);
    EXPECT_TRUE(meta.destination.is_broadcast());
    EXPECT_EQ(c.next_deadline(), bound + 875 * kSecond + 62500 * (kSecond / 1000)); // half of 125 s
    int rebinds = 0;
    while (c.state() == State::Rebinding && rebinds < 10) {
        EXPECT_LE(c.next_deadline(), bound + 1000 * kSecond); // never past expiry
        c.on_timer(c.next_deadline());
        take(c, &meta);
        rebinds++;
    }
    EXPECT_EQ(rebinds, 3); // 1447.5 s, 1507.5 s, expiry at 1510 s
    EXPECT_FALSE(c.has_lease());
    EXPECT_NE(c.lease_generation(), generation);
    EXPECT_EQ(meta.bytes[242], 1); // the last message was a DISCOVER
}

TEST(Dhcp, HostileLeaseValuesAreTamed)
{
    Client c(kMac, 14, nullptr);
    ReplyOptions o;
    o.lease = 1;                                      // stretched to 10 s
    o.mask = 0xff00ff00;                              // not contiguous: class default
    o.router = Ipv4Address::from_octets(10, 9, 9, 9); // off-link: dropped
    // T1 after T2: both replaced by the defaults.
    o.extra = { 58, 4, 0, 0, 0, 9, 59, 4, 0, 0, 0, 2, 26, 2, 0, 10 /* MTU 10: ignored */ };
    acquire(c, 0, o);
    const Lease& l = c.lease();
    EXPECT_EQ(l.lease_seconds, 10u);
    EXPECT_EQ(l.renew_seconds, 5u);
    EXPECT_EQ(l.rebind_seconds, 8u);
    EXPECT_EQ(l.prefix_length, 24); // 198.x is class C
}

TEST(Dhcp, LongLeasesLateInTimeDoNotWrapIntoThePast)
{
    // A lease of almost 2^32 s granted when the clock is near its end: every deadline (renew,
    // the retries while renewing and rebinding) stays in the future, and the lease runs out
    // when the clock can no longer count it — never "now" by wrapping around.
    Client c(kMac, 15, nullptr);
    ReplyOptions o;
    o.lease = 0xfffffffe; // 0xffffffff is "infinite"
    uint64_t now = UINT64_MAX - (uint64_t(1) << 61); // 2^61 ns (73 years) of clock left
    acquire(c, now, o);
    EXPECT_GE(c.next_deadline(), now);
    EXPECT_GT(c.next_deadline(), now + 1'000'000'000ull); // the renewal is not due at once
    for (int i = 0; i < 64 && c.next_deadline() != UINT64_MAX; i++) {
        now = c.next_deadline();
        c.on_timer(now);
        Outgoing meta;
        while (c.take_outgoing(meta)) {
        }
        ASSERT_GE(c.next_deadline(), now) << "step " << i;
    }
    EXPECT_TRUE(c.has_lease());
}

TEST(Dhcp, OptionsInTheFileField)
{
    Client c(kMac, 15, nullptr);
    c.start(0);
    Message discover = take(c);
    ReplyOptions o;
    o.include_lease = true;
    o.extra = { 52, 1, 1 }; // overload: options continue in 'file'
    auto offer = reply(discover, 2, o);
    c.on_message(offer.data(), offer.size(), 0);
    Message request = take(c);
    ReplyOptions plain;
    plain.include_lease = false;
    plain.extra = { 52, 1, 1 };
    auto ack = reply(request, 5, plain);
    // The lease time only in the file field.
    const uint8_t in_file[] = { 51, 4, 0, 0, 0x0e, 0x10, 255 };
    memcpy(ack.data() + 108, in_file, sizeof in_file);
    c.on_message(ack.data(), ack.size(), 0);
    ASSERT_EQ(c.state(), State::Bound);
    EXPECT_EQ(c.lease().lease_seconds, 3600u);
}

} // namespace
