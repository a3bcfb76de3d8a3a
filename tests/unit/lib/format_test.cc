// Unit tests for the format engine, mostly by comparing with the host C library's snprintf.
#include <lib/format.h>

#include <gtest/gtest.h>

#include <climits>
#include <cstdarg>
#include <cstring>
#include <cstdint>
#include <cstdio>
#include <string>

namespace {

// Both formatters' output for one format and argument list, checked to be equal (with the
// format attribute applied by both, so the cases are type-checked too).
#define EXPECT_LIKE_SNPRINTF(...)                                                      \
    do {                                                                               \
        char ours[512];                                                                \
        char theirs[512];                                                              \
        size_t n = lib::format_to(ours, sizeof(ours), __VA_ARGS__);                    \
        int m = std::snprintf(theirs, sizeof(theirs), __VA_ARGS__);                    \
        EXPECT_EQ(std::string(ours), std::string(theirs)) << "format: " << #__VA_ARGS__; \
        EXPECT_EQ(n, static_cast<size_t>(m)) << "format: " << #__VA_ARGS__;           \
    } while (0)

// The same check for formats that clang's -Wformat rejects although C defines them (flags that
// cancel each other out): passing the format at run time keeps the compiler out of it.
void expect_like_snprintf_runtime(const char* fmt, ...)
{
    char ours[512];
    char theirs[512];
    va_list args;
    va_start(args, fmt);
    va_list copy;
    va_copy(copy, args);
    size_t n = lib::vformat_to(ours, sizeof(ours), fmt, args);
    int m = std::vsnprintf(theirs, sizeof(theirs), fmt, copy);
    va_end(copy);
    va_end(args);
    EXPECT_EQ(std::string(ours), std::string(theirs)) << "format: " << fmt;
    EXPECT_EQ(n, static_cast<size_t>(m)) << "format: " << fmt;
}

// format_to without the format attribute, for formats the compiler would reject.
size_t format_unchecked(char* buf, size_t size, const char* fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    size_t n = lib::vformat_to(buf, size, fmt, args);
    va_end(args);
    return n;
}

// Collects everything put() into a std::string and counts the calls.
class StringSink final : public lib::FormatSink {
public:
    void put(const char* data, size_t size) override
    {
        text.append(data, size);
        calls++;
    }
    std::string text;
    int calls = 0;
};

TEST(Format, Plain)
{
    EXPECT_LIKE_SNPRINTF("");
    EXPECT_LIKE_SNPRINTF("hello, world");
    EXPECT_LIKE_SNPRINTF("100%% sure %%");
}

TEST(Format, SignedIntegers)
{
    EXPECT_LIKE_SNPRINTF("%d %i %d %d", 0, 42, -42, INT_MAX);
    EXPECT_LIKE_SNPRINTF("%d", INT_MIN);
    EXPECT_LIKE_SNPRINTF("%ld %ld", LONG_MIN, LONG_MAX);
    EXPECT_LIKE_SNPRINTF("%lld %lld", static_cast<long long>(INT64_MIN), static_cast<long long>(INT64_MAX));
    EXPECT_LIKE_SNPRINTF("%jd %jd", INTMAX_MIN, INTMAX_MAX);
    EXPECT_LIKE_SNPRINTF("%zd %td %td", static_cast<ssize_t>(-5), PTRDIFF_MIN, PTRDIFF_MAX);
    // hh and h convert the promoted int back to the narrow type first.
    EXPECT_LIKE_SNPRINTF("%hhd %hhd %hhd", 127, -128, 300);
    EXPECT_LIKE_SNPRINTF("%hd %hd %hd", 32767, -32768, 70000);
}

TEST(Format, UnsignedIntegers)
{
    EXPECT_LIKE_SNPRINTF("%u %u %u", 0u, 1u, UINT_MAX);
    EXPECT_LIKE_SNPRINTF("%x %X %o", 0xdeadbeefu, 0xdeadbeefu, 0755u);
    EXPECT_LIKE_SNPRINTF("%lx %lu %lo", ULONG_MAX, ULONG_MAX, ULONG_MAX);
    EXPECT_LIKE_SNPRINTF("%llx %llu %llo", 0ull, ULLONG_MAX, ULLONG_MAX);
    EXPECT_LIKE_SNPRINTF("%zu %zx %ju %jx", SIZE_MAX, static_cast<size_t>(4096), UINTMAX_MAX, UINTMAX_MAX);
    EXPECT_LIKE_SNPRINTF("%tu %tx", static_cast<ptrdiff_t>(7), static_cast<ptrdiff_t>(-1));
    EXPECT_LIKE_SNPRINTF("%hhu %hhx %hu %hx", 255, 0x1ff, 65535, 0x1ffff);
}

TEST(Format, WidthAndFlags)
{
    EXPECT_LIKE_SNPRINTF("[%5d] [%-5d] [%05d]", 42, 42, 42);
    EXPECT_LIKE_SNPRINTF("[%5d] [%-5d] [%05d] [%+05d]", -42, -42, -42, 42);
    EXPECT_LIKE_SNPRINTF("[%+d] [% d] [%+d] [% d]", 5, 5, -5, -5);
    EXPECT_LIKE_SNPRINTF("[% 05d] [%+5d] [%-+5d]", 7, 7, 7);
    // '-' beats '0', '+' beats ' ', and '+'/' ' do nothing for unsigned conversions.
    expect_like_snprintf_runtime("[%-05d] [%0-5d] [%+ d] [% +d] [%+ d]", 42, 42, 5, 5, -5);
    expect_like_snprintf_runtime("[%+u] [% x] [%+o]", 7u, 7u, 7u);
    EXPECT_LIKE_SNPRINTF("[%1d] [%2d] [%30lld]", 12345, -1, static_cast<long long>(INT64_MIN));
    EXPECT_LIKE_SNPRINTF("[%#x] [%#X] [%#o] [%#x] [%#o]", 255u, 255u, 8u, 0u, 0u);
    EXPECT_LIKE_SNPRINTF("[%#10x] [%#-10x] [%#010x] [%#010o]", 255u, 255u, 255u, 8u);
    EXPECT_LIKE_SNPRINTF("[%08x] [%-8X] [%8o]", 0xbeefu, 0xbeefu, 0777u);
}

TEST(Format, IntegerPrecision)
{
    EXPECT_LIKE_SNPRINTF("[%.5d] [%.5d] [%8.5d] [%-8.5d]", 42, -42, 42, -42);
    EXPECT_LIKE_SNPRINTF("[%.0d] [%.0x] [%5.0d] [%.d]", 0, 0u, 0, 0);
    EXPECT_LIKE_SNPRINTF("[%#.0o] [%#.3o] [%#5.3o] [%#.0x]", 0u, 8u, 8u, 0u);
    // A precision switches the '0' flag off.
    EXPECT_LIKE_SNPRINTF("[%08.3d] [%08.3x] [%+08.3d]", 7, 7u, 7);
    EXPECT_LIKE_SNPRINTF("[%.20llu] [%25.20lld]", ULLONG_MAX, static_cast<long long>(INT64_MIN));
}

TEST(Format, StarWidthAndPrecision)
{
    EXPECT_LIKE_SNPRINTF("[%*d] [%-*d] [%*d]", 6, 42, 6, 42, -6, 42);
    EXPECT_LIKE_SNPRINTF("[%.*d] [%.*d] [%*.*d]", 4, 42, -1, 42, 8, 4, -42);
    EXPECT_LIKE_SNPRINTF("[%.*s] [%*s] [%-*s]", 3, "abcdef", 5, "ab", 5, "ab");
    EXPECT_LIKE_SNPRINTF("[%.*s]", -3, "negative precision is none");
}

TEST(Format, CharsAndStrings)
{
    EXPECT_LIKE_SNPRINTF("%c%c%c", 'a', 'B', '!');
    EXPECT_LIKE_SNPRINTF("[%3c] [%-3c]", 'x', 'y');
    EXPECT_LIKE_SNPRINTF("[%s] [%10s] [%-10s] [%s]", "abc", "abc", "abc", "");
    EXPECT_LIKE_SNPRINTF("[%.2s] [%.0s] [%.10s] [%6.2s] [%-6.2s]", "abc", "abc", "abc", "abc", "abc");
    EXPECT_LIKE_SNPRINTF("[%s]", static_cast<const char*>(nullptr));
    EXPECT_LIKE_SNPRINTF("[%10s]", static_cast<const char*>(nullptr));
}

TEST(Format, NullStringIsNullEvenWithShortPrecision)
{
    // glibc prints nothing for a null string with a precision under 6; we cut "(null)".
    char buf[32];
    lib::format_to(buf, sizeof(buf), "[%.3s]", static_cast<const char*>(nullptr));
    EXPECT_STREQ(buf, "[(nu]");
}

TEST(Format, PrecisionStopsReadingUnterminatedStrings)
{
    const char chars[3] = {'a', 'b', 'c'}; // no terminator: reading past it would trip ASan
    char buf[16];
    lib::format_to(buf, sizeof(buf), "%.3s", chars);
    EXPECT_STREQ(buf, "abc");
}

TEST(Format, Pointers)
{
    int x = 0;
    EXPECT_LIKE_SNPRINTF("%p", static_cast<void*>(&x));
    EXPECT_LIKE_SNPRINTF("[%20p] [%-20p]", static_cast<void*>(&x), static_cast<void*>(&x));
    EXPECT_LIKE_SNPRINTF("%p", reinterpret_cast<void*>(UINTPTR_MAX));
    EXPECT_LIKE_SNPRINTF("[%p] [%8p] [%-8p]", nullptr, nullptr, nullptr);
}

TEST(Format, UnsupportedConversionsAreCopied)
{
    char buf[64];
    size_t n = format_unchecked(buf, sizeof(buf), "a%yb%-5kc%");
    EXPECT_STREQ(buf, "a%yb%-5kc%");
    EXPECT_EQ(n, 10u);
    // Nothing is consumed for them, so later conversions still get the right arguments.
    format_unchecked(buf, sizeof(buf), "%q %d", 5);
    EXPECT_STREQ(buf, "%q 5");
    format_unchecked(buf, sizeof(buf), "%5");
    EXPECT_STREQ(buf, "%5");
}

TEST(Format, TruncationMatchesSnprintf)
{
    const char* long_text = "the quick brown fox";
    for (size_t size = 0; size <= 24; size++) {
        char ours[32];
        char theirs[32];
        std::memset(ours, '#', sizeof(ours));
        std::memset(theirs, '#', sizeof(theirs));
        size_t n = lib::format_to(ours, size, "%s %d", long_text, -12345);
        int m = std::snprintf(theirs, size, "%s %d", long_text, -12345);
        EXPECT_EQ(n, static_cast<size_t>(m));
        EXPECT_EQ(std::memcmp(ours, theirs, sizeof(ours)), 0) << "size " << size;
    }
}

TEST(Format, ZeroSizeWritesNothing)
{
    EXPECT_EQ(lib::format_to(nullptr, 0, "%d%s", 123, "four"), 7u);
}

TEST(Format, HugeWidthIsClamped)
{
    StringSink sink;
    size_t n = lib::format(sink, "%999999999d|%.999999999d", 1, 2);
    EXPECT_EQ(n, 2u * lib::kFormatMaxWidth + 1);
    EXPECT_EQ(sink.text.size(), n);
    // *-width: INT_MIN's magnitude does not fit an int.
    n = lib::format(sink, "%*d", INT_MIN, 1);
    EXPECT_EQ(n, static_cast<size_t>(lib::kFormatMaxWidth));
}

TEST(Format, SinkReceivesBatchedPieces)
{
    StringSink sink;
    size_t n = lib::format(sink, "abc%ddef%%", 42);
    EXPECT_EQ(sink.text, "abc42def%");
    EXPECT_EQ(n, sink.text.size());
    // "abc", "42", "def", "%": literal runs are not split into characters.
    EXPECT_EQ(sink.calls, 4);
}

TEST(Format, LongOutputThroughSink)
{
    StringSink sink;
    lib::format(sink, "%-300s|%0300d", "x", -1);
    std::string expected = "x" + std::string(299, ' ') + "|-" + std::string(298, '0') + "1";
    EXPECT_EQ(sink.text, expected);
}

} // namespace
