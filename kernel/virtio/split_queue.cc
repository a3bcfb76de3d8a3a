// SplitQueue: the driver side of a split virtqueue (protocol and ordering in split_queue.h).
#include <virtio/split_queue.h>

#include <atomic>
#include <new>

namespace virtio {

namespace detail {

// What the driver remembers about descriptor i. Kept out of device-visible memory so that
// nothing the device writes can redirect the free list or forge a cookie.
struct DescState {
    void* cookie;       // heads of outstanding requests
    uint32_t writable;  // heads: device-writable bytes of the request (saturated at 2^32 - 1)
    uint16_t next;      // free-list link, or the next descriptor of a direct chain
    uint16_t chain;     // heads: descriptors the request holds; 0 = not an outstanding head
    uint16_t avail_seq; // heads: the avail index the request was added at
};
static_assert(sizeof(DescState) == 24);

} // namespace detail

using detail::DescState;

namespace {

constexpr size_t kPageSize = 4096;
constexpr uint64_t kMaxChainBytes = uint64_t(1) << 32; // [virtio-v1.2 §2.7.5]

constexpr size_t align_up(size_t value, size_t align) { return (value + align - 1) & ~(align - 1); }

bool valid_size(uint16_t size) { return size != 0 && size <= kMaxQueueSize && (size & (size - 1)) == 0; }

// Single, untorn accesses to memory the device shares. Relaxed: the ordering comes from the
// explicit fences at the places split_queue.h lists. Each compiles to one plain mov on x86-64.
template<typename T>
T device_load(const void* p)
{
    return __atomic_load_n(static_cast<const T*>(p), __ATOMIC_RELAXED);
}

template<typename T>
void device_store(void* p, T value)
{
    __atomic_store_n(static_cast<T*>(p), value, __ATOMIC_RELAXED);
}

void write_desc(VirtqDesc* desc, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    device_store<uint64_t>(&desc->addr, addr);
    device_store<uint32_t>(&desc->len, len);
    device_store<uint16_t>(&desc->flags, flags);
    device_store<uint16_t>(&desc->next, next);
}

} // namespace

QueueLayout split_queue_layout(uint16_t size)
{
    if (!valid_size(size))
        return { 0, 0, 0, 0 };
    size_t avail = size * sizeof(VirtqDesc);
    size_t used = align_up(avail + avail_ring_bytes(size), kPageSize);
    size_t state = align_up(used + used_ring_bytes(size), alignof(DescState));
    return { state + size * sizeof(DescState), avail, used, state };
}

size_t indirect_pool_bytes(uint16_t size, uint16_t max_indirect)
{
    return size_t(size) * max_indirect * sizeof(VirtqDesc);
}

Result<void> SplitQueue::init(const Config& config, DmaMemory ring, DmaMemory indirect_pool)
{
    if (!valid_size(config.size))
        return Errno::INVAL;
    QueueLayout layout = split_queue_layout(config.size);
    auto misaligned = [](const DmaMemory& m) {
        return m.virt == nullptr || reinterpret_cast<uintptr_t>(m.virt) % 16 != 0 || m.phys % 16 != 0;
    };
    if (misaligned(ring) || ring.size < layout.bytes)
        return Errno::INVAL;
    if (config.indirect) {
        if (config.max_indirect == 0 || config.max_indirect > config.size)
            return Errno::INVAL;
        size_t pool_bytes = indirect_pool_bytes(config.size, config.max_indirect);
        if (misaligned(indirect_pool) || indirect_pool.size < pool_bytes)
            return Errno::INVAL;
    }

    auto* base = static_cast<uint8_t*>(ring.virt);
    __builtin_memset(base, 0, layout.bytes);
    m_layout = layout;
    m_ring_phys = ring.phys;
    m_desc = reinterpret_cast<VirtqDesc*>(base);
    m_avail = base + layout.avail_offset;
    m_used = base + layout.used_offset;
    m_state = reinterpret_cast<DescState*>(base + layout.state_offset);
    m_pool = config.indirect ? static_cast<uint8_t*>(indirect_pool.virt) : nullptr;
    m_pool_phys = config.indirect ? indirect_pool.phys : 0;
    m_size = config.size;
    m_max_indirect = config.indirect ? config.max_indirect : 0;
    m_event_idx = config.event_idx;
    m_clamp_used_len = config.clamp_used_len;
    m_device_fence = config.device_fence;
    m_device_fence_context = config.device_fence_context;

    for (uint32_t i = 0; i < m_size; i++)
        new (&m_state[i]) DescState { nullptr, 0, uint16_t(i + 1 < m_size ? i + 1 : 0), 0, 0 };
    m_free_head = 0;
    m_free_count = m_size;
    m_outstanding = 0;
    m_avail_next = 0;
    m_avail_published = 0;
    m_last_used = 0;
    m_used_seen = 0;
    m_interrupts_enabled = true;
    m_broken = false;
    m_detach_cursor = 0;
    return {};
}

Errno SplitQueue::fail()
{
    m_broken = true;
    return Errno::IO;
}

// Requests the device may legitimately complete: outstanding minus those added after the last
// publish(). Their avail indices are the window [m_avail_published, m_avail_next).
uint16_t SplitQueue::published_in_flight() const
{
    return uint16_t(m_outstanding - uint16_t(m_avail_next - m_avail_published));
}

Result<void> SplitQueue::add(const Segment* segments, size_t count, void* cookie)
{
    NIMBUS_ASSERT(m_size != 0); // init() succeeded
    if (m_broken)
        return Errno::IO;
    if (count == 0)
        return Errno::INVAL;
    uint64_t total = 0;
    uint64_t writable = 0;
    for (size_t i = 0; i < count; i++) {
        const Segment& s = segments[i];
        if (s.len == 0 || (i > 0 && segments[i - 1].device_writes && !s.device_writes))
            return Errno::INVAL;
        total += s.len;
        if (s.device_writes)
            writable += s.len;
    }
    if (total > kMaxChainBytes)
        return Errno::INVAL;
    bool indirect = count > 1 && count <= m_max_indirect;
    size_t needed = indirect ? 1 : count;
    if (needed > m_size)
        return Errno::INVAL;
    if (needed > m_free_count)
        return Errno::BUSY;

    uint16_t head = m_free_head;
    if (indirect) {
        // The head's own table: pool + head × max_indirect descriptors. The WRITE flag of the
        // descriptor pointing at a table is ignored by the device; NEXT must not be set on it
        // and INDIRECT must not appear inside the table [§2.7.5.3.1].
        size_t table_offset = size_t(head) * m_max_indirect * sizeof(VirtqDesc);
        auto* table = reinterpret_cast<VirtqDesc*>(m_pool + table_offset);
        for (size_t i = 0; i < count; i++) {
            bool more = i + 1 < count;
            uint16_t flags = uint16_t((more ? kDescFNext : 0) | (segments[i].device_writes ? kDescFWrite : 0));
            write_desc(&table[i], segments[i].phys, segments[i].len, flags, uint16_t(more ? i + 1 : 0));
        }
        uint64_t table_phys = m_pool_phys + table_offset;
        write_desc(&m_desc[head], table_phys, uint32_t(count * sizeof(VirtqDesc)), kDescFIndirect, 0);
        m_free_head = m_state[head].next;
    } else {
        // The chain is the first `count` entries of the free list; their links stay as the
        // chain's links (mirrored in DescState so freeing never reads the device's memory).
        uint16_t d = head;
        for (size_t i = 0; i < count; i++) {
            bool more = i + 1 < count;
            uint16_t flags = uint16_t((more ? kDescFNext : 0) | (segments[i].device_writes ? kDescFWrite : 0));
            write_desc(&m_desc[d], segments[i].phys, segments[i].len, flags, more ? m_state[d].next : 0);
            d = m_state[d].next;
        }
        m_free_head = d;
    }
    m_free_count = uint16_t(m_free_count - needed);

    DescState& st = m_state[head];
    st.cookie = cookie;
    st.writable = writable > UINT32_MAX ? UINT32_MAX : uint32_t(writable);
    st.chain = uint16_t(needed);
    st.avail_seq = m_avail_next;
    device_store<uint16_t>(m_avail + kAvailRingOffset + 2 * size_t(m_avail_next & (m_size - 1)), head);
    m_avail_next++;
    m_outstanding++;
    return {};
}

bool SplitQueue::publish()
{
    NIMBUS_ASSERT(m_size != 0);
    if (m_broken || m_avail_next == m_avail_published)
        return false;
    uint16_t old_idx = m_avail_published;
    uint16_t new_idx = m_avail_next;
    // Descriptors, tables and ring slots before the index that exposes them; pairs with the
    // device's read barrier after it reads avail->idx.
    std::atomic_thread_fence(std::memory_order_release);
    device_store<uint16_t>(m_avail + kAvailIdxOffset, new_idx);
    m_avail_published = new_idx;
    // The index store before reading the device's suppression state (store → load needs a full
    // fence even on x86); pairs with the device's fence between reading avail->idx and writing
    // avail_event / used->flags. Otherwise the device could go to sleep on the old index while
    // we read a stale "don't notify".
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (device_wants_kick(new_idx, old_idx))
        return true;
    if (!m_device_fence)
        return false;
    // The CPU fence may not have ordered us against the device (split_queue.h): make sure
    // before deciding against a kick. A kick needs no such care — it reaches the device itself.
    m_device_fence(m_device_fence_context);
    return device_wants_kick(new_idx, old_idx);
}

bool SplitQueue::device_wants_kick(uint16_t new_idx, uint16_t old_idx) const
{
    if (m_event_idx)
        return need_event(device_load<uint16_t>(m_used + used_avail_event_offset(m_size)), new_idx, old_idx);
    return (device_load<uint16_t>(m_used + kUsedFlagsOffset) & kUsedFNoNotify) == 0;
}

uint16_t SplitQueue::used_idx() const { return device_load<uint16_t>(m_used + kUsedIdxOffset); }

// Returns the descriptors of outstanding head `head` to the free list.
void SplitQueue::release_head(uint16_t head)
{
    DescState& st = m_state[head];
    uint16_t last = head;
    for (uint16_t i = 1; i < st.chain; i++)
        last = m_state[last].next;
    m_state[last].next = m_free_count > 0 ? m_free_head : 0;
    m_free_head = head;
    m_free_count = uint16_t(m_free_count + st.chain);
    st.chain = 0;
    st.cookie = nullptr;
    m_outstanding--;
}

Result<bool> SplitQueue::next_used(Completion& out)
{
    NIMBUS_ASSERT(m_size != 0);
    if (m_broken)
        return Errno::IO;
    if (m_last_used == m_used_seen) {
        uint16_t idx = used_idx();
        uint16_t pending = uint16_t(idx - m_last_used);
        if (pending == 0)
            return false;
        // A device can only complete what it was given: an index further ahead (or moved
        // backwards, which wraps to a huge count) is garbage.
        if (pending > published_in_flight())
            return fail();
        m_used_seen = idx;
        // The index before the entries it covers; pairs with the device's write barrier
        // between writing the entries and storing used->idx.
        std::atomic_thread_fence(std::memory_order_acquire);
    }

    size_t slot = m_last_used & (m_size - 1);
    const uint8_t* elem = m_used + kUsedRingOffset + sizeof(VirtqUsedElem) * slot;
    uint32_t id = device_load<uint32_t>(elem + offsetof(VirtqUsedElem, id));
    uint32_t len = device_load<uint32_t>(elem + offsetof(VirtqUsedElem, len));
    if (id >= m_size)
        return fail();
    DescState& st = m_state[id];
    if (st.chain == 0)
        return fail(); // not a head, already completed, or never used
    if (uint16_t(st.avail_seq - m_avail_published) < uint16_t(m_avail_next - m_avail_published))
        return fail(); // added but not yet published: the device cannot know it
    if (len > st.writable) {
        if (!m_clamp_used_len)
            return fail();
        len = st.writable;
    }

    out.cookie = st.cookie;
    out.written = len;
    release_head(uint16_t(id));
    m_last_used++;
    // While interrupts are on, keep asking for the next entry (event idx); the full fence that
    // closes the race with a sleeping driver is in enable_interrupts().
    if (m_event_idx && m_interrupts_enabled)
        device_store<uint16_t>(m_avail + avail_used_event_offset(m_size), m_last_used);
    return true;
}

void SplitQueue::disable_interrupts()
{
    NIMBUS_ASSERT(m_size != 0);
    m_interrupts_enabled = false;
    // Event idx: the device interrupts when its used index crosses used_event; one behind our
    // position it has already passed. The flag must stay 0 then [§2.7.7.1].
    if (m_event_idx)
        device_store<uint16_t>(m_avail + avail_used_event_offset(m_size), uint16_t(m_last_used - 1));
    else
        device_store<uint16_t>(m_avail + kAvailFlagsOffset, kAvailFNoInterrupt);
}

bool SplitQueue::enable_interrupts() { return enable_interrupts_after(1); }

bool SplitQueue::enable_interrupts_after(uint16_t count)
{
    NIMBUS_ASSERT(m_size != 0);
    if (m_broken)
        return true;
    m_interrupts_enabled = true;
    uint16_t in_flight = published_in_flight();
    if (!m_event_idx)
        count = 1;
    else if (count > in_flight)
        count = in_flight;
    if (count == 0)
        count = 1;
    if (m_event_idx)
        device_store<uint16_t>(m_avail + avail_used_event_offset(m_size), uint16_t(m_last_used + count - 1));
    else
        device_store<uint16_t>(m_avail + kAvailFlagsOffset, 0);
    // The re-arm store before re-reading used->idx; pairs with the device's full fence between
    // storing used->idx and reading used_event / avail->flags.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (uint16_t(used_idx() - m_last_used) >= count)
        return true;
    if (!m_device_fence)
        return false;
    // As in publish(): before deciding to sleep, make sure the device can see the re-arm.
    m_device_fence(m_device_fence_context);
    return uint16_t(used_idx() - m_last_used) >= count;
}

bool SplitQueue::detach_outstanding(void*& cookie)
{
    NIMBUS_ASSERT(m_size != 0);
    for (int pass = 0; pass < 2 && m_outstanding > 0; pass++) {
        for (uint32_t i = m_detach_cursor; i < m_size; i++) {
            if (m_state[i].chain == 0)
                continue;
            cookie = m_state[i].cookie;
            release_head(uint16_t(i));
            m_broken = true; // the ring no longer matches the driver's accounting: init() again
            m_detach_cursor = uint16_t(i + 1 < m_size ? i + 1 : 0);
            return true;
        }
        m_detach_cursor = 0;
    }
    m_detach_cursor = 0;
    return false;
}

} // namespace virtio
