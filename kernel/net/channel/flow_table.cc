// The flow table (flow_table.h).
#include <net/byte_order.h>
#include <net/channel/flow_table.h>
#include <new>

namespace net {

FlowTable::FlowTable(const SipKey& key, size_t bucket_count) : m_key(key)
{
    size_t n = 16;
    while (n < bucket_count && n < (size_t(1) << 24))
        n <<= 1;
    m_buckets = new (std::nothrow) std::atomic<FlowEntry*>[n];
    if (!m_buckets)
        return;
    for (size_t i = 0; i < n; i++)
        m_buckets[i].store(nullptr, std::memory_order_relaxed);
    m_mask = n - 1;
}

FlowTable::~FlowTable() { delete[] m_buckets; }

uint64_t FlowTable::hash(const FlowKey& key) const
{
    uint8_t bytes[13];
    store_be32(bytes, key.local.value);
    store_be32(bytes + 4, key.remote.value);
    store_be16(bytes + 8, key.local_port);
    store_be16(bytes + 10, key.remote_port);
    bytes[12] = key.protocol;
    return siphash24(m_key, bytes, sizeof bytes);
}

Result<void> FlowTable::insert(FlowEntry& entry)
{
    if (!m_buckets)
        return Errno::NOMEM;
    if (entry.linked)
        return Errno::BUSY;
    entry.hash = hash(entry.key);
    std::atomic<FlowEntry*>& head = m_buckets[entry.hash & m_mask];
    for (FlowEntry* p = head.load(std::memory_order_relaxed); p; p = p->next.load(std::memory_order_relaxed))
        if (p->hash == entry.hash && p->key == entry.key)
            return Errno::EXIST;
    entry.next.store(head.load(std::memory_order_relaxed), std::memory_order_relaxed);
    head.store(&entry, std::memory_order_release);
    entry.linked = true;
    m_size++;
    return {};
}

void FlowTable::remove(FlowEntry& entry)
{
    if (!m_buckets || !entry.linked)
        return;
    std::atomic<FlowEntry*>* link = &m_buckets[entry.hash & m_mask];
    for (FlowEntry* p = link->load(std::memory_order_relaxed); p; p = p->next.load(std::memory_order_relaxed)) {
        if (p == &entry) {
            // Release: a reader that loads the new link also sees the rest of the chain as
            // published. entry.next stays, so readers on `entry` walk on.
            link->store(entry.next.load(std::memory_order_relaxed), std::memory_order_release);
            entry.linked = false;
            m_size--;
            return;
        }
        link = &p->next;
    }
}

FlowEntry* FlowTable::lookup(const FlowKey& key) const
{
    if (!m_buckets)
        return nullptr;
    uint64_t h = hash(key);
    for (FlowEntry* p = m_buckets[h & m_mask].load(std::memory_order_acquire); p;
         p = p->next.load(std::memory_order_acquire))
        if (p->hash == h && p->key == key)
            return p;
    return nullptr;
}

size_t FlowTable::longest_chain() const
{
    size_t longest = 0;
    for (size_t b = 0; m_buckets && b <= m_mask; b++) {
        size_t n = 0;
        for (FlowEntry* p = m_buckets[b].load(std::memory_order_relaxed); p; p = p->next.load(std::memory_order_relaxed))
            n++;
        longest = n > longest ? n : longest;
    }
    return longest;
}

} // namespace net
