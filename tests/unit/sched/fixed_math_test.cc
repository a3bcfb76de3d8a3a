// Unit tests for the scheduler's integer exp2/log2 and 128-bit division, against the host's
// long double libm, and for the accuracy of the fair clock's decay built on them.
#include <sched/fair.h>
#include <sched/fixed_math.h>

#include <cmath>
#include <gtest/gtest.h>
#include <random>

namespace {

using namespace sched::math;

// The tables are the exact roundings they claim to be (long double has 64 significand bits:
// one rounding of its own, so allow 2 units).
TEST(FixedMath, Exp2TableEntries)
{
    for (int j = 0; j < 256; j++) {
        long double want = std::exp2l((long double)j / 256) * 0x1p63L;
        EXPECT_LE(std::fabs((long double)kExp2Table[j] - want), 2.0L) << j;
    }
}

// exp2_frac(f) = 2^(f/2^64) in Q63, within 2^−49 relative, never above the true value by more
// than the table's rounding.
TEST(FixedMath, Exp2FracMatchesLibm)
{
    std::mt19937_64 rng(1);
    for (int i = 0; i < 200000; i++) {
        uint64_t f = rng();
        if (i < 256)
            f = uint64_t(i) << 56; // the table points exactly
        long double want = std::exp2l((long double)f * 0x1p-64L) * 0x1p63L;
        long double got = (long double)exp2_frac(f);
        long double rel = (want - got) / want;
        ASSERT_LE(rel, 0x1p-49L) << f;
        ASSERT_GE(rel, -0x1p-62L) << f;
    }
    EXPECT_EQ(exp2_frac(0), uint64_t(1) << 63);
    EXPECT_GT(exp2_frac(~uint64_t(0)), 0xffffffff00000000ull); // just below 2, no overflow
}

// Monotone over close arguments (the clock's C must never go backwards).
TEST(FixedMath, Exp2FracIsMonotone)
{
    std::mt19937_64 rng(2);
    for (int i = 0; i < 100000; i++) {
        uint64_t f = rng() & ~uint64_t(0xffff);
        uint64_t a = exp2_frac(f), b = exp2_frac(f + 0x10000);
        ASSERT_LE(a, b) << f;
    }
    for (int j = 1; j < 256; j++) { // across table boundaries
        uint64_t f = uint64_t(j) << 56;
        ASSERT_LE(exp2_frac(f - 1), exp2_frac(f)) << j;
    }
}

TEST(FixedMath, Log2MatchesLibm)
{
    std::mt19937_64 rng(3);
    for (int i = 0; i < 200000; i++) {
        u128 x = (u128(rng()) << 64) | rng();
        x >>= rng() % 128;
        if (x == 0)
            x = 1;
        long double want = std::log2l((long double)x) * 0x1p32L;
        long double got = (long double)log2_q32(x);
        ASSERT_LE(std::fabs(got - want), 2.0L) << double(want);
    }
    EXPECT_EQ(log2_q32(1), 0);
    EXPECT_EQ(log2_q32(u128(1) << 100), int64_t(100) << 32);
    EXPECT_EQ(log2_q32(0), INT64_MIN);
}

TEST(FixedMath, DivMatchesHardware)
{
    std::mt19937_64 rng(4);
    for (int i = 0; i < 100000; i++) {
        uint64_t d = rng() >> (rng() % 64);
        if (d == 0)
            d = 1;
        u128 n = (u128(rng() % d) << 64) | rng(); // quotient fits 64 bits
        ASSERT_EQ(div_u128(n, d), uint64_t(n / d));
    }
}

// The fair clock's C(T) follows 2^47 · e^(T/τ) (up to the renormalisation shifts) to 1e−11
// relative at every step, over days of time, with no drift: short steps multiply by e^x
// (and truncate), but every long step computes C from T afresh.
TEST(FixedMath, ClockDecayAccuracy)
{
    sched::FairParams params;
    sched::FairClock clock(params, 0);
    std::mt19937_64 rng(5);
    sched::Nanos now = 0;
    for (int i = 0; i < 200000; i++) {
        now += sched::Nanos(rng() % (i % 100 == 0 ? 3'000'000'000ull : 20'000ull));
        clock.advance(now);
        long double doublings = (long double)now / (long double)params.tau_ns / std::log(2.0L);
        long double want = std::exp2l(doublings - (long double)clock.shift() + 47);
        long double rel = std::fabs((long double)clock.c() - want) / want;
        ASSERT_LE(rel, 1e-11L) << i;
        ASSERT_GE(clock.c(), uint64_t(1) << 47);
        ASSERT_LT(clock.c(), uint64_t(1) << (47 + params.renormalize_exponent));
    }
    EXPECT_GT(now, 86'400'000'000'000 / 300); // a long stretch of simulated time
}

// A charge's increment C(T₁) − C(T₀) over 1 µs — the quantity (★) adds per context switch —
// is accurate to 1e−8 relative even at the low end of C's range.
TEST(FixedMath, ShortStepIncrementAccuracy)
{
    sched::FairParams params;
    std::mt19937_64 rng(6);
    for (int i = 0; i < 20000; i++) {
        sched::Nanos t0 = sched::Nanos(rng() % 1'000'000'000'000ull);
        sched::FairClock clock(params, t0);
        uint64_t c0 = clock.c();
        sched::FairClock::Step step = clock.advance(t0 + 1000);
        ASSERT_EQ(step.shift, 0);
        long double want = (long double)c0 * std::expm1l(1000.0L / (long double)params.tau_ns);
        long double got = (long double)(step.c_after - step.c_before);
        ASSERT_LE(std::fabs(got - want) / want, 1e-8L) << i;
    }
}

} // namespace
