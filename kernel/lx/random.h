// Randomness for applications (getrandom, AT_RANDOM, later /dev/urandom).
#pragma once

#include <cstddef>

namespace lx {

// Fills buf with random bytes: RDRAND when the CPU has it, mixed with the TSC; otherwise a
// generator seeded from the TSC and the wall clock. Never blocks. TODO(#5): virtio-rng.
void fill_random(void* buf, size_t size);

} // namespace lx
