// TSC calibration: wrap-around resolution, frequency estimates and their refinement.
#include <time/calibration.h>
#include <time/scale.h>

namespace clk {
namespace {

constexpr uint64_t kPpb = 1'000'000'000;

// Each refinement may stretch the baseline this much: the new uncertainty (jitter / baseline)
// times a 64× longer span stays far below the quarter period allowed, with tens of µs of jitter.
constexpr uint64_t kGrowth = 64;

} // namespace

uint64_t raw_ref_delta(const RefCounter& ref, uint32_t a, uint32_t b)
{
    uint64_t mask = ref.bits >= 64 ? UINT64_MAX : (uint64_t(1) << ref.bits) - 1;
    return (ref.counts_down ? uint64_t(a) - b : uint64_t(b) - a) & mask;
}

Result<uint64_t> unwrap_ref_ticks(const RefCounter& ref, uint64_t raw, uint64_t expected, uint64_t uncertainty)
{
    const uint64_t period = uint64_t(1) << ref.bits;
    uint64_t lo = expected > uncertainty ? expected - uncertainty : 0;
    uint64_t hi = expected + uncertainty;
    // The first candidate raw + k·period at or above lo.
    uint64_t c = raw;
    if (c < lo)
        c += ((lo - raw + period - 1) >> ref.bits) << ref.bits;
    if (c > hi)
        return Errno::INVAL;
    if (c + period <= hi)
        return Errno::AGAIN;
    return c;
}

Result<FreqEstimate> estimate_frequency(const RefCounter& ref, const RefSample& a, const RefSample& b,
                                        uint64_t ref_ticks)
{
    if (ref_ticks == 0 || b.tsc() <= a.tsc())
        return Errno::INVAL;
    uint64_t tsc_delta = b.tsc() - a.tsc();
    uint64_t hz = mul_div(tsc_delta, ref.hz, ref_ticks);
    if (hz < kMinTscHz || hz > kMaxTscHz)
        return Errno::RANGE;
    // Error budget in reference ticks: quantization (the count is the floor of the true
    // elapsed count: ≤ 1 tick at each end) plus half of each spread (the latch happened
    // somewhere in the bracket, we used its middle).
    uint64_t spread_ticks = mul_div((a.spread() + b.spread()) / 2 + 1, ref.hz, hz);
    uint64_t slack = 2 + spread_ticks;
    return FreqEstimate { hz, mul_div(slack, kPpb, ref_ticks) };
}

uint64_t TscCalibrator::jitter_ticks(const RefSample& a, const RefSample& b) const
{
    return 2 + mul_div((a.spread() + b.spread()) / 2 + 1, m_ref.hz, m_estimate.hz);
}

uint64_t TscCalibrator::max_baseline_ticks() const
{
    const uint64_t quarter = (uint64_t(1) << m_ref.bits) / 4;
    if (m_estimate.uncertainty_ppb == 0)
        return UINT64_MAX;
    return mul_div(quarter, kPpb, m_estimate.uncertainty_ppb);
}

void TscCalibrator::start(const RefSample& anchor)
{
    m_anchor = anchor;
    m_estimate = {};
    m_next_baseline = 0;
}

void TscCalibrator::restart_at(const RefSample& now)
{
    m_anchor = now;
    uint64_t cap = max_baseline_ticks() / 2;
    if (m_next_baseline == 0 || m_next_baseline > cap)
        m_next_baseline = cap;
}

Result<FreqEstimate> TscCalibrator::coarse(const RefSample& a, const RefSample& b)
{
    uint64_t ticks = raw_ref_delta(m_ref, a.count, b.count);
    FreqEstimate e = TRY(estimate_frequency(m_ref, a, b, ticks));
    m_estimate = e;
    // Try the anchor right away: if it is recent enough, it gives a much longer baseline.
    m_next_baseline = 0;
    return e;
}

Result<FreqEstimate> TscCalibrator::refine(const RefSample& now)
{
    if (!has_estimate())
        return Errno::INVAL;
    if (now.tsc() <= m_anchor.tsc()) {
        restart_at(now);
        return Errno::INVAL;
    }
    uint64_t expected = mul_div(now.tsc() - m_anchor.tsc(), m_ref.hz, m_estimate.hz);
    uint64_t uncertainty = mul_div(expected, m_estimate.uncertainty_ppb, kPpb) + jitter_ticks(m_anchor, now);
    auto ticks = unwrap_ref_ticks(m_ref, raw_ref_delta(m_ref, m_anchor.count, now.count), expected, uncertainty);
    if (ticks.is_error()) {
        restart_at(now);
        return ticks.error();
    }
    auto e = estimate_frequency(m_ref, m_anchor, now, ticks.value());
    if (e.is_error()) {
        restart_at(now);
        return e.error();
    }
    if (e.value().uncertainty_ppb < m_estimate.uncertainty_ppb)
        m_estimate = e.value();
    // Next: a baseline kGrowth× longer, within what the (possibly new) estimate can unwrap.
    uint64_t next = ticks.value() > UINT64_MAX / kGrowth ? UINT64_MAX : ticks.value() * kGrowth;
    uint64_t cap = max_baseline_ticks() / 2;
    m_next_baseline = next < cap ? next : cap;
    return m_estimate;
}

uint64_t TscCalibrator::next_refine_tsc() const
{
    if (!has_estimate() || m_estimate.uncertainty_ppb <= kTargetPpb)
        return UINT64_MAX;
    uint64_t tsc_span = mul_div(m_next_baseline, m_estimate.hz, m_ref.hz);
    uint64_t at = m_anchor.tsc() + tsc_span;
    return at < m_anchor.tsc() ? UINT64_MAX : at;
}

uint64_t tsc_hz_from_leaf_15(uint32_t eax, uint32_t ebx, uint32_t ecx)
{
    if (eax == 0 || ebx == 0 || ecx == 0)
        return 0;
    return mul_div(ecx, ebx, eax);
}

} // namespace clk
