#include <net/checksum.h>

namespace net {

uint32_t sum_bytes(const uint8_t* data, size_t length, uint32_t sum, bool odd_start)
{
    // 64-bit accumulator: 2^48 words before it can overflow, far beyond any packet.
    uint64_t acc = sum;
    size_t i = 0;
    if (odd_start && length > 0) {
        acc += data[0];
        i = 1;
    }
    for (; i + 1 < length; i += 2)
        acc += uint32_t(data[i]) << 8 | data[i + 1];
    if (i < length)
        acc += uint32_t(data[i]) << 8;
    while (acc >> 32)
        acc = (acc & 0xffffffffu) + (acc >> 32);
    return static_cast<uint32_t>(acc);
}

uint16_t fold_sum(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(sum);
}

uint32_t pseudo_header_sum(Ipv4Address source, Ipv4Address destination, uint8_t protocol,
                           uint16_t length)
{
    uint64_t acc = (source.value >> 16) + (source.value & 0xffff) + (destination.value >> 16) +
                   (destination.value & 0xffff) + protocol + length;
    while (acc >> 32)
        acc = (acc & 0xffffffffu) + (acc >> 32);
    return static_cast<uint32_t>(acc);
}

uint16_t update_checksum(uint16_t checksum, uint16_t old_value, uint16_t new_value)
{
    // HC' = ~(~HC + ~m + m')
    uint32_t sum = uint16_t(~checksum) + uint32_t(uint16_t(~old_value)) + new_value;
    return static_cast<uint16_t>(~fold_sum(sum));
}

} // namespace net
