// fuzz-links: net lib
// libFuzzer target: hostile DHCP servers. The input is a sequence of replies (2-byte length,
// then bytes); each gets the client's current transaction id and our hardware address
// patched in (so the fuzzer reaches the option parser and the state machine instead of the
// first check), with time advancing between them. The client must never crash, never keep an
// unusable lease, and never schedule a deadline in the past.
#include <net/byte_order.h>
#include <net/dhcp/client.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const net::MacAddress mac{ { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 } };
    net::dhcp::Client client(mac, 1, "fuzz");
    uint64_t now = 0;
    client.start(now);
    net::dhcp::Outgoing out;
    uint32_t xid = 0;
    while (size >= 2) {
        if (client.take_outgoing(out))
            xid = net::load_be32(out.bytes + 4);
        size_t n = size_t(data[0]) | size_t(data[1]) << 8;
        data += 2;
        size -= 2;
        if (n > size)
            n = size;
        std::vector<uint8_t> message(data, data + n); // exact size: ASan sees any overread
        data += n;
        size -= n;
        if (message.size() >= 240) {
            net::store_be32(message.data() + 4, xid);
            std::memcpy(message.data() + 28, mac.bytes, 6);
            message[0] = 2;
            message[1] = 1;
            message[2] = 6;
            net::store_be32(message.data() + 236, 0x63825363);
        }
        client.on_message(message.data(), message.size(), now);
        if (client.has_lease()) {
            const net::dhcp::Lease& l = client.lease();
            if (l.address.is_any() || l.address.is_broadcast() || l.address.is_loopback() || l.prefix_length > 32 ||
                l.dns_count > net::dhcp::kMaxDnsServers)
                std::abort();
            if (l.lease_seconds != 0xffffffffu && !(l.renew_seconds <= l.rebind_seconds && l.rebind_seconds <= l.lease_seconds))
                std::abort();
        }
        if (client.next_deadline() < now)
            std::abort();
        // Jump to the next deadline now and then, so renewals and expiry run too.
        if (!message.empty() && (message.back() & 3) == 0 && client.next_deadline() != UINT64_MAX) {
            now = client.next_deadline();
            client.on_timer(now);
        } else {
            now += 1'000'000'000ull;
            client.on_timer(now);
        }
    }
    return 0;
}
