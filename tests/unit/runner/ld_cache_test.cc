// Unit tests of the ld.so.cache reader: synthetic caches in both layouts, damaged ones, and
// the host's own cache.
#include "runner/ld_cache.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

namespace runner {
namespace {

struct Entry {
    int32_t flags;
    std::string key, value;
    uint64_t hwcap = 0;
};

void put32(std::string& out, size_t at, uint32_t v) { std::memcpy(out.data() + at, &v, 4); }
void put64(std::string& out, size_t at, uint64_t v) { std::memcpy(out.data() + at, &v, 8); }

// The new-format part: 48-byte header, 24-byte entries, strings (offsets from the header).
std::string new_format(const std::vector<Entry>& entries, uint8_t flags = 2) {
    size_t strings_at = 48 + entries.size() * 24;
    std::string strings;
    std::string out(strings_at, '\0');
    std::memcpy(out.data(), "glibc-ld.so.cache1.1", 20);
    put32(out, 20, static_cast<uint32_t>(entries.size()));
    out[28] = static_cast<char>(flags);
    for (size_t i = 0; i < entries.size(); ++i) {
        size_t at = 48 + i * 24;
        put32(out, at, static_cast<uint32_t>(entries[i].flags));
        put32(out, at + 4, static_cast<uint32_t>(strings_at + strings.size()));
        strings += entries[i].key + '\0';
        put32(out, at + 8, static_cast<uint32_t>(strings_at + strings.size()));
        strings += entries[i].value + '\0';
        put64(out, at + 16, entries[i].hwcap);
    }
    put32(out, 24, static_cast<uint32_t>(strings.size()));
    return out + strings;
}

const std::vector<Entry> kEntries = {
    {0x0303, "libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1"},
    {0x0003, "libz.so.1", "/lib32/libz.so.1"},  // another ABI: ignored
    {0x0303, "libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6"},
    {0x0303, "libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6"},  // later duplicate
};

TEST(RunnerLdCache, NewFormat) {
    auto cache = LdCache::parse(new_format(kEntries));
    ASSERT_TRUE(cache) << cache.error;
    EXPECT_EQ(cache.value->lookup("libz.so.1"), "/lib/x86_64-linux-gnu/libz.so.1");
    EXPECT_EQ(cache.value->lookup("libc.so.6"), "/lib/x86_64-linux-gnu/libc.so.6");  // first wins
    EXPECT_EQ(cache.value->lookup("libnope.so"), "");
    EXPECT_EQ(cache.value->size(), 2u);
}

TEST(RunnerLdCache, OldFormatWithTheNewInside) {
    std::string old(16, '\0');
    std::memcpy(old.data(), "ld.so-1.7.0", 11);
    put32(old, 12, 1);
    old += std::string(12, '\0');  // one old entry
    old += std::string(4, '\0');   // pad 28 -> 32, the new header's 8-byte alignment
    auto cache = LdCache::parse(old + new_format(kEntries));
    ASSERT_TRUE(cache) << cache.error;
    EXPECT_EQ(cache.value->lookup("libz.so.1"), "/lib/x86_64-linux-gnu/libz.so.1");

    std::string old_only = old;
    auto r = LdCache::parse(old_only);
    EXPECT_FALSE(r);
    EXPECT_NE(r.error.find("old libc5 format"), std::string::npos);
}

TEST(RunnerLdCache, BaselineEntriesWinOverHwcaps) {
    std::vector<Entry> entries = {
        {0x0303, "libm.so.6", "/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v3/libm.so.6",
         (uint64_t{1} << 62) | 1},
        {0x0303, "libm.so.6", "/lib/x86_64-linux-gnu/libm.so.6"},
        {0x0303, "libonly.so", "/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v2/libonly.so",
         (uint64_t{1} << 62) | 0},
    };
    auto cache = LdCache::parse(new_format(entries));
    ASSERT_TRUE(cache) << cache.error;
    EXPECT_EQ(cache.value->lookup("libm.so.6"), "/lib/x86_64-linux-gnu/libm.so.6");
    EXPECT_EQ(cache.value->lookup("libonly.so"), "/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v2/libonly.so");
}

TEST(RunnerLdCache, DamagedCachesAreErrors) {
    EXPECT_FALSE(LdCache::parse(""));
    EXPECT_FALSE(LdCache::parse("not a cache at all, just text"));
    std::string good = new_format(kEntries);
    EXPECT_FALSE(LdCache::parse(good.substr(0, 30)));  // truncated header

    std::string many = good;
    put32(many, 20, 0x10000000);  // more entries than the file holds
    auto r = LdCache::parse(many);
    EXPECT_FALSE(r);
    EXPECT_NE(r.error.find("truncated entry table"), std::string::npos);

    std::string bad_string = good;
    put32(bad_string, 48 + 4, 0xfffffff0);  // key offset beyond the end
    r = LdCache::parse(bad_string);
    EXPECT_FALSE(r);
    EXPECT_NE(r.error.find("string outside the file"), std::string::npos);

    std::string unterminated = good;
    unterminated.pop_back();  // the last string loses its NUL
    EXPECT_FALSE(LdCache::parse(unterminated));

    EXPECT_FALSE(LdCache::parse(new_format(kEntries, 3)));  // big-endian
    EXPECT_FALSE(LdCache::parse(new_format(kEntries, 1)));  // marked invalid

    for (size_t n = 0; n < good.size(); ++n) {
        (void)LdCache::parse(good.substr(0, n));  // never reads past the end (ASan)
    }
}

TEST(RunnerLdCache, TheHostsCache) {
    std::ifstream in("/etc/ld.so.cache", std::ios::binary);
    if (!in) {
        GTEST_SKIP() << "no /etc/ld.so.cache";
    }
    std::stringstream bytes;
    bytes << in.rdbuf();
    auto cache = LdCache::parse(bytes.str());
    ASSERT_TRUE(cache) << cache.error;
    EXPECT_GT(cache.value->size(), 10u);
    EXPECT_NE(cache.value->lookup("libc.so.6"), "");
}

} // namespace
} // namespace runner
