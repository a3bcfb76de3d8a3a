// Unit tests for the mem/str helpers and StringView, checked against the host C library over
// many sizes and alignments (the word loops have alignment prologues and tails to get wrong).
#include <lib/string.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

namespace {

constexpr size_t kMaxSize = 300;
constexpr size_t kMaxOffset = 16;

// A buffer of distinct-looking bytes (no zeros, so it also works as string content).
std::vector<unsigned char> pattern(size_t size, unsigned seed)
{
    std::vector<unsigned char> v(size);
    for (size_t i = 0; i < size; i++)
        v[i] = static_cast<unsigned char>(1 + (i * 7 + seed * 13) % 251);
    return v;
}

int sign(int x) { return (x > 0) - (x < 0); }

TEST(String, MemCopyAllSizesAndAlignments)
{
    auto src = pattern(kMaxSize + kMaxOffset, 1);
    for (size_t size = 0; size <= kMaxSize; size++) {
        for (size_t src_off = 0; src_off < 8; src_off++) {
            for (size_t dst_off = 0; dst_off < 8; dst_off++) {
                // Guard bytes around the destination catch writes outside [dst, dst + size).
                std::vector<unsigned char> dst(kMaxSize + 2 * kMaxOffset, 0xee);
                void* r = lib::mem_copy(dst.data() + dst_off, src.data() + src_off, size);
                ASSERT_EQ(r, dst.data() + dst_off);
                ASSERT_EQ(std::memcmp(dst.data() + dst_off, src.data() + src_off, size), 0) << size;
                for (size_t i = 0; i < dst_off; i++)
                    ASSERT_EQ(dst[i], 0xee);
                for (size_t i = dst_off + size; i < dst.size(); i++)
                    ASSERT_EQ(dst[i], 0xee) << "size " << size << " dst_off " << dst_off;
            }
        }
    }
}

TEST(String, MemCopyExactHeapBuffers)
{
    // Exactly-sized heap blocks: any read or write past either end trips ASan.
    for (size_t size = 1; size <= kMaxSize; size++) {
        auto src = std::make_unique<unsigned char[]>(size);
        auto dst = std::make_unique<unsigned char[]>(size);
        for (size_t i = 0; i < size; i++)
            src[i] = static_cast<unsigned char>(i);
        lib::mem_copy(dst.get(), src.get(), size);
        ASSERT_EQ(std::memcmp(dst.get(), src.get(), size), 0);
    }
}

TEST(String, MemMoveOverlapsBothWays)
{
    for (size_t size = 0; size <= kMaxSize; size += (size < 40 ? 1 : 7)) {
        for (size_t src_off = 0; src_off < 24; src_off++) {
            for (size_t dst_off = 0; dst_off < 24; dst_off++) {
                auto ours = pattern(kMaxSize + 32, 3);
                auto expected = ours;
                std::memmove(expected.data() + dst_off, expected.data() + src_off, size);
                void* r = lib::mem_move(ours.data() + dst_off, ours.data() + src_off, size);
                ASSERT_EQ(r, ours.data() + dst_off);
                ASSERT_EQ(ours, expected) << "size " << size << " src " << src_off << " dst " << dst_off;
            }
        }
    }
}

TEST(String, MemSetAllSizesAndAlignments)
{
    for (size_t size = 0; size <= kMaxSize; size++) {
        for (size_t off = 0; off < 8; off++) {
            std::vector<unsigned char> ours(kMaxSize + 16, 0x11);
            auto expected = ours;
            // Only the low byte of the int counts.
            void* r = lib::mem_set(ours.data() + off, 0x1a5, size);
            std::memset(expected.data() + off, 0x1a5, size);
            ASSERT_EQ(r, ours.data() + off);
            ASSERT_EQ(ours, expected) << "size " << size << " off " << off;
        }
    }
}

TEST(String, MemCompareFindsFirstDifferenceAndSign)
{
    for (size_t size = 0; size <= 80; size++) {
        for (size_t off = 0; off < 8; off++) {
            auto a = pattern(size + off, 5);
            auto b = a;
            ASSERT_EQ(lib::mem_compare(a.data() + off, b.data() + off, size), 0);
            // A difference at each position, in both directions, with bytes above 0x7f (the
            // comparison is unsigned) and a later difference of the opposite sign to ignore.
            for (size_t pos = 0; pos < size; pos++) {
                auto c = a;
                c[off + pos] = 0xf0;
                a[off + pos] = 0x10;
                if (pos + 1 < size)
                    a[off + pos + 1] = 0xff;
                int ours = lib::mem_compare(a.data() + off, c.data() + off, size);
                int theirs = std::memcmp(a.data() + off, c.data() + off, size);
                ASSERT_EQ(sign(ours), sign(theirs)) << "size " << size << " pos " << pos;
                ASSERT_EQ(sign(lib::mem_compare(c.data() + off, a.data() + off, size)), -sign(theirs));
                a = b;
            }
        }
    }
}

TEST(String, StrLengthAllAlignments)
{
    for (size_t len = 0; len <= 100; len++) {
        // An exactly-sized heap copy: the word reads stay inside aligned words, and the final
        // byte-by-byte steps must not go past the terminator.
        auto s = std::make_unique<char[]>(len + 1);
        auto p = pattern(len, 7);
        if (len)
            std::memcpy(s.get(), p.data(), len);
        s[len] = '\0';
        ASSERT_EQ(lib::str_length(s.get()), len);
        for (size_t off = 0; off <= len; off++)
            ASSERT_EQ(lib::str_length(s.get() + off), len - off);
    }
    // High bytes must not look like terminators to the word trick.
    const char high[] = "\x80\xff\x81\x7f\x01\xfe\x80\x80\x80\x80";
    EXPECT_EQ(lib::str_length(high), std::strlen(high));
}

TEST(String, StrNLength)
{
    EXPECT_EQ(lib::str_nlength("hello", 10), 5u);
    EXPECT_EQ(lib::str_nlength("hello", 5), 5u);
    EXPECT_EQ(lib::str_nlength("hello", 3), 3u);
    EXPECT_EQ(lib::str_nlength("", 3), 0u);
    const char unterminated[4] = {'a', 'b', 'c', 'd'};
    EXPECT_EQ(lib::str_nlength(unterminated, 4), 4u);
    EXPECT_EQ(lib::str_nlength(unterminated, 0), 0u);
}

TEST(String, StrCompare)
{
    const char* cases[][2] = {
        {"", ""}, {"a", ""}, {"", "a"}, {"abc", "abc"}, {"abc", "abd"}, {"abd", "abc"},
        {"ab", "abc"}, {"abc", "ab"}, {"\x80", "\x7f"}, {"\x7f", "\x80"}, {"a\xff", "a\x01"},
    };
    for (auto& c : cases) {
        EXPECT_EQ(sign(lib::str_compare(c[0], c[1])), sign(std::strcmp(c[0], c[1]))) << c[0] << " vs " << c[1];
        for (size_t n = 0; n <= 4; n++)
            EXPECT_EQ(sign(lib::str_ncompare(c[0], c[1], n)), sign(std::strncmp(c[0], c[1], n)))
                << c[0] << " vs " << c[1] << " n " << n;
    }
    // str_ncompare stops at max_size even without terminators.
    const char a[3] = {'x', 'y', 'z'};
    const char b[3] = {'x', 'y', 'q'};
    EXPECT_EQ(lib::str_ncompare(a, b, 2), 0);
}

TEST(String, StrFindChar)
{
    const char* s = "kernel.boot";
    EXPECT_EQ(lib::str_find_char(s, 'k'), s);
    EXPECT_EQ(lib::str_find_char(s, '.'), s + 6);
    EXPECT_EQ(lib::str_find_char(s, 't'), s + 10);
    EXPECT_EQ(lib::str_find_char(s, 'z'), nullptr);
    EXPECT_EQ(lib::str_find_char(s, '\0'), s + 11);
    EXPECT_EQ(lib::str_find_char("", 'a'), nullptr);
}

TEST(StringView, Basics)
{
    lib::StringView empty;
    EXPECT_TRUE(empty.is_empty());
    EXPECT_EQ(empty, lib::StringView(""));
    EXPECT_EQ(lib::StringView(static_cast<const char*>(nullptr)).size(), 0u);

    lib::StringView v("mm.huge1g=off");
    EXPECT_EQ(v.size(), 13u);
    EXPECT_EQ(v.find('='), 9u);
    EXPECT_EQ(v.find('x'), lib::StringView::npos);
    EXPECT_EQ(v.find('m', 1), 1u);
    EXPECT_EQ(v.substr(0, 9), "mm.huge1g");
    EXPECT_EQ(v.substr(10), "off");
    EXPECT_EQ(v.substr(13), "");
    EXPECT_EQ(v.substr(99, 5), ""); // clamped, never out of bounds
    EXPECT_EQ(v.substr(10, 99), "off");
    EXPECT_TRUE(v.starts_with("mm."));
    EXPECT_FALSE(v.starts_with("mm.huge1g=off!"));
    EXPECT_NE(v, "mm.huge1g=of");
    EXPECT_EQ(v[0], 'm');
    size_t n = 0;
    for (char c : v)
        n += c == 'm';
    EXPECT_EQ(n, 2u);
}

TEST(StringView, UsableInConstantExpressions)
{
    constexpr lib::StringView v("abc");
    static_assert(v.size() == 3);
    static_assert(v.substr(1) == "bc");
    static_assert(v.find('c') == 2);
}

} // namespace
