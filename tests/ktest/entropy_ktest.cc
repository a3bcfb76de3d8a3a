// In-kernel tests of the entropy pool and generators (core/entropy.h): outputs differ, several
// CPUs draw at once, add_entropy changes the stream, the output looks uniform, and a small
// request is cheap. The statistical bounds sit many standard deviations out: a correct
// generator fails them with probability below 1e-7.
#include <core/clock.h>
#include <core/console.h>
#include <core/cpu.h>
#include <core/entropy.h>
#include <core/ktest.h>
#include <core/thread.h>
#include <lib/string.h>

using core::Thread;

namespace {

bool same(const void* a, const void* b, size_t n) { return lib::mem_compare(a, b, n) == 0; }

KTEST(entropy, two_fills_differ)
{
    uint8_t a[32], b[32], c[4096], d[4096];
    core::fill_random(a, sizeof(a));
    core::fill_random(b, sizeof(b));
    KT_EXPECT(!same(a, b, sizeof(a)));
    // The long-request path (a one-request key) as well.
    core::fill_random(c, sizeof(c));
    core::fill_random(d, sizeof(d));
    KT_EXPECT(!same(c, d, sizeof(c)));
    KT_EXPECT(!same(c, c + 2048, 2048));
    // Zero bytes is a no-op; odd sizes are filled exactly.
    uint8_t e[7] = { 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA };
    core::fill_random(e, 0);
    KT_EXPECT_EQ(e[0], 0xAA);
    core::fill_random(e, 5);
    KT_EXPECT_EQ(e[5], 0xAA);
    KT_EXPECT_EQ(e[6], 0xAA);
}

KTEST(entropy, boot_seeded_the_pool)
{
    // init_entropy ran (at boot, or at the first fill above); a second call is harmless.
    core::init_entropy();
    uint8_t a[16];
    core::fill_random(a, sizeof(a));
    // Whether 256 strong bits were credited depends on the CPU model (TCG's has neither
    // RDSEED nor RDRAND unless asked); report it rather than require it.
    log_info("entropy ktest: seeded from strong sources: %s", core::entropy_seeded() ? "yes" : "no");
}

KTEST(entropy, fill_with_preemption_disabled)
{
    // Allowed (the pool is then out of reach, the CPU's generator serves alone).
    uint8_t a[48], b[48];
    {
        core::PreemptGuard guard;
        core::fill_random(a, sizeof(a));
        core::fill_random(b, sizeof(b));
    }
    KT_EXPECT(!same(a, b, sizeof(a)));
}

// Each thread draws kDraws 16-byte values; all of them, across CPUs, must be distinct.
constexpr unsigned kThreads = 4;
constexpr unsigned kDraws = 2000;
uint64_t g_draws[kThreads][kDraws][2];

KTEST(entropy, four_cpus_at_once)
{
    static std::atomic<unsigned> started;
    started = 0;
    auto body = [](void* arg) {
        unsigned index = unsigned(uintptr_t(arg));
        started.fetch_add(1, std::memory_order_relaxed);
        // Start together as far as a bounded wait allows, so the CPUs overlap.
        uint64_t end = core::monotonic_ns() + 100'000'000;
        while (started.load(std::memory_order_relaxed) < kThreads && core::monotonic_ns() < end)
            core::yield();
        for (unsigned i = 0; i < kDraws; ++i) {
            core::fill_random(g_draws[index][i], 16);
            if (i % 256 == 0)
                core::yield();
        }
    };
    Thread* threads[kThreads];
    unsigned cpus = core::cpu_count();
    for (unsigned i = 0; i < kThreads; ++i) {
        core::ThreadAttr attr;
        attr.cpu = int(i % cpus);
        auto t = Thread::create("entropy", body, reinterpret_cast<void*>(uintptr_t(i)), attr);
        KT_ASSERT(!t.is_error());
        threads[i] = t.value();
    }
    for (unsigned i = 0; i < kThreads; ++i)
        Thread::join(threads[i]);

    // Open-addressing set of all draws (first 8 bytes as the hash, all 16 compared).
    constexpr size_t kSlots = 16384;
    static const uint64_t* slots[kSlots];
    for (auto& s : slots)
        s = nullptr;
    unsigned duplicates = 0, zeros = 0;
    for (unsigned t = 0; t < kThreads; ++t) {
        for (unsigned i = 0; i < kDraws; ++i) {
            const uint64_t* v = g_draws[t][i];
            if (v[0] == 0 && v[1] == 0)
                ++zeros;
            size_t h = v[0] % kSlots;
            while (slots[h] && !(slots[h][0] == v[0] && slots[h][1] == v[1]))
                h = (h + 1) % kSlots;
            if (slots[h])
                ++duplicates;
            else
                slots[h] = v;
        }
    }
    KT_EXPECT_EQ(duplicates, 0);
    KT_EXPECT_EQ(zeros, 0);
}

KTEST(entropy, add_entropy_changes_the_stream)
{
    // Two private pools fed the same bytes give the same keys; one more absorption in one
    // of them (even credited 0 bits) makes them differ from then on.
    static core::EntropyPool a, b;
    const char seed[] = "the same seed bytes for both pools, longer than one 32-byte chunk";
    a.add(seed, sizeof(seed), 0);
    b.add(seed, sizeof(seed), 0);
    uint8_t ka[32], kb[32];
    a.extract(ka);
    b.extract(kb);
    KT_EXPECT(same(ka, kb, sizeof(ka)));
    // Extraction erases the key: the next extraction differs from the last.
    uint8_t ka2[32], kb2[32];
    a.extract(ka2);
    b.extract(kb2);
    KT_EXPECT(same(ka2, kb2, sizeof(ka2)));
    KT_EXPECT(!same(ka, ka2, sizeof(ka)));

    uint64_t generation = a.generation();
    const uint8_t extra = 1;
    a.add(&extra, 1, 0);
    KT_EXPECT_EQ(a.generation(), generation + 1);
    KT_EXPECT_EQ(a.credited_bits(), 0);
    a.extract(ka);
    b.extract(kb);
    KT_EXPECT(!same(ka, kb, sizeof(ka)));
    // Credits are capped at 8 bits per byte.
    a.add(&extra, 1, 1000);
    KT_EXPECT_EQ(a.credited_bits(), 8);
    // A zero-length add changes nothing.
    generation = a.generation();
    a.add(&extra, 0, 64);
    KT_EXPECT_EQ(a.generation(), generation);

    // The kernel pool: add_entropy is accepted from a thread and the generator keeps serving.
    uint8_t before[32], after[32];
    core::fill_random(before, sizeof(before));
    const char device_bytes[] = "bytes a driver might deliver";
    core::add_entropy(device_bytes, sizeof(device_bytes), 0);
    core::fill_random(after, sizeof(after));
    KT_EXPECT(!same(before, after, sizeof(before)));
}

KTEST(entropy, output_looks_uniform)
{
    // 1 MiB in 4 KiB requests: byte-value chi-square over 256 cells (255 degrees of freedom:
    // mean 255, sd 22.6; 400 is ~5.5 sd by the Wilson-Hilferty approximation, p < 1e-7) and
    // the count of one bits (8 Mi bits: sd 1448; bound 10000, ~7 sd).
    constexpr size_t kTotal = 1 << 20;
    static uint8_t buf[4096];
    static uint32_t counts[256];
    for (auto& c : counts)
        c = 0;
    uint64_t ones = 0;
    for (size_t done = 0; done < kTotal; done += sizeof(buf)) {
        core::fill_random(buf, sizeof(buf));
        for (uint8_t byte : buf) {
            ++counts[byte];
            ones += __builtin_popcount(byte);
        }
    }
    // Chi-square scaled by the expected count (4096) to stay in integers.
    constexpr uint64_t kExpected = kTotal / 256;
    uint64_t scaled = 0;
    for (uint32_t c : counts) {
        int64_t d = int64_t(c) - int64_t(kExpected);
        scaled += uint64_t(d * d);
    }
    uint64_t chi_square_x100 = scaled * 100 / kExpected;
    int64_t bit_excess = int64_t(ones) - int64_t(kTotal * 4);
    log_info("entropy ktest: chi-square %lu.%02lu (255 dof), one bits %+ld from the mean",
             chi_square_x100 / 100, chi_square_x100 % 100, bit_excess);
    KT_EXPECT(chi_square_x100 < 400 * 100);
    KT_EXPECT(bit_excess < 10000 && bit_excess > -10000);
}

KTEST(entropy, small_request_is_cheap)
{
    // getrandom's common case: 16 bytes. Reported, and bounded loosely so that slow TCG hosts
    // pass (the aim, well under a microsecond, is for KVM; see the logged figure).
    constexpr int kRounds = 20000;
    uint8_t out[16];
    core::fill_random(out, sizeof(out)); // warm: a pending re-key is not what we measure
    uint64_t start = core::monotonic_ns();
    for (int i = 0; i < kRounds; ++i)
        core::fill_random(out, sizeof(out));
    uint64_t per_call = (core::monotonic_ns() - start) / kRounds;
    log_info("entropy ktest: fill_random(16 bytes) %lu ns per call", per_call);
    KT_EXPECT(per_call < 100'000);
}

} // namespace
