// Unit tests for the scheduler's freestanding exp/log/scale_pow2 against the host's libm.
#include <sched/float_math.h>

#include <cmath>
#include <gtest/gtest.h>
#include <limits>
#include <random>

namespace {

using namespace sched::math;

// |a − b| in units of b's last place (for normal b).
double ulps(double a, double b)
{
    if (a == b)
        return 0;
    double ulp = std::nextafter(std::fabs(b), INFINITY) - std::fabs(b);
    return std::fabs(a - b) / ulp;
}

TEST(FloatMath, ExpMatchesLibm)
{
    std::mt19937_64 rng(1);
    std::uniform_real_distribution<double> wide(-745.0, 709.7);
    std::uniform_real_distribution<double> narrow(-2.0, 2.0);
    double worst = 0;
    for (int i = 0; i < 200000; i++) {
        double x = i % 2 ? wide(rng) : narrow(rng);
        double want = std::exp(x);
        double got = exp_of(x);
        if (want < std::numeric_limits<double>::min()) {
            // Subnormal results carry fewer bits; allow one rounding step of the smallest.
            EXPECT_LE(std::fabs(got - want), 2 * std::numeric_limits<double>::denorm_min()) << x;
            continue;
        }
        double u = ulps(got, want);
        worst = u > worst ? u : worst;
        ASSERT_LE(u, 3.0) << "x=" << x << " got " << got << " want " << want;
    }
    RecordProperty("worst_ulps", std::to_string(worst));
}

TEST(FloatMath, ExpEdges)
{
    EXPECT_EQ(exp_of(0.0), 1.0);
    EXPECT_EQ(exp_of(1000.0), INFINITY);
    EXPECT_EQ(exp_of(-1000.0), 0.0);
    EXPECT_TRUE(std::isnan(exp_of(NAN)));
    EXPECT_LE(ulps(exp_of(1.0), M_E), 1.0);
    EXPECT_LE(ulps(exp_of(-0.2), std::exp(-0.2)), 1.0);
}

TEST(FloatMath, ExpSplitNeverOverflows)
{
    for (double x : {0.0, 1.0, 700.0, 1e4, 1e6, 1e9, -1e9}) {
        ExpSplit s = exp_split(x);
        EXPECT_GE(s.mantissa, 0.70);
        EXPECT_LE(s.mantissa, 1.42);
        if (std::fabs(x) <= 700) {
            EXPECT_LE(ulps(std::ldexp(s.mantissa, int(s.exponent)), std::exp(x)), 3.0) << x;
        } else {
            // log2 of the value is exponent + log2(mantissa) ≈ x / ln 2 (x clamped to 2^20).
            double clamped = std::fmin(std::fmax(x, -kMaxExpArgument), kMaxExpArgument);
            EXPECT_NEAR(double(s.exponent) + std::log2(s.mantissa), clamped / M_LN2, 1e-6 * std::fabs(clamped));
        }
    }
}

TEST(FloatMath, LogMatchesLibm)
{
    std::mt19937_64 rng(2);
    std::uniform_real_distribution<double> mant(1.0, 2.0);
    std::uniform_int_distribution<int> expo(-1000, 1000);
    std::uniform_real_distribution<double> near1(0.9, 1.1);
    for (int i = 0; i < 200000; i++) {
        double x = i % 3 == 0 ? near1(rng) : std::ldexp(mant(rng), expo(rng));
        double want = std::log(x);
        double got = log_of(x);
        ASSERT_LE(ulps(got, want), 3.0) << "x=" << x << " got " << got << " want " << want;
    }
    EXPECT_EQ(log_of(1.0), 0.0);
    EXPECT_EQ(log_of(0.0), -INFINITY);
    EXPECT_TRUE(std::isnan(log_of(-1.0)));
    EXPECT_LE(ulps(log_of(4.9e-324), std::log(4.9e-324)), 3.0); // subnormal input
    EXPECT_LE(ulps(log_of(1.7e308), std::log(1.7e308)), 3.0);
}

TEST(FloatMath, ScalePow2IsLdexp)
{
    std::mt19937_64 rng(3);
    std::uniform_real_distribution<double> mant(-2.0, 2.0);
    std::uniform_int_distribution<int> expo(-1100, 1100);
    std::uniform_int_distribution<int> shift(-2300, 2300);
    for (int i = 0; i < 200000; i++) {
        double x = std::ldexp(mant(rng), expo(rng));
        int n = shift(rng);
        double want = std::ldexp(x, n);
        double got = scale_pow2(x, n);
        ASSERT_EQ(got, want) << x << " * 2^" << n;
    }
    EXPECT_EQ(scale_pow2(0.0, 5), 0.0);
    EXPECT_EQ(scale_pow2(1.0, 1024), INFINITY);
    EXPECT_EQ(scale_pow2(1.0, -1075), 0.0);
    EXPECT_EQ(scale_pow2(1.5, -1074), std::ldexp(1.5, -1074));
    EXPECT_EQ(scale_pow2(1.0, -100000), 0.0);
    EXPECT_EQ(binary_exponent(1.0), 0);
    EXPECT_EQ(binary_exponent(0.75), -1);
    EXPECT_EQ(binary_exponent(std::ldexp(1.0, 100)), 100);
}

} // namespace
