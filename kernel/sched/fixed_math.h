// Integer (fixed-point) exp2, log2 and 128-bit helpers for the scheduler's accounting: the
// kernel is built without the FPU (-mgeneral-regs-only), so that a system call never has to
// save the application's SSE state.
//
// Formats: Qn is an integer holding value · 2^n. exp2_frac maps a Q64 fraction of a doubling
// to a Q63 mantissa in [1, 2); log2_q32 returns a signed Q32 logarithm. Both use a table and a
// short polynomial on the remainder:
//
// * exp2_frac(f): 2^f = 2^(j/256) · e^(y), j = the top 8 bits of f, y = (rest of f) · ln 2 <
//   ln2/256 ≈ 0.0027; e^y − 1 by its Taylor polynomial to y^4 (first omitted term y^5/5! <
//   1.3e−15 relative). Every term and product is below the true value, so the result is too,
//   by at most 2^−49 relative (tests/unit/sched/fixed_math_test.cc). That is plenty: the
//   clock's charges telescope (fair.h), so this error never accumulates; it costs a thread
//   at most p·τ·1.3e−15 ≈ 3e−7 ns of R per charge.
// * log2_q32(x): x = m · 2^k with m in [1, 2); m is divided by the centre c_j of its 1/128-wide
//   bucket through a table of reciprocals, leaving |z| = |m/c_j − 1| < 1/256, and
//   log2(m) = log2(c_j) + log2(1 + z) with ln(1 + z) ≈ z − z²/2 + z³/3 (error below 1e−10 of a
//   doubling; the result is rounded to 2^−32 anyway).
//
// The tables are exact roundings, generated with 80-digit decimal arithmetic (Python's
// decimal module); the unit test checks the exp2 table entry by entry and both functions
// against the host's long-double libm.
#pragma once

#include <stdint.h>

namespace sched::math {

using u128 = unsigned __int128;

// The high 64 bits of a·b: for Q64 fractions, their product in Q64 (truncated).
inline uint64_t mul_hi(uint64_t a, uint64_t b) { return uint64_t((u128(a) * b) >> 64); }

extern const uint64_t kExp2Table[256]; // 2^(j/256), Q63

// 2^(f / 2^64) for a fraction f (Q64), as a Q63 mantissa in [2^63, 2^64). Inline: the fair
// clock evaluates it on every context switch.
inline uint64_t exp2_frac(uint64_t f)
{
    constexpr uint64_t kLn2 = 0xb17217f7d1cf79acull; // ln 2, Q64
    constexpr uint64_t kInv2 = 0x8000000000000000ull, kInv6 = 0x2aaaaaaaaaaaaaabull,
                       kInv24 = 0x0aaaaaaaaaaaaaabull; // 1/k!, Q64
    uint64_t j = f >> 56;
    uint64_t y = mul_hi(f & ((uint64_t(1) << 56) - 1), kLn2); // Q64, < ln2/256
    // e^y − 1 = y + y·y·(1/2 + y·(1/6 + y/24)).
    uint64_t s = kInv6 + mul_hi(y, kInv24);
    s = kInv2 + mul_hi(y, s);
    uint64_t em1 = y + mul_hi(y, mul_hi(y, s));
    uint64_t t = kExp2Table[j];
    return t + mul_hi(t, em1); // < 2^64: the true value is below 2 and every step truncates
}

// log2(x) for x > 0, Q32 (so in [0, 128 · 2^32)). x = 0 returns INT64_MIN.
int64_t log2_q32(u128 x);

// ⌊n / d⌋ for d > 0, when the quotient fits 64 bits (asserted). Bitwise long division: the
// kernel has no 128-bit division routine, and this is only used off the hot paths
// (constructors, diagnostics).
uint64_t div_u128(u128 n, uint64_t d);

// Number of leading zero bits of x (128 for 0).
inline int clz128(u128 x)
{
    uint64_t hi = uint64_t(x >> 64), lo = uint64_t(x);
    if (hi)
        return __builtin_clzll(hi);
    return lo ? 64 + __builtin_clzll(lo) : 128;
}

} // namespace sched::math
