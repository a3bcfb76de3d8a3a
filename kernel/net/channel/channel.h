// A net channel (osv-design.md §6): the queue between the NIC's receive thread, which
// classified a packet to an established flow, and the thread that owns the flow — the
// application thread that runs the flow's protocol input inside recv/send/poll/close.
//
// The pieces: the flow's FlowEntry (linked in its protocol's FlowTable, found by the
// classifier without a lock), an SpscRing of packets, a listener told that packets arrived,
// and a reference count that keeps the channel alive while a receive thread still uses it
// after the owner let go.
//
// ## Who does what
//
//   producer  a receive thread (one per NIC receive queue). Inside a read-side section (RCU:
//             preemption disabled in the kernel) it looks the flow up, takes a reference
//             (try_ref), pushes, and at the end of its burst notifies and drops the reference.
//             The first receive queue that pushes becomes the channel's producer; packets of
//             the flow that arrive through any other (another NIC, another queue of a
//             multiqueue NIC) take the ordinary path, so the ring keeps a single producer.
//   consumer  whoever holds the flow's owner's context (the stack lock in the kernel): the
//             application thread in a socket call, the ordinary input path (which drains the
//             channel before handling a later packet of the flow, so order is kept), the
//             timers, the periodic sweep. One at a time, by that lock.
//   owner     the protocol (tcp::Tcp) creates the channel with one reference, links its entry,
//             opens it to producers (set_accepting) while the flow is established and has a
//             reader, and at the end unlinks the entry, detaches the listener and drops its
//             reference.
//
// ## Lifetime and memory ordering
//
// The FlowTable protocol (flow_table.h) lets a reader stand on an entry that was just
// unlinked, so the channel's memory must outlive every read-side section that could have
// found it: the last unref() hands the channel to the retire function, which frees it after a
// grace period (the kernel: rcu_call). try_ref() refuses a channel whose count already
// reached zero, so a producer never resurrects one being retired.
//
// The listener pointer is guarded by its own mutex: notify() calls it with the mutex held,
// set_listener(nullptr) takes the mutex, so once it returns no notify() runs on the old
// listener and the owner may destroy it (a socket being closed).
//
// Lost wake-ups: the producer pushes (release on the ring's tail) before it notifies; a
// consumer that found the ring empty and then sleeps must have registered as a waiter (or
// read the notifier's epoch) before its check, so either it sees the packet or the notify
// wakes it. Packets pushed while nobody waits stay queued until the owner's context next
// touches the flow; the periodic sweep bounds how long that can be.
#pragma once

#include <atomic>
#include <net/channel/flow_table.h>
#include <net/channel/spsc_ring.h>
#include <net/ipv4/header.h>
#include <net/packet.h>
#include <stddef.h>
#include <stdint.h>
#include <sync/mutex.h>
#include <sync/rcu.h>

namespace net {

class Interface;

// Hears that packets were queued on a channel. Called by a receive thread, outside the
// stack's context, with the channel's listener mutex held: must not call into the stack.
class ChannelListener {
public:
    virtual void packets_queued() = 0;

protected:
    ~ChannelListener() = default;
};

// A receive thread's burst as the classifier sees it: the producer — one per receive queue
// (its thread), the channels' single-producer identity — and the burst's number.
struct ReceiveBurst {
    const void* producer = nullptr;
    uint64_t number = 0;
};

// Counters of the receive side, across all channels of a stack (relaxed atomics: several
// receive threads add to them).
struct ChannelStats {
    std::atomic<uint64_t> queued{ 0 };     // packets a receive thread put on a channel
    std::atomic<uint64_t> full{ 0 };       // a full channel: the packet took the ordinary path
    std::atomic<uint64_t> diverted{ 0 };   // packets of a channelled flow sent the ordinary way
    std::atomic<uint64_t> consumed{ 0 };   // packets the owner's context took off channels
    // Packets of a channelled flow that arrived through a receive queue other than the
    // channel's producer (the host moved the flow to another queue): the ordinary path.
    // Included in `diverted`.
    std::atomic<uint64_t> other_queue{ 0 };
};

// What Channel::push did with a packet.
enum class PushResult {
    Queued,
    Closed,        // not accepting packets now
    OtherProducer, // another receive queue is the channel's producer
    Full,
};

class Channel : private ksync::RcuHead {
public:
    static constexpr size_t kCapacity = 256;
    using RetireFn = void (*)(Channel* channel, void* context);

