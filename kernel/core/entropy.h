// The kernel's entropy pool and random number generator: hardware and device entropy mixed
// into a ChaCha20 key, per-CPU ChaCha20 generators with fast key erasure drawn from it.
//
// Layers (details in entropy.cc):
//   pool        one 256-bit key under a mutex. add_entropy() absorbs bytes into it; every
//               extraction replaces it from its own keystream, so no past output can be
//               recomputed from a later key. A generation number counts the absorptions.
//   generators  one ChaCha20 key per CPU, used under PreemptGuard (no lock, no sharing).
//               When the pool's generation moved on, the next request on that CPU first
//               mixes a fresh pool extraction into its key. Each request turns one block of
//               the generator's keystream into the next generator key plus the output (or a
//               one-request key for long outputs, expanded outside the guard).
//   sources     RDSEED / RDRAND at boot and every 60 s, TSC jitter at boot
//               (credited 0 bits), devices (virtio-rng) through add_entropy().
//
// Context: fill_random() never blocks for long and never waits for entropy; it is safe on any
// number of CPUs at once and with preemption disabled, but NOT from interrupt context (a
// handler could interrupt its own CPU's generator half-way; Nimbus handlers run in threads
// anyway). add_entropy() and init_entropy() take a sleeping mutex briefly: thread context
// with preemption enabled.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <lib/chacha20.h>
#include <sync/mutex.h>

namespace core {

// A 256-bit entropy pool (the layer described above). The kernel has one (behind the free
// functions below); tests construct their own to observe the mixing. constexpr-constructible.
class EntropyPool {
public:
    constexpr EntropyPool() = default;
    EntropyPool(const EntropyPool&) = delete;
    EntropyPool& operator=(const EntropyPool&) = delete;

    // Absorbs `size` bytes into the key and credits min(entropy_bits, 8 * size) bits; bumps
    // the generation. Takes the pool's mutex briefly: thread context, preemption enabled.
    void add(const void* data, size_t size, size_t entropy_bits) TA_EXCL(m_lock);

    // Writes a fresh 256-bit key for a generator and replaces the pool key (fast key
    // erasure). Same context as add().
    void extract(uint8_t out[lib::kChaCha20KeySize]) TA_EXCL(m_lock);

    // Bits credited so far, summed over add() calls. Any context.
    uint64_t credited_bits() const { return m_credited_bits.load(std::memory_order_relaxed); }

    // How many add() calls completed; generators re-key when it moves. Any context. Pairs
    // with the release increment at the end of add(): a reader that sees generation g and
    // then calls extract() gets a key derived from at least the first g absorptions (the
    // mutex orders them anyway; the acquire is for readers that only compare numbers).
    uint64_t generation() const { return m_generation.load(std::memory_order_acquire); }

private:
    void absorb_locked(const uint8_t* data, size_t size) TA_REQ(m_lock);

    mutable ksync::Mutex m_lock;
    uint8_t m_key[lib::kChaCha20KeySize] TA_GUARDED(m_lock) = {};
    std::atomic<uint64_t> m_credited_bits { 0 };
    std::atomic<uint64_t> m_generation { 0 };
};

// Seeds the kernel pool: RDSEED (preferred) or RDRAND when CPUID offers them — each word
// with bounded retries, a source that keeps failing or repeats itself is dropped for good —
// plus TSC jitter samples and the clocks (credited 0 bits). Logs one line: "entropy: seeded
// from rdseed|rdrand (N bits)" or a warning "entropy: no hardware source; seeded from timing
// jitter only". Never waits for entropy; costs tens of microseconds.
//
// Call once at boot on the boot CPU after init_threads() and init_clock() (the mutex needs a
// current thread). A second call does nothing. fill_random() calls it itself if boot has not
// (so early users are never served from an unseeded pool).
void init_entropy();

// Fills `buf` with `size` cryptographically strong random bytes (ChaCha20, see above). Never
// blocks waiting for entropy and never fails. Any number of CPUs at once; thread context,
// preemption may be disabled (then a pending re-key from the pool waits for the next call);
// not from interrupt handlers. Costs one ChaCha20 block for up to 32 bytes (plus, now and
// then, a pool extraction or a hardware reseed); longer requests are generated outside the
// PreemptGuard at ChaCha20 speed.
void fill_random(void* buf, size_t size);

// Mixes `size` bytes into the kernel pool and credits `entropy_bits` (at most 8 per byte) as
// unpredictable: a device's true random bits (virtio-rng) count fully, anything merely
// hard to guess (timings, addresses, serial numbers) is added with 0. Every CPU's generator
// picks the new pool state up at its next request. Thread context, preemption enabled; takes
// a mutex briefly, never waits for anything else.
void add_entropy(const void* data, size_t size, size_t entropy_bits);

// Whether at least 256 bits from strong sources (virtio-rng, RDSEED, RDRAND — whatever
// callers credited) have been mixed into the pool. Informational: the generator serves
// requests either way. Any context.
bool entropy_seeded();

} // namespace core
