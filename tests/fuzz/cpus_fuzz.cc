// fuzz-links: boot lib
// libFuzzer target: hostile MADTs and MP tables. The input is guest physical memory, seen two
// ways: flat (input byte i at physical address i, nothing else readable), where it is parsed
// as a MADT and as an MP floating pointer at address 0; and repeated (the input tiled over
// the first MiB), where the floating pointer search of all three areas and the parse run.
// Nothing may crash; the MADT parser may read only inside the table, the MP parser only the
// floating pointer and the configuration table; the topology must be consistent (bounded
// counts, unique APIC ids, at most one boot CPU, reset on error).
#include <boot/cpus.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace {

uint32_t load32(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }

// A read is allowed if it lies inside one of two ranges (the second may be empty).
struct Allowed {
    uint64_t begin[2] = {};
    uint64_t end[2] = {};
    bool contains(uint64_t paddr, size_t size) const
    {
        for (int i = 0; i < 2; ++i)
            if (paddr >= begin[i] && paddr <= end[i] && size <= end[i] - paddr)
                return true;
        return false;
    }
};

class FlatMemory final : public boot::PhysReader {
public:
    FlatMemory(const uint8_t* data, size_t size) : m_data(data), m_size(size) {}
    bool read(uint64_t paddr, void* out, size_t size) const override
    {
        if (m_allowed && size != 0 && !m_allowed->contains(paddr, size))
            std::abort(); // a read outside the structure being parsed
        if (paddr > m_size || size > m_size - paddr)
            return false;
        std::memcpy(out, m_data + paddr, size);
        return true;
    }
    void restrict_to(const Allowed* allowed) { m_allowed = allowed; }

private:
    const uint8_t* m_data;
    size_t m_size;
    const Allowed* m_allowed = nullptr;
};

class TiledMemory final : public boot::PhysReader {
public:
    static constexpr uint64_t kLimit = 1 << 20;
    TiledMemory(const uint8_t* data, size_t size) : m_data(data), m_size(size) {}
    bool read(uint64_t paddr, void* out, size_t size) const override
    {
        if (paddr > kLimit || size > kLimit - paddr)
            return false;
        auto* o = static_cast<uint8_t*>(out);
        for (size_t done = 0; done < size;) {
            size_t at = size_t((paddr + done) % m_size);
            size_t n = std::min(size - done, m_size - at);
            std::memcpy(o + done, m_data + at, n);
            done += n;
        }
        return true;
    }

private:
    const uint8_t* m_data;
    size_t m_size;
};

void check(const boot::CpuTopology& t, bool ok, boot::CpuSource expected)
{
    if (!ok) {
        if (t.source != boot::CpuSource::None || t.count || t.ioapic_count || t.override_count || t.nmi_count)
            std::abort(); // not reset after an error
        return;
    }
    if (t.source != expected || t.count > t.kMaxCpus || t.ioapic_count > t.kMaxIoApics ||
        t.override_count > t.kMaxOverrides || t.nmi_count > t.kMaxNmis)
        std::abort();
    size_t bootstrap = 0;
    for (size_t i = 0; i < t.count; ++i) {
        bootstrap += t.cpus[i].is_bootstrap;
        if (t.cpus[i].is_bootstrap && !t.cpus[i].enabled)
            std::abort();
        for (size_t j = 0; j < i; ++j)
            if (t.cpus[i].apic_id == t.cpus[j].apic_id)
                std::abort();
    }
    if (bootstrap > 1 || t.enabled_count() > t.count)
        std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    if (size == 0)
        return 0;
    auto topo = std::make_unique<boot::CpuTopology>();
    FlatMemory flat(data, size);

    // The input as a MADT at address 0, with the length its header claims.
    if (size >= 8) {
        boot::AcpiTableRef ref;
        std::memcpy(ref.signature, "APIC", 4);
        ref.length = load32(data + 4);
        Allowed allowed;
        allowed.end[0] = ref.length;
        flat.restrict_to(&allowed);
        bool ok = !boot::parse_madt(flat, ref, *topo).is_error();
        flat.restrict_to(nullptr);
        check(*topo, ok, boot::CpuSource::Madt);
    }

    // The input as an MP floating pointer at address 0: reads may touch only it and the
    // configuration table it points to (its header at least, then BASE TABLE LENGTH bytes).
    if (size >= 16) {
        Allowed allowed;
        allowed.end[0] = 16;
        uint64_t table = load32(data + 4);
        uint64_t length = 44;
        if (table <= size && size - table >= 6)
            length = std::max<uint64_t>(length, uint64_t(data[table + 4]) | uint64_t(data[table + 5]) << 8);
        allowed.begin[1] = table;
        allowed.end[1] = table + length;
        flat.restrict_to(&allowed);
        bool ok = !boot::parse_mp_table(flat, 0, *topo).is_error();
        flat.restrict_to(nullptr);
        check(*topo, ok, boot::CpuSource::MpTable);
    }

    // The search over the tiled first MiB, then the parse of whatever it finds.
    TiledMemory tiled(data, size);
    auto fp = boot::find_mp_floating_pointer(tiled);
    if (fp.is_error())
        return 0;
    if (fp.value() % 16 != 0 || fp.value() >= TiledMemory::kLimit)
        std::abort();
    bool ok = !boot::parse_mp_table(tiled, fp.value(), *topo).is_error();
    check(*topo, ok, boot::CpuSource::MpTable);
    return 0;
}
