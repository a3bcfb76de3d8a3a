// SipHash-2-4 (see keyed_hash.h), written from the paper's description.
#include <net/byte_order.h>
#include <net/tcp/keyed_hash.h>

namespace net::tcp {

uint64_t hash_tuple(const HashKey& key, const FourTuple& tuple, uint64_t extra)
{
    uint8_t bytes[20];
    store_be32(bytes, tuple.local_address.value);
    store_be16(bytes + 4, tuple.local_port);
    store_be32(bytes + 6, tuple.remote_address.value);
    store_be16(bytes + 10, tuple.remote_port);
    store_be32(bytes + 12, static_cast<uint32_t>(extra >> 32));
    store_be32(bytes + 16, static_cast<uint32_t>(extra));
    return siphash24(key, bytes, sizeof bytes);
}

} // namespace net::tcp
