// The KVM/Xen paravirtual clock ABI (pvclock): the per-vCPU time structure the hypervisor
// keeps up to date, its wall-clock companion, the scaling of a TSC delta to nanoseconds and
// the lock-free version protocol for reading both consistently.
//
// Protocol [Linux arch/x86/include/asm/pvclock-abi.h; KVM Documentation/virt/kvm/x86/msr.rst,
// MSR_KVM_SYSTEM_TIME_NEW]: the hypervisor makes `version` odd before it writes the other
// fields and even again afterwards. A reader reads version, the fields and the TSC, then
// version again; the reading is consistent if both versions are equal and even. The
// hypervisor updates a vCPU's structure while that vCPU is outside guest mode, so a reader on
// its own vCPU almost never retries; readers on other vCPUs may see an update in progress.
#pragma once

#include <cstddef>
#include <cstdint>
#include <lib/result.h>

namespace clk {

// pvclock_vcpu_time_info: 32 bytes, one per vCPU, registered through
// MSR_KVM_SYSTEM_TIME_NEW (its guest-physical address | 1).
//   ns = system_time + scale(tsc − tsc_timestamp), where scale shifts the delta left by
//   tsc_shift (right if negative) and multiplies by tsc_to_system_mul / 2^32.
struct PvclockVcpuTimeInfo {
    uint32_t version;
    uint32_t pad0;
    uint64_t tsc_timestamp; // TSC at the last update
    uint64_t system_time;   // ns since the VM's clock zero at tsc_timestamp
    uint32_t tsc_to_system_mul; // 32.32 fixed point ns per (shifted) tick
    int8_t tsc_shift;
    uint8_t flags;
    uint8_t pad[2];
};
static_assert(sizeof(PvclockVcpuTimeInfo) == 32);
static_assert(offsetof(PvclockVcpuTimeInfo, tsc_timestamp) == 8);
static_assert(offsetof(PvclockVcpuTimeInfo, system_time) == 16);
static_assert(offsetof(PvclockVcpuTimeInfo, tsc_to_system_mul) == 24);
static_assert(offsetof(PvclockVcpuTimeInfo, tsc_shift) == 28);
static_assert(offsetof(PvclockVcpuTimeInfo, flags) == 29);

// pvclock_wall_clock: 12 bytes, registered through MSR_KVM_WALL_CLOCK_NEW. The wall-clock
// time at which system_time was zero, so wall time = (sec, nsec) + system_time.
struct PvclockWallClock {
    uint32_t version;
    uint32_t sec;
    uint32_t nsec;
};
static_assert(sizeof(PvclockWallClock) == 12);

// `flags` bits.
inline constexpr uint8_t kPvclockTscStable = 1u << 0;   // the TSCs of all vCPUs agree
inline constexpr uint8_t kPvclockGuestStopped = 1u << 1; // the host paused the VM

// KVM's interface: CPUID signature leaf, feature bits (leaf 0x40000001 EAX) and MSRs.
inline constexpr uint32_t kKvmCpuidSignature = 0x40000000;
inline constexpr uint32_t kKvmCpuidFeatures = 0x40000001;
inline constexpr uint32_t kKvmFeatureClocksource2 = 1u << 3;
inline constexpr uint32_t kKvmFeatureClocksourceStable = 1u << 24;
inline constexpr uint32_t kMsrKvmWallClockNew = 0x4b564d00;
inline constexpr uint32_t kMsrKvmSystemTimeNew = 0x4b564d01;

// "KVMKVMKVM\0\0\0" in EBX, ECX, EDX of the signature leaf.
bool is_kvm_signature(uint32_t ebx, uint32_t ecx, uint32_t edx);

// The TSC delta scaled as the structure says, with a 64×32→96-bit product (never overflows).
// Inline: the vDSO uses it too (kernel/vdso).
inline uint64_t pvclock_scale_delta(uint64_t delta, uint32_t mul, int8_t shift)
{
    if (shift < 0)
        delta = shift <= -64 ? 0 : delta >> -shift;
    else
        delta = shift >= 64 ? 0 : delta << shift; // the hypervisor keeps shift in [-31, 31]
    return uint64_t((static_cast<unsigned __int128>(delta) * mul) >> 32);
}

// The TSC frequency the structure implies: 2^32 × 10^9 / (mul × 2^shift) Hz, or 0 if mul is 0.
uint64_t pvclock_tsc_hz(uint32_t mul, int8_t shift);

// One consistent copy of the time fields.
struct PvclockParams {
    uint64_t tsc_timestamp = 0;
    uint64_t system_time = 0;
    uint32_t mul = 0;
    int8_t shift = 0;
    uint8_t flags = 0;

