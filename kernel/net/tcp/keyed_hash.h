// Keyed hashing for TCP's secrets: SipHash-2-4 (net/siphash.h) over a flow's 4-tuple. Used for initial sequence numbers
// [rfc6528 §3] and SYN cookies [rfc4987 §3.6]: without the key, a remote host can neither
// predict the values nor forge them.
#pragma once

#include <net/addr.h>
#include <net/siphash.h>
#include <stddef.h>
#include <stdint.h>

namespace net::tcp {

using HashKey = SipKey;

// Both ends of a connection as seen from this host.
struct FourTuple {
    Ipv4Address local_address;
    uint16_t local_port = 0;
    Ipv4Address remote_address;
    uint16_t remote_port = 0;

    friend bool operator==(const FourTuple& a, const FourTuple& b)
    {
        return a.local_address == b.local_address && a.local_port == b.local_port &&
               a.remote_address == b.remote_address && a.remote_port == b.remote_port;
    }
};

// SipHash of the tuple followed by `extra` (a counter, a sequence number ...).
uint64_t hash_tuple(const HashKey& key, const FourTuple& tuple, uint64_t extra = 0);

} // namespace net::tcp
