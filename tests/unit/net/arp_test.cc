// Unit tests for ARP: packet format, answering requests, resolution with parked packets,
// retries and give-up, Reachable → Stale → re-probe, merge updates, gratuitous ARP, limits.
#include "net_test_support.h"

namespace {

using namespace nettest;

// Sends an IPv4 packet through ARP to `next_hop` (a 1-byte-payload datagram as the payload).
Result<void> send_via_arp(Host& host, net::Ipv4Address next_hop, uint8_t tag)
{
    return host.stack.arp().resolve(host.eth, next_hop, make_packet(Bytes(20, tag)));
}

TEST(Arp, ParseRejectsOtherFormats)
{
    Bytes frame = arp_frame(1, mac(1), mac(1), ip(1, 2, 3, 4), mac(2), ip(5, 6, 7, 8));
    Bytes arp(frame.begin() + 14, frame.end());
    net::ArpPacket p;
    EXPECT_EQ(net::parse_arp_packet(arp.data(), arp.size(), p), net::ArpParse::Ok);
    EXPECT_EQ(p.sender_ip, ip(1, 2, 3, 4));
    EXPECT_EQ(p.target_mac, mac(2));
    EXPECT_EQ(net::parse_arp_packet(arp.data(), 27, p), net::ArpParse::Truncated);
    EXPECT_EQ(net::parse_arp_packet(arp.data(), 7, p), net::ArpParse::Truncated);
    Bytes bad = arp;
    bad[1] = 6; // IEEE 802 hardware
    EXPECT_EQ(net::parse_arp_packet(bad.data(), bad.size(), p), net::ArpParse::BadFormat);
    bad = arp;
    bad[5] = 16; // IPv6-sized protocol address
    EXPECT_EQ(net::parse_arp_packet(bad.data(), bad.size(), p), net::ArpParse::BadFormat);
    bad = arp;
    bad[7] = 3; // RARP request
    EXPECT_EQ(net::parse_arp_packet(bad.data(), bad.size(), p), net::ArpParse::BadOperation);
}

TEST(Arp, AnswersRequestForOurAddressByteExact)
{
    Host host;
    host.receive(arp_frame(net::kArpOpRequest, net::MacAddress::broadcast(), mac(1), ip(10, 0, 0, 1),
                           net::MacAddress(), ip(10, 0, 0, 2)));
    ASSERT_EQ(host.eth.frames.size(), 1u);
    Bytes expected = arp_frame(net::kArpOpReply, mac(1), mac(2), ip(10, 0, 0, 2), mac(1), ip(10, 0, 0, 1));
    expected.resize(60, 0);
    EXPECT_EQ(host.eth.frames[0], expected);
    // The requester was cached (RFC 826: we are the target, add the sender).
    net::MacAddress m;
    net::ArpState state;
    ASSERT_TRUE(host.stack.arp().lookup(host.eth, ip(10, 0, 0, 1), m, state));
    EXPECT_EQ(m, mac(1));
    EXPECT_EQ(state, net::ArpState::Reachable);
    EXPECT_EQ(host.stack.arp().stats().tx_replies, 1u);
}

TEST(Arp, IgnoresRequestsForOthersAndDoesNotCacheThem)
{
    Host host;
    host.receive(arp_frame(net::kArpOpRequest, net::MacAddress::broadcast(), mac(1), ip(10, 0, 0, 1),
                           net::MacAddress(), ip(10, 0, 0, 9)));
    EXPECT_TRUE(host.eth.frames.empty());
    EXPECT_EQ(host.stack.arp().entry_count(), 0u);
}

TEST(Arp, CountsBadSendersAndConflicts)
{
    Host host;
    const auto& stats = host.stack.arp().stats();
    net::MacAddress group{{0x01, 0, 0x5e, 0, 0, 1}};
    host.receive(arp_frame(1, net::MacAddress::broadcast(), mac(1), ip(10, 0, 0, 1), net::MacAddress(),
                           ip(10, 0, 0, 2)));
    host.eth.frames.clear();
    // Multicast sender MAC in the ARP body (the Ethernet source is fine).
    Bytes f = arp_frame(1, net::MacAddress::broadcast(), mac(1), ip(10, 0, 0, 3), net::MacAddress(), ip(10, 0, 0, 2));
    memcpy(f.data() + 22, group.bytes, 6);
    host.receive(f);
    host.receive(arp_frame(1, net::MacAddress::broadcast(), mac(1), ip(255, 255, 255, 255), net::MacAddress(),
                           ip(10, 0, 0, 2)));
    host.receive(arp_frame(1, net::MacAddress::broadcast(), mac(1), ip(10, 0, 0, 255), net::MacAddress(),
                           ip(10, 0, 0, 2)));
    host.receive(arp_frame(1, net::MacAddress::broadcast(), mac(1), ip(127, 0, 0, 1), net::MacAddress(),
                           ip(10, 0, 0, 2)));
    EXPECT_EQ(stats.rx_bad_sender, 4u);
    host.receive(arp_frame(1, net::MacAddress::broadcast(), mac(5), ip(10, 0, 0, 2), net::MacAddress(),
                           ip(10, 0, 0, 2)));
    EXPECT_EQ(stats.rx_conflicts, 1u);
    EXPECT_TRUE(host.eth.frames.empty());
    Bytes trunc = arp_frame(1, net::MacAddress::broadcast(), mac(1), ip(10, 0, 0, 1), net::MacAddress(),
                            ip(10, 0, 0, 2));
    trunc.resize(14 + 20);
    host.receive(trunc);
    EXPECT_EQ(stats.rx_truncated, 1u);
}

TEST(Arp, ResolveQueuesSendsRequestAndFlushesOnReply)
{
    Host host;
    ASSERT_FALSE(send_via_arp(host, ip(10, 0, 0, 7), 0xa1).is_error());
    ASSERT_FALSE(send_via_arp(host, ip(10, 0, 0, 7), 0xa2).is_error());
    ASSERT_EQ(host.eth.frames.size(), 1u); // one request, not two
    Bytes request = arp_frame(net::kArpOpRequest, net::MacAddress::broadcast(), mac(2), ip(10, 0, 0, 2),
                              net::MacAddress(), ip(10, 0, 0, 7));
    request.resize(60, 0);
    EXPECT_EQ(host.eth.pop(), request);
    net::MacAddress m;
    net::ArpState state;
    ASSERT_TRUE(host.stack.arp().lookup(host.eth, ip(10, 0, 0, 7), m, state));
    EXPECT_EQ(state, net::ArpState::Incomplete);

    host.learn(ip(10, 0, 0, 7), mac(7));
    ASSERT_EQ(host.eth.frames.size(), 2u);
    Bytes first = host.eth.pop();
    Bytes second = host.eth.pop();
    EXPECT_EQ(Bytes(first.begin(), first.begin() + 14), ether_header(mac(7), mac(2), net::kEtherTypeIpv4));
    EXPECT_EQ(first[14], 0xa1);
    EXPECT_EQ(second[14], 0xa2);
    // Now resolved: sent at once.
    ASSERT_FALSE(send_via_arp(host, ip(10, 0, 0, 7), 0xa3).is_error());
    ASSERT_EQ(host.eth.frames.size(), 1u);
    EXPECT_EQ(host.eth.pop()[14], 0xa3);
}

TEST(Arp, QueueIsBoundedPerEntryDroppingTheOldest)
{
    Host host;
    constexpr size_t kSent = net::Arp::kQueuePerEntry + 2;
    static_assert(kSent < 256, "payload bytes number the packets");
    for (size_t i = 0; i < kSent; i++)
        ASSERT_FALSE(send_via_arp(host, ip(10, 0, 0, 7), uint8_t(i)).is_error());
    EXPECT_EQ(host.stack.arp().stats().queue_overflows, 2u);
    host.eth.frames.clear();
    host.learn(ip(10, 0, 0, 7), mac(7));
    ASSERT_EQ(host.eth.frames.size(), net::Arp::kQueuePerEntry);
    for (size_t i = 2; i < kSent; i++)
        EXPECT_EQ(host.eth.pop()[14], uint8_t(i)); // the two oldest were dropped, the rest in order
}

TEST(Arp, IncompleteRetriesThreeTimesThenDropsWithItsPackets)
{
    Host host;
    ASSERT_FALSE(send_via_arp(host, ip(10, 0, 0, 7), 1).is_error());
    ASSERT_FALSE(send_via_arp(host, ip(10, 0, 0, 7), 2).is_error());
    EXPECT_EQ(host.stack.next_deadline(), host.clock.now_ns() + kSecond);
    for (int i = 1; i < 3; i++) {
        host.clock.advance(kSecond - 1);
        host.stack.poll_timers(host.clock.now_ns());
        EXPECT_EQ(host.eth.frames.size(), size_t(i)) << "early retry";
        host.clock.advance(1);
        host.stack.poll_timers(host.clock.now_ns());
        EXPECT_EQ(host.eth.frames.size(), size_t(i + 1));
    }
    EXPECT_EQ(host.stack.arp().stats().tx_requests, 3u);
    host.clock.advance(kSecond);
    host.stack.poll_timers(host.clock.now_ns());
    EXPECT_EQ(host.eth.frames.size(), 3u);
    EXPECT_EQ(host.stack.arp().entry_count(), 0u);
    EXPECT_EQ(host.stack.arp().stats().resolution_failures, 1u);
    EXPECT_EQ(host.stack.arp().stats().unresolved_drops, 2u);
    EXPECT_EQ(host.stack.next_deadline(), UINT64_MAX);
}

TEST(Arp, ReachableBecomesStaleThenReprobesOnUse)
{
    Host host;
    host.learn(ip(10, 0, 0, 7), mac(7));
    host.clock.advance(net::Arp::kReachableNs);
    host.stack.poll_timers(host.clock.now_ns());
    net::MacAddress m;
    net::ArpState state;
    ASSERT_TRUE(host.stack.arp().lookup(host.eth, ip(10, 0, 0, 7), m, state));
    EXPECT_EQ(state, net::ArpState::Stale);

    // Use: the packet goes at once to the cached MAC, with a unicast probe.
    ASSERT_FALSE(send_via_arp(host, ip(10, 0, 0, 7), 9).is_error());
    ASSERT_EQ(host.eth.frames.size(), 2u);
    Bytes probe = host.eth.pop();
    Bytes expected = arp_frame(net::kArpOpRequest, mac(7), mac(2), ip(10, 0, 0, 2), net::MacAddress(), ip(10, 0, 0, 7));
    expected.resize(60, 0);
    EXPECT_EQ(probe, expected);
    EXPECT_EQ(host.eth.pop()[14], 9);

    // Answered: Reachable again.
    host.learn(ip(10, 0, 0, 7), mac(7));
    ASSERT_TRUE(host.stack.arp().lookup(host.eth, ip(10, 0, 0, 7), m, state));
    EXPECT_EQ(state, net::ArpState::Reachable);
}

TEST(Arp, UnansweredReprobeRemovesTheEntry)
{
    Host host;
    host.learn(ip(10, 0, 0, 7), mac(7));
    host.clock.advance(net::Arp::kReachableNs);
    host.stack.poll_timers(host.clock.now_ns());
    ASSERT_FALSE(send_via_arp(host, ip(10, 0, 0, 7), 9).is_error());
    for (int i = 0; i < 3; i++) {
        host.clock.advance(kSecond);
        host.stack.poll_timers(host.clock.now_ns());
    }
    EXPECT_EQ(host.stack.arp().entry_count(), 0u);
    EXPECT_EQ(host.stack.arp().stats().tx_requests, 3u);
}

TEST(Arp, UnusedStaleEntryIsCollected)
{
    Host host;
    host.learn(ip(10, 0, 0, 7), mac(7));
    host.clock.advance(net::Arp::kReachableNs);
    host.stack.poll_timers(host.clock.now_ns());
    host.clock.advance(net::Arp::kStaleLifetimeNs);
    host.stack.poll_timers(host.clock.now_ns());
    EXPECT_EQ(host.stack.arp().entry_count(), 0u);
    EXPECT_TRUE(host.eth.frames.empty());
}

// next_deadline() is kept, not scanned for: it follows every timer an entry gets (the
// earliest wins), may stay early after a flush, and is exact again after a poll.
TEST(Arp, NextDeadlineFollowsEntriesAndIsExactAfterPoll)
{
    Host host;
    EXPECT_EQ(host.stack.arp().next_deadline(), UINT64_MAX);
    uint64_t t0 = host.clock.now_ns();
    host.learn(ip(10, 0, 0, 7), mac(7));
    EXPECT_EQ(host.stack.arp().next_deadline(), t0 + net::Arp::kReachableNs);
    host.clock.advance(kSecond);
    ASSERT_FALSE(send_via_arp(host, ip(10, 0, 0, 8), 1).is_error()); // Incomplete: retry in 1 s
    EXPECT_EQ(host.stack.arp().next_deadline(), t0 + 2 * kSecond);
    host.learn(ip(10, 0, 0, 8), mac(8)); // Reachable: its retry is gone, the value stays early
    EXPECT_EQ(host.stack.arp().next_deadline(), t0 + 2 * kSecond);
    host.stack.poll_timers(host.clock.now_ns()); // before it: nothing to do
    EXPECT_EQ(host.stack.arp().next_deadline(), t0 + 2 * kSecond);
    host.clock.advance(kSecond);
    host.stack.poll_timers(host.clock.now_ns()); // at it: nothing due after all, now exact
    EXPECT_EQ(host.stack.arp().next_deadline(), t0 + net::Arp::kReachableNs);
    EXPECT_EQ(host.stack.arp().entry_count(), 2u);
    host.stack.arp().flush(host.eth);
    EXPECT_EQ(host.stack.arp().entry_count(), 0u);
    host.clock.advance(net::Arp::kReachableNs);
    host.stack.poll_timers(host.clock.now_ns());
    EXPECT_EQ(host.stack.arp().next_deadline(), UINT64_MAX);
}

TEST(Arp, MergeUpdatesKnownEntryFromAnyArpPacket)
{
    Host host;
    host.learn(ip(10, 0, 0, 7), mac(7));
    // 10.0.0.7 asks for someone else, from a new MAC: the entry is updated (merge flag) …
    host.receive(arp_frame(1, net::MacAddress::broadcast(), mac(8), ip(10, 0, 0, 7), net::MacAddress(),
                           ip(10, 0, 0, 9)));
    net::MacAddress m;
    net::ArpState state;
    ASSERT_TRUE(host.stack.arp().lookup(host.eth, ip(10, 0, 0, 7), m, state));
    EXPECT_EQ(m, mac(8));
    EXPECT_EQ(state, net::ArpState::Stale);
    // … but an unknown sender talking to others is not added.
    host.receive(arp_frame(1, net::MacAddress::broadcast(), mac(9), ip(10, 0, 0, 9), net::MacAddress(),
                           ip(10, 0, 0, 7)));
    EXPECT_FALSE(host.stack.arp().lookup(host.eth, ip(10, 0, 0, 9), m, state));
    EXPECT_TRUE(host.eth.frames.empty());
}

TEST(Arp, GratuitousArpOnAddressChange)
{
    Host host;
    uint64_t before = host.stack.arp().stats().tx_gratuitous;
    ASSERT_FALSE(host.stack.set_ipv4_address(host.eth, ip(10, 0, 0, 50), 24).is_error());
    ASSERT_EQ(host.eth.frames.size(), 1u);
    Bytes expected = arp_frame(net::kArpOpRequest, net::MacAddress::broadcast(), mac(2), ip(10, 0, 0, 50),
                               net::MacAddress(), ip(10, 0, 0, 50));
    expected.resize(60, 0);
    EXPECT_EQ(host.eth.pop(), expected);
    EXPECT_EQ(host.stack.arp().stats().tx_gratuitous, before + 1);
}

TEST(Arp, BroadcastAndMulticastNeedNoResolution)
{
    Host host;
    ASSERT_FALSE(send_via_arp(host, ip(10, 0, 0, 255), 1).is_error());
    ASSERT_FALSE(send_via_arp(host, ip(255, 255, 255, 255), 2).is_error());
    ASSERT_FALSE(send_via_arp(host, ip(224, 129, 2, 3), 3).is_error());
    ASSERT_EQ(host.eth.frames.size(), 3u);
    EXPECT_EQ(Bytes(host.eth.frames[0].begin(), host.eth.frames[0].begin() + 6), Bytes(6, 0xff));
    EXPECT_EQ(Bytes(host.eth.frames[1].begin(), host.eth.frames[1].begin() + 6), Bytes(6, 0xff));
    EXPECT_EQ(Bytes(host.eth.frames[2].begin(), host.eth.frames[2].begin() + 6),
              (Bytes{0x01, 0x00, 0x5e, 0x01, 0x02, 0x03}));
    EXPECT_EQ(host.stack.arp().entry_count(), 0u);
}

TEST(Arp, CacheIsBoundedAndEvictsLeastRecentlyUsedResolvedEntries)
{
    Host host;
    for (size_t i = 0; i < net::Arp::kCacheSize + 10; i++) {
        host.clock.advance(1000);
        host.learn(net::Ipv4Address{ip(10, 0, 1, 0).value + uint32_t(i)}, mac(uint8_t(i)));
    }
    EXPECT_EQ(host.stack.arp().entry_count(), net::Arp::kCacheSize);
    net::MacAddress m;
    net::ArpState state;
    EXPECT_FALSE(host.stack.arp().lookup(host.eth, ip(10, 0, 1, 0), m, state));
    EXPECT_TRUE(host.stack.arp().lookup(host.eth, net::Ipv4Address{ip(10, 0, 1, 0).value + 70}, m, state));
    // Incomplete entries with parked packets are never evicted; when all are, resolve fails.
    Host full;
    for (size_t i = 0; i < net::Arp::kCacheSize; i++)
        ASSERT_FALSE(send_via_arp(full, net::Ipv4Address{ip(10, 0, 2, 0).value + uint32_t(i)}, 1).is_error());
    EXPECT_EQ(send_via_arp(full, ip(10, 0, 0, 200), 1).error(), Errno::NOBUFS);
    EXPECT_EQ(full.stack.arp().stats().cache_full, 1u);
}

} // namespace
