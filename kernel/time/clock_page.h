// The clock's published state: one page that the kernel's clock (core/clock.cc) writes and
// that every reader — core::monotonic_ns() in the kernel, and applications through the vDSO
// (kernel/vdso), without entering the kernel — reads lock-free with read_published_ns().
//
// Monotonic time comes from one of two sources, chosen once at boot:
//  - kvmclock: the hypervisor's pvclock structure (`pvti`), read with its version protocol.
//    Only when the hypervisor says all TSCs agree (the stable bit) may any CPU use it without
//    coordination; otherwise readers must agree on a running maximum, which is the kernel's
//    business (the slow path).
//  - the TSC: a piecewise-linear function of the TSC, an append-only array of segments
//    {start_tsc, base_ns, scale}. core/clock.cc's header comment argues why a reader that reads
//    the TSC, then the newest index (acquire), then walks back to the segment containing its
//    TSC, always gets a consistent, never-decreasing time. Refining the rate (a PIT sample, port
//    I/O) is the kernel's job: its own readers past `refine_at` take a slow path that does it.
//
// The fast path is header-only and needs nothing but this page and an ordered TSC read, so
// the vDSO, built as a separate position-independent object, compiles the same code.
#pragma once

#include <cstdint>
#include <time/pvclock.h>
#include <time/scale.h>

namespace clk {

struct TscSegment {
    uint64_t start_tsc;
    uint64_t base_ns;
    Scale scale;
    uint64_t hz;

    uint64_t ns_at(uint64_t tsc) const { return base_ns + scale.apply(tsc > start_tsc ? tsc - start_tsc : 0); }
};

enum class ClockSource : uint32_t { None = 0, Kvmclock = 1, Tsc = 2 };

inline constexpr int kMaxTscSegments = 16;
inline constexpr uint64_t kClockPageSize = 4096;

struct alignas(kClockPageSize) ClockPage {
    ClockSource source = ClockSource::None; // set once at boot, before any reader
    // The newest published TSC segment, -1 before the first. Release-stored by the writer
    // after the segment's fields; acquire-loaded by readers.
    int32_t newest = -1;
    // From this TSC on a reader should refine the rate: the slow path (relaxed).
    uint64_t refine_at = UINT64_MAX;
    // Realtime − monotonic, in ns; set at boot (there is no settimeofday).
    uint64_t wall_offset_ns = 0;
    // kvmclock's per-VM structure (a kernel address, readable from ring 0 by any code).
    const PvclockVcpuTimeInfo* pvti = nullptr;
    TscSegment segments[kMaxTscSegments] = {};
};
static_assert(sizeof(ClockPage) == kClockPageSize);

// How many pvclock version retries a fast-path reader makes before leaving it to the kernel.
inline constexpr int kFastPvclockAttempts = 16;

// Nanoseconds at `tsc` (an ordered TSC read made before this call) from the published TSC
// segments; false before the first calibration.
inline bool tsc_segments_ns(const ClockPage& page, uint64_t tsc, uint64_t& ns)
{
    int i = __atomic_load_n(&page.newest, __ATOMIC_ACQUIRE); // pairs with the writer's release
    if (__builtin_expect(i < 0, 0))
        return false;
    while (i > 0 && tsc < page.segments[i].start_tsc)
        --i;
    ns = page.segments[i].ns_at(tsc);
    return true;
}

// kvmclock's part of read_published_ns, out of line: the TSC path then needs no callee-saved
// registers, which matters in the vDSO, where a handful of instructions is the whole cost.
template<typename ReadTsc>
[[gnu::noinline]] bool read_published_kvmclock_ns(const ClockPage& page, ReadTsc&& read_tsc, uint64_t& ns)
{
    for (int attempt = 0; attempt < kFastPvclockAttempts; ++attempt) {
        PvclockReading r;
        if (!read_pvclock_once(page.pvti, read_tsc, r))
            continue;
        if (!(r.params.flags & kPvclockTscStable))
            return false;
        ns = r.ns();
        return true;
    }
    return false;
}

// Monotonic nanoseconds from the published state into `ns`, or false when only the kernel
// can answer: no source yet, the TSC source before its first calibration, kvmclock without
// the stable bit or in a long update. A due rate refinement is not this reader's business:
// the current segment stays valid until the kernel, which reads its clock all the time,
// publishes the next. `read_tsc` returns an ordered TSC read (fenced on both sides).
// Wait-free apart from the pvclock retries.
template<typename ReadTsc>
inline bool read_published_ns(const ClockPage& page, ReadTsc&& read_tsc, uint64_t& ns)
{
    if (page.source == ClockSource::Tsc)
        return tsc_segments_ns(page, read_tsc(), ns);
    if (page.source == ClockSource::Kvmclock)
        return read_published_kvmclock_ns(page, read_tsc, ns);
    return false;
}

} // namespace clk
