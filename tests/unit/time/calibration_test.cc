// Unit tests for TSC calibration: wrap-around resolution of the PIT count, frequency
// estimates and their error bounds, and the refinement schedule against a simulated TSC and
// PIT with sampling jitter — the estimate must converge, stay within its own stated bound at
// every step, and recover when a refinement comes too late.
#include <time/calibration.h>

#include <cmath>
#include <gtest/gtest.h>
#include <random>

namespace {

using clk::kPitCounter;
using clk::RefSample;

TEST(Calibration, RawDeltaOfTheDownCountingPit)
{
    EXPECT_EQ(clk::raw_ref_delta(kPitCounter, 100, 90), 10u);
    EXPECT_EQ(clk::raw_ref_delta(kPitCounter, 5, 65533), 8u); // wrapped through 0
    EXPECT_EQ(clk::raw_ref_delta(kPitCounter, 7, 7), 0u);
    clk::RefCounter up { 3579545, 24, false };
    EXPECT_EQ(clk::raw_ref_delta(up, 0xfffffe, 3), 5u);
}

TEST(Calibration, UnwrapPicksTheOnlyCandidate)
{
    const uint64_t p = 65536;
    EXPECT_EQ(clk::unwrap_ref_ticks(kPitCounter, 100, 3 * p + 150, 1000).value(), 3 * p + 100);
    EXPECT_EQ(clk::unwrap_ref_ticks(kPitCounter, 100, 90, 20).value(), 100u);
    EXPECT_EQ(clk::unwrap_ref_ticks(kPitCounter, 65000, p + 200, 1000).value(), 65000u); // below expected
    // Too vague: two candidates in range.
    EXPECT_EQ(clk::unwrap_ref_ticks(kPitCounter, 100, 3 * p, p).error(), Errno::AGAIN);
    // Contradiction: no candidate in range.
    EXPECT_EQ(clk::unwrap_ref_ticks(kPitCounter, 100, 100 + p / 2, 100).error(), Errno::INVAL);
}

TEST(Calibration, EstimateAndItsBound)
{
    // 2 GHz TSC, 1193182 ticks (one second) apart, tight brackets.
    RefSample a { 1000, 1010, 0 }, b { 1000 + 2'000'000'000, 1010 + 2'000'000'000, 0 };
    auto e = clk::estimate_frequency(kPitCounter, a, b, 1193182);
    ASSERT_FALSE(e.is_error());
    EXPECT_EQ(e.value().hz, 2'000'000'000u);
    EXPECT_LE(e.value().uncertainty_ppb, 1700u); // quantization: 2 ticks in 1.19 M
    EXPECT_EQ(clk::estimate_frequency(kPitCounter, a, b, 0).error(), Errno::INVAL);
    EXPECT_EQ(clk::estimate_frequency(kPitCounter, b, a, 10).error(), Errno::INVAL);
    EXPECT_EQ(clk::estimate_frequency(kPitCounter, a, b, 10).error(), Errno::RANGE); // 239 THz
}

TEST(Calibration, Leaf15)
{
    EXPECT_EQ(clk::tsc_hz_from_leaf_15(2, 200, 24'000'000), 2'400'000'000u);
    EXPECT_EQ(clk::tsc_hz_from_leaf_15(0, 200, 24'000'000), 0u);
    EXPECT_EQ(clk::tsc_hz_from_leaf_15(2, 200, 0), 0u);
}

// A TSC at `hz` and a PIT, both driven by simulated time in ns; every PIT read is bracketed
// by TSC reads up to `jitter_ns` before and after the latch.
struct Machine {
    double hz;
    double jitter_ns;
    double now_ns = 0;
    std::mt19937_64 rng { 11 };

    // Simulated time starts 10 ms before 0, so a bracket around time 0 stays positive.
    uint64_t tsc_at(double ns) const { return uint64_t((ns + 1e7) * hz / 1e9); }
    RefSample sample()
    {
        std::uniform_real_distribution<double> j(0, jitter_ns);
        RefSample s;
        s.tsc_before = tsc_at(now_ns - j(rng));
        uint64_t ticks = uint64_t(now_ns * 1193182.0 / 1e9);
        s.count = uint32_t(-ticks) & 0xffff;
        s.tsc_after = tsc_at(now_ns + j(rng));
        return s;
    }
    double ns_at_tsc(uint64_t tsc) const { return double(tsc) * 1e9 / hz - 1e7; }
};

void expect_within_bound(const clk::FreqEstimate& e, double true_hz)
{
    double err = std::fabs(double(e.hz) - true_hz) / true_hz * 1e9;
    EXPECT_LE(err, double(e.uncertainty_ppb) + 1.5e9 / true_hz) << "hz " << e.hz << " ±" << e.uncertainty_ppb << " ppb";
}

void run_schedule(double true_hz, double jitter_ns)
{
    Machine m { true_hz, jitter_ns };
    m.now_ns = 1000;
    clk::TscCalibrator cal(kPitCounter);
    cal.start(m.sample());
    EXPECT_FALSE(cal.has_estimate());
    EXPECT_EQ(cal.next_refine_tsc(), UINT64_MAX);
    // First use 3 ms later: 32 PIT ticks edge to edge.
    m.now_ns = 3e6;
    RefSample a = m.sample();
    m.now_ns += 32 / 1193182.0 * 1e9;
    RefSample b = m.sample();
    auto coarse = cal.coarse(a, b);
    ASSERT_FALSE(coarse.is_error());
    expect_within_bound(coarse.value(), true_hz);
    // Then refine exactly when asked, for a few simulated minutes.
    int steps = 0;
    while (cal.next_refine_tsc() != UINT64_MAX && steps < 20) {
        uint64_t at = cal.next_refine_tsc();
        m.now_ns = std::max(m.now_ns, m.ns_at_tsc(at)) + 1000;
        auto r = cal.refine(m.sample());
        ASSERT_FALSE(r.is_error()) << "step " << steps << " error " << int(r.error());
        expect_within_bound(r.value(), true_hz);
        ++steps;
    }
    EXPECT_LT(steps, 20);
    EXPECT_LE(cal.estimate().uncertainty_ppb, clk::TscCalibrator::kTargetPpb);
    EXPECT_LT(m.now_ns, 3600e9); // done within the first hour
}

TEST(Calibration, ConvergesFromAShortMeasurement)
{
    run_schedule(2'394'123'457.0, 2000); // TCG-like: µs of jitter around each port read
    run_schedule(1e9, 50);               // icount-like
    run_schedule(150e6, 500);
    run_schedule(9.5e9, 5000);
}

TEST(Calibration, LateRefinementRestartsTheBaseline)
{
    Machine m { 3e9, 2000 };
    clk::TscCalibrator cal(kPitCounter);
    m.now_ns = 0;
    cal.start(m.sample());
    RefSample a = m.sample();
    m.now_ns = 32 / 1193182.0 * 1e9;
    ASSERT_FALSE(cal.coarse(a, m.sample()).is_error());
    // An hour later: far too many wraps for a ~%-level estimate to count.
    m.now_ns = 3600e9;
    auto r = cal.refine(m.sample());
    ASSERT_TRUE(r.is_error());
    EXPECT_EQ(r.error(), Errno::AGAIN);
    // The new anchor is now; refining when asked succeeds again.
    uint64_t at = cal.next_refine_tsc();
    ASSERT_NE(at, UINT64_MAX);
    m.now_ns = m.ns_at_tsc(at) + 1000;
    auto again = cal.refine(m.sample());
    ASSERT_FALSE(again.is_error());
    expect_within_bound(again.value(), 3e9);
}

TEST(Calibration, StalledShortMeasurementIsRejected)
{
    // The vCPU was descheduled for a whole PIT period between the two samples: the raw delta
    // says 32 ticks, the TSC says 55 ms — an implausible frequency, not a wrong one.
    Machine m { 2e9, 100 };
    clk::TscCalibrator cal(kPitCounter);
    cal.start(m.sample());
    m.now_ns = 1e6;
    RefSample a = m.sample();
    m.now_ns += (65536 + 32) / 1193182.0 * 1e9;
    auto e = cal.coarse(a, m.sample());
    ASSERT_TRUE(e.is_error());
    EXPECT_EQ(e.error(), Errno::RANGE);
    EXPECT_FALSE(cal.has_estimate());
    EXPECT_EQ(cal.refine(m.sample()).error(), Errno::INVAL);
}

TEST(Calibration, ContradictingCounterMovesTheAnchor)
{
    // The PIT stops (a broken reference): refinement reports INVAL and keeps the estimate.
    Machine m { 2e9, 100 };
    clk::TscCalibrator cal(kPitCounter);
    cal.start(m.sample());
    RefSample a = m.sample();
    m.now_ns = 32 / 1193182.0 * 1e9;
    ASSERT_FALSE(cal.coarse(a, m.sample()).is_error());
    uint64_t hz = cal.estimate().hz;
    RefSample frozen = m.sample();
    frozen.tsc_before += 2'000'000; // 1 ms later by the TSC, same count
    frozen.tsc_after += 2'000'000;
    auto r = cal.refine(frozen);
    ASSERT_TRUE(r.is_error());
    EXPECT_EQ(r.error(), Errno::INVAL);
    EXPECT_EQ(cal.estimate().hz, hz);
}

} // namespace
