// Unit tests for the pvclock ABI: the scaling against 128-bit reference arithmetic, the
// implied TSC frequency, and the version protocol against hand-made structures — including
// a fake hypervisor that updates the structure in the middle of a read, one that never
// finishes, and a thread that updates it continuously.
#include <time/pvclock.h>

#include <atomic>
#include <cstring>
#include <gtest/gtest.h>
#include <random>
#include <thread>

namespace {

using clk::PvclockVcpuTimeInfo;
using u128 = unsigned __int128;

uint64_t reference_scale(uint64_t delta, uint32_t mul, int shift)
{
    u128 d = delta;
    if (shift < 0)
        d >>= -shift;
    else
        d <<= shift;
    d &= UINT64_MAX; // the ABI shifts a 64-bit delta
    return uint64_t((d * mul) >> 32);
}

// What the host does: make version odd, write, make it even (a seqlock writer).
void host_update(PvclockVcpuTimeInfo& info, uint64_t tsc, uint64_t ns, uint32_t mul, int8_t shift, uint8_t flags)
{
    uint32_t v = __atomic_load_n(&info.version, __ATOMIC_RELAXED);
    __atomic_store_n(&info.version, v + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&info.tsc_timestamp, tsc, __ATOMIC_RELAXED);
    __atomic_store_n(&info.system_time, ns, __ATOMIC_RELAXED);
    __atomic_store_n(&info.tsc_to_system_mul, mul, __ATOMIC_RELAXED);
    __atomic_store_n(&info.tsc_shift, shift, __ATOMIC_RELAXED);
    __atomic_store_n(&info.flags, flags, __ATOMIC_RELAXED);
    __atomic_store_n(&info.version, v + 2, __ATOMIC_RELEASE);
}

TEST(Pvclock, ScaleDeltaMatchesReference)
{
    EXPECT_EQ(clk::pvclock_scale_delta(1000, 0x80000000u, 0), 500u);  // 0.5 ns per tick
    EXPECT_EQ(clk::pvclock_scale_delta(1000, 0x80000000u, 1), 1000u);  // 1 GHz
    EXPECT_EQ(clk::pvclock_scale_delta(1000, 0x80000000u, -1), 250u);
    std::mt19937_64 rng(5);
    for (int i = 0; i < 10000; ++i) {
        uint64_t delta = rng() >> (rng() % 64);
        uint32_t mul = uint32_t(rng());
        int shift = int(rng() % 63) - 31;
        EXPECT_EQ(clk::pvclock_scale_delta(delta, mul, int8_t(shift)), reference_scale(delta, mul, shift));
    }
    // A large delta (hours at a few GHz) with the largest multiplier does not overflow.
    EXPECT_EQ(clk::pvclock_scale_delta(uint64_t(1) << 50, UINT32_MAX, 0), reference_scale(uint64_t(1) << 50, UINT32_MAX, 0));
}

TEST(Pvclock, ImpliedTscFrequency)
{
    EXPECT_EQ(clk::pvclock_tsc_hz(0x80000000u, 1), 1'000'000'000u);
    EXPECT_EQ(clk::pvclock_tsc_hz(0x80000000u, 0), 2'000'000'000u);
    EXPECT_EQ(clk::pvclock_tsc_hz(0, 0), 0u);
    // 2.5 GHz as KVM would encode it: 0.4 ns per tick, shift 0.
    uint32_t mul = uint32_t((u128(4) << 32) / 10);
    uint64_t hz = clk::pvclock_tsc_hz(mul, 0);
    EXPECT_NEAR(double(hz), 2.5e9, 2.0);
    // 500 MHz: 2 ns per tick = 0.5 × 2^2.
    EXPECT_EQ(clk::pvclock_tsc_hz(0x80000000u, 2), 500'000'000u);
}

TEST(Pvclock, NsAtAddsScaledDelta)
{
    clk::PvclockParams p { 1000, 5'000'000'000, 0x80000000u, 1, 0 };
    EXPECT_EQ(p.ns_at(1000), 5'000'000'000u);
    EXPECT_EQ(p.ns_at(1500), 5'000'000'500u);
    EXPECT_EQ(p.ns_at(999), 5'000'000'000u); // before the timestamp: no wrap-around
    // A TSC near 2^64 and a delta that crosses nothing: plain subtraction.
    clk::PvclockParams q { UINT64_MAX - 10, 7, 0x80000000u, 1, 0 };
    EXPECT_EQ(q.ns_at(UINT64_MAX), 17u);
}

TEST(Pvclock, ReadsConsistentStructure)
{
    alignas(64) PvclockVcpuTimeInfo info {};
    host_update(info, 1000, 42, 0x80000000u, 1, clk::kPvclockTscStable);
    int calls = 0;
    auto r = clk::read_pvclock(&info, [&] { ++calls; return uint64_t(3000); });
    ASSERT_FALSE(r.is_error());
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(r.value().tsc, 3000u);
    EXPECT_EQ(r.value().ns(), 42u + 2000u);
    EXPECT_EQ(r.value().params.flags, clk::kPvclockTscStable);
}

TEST(Pvclock, RetriesWhenTheHostUpdatesDuringTheRead)
{
    alignas(64) PvclockVcpuTimeInfo info {};
    host_update(info, 1000, 42, 0x80000000u, 1, 0);
    int calls = 0;
    // The first TSC read happens while the host rewrites everything: the reader must throw
    // away the mixed fields and use the new ones with a fresh TSC.
    auto r = clk::read_pvclock(&info, [&] {
        if (calls++ == 0)
            host_update(info, 2000, 1'000'000, 0x80000000u, 0, clk::kPvclockTscStable);
        return uint64_t(4000);
    });
    ASSERT_FALSE(r.is_error());
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(r.value().params.tsc_timestamp, 2000u);
    EXPECT_EQ(r.value().ns(), 1'000'000u + 1000u);
}

TEST(Pvclock, RetriesWhenVersionIsOddMidRead)
{
    alignas(64) PvclockVcpuTimeInfo info {};
    host_update(info, 1000, 42, 0x80000000u, 1, 0);
    int calls = 0;
    // The host starts an update (odd version) during the first read and never finishes:
    // that attempt fails its re-check, later ones skip the odd version without reading.
    auto r = clk::read_pvclock(&info, [&] {
        ++calls;
        if (calls == 1)
            __atomic_store_n(&info.version, info.version + 1, __ATOMIC_RELEASE); // now odd
        return uint64_t(1000);
    });
    // The version stays odd forever: the bounded reader gives up instead of hanging.
    ASSERT_TRUE(r.is_error());
    EXPECT_EQ(r.error(), Errno::AGAIN);
    EXPECT_EQ(calls, 1);
}

TEST(Pvclock, ConcurrentHostUpdatesNeverTearAReading)
{
    alignas(64) PvclockVcpuTimeInfo info {};
    host_update(info, 0, 0, 0, 0, 0);
    std::atomic<bool> stop { false };
    // Invariant of every consistent state: system_time = 3·tsc_timestamp, mul = 7·tsc_timestamp.
    std::thread host([&] {
        for (uint64_t k = 1; !stop.load(std::memory_order_relaxed); ++k)
            host_update(info, k, 3 * k, uint32_t(7 * k), int8_t(k % 5), uint8_t(k & 1));
    });
    uint64_t last = 0;
    for (int i = 0; i < 200000; ++i) {
        auto r = clk::read_pvclock(&info, [] { return uint64_t(0); });
        if (r.is_error())
            continue; // a reader can lose to a host that never pauses; it must not tear
        const auto& p = r.value().params;
        ASSERT_EQ(p.system_time, 3 * p.tsc_timestamp);
        ASSERT_EQ(p.mul, uint32_t(7 * p.tsc_timestamp));
        ASSERT_EQ(uint64_t(p.shift), p.tsc_timestamp % 5);
        ASSERT_GE(p.tsc_timestamp, last); // versions only move forward
        last = p.tsc_timestamp;
    }
    stop.store(true);
    host.join();
}

TEST(Pvclock, WallClock)
{
    alignas(64) clk::PvclockWallClock wall { 2, 1'700'000'000, 123'456'789 };
    EXPECT_EQ(clk::read_pvclock_wall(&wall).value(), 1'700'000'000ull * 1'000'000'000 + 123'456'789);
    wall.version = 3;
    EXPECT_EQ(clk::read_pvclock_wall(&wall).error(), Errno::AGAIN);
}

TEST(Pvclock, KvmSignature)
{
    uint32_t regs[3];
    std::memcpy(regs, "KVMKVMKVM\0\0\0", 12);
    EXPECT_TRUE(clk::is_kvm_signature(regs[0], regs[1], regs[2]));
    std::memcpy(regs, "TCGTCGTCGTCG", 12);
    EXPECT_FALSE(clk::is_kvm_signature(regs[0], regs[1], regs[2]));
}

} // namespace
