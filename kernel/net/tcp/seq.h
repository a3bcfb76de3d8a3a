// TCP sequence-number arithmetic modulo 2^32 [rfc9293 §3.4]: comparisons are made on the
// signed difference, which is right while the two numbers are less than 2^31 apart — always
// true for numbers inside one connection's windows.
#pragma once

#include <stdint.h>

namespace net::tcp {

inline bool seq_lt(uint32_t a, uint32_t b)
{
    return static_cast<int32_t>(a - b) < 0;
}
inline bool seq_le(uint32_t a, uint32_t b)
{
    return static_cast<int32_t>(a - b) <= 0;
}
inline bool seq_gt(uint32_t a, uint32_t b)
{
    return static_cast<int32_t>(a - b) > 0;
}
inline bool seq_ge(uint32_t a, uint32_t b)
{
    return static_cast<int32_t>(a - b) >= 0;
}
inline uint32_t seq_max(uint32_t a, uint32_t b)
{
    return seq_gt(a, b) ? a : b;
}
inline uint32_t seq_min(uint32_t a, uint32_t b)
{
    return seq_lt(a, b) ? a : b;
}
// True when `low` <= `x` < `high` in sequence space.
inline bool seq_in_range(uint32_t x, uint32_t low, uint32_t high)
{
    return seq_ge(x, low) && seq_lt(x, high);
}

// Time in the TCP code is a count of microseconds from an arbitrary origin, supplied by the
// caller (a fake clock in the tests); the state machine never reads a clock itself.
using Instant = uint64_t;
using Duration = uint64_t;
inline constexpr Duration kMicrosecond = 1;
inline constexpr Duration kMillisecond = 1000;
inline constexpr Duration kSecond = 1000 * kMillisecond;
inline constexpr Instant kNever = ~Instant(0);

} // namespace net::tcp
