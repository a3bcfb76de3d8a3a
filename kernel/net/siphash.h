// SipHash-2-4 [Aumasson & Bernstein, "SipHash: a fast short-input PRF", 2012]: a keyed 64-bit
// hash. The flow table hashes addresses and ports that remote peers choose; with a secret key
// drawn at boot they cannot compute which flows collide, so they cannot make one bucket long.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace net {

struct SipKey {
    uint64_t k0 = 0;
    uint64_t k1 = 0;
};

// SipHash-2-4 of `length` bytes under `key`.
uint64_t siphash24(const SipKey& key, const void* data, size_t length);

} // namespace net
