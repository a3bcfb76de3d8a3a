// The stack's counters as the SNMP MIB-II groups name them [RFC 4293 (IP), RFC 4022 (TCP),
// RFC 4113 (UDP), RFC 2011 (ICMP)] — what Linux prints in /proc/net/snmp and /proc/net/dev,
// and what tools such as `netstat -s`, `nstat` and psutil read. Stack::read_mib() fills them
// from the layers' own stats structs; kernel/procfs formats them.
#pragma once

#include <stdint.h>

namespace net {

struct Mib {
    // Ip (RFC 4293 ipSystemStats…; Linux's column names)
    uint64_t ip_in_receives = 0;
    uint64_t ip_in_hdr_errors = 0;     // malformed headers, bad checksums, TTL 0, martians
    uint64_t ip_in_addr_errors = 0;    // not addressed to us (we do not forward)
    uint64_t ip_in_unknown_protos = 0;
    uint64_t ip_in_discards = 0;
    uint64_t ip_in_delivers = 0;
    uint64_t ip_out_requests = 0;
    uint64_t ip_out_discards = 0;
    uint64_t ip_out_no_routes = 0;
    uint64_t ip_reasm_timeout = 0;
    uint64_t ip_reasm_reqds = 0;       // fragments received
    uint64_t ip_reasm_oks = 0;
    uint64_t ip_reasm_fails = 0;
    uint64_t ip_frag_oks = 0;          // datagrams sent as fragments
    uint64_t ip_frag_fails = 0;        // too big with DF set
    uint64_t ip_frag_creates = 0;
    // Icmp
    uint64_t icmp_in_msgs = 0;
    uint64_t icmp_in_errors = 0;       // truncated, bad checksum, or an error quoting nothing of ours
    uint64_t icmp_in_csum_errors = 0;
    uint64_t icmp_out_msgs = 0;
    uint64_t icmp_out_errors = 0;      // could not be sent
    uint64_t icmp_out_rate_limit_global = 0;
    // By message type (Linux's per-type Icmp columns and its IcmpMsg line).
    static constexpr unsigned kIcmpTypes = 64;
    uint64_t icmp_in_types[kIcmpTypes] = {};
    uint64_t icmp_out_types[kIcmpTypes] = {};
    // Tcp
    uint64_t tcp_active_opens = 0;
    uint64_t tcp_passive_opens = 0;    // connections handed to accept() (Linux: handshakes completed)
    uint64_t tcp_attempt_fails = 0;    // failed active opens, and half-open connections a listener gave up on
    uint64_t tcp_estab_resets = 0;     // resets received on synchronised connections
    uint64_t tcp_curr_estab = 0;       // ESTABLISHED or CLOSE-WAIT now, accepted or queued
    uint64_t tcp_in_segs = 0;
    uint64_t tcp_out_segs = 0;
    uint64_t tcp_retrans_segs = 0;
    uint64_t tcp_in_errs = 0;          // malformed segments (checksum, offsets, options, ports)
    uint64_t tcp_out_rsts = 0;
    uint64_t tcp_in_csum_errors = 0;
    // Udp
    uint64_t udp_in_datagrams = 0;
    uint64_t udp_no_ports = 0;
    uint64_t udp_in_errors = 0;        // truncated, bad length or checksum
    uint64_t udp_out_datagrams = 0;
    uint64_t udp_sndbuf_errors = 0;    // could not be sent
    uint64_t udp_in_csum_errors = 0;
};

// One interface's line of /proc/net/dev.
struct InterfaceCounters {
    const char* name = "";
    uint64_t rx_bytes = 0;
    uint64_t rx_packets = 0;
    uint64_t rx_errors = 0;
    uint64_t rx_dropped = 0;
    uint64_t tx_bytes = 0;
    uint64_t tx_packets = 0;
    uint64_t tx_errors = 0;
    uint64_t tx_dropped = 0;
};

} // namespace net
