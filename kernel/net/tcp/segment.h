// TCP segments on the wire [rfc9293 §3.1]: a parser that turns untrusted bytes into a
// checked `Segment` view, and a writer that lays out a header, its options and the payload
// into a caller's buffer. Neither allocates; neither knows about IP beyond the pseudo-header.
#pragma once

#include <lib/result.h>
#include <net/addr.h>
#include <stddef.h>
#include <stdint.h>

namespace net::tcp {

inline constexpr uint8_t kProtocolNumber = 6;
inline constexpr size_t kHeaderSize = 20;
inline constexpr size_t kMaxOptionsSize = 40;
inline constexpr size_t kMaxSackBlocks = 4;

// Control bits [rfc9293 §3.1, rfc3168 §6.1 for ECE/CWR].
enum Flag : uint8_t {
    kFin = 0x01,
    kSyn = 0x02,
    kRst = 0x04,
    kPsh = 0x08,
    kAck = 0x10,
    kUrg = 0x20,
    kEce = 0x40,
    kCwr = 0x80,
};

// Option kinds [rfc9293 §3.2, rfc7323 §2-3, rfc2018 §2-3].
enum OptionKind : uint8_t {
    kOptionEnd = 0,
    kOptionNop = 1,
    kOptionMss = 2,
    kOptionWindowScale = 3,
    kOptionSackPermitted = 4,
    kOptionSack = 5,
    kOptionTimestamps = 8,
};

// [left, right) of received data the peer holds beyond its cumulative ACK [rfc2018 §3].
struct SackBlock {
    uint32_t left = 0;
    uint32_t right = 0;
};

// The options of one segment that this stack understands; others are skipped when parsing.
struct Options {
    bool has_mss = false;
    uint16_t mss = 0;
    bool has_window_scale = false;
    uint8_t window_scale = 0; // as sent; the receiver clamps it to 14 [rfc7323 §2.3]
    bool sack_permitted = false;
    uint8_t sack_block_count = 0;
    SackBlock sack_blocks[kMaxSackBlocks];
    bool has_timestamps = false;
    uint32_t ts_value = 0;
    uint32_t ts_echo = 0;
};

// A parsed segment. `payload` points into the bytes given to parse_segment, which must
// outlive the view. Addresses come from the IP layer (they are not in the TCP header).
struct Segment {
    Ipv4Address source;
    Ipv4Address destination;
    uint16_t source_port = 0;
    uint16_t destination_port = 0;
    uint32_t seq = 0;
    uint32_t ack = 0;
    uint8_t flags = 0;
    uint16_t window = 0; // unscaled, as on the wire
    uint16_t urgent = 0;
    Options options;
    const uint8_t* payload = nullptr;
    size_t payload_length = 0;

    bool has(uint8_t flag) const { return (flags & flag) != 0; }
    // Sequence space the segment occupies: data plus one for SYN and one for FIN.
    uint32_t sequence_length() const
    {
        return static_cast<uint32_t>(payload_length) + (has(kSyn) ? 1 : 0) + (has(kFin) ? 1 : 0);
    }
};

// Why segments were dropped before reaching a connection; one counter per reason.
struct ParseStats {
    uint64_t parsed = 0;
    uint64_t truncated = 0;        // shorter than 20 bytes or than its data offset
    uint64_t bad_data_offset = 0;  // data offset < 5
    uint64_t bad_checksum = 0;
    uint64_t bad_options = 0;      // option runs past the header, or a known option's length is wrong
    uint64_t bad_port = 0;         // source or destination port 0
};

enum class ChecksumMode {
    Compute,  // the writer computes the full checksum
    Offload,  // the field holds the folded pseudo-header sum (not complemented); the device
              // adds the segment's bytes [virtio-v1.2 §5.1.6.2 VIRTIO_NET_HDR_F_NEEDS_CSUM]
    Verified, // parse only: the device already verified it
};

// Parses `length` bytes of a TCP segment that arrived from `source` to `destination`.
// With ChecksumMode::Verified the checksum is not checked. Errors (Errno::INVAL) are counted
// in `stats`; the bytes are never trusted beyond their length.
Result<Segment> parse_segment(const uint8_t* data, size_t length, Ipv4Address source,
                              Ipv4Address destination, ChecksumMode mode, ParseStats& stats);

// Parses an options area (the bytes between the fixed header and the data); false when it
// is malformed. Exposed for the fuzzer and the tests.
bool parse_options(const uint8_t* data, size_t length, Options& out);

// Up to two byte ranges (a ring buffer's wrap splits data in two) forming a payload.
struct Payload {
    const uint8_t* data[2] = {nullptr, nullptr};
    size_t length[2] = {0, 0};
    size_t size() const { return length[0] + length[1]; }
};

// What the writer needs besides the payload.
struct Header {
    Ipv4Address source;
    Ipv4Address destination;
    uint16_t source_port = 0;
    uint16_t destination_port = 0;
    uint32_t seq = 0;
    uint32_t ack = 0;
    uint8_t flags = 0;
    uint16_t window = 0; // already scaled down
    uint16_t urgent = 0;
    Options options;
};

// Size of the header (20 + options, padded to 4 bytes) write_segment will produce. SACK
// blocks that do not fit in 40 option bytes are left out.
size_t header_size(const Options& options);

// Writes header + options + payload into `out` and fills in the checksum per `mode`
// (Compute or Offload). Returns the segment's length, or Errno::NOSPC if `capacity` is too
// small, Errno::INVAL for a segment longer than 65535 bytes.
Result<size_t> write_segment(const Header& header, const Payload& payload, ChecksumMode mode,
                             uint8_t* out, size_t capacity);

} // namespace net::tcp
