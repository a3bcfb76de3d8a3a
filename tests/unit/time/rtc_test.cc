// Unit tests for CMOS RTC decoding: BCD and binary, 12- and 24-hour forms, the century,
// validation of every field, and the civil-date arithmetic against the host's timegm.
#include <time/rtc.h>

#include <ctime>
#include <gtest/gtest.h>
#include <random>

namespace {

using clk::RtcRegisters;

int64_t host_timegm(int year, int month, int day, int h, int m, int s)
{
    std::tm t {};
    t.tm_year = year - 1900;
    t.tm_mon = month - 1;
    t.tm_mday = day;
    t.tm_hour = h;
    t.tm_min = m;
    t.tm_sec = s;
    return int64_t(timegm(&t));
}

uint8_t bcd(int v) { return uint8_t((v / 10) << 4 | (v % 10)); }

TEST(Rtc, DaysFromCivil)
{
    EXPECT_EQ(clk::days_from_civil(1970, 1, 1), 0);
    EXPECT_EQ(clk::days_from_civil(1969, 12, 31), -1);
    EXPECT_EQ(clk::days_from_civil(2000, 3, 1), 11017);
    EXPECT_EQ(clk::days_from_civil(2024, 1, 1), 19723);
    std::mt19937 rng(1);
    for (int i = 0; i < 5000; ++i) {
        int y = 1900 + int(rng() % 300), m = 1 + int(rng() % 12), d = 1 + int(rng() % 28);
        EXPECT_EQ(clk::days_from_civil(y, unsigned(m), unsigned(d)) * 86400, host_timegm(y, m, d, 0, 0, 0));
    }
}

TEST(Rtc, Bcd24Hour)
{
    RtcRegisters r { bcd(30), bcd(45), bcd(13), bcd(29), bcd(2), bcd(24), bcd(20), clk::kRtcStatusB24Hour };
    auto t = clk::rtc_to_unix_seconds(r);
    ASSERT_FALSE(t.is_error());
    EXPECT_EQ(t.value(), host_timegm(2024, 2, 29, 13, 45, 30));
}

TEST(Rtc, Binary24Hour)
{
    RtcRegisters r { 59, 59, 23, 31, 12, 99, 20, clk::kRtcStatusB24Hour | clk::kRtcStatusBBinary };
    EXPECT_EQ(clk::rtc_to_unix_seconds(r).value(), host_timegm(2099, 12, 31, 23, 59, 59));
}

TEST(Rtc, TwelveHourClock)
{
    auto at = [](uint8_t hours, bool binary) {
        RtcRegisters r { 0, 0, hours, 1, 6, uint8_t(binary ? 25 : bcd(25)), 0, uint8_t(binary ? clk::kRtcStatusBBinary : 0) };
        auto t = clk::rtc_to_unix_seconds(r);
        EXPECT_FALSE(t.is_error());
        return t.is_error() ? -1 : (t.value() - host_timegm(2025, 6, 1, 0, 0, 0)) / 3600;
    };
    EXPECT_EQ(at(bcd(12), false), 0);                    // 12 AM: midnight
    EXPECT_EQ(at(bcd(1), false), 1);
    EXPECT_EQ(at(bcd(11), false), 11);
    EXPECT_EQ(at(bcd(12) | clk::kRtcHourPm, false), 12); // 12 PM: noon
    EXPECT_EQ(at(bcd(1) | clk::kRtcHourPm, false), 13);
    EXPECT_EQ(at(bcd(11) | clk::kRtcHourPm, false), 23);
    EXPECT_EQ(at(12 | clk::kRtcHourPm, true), 12);
    EXPECT_EQ(at(7 | clk::kRtcHourPm, true), 19);
}

TEST(Rtc, YearsWithoutCentury)
{
    RtcRegisters r { 0, 0, 0, bcd(1), bcd(1), bcd(24), 0, clk::kRtcStatusB24Hour };
    EXPECT_EQ(clk::rtc_to_unix_seconds(r).value(), host_timegm(2024, 1, 1, 0, 0, 0));
    r.year = bcd(70);
    EXPECT_EQ(clk::rtc_to_unix_seconds(r).value(), 0);
    r.year = bcd(69);
    EXPECT_EQ(clk::rtc_to_unix_seconds(r).value(), host_timegm(2069, 1, 1, 0, 0, 0));
}

TEST(Rtc, InvalidInputIsAnError)
{
    const RtcRegisters good { bcd(0), bcd(0), bcd(0), bcd(15), bcd(4), bcd(24), bcd(20), clk::kRtcStatusB24Hour };
    ASSERT_FALSE(clk::rtc_to_unix_seconds(good).is_error());
    auto bad = [&](auto mutate) {
        RtcRegisters r = good;
        mutate(r);
        auto t = clk::rtc_to_unix_seconds(r);
        return t.is_error() && t.error() == Errno::INVAL;
    };
    EXPECT_TRUE(bad([](RtcRegisters& r) { r.seconds = 0x1a; }));          // not BCD
    EXPECT_TRUE(bad([](RtcRegisters& r) { r.seconds = bcd(60); }));
    EXPECT_TRUE(bad([](RtcRegisters& r) { r.minutes = bcd(60); }));
    EXPECT_TRUE(bad([](RtcRegisters& r) { r.hours = bcd(24); }));
    EXPECT_TRUE(bad([](RtcRegisters& r) { r.hours = bcd(1) | clk::kRtcHourPm; })); // PM in 24-hour
    EXPECT_TRUE(bad([](RtcRegisters& r) { r.status_b = 0; r.hours = 0; }));        // hour 0, 12-hour
    EXPECT_TRUE(bad([](RtcRegisters& r) { r.status_b = 0; r.hours = bcd(13); }));
    EXPECT_TRUE(bad([](RtcRegisters& r) { r.day = 0; }));
    EXPECT_TRUE(bad([](RtcRegisters& r) { r.day = bcd(31); }));            // 31 April
    EXPECT_TRUE(bad([](RtcRegisters& r) { r.month = 0; }));
    EXPECT_TRUE(bad([](RtcRegisters& r) { r.month = bcd(13); }));
    EXPECT_TRUE(bad([](RtcRegisters& r) { r.month = bcd(2); r.day = bcd(29); r.year = bcd(23); }));
    EXPECT_TRUE(bad([](RtcRegisters& r) { r.year = 0xa0; }));
    EXPECT_TRUE(bad([](RtcRegisters& r) { r.century = bcd(18); }));
    EXPECT_TRUE(bad([](RtcRegisters& r) { r.century = 0xff; }));          // floating bus
    EXPECT_TRUE(bad([](RtcRegisters& r) { r.status_b |= clk::kRtcStatusBBinary; r.year = 100; }));
    // Feb 29 of a leap century year is fine, of a common one is not.
    EXPECT_FALSE(bad([](RtcRegisters& r) { r.month = bcd(2); r.day = bcd(29); r.year = bcd(0); }));
    EXPECT_TRUE(bad([](RtcRegisters& r) { r.month = bcd(2); r.day = bcd(29); r.year = bcd(0); r.century = bcd(21); }));
}

TEST(Rtc, EveryByteValueIsDecodedOrRejected)
{
    // Exhaustive over one field at a time, both modes: never crashes (UBSan), and whatever
    // decodes lies in the representable range.
    for (uint8_t mode : { uint8_t(clk::kRtcStatusB24Hour), uint8_t(0), uint8_t(clk::kRtcStatusBBinary),
                          uint8_t(clk::kRtcStatusBBinary | clk::kRtcStatusB24Hour) }) {
        for (int field = 0; field < 7; ++field) {
            for (int v = 0; v < 256; ++v) {
                RtcRegisters r { 0, 0, 1, 1, 1, 0, 0, mode };
                uint8_t* bytes[] = { &r.seconds, &r.minutes, &r.hours, &r.day, &r.month, &r.year, &r.century };
                *bytes[field] = uint8_t(v);
                auto t = clk::rtc_to_unix_seconds(r);
                if (!t.is_error()) {
                    EXPECT_GE(t.value(), host_timegm(1900, 1, 1, 0, 0, 0));
                    EXPECT_LT(t.value(), host_timegm(10000, 1, 1, 0, 0, 0));
                }
            }
        }
    }
}

} // namespace
