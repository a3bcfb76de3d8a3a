// CMOS RTC decoding and the civil-date arithmetic.
#include <time/rtc.h>

namespace clk {
namespace {

// A register value as a number: BCD (two decimal digits) or binary. -1 if a BCD digit is
// not decimal.
int decode(uint8_t value, bool binary)
{
    if (binary)
        return value;
    int hi = value >> 4, lo = value & 0xf;
    if (hi > 9 || lo > 9)
        return -1;
    return hi * 10 + lo;
}

bool is_leap(int64_t year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

unsigned days_in_month(int64_t year, unsigned month)
{
    static constexpr uint8_t kDays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return month == 2 && is_leap(year) ? 29 : kDays[month - 1];
}

} // namespace

int64_t days_from_civil(int64_t year, unsigned month, unsigned day)
{
    // Count from 0000-03-01 so the leap day ends the year: eras of 400 years (146097 days),
    // each year's March-based day from the 153-days-per-5-months rule.
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    int64_t year_of_era = year - era * 400;                                  // 0..399
    unsigned month_from_march = month > 2 ? month - 3 : month + 9;           // 0..11
    int64_t day_of_year = (153 * month_from_march + 2) / 5 + day - 1;        // 0..365
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468; // 719468: days from 0000-03-01 to 1970-01-01
}

Result<int64_t> rtc_to_unix_seconds(const RtcRegisters& regs)
{
    bool binary = regs.status_b & kRtcStatusBBinary;
    bool h24 = regs.status_b & kRtcStatusB24Hour;

    int seconds = decode(regs.seconds, binary);
    int minutes = decode(regs.minutes, binary);
    bool pm = regs.hours & kRtcHourPm;
    int hours = decode(regs.hours & ~kRtcHourPm, binary);
    int day = decode(regs.day, binary);
    int month = decode(regs.month, binary);
    int year = decode(regs.year, binary);
    if (seconds < 0 || seconds > 59 || minutes < 0 || minutes > 59 || hours < 0 || day < 1 || month < 1
        || month > 12 || year < 0 || year > 99)
        return Errno::INVAL;

    if (h24) {
        if (pm || hours > 23)
            return Errno::INVAL;
    } else {
        // 12-hour clock: 12 AM is midnight, 12 PM is noon.
        if (hours < 1 || hours > 12)
            return Errno::INVAL;
        hours = hours % 12 + (pm ? 12 : 0);
    }

    int64_t full_year;
    if (regs.century == 0) {
        full_year = year < 70 ? 2000 + year : 1900 + year;
    } else {
        int century = decode(regs.century, binary);
        if (century < 19 || century > 99)
            return Errno::INVAL;
        full_year = int64_t(century) * 100 + year;
    }
    if (unsigned(day) > days_in_month(full_year, unsigned(month)))
        return Errno::INVAL;

    int64_t days = days_from_civil(full_year, unsigned(month), unsigned(day));
    return days * 86400 + hours * 3600 + minutes * 60 + seconds;
}

} // namespace clk
