// SipHash-2-4, written from the paper's specification (siphash.h).
#include <net/siphash.h>

namespace net {
namespace {

inline uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

struct State {
    uint64_t v0, v1, v2, v3;

    void round()
    {
        v0 += v1;
        v1 = rotl(v1, 13);
        v1 ^= v0;
        v0 = rotl(v0, 32);
        v2 += v3;
        v3 = rotl(v3, 16);
        v3 ^= v2;
        v0 += v3;
        v3 = rotl(v3, 21);
        v3 ^= v0;
        v2 += v1;
        v1 = rotl(v1, 17);
        v1 ^= v2;
        v2 = rotl(v2, 32);
    }

    void compress(uint64_t m)
    {
        v3 ^= m;
        round();
        round();
        v0 ^= m;
    }
};

inline uint64_t load_le64(const uint8_t* p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

} // namespace

uint64_t siphash24(const SipKey& key, const void* data, size_t length)
{
    const auto* p = static_cast<const uint8_t*>(data);
    State s{ key.k0 ^ 0x736f6d6570736575ull, key.k1 ^ 0x646f72616e646f6dull, key.k0 ^ 0x6c7967656e657261ull,
             key.k1 ^ 0x7465646279746573ull };
    size_t whole = length & ~size_t(7);
    for (size_t i = 0; i < whole; i += 8)
        s.compress(load_le64(p + i));
    // The last block: the remaining bytes, little-endian, with the length's low byte on top.
    uint64_t last = uint64_t(length & 0xff) << 56;
    for (size_t i = 0; i < (length & 7); i++)
        last |= uint64_t(p[whole + i]) << (8 * i);
    s.compress(last);
    s.v2 ^= 0xff;
    for (int i = 0; i < 4; i++)
        s.round();
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

} // namespace net
