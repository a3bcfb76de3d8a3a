// The net-channel classifier's table (osv-design.md §6): established flows by their
// addresses and ports, looked up by the receive path without a lock.
//
// Keys are hashed with SipHash-2-4 under a key drawn at boot (siphash.h), so a remote peer
// that picks addresses and ports cannot aim many flows at one bucket. The table has a fixed
// power-of-two number of buckets, each a singly linked list of intrusive FlowEntry nodes
// embedded in their owners (a TCP connection's Channel, channel.h).
//
// ## Concurrency and memory ordering
//
// Writers (insert, remove) are serialised by the caller (the stack's network context, or one
// mutex); readers (lookup) run concurrently with writers and with each other, inside an RCU
// read-side section (kernel: preemption disabled, as the receive thread's classify step is).
//
//   insert: e.next = head (relaxed; e is not yet reachable), then head = e (release).
//   lookup: p = head (acquire), then p = p->next (acquire) along the chain. The acquire pairs
//           with the release that published p, so a reader that reaches e sees e's key,
//           hash, owner and next as written before its publication.
//   remove: the predecessor's link (the head or prev->next) = e->next (release). e->next is
//           left as it was, so a reader standing on e still walks on to the rest of the
//           chain — it may return e (a flow being torn down: its owner must cope, e.g. by
//           dropping to the slow path when it finds itself closed) but never loses the
//           entries after it.
//   reuse:  after remove(), e's memory (and its next) must stay intact until an RCU grace
//           period has passed — every reader that could stand on e has left its section.
//           The owner defers freeing or re-inserting e (call_rcu) — the table cannot tell.
//           (Channel does: its last reference retires it through RCU.)
//
// Entries never move between buckets and the table never resizes, so those three steps are
// the whole protocol. Sized at construction (e.g. 4096 buckets); with a keyed hash the
// expected chain length is flows/buckets.
#pragma once

#include <atomic>
#include <lib/result.h>
#include <net/addr.h>
#include <net/siphash.h>
#include <stddef.h>
#include <stdint.h>

namespace net {

// A flow as the receiver sees it: ours (local) and the peer's (remote) address and port.
struct FlowKey {
    Ipv4Address local;
    Ipv4Address remote;
    uint16_t local_port = 0;
    uint16_t remote_port = 0;
    uint8_t protocol = 0; // 6 TCP, 17 UDP

    friend bool operator==(const FlowKey& a, const FlowKey& b)
    {
        return a.local == b.local && a.remote == b.remote && a.local_port == b.local_port &&
               a.remote_port == b.remote_port && a.protocol == b.protocol;
    }
};

struct FlowEntry {
    std::atomic<FlowEntry*> next{ nullptr };
    FlowKey key;
    uint64_t hash = 0;
    void* owner = nullptr; // what the receive path hands the packet to (its channel)
    bool linked = false;   // writers only
};

class FlowTable {
public:
    // `bucket_count` is rounded up to a power of two (at least 16).
    FlowTable(const SipKey& key, size_t bucket_count);
    ~FlowTable();
    FlowTable(const FlowTable&) = delete;
    FlowTable& operator=(const FlowTable&) = delete;

    // False when the constructor could not allocate the buckets (every call then fails).
    bool is_valid() const { return m_buckets != nullptr; }

    // Writer side (serialised by the caller).
    // Links `entry` (key and owner set by the caller). EXIST when an entry with the same key
    // is linked; BUSY when `entry` is linked already; NOMEM when the table is invalid.
    Result<void> insert(FlowEntry& entry);
    // Unlinks `entry` (no-op if not linked). See "reuse" above before touching it again.
    void remove(FlowEntry& entry);

    // Reader side (any thread, inside a read-side section): the entry for `key`, or null.
    FlowEntry* lookup(const FlowKey& key) const;

    uint64_t hash(const FlowKey& key) const;
    size_t size() const { return m_size; }
    size_t bucket_count() const { return m_mask + 1; }
    // The longest chain (writers' side; for tests and statistics).
    size_t longest_chain() const;

private:
    SipKey m_key;
    std::atomic<FlowEntry*>* m_buckets = nullptr;
    size_t m_mask = 0;
    size_t m_size = 0;
};

} // namespace net
