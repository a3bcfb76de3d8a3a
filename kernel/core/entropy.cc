// The kernel's entropy pool and per-CPU ChaCha20 generators (see entropy.h for the layers).
//
// Constructions, all on the ChaCha20 block function B(key, counter, nonce) [rfc8439 §2.3]
// with a distinct 12-byte label as the nonce for each use, so no two uses share a keystream:
//
//   absorb   for each 32-byte chunk c of the input (the last zero-padded, its length in the
//            label): K = B(K xor c, 0, "absorb"+len)[0..32]. Knowing K lets an attacker steer
//            K xor c, nothing more; not knowing K, the chunk cannot cancel what K holds.
//   extract  b = B(K, 0, "extract"): K = b[0..32], output b[32..64]. The old K is gone, so
//            a later compromise of the pool reveals no earlier output (fast key erasure).
//   request  on CPU i, with generator key G: b = B(G, 0, "generate"); G = b[0..32]; the
//            caller gets b[32..32+n] when n <= 32, else the keystream of the one-request key
//            b[32..64] under "bulk" (computed outside the PreemptGuard, then wiped).
//   re-key   when the pool's generation differs from the one G last saw: G ^= extract().
//            XOR keeps whatever G already had, so a re-key never makes G weaker.
//   first    a CPU's first request with the pool out of reach (preemption disabled): G =
//            B(root, cpu index, "cpu-root")[0..32], root being a pool extraction made once at
//            init and never changed — distinct per CPU, unpredictable as the pool was at boot.
//
// Locking: the pool key under EntropyPool::m_lock (a ksync::Mutex, held for one or a few
// ChaCha20 blocks). Generator i is touched only by threads running on CPU i inside a
// PreemptGuard — no lock, and no interrupt handler may call in (entropy.h). Its generation
// field is also read without the guard as a hint (atomic, relaxed: a stale or wrong-CPU read
// only costs or saves one pool extraction). g_root_key is written once in init_entropy()
// before the release store of g_ready and read only after an acquire load of it.
//
// Hardware reseeding: the first request after the TSC passes g_next_reseed_tsc, with the pool
// reachable, claims the reseed with a CAS on that deadline (one winner), reads RDSEED/RDRAND
// words and add()s them; the generation bump makes every CPU re-key at its next request.
#include <arch/x86_64/cpu.h>
#include <core/clock.h>
#include <core/console.h>
#include <core/cpu.h>
#include <core/entropy.h>
#include <lib/string.h>
#include <sched/wakeup_queue.h>

