// ld.so.cache reader (format in ld_cache.h).
#include "runner/ld_cache.h"

#include <cstdint>
#include <cstring>

namespace runner {

namespace {

constexpr std::string_view kOldMagic = "ld.so-1.7.0";
constexpr std::string_view kNewMagic = "glibc-ld.so.cache1.1";
constexpr size_t kOldHeaderSize = 16;  // magic[11] + pad to 12 + u32 nlibs
constexpr size_t kOldEntrySize = 12;
constexpr size_t kNewHeaderSize = 48;
constexpr size_t kNewEntrySize = 24;
constexpr uint64_t kHwcapExtension = uint64_t{1} << 62;

uint32_t u32_at(std::string_view bytes, size_t offset) {
    uint32_t v;
    std::memcpy(&v, bytes.data() + offset, sizeof v);
    return v;
}

uint64_t u64_at(std::string_view bytes, size_t offset) {
    uint64_t v;
    std::memcpy(&v, bytes.data() + offset, sizeof v);
    return v;
}

// The NUL-terminated string at `offset` of `table`, or nullopt if it runs off the end.
std::optional<std::string_view> string_at(std::string_view table, uint32_t offset) {
    if (offset >= table.size()) {
        return std::nullopt;
    }
    size_t end = table.find('\0', offset);
    if (end == std::string_view::npos) {
        return std::nullopt;
    }
    return table.substr(offset, end - offset);
}

} // namespace

Parsed<LdCache> LdCache::parse(std::string_view bytes) {
    size_t header = 0;
    if (bytes.substr(0, kOldMagic.size()) == kOldMagic) {
        // Old format, possibly with the new one after its entries.
        if (bytes.size() < kOldHeaderSize) {
            return Parsed<LdCache>::fail("truncated header");
        }
        uint64_t old_entries = u32_at(bytes, 12);
        uint64_t end = kOldHeaderSize + old_entries * kOldEntrySize;
        header = static_cast<size_t>((end + 7) & ~uint64_t{7});
        if (end > bytes.size() || header > bytes.size() ||
            bytes.substr(header, kNewMagic.size()) != kNewMagic) {
            return Parsed<LdCache>::fail("old libc5 format only (run ldconfig)");
        }
    } else if (bytes.substr(0, kNewMagic.size()) != kNewMagic) {
        return Parsed<LdCache>::fail("not an ld.so.cache file (bad magic)");
    }
    std::string_view cache = bytes.substr(header);
    if (cache.size() < kNewHeaderSize) {
        return Parsed<LdCache>::fail("truncated header");
    }
    uint64_t nlibs = u32_at(cache, 20);
    uint8_t endian = static_cast<uint8_t>(cache[28]) & 3;
    if (endian == 1 || endian == 3) {
        return Parsed<LdCache>::fail(endian == 1 ? "marked invalid" : "big-endian cache");
    }
    if ((cache.size() - kNewHeaderSize) / kNewEntrySize < nlibs) {
        return Parsed<LdCache>::fail("truncated entry table (" + std::to_string(nlibs) + " entries)");
    }

    LdCache out;
    std::map<std::string, std::string, std::less<>> hwcap_only;  // used when no baseline entry
    for (uint64_t i = 0; i < nlibs; ++i) {
        size_t at = kNewHeaderSize + static_cast<size_t>(i) * kNewEntrySize;
        int32_t flags = static_cast<int32_t>(u32_at(cache, at));
        if (flags != kLdCacheFlagsX8664Libc6) {
            continue;  // another ABI (x32, i386) or not a libc6 ELF library
        }
        auto key = string_at(cache, u32_at(cache, at + 4));
        auto value = string_at(cache, u32_at(cache, at + 8));
        if (!key || !value) {
            return Parsed<LdCache>::fail("entry " + std::to_string(i) + ": string outside the file");
        }
        bool named_hwcap = (u64_at(cache, at + 16) & kHwcapExtension) != 0;
        auto& into = named_hwcap ? hwcap_only : out.m_entries;
        into.emplace(std::string(*key), std::string(*value));  // keeps the first
    }
    for (auto& [key, value] : hwcap_only) {
        out.m_entries.emplace(key, value);
    }
    return Parsed<LdCache>::ok(std::move(out));
}

std::string LdCache::lookup(std::string_view soname) const {
    auto it = m_entries.find(soname);
    return it == m_entries.end() ? std::string() : it->second;
}

} // namespace runner
