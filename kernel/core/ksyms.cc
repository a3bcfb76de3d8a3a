// Symbol lookup over the .ksyms table: sorted (address, size, name) records.
#include <core/ksyms.h>

namespace core {
namespace {

// Layout written by tools/gen_ksyms.py.
struct KsymsHeader {
    uint32_t magic;
    uint32_t count;
};
struct KsymsEntry {
    uint64_t address;
    uint32_t name_offset; // into the string table that follows the entries
    uint32_t size;
};
static_assert(sizeof(KsymsEntry) == 16);
constexpr uint32_t kKsymsMagic = 0x4d59534b; // "KSYM"

} // namespace
} // namespace core

extern "C" const core::KsymsHeader g_ksyms;

namespace core {

size_t symbol_count() { return g_ksyms.magic == kKsymsMagic ? g_ksyms.count : 0; }

SymbolInfo symbolize(uint64_t address)
{
    size_t count = symbol_count();
    if (count == 0)
        return { nullptr, 0 };
    auto* entries = reinterpret_cast<const KsymsEntry*>(&g_ksyms + 1);
    auto* strings = reinterpret_cast<const char*>(entries + count);
    // Last entry with entry.address <= address.
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (entries[mid].address <= address)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return { nullptr, 0 };
    const KsymsEntry& e = entries[lo - 1];
    uint64_t offset = address - e.address;
    uint64_t limit = e.size ? e.size : (lo < count ? entries[lo].address - e.address : 0);
    if (offset >= limit)
        return { nullptr, 0 };
    return { strings + e.name_offset, offset };
}

} // namespace core
