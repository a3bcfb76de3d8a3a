// Unit tests for the published clock state's fast path (time/clock_page.h), which the kernel
// and the vDSO share: the segment walk, the conditions that send a reader to the kernel, and
// kvmclock's stable bit.
#include <time/clock_page.h>

#include <gtest/gtest.h>

namespace {

using clk::ClockPage;
using clk::ClockSource;

clk::Scale identity() { return clk::make_scale(1'000'000'000, 1'000'000'000).value(); }

TEST(ClockPage, NoSourceOrNoSegmentGoesToTheKernel)
{
    ClockPage page;
    uint64_t ns = 0;
    EXPECT_FALSE(clk::read_published_ns(page, [] { return uint64_t(100); }, ns));
    page.source = ClockSource::Tsc; // before the first calibration
    EXPECT_FALSE(clk::read_published_ns(page, [] { return uint64_t(100); }, ns));
}

TEST(ClockPage, WalksBackToTheSegmentHoldingTheTsc)
{
    ClockPage page;
    page.source = ClockSource::Tsc;
    auto half = clk::make_scale(2'000'000'000, 1'000'000'000).value(); // 2 GHz: ticks / 2
    page.segments[0] = { 1000, 0, identity(), 1'000'000'000 };
    page.segments[1] = { 5000, 4000, half, 2'000'000'000 };
    page.newest = 1;
    uint64_t ns = 0;
    ASSERT_TRUE(clk::read_published_ns(page, [] { return uint64_t(3000); }, ns));
    EXPECT_EQ(ns, 2000u); // still the first segment: its start ≤ TSC < the second's
    ASSERT_TRUE(clk::read_published_ns(page, [] { return uint64_t(9000); }, ns));
    EXPECT_EQ(ns, 4000u + 2000u);
    ASSERT_TRUE(clk::tsc_segments_ns(page, 500, ns)); // before the first start: no negative delta
    EXPECT_EQ(ns, 0u);
}

TEST(ClockPage, ADueRefinementDoesNotStopTheFastPath)
{
    ClockPage page;
    page.source = ClockSource::Tsc;
    page.segments[0] = { 0, 7, identity(), 1'000'000'000 };
    page.newest = 0;
    page.refine_at = 10; // the kernel's readers refine; the published segment stays valid
    uint64_t ns = 0;
    ASSERT_TRUE(clk::read_published_ns(page, [] { return uint64_t(100); }, ns));
    EXPECT_EQ(ns, 107u);
}

TEST(ClockPage, KvmclockOnlyWhenStable)
{
    clk::PvclockVcpuTimeInfo info {};
    info.version = 2;
    info.tsc_timestamp = 1000;
    info.system_time = 50;
    info.tsc_to_system_mul = 1u << 31; // 0.5 ns per tick
    info.tsc_shift = 0;
    info.flags = clk::kPvclockTscStable;
    ClockPage page;
    page.source = ClockSource::Kvmclock;
    page.pvti = &info;
    uint64_t ns = 0;
    ASSERT_TRUE(clk::read_published_ns(page, [] { return uint64_t(3000); }, ns));
    EXPECT_EQ(ns, 50u + 1000u);

    info.flags = 0; // readers on different vCPUs must agree on a maximum: the kernel's job
    EXPECT_FALSE(clk::read_published_ns(page, [] { return uint64_t(3000); }, ns));

    info.flags = clk::kPvclockTscStable;
    info.version = 3; // an update that never finishes: bounded retries, then the kernel
    EXPECT_FALSE(clk::read_published_ns(page, [] { return uint64_t(3000); }, ns));
}

} // namespace
