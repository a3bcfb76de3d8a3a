// ChaCha20 [rfc8439 §2.1-2.4], written from the RFC's description.
#include <lib/chacha20.h>
#include <lib/string.h>

namespace lib {
namespace {

// "expand 32-byte k" as four little-endian words [rfc8439 §2.3].
constexpr uint32_t kSigma[4] = { 0x61707865, 0x3320646e, 0x79622d32, 0x6b206574 };

uint32_t load_le32(const uint8_t* p)
{
    return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

void store_le32(uint8_t* p, uint32_t v)
{
    p[0] = uint8_t(v);
    p[1] = uint8_t(v >> 8);
    p[2] = uint8_t(v >> 16);
    p[3] = uint8_t(v >> 24);
}

// mem_set called through a volatile pointer: the compiler cannot know what it calls, so it
// cannot drop the stores as dead; and mem_set is word-wide, unlike a volatile byte loop.
void* (*volatile g_wipe)(void*, int, size_t) = mem_set;

constexpr uint32_t rotl(uint32_t v, int n) { return v << n | v >> (32 - n); }

// The quarter round on four words of the state [rfc8439 §2.1, §2.2].
void quarter_round(uint32_t* x, int a, int b, int c, int d)
{
    x[a] += x[b];
    x[d] = rotl(x[d] ^ x[a], 16);
    x[c] += x[d];
    x[b] = rotl(x[b] ^ x[c], 12);
    x[a] += x[b];
    x[d] = rotl(x[d] ^ x[a], 8);
    x[c] += x[d];
    x[b] = rotl(x[b] ^ x[c], 7);
}

} // namespace

void chacha20_block(const uint8_t key[kChaCha20KeySize], uint32_t counter,
                    const uint8_t nonce[kChaCha20NonceSize], uint8_t out[kChaCha20BlockSize])
{
    // State layout [rfc8439 §2.3]: words 0-3 constants, 4-11 key, 12 counter, 13-15 nonce.
    uint32_t input[16];
    for (int i = 0; i < 4; ++i)
        input[i] = kSigma[i];
    for (int i = 0; i < 8; ++i)
        input[4 + i] = load_le32(key + 4 * i);
    input[12] = counter;
    for (int i = 0; i < 3; ++i)
        input[13 + i] = load_le32(nonce + 4 * i);

    uint32_t x[16];
    for (int i = 0; i < 16; ++i)
        x[i] = input[i];
    // 20 rounds: ten times a column round then a diagonal round.
    for (int i = 0; i < 10; ++i) {
        quarter_round(x, 0, 4, 8, 12);
        quarter_round(x, 1, 5, 9, 13);
        quarter_round(x, 2, 6, 10, 14);
        quarter_round(x, 3, 7, 11, 15);
        quarter_round(x, 0, 5, 10, 15);
        quarter_round(x, 1, 6, 11, 12);
        quarter_round(x, 2, 7, 8, 13);
        quarter_round(x, 3, 4, 9, 14);
    }
    for (int i = 0; i < 16; ++i)
        store_le32(out + 4 * i, x[i] + input[i]);
    secure_zero(x, sizeof(x));
    secure_zero(input, sizeof(input));
}

void chacha20_xor(const uint8_t key[kChaCha20KeySize], uint32_t counter,
                  const uint8_t nonce[kChaCha20NonceSize], const void* in, void* out, size_t size)
{
    const auto* src = static_cast<const uint8_t*>(in);
    auto* dst = static_cast<uint8_t*>(out);
    uint8_t block[kChaCha20BlockSize];
    while (size) {
        chacha20_block(key, counter++, nonce, block);
        size_t n = size < kChaCha20BlockSize ? size : kChaCha20BlockSize;
        for (size_t i = 0; i < n; ++i)
            dst[i] = uint8_t(src[i] ^ block[i]);
        src += n;
        dst += n;
        size -= n;
    }
    secure_zero(block, sizeof(block));
}

void chacha20_keystream(const uint8_t key[kChaCha20KeySize], uint32_t counter,
                        const uint8_t nonce[kChaCha20NonceSize], void* out, size_t size)
{
    auto* dst = static_cast<uint8_t*>(out);
    // Whole blocks go straight to the output; only a tail needs the stack copy.
    while (size >= kChaCha20BlockSize) {
        chacha20_block(key, counter++, nonce, dst);
        dst += kChaCha20BlockSize;
        size -= kChaCha20BlockSize;
    }
    if (size) {
        uint8_t block[kChaCha20BlockSize];
        chacha20_block(key, counter, nonce, block);
        for (size_t i = 0; i < size; ++i)
            dst[i] = block[i];
        secure_zero(block, sizeof(block));
    }
}

void secure_zero(void* buf, size_t size) { g_wipe(buf, 0, size); }

} // namespace lib
