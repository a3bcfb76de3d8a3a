// fuzz-links: virtio
// libFuzzer target: a malicious device. The input picks a queue configuration, then drives a
// sequence of driver calls (add, publish, next_used, interrupt control, detach, re-init) and
// device actions — honest ones (take published requests, complete them) and hostile ones
// (arbitrary used entries, used idx, flags, avail_event). ASan must never fire; add() must
// answer exactly as a model predicts; every completion must carry the cookie of a published
// outstanding request, each cookie at most once, with a length within its writable bytes.
#include <virtio/split_queue.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <new>
#include <vector>

using namespace virtio;

namespace {

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            std::fprintf(stderr, "CHECK failed: %s (line %d)\n", #cond, __LINE__); \
            __builtin_trap();                                               \
        }                                                                   \
    } while (0)

class Input {
public:
    Input(const uint8_t* data, size_t size) : m_data(data), m_size(size) {}
    bool empty() const { return m_pos >= m_size; }
    uint8_t byte() { return m_pos < m_size ? m_data[m_pos++] : 0; }
    uint16_t u16() { return uint16_t(byte() | byte() << 8); }
    uint32_t u32() { return uint32_t(u16()) | uint32_t(u16()) << 16; }

private:
    const uint8_t* m_data;
    size_t m_size;
    size_t m_pos = 0;
};

