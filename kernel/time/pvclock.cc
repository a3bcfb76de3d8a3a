// pvclock arithmetic and the wall-clock read.
#include <time/pvclock.h>
#include <time/scale.h>

namespace clk {

bool is_kvm_signature(uint32_t ebx, uint32_t ecx, uint32_t edx)
{
    // "KVMK" "VMKV" "M\0\0\0" as little-endian words.
    return ebx == 0x4b4d564b && ecx == 0x564b4d56 && edx == 0x0000004d;
}

uint64_t pvclock_tsc_hz(uint32_t mul, int8_t shift)
{
    if (mul == 0)
        return 0;
    // ns per tick = mul × 2^shift / 2^32, so Hz = 10^9 × 2^32 / mul / 2^shift.
    uint64_t hz = mul_div(1000000000ull << 2, uint64_t(1) << 30, mul); // 10^9 × 2^32 / mul
    if (shift >= 0)
        return shift >= 64 ? 0 : hz >> shift;
    return -shift >= 64 || hz > (UINT64_MAX >> -shift) ? UINT64_MAX : hz << -shift;
}

Result<uint64_t> read_pvclock_wall(const PvclockWallClock* wall)
{
    auto* self = const_cast<PvclockWallClock*>(wall);
    for (int attempt = 0; attempt < kPvclockMaxAttempts; ++attempt) {
        uint32_t v1 = __atomic_load_n(&self->version, __ATOMIC_ACQUIRE); // pairs with the host's barriers
        if (v1 & 1)
            continue;
        uint64_t sec = __atomic_load_n(&self->sec, __ATOMIC_RELAXED);
        uint64_t nsec = __atomic_load_n(&self->nsec, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&self->version, __ATOMIC_RELAXED) == v1)
            return sec * 1000000000ull + nsec;
    }
    return Errno::AGAIN;
}

} // namespace clk
