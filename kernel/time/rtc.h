// CMOS real-time clock (MC146818) decoding: the raw date/time registers, in BCD or binary
// and in 12- or 24-hour form as status register B says, to Unix time. Reading the registers
// (ports 0x70/0x71) is the kernel's job (core/clock.cc); this validates and converts.
#pragma once

#include <cstdint>
#include <lib/result.h>

namespace clk {

// CMOS register indices [MC146818A data sheet; IBM PC/AT CMOS map].
inline constexpr uint8_t kRtcSeconds = 0x00;
inline constexpr uint8_t kRtcMinutes = 0x02;
inline constexpr uint8_t kRtcHours = 0x04;
inline constexpr uint8_t kRtcDayOfMonth = 0x07;
inline constexpr uint8_t kRtcMonth = 0x08;
inline constexpr uint8_t kRtcYear = 0x09;
inline constexpr uint8_t kRtcStatusA = 0x0a;
inline constexpr uint8_t kRtcStatusB = 0x0b;
inline constexpr uint8_t kRtcCentury = 0x32; // the ACPI FADT's default century register
inline constexpr uint8_t kRtcStatusAUpdateInProgress = 0x80;
inline constexpr uint8_t kRtcStatusB24Hour = 0x02;
inline constexpr uint8_t kRtcStatusBBinary = 0x04;
inline constexpr uint8_t kRtcHourPm = 0x80; // in the hours register, 12-hour mode only

struct RtcRegisters {
    uint8_t seconds = 0;
    uint8_t minutes = 0;
    uint8_t hours = 0;
    uint8_t day = 0;   // of the month, 1..31
    uint8_t month = 0; // 1..12
    uint8_t year = 0;  // 0..99
    uint8_t century = 0; // 0: no century register (years 70..99 → 19xx, 0..69 → 20xx)
    uint8_t status_b = 0;

    bool operator==(const RtcRegisters&) const = default;
};

// Seconds since 1970-01-01T00:00:00 UTC (the RTC is assumed to keep UTC, as QEMU's default
// `-rtc base=utc` does). INVAL for anything out of range: a non-BCD digit in BCD mode, hour
// 0 or > 12 in 12-hour mode, the PM bit in 24-hour mode, day 31 of a 30-day month, Feb 29
// of a common year, seconds ≥ 60, a century outside 19..99.
Result<int64_t> rtc_to_unix_seconds(const RtcRegisters& regs);

// Days from 1970-01-01 to the given proleptic Gregorian date (negative before 1970).
// month 1..12, day 1..31; no validation.
int64_t days_from_civil(int64_t year, unsigned month, unsigned day);

} // namespace clk
