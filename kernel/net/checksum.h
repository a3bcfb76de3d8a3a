// The Internet checksum [RFC 1071]: the ones'-complement sum of 16-bit big-endian words.
// Sums are carried in 32 bits and folded at the end, so partial sums over pieces of a packet
// (a pseudo-header, a header, a payload in several buffers) add up; a piece of odd length
// is only allowed last, or its successor must be summed with `odd` set (see sum_bytes).
#pragma once

#include <net/addr.h>
#include <stddef.h>
#include <stdint.h>

namespace net {

// Adds `length` bytes to `sum`. When `odd_start` is true the first byte is the low half of
// a word begun by the previous piece (that piece had odd length).
uint32_t sum_bytes(const uint8_t* data, size_t length, uint32_t sum = 0, bool odd_start = false);

// Folds a 32-bit partial sum to 16 bits (still not complemented).
uint16_t fold_sum(uint32_t sum);

// The checksum field's value for data whose partial sum is `sum`: ~fold.
inline uint16_t finish_checksum(uint32_t sum)
{
    return static_cast<uint16_t>(~fold_sum(sum));
}

// The TCP/UDP pseudo-header [RFC 9293 §3.1, RFC 768] as a partial sum.
uint32_t pseudo_header_sum(Ipv4Address source, Ipv4Address destination, uint8_t protocol,
                           uint16_t length);

// Incremental update [RFC 1624 eqn. 3]: the checksum after a 16-bit field changes from
// `old_value` to `new_value`.
uint16_t update_checksum(uint16_t checksum, uint16_t old_value, uint16_t new_value);

} // namespace net
