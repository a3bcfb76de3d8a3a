// Reader of glibc's /etc/ld.so.cache ("glibc-ld.so.cache1.1" format, written by ldconfig),
// the step of ld.so's library search between DT_RUNPATH and the default directories.
//
// Layout (little-endian on x86-64). The file starts either with the new header, or with the
// old libc5 header "ld.so-1.7.0" + u32 count + count × 12-byte entries, after which the new
// header follows, aligned to 8 bytes. The new header (48 bytes):
//   char magic[17] "glibc-ld.so.cache", char version[3] "1.1", u32 nlibs, u32 len_strings,
//   u8 flags (bits 0-1: 0 unknown, 1 invalid, 2 little-endian, 3 big-endian), u8 pad[3],
//   u32 extension_offset, u32 unused[3];
// then nlibs 24-byte entries: i32 flags, u32 key, u32 value, u32 osversion, u64 hwcap.
// key (the soname) and value (the path) are offsets of NUL-terminated strings, counted from
// the start of the new header. Entry flags: low byte = type (3 = ELF libc6), high byte =
// ABI (0x03 = x86-64 lib64), so x86-64 libraries carry 0x0303. An hwcap with bit 62 set
// names a glibc-hwcaps subdirectory entry (e.g. x86-64-v3).
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "runner/parsed.h"

namespace runner {

inline constexpr int32_t kLdCacheFlagsX8664Libc6 = 0x0303;

class LdCache {
public:
    // Parses the file's bytes; errors say what is wrong ("truncated entry table", ...).
    static Parsed<LdCache> parse(std::string_view bytes);

    // The path recorded for an x86-64 library `soname`, or "" when the cache has none.
    // Baseline entries win over glibc-hwcaps entries (the guest CPU may lack the ISA level
    // the host has); among equals, the first in file order, as ld.so does.
    std::string lookup(std::string_view soname) const;

    size_t size() const { return m_entries.size(); }

private:
    std::map<std::string, std::string, std::less<>> m_entries;  // soname -> path
};

} // namespace runner
