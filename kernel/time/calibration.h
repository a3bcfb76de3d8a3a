// TSC frequency from calibration samples against a wrapping reference counter (the PIT),
// refined over time without ever waiting: each refinement measures from an old sample to a
// new one, and the current estimate tells how many times the counter wrapped in between.
//
// Why it works: the counter's value says the elapsed reference time modulo its period P
// (65536 PIT ticks = 54.9 ms). The TSC delta and the current estimate (hz ± u) say it lies
// in [expected − unc, expected + unc]. If that interval is narrower than P it holds exactly
// one candidate, so the elapsed time is known exactly (to the sampling jitter), however many
// periods passed. The new estimate's uncertainty is jitter / baseline, so each step can
// afford a baseline ~64× longer than the last: 27 µs → 2 ms → 110 ms → 7 s → ... , each one
// checked for ambiguity. A caller that comes too late just starts a new baseline.
#pragma once

#include <cstdint>
#include <lib/result.h>

namespace clk {

// A free-running reference counter that wraps at 2^bits.
struct RefCounter {
    uint64_t hz;
    uint32_t bits;
    bool counts_down;
};

// 8254 PIT channel 0 in mode 0 with a reload of 0: counts down by one at 1.193182 MHz and
// wraps from 0 to 0xffff [8254 data sheet, mode 0].
inline constexpr RefCounter kPitCounter { 1193182, 16, true };

// The plausible range of a TSC; estimates outside it are measurement failures (a vCPU that
// was descheduled in the middle of a short calibration, an absent or stuck counter).
inline constexpr uint64_t kMinTscHz = 100'000'000;
inline constexpr uint64_t kMaxTscHz = 10'000'000'000;

// One reading of the counter, bracketed by TSC reads: the counter was latched somewhere in
// [tsc_before, tsc_after].
struct RefSample {
    uint64_t tsc_before = 0;
    uint64_t tsc_after = 0;
    uint32_t count = 0;

    uint64_t tsc() const { return tsc_before + (tsc_after - tsc_before) / 2; }
    uint64_t spread() const { return tsc_after - tsc_before; }
};

struct FreqEstimate {
    uint64_t hz = 0;
    uint64_t uncertainty_ppb = 0; // bound on |error| / hz, parts per billion
};

// Ticks from count a to count b modulo the counter's period.
uint64_t raw_ref_delta(const RefCounter& ref, uint32_t a, uint32_t b);

// The elapsed count ≡ raw (mod 2^bits) inside [expected − uncertainty, expected + uncertainty].
// AGAIN if the interval holds more than one candidate (the estimate is too vague for this
// span), INVAL if it holds none (the estimate and the counter disagree).
Result<uint64_t> unwrap_ref_ticks(const RefCounter& ref, uint64_t raw, uint64_t expected, uint64_t uncertainty);

// The TSC frequency from samples a and b, `ref_ticks` reference ticks apart. The uncertainty
// allows one tick of counter quantization at each end plus half of each sample's spread.
// INVAL if b is not after a or ref_ticks is 0; RANGE if the result is outside
// [kMinTscHz, kMaxTscHz].
Result<FreqEstimate> estimate_frequency(const RefCounter& ref, const RefSample& a, const RefSample& b,
                                        uint64_t ref_ticks);

// The refinement state: an anchor sample and the current estimate. Not thread-safe: the
// caller serialises (the kernel lets one CPU at a time in, see core/clock.cc).
class TscCalibrator {
public:
    // Refining stops once the estimate is this good (0.05 ppm: 4 ms a day).
    static constexpr uint64_t kTargetPpb = 50;

    explicit constexpr TscCalibrator(RefCounter ref) : m_ref(ref) {}

    // The first sample; the baseline of the first refinement starts here.
    void start(const RefSample& anchor);

    // A first estimate from a short measurement, a to b less than one counter period apart
    // (no unwrapping). Does not move the anchor. Errors as estimate_frequency; a vCPU stalled
    // for a whole period in between shows up as an implausible frequency (RANGE).
    Result<FreqEstimate> coarse(const RefSample& a, const RefSample& b);

    // A better estimate over the baseline anchor → now. Needs an estimate (coarse first).
    // On success the anchor stays, so the next baseline is longer still; the estimate is
    // replaced only if the new one is tighter. AGAIN: the interval is ambiguous (called too
    // late); INVAL: the counter contradicts the estimate; RANGE: implausible result. On any
    // error the anchor moves to `now` and the estimate is kept.
    Result<FreqEstimate> refine(const RefSample& now);

    bool has_estimate() const { return m_estimate.hz != 0; }
    const FreqEstimate& estimate() const { return m_estimate; }

    // The TSC value from which refine() is worth calling; UINT64_MAX when done (estimate
    // within kTargetPpb) or before there is an estimate.
    uint64_t next_refine_tsc() const;

private:
    // Reference ticks of slack for sampling jitter at both ends of a baseline.
    uint64_t jitter_ticks(const RefSample& a, const RefSample& b) const;
    // The longest baseline the current estimate can unwrap with margin (a quarter period
    // of slack).
    uint64_t max_baseline_ticks() const;
    void restart_at(const RefSample& now);

    RefCounter m_ref;
    RefSample m_anchor {};
    FreqEstimate m_estimate {};
    uint64_t m_next_baseline = 0; // reference ticks from the anchor to the next refinement
};

// TSC frequency from CPUID leaf 0x15 (TSC/crystal ratio EBX/EAX, crystal Hz in ECX)
// [intel-sdm-2a CPUID leaf 15H]; 0 if any of the three is 0 (not enumerated).
uint64_t tsc_hz_from_leaf_15(uint32_t eax, uint32_t ebx, uint32_t ecx);

} // namespace clk
