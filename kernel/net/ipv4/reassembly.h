// IPv4 reassembly [RFC 791 §3.2 "Fragmentation and reassembly", RFC 815] with hard limits,
// since fragments are the classic memory-exhaustion and overlap-evasion vector:
//   - at most kMaxDatagrams datagrams in progress (the oldest is evicted for a new one),
//     each of at most kMaxFragments fragments and kIpv4MaxDatagram bytes;
//   - at most kMemoryCap bytes of fragment buffers in all (older datagrams are evicted to
//     make room; if that is not enough the fragment's own datagram is dropped);
//   - kTimeoutNs after its first fragment an incomplete datagram is freed [RFC 791: 15 s
//     initial; RFC 1122 §3.3.2 recommends 60-120 s; Linux 30 s];
//   - overlapping fragments drop the whole datagram (as RFC 5722 requires for IPv6; the same
//     rule closes the IPv4 overlap attacks); an exact duplicate is ignored.
// Fragments are kept as received and copied once into a fresh packet when complete.
#pragma once

#include <net/ipv4/header.h>
#include <net/packet.h>
#include <stddef.h>
#include <stdint.h>

namespace net {

struct ReassemblyStats {
    uint64_t fragments = 0;      // fragments offered
    uint64_t reassembled = 0;    // datagrams completed
    uint64_t duplicates = 0;     // exact duplicates ignored
    uint64_t overlaps = 0;       // datagrams dropped for overlapping fragments
    uint64_t too_big = 0;        // datagrams dropped for exceeding 65535 bytes
    uint64_t bad_fragments = 0;  // non-last fragment not a multiple of 8, or inconsistent ends
    uint64_t too_many_fragments = 0;
    uint64_t timeouts = 0;       // datagrams freed incomplete after kTimeoutNs
    uint64_t evictions = 0;      // datagrams dropped for the memory cap or datagram limit
    uint64_t no_memory = 0;      // allocation failures
};

class Reassembler {
public:
    static constexpr size_t kMaxDatagrams = 16;
    static constexpr size_t kMaxFragments = 128;
    static constexpr size_t kMemoryCap = 256 * 1024;
    static constexpr uint64_t kTimeoutNs = 30'000'000'000;

    Reassembler() = default;
    Reassembler(const Reassembler&) = delete;
    Reassembler& operator=(const Reassembler&) = delete;
    ~Reassembler();

    // Takes one fragment (data() at its IPv4 header, trimmed to total_length, `header` its
    // parsed header). Returns the whole datagram — data() at a rebuilt header with MF and the
    // offset cleared, network header marked — once its last missing piece arrives, else null.
    Packet add(Packet fragment, const Ipv4Header& header, uint64_t now);

    // Frees datagrams older than kTimeoutNs. The first fragment (offset 0) of each, when it
    // had arrived, is moved to `expired` so the caller can send ICMP time exceeded [RFC 792].
    void poll(uint64_t now, PacketQueue& expired);
    uint64_t next_deadline() const;
    size_t datagram_count() const;
    size_t memory_used() const { return m_memory; }
    const ReassemblyStats& stats() const { return m_stats; }

private:
    struct Fragment {
        Packet packet; // data() at the IPv4 header
        uint16_t offset = 0;
        uint16_t length = 0; // payload bytes
    };
    struct Datagram {
        Ipv4Address source;
        Ipv4Address destination;
        uint16_t id = 0;
        uint8_t protocol = 0;
        bool have_last = false;
        uint32_t total_payload = 0;    // known once the last fragment is in
        uint32_t received_payload = 0; // sum of fragment lengths (no overlaps kept)
        uint64_t started = 0;
        size_t memory = 0;
        size_t count = 0;
        Fragment fragments[kMaxFragments];
    };

    void drop(size_t index);
    bool evict_for(size_t needed, size_t keep);
    Packet assemble(size_t index);

    Datagram* m_datagrams[kMaxDatagrams] = {};
    size_t m_memory = 0;
    ReassemblyStats m_stats;
};

} // namespace net
