// getrandom(2) and the kernel's random bytes for applications.
//
// The generator is a per-call SplitMix64 stream keyed from RDRAND (when present) and the
// TSC. It is unpredictable enough for hash seeds and AT_RANDOM's stack-protector canary; it
// is not a vetted cryptographic generator. TODO(#5): virtio-rng / RDSEED into a proper pool.
#include <arch/x86_64/cpu.h>
#include <atomic>
#include <lib/string.h>
#include <lx/random.h>
#include <lx/syscall.h>
#include <lx/uaccess.h>

namespace lx {
namespace {

bool has_rdrand()
{
    static const bool kHas = arch::cpuid(1).ecx & (1u << 30);
    return kHas;
}

uint64_t rdrand_or_zero()
{
    if (!has_rdrand())
        return 0;
    for (int tries = 0; tries < 10; ++tries) {
        uint64_t v;
        unsigned char ok;
        asm volatile("rdrand %0; setc %1" : "=r"(v), "=qm"(ok));
        if (ok)
            return v;
    }
    return 0;
}

std::atomic<uint64_t> g_counter { 0x9e3779b97f4a7c15ull };

uint64_t splitmix(uint64_t& state)
{
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

} // namespace

void fill_random(void* buf, size_t size)
{
    uint64_t state = rdrand_or_zero() ^ arch::rdtsc() ^ g_counter.fetch_add(0x632be59bd9b4e019ull, std::memory_order_relaxed);
    auto* out = static_cast<uint8_t*>(buf);
    while (size) {
        uint64_t v = splitmix(state) ^ rdrand_or_zero();
        size_t n = size < 8 ? size : 8;
        lib::mem_copy(out, &v, n);
        out += n;
        size -= n;
    }
}

int64_t sys_getrandom(const Args& a)
{
    constexpr uint64_t kKnownFlags = 0x1 | 0x2 | 0x4; // GRND_NONBLOCK, GRND_RANDOM, GRND_INSECURE
    if (a.u(2) & ~kKnownFlags)
        return err(Errno::INVAL);
    uint64_t dst = a.u(0);
    size_t size = a.u(1) < 33554431 ? a.u(1) : 33554431; // Linux's per-call cap
    uint8_t chunk[256];
    size_t done = 0;
    while (done < size) {
        size_t n = size - done < sizeof(chunk) ? size - done : sizeof(chunk);
        fill_random(chunk, n);
        if (auto r = copy_to_app(dst + done, chunk, n); r.is_error())
            return done ? int64_t(done) : err(r.error());
        done += n;
    }
    return int64_t(done);
}

} // namespace lx
