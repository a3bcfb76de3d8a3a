// The ChaCha20 block function and keystream [rfc8439 §2.3-2.4], for the kernel's random
// number generator (core/entropy.h). Portable C++ over 32-bit words; no SIMD.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lib {

inline constexpr size_t kChaCha20KeySize = 32;
inline constexpr size_t kChaCha20NonceSize = 12;
inline constexpr size_t kChaCha20BlockSize = 64;

// One 64-byte keystream block for (key, counter, nonce) [rfc8439 §2.3]: the state is the
// four constant words, the key, the 32-bit block counter and the 96-bit nonce (all read
// little-endian), 20 rounds, the input added back, serialised little-endian. `out` may not
// overlap the inputs.
void chacha20_block(const uint8_t key[kChaCha20KeySize], uint32_t counter,
                    const uint8_t nonce[kChaCha20NonceSize], uint8_t out[kChaCha20BlockSize]);

// XORs `size` bytes of the keystream that starts at block `counter` into `in` and writes the
// result to `out` [rfc8439 §2.4] (encryption and decryption are the same). `in` and `out`
// may be the same buffer. The counter is 32 bits: one (key, nonce) covers 256 GiB from
// counter 0, and a longer stream would wrap and repeat — callers stay far below that (the
// entropy pool's largest request is 1 GiB).
void chacha20_xor(const uint8_t key[kChaCha20KeySize], uint32_t counter,
                  const uint8_t nonce[kChaCha20NonceSize], const void* in, void* out, size_t size);

// Writes `size` bytes of the keystream itself (chacha20_xor over zeros), same limits.
void chacha20_keystream(const uint8_t key[kChaCha20KeySize], uint32_t counter,
                        const uint8_t nonce[kChaCha20NonceSize], void* out, size_t size);

// Overwrites `size` bytes with zeros through volatile stores, so that the compiler cannot
// drop the wipe of a secret (a key, a keystream block) that is not read again.
void secure_zero(void* buf, size_t size);

} // namespace lib
