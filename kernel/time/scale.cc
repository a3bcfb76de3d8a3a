// Fixed-point rate conversion: choosing mult/shift, and the 128/64 division it needs.
#include <time/scale.h>

namespace clk {
namespace {

using u128 = unsigned __int128;

// n / d by restoring long division, one quotient bit per step. The compiler would call
// __udivti3 for a u128 `/`, which the freestanding kernel does not have.
u128 div_u128(u128 n, uint64_t d)
{
    u128 q = 0, r = 0;
    for (int bit = 127; bit >= 0; --bit) {
        r = (r << 1) | ((n >> bit) & 1);
        if (r >= d) {
            r -= d;
            q |= u128(1) << bit;
        }
    }
    return q;
}

} // namespace

uint64_t mul_div(uint64_t a, uint64_t b, uint64_t c)
{
    if (c == 0)
        return UINT64_MAX;
    u128 q = div_u128(u128(a) * b, c);
    return q > UINT64_MAX ? UINT64_MAX : uint64_t(q);
}

Result<Scale> make_scale(uint64_t from_hz, uint64_t to_hz)
{
    if (from_hz == 0 || to_hz == 0)
        return Errno::INVAL;
    constexpr u128 kLimit = u128(1) << 63;
    for (int shift = 63; shift >= 0; --shift) {
        // Round to nearest: (to << shift + from / 2) / from.
        u128 mult = div_u128((u128(to_hz) << shift) + from_hz / 2, from_hz);
        if (mult < kLimit && mult != 0)
            return Scale { uint64_t(mult), uint32_t(shift) };
    }
    return Errno::RANGE;
}

} // namespace clk