    // One reference (the owner's). `retire(channel, context)` runs when the last reference
    // goes and must free the channel (delete) once no read-side section can still see it.
    Channel(RetireFn retire, void* context) : m_retire(retire), m_retire_context(context) { m_flow.owner = this; }

    // The owner's two ends (its context). open: a channel for `key`, linked in `table`, with
    // the owner's object and listener; NOMEM, or EXIST when the key is linked already. The
    // caller opens it to producers (set_accepting) when it wants packets.
    static Result<Channel*> open(FlowTable& table, const FlowKey& key, void* owner, ChannelListener* listener,
                                 RetireFn retire, void* context);
    // close: unlinks it from `table`, closes it to producers, detaches the owner and the
    // listener, drops what it holds and lets go of the owner's reference. A receive thread
    // may still stand on it or hold a reference: it is retired when that ends; packets it
    // pushes meanwhile die with it. The caller must not touch the channel again.
    void close(FlowTable& table);
    ~Channel();
    Channel(const Channel&) = delete;
    Channel& operator=(const Channel&) = delete;

    FlowEntry& flow() { return m_flow; }
    // The owner's object for the flow (a TCP endpoint, a UDP receiver); its context only.
    void* owner() const { return m_owner; }

    // --- references ---
    // A new reference unless the channel is being retired (false). Producer: inside the
    // read-side section that found it.
    bool try_ref();
    void unref();

    // --- producer (one receive thread) ---
    // Queues `packet` (taken when Queued). Otherwise the packet stays with the caller: the
    // channel does not accept packets now, `producer` is not its producer (the first to
    // push), or it is full. `was_empty` tells whether the ring held nothing before.
    PushResult push(Packet& packet, const void* producer, bool& was_empty);
    // Tells the listener (if any) that packets were queued.
    void notify();
    // Per-burst diversion: once a packet of the flow took the ordinary path, the rest of the
    // burst must too (it is processed after the burst, so a later packet on the channel would
    // overtake it). `burst` is the producer's burst number.
    // (Atomic only because a flow arriving on two interfaces has two producers; a stale
    // answer then costs order, not safety.)
    void divert(uint64_t burst) { m_diverted_burst.store(burst, std::memory_order_relaxed); }
    bool is_diverted(uint64_t burst) const { return m_diverted_burst.load(std::memory_order_relaxed) == burst; }

    // --- consumer (the owner's context) ---
    // The oldest queued packet, or a null packet.
    Packet pop();
    bool is_empty() const { return m_ring.is_empty(); }
    // Opens or closes the channel to producers (a push racing with closing may still land;
    // the owner drains or drops it later).
    void set_accepting(bool accepting) { m_accepting.store(accepting, std::memory_order_release); }
    bool accepting() const { return m_accepting.load(std::memory_order_acquire); }
    // Replaces the listener; after it returns no notify() is still calling the old one.
    void set_listener(ChannelListener* listener);

    // For a retire function that defers the free with RCU (call_rcu).
    ksync::RcuHead& rcu_head() { return *this; }
    static Channel* from_rcu_head(ksync::RcuHead* head) { return static_cast<Channel*>(head); }

private:
    SpscRing<PacketBuffer*, kCapacity> m_ring;
    FlowEntry m_flow;
    std::atomic<uint32_t> m_refs{ 1 };
    std::atomic<bool> m_accepting{ false };
    std::atomic<const void*> m_producer{ nullptr };
    std::atomic<uint64_t> m_diverted_burst{ ~uint64_t(0) };
    void* m_owner = nullptr;
    ksync::Mutex m_listener_lock;
    ChannelListener* m_listener TA_GUARDED(m_listener_lock) = nullptr;
    RetireFn m_retire;
    void* m_retire_context;
};

// The retire function for a channel no concurrent reader can see (single-threaded use, the
// host tests): frees it at once.
void retire_channel_now(Channel* channel, void* context);

// The classifier's last step once a protocol found the flow's channel (Tcp::classify,
// Udp::classify), inside the read-side section. Unless the protocol wants this frame on the
// ordinary path (`ordinary`: it then diverts the flow for the rest of the burst) or the flow
// was diverted already, the frame — data() at the link header, `ip` its parsed IPv4 header,
// the transport header `transport_offset` bytes in — is cut to the transport header (network
// and transport headers marked, link padding trimmed) and queued; the channel comes back
// referenced. Otherwise null, the frame as it was.
Channel* offer_to_channel(Channel& channel, Packet& frame, const Ipv4Header& ip, size_t transport_offset,
                          Interface& from, const ReceiveBurst& burst, bool ordinary, bool& was_empty,
                          ChannelStats& stats);

} // namespace net
