// The TCP segment parser and writer (see segment.h).
#include <lib/string.h>
#include <net/byte_order.h>
#include <net/checksum.h>
#include <net/tcp/segment.h>

namespace net::tcp {

bool parse_options(const uint8_t* data, size_t length, Options& out)
{
    out = Options{};
    size_t i = 0;
    while (i < length) {
        uint8_t kind = data[i];
        if (kind == kOptionEnd)
            break;
        if (kind == kOptionNop) {
            i++;
            continue;
        }
        // Every other option carries a length byte that counts kind and length [rfc9293 §3.2].
        if (i + 1 >= length)
            return false;
        size_t option_length = data[i + 1];
        if (option_length < 2 || option_length > length - i)
            return false;
        const uint8_t* body = data + i + 2;
        switch (kind) {
        case kOptionMss:
            if (option_length != 4)
                return false;
            out.has_mss = true;
            out.mss = load_be16(body);
            break;
        case kOptionWindowScale:
            if (option_length != 3)
                return false;
            out.has_window_scale = true;
            out.window_scale = body[0];
            break;
        case kOptionSackPermitted:
            if (option_length != 2)
                return false;
            out.sack_permitted = true;
            break;
        case kOptionSack: {
            size_t blocks = (option_length - 2) / 8;
            if ((option_length - 2) % 8 != 0 || blocks == 0 || blocks > kMaxSackBlocks)
                return false;
            out.sack_block_count = static_cast<uint8_t>(blocks);
            for (size_t b = 0; b < blocks; b++) {
                out.sack_blocks[b].left = load_be32(body + 8 * b);
                out.sack_blocks[b].right = load_be32(body + 8 * b + 4);
            }
            break;
        }
        case kOptionTimestamps:
            if (option_length != 10)
                return false;
            out.has_timestamps = true;
            out.ts_value = load_be32(body);
            out.ts_echo = load_be32(body + 4);
            break;
        default:
            break; // unknown: skipped by its length
        }
        i += option_length;
    }
    return true;
}

Result<Segment> parse_segment(const uint8_t* data, size_t length, Ipv4Address source,
                              Ipv4Address destination, ChecksumMode mode, ParseStats& stats)
{
    if (length < kHeaderSize || length > 0xffff) {
        stats.truncated++;
        return Errno::INVAL;
    }
    size_t data_offset = size_t(data[12] >> 4) * 4;
    if (data_offset < kHeaderSize) {
        stats.bad_data_offset++;
        return Errno::INVAL;
    }
    if (data_offset > length) {
        stats.truncated++;
        return Errno::INVAL;
    }
    if (mode != ChecksumMode::Verified) {
        uint32_t sum = pseudo_header_sum(source, destination, kProtocolNumber,
                                         static_cast<uint16_t>(length));
        if (fold_sum(sum_bytes(data, length, sum)) != 0xffff) {
            stats.bad_checksum++;
            return Errno::INVAL;
        }
    }
    Segment segment;
    segment.source = source;
    segment.destination = destination;
    segment.source_port = load_be16(data);
    segment.destination_port = load_be16(data + 2);
    if (segment.source_port == 0 || segment.destination_port == 0) {
        stats.bad_port++;
        return Errno::INVAL;
    }
    segment.seq = load_be32(data + 4);
    segment.ack = load_be32(data + 8);
    segment.flags = data[13];
    segment.window = load_be16(data + 14);
    segment.urgent = load_be16(data + 18);
    if (!parse_options(data + kHeaderSize, data_offset - kHeaderSize, segment.options)) {
        stats.bad_options++;
        return Errno::INVAL;
    }
    segment.payload = data + data_offset;
    segment.payload_length = length - data_offset;
    stats.parsed++;
    return segment;
}

namespace {

// Number of SACK blocks that fit next to the other options (each block 8 bytes, plus 4 for
// NOP NOP kind length).
size_t fitting_sack_blocks(const Options& options, size_t used)
{
    size_t blocks = options.sack_block_count;
    if (blocks > kMaxSackBlocks)
        blocks = kMaxSackBlocks;
    while (blocks > 0 && used + 4 + 8 * blocks > kMaxOptionsSize)
        blocks--;
    return blocks;
}

size_t options_size_without_sack(const Options& options)
{
    size_t size = 0;
    if (options.has_mss)
        size += 4;
    if (options.has_window_scale)
        size += 4; // NOP + 3
    if (options.has_timestamps)
        size += 12; // (SACK-permitted or NOP NOP) + 10
    else if (options.sack_permitted)
        size += 4; // NOP NOP + 2
    return size;
}

} // namespace

size_t header_size(const Options& options)
{
    size_t used = options_size_without_sack(options);
    size_t blocks = fitting_sack_blocks(options, used);
    if (blocks > 0)
        used += 4 + 8 * blocks;
    return kHeaderSize + used;
}

Result<size_t> write_segment(const Header& header, const Payload& payload, ChecksumMode mode,
                             uint8_t* out, size_t capacity)
{
    size_t header_length = header_size(header.options);
    size_t total = header_length + payload.size();
    if (total > 0xffff)
        return Errno::INVAL;
    if (total > capacity)
        return Errno::NOSPC;

    store_be16(out, header.source_port);
    store_be16(out + 2, header.destination_port);
    store_be32(out + 4, header.seq);
    store_be32(out + 8, header.ack);
    out[12] = static_cast<uint8_t>((header_length / 4) << 4);
    out[13] = header.flags;
    store_be16(out + 14, header.window);
    store_be16(out + 16, 0);
    store_be16(out + 18, header.urgent);

    // Layout as most stacks send it, so that every option is 4-byte aligned for the reader:
    // MSS, SACK-permitted + timestamps (or NOP NOP + timestamps), NOP + window scale,
    // NOP NOP + SACK blocks.
    const Options& o = header.options;
    uint8_t* p = out + kHeaderSize;
    if (o.has_mss) {
        p[0] = kOptionMss;
        p[1] = 4;
        store_be16(p + 2, o.mss);
        p += 4;
    }
    if (o.has_timestamps) {
        if (o.sack_permitted) {
            p[0] = kOptionSackPermitted;
            p[1] = 2;
        } else {
            p[0] = kOptionNop;
            p[1] = kOptionNop;
        }
        p[2] = kOptionTimestamps;
        p[3] = 10;
        store_be32(p + 4, o.ts_value);
        store_be32(p + 8, o.ts_echo);
        p += 12;
    } else if (o.sack_permitted) {
        p[0] = kOptionNop;
        p[1] = kOptionNop;
        p[2] = kOptionSackPermitted;
        p[3] = 2;
        p += 4;
    }
    if (o.has_window_scale) {
        p[0] = kOptionNop;
        p[1] = kOptionWindowScale;
        p[2] = 3;
        p[3] = o.window_scale;
        p += 4;
    }
    size_t blocks = fitting_sack_blocks(o, options_size_without_sack(o));
    if (blocks > 0) {
        p[0] = kOptionNop;
        p[1] = kOptionNop;
        p[2] = kOptionSack;
        p[3] = static_cast<uint8_t>(2 + 8 * blocks);
        p += 4;
        for (size_t b = 0; b < blocks; b++) {
            store_be32(p, o.sack_blocks[b].left);
            store_be32(p + 4, o.sack_blocks[b].right);
            p += 8;
        }
    }

    uint8_t* body = out + header_length;
    if (payload.length[0] > 0)
        lib::mem_copy(body, payload.data[0], payload.length[0]);
    if (payload.length[1] > 0)
        lib::mem_copy(body + payload.length[0], payload.data[1], payload.length[1]);

    uint32_t sum = pseudo_header_sum(header.source, header.destination, kProtocolNumber,
                                     static_cast<uint16_t>(total));
    if (mode == ChecksumMode::Offload)
        store_be16(out + 16, fold_sum(sum));
    else
        store_be16(out + 16, finish_checksum(sum_bytes(out, total, sum)));
    return total;
}

} // namespace net::tcp
