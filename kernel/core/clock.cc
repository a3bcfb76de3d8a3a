// Clock sources: kvmclock (the pvclock structure KVM keeps for the vCPU) or the TSC, scaled
// by a rate that is either reported by CPUID or calibrated lazily against the PIT; the wall
// clock from kvmclock or the CMOS RTC.
//
// TSC path, lock-free publication. Time is a piecewise-linear function of the TSC: an
// append-only array of segments {start_tsc, base_ns, scale}, segment i valid from its
// start_tsc until segment i+1's. A new rate is published as a segment that starts
// kPublishGuard in the *future* (10 ms of TSC), with base_ns = the previous segment's value
// there, so the function stays continuous and increasing. Readers read the TSC, then the
// newest index, then walk back to the segment whose start is at or below their TSC. The
// writer's release store + full fence makes the new index visible before the TSC reaches
// the new start, so a reader whose TSC lies in the new segment cannot miss it, and a reader
// who uses an older segment only does so for TSCs inside it. Segments are never rewritten,
// so no reader sees a torn one, and nobody waits: a CPU that finds a refinement in progress
// carries on with the published segments. (If the writer is stalled for longer than the
// guard between choosing the start and its fence, a reader could for that moment use the
// old rate past the new start — by at most guard-overrun × rate change, i.e. nanoseconds;
// the writer detects and counts it.)
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/layout.h>
#include <core/clock.h>
#include <core/console.h>
#include <lib/assert.h>
#include <time/calibration.h>
#include <time/clock_page.h>
#include <time/pvclock.h>
#include <time/rtc.h>
#include <time/scale.h>

