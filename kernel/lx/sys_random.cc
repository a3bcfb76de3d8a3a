// getrandom(2) on the kernel's entropy pool (core/entropy.h).
//
// Flags as Linux [getrandom(2)]: GRND_NONBLOCK, GRND_RANDOM and GRND_INSECURE are accepted,
// anything else — or GRND_INSECURE with GRND_RANDOM — is EINVAL. The pool is seeded during
// boot (init_entropy: RDSEED/RDRAND and timing jitter), before any program runs, so the
// generator is always "initialised" in Linux's sense: getrandom never blocks and never
// returns EAGAIN, and GRND_RANDOM draws from the same generator (as Linux does since 5.6).
#include <core/entropy.h>
#include <lib/chacha20.h>
#include <lx/signal.h>
#include <lx/syscall.h>
#include <lx/uaccess.h>

namespace lx {
namespace {

// [getrandom(2)], include/uapi/linux/random.h values.
constexpr uint64_t kGrndNonblock = 0x1;
constexpr uint64_t kGrndRandom = 0x2;
constexpr uint64_t kGrndInsecure = 0x4;

// One call returns at most this much (Linux's old urandom cap), so a single call stays short.
constexpr size_t kMaxPerCall = 33554431;

} // namespace

int64_t sys_getrandom(const Args& a)
{
    uint64_t flags = a.u(2);
    if (flags & ~(kGrndNonblock | kGrndRandom | kGrndInsecure))
        return err(Errno::INVAL);
    if ((flags & kGrndInsecure) && (flags & kGrndRandom))
        return err(Errno::INVAL);
    uint64_t dst = a.u(0);
    size_t size = a.u(1) < kMaxPerCall ? a.u(1) : kMaxPerCall;
    uint8_t chunk[512];
    size_t done = 0;
    while (done < size) {
        // Like Linux, a long request stops early (with what it has) for a pending signal,
        // checked at page boundaries after the first page.
        if (done && done % 4096 == 0 && signal_pending())
            break;
        size_t n = size - done < sizeof(chunk) ? size - done : sizeof(chunk);
        core::fill_random(chunk, n);
        auto copied = copy_to_app(dst + done, chunk, n);
        lib::secure_zero(chunk, n);
        if (copied.is_error())
            return done ? int64_t(done) : err(copied.error());
        done += n;
    }
    return int64_t(done);
}

} // namespace lx
