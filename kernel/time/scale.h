// Fixed-point rate conversion: value × to_hz / from_hz as one 64×64→128-bit multiply and a
// shift, for TSC ticks → nanoseconds on the clock's hot path (and back, for timers).
#pragma once

#include <cstdint>
#include <lib/result.h>

namespace clk {

// value × mult / 2^shift. `make_scale` picks the largest shift (≤ 63) that keeps mult below
// 2^63 and rounds mult to nearest, so the relative error of the rate is below 2^-62 whenever
// to_hz / from_hz < 2 (TSC → ns for any TSC above 500 MHz), and below 2^-62 × (to/from) in
// general — far under 1 ns per day. The product needs at most 127 bits, so no delta can
// overflow it; a result above 2^64 − 1 saturates. No division: the hot path is a `mul` and
// a `shrd`.
struct Scale {
    uint64_t mult = 0;
    uint32_t shift = 0;

    uint64_t apply(uint64_t value) const
    {
        unsigned __int128 p = static_cast<unsigned __int128>(value) * mult;
        p >>= shift & 63; // shift ≤ 63 always; saying so spares the >= 64 case (a hot path)
        return p > UINT64_MAX ? UINT64_MAX : static_cast<uint64_t>(p);
    }
};

// The scale that converts a count at `from_hz` into a count at `to_hz`. INVAL if either rate
// is zero; RANGE if to_hz / from_hz ≥ 2^63 (no representable mult).
Result<Scale> make_scale(uint64_t from_hz, uint64_t to_hz);

// floor(a × b / c), saturating at 2^64 − 1; c must not be 0 (returns UINT64_MAX then).
// Bit-serial 128/64 division: meant for calibration and set-up, not the hot path (the kernel
// has no 128-bit division routine, and this keeps it that way).
uint64_t mul_div(uint64_t a, uint64_t b, uint64_t c);

} // namespace clk
