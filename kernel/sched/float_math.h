// Freestanding double-precision exp, log and power-of-two scaling for the scheduler's
// accounting (the kernel has no libm).
//
// Accuracy (checked against the host's libm by tests/unit/sched/float_math_test.cc):
// exp_of and log_of are within a few ulp over their whole finite range; scale_pow2 is exact
// unless the result is subnormal (then it rounds once, like ldexp).
//
// The kernel is built with SSE2 and saves the extended state on interrupts, so kernel code may
// use double; this file only uses +, −, ×, ÷ and bit casts, never a library call.
#pragma once

#include <stdint.h>

namespace sched::math {

// e^x split as mantissa · 2^exponent, with mantissa in [e^−ln2/2, e^ln2/2] ≈ [0.707, 1.415].
// Never overflows: the split form lets callers fold huge exponents into a renormalisation
// shift. |x| is clamped to kMaxExpArgument (e^±2^20 is far beyond anything the scheduler
// distinguishes from 0 or ∞).
struct ExpSplit {
    double mantissa;
    int64_t exponent;
};
inline constexpr double kMaxExpArgument = 1048576.0; // 2^20
ExpSplit exp_split(double x);

// Below this |x|, e^x is the degree-4 Taylor polynomial of exp_small (the first omitted term,
// x^5/120, is below 7e−21 relative): the scheduler's everyday case, microseconds over τ.
inline constexpr double kSmallExpArgument = 1.0 / 4096; // 2^−12

// e^x for |x| < kSmallExpArgument. Inline, because the run queue evaluates it on every
// context switch; exp_split and exp_of return exactly this value there.
inline double exp_small(double x)
{
    double p = x * (1.0 / 24.0) + 1.0 / 6.0;
    p = p * x + 0.5;
    p = p * x + 1.0;
    return p * x + 1.0;
}

// x · 2^n, exact unless the result is subnormal; saturates to ±∞ / ±0 like ldexp.
double scale_pow2(double x, int64_t n);

// Unbiased binary exponent e of a positive, finite, normal x (x = m · 2^e, m in [1, 2)).
// Returns −1023 for 0 and subnormals.
int binary_exponent(double x);

// e^x for any x: 0 below about −745, +∞ above about 709.78. The small-argument case is
// inline (exp_small); the rest is exp_of_general.
double exp_of_general(double x);
inline double exp_of(double x)
{
    if (x > -kSmallExpArgument && x < kSmallExpArgument)
        return exp_small(x);
    return exp_of_general(x);
}

// Natural logarithm of a positive finite x (−∞ for 0; NaN for negative or NaN input).
double log_of(double x);

} // namespace sched::math
