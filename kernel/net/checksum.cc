#include <net/checksum.h>

namespace net {

namespace {

uint64_t load64(const uint8_t* p)
{
    uint64_t v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}

// The ones'-complement sum of `length` bytes read as little-endian 64-bit words (an odd tail
// zero-padded), folded to 16 bits. Byte order only swaps the two halves of every 16-bit word,
// which the sum carries through: the big-endian sum is this one byte-swapped [RFC 1071 §2(B)].
uint16_t sum_native(const uint8_t* data, size_t length)
{
    uint64_t acc = 0;
    size_t i = 0;
#if defined(__x86_64__)
    // 32 bytes per round with the carry chained through adc: a 64-bit ones'-complement add.
    if (length >= 32) {
        size_t rounds = length / 32;
        const uint8_t* p = data;
        asm("1:\n\t"
            "addq (%[p]), %[acc]\n\t"
            "adcq 8(%[p]), %[acc]\n\t"
            "adcq 16(%[p]), %[acc]\n\t"
            "adcq 24(%[p]), %[acc]\n\t"
            "adcq $0, %[acc]\n\t"
            "addq $32, %[p]\n\t"
            "decq %[n]\n\t"
            "jnz 1b"
            : [acc] "+r"(acc), [p] "+r"(p), [n] "+r"(rounds)
            :
            : "cc", "memory");
        i = length & ~size_t(31);
    }
#endif
    // 64-bit words as two 32-bit halves: the 64-bit accumulator cannot overflow (at most 2^32
    // such adds, and the assembly's result is below 2^64).
    uint64_t wide = acc >> 32;
    acc &= 0xffffffffu;
    for (; i + 8 <= length; i += 8) {
        uint64_t w = load64(data + i);
        acc += (w & 0xffffffffu) + (w >> 32);
    }
    // The last 0-7 bytes, zero-padded as a little-endian word would be: 4, 2, then 1 byte.
    size_t left = length - i;
    if (left & 4) {
        uint32_t w;
        __builtin_memcpy(&w, data + i, sizeof w);
        acc += w;
        i += 4;
    }
    if (left & 2) {
        uint16_t w;
        __builtin_memcpy(&w, data + i, sizeof w);
        acc += w;
        i += 2;
    }
    if (left & 1)
        acc += data[i];
    // Fold without loops: 64 -> 33 -> 32 -> 17 -> 16 bits.
    acc += wide;
    acc = (acc & 0xffffffffu) + (acc >> 32);
    acc = (acc & 0xffffffffu) + (acc >> 32);
    uint32_t folded = static_cast<uint32_t>(acc);
    folded = (folded & 0xffff) + (folded >> 16);
    folded = (folded & 0xffff) + (folded >> 16);
    return static_cast<uint16_t>(folded);
}

} // namespace

uint32_t sum_bytes(const uint8_t* data, size_t length, uint32_t sum, bool odd_start)
{
    // Little-endian words are the big-endian ones byte-swapped; a piece that starts on the low
    // half of a word is, read from its first byte, byte-swapped once more.
    uint16_t native = sum_native(data, length);
    uint32_t piece = odd_start ? native : uint16_t(native << 8 | native >> 8);
    uint64_t acc = uint64_t(sum) + piece; // below 2^33: one end-around carry at most
    acc = (acc & 0xffffffffu) + (acc >> 32);
    return static_cast<uint32_t>(acc);
}

uint16_t fold_sum(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(sum);
}

uint32_t pseudo_header_sum(Ipv4Address source, Ipv4Address destination, uint8_t protocol,
                           uint16_t length)
{
    uint64_t acc = (source.value >> 16) + (source.value & 0xffff) + (destination.value >> 16) +
                   (destination.value & 0xffff) + protocol + length;
    while (acc >> 32)
        acc = (acc & 0xffffffffu) + (acc >> 32);
    return static_cast<uint32_t>(acc);
}

uint16_t update_checksum(uint16_t checksum, uint16_t old_value, uint16_t new_value)
{
    // HC' = ~(~HC + ~m + m')
    uint32_t sum = uint16_t(~checksum) + uint32_t(uint16_t(~old_value)) + new_value;
    return static_cast<uint16_t>(~fold_sum(sum));
}

} // namespace net