namespace core {
namespace {

constexpr uint64_t kNsPerSec = 1'000'000'000;

// 8254 PIT [8254 data sheet]: channel 0 data port and the mode/command port.
constexpr uint16_t kPitChannel0 = 0x40;
constexpr uint16_t kPitCommand = 0x43;
constexpr uint8_t kPitLatchChannel0 = 0x00;  // counter latch command, channel 0
constexpr uint8_t kPitChannel0Mode0 = 0x30;  // channel 0, low then high byte, mode 0, binary

// CMOS index and data ports.
constexpr uint16_t kCmosIndex = 0x70;
constexpr uint16_t kCmosData = 0x71;

using clk::ClockSource;

// The published state (time/clock_page.h): what monotonic_ns() and the vDSO read.
constinit clk::ClockPage g_page;

// rdtsc is not ordered with earlier loads; the fence before it keeps it from running ahead
// of them, the one after keeps later loads (the segment index) from running ahead of it.
// TODO(#3): an arch::rdtsc_ordered() would be the natural home for this.
uint64_t rdtsc_ordered()
{
    arch::lfence();
    uint64_t tsc = arch::rdtsc();
    arch::lfence();
    return tsc;
}

// ---- kvmclock ----------------------------------------------------------------------------

// The boot CPU's pvclock structure, registered with MSR_KVM_SYSTEM_TIME_NEW. With
// kPvclockTscStable every CPU may read it (all TSCs agree).
// TODO(#3): per-CPU structures for hosts that do not set the stable bit, once CPUs exist.
alignas(64) clk::PvclockVcpuTimeInfo g_pvti;
alignas(64) clk::PvclockWallClock g_pv_wall;
// Without the stable bit, readings from different vCPUs may disagree: the largest value
// returned so far makes the clock monotonic anyway (a lock-free max, not a lock).
uint64_t g_pv_last_ns;

uint64_t image_phys(const void* p) { return reinterpret_cast<uint64_t>(p) - arch::kKernelWindow; }

// Out of line: monotonic_ns() then tail-calls either source without a frame of its own.
[[gnu::noinline]] uint64_t kvmclock_ns()
{
    auto r = clk::read_pvclock(&g_pvti, rdtsc_ordered);
    uint64_t last = __atomic_load_n(&g_pv_last_ns, __ATOMIC_RELAXED);
    if (r.is_error())
        return last; // the hypervisor never finished an update: time stands still for now
    uint64_t ns = r.value().ns();
    if (r.value().params.flags & clk::kPvclockTscStable)
        return ns;
    // Relaxed: the value itself is the only shared state; a CAS failure reloads `last`.
    while (ns > last) {
        if (__atomic_compare_exchange_n(&g_pv_last_ns, &last, ns, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            return ns;
    }
    return last;
}

bool kvmclock_offered(bool& stable)
{
    if (!(arch::cpuid(1).ecx & (1u << 31))) // hypervisor present [intel-sdm-2a CPUID.1:ECX.31]
        return false;
    auto sig = arch::cpuid(clk::kKvmCpuidSignature);
    if (!clk::is_kvm_signature(sig.ebx, sig.ecx, sig.edx))
        return false;
    // KVM reports 0 here on old hosts, meaning 0x40000001.
    if (sig.eax != 0 && sig.eax < clk::kKvmCpuidFeatures)
        return false;
    uint32_t features = arch::cpuid(clk::kKvmCpuidFeatures).eax;
    stable = features & clk::kKvmFeatureClocksourceStable;
    return features & clk::kKvmFeatureClocksource2;
}

// ---- TSC ---------------------------------------------------------------------------------

using Segment = clk::TscSegment;
constexpr int kMaxSegments = clk::kMaxTscSegments;
// The segments, the newest index and the refinement TSC live in g_page.
int g_segment_count = 0;        // writer-only (under g_refining)
bool g_refining = false;        // one writer at a time; losers skip, never wait
uint64_t g_guard_overruns = 0;

uint64_t g_init_tsc = 0;         // monotonic zero on the TSC path
uint64_t g_cpuid_hz = 0;         // TSC frequency reported by CPUID, 0 if none
bool g_invariant_tsc = false;
constinit clk::TscCalibrator g_calibrator { clk::kPitCounter };

uint16_t read_pit()
{
    arch::outb(kPitCommand, kPitLatchChannel0);
    uint8_t lo = arch::inb(kPitChannel0);
    uint8_t hi = arch::inb(kPitChannel0);
    return uint16_t(lo | (hi << 8));
}

clk::RefSample pit_sample()
{
    clk::RefSample s;
    s.tsc_before = rdtsc_ordered();
    s.count = read_pit();
    s.tsc_after = rdtsc_ordered();
    return s;
}

// Mode 0 with a reload of 0 (65536): the counter runs down and wraps forever; OUT (IRQ 0)
// rises once, at the first terminal count, and then stays high, so no periodic interrupt
// is left behind. This file owns PIT channel 0.
void program_pit()
{
    arch::outb(kPitCommand, kPitChannel0Mode0);
    arch::outb(kPitChannel0, 0);
    arch::outb(kPitChannel0, 0);
}

// Appends a segment with rate `hz` starting at `start_tsc` (the first one) or, for later
// ones, kPublishGuard in the future. Called with g_refining held, or before anyone reads.
bool publish(uint64_t hz, bool first)
{
    if (g_segment_count == kMaxSegments)
        return false;
    auto scale = clk::make_scale(hz, kNsPerSec);
    NIMBUS_ASSERT(!scale.is_error()); // hz is within [kMinTscHz, kMaxTscHz]
    Segment& next = g_page.segments[g_segment_count];
    if (first) {
        next = { g_init_tsc, 0, scale.value(), hz };
    } else {
        const Segment& prev = g_page.segments[g_segment_count - 1];
        uint64_t start = rdtsc_ordered() + prev.hz / 100; // kPublishGuard: 10 ms
        next = { start, prev.ns_at(start), scale.value(), hz };
    }
    // Release: the segment's fields are visible before its index. Pairs with the acquire
    // load in tsc_ns().
    __atomic_store_n(&g_page.newest, g_segment_count, __ATOMIC_RELEASE);
    ++g_segment_count;
    // Full fence: the index is globally visible before we check the guard (see the header).
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!first && rdtsc_ordered() >= next.start_tsc)
        ++g_guard_overruns;
    return true;
}

void schedule_refine()
{
    uint64_t at = g_segment_count < kMaxSegments ? g_calibrator.next_refine_tsc() : UINT64_MAX;
    __atomic_store_n(&g_page.refine_at, at, __ATOMIC_RELAXED);
}

// The short measurement: from one PIT edge to the edge 32 ticks later, so quantization
// mostly cancels. Bounded by TSC ticks (the TSC runs at ≤ 10 GHz, so 5·10^6 ticks are at
// least 0.5 ms, hundreds of PIT ticks): an absent PIT reads a constant 0xffff. The bound is
// checked only after a sample taken past it, and a miss is tried again: a vCPU descheduled by
// a busy host (TCG) can lose milliseconds at any point, and that must not look like a missing
// PIT — which would leave the clock guessing 1 GHz.
//
// An estimate from 32 ticks has an error bound of at least ±6 % (a tick of quantization at
// each end; the error itself is usually 1–5 %). One whose samples took long to read (the
// port access waited for a busy host's QEMU lock) is worse — ±38 % was seen on a loaded CI
// host, and the clock ran at 0.65× until refined. Such an attempt is measured again; if
// every attempt is that noisy the best one stands.
constexpr uint32_t kQuickTicks = 32;
constexpr uint64_t kQuickBoundTsc = 5'000'000;
constexpr int kQuickAttempts = 5;
constexpr uint64_t kQuickGoodPpb = 150'000'000; // ±15 %

Result<clk::FreqEstimate> quick_calibration()
{
    Errno last = Errno::NODEV;
    clk::RefSample best_a, best_b;
    uint64_t best_ppb = UINT64_MAX; // UINT64_MAX: no estimate yet
    for (int attempt = 0; attempt < kQuickAttempts; ++attempt) {
        clk::RefSample first = pit_sample(), a;
        bool edge;
        do {
            a = pit_sample();
            edge = a.count != first.count;
        } while (!edge && a.tsc_after - first.tsc_before < kQuickBoundTsc);
        if (!edge)
            continue; // no PIT, or a stall right after the first sample
        clk::RefSample b = a;
        bool stalled = false;
        while (clk::raw_ref_delta(clk::kPitCounter, a.count, b.count) < kQuickTicks) {
            if (b.tsc_after - a.tsc_before > 64 * kQuickBoundTsc) {
                stalled = true;
                break;
            }
            b = pit_sample();
        }
        if (stalled)
            continue;
        auto e = g_calibrator.coarse(a, b);
        if (e.is_error()) {
            last = e.error(); // RANGE: a stall in the middle (a descheduled vCPU); measure again
            continue;
        }
        if (e.value().uncertainty_ppb <= kQuickGoodPpb)
            return e;
        if (e.value().uncertainty_ppb < best_ppb) {
            best_ppb = e.value().uncertainty_ppb;
            best_a = a;
            best_b = b;
        }
    }
    if (best_ppb != UINT64_MAX)
        return g_calibrator.coarse(best_a, best_b); // the calibrator keeps the last estimate
    return last;
}

// First use on the TSC path without a CPUID frequency: measure, then try the anchor taken
// at init_clock() for a long baseline right away.
void calibrate_first_use()
{
    bool busy = __atomic_exchange_n(&g_refining, true, __ATOMIC_ACQUIRE);
    // A second CPU or an interrupt handler got here while the first call was measuring:
    // the first call must come from the boot CPU before anything else reads the clock.
    NIMBUS_ASSERT(!busy);
    if (__atomic_load_n(&g_page.newest, __ATOMIC_ACQUIRE) < 0) {
        auto e = quick_calibration();
        if (e.is_error()) {
            log_warn("clock: cannot calibrate the TSC against the PIT (%s); assuming 1 GHz",
                     lib::errno_name(e.error()));
            publish(1'000'000'000, true);
        } else {
            publish(e.value().hz, true);
            auto r = g_calibrator.refine(pit_sample());
            if (!r.is_error() && r.value().hz != e.value().hz)
                publish(r.value().hz, false);
            log_info("clock: TSC calibrated against the PIT: %lu kHz (±%lu ppm)", g_calibrator.estimate().hz / 1000,
                     (g_calibrator.estimate().uncertainty_ppb + 999) / 1000);
            schedule_refine();
        }
    }
    __atomic_store_n(&g_refining, false, __ATOMIC_RELEASE); // pairs with the exchange above
}

void refine()
{
    if (__atomic_exchange_n(&g_refining, true, __ATOMIC_ACQUIRE))
        return; // someone else is refining; their result will do
    // Interrupts off: keep the window between choosing a segment's start and publishing it
    // short (the guard covers the rest).
    bool irqs = arch::read_rflags() & (1u << 9);
    arch::irq_disable();
    if (rdtsc_ordered() >= __atomic_load_n(&g_page.refine_at, __ATOMIC_RELAXED)) {
        uint64_t old_hz = g_calibrator.estimate().hz;
        auto r = g_calibrator.refine(pit_sample());
        if (!r.is_error() && r.value().hz != old_hz)
            publish(r.value().hz, false);
        if (!r.is_error())
            log_debug("clock: TSC refined to %lu Hz (±%lu ppb; publication guard overruns: %lu)", r.value().hz,
                      r.value().uncertainty_ppb, g_guard_overruns);
        schedule_refine();
    }
    if (irqs)
        arch::irq_enable();
    __atomic_store_n(&g_refining, false, __ATOMIC_RELEASE); // pairs with the exchange above
}

// tsc_ns()'s rare cases, out of line so that the common path is a leaf without a stack
// frame (it runs several times per context switch): the first use (calibration) and a due
// refinement. `i` is the newest index the caller loaded.
[[gnu::noinline, gnu::cold]] uint64_t tsc_ns_slow(uint64_t tsc, int i)
{
    if (i < 0) {
        NIMBUS_ASSERT(g_page.source == ClockSource::Tsc); // init_clock() ran
        calibrate_first_use();
        tsc = rdtsc_ordered();
        i = __atomic_load_n(&g_page.newest, __ATOMIC_ACQUIRE);
    }
    while (i > 0 && tsc < g_page.segments[i].start_tsc)
        --i;
    uint64_t ns = g_page.segments[i].ns_at(tsc);
    if (tsc >= __atomic_load_n(&g_page.refine_at, __ATOMIC_RELAXED))
        refine();
    return ns;
}

uint64_t tsc_ns()
{
    uint64_t tsc = rdtsc_ordered();
    uint64_t ns;
    if (__builtin_expect(tsc >= __atomic_load_n(&g_page.refine_at, __ATOMIC_RELAXED) ||
                             !clk::tsc_segments_ns(g_page, tsc, ns),
                         0))
        return tsc_ns_slow(tsc, __atomic_load_n(&g_page.newest, __ATOMIC_ACQUIRE));
    return ns;
}

uint64_t cpuid_tsc_hz()
{
    // The hypervisor timing leaf (KVM, VMware convention): EAX = TSC kHz.
    if (arch::cpuid(1).ecx & (1u << 31)) {
        if (arch::cpuid(0x40000000).eax >= 0x40000010) {
            if (uint32_t khz = arch::cpuid(0x40000010).eax)
                return uint64_t(khz) * 1000;
        }
    }
    if (arch::cpuid(0).eax >= 0x15) {
        auto r = arch::cpuid(0x15);
        return clk::tsc_hz_from_leaf_15(r.eax, r.ebx, r.ecx);
    }
    return 0;
}

// ---- wall clock --------------------------------------------------------------------------

const char* g_wall_source = "none";

uint8_t cmos_read(uint8_t index)
{
    arch::outb(kCmosIndex, index); // bit 7 clear: NMIs stay enabled
    return arch::inb(kCmosData);
}

bool rtc_update_in_progress() { return cmos_read(clk::kRtcStatusA) & clk::kRtcStatusAUpdateInProgress; }

clk::RtcRegisters rtc_read_registers()
{
    clk::RtcRegisters r;
    r.seconds = cmos_read(clk::kRtcSeconds);
    r.minutes = cmos_read(clk::kRtcMinutes);
    r.hours = cmos_read(clk::kRtcHours);
    r.day = cmos_read(clk::kRtcDayOfMonth);
    r.month = cmos_read(clk::kRtcMonth);
    r.year = cmos_read(clk::kRtcYear);
    r.century = cmos_read(clk::kRtcCentury);
    r.status_b = cmos_read(clk::kRtcStatusB);
    return r;
}

// Waits (boundedly) for no update in progress, then reads until two readings agree, so no
// update ran in the middle. The update-in-progress flag is up for at most ~2 ms a second;
// 100000 status reads cover that many times over. Nothing else touches the CMOS yet.
Result<int64_t> read_rtc()
{
    for (int attempt = 0; attempt < 8; ++attempt) {
        int polls = 0;
        while (rtc_update_in_progress()) {
            if (++polls == 100000)
                return Errno::TIMEDOUT;
        }
        clk::RtcRegisters a = rtc_read_registers();
        if (rtc_update_in_progress())
            continue;
        clk::RtcRegisters b = rtc_read_registers();
        if (!(a == b))
            continue;
        auto seconds = clk::rtc_to_unix_seconds(a);
        if (seconds.is_error() && a.century != 0) {
            // Not every RTC has a century register at 0x32; try without.
            a.century = 0;
            seconds = clk::rtc_to_unix_seconds(a);
        }
        return seconds;
    }
    return Errno::AGAIN;
}

} // namespace

void init_clock()
{
    bool stable = false;
    if (kvmclock_offered(stable)) {
        // Bit 0 enables the updates [KVM msr.rst MSR_KVM_SYSTEM_TIME_NEW].
        arch::wrmsr(clk::kMsrKvmSystemTimeNew, image_phys(&g_pvti) | 1);
        arch::wrmsr(clk::kMsrKvmWallClockNew, image_phys(&g_pv_wall));
        auto wall = clk::read_pvclock_wall(&g_pv_wall);
        auto now = clk::read_pvclock(&g_pvti, rdtsc_ordered);
        if (!wall.is_error() && !now.is_error() && now.value().params.mul != 0) {
            g_page.source = ClockSource::Kvmclock;
            g_page.pvti = &g_pvti;
            g_page.wall_offset_ns = wall.value();
            g_wall_source = "kvmclock";
            log_info("clock: kvmclock (TSC %s), TSC %lu kHz, wall clock from the hypervisor",
                     (now.value().params.flags & clk::kPvclockTscStable) ? "stable" : "not stable",
                     clk::pvclock_tsc_hz(now.value().params.mul, now.value().params.shift) / 1000);
            return;
        }
        arch::wrmsr(clk::kMsrKvmSystemTimeNew, 0); // unusable: stop the updates
        log_warn("clock: kvmclock offered but unusable; using the TSC");
    }

    g_page.source = ClockSource::Tsc;
    if (arch::cpuid(0x80000000).eax >= 0x80000007)
        g_invariant_tsc = arch::cpuid(0x80000007).edx & (1u << 8); // [intel-sdm-2a CPUID 80000007H]
    g_cpuid_hz = cpuid_tsc_hz();

    auto rtc = read_rtc();
    // Monotonic zero is here, right after the RTC read: realtime = RTC + monotonic.
    g_init_tsc = rdtsc_ordered();
    if (!rtc.is_error() && rtc.value() >= 0) {
        g_page.wall_offset_ns = uint64_t(rtc.value()) * kNsPerSec;
        g_wall_source = "CMOS RTC";
    } else {
        log_warn("clock: no usable CMOS RTC (%s); wall clock starts at the epoch",
                 rtc.is_error() ? lib::errno_name(rtc.error()) : "before 1970");
    }

    if (g_cpuid_hz >= clk::kMinTscHz && g_cpuid_hz <= clk::kMaxTscHz) {
        publish(g_cpuid_hz, true);
        log_info("clock: tsc (%sinvariant), %lu kHz from CPUID, wall clock from the %s", g_invariant_tsc ? "" : "not ",
                 g_cpuid_hz / 1000, g_wall_source);
        return;
    }
    // Lazy calibration: the anchor sample now, the measurement at first use.
    program_pit();
    g_calibrator.start(pit_sample());
    log_info("clock: tsc (%sinvariant), calibrated against the PIT on first use, wall clock from the %s",
             g_invariant_tsc ? "" : "not ", g_wall_source);
}

uint64_t monotonic_ns()
{
    return g_page.source == ClockSource::Kvmclock ? kvmclock_ns() : tsc_ns();
}

uint64_t realtime_ns() { return g_page.wall_offset_ns + monotonic_ns(); }

const clk::ClockPage& clock_page() { return g_page; }

uint64_t tsc_frequency_hz()
{
    if (g_page.source == ClockSource::Kvmclock) {
        auto r = clk::read_pvclock(&g_pvti, rdtsc_ordered);
        return r.is_error() ? 0 : clk::pvclock_tsc_hz(r.value().params.mul, r.value().params.shift);
    }
    if (__atomic_load_n(&g_page.newest, __ATOMIC_ACQUIRE) < 0)
        (void)tsc_ns(); // first use calibrates
    return g_page.segments[__atomic_load_n(&g_page.newest, __ATOMIC_ACQUIRE)].hz;
}

const char* clock_source_name()
{
    switch (g_page.source) {
    case ClockSource::Kvmclock:
        return "kvmclock";
    case ClockSource::Tsc:
        return "tsc";
    case ClockSource::None:
        break;
    }
    return "none";
}

} // namespace core
