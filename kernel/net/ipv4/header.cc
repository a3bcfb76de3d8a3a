// IPv4 header parsing and building.
#include <net/byte_order.h>
#include <net/checksum.h>
#include <net/ipv4/header.h>

namespace net {

Ipv4Parse parse_ipv4_header(const uint8_t* data, size_t length, bool checksum_verified, Ipv4Header& out)
{
    if (length < kIpv4HeaderSize)
        return Ipv4Parse::Truncated;
    if (data[0] >> 4 != 4)
        return Ipv4Parse::BadVersion;
    size_t header_length = size_t(data[0] & 0xf) * 4;
    if (header_length < kIpv4HeaderSize)
        return Ipv4Parse::BadHeaderLength;
    if (header_length > length)
        return Ipv4Parse::Truncated;
    uint16_t total = load_be16(data + 2);
    if (total < header_length || total > length)
        return Ipv4Parse::BadTotalLength;
    if (!checksum_verified && fold_sum(sum_bytes(data, header_length)) != 0xffff)
        return Ipv4Parse::BadChecksum;
    uint16_t flags = load_be16(data + 6);
    if (flags & 0x8000)
        return Ipv4Parse::ReservedFlag;
    out.header_length = static_cast<uint8_t>(header_length);
    out.tos = data[1];
    out.total_length = total;
    out.id = load_be16(data + 4);
    out.dont_fragment = flags & kIpv4FlagDontFragment;
    out.more_fragments = flags & kIpv4FlagMoreFragments;
    out.fragment_offset = static_cast<uint16_t>((flags & kIpv4OffsetMask) * 8);
    out.ttl = data[8];
    out.protocol = data[9];
    out.source = {load_be32(data + 12)};
    out.destination = {load_be32(data + 16)};
    return Ipv4Parse::Ok;
}

void write_ipv4_header(uint8_t* out, const Ipv4Header& header)
{
    out[0] = 0x45;
    out[1] = header.tos;
    store_be16(out + 2, header.total_length);
    store_be16(out + 4, header.id);
    uint16_t flags = static_cast<uint16_t>(header.fragment_offset / 8);
    if (header.dont_fragment)
        flags |= kIpv4FlagDontFragment;
    if (header.more_fragments)
        flags |= kIpv4FlagMoreFragments;
    store_be16(out + 6, flags);
    out[8] = header.ttl;
    out[9] = header.protocol;
    store_be16(out + 10, 0);
    store_be32(out + 12, header.source.value);
    store_be32(out + 16, header.destination.value);
    store_be16(out + 10, finish_checksum(sum_bytes(out, kIpv4HeaderSize)));
}

} // namespace net
