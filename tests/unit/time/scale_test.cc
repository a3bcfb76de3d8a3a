// Unit tests for the fixed-point rate scale: exactness against 128-bit reference arithmetic
// over days of TSC ticks, saturation, and the set-up errors.
#include <time/scale.h>

#include <gtest/gtest.h>
#include <random>

namespace {

using u128 = unsigned __int128;
constexpr uint64_t kMinHz = 100'000'000;

uint64_t reference(uint64_t value, uint64_t from_hz, uint64_t to_hz)
{
    u128 r = u128(value) * to_hz / from_hz;
    return r > UINT64_MAX ? UINT64_MAX : uint64_t(r);
}

TEST(Scale, IdentityIsExact)
{
    auto s = clk::make_scale(1'000'000'000, 1'000'000'000);
    ASSERT_FALSE(s.is_error());
    for (uint64_t v : { uint64_t(0), uint64_t(1), uint64_t(123456789), UINT64_MAX / 3, UINT64_MAX })
        EXPECT_EQ(s.value().apply(v), v);
}

TEST(Scale, TscToNanosecondsWithinOneNanosecondOverDays)
{
    std::mt19937_64 rng(42);
    for (int i = 0; i < 2000; ++i) {
        uint64_t hz = kMinHz + rng() % (10'000'000'000ull - kMinHz);
        auto s = clk::make_scale(hz, 1'000'000'000);
        ASSERT_FALSE(s.is_error());
        EXPECT_LT(s.value().mult, uint64_t(1) << 63);
        // Up to 30 days of ticks: still within 1 ns of the exact quotient.
        uint64_t delta = rng() % (hz * 86400 * 30);
        uint64_t got = s.value().apply(delta), want = reference(delta, hz, 1'000'000'000);
        EXPECT_LE(got > want ? got - want : want - got, 1u) << "hz=" << hz << " delta=" << delta;
    }
}

TEST(Scale, NanosecondsToTicksForTimers)
{
    std::mt19937_64 rng(7);
    for (int i = 0; i < 1000; ++i) {
        uint64_t hz = 100'000'000 + rng() % 9'900'000'000ull;
        auto s = clk::make_scale(1'000'000'000, hz);
        ASSERT_FALSE(s.is_error());
        uint64_t ns = rng() % (uint64_t(86400) * 1'000'000'000 * 7);
        uint64_t got = s.value().apply(ns), want = reference(ns, 1'000'000'000, hz);
        EXPECT_LE(got > want ? got - want : want - got, 1u);
    }
}

TEST(Scale, LargeDeltasDoNotOverflow)
{
    // 2^64 − 1 ticks of a 100 MHz TSC is more than 2^64 ns: saturates instead of wrapping.
    auto slow = clk::make_scale(100'000'000, 1'000'000'000);
    ASSERT_FALSE(slow.is_error());
    EXPECT_EQ(slow.value().apply(UINT64_MAX), UINT64_MAX);
    EXPECT_EQ(slow.value().apply(UINT64_MAX / 10), reference(UINT64_MAX / 10, 100'000'000, 1'000'000'000));
    // A fast TSC: the full 64-bit range fits and matches the reference to 1 ns.
    auto fast = clk::make_scale(3'000'000'000, 1'000'000'000);
    ASSERT_FALSE(fast.is_error());
    uint64_t want = reference(UINT64_MAX, 3'000'000'000, 1'000'000'000);
    uint64_t got = fast.value().apply(UINT64_MAX);
    EXPECT_LE(got > want ? got - want : want - got, 1u);
}

TEST(Scale, Errors)
{
    EXPECT_EQ(clk::make_scale(0, 1).error(), Errno::INVAL);
    EXPECT_EQ(clk::make_scale(1, 0).error(), Errno::INVAL);
    EXPECT_EQ(clk::make_scale(1, UINT64_MAX).error(), Errno::RANGE);
    EXPECT_FALSE(clk::make_scale(1, uint64_t(1) << 62).is_error());
}

TEST(MulDiv, MatchesReference)
{
    std::mt19937_64 rng(3);
    for (int i = 0; i < 10000; ++i) {
        uint64_t a = rng(), b = rng() >> (rng() % 64), c = (rng() >> (rng() % 64)) | 1;
        EXPECT_EQ(clk::mul_div(a, b, c), reference(a, c, b));
    }
    EXPECT_EQ(clk::mul_div(5, 7, 0), UINT64_MAX);
    EXPECT_EQ(clk::mul_div(UINT64_MAX, UINT64_MAX, 1), UINT64_MAX);
    EXPECT_EQ(clk::mul_div(UINT64_MAX, UINT64_MAX, UINT64_MAX), UINT64_MAX);
}

} // namespace
