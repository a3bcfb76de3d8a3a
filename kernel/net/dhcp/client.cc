// The DHCP client state machine (client.h).
#include <net/byte_order.h>
#include <net/dhcp/client.h>

namespace net::dhcp {
namespace {

constexpr uint64_t kSecond = 1'000'000'000ull;
constexpr uint64_t kFirstRetransmit = 4 * kSecond;
constexpr uint64_t kMaxRetransmit = 64 * kSecond;

// `base` + `ns`, saturating at UINT64_MAX (which means "no deadline"): a lease of up to
// 2^32 - 2 s from a clock far along (a fuzzer's jumps, a machine up for centuries) must not
// wrap around into the past.
uint64_t after_ns(uint64_t base, uint64_t ns)
{
    return ns > UINT64_MAX - base ? UINT64_MAX : base + ns;
}

uint64_t after_seconds(uint64_t base, uint32_t seconds)
{
    return after_ns(base, uint64_t(seconds) * kSecond); // below 2^62: the product cannot wrap
}
constexpr unsigned kRequestTries = 4;       // then back to DISCOVER
constexpr uint32_t kMinLeaseSeconds = 10;   // a shorter lease from a server is stretched
constexpr uint32_t kInfinite = 0xffffffffu;

// [RFC 2131 §2] fixed part of the message.
constexpr size_t kOp = 0, kHtype = 1, kHlen = 2, kXid = 4, kSecs = 8, kFlags = 10, kCiaddr = 12,
                 kYiaddr = 16, kChaddr = 28, kSname = 44, kFile = 108, kCookie = 236, kOptions = 240;
constexpr size_t kSnameBytes = 64, kFileBytes = 128;
constexpr uint32_t kMagicCookie = 0x63825363;
constexpr size_t kMinMessageBytes = 300; // BOOTP's minimum, which some servers insist on

// [RFC 2132] options.
constexpr uint8_t kOptPad = 0, kOptSubnetMask = 1, kOptRouter = 3, kOptDns = 6, kOptHostName = 12,
                  kOptDomain = 15, kOptMtu = 26, kOptRequestedIp = 50, kOptLeaseTime = 51, kOptOverload = 52,
                  kOptMessageType = 53, kOptServerId = 54, kOptParameterList = 55, kOptMaxMessage = 57,
                  kOptRenewal = 58, kOptRebinding = 59, kOptClientId = 61, kOptEnd = 255;
// [RFC 2132 §9.6] message types.
constexpr uint8_t kDiscover = 1, kOffer = 2, kRequest = 3, kAck = 5, kNak = 6;

bool usable_address(Ipv4Address a)
{
    return !a.is_any() && !a.is_broadcast() && !a.is_multicast() && !a.is_loopback() && (a.value >> 24) != 0 &&
           (a.value >> 28) != 0xf;
}

// A reply's options, as far as the client cares.
struct Parsed {
    uint8_t type = 0;
    Ipv4Address yiaddr;
    bool has_server = false;
    Lease lease;
    bool has_mask = false;
    bool has_lease_time = false;
    bool malformed = false;
};

uint8_t prefix_from_mask(uint32_t mask, bool& ok)
{
    uint8_t prefix = 0;
    while (prefix < 32 && (mask & (0x80000000u >> prefix)))
        prefix++;
    uint32_t expect = prefix == 0 ? 0 : ~0u << (32 - prefix);
    ok = mask == expect && prefix >= 1 && prefix <= 30;
    return prefix;
}

uint8_t class_prefix(Ipv4Address a)
{
    uint32_t top = a.value >> 24;
    return top < 128 ? 8 : top < 192 ? 16 : 24;
}

// Walks one options area; sets `overload` when option 52 appears (main area only).
void parse_area(const uint8_t* p, size_t n, Parsed& out, uint8_t* overload)
{
    size_t i = 0;
    while (i < n) {
        uint8_t code = p[i++];
        if (code == kOptPad)
            continue;
        if (code == kOptEnd)
            return;
        if (i >= n) {
            out.malformed = true;
            return;
        }
        uint8_t len = p[i++];
        if (len > n - i) {
            out.malformed = true;
            return;
        }
        const uint8_t* v = p + i;
        i += len;
        switch (code) {
        case kOptMessageType:
            if (len == 1)
                out.type = v[0];
            break;
        case kOptServerId:
            if (len == 4) {
                out.lease.server = Ipv4Address{ load_be32(v) };
                out.has_server = true;
            }
            break;
        case kOptSubnetMask:
            if (len == 4) {
                bool ok;
                uint8_t prefix = prefix_from_mask(load_be32(v), ok);
                if (ok) {
                    out.lease.prefix_length = prefix;
                    out.has_mask = true;
                }
            }
            break;
        case kOptRouter:
            if (len >= 4 && len % 4 == 0) {
                Ipv4Address r{ load_be32(v) };
                if (usable_address(r))
                    out.lease.router = r;
            }
            break;
        case kOptDns:
            if (len >= 4 && len % 4 == 0) {
                out.lease.dns_count = 0;
                for (size_t k = 0; k + 4 <= len && out.lease.dns_count < kMaxDnsServers; k += 4) {
                    Ipv4Address d{ load_be32(v + k) };
                    if (usable_address(d))
                        out.lease.dns[out.lease.dns_count++] = d;
                }
            }
            break;
        case kOptDomain: {
            size_t k = 0;
            bool printable = true;
            for (; k < len && v[k] != 0; k++)
                printable = printable && v[k] > 0x20 && v[k] < 0x7f;
            if (printable && k > 0 && k < sizeof out.lease.domain) {
                for (size_t j = 0; j < k; j++)
                    out.lease.domain[j] = char(v[j]);
                out.lease.domain[k] = '\0';
            }
            break;
        }
        case kOptMtu:
            if (len == 2 && load_be16(v) >= 68)
                out.lease.mtu = load_be16(v);
            break;
        case kOptLeaseTime:
            if (len == 4) {
                out.lease.lease_seconds = load_be32(v);
                out.has_lease_time = true;
            }
            break;
        case kOptRenewal:
            if (len == 4)
                out.lease.renew_seconds = load_be32(v);
            break;
        case kOptRebinding:
            if (len == 4)
                out.lease.rebind_seconds = load_be32(v);
            break;
        case kOptOverload:
            if (len == 1 && overload)
                *overload = v[0];
            break;
        default:
            break;
        }
    }
}

} // namespace

Client::Client(const MacAddress& mac, uint64_t seed, const char* hostname)
    : m_mac(mac), m_random(seed ? seed : 0x9e3779b97f4a7c15ull)
{
    if (hostname) {
        size_t i = 0;
        for (; hostname[i] && i + 1 < sizeof m_hostname; i++)
            m_hostname[i] = hostname[i];
        m_hostname[i] = '\0';
    }
}

uint32_t Client::random32()
{
    // xorshift64*: fine for ids and jitter; the seed is what makes them unpredictable.
    m_random ^= m_random >> 12;
    m_random ^= m_random << 25;
    m_random ^= m_random >> 27;
    return uint32_t((m_random * 0x2545f4914f6cdd1dull) >> 32);
}

uint64_t Client::jitter_ns()
{
    // Uniform in [-1 s, +1 s], as an offset added to a delay of at least 4 s.
    return uint64_t(random32() % (2 * kSecond / 1000)) * 1000;
}

void Client::start(uint64_t now_ns)
{
    if (has_lease())
        lose_lease(now_ns);
    m_state = State::Selecting;
    m_xid = random32();
    m_started_at = now_ns;
    m_retransmit_ns = kFirstRetransmit;
    send_discover(now_ns);
}

void Client::stop()
{
    if (has_lease())
        m_generation++;
    m_state = State::Stopped;
    m_deadline = UINT64_MAX;
    m_pending = false;
}

void Client::lose_lease(uint64_t)
{
    m_lease = Lease{};
    m_generation++;
}

void Client::build(uint8_t type, bool include_requested_address, bool include_server_id)
{
    uint8_t* m = m_outgoing.bytes;
    for (size_t i = 0; i < kMaxMessageBytes; i++)
        m[i] = 0;
    m[kOp] = 1;
    m[kHtype] = 1;
    m[kHlen] = 6;
    store_be32(m + kXid, m_xid);
    bool configured = m_state == State::Renewing || m_state == State::Rebinding;
    // No address yet: ask for broadcast replies, we cannot take unicast to an unknown address.
    store_be16(m + kFlags, configured ? 0 : 0x8000);
    if (configured)
        store_be32(m + kCiaddr, m_lease.address.value);
    for (size_t i = 0; i < 6; i++)
        m[kChaddr + i] = m_mac.bytes[i];
    store_be32(m + kCookie, kMagicCookie);
    size_t o = kOptions;
    m[o++] = kOptMessageType;
    m[o++] = 1;
    m[o++] = type;
    m[o++] = kOptClientId;
    m[o++] = 7;
    m[o++] = 1; // hardware type: Ethernet
    for (size_t i = 0; i < 6; i++)
        m[o++] = m_mac.bytes[i];
    if (include_requested_address) {
        m[o++] = kOptRequestedIp;
        m[o++] = 4;
        store_be32(m + o, m_offer.address.value);
        o += 4;
    }
    if (include_server_id) {
        m[o++] = kOptServerId;
        m[o++] = 4;
        store_be32(m + o, m_offer.server.value);
        o += 4;
    }
    m[o++] = kOptMaxMessage;
    m[o++] = 2;
    store_be16(m + o, 576);
    o += 2;
    static constexpr uint8_t kWanted[] = { kOptSubnetMask, kOptRouter, kOptDns, kOptDomain,
                                           kOptMtu, kOptLeaseTime, kOptRenewal, kOptRebinding };
    m[o++] = kOptParameterList;
    m[o++] = sizeof kWanted;
    for (uint8_t w : kWanted)
        m[o++] = w;
    size_t host_length = 0;
    while (m_hostname[host_length])
        host_length++;
    if (host_length > 0) {
        m[o++] = kOptHostName;
        m[o++] = uint8_t(host_length);
        for (size_t i = 0; i < host_length; i++)
            m[o++] = uint8_t(m_hostname[i]);
    }
    m[o++] = kOptEnd;
    m_outgoing.length = o < kMinMessageBytes ? kMinMessageBytes : o;
    m_outgoing.source = configured ? m_lease.address : Ipv4Address::any();
    m_outgoing.destination = m_state == State::Renewing ? m_lease.server : Ipv4Address::broadcast();
    m_pending = true;
    m_stats.sent++;
}

void Client::send_discover(uint64_t now_ns)
{
    uint64_t elapsed = (now_ns - m_started_at) / kSecond;
    build(kDiscover, false, false);
    store_be16(m_outgoing.bytes + kSecs, uint16_t(elapsed > 0xffff ? 0xffff : elapsed));
    m_deadline = after_ns(now_ns, m_retransmit_ns - kSecond + jitter_ns());
    m_retransmit_ns = m_retransmit_ns * 2 > kMaxRetransmit ? kMaxRetransmit : m_retransmit_ns * 2;
}

void Client::send_request(uint64_t now_ns)
{
    uint64_t elapsed = (now_ns - m_started_at) / kSecond;
    bool selecting = m_state == State::Requesting;
    build(kRequest, selecting, selecting);
    store_be16(m_outgoing.bytes + kSecs, uint16_t(elapsed > 0xffff ? 0xffff : elapsed));
    if (selecting) {
        m_deadline = after_ns(now_ns, m_retransmit_ns - kSecond + jitter_ns());
        m_retransmit_ns = m_retransmit_ns * 2 > kMaxRetransmit ? kMaxRetransmit : m_retransmit_ns * 2;
        return;
    }
    // Renewing / rebinding [§4.4.5]: half the time to the next milestone, at least 60 s, but
    // never past it.
    uint64_t t2 = after_seconds(m_bound_at, m_lease.rebind_seconds);
    uint64_t expiry = after_seconds(m_bound_at, m_lease.lease_seconds);
    uint64_t milestone = m_state == State::Renewing ? t2 : expiry;
    uint64_t wait = milestone > now_ns ? (milestone - now_ns) / 2 : 0;
    if (wait < 60 * kSecond)
        wait = 60 * kSecond;
    uint64_t retry = after_ns(now_ns, wait);
    m_deadline = retry < milestone ? retry : milestone;
}

void Client::bind(const Lease& lease, uint64_t now_ns)
{
    Lease l = lease;
    if (l.lease_seconds != kInfinite && l.lease_seconds < kMinLeaseSeconds)
        l.lease_seconds = kMinLeaseSeconds;
    if (l.lease_seconds == kInfinite) {
        l.renew_seconds = l.rebind_seconds = kInfinite;
    } else {
        uint32_t t1 = l.lease_seconds / 2;
        uint32_t t2 = uint32_t(uint64_t(l.lease_seconds) * 7 / 8);
        // The server's T1/T2 only if they are ordered: 0 < T1 < T2 < lease.
        if (!(l.renew_seconds > 0 && l.renew_seconds < l.rebind_seconds && l.rebind_seconds < l.lease_seconds)) {
            if (l.rebind_seconds > t1 && l.rebind_seconds < l.lease_seconds)
                t2 = l.rebind_seconds;
            l.renew_seconds = t1;
            l.rebind_seconds = t2;
        }
    }
    bool changed = !has_lease() || l.address.value != m_lease.address.value ||
                   l.prefix_length != m_lease.prefix_length || l.router.value != m_lease.router.value ||
                   l.dns_count != m_lease.dns_count || l.mtu != m_lease.mtu;
    for (size_t i = 0; !changed && i < l.dns_count; i++)
        changed = l.dns[i].value != m_lease.dns[i].value;
    m_lease = l;
    m_state = State::Bound;
    m_bound_at = now_ns;
    m_pending = false;
    if (changed)
        m_generation++;
    m_deadline = l.lease_seconds == kInfinite ? UINT64_MAX : after_seconds(now_ns, l.renew_seconds);
}

void Client::on_timer(uint64_t now_ns)
{
    if (now_ns < m_deadline)
        return;
    switch (m_state) {
    case State::Stopped:
        m_deadline = UINT64_MAX;
        return;
    case State::Selecting:
        send_discover(now_ns);
        return;
    case State::Requesting:
        if (++m_request_tries >= kRequestTries) {
            start(now_ns);
            return;
        }
        send_request(now_ns);
        return;
    case State::Bound:
    case State::Renewing:
    case State::Rebinding: {
        uint64_t t2 = after_seconds(m_bound_at, m_lease.rebind_seconds);
        uint64_t expiry = after_seconds(m_bound_at, m_lease.lease_seconds);
        if (now_ns >= expiry) {
            start(now_ns); // the lease is gone: back to DISCOVER
            return;
        }
        State next = now_ns >= t2 ? State::Rebinding : State::Renewing;
        if (next != m_state) {
            m_state = next;
            m_xid = random32();
            m_started_at = now_ns;
        }
        send_request(now_ns);
        return;
    }
    }
}

void Client::on_message(const uint8_t* data, size_t length, uint64_t now_ns)
{
    m_stats.received++;
    if (!data || length < kOptions || length > 65535 || data[kOp] != 2 || data[kHtype] != 1 || data[kHlen] != 6 ||
        load_be32(data + kCookie) != kMagicCookie) {
        m_stats.malformed++;
        return;
    }
    bool ours = load_be32(data + kXid) == m_xid && m_state != State::Stopped && m_state != State::Bound;
    for (size_t i = 0; ours && i < 6; i++)
        ours = data[kChaddr + i] == m_mac.bytes[i];
    if (!ours) {
        m_stats.not_ours++;
        return;
    }
    Parsed p;
    uint8_t overload = 0;
    parse_area(data + kOptions, length - kOptions, p, &overload);
    if (overload & 1)
        parse_area(data + kFile, kFileBytes, p, nullptr);
    if (overload & 2)
        parse_area(data + kSname, kSnameBytes, p, nullptr);
    if (p.malformed) {
        m_stats.malformed++;
        return;
    }
    p.yiaddr = Ipv4Address{ load_be32(data + kYiaddr) };
    if (p.type == kNak) {
        // Only from the server we are talking to.
        Ipv4Address expected = m_state == State::Requesting ? m_offer.server : m_lease.server;
        if (m_state == State::Selecting || (p.has_server && !(p.lease.server == expected))) {
            m_stats.unusable++;
            return;
        }
        m_stats.naks++;
        start(now_ns);
        return;
    }
    if (!p.has_server || !usable_address(p.yiaddr) || !usable_address(p.lease.server)) {
        m_stats.unusable++;
        return;
    }
    p.lease.address = p.yiaddr;
    if (!p.has_mask)
        p.lease.prefix_length = class_prefix(p.yiaddr);
    if (p.lease.router.value != 0 && !p.lease.router.same_prefix(p.yiaddr, p.lease.prefix_length))
        p.lease.router = Ipv4Address::any(); // an off-link router cannot be reached
    switch (m_state) {
    case State::Selecting:
        if (p.type != kOffer) {
            m_stats.unusable++;
            return;
        }
        m_offer = p.lease;
        m_state = State::Requesting;
        m_request_tries = 0;
        m_retransmit_ns = kFirstRetransmit;
        send_request(now_ns);
        return;
    case State::Requesting:
        if (p.type != kAck || !(p.lease.server == m_offer.server) || !p.has_lease_time) {
            m_stats.unusable++;
            return;
        }
        bind(p.lease, now_ns);
        return;
    case State::Renewing:
    case State::Rebinding:
        if (p.type != kAck || !p.has_lease_time) {
            m_stats.unusable++;
            return;
        }
        if (!(p.lease.address == m_lease.address)) {
            // A different address on renewal: take it, as a new lease.
            m_lease = Lease{};
            m_generation++;
            m_state = State::Requesting;
        }
        bind(p.lease, now_ns);
        return;
    case State::Stopped:
    case State::Bound:
        return;
    }
}

bool Client::take_outgoing(Outgoing& out)
{
    if (!m_pending)
        return false;
    out = m_outgoing;
    m_pending = false;
    return true;
}

size_t format_resolv_conf(const Lease& lease, char* out, size_t size)
{
    size_t n = 0;
    auto put = [&](const char* s, size_t len) {
        if (n + len + 1 > size)
            return false;
        for (size_t i = 0; i < len; i++)
            out[n++] = s[i];
        out[n] = '\0';
        return true;
    };
    if (size == 0)
        return 0;
    out[0] = '\0';
    for (size_t i = 0; i < lease.dns_count; i++) {
        char address[16];
        size_t len = format_ipv4(lease.dns[i], address);
        if (!put("nameserver ", 11) || !put(address, len) || !put("\n", 1))
            return 0;
    }
    if (lease.domain[0]) {
        size_t len = 0;
        while (lease.domain[len])
            len++;
        if (!put("search ", 7) || !put(lease.domain, len) || !put("\n", 1))
            return 0;
    }
    return n;
}

} // namespace net::dhcp