    // ns at `tsc`. A TSC before tsc_timestamp (another CPU's slightly older reading) counts
    // as zero delta rather than wrapping around.
    uint64_t ns_at(uint64_t tsc) const
    {
        return system_time + (tsc > tsc_timestamp ? pvclock_scale_delta(tsc - tsc_timestamp, mul, shift) : 0);
    }
};

struct PvclockReading {
    PvclockParams params;
    uint64_t tsc = 0; // read between the two version reads
    uint64_t ns() const { return params.ns_at(tsc); }
};

// Bound on attempts before read_pvclock gives up (the hypervisor never finished an update).
inline constexpr int kPvclockMaxAttempts = 1 << 20;

// One attempt of the version protocol: false if an update was in progress or happened
// meanwhile. `read_tsc` is called once, between the two version reads, so the TSC pairs with
// the fields. The fields are read with atomic loads (the hypervisor writes them
// concurrently); every field is naturally aligned (the static_asserts above pin the layout),
// so atomic loads on them are well formed.
template<typename ReadTsc>
inline bool read_pvclock_once(const PvclockVcpuTimeInfo* info, ReadTsc&& read_tsc, PvclockReading& r)
{
    auto* self = const_cast<PvclockVcpuTimeInfo*>(info);
    // Acquire: the field loads below cannot move above this load. Pairs with the
    // hypervisor's write barrier after making the version odd.
    uint32_t v1 = __atomic_load_n(&self->version, __ATOMIC_ACQUIRE);
    if (v1 & 1)
        return false; // update in progress
    r.params.tsc_timestamp = __atomic_load_n(&self->tsc_timestamp, __ATOMIC_RELAXED);
    r.params.system_time = __atomic_load_n(&self->system_time, __ATOMIC_RELAXED);
    r.params.mul = __atomic_load_n(&self->tsc_to_system_mul, __ATOMIC_RELAXED);
    r.params.shift = __atomic_load_n(&self->tsc_shift, __ATOMIC_RELAXED);
    r.params.flags = __atomic_load_n(&self->flags, __ATOMIC_RELAXED);
    r.tsc = read_tsc();
    // Acquire fence: the field loads above complete before the second version load.
    // Pairs with the hypervisor's write barrier before it makes the version even again.
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return __atomic_load_n(&self->version, __ATOMIC_RELAXED) == v1;
}

// Reads `info` with the version protocol, retrying while an update is in progress. Never
// blocks on anything but the hypervisor; AGAIN if the version stayed odd or kept changing for
// kPvclockMaxAttempts tries.
template<typename ReadTsc>
Result<PvclockReading> read_pvclock(const PvclockVcpuTimeInfo* info, ReadTsc&& read_tsc)
{
    for (int attempt = 0; attempt < kPvclockMaxAttempts; ++attempt) {
        PvclockReading r;
        if (read_pvclock_once(info, read_tsc, r))
            return r;
    }
    return Errno::AGAIN;
}

// Reads the wall clock (ns since the Unix epoch at system_time 0) with the same protocol.
// AGAIN as above.
Result<uint64_t> read_pvclock_wall(const PvclockWallClock* wall);

} // namespace clk
