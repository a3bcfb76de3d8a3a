// Freestanding exp/log/scale_pow2 (see float_math.h).
//
// exp: for tiny arguments (|x| < 2^−12, the scheduler's everyday case) a degree-4 Taylor
// polynomial, exact to double precision; otherwise Cody–Waite range reduction x = n·ln2 + r with |r| ≤ ln2/2, then a degree-13 Taylor
// polynomial for e^r (the first omitted term, r^14/14!, is below 5e−18 relative). ln2 is
// split into a high part with 32 trailing zero bits (so n·kLn2Hi is exact for |n| < 2^21,
// i.e. for every x ≤ kMaxExpArgument) and a low correction.
//
// log: x = m·2^k with m in [√½, √2), ln m = 2·atanh(f) with f = (m−1)/(m+1), |f| ≤ 0.1716,
// summed as the odd series f + f³/3 + … up to f^25 (next term < 1e−20).
#include <sched/float_math.h>

namespace sched::math {

namespace {

constexpr double kLn2Hi = 6.93147180369123816490e-01; // 0x3fe62e42fee00000
constexpr double kLn2Lo = 1.90821492927058770002e-10; // 0x3dea39ef35793c76
constexpr double kInvLn2 = 1.44269504088896338700e+00;

uint64_t bits_of(double x) { return __builtin_bit_cast(uint64_t, x); }
double from_bits(uint64_t b) { return __builtin_bit_cast(double, b); }

// 2^n for n in [−1022, 1023], exactly.
double pow2(int64_t n) { return from_bits(uint64_t(n + 1023) << 52); }

} // namespace

ExpSplit exp_split(double x)
{
    // The scheduler's common case: the clock advanced by microseconds, x ≈ 1e−5. For
    // |x| < 2^−12 no reduction is needed and degree 4 is exact to double precision (the first
    // omitted term, x^5/120, is below 7e−21 relative).
    if (x > -kSmallExpArgument && x < kSmallExpArgument)
        return {exp_small(x), 0};
    if (x != x)
        return {x, 0};
    if (x > kMaxExpArgument)
        x = kMaxExpArgument;
    if (x < -kMaxExpArgument)
        x = -kMaxExpArgument;
    // n = round(x / ln2); the cast truncates, so bias by ±0.5 first.
    double t = x * kInvLn2;
    int64_t n = int64_t(t < 0 ? t - 0.5 : t + 0.5);
    double r = (x - double(n) * kLn2Hi) - double(n) * kLn2Lo;
    // Horner form of Σ_{k=0..13} r^k / k!.
    double p = 1.0 / 6227020800.0; // 1/13!
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    return {p, n};
}

double scale_pow2(double x, int64_t n)
{
    if (n == 0)
        return x; // the common case (no renormalisation), and exact
    if (x == 0 || x != x || x - x != 0) // zero, NaN, ±∞
        return x;
    if (binary_exponent(x) == -1023) { // subnormal input: normalise first
        x *= pow2(54);
        n -= 54;
    }
    int64_t target = int64_t(binary_exponent(x)) + n;
    const uint64_t sign = bits_of(x) & 0x8000000000000000ull;
    if (target > 1023)
        return from_bits(sign | 0x7ff0000000000000ull); // ±∞
    if (target < -1076)
        return from_bits(sign); // ±0: below half the smallest subnormal
    // y = x's significand with exponent 0, in [1, 2).
    double y = from_bits((bits_of(x) & 0x800fffffffffffffull) | 0x3ff0000000000000ull);
    if (target >= -1022)
        return y * pow2(target); // exact
    // Subnormal result: an exact step to a normal value, then one rounding multiplication.
    return (y * pow2(target + 1022)) * pow2(-1022);
}

int binary_exponent(double x)
{
    int biased = int((bits_of(x) >> 52) & 0x7ff);
    return biased - 1023;
}

double exp_of_general(double x)
{
    if (x != x)
        return x;
    if (x > 709.782712893384)
        return from_bits(0x7ff0000000000000ull); // +∞
    if (x < -745.2)
        return 0.0;
    ExpSplit s = exp_split(x);
    return scale_pow2(s.mantissa, s.exponent);
}

double log_of(double x)
{
    if (x != x || x < 0)
        return from_bits(0x7ff8000000000000ull); // NaN
    if (x == 0)
        return -from_bits(0x7ff0000000000000ull); // −∞
    if (x - x != 0)
        return x; // +∞
    int k = 0;
    if (binary_exponent(x) == -1023) { // subnormal: normalise first
        x *= pow2(54);
        k -= 54;
    }
    k += binary_exponent(x);
    // m in [1, 2), then fold into [√½, √2).
    double m = from_bits((bits_of(x) & 0x000fffffffffffffull) | 0x3ff0000000000000ull);
    if (m > 1.4142135623730951) {
        m *= 0.5;
        k += 1;
    }
    double f = (m - 1.0) / (m + 1.0);
    double f2 = f * f;
    double s = 1.0 / 25;
    for (int d = 23; d >= 1; d -= 2)
        s = s * f2 + 1.0 / d;
    double ln_m = 2.0 * f * s;
    return (double(k) * kLn2Lo + ln_m) + double(k) * kLn2Hi;
}

} // namespace sched::math