template<typename T>
T load(const uint8_t* p)
{
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

template<typename T>
void store(uint8_t* p, T v)
{
    std::memcpy(p, &v, sizeof v);
}

struct Request {
    uint32_t writable;
    uint16_t descriptors;
    bool published;
};

struct Harness {
    SplitQueue::Config config {};
    uint8_t* ring = nullptr;
    size_t ring_bytes = 0;
    uint8_t* pool = nullptr;
    size_t pool_bytes = 0;
    SplitQueue q;

    // The model.
    std::map<uintptr_t, Request> outstanding;
    uintptr_t next_cookie = 1;
    bool broken = false;

    // The device.
    uint16_t last_avail = 0;
    struct AtDevice {
        uint16_t head;
        uint32_t writable;
    };
    std::vector<AtDevice> at_device;

    ~Harness()
    {
        ::operator delete(ring, std::align_val_t(16));
        if (pool)
            ::operator delete(pool, std::align_val_t(16));
    }

    uint8_t* avail() { return reinterpret_cast<uint8_t*>(q.avail_phys()); }
    uint8_t* used() { return reinterpret_cast<uint8_t*>(q.used_phys()); }
    uint16_t used_idx() { return load<uint16_t>(used() + kUsedIdxOffset); }

    void init()
    {
        DmaMemory r { ring, reinterpret_cast<uint64_t>(ring), ring_bytes };
        DmaMemory p { pool, reinterpret_cast<uint64_t>(pool), pool_bytes };
        CHECK(!q.init(config, r, p).is_error());
        outstanding.clear(); // forgotten: never to come back
        broken = false;
        last_avail = 0;
        at_device.clear();
    }

    void check_counters()
    {
        CHECK(q.broken() == broken);
        CHECK(q.outstanding() == outstanding.size());
        size_t used_descs = 0;
        for (auto& [c, r] : outstanding)
            used_descs += r.descriptors;
        CHECK(q.free_descriptors() + used_descs == config.size);
    }

    void add(Input& in)
    {
        size_t count = in.byte() % 7; // 0 is a valid (rejected) input
        Segment segs[6];
        bool bad_order = false, zero = false, seen_write = false;
        uint64_t writable = 0;
        uint8_t writes_mask = in.byte();
        for (size_t i = 0; i < count; i++) {
            uint8_t l = in.byte();
            uint32_t len = l == 0xff ? 0xffff'fff0 : uint32_t(l) * 37; // 0 and > 4 GiB chains too
            segs[i] = { 0x10'0000 + i * 0x1000, len, (writes_mask >> i & 1) != 0 };
            zero |= segs[i].len == 0;
            bad_order |= seen_write && !segs[i].device_writes;
            seen_write |= segs[i].device_writes;
            writable += segs[i].device_writes ? segs[i].len : 0;
        }
        uint64_t total = 0;
        for (size_t i = 0; i < count; i++)
            total += segs[i].len;
        bool indirect = config.indirect && count > 1 && count <= config.max_indirect;
        size_t needed = indirect ? 1 : count;
        uintptr_t c = next_cookie++;
        uint16_t free_before = q.free_descriptors();
        auto r = q.add(segs, count, reinterpret_cast<void*>(c));
        if (broken) {
            CHECK(r.is_error() && r.error() == Errno::IO);
        } else if (count == 0 || zero || bad_order || total > (uint64_t(1) << 32) || needed > config.size) {
            CHECK(r.is_error() && r.error() == Errno::INVAL);
        } else if (needed > free_before) {
            CHECK(r.is_error() && r.error() == Errno::BUSY);
        } else {
            CHECK(!r.is_error());
            outstanding[c] = { writable > UINT32_MAX ? UINT32_MAX : uint32_t(writable), uint16_t(needed), false };
        }
    }

    void publish()
    {
        q.publish();
        for (auto& [c, r] : outstanding)
            r.published = true;
    }

    // The honest device reads what the driver published (trusted: only the driver writes the
    // avail ring and the descriptors), bounded anyway.
    void device_take()
    {
        uint16_t idx = load<uint16_t>(avail() + kAvailIdxOffset);
        uint8_t* desc = reinterpret_cast<uint8_t*>(q.desc_phys());
        for (int n = 0; last_avail != idx && n < config.size; n++, last_avail++) {
            uint16_t head = load<uint16_t>(avail() + kAvailRingOffset + 2 * size_t(last_avail % config.size));
            CHECK(head < config.size);
            const uint8_t* table = desc;
            size_t table_len = config.size;
            size_t i = head;
            if (load<uint16_t>(desc + 16 * i + 12) & kDescFIndirect) {
                table = reinterpret_cast<const uint8_t*>(load<uint64_t>(desc + 16 * i));
                table_len = load<uint32_t>(desc + 16 * i + 8) / 16;
                CHECK(table_len >= 2 && table_len <= config.max_indirect);
                i = 0;
            }
            // A stale head (one the hostile device completed early) may lead through reused
            // descriptors, so only an indirect table's contents are checked.
            bool in_table = table != desc;
            uint64_t writable = 0;
            for (size_t k = 0; k < table_len && i < table_len; k++) {
                const uint8_t* d = table + 16 * i;
                uint16_t f = load<uint16_t>(d + 12);
                CHECK(!in_table || !(f & kDescFIndirect));
                if (f & kDescFIndirect)
                    break;
                if (f & kDescFWrite)
                    writable += load<uint32_t>(d + 8);
                if (!(f & kDescFNext))
                    break;
                i = load<uint16_t>(d + 14);
            }
            at_device.push_back({ head, writable > UINT32_MAX ? UINT32_MAX : uint32_t(writable) });
        }
    }

    void write_used(uint16_t slot, uint32_t id, uint32_t len)
    {
        uint8_t* e = used() + kUsedRingOffset + 8 * size_t(slot % config.size);
        store<uint32_t>(e, id);
        store<uint32_t>(e + 4, len);
    }

    void device_complete(Input& in)
    {
        if (at_device.empty())
            return;
        size_t k = in.byte() % at_device.size();
        AtDevice a = at_device[k];
        at_device.erase(at_device.begin() + k);
        uint8_t shrink = in.byte();
        uint16_t idx = used_idx();
        write_used(idx, a.head, a.writable >= shrink ? a.writable - shrink : 0);
        store<uint16_t>(used() + kUsedIdxOffset, uint16_t(idx + 1));
    }

    void device_garbage(Input& in)
    {
        switch (in.byte() % 5) {
        case 0: { // an entry: ids near the valid range or anything
            uint16_t slot = in.u16();
            uint32_t id = in.byte() & 1 ? in.u32() : in.byte() % (config.size + 2);
            uint32_t len = in.byte() & 1 ? in.u32() : in.byte();
            write_used(slot, id, len);
            break;
        }
        case 1:
            store<uint16_t>(used() + kUsedIdxOffset, uint16_t(used_idx() + in.byte() % 4));
            break;
        case 2:
            store<uint16_t>(used() + kUsedIdxOffset, in.u16());
            break;
        case 3:
            store<uint16_t>(used() + kUsedFlagsOffset, in.u16());
            break;
        case 4:
            store<uint16_t>(used() + used_avail_event_offset(config.size), in.u16());
            break;
        }
    }

    void next_used()
    {
        SplitQueue::Completion c { nullptr, 0 };
        auto r = q.next_used(c);
        if (r.is_error()) {
            CHECK(r.error() == Errno::IO);
            broken = true;
            return;
        }
        CHECK(!broken);
        if (!r.value())
            return;
        auto it = outstanding.find(reinterpret_cast<uintptr_t>(c.cookie));
        CHECK(it != outstanding.end());
        CHECK(it->second.published);
        CHECK(c.written <= it->second.writable);
        outstanding.erase(it);
    }

    void interrupts(Input& in)
    {
        uint8_t b = in.byte();
        switch (b % 3) {
        case 0:
            q.disable_interrupts();
            break;
        case 1:
            CHECK(q.enable_interrupts() || !broken);
            break;
        case 2:
            CHECK(q.enable_interrupts_after(uint16_t(b / 3)) || !broken);
            break;
        }
    }

    void detach()
    {
        void* c = nullptr;
        if (!q.detach_outstanding(c)) {
            CHECK(outstanding.empty());
            return;
        }
        auto it = outstanding.find(reinterpret_cast<uintptr_t>(c));
        CHECK(it != outstanding.end());
        outstanding.erase(it);
        broken = true;
    }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    Input in(data, size);
    Harness h;
    uint8_t b0 = in.byte();
    uint8_t b1 = in.byte();
    h.config.size = uint16_t(1u << (b0 % 6)); // 1..32
    h.config.event_idx = b0 >> 3 & 1;
    h.config.indirect = b0 >> 4 & 1;
    h.config.clamp_used_len = b0 >> 5 & 1;
    h.config.max_indirect = h.config.indirect ? uint16_t(1 + b1 % h.config.size) : 0;
    h.ring_bytes = split_queue_layout(h.config.size).bytes;
    h.ring = static_cast<uint8_t*>(::operator new(h.ring_bytes, std::align_val_t(16)));
    if (h.config.indirect) {
        h.pool_bytes = indirect_pool_bytes(h.config.size, h.config.max_indirect);
        h.pool = static_cast<uint8_t*>(::operator new(h.pool_bytes, std::align_val_t(16)));
    }
    h.init();

    for (int steps = 0; !in.empty() && steps < 4096; steps++) {
        switch (in.byte() % 12) {
        case 0:
        case 1:
            h.add(in);
            break;
        case 2:
            h.publish();
            break;
        case 3:
            h.device_take();
            break;
        case 4:
        case 5:
            h.device_complete(in);
            break;
        case 6:
            h.device_garbage(in);
            break;
        case 7:
        case 8:
            h.next_used();
            break;
        case 9:
            h.interrupts(in);
            break;
        case 10:
            h.detach();
            break;
        case 11:
            if (h.broken || in.byte() % 8 == 0)
                h.init(); // the device is reset with the queue
            break;
        }
        h.check_counters();
    }
    return 0;
}