namespace core {
namespace {

using lib::kChaCha20BlockSize;
using lib::kChaCha20KeySize;
using lib::kChaCha20NonceSize;

// The nonce labels (12 bytes each, the terminating NUL not used).
constexpr char kAbsorbLabel[13] = "nimbus:absb?"; // the last byte becomes the chunk length
constexpr char kExtractLabel[13] = "nimbus:extrc";
constexpr char kGenerateLabel[13] = "nimbus:genrt";
constexpr char kBulkLabel[13] = "nimbus:bulk.";
constexpr char kCpuRootLabel[13] = "nimbus:croot";

const uint8_t* label(const char (&text)[13]) { return reinterpret_cast<const uint8_t*>(text); }

// Reseed from the CPU's hardware generator this often.
constexpr uint64_t kReseedIntervalNs = 60'000'000'000ull;
// One request key covers at most this much output; longer requests take several.
constexpr size_t kMaxBytesPerKey = size_t(1) << 30;
// Hardware words read at boot and at each reseed.
constexpr size_t kHardwareWords = 8;

constinit EntropyPool g_pool;

struct alignas(64) CpuGenerator {
    uint8_t key[kChaCha20KeySize] = {};
    // The pool generation last mixed into `key` (0: none yet). Written under PreemptGuard by
    // this CPU; read as a hint from anywhere (relaxed, see the header comment).
    std::atomic<uint64_t> generation { 0 };
    bool keyed = false;
};

constinit CpuGenerator g_generators[sched::kMaxCpus];

constinit ksync::Mutex g_init_lock;
// Pairs: release store at the end of init_entropy → acquire load in fill_random(), which
// then may read g_root_key.
std::atomic<bool> g_ready { false };
uint8_t g_root_key[kChaCha20KeySize];
// TSC value after which the next request reseeds from hardware; 0 until init.
std::atomic<uint64_t> g_next_reseed_tsc { 0 };
std::atomic<uint64_t> g_reseed_interval_tsc { 0 };

void xor_into(uint8_t* dst, const uint8_t* src, size_t size)
{
    for (size_t i = 0; i < size; ++i)
        dst[i] ^= src[i];
}

// ---------------------------------------------------------------------------------------
// Hardware sources.
// ---------------------------------------------------------------------------------------


// One hardware generator. `usable` starts as CPUID says and is cleared for good when the
// source misbehaves: no valid word within `tries` attempts (RDSEED may run dry for a moment
// under load, hence more tries — each one an instruction that waits on the generator, no spin
// loop around anything; RDRAND should essentially never fail, Intel's guidance is ten tries), or the same word twice in a row / all zeros / all ones (a stuck
// generator, as some CPUs' RDRAND after suspend). Only the one thread that holds the init
// lock or won the reseed CAS reads words, so `last` needs no ordering; the flags are atomic
// because fill_random() reads them.
struct HardwareSource {
    const char* name;
    bool (*read_once)(uint64_t&);
    unsigned tries;
    // Bits credited per word. RDSEED words are conditioned entropy: all 64. RDRAND words
    // come from a DRBG that the CPU reseeds from the same conditioner now and then: credit
    // half, which still makes eight words a full 256-bit seed.
    unsigned credit_bits;
    std::atomic<bool> usable;
    uint64_t last;
};

constinit HardwareSource g_rdseed { "rdseed", arch::rdseed, 128, 64, { false }, 0 };
constinit HardwareSource g_rdrand { "rdrand", arch::rdrand, 10, 32, { false }, 0 };

void detect_hardware_sources()
{
    bool rdrand = arch::cpuid(1).ecx & (1u << 30);                           // CPUID.01H:ECX.RDRAND
    bool rdseed = arch::cpuid(0).eax >= 7 && (arch::cpuid(7, 0).ebx & (1u << 18)); // CPUID.07H:EBX.RDSEED
    g_rdrand.usable.store(rdrand, std::memory_order_relaxed);
    g_rdseed.usable.store(rdseed, std::memory_order_relaxed);
}

// One word from `source`, or false (and the source dropped) if it does not deliver.
bool read_hardware_word(HardwareSource& source, uint64_t& value)
{
    if (!source.usable.load(std::memory_order_relaxed))
        return false;
    for (unsigned attempt = 0; attempt < source.tries; ++attempt) {
        if (source.read_once(value)) {
            if (value == source.last || value == 0 || value == ~uint64_t(0))
                break;
            source.last = value;
            return true;
        }
    }
    source.usable.store(false, std::memory_order_relaxed);
    log_warn("entropy: %s keeps failing or repeats itself; no longer used", source.name);
    return false;
}

struct HardwareSample {
    uint64_t words[kHardwareWords];
    size_t count = 0;
    size_t bits = 0;
    bool used_rdseed = false;
    bool used_rdrand = false;
};

// Reads up to kHardwareWords words, RDSEED first, RDRAND for whatever RDSEED did not give.
HardwareSample read_hardware()
{
    HardwareSample s;
    while (s.count < kHardwareWords) {
        uint64_t v;
        if (read_hardware_word(g_rdseed, v)) {
            s.used_rdseed = true;
            s.bits += g_rdseed.credit_bits;
        } else if (read_hardware_word(g_rdrand, v)) {
            s.used_rdrand = true;
            s.bits += g_rdrand.credit_bits;
        } else {
            break;
        }
        s.words[s.count++] = v;
    }
    return s;
}

void add_hardware(const HardwareSample& s)
{
    if (s.count)
        g_pool.add(s.words, s.count * sizeof(uint64_t), s.bits);
}

// TSC readings around a small data-dependent loop: their low bits vary with caches, the
// hypervisor's scheduling and interrupts. Credited nothing; what matters is that without any
// hardware source two boots still start from different pools.
void add_timing_jitter()
{
    constexpr int kSamples = 16; // credited nothing: enough to make two boots differ, cheap to absorb
    uint64_t samples[kSamples + 3];
    volatile uint64_t sink = 0;
    for (int i = 0; i < kSamples; ++i) {
        uint64_t start = arch::rdtsc();
        for (uint64_t j = 0; j < 8 + (start & 31); ++j)
            sink = sink + (j ^ start);
        samples[i] = arch::rdtsc() ^ (start << 32);
    }
    // No clock reads: the clock calibrates lazily, never during boot.
    samples[kSamples] = arch::rdtsc();
    samples[kSamples + 1] = uint64_t(__builtin_frame_address(0)) ^ sink;
    samples[kSamples + 2] = this_cpu().apic_id;
    g_pool.add(samples, sizeof(samples), 0);
    lib::secure_zero(samples, sizeof(samples));
}

// ---------------------------------------------------------------------------------------
// Generators.
// ---------------------------------------------------------------------------------------

// Whether this thread may take the pool's mutex now (preemption and interrupts enabled).
bool pool_reachable()
{
    return ksync::can_block() && (arch::read_rflags() & arch::kRflagsIf);
}

void maybe_reseed()
{
    uint64_t deadline = g_next_reseed_tsc.load(std::memory_order_relaxed);
    uint64_t now = arch::rdtsc();
    if (now < deadline || !pool_reachable())
        return;
    if (g_reseed_interval_tsc.load(std::memory_order_relaxed) == 0) {
        // The first request that may block learns the TSC rate (which may calibrate it against
        // the PIT: never at boot, the clock's rule) and only sets the first deadline.
        g_reseed_interval_tsc.store(tsc_frequency_hz() * (kReseedIntervalNs / 1'000'000'000ull),
                                    std::memory_order_relaxed);
        g_next_reseed_tsc.store(now + g_reseed_interval_tsc.load(std::memory_order_relaxed),
                                std::memory_order_relaxed);
        return;
    }
    // One winner per interval; the losers go on with the current keys. Relaxed: the deadline
    // publishes nothing, the pool's mutex orders the reseed itself.
    uint64_t next = now + g_reseed_interval_tsc.load(std::memory_order_relaxed);
    if (!g_next_reseed_tsc.compare_exchange_strong(deadline, next, std::memory_order_relaxed))
        return;
    HardwareSample s = read_hardware();
    if (s.count)
        add_hardware(s);
    lib::secure_zero(s.words, sizeof(s.words));
}

// Up to kMaxBytesPerKey bytes (see "request" and "re-key" above).
void fill_chunk(uint8_t* out, size_t size)
{
    uint8_t fresh[kChaCha20KeySize];
    bool have_fresh = false;
    uint64_t generation = g_pool.generation();
    if (pool_reachable()) {
        // A hint: if the thread moves before the guard, the fresh key goes to the other CPU.
        const CpuGenerator& hint = g_generators[this_cpu().id];
        if (hint.generation.load(std::memory_order_relaxed) != generation) {
            g_pool.extract(fresh);
            have_fresh = true;
        }
    }

    uint8_t block[kChaCha20BlockSize];
    {
        PreemptGuard guard;
        unsigned cpu_index = this_cpu().id;
        CpuGenerator& gen = g_generators[cpu_index];
        if (!gen.keyed && !have_fresh) {
            lib::chacha20_block(g_root_key, cpu_index, label(kCpuRootLabel), block);
            lib::mem_copy(gen.key, block, kChaCha20KeySize);
        }
        if (have_fresh) {
            xor_into(gen.key, fresh, kChaCha20KeySize);
            gen.generation.store(generation, std::memory_order_relaxed);
        }
        gen.keyed = true;
        lib::chacha20_block(gen.key, 0, label(kGenerateLabel), block);
        lib::mem_copy(gen.key, block, kChaCha20KeySize);
    }
    const uint8_t* rest = block + kChaCha20KeySize;
    if (size <= kChaCha20BlockSize - kChaCha20KeySize)
        lib::mem_copy(out, rest, size);
    else
        lib::chacha20_keystream(rest, 0, label(kBulkLabel), out, size);
    lib::secure_zero(block, sizeof(block));
    lib::secure_zero(fresh, sizeof(fresh));
}

} // namespace

// ---------------------------------------------------------------------------------------
// EntropyPool.
// ---------------------------------------------------------------------------------------

void EntropyPool::absorb_locked(const uint8_t* data, size_t size)
{
    uint8_t nonce[kChaCha20NonceSize];
    lib::mem_copy(nonce, kAbsorbLabel, kChaCha20NonceSize);
    uint8_t block[kChaCha20BlockSize];
    while (size) {
        size_t n = size < kChaCha20KeySize ? size : kChaCha20KeySize;
        xor_into(m_key, data, n);
        nonce[kChaCha20NonceSize - 1] = uint8_t(n);
        lib::chacha20_block(m_key, 0, nonce, block);
        lib::mem_copy(m_key, block, kChaCha20KeySize);
        data += n;
        size -= n;
    }
    lib::secure_zero(block, sizeof(block));
}

void EntropyPool::add(const void* data, size_t size, size_t entropy_bits)
{
    if (size == 0)
        return;
    size_t max_bits = size > SIZE_MAX / 8 ? SIZE_MAX : size * 8;
    {
        ksync::MutexGuard guard(m_lock);
        absorb_locked(static_cast<const uint8_t*>(data), size);
    }
    m_credited_bits.fetch_add(entropy_bits < max_bits ? entropy_bits : max_bits,
                              std::memory_order_relaxed);
    // Pairs with the acquire load in generation().
    m_generation.fetch_add(1, std::memory_order_release);
}

void EntropyPool::extract(uint8_t out[kChaCha20KeySize])
{
    uint8_t block[kChaCha20BlockSize];
    {
        ksync::MutexGuard guard(m_lock);
        lib::chacha20_block(m_key, 0, label(kExtractLabel), block);
        lib::mem_copy(m_key, block, kChaCha20KeySize);
    }
    lib::mem_copy(out, block + kChaCha20KeySize, kChaCha20KeySize);
    lib::secure_zero(block, sizeof(block));
}

// ---------------------------------------------------------------------------------------
// The kernel's pool.
// ---------------------------------------------------------------------------------------

void init_entropy()
{
    ksync::MutexGuard guard(g_init_lock);
    if (g_ready.load(std::memory_order_relaxed))
        return;
    detect_hardware_sources();
    HardwareSample s = read_hardware();
    add_hardware(s);
    lib::secure_zero(s.words, sizeof(s.words));
    add_timing_jitter();
    g_pool.extract(g_root_key);

    // The reseed interval in TSC ticks is set by the first fill_random that may block
    // (maybe_reseed): asking for the TSC rate here would calibrate the clock during boot.
    // Pairs with the acquire load in fill_random(): g_root_key is written.
    g_ready.store(true, std::memory_order_release);

    if (s.count == 0)
        log_warn("entropy: no hardware source; seeded from timing jitter only");
    else
        log_info("entropy: seeded from %s (%zu bits)",
                 s.used_rdseed && s.used_rdrand ? "rdseed+rdrand" : s.used_rdseed ? "rdseed" : "rdrand",
                 s.bits);
}

void fill_random(void* buf, size_t size)
{
    if (!g_ready.load(std::memory_order_acquire))
        init_entropy();
    maybe_reseed();
    auto* out = static_cast<uint8_t*>(buf);
    while (size) {
        size_t n = size < kMaxBytesPerKey ? size : kMaxBytesPerKey;
        fill_chunk(out, n);
        out += n;
        size -= n;
    }
}

void add_entropy(const void* data, size_t size, size_t entropy_bits)
{
    g_pool.add(data, size, entropy_bits);
}

bool entropy_seeded() { return g_pool.credited_bits() >= 256; }

} // namespace core
