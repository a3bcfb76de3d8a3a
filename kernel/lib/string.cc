// Memory and C-string helpers in portable C++, moving a machine word at a time where that is
// simple.
//
// Word accesses go through load()/store() on Word, a packed may_alias struct: may_alias keeps
// them legal under strict aliasing, and packing (alignment 1) lets the source side be
// misaligned (on x86 an unaligned load costs about the same as an aligned one; on a
// strict-alignment target the compiler would split it). The destination is always aligned first so that stores do not
// straddle cache lines.
//
// The kernel's memcpy/memset call these functions, so they must not be compiled back into
// calls to memcpy/memset: the kernel build is -ffreestanding, which stops clang from turning
// the loops below into library calls (check with objdump after touching them).
//
// In the kernel build, which has no SSE (cmake/nimbus.cmake), the words of a large copy or
// fill go through one string instruction (arch/x86_64/string.S) instead of the loop.
#include <lib/string.h>

#include <stdint.h>

#if NIMBUS_KERNEL
extern "C" void arch_copy_qwords(void* dst, const void* src, size_t count);
extern "C" void arch_fill_qwords(void* dst, uint64_t pattern, size_t count);
#endif

namespace lib {

namespace {

struct __attribute__((packed, may_alias)) Word {
    uint64_t value;
};
constexpr size_t kWordSize = sizeof(uint64_t);

uint64_t load(const void* p, size_t index = 0) { return static_cast<const Word*>(p)[index].value; }
void store(void* p, size_t index, uint64_t value) { static_cast<Word*>(p)[index].value = value; }

// For str_length's reads past the terminator (see there).
__attribute__((no_sanitize("address"))) uint64_t load_unchecked(const void* p) { return static_cast<const Word*>(p)->value; }
// Below this size the alignment prologue costs more than the word loop saves.
constexpr size_t kWordThreshold = 2 * kWordSize;
// From this size on, the kernel build copies and fills words with a string instruction (its
// start-up cost is amortised).
[[maybe_unused]] constexpr size_t kStringThreshold = 128;

constexpr uint64_t kOnes = 0x0101010101010101ull;
constexpr uint64_t kHighs = 0x8080808080808080ull;

// Non-zero iff some byte of w is zero (the classic "haszero" bit trick: a byte's high bit
// survives only if subtracting 1 borrowed out of it and it did not have the bit set before).
constexpr uint64_t has_zero_byte(uint64_t w) { return (w - kOnes) & ~w & kHighs; }

size_t misalignment(const void* p) { return reinterpret_cast<uintptr_t>(p) & (kWordSize - 1); }

} // namespace

void* mem_copy(void* dst, const void* src, size_t size)
{
    auto* d = static_cast<unsigned char*>(dst);
    auto* s = static_cast<const unsigned char*>(src);
    if (size >= kWordThreshold) {
        for (size_t head = (kWordSize - misalignment(d)) & (kWordSize - 1); head; head--, size--)
            *d++ = *s++;
#if NIMBUS_KERNEL
        if (size >= kStringThreshold && (s + size <= d || d + size <= s)) {
            size_t words = size / kWordSize;
            arch_copy_qwords(d, s, words);
            d += words * kWordSize;
            s += words * kWordSize;
            size -= words * kWordSize;
        }
#endif
        for (; size >= 4 * kWordSize; size -= 4 * kWordSize, d += 4 * kWordSize, s += 4 * kWordSize) {
            uint64_t w0 = load(s, 0);
            uint64_t w1 = load(s, 1);
            uint64_t w2 = load(s, 2);
            uint64_t w3 = load(s, 3);
            store(d, 0, w0);
            store(d, 1, w1);
            store(d, 2, w2);
            store(d, 3, w3);
        }
        for (; size >= kWordSize; size -= kWordSize, d += kWordSize, s += kWordSize)
            store(d, 0, load(s));
    }
    while (size--)
        *d++ = *s++;
    return dst;
}

void* mem_move(void* dst, const void* src, size_t size)
{
    auto* d = static_cast<unsigned char*>(dst);
    auto* s = static_cast<const unsigned char*>(src);
    if (d == s || size == 0)
        return dst;
    // Copying forwards is safe whenever the destination starts below the source: each word is
    // loaded before the store that could overwrite it, and stores never run ahead of loads.
    // mem_copy's loop has exactly that shape, so reuse it (its unrolled block loads all four
    // words before storing any).
    if (d < s || d >= s + size)
        return mem_copy(dst, src, size);

    // Destination above an overlapping source: copy backwards, the mirror image of mem_copy.
    d += size;
    s += size;
    if (size >= kWordThreshold) {
        for (size_t tail = misalignment(d); tail; tail--, size--)
            *--d = *--s;
        for (; size >= kWordSize; size -= kWordSize) {
            d -= kWordSize;
            s -= kWordSize;
            store(d, 0, load(s));
        }
    }
    while (size--)
        *--d = *--s;
    return dst;
}

void* mem_set(void* dst, int byte, size_t size)
{
    auto* d = static_cast<unsigned char*>(dst);
    auto b = static_cast<unsigned char>(byte);
    if (size >= kWordThreshold) {
        for (size_t head = (kWordSize - misalignment(d)) & (kWordSize - 1); head; head--, size--)
            *d++ = b;
        uint64_t pattern = kOnes * b;
#if NIMBUS_KERNEL
        if (size >= kStringThreshold) {
            size_t words = size / kWordSize;
            arch_fill_qwords(d, pattern, words);
            d += words * kWordSize;
            size -= words * kWordSize;
        }
#endif
        for (; size >= 4 * kWordSize; size -= 4 * kWordSize, d += 4 * kWordSize) {
            store(d, 0, pattern);
            store(d, 1, pattern);
            store(d, 2, pattern);
            store(d, 3, pattern);
        }
        for (; size >= kWordSize; size -= kWordSize, d += kWordSize)
            store(d, 0, pattern);
    }
    while (size--)
        *d++ = b;
    return dst;
}

int mem_compare(const void* a, const void* b, size_t size)
{
    auto* x = static_cast<const unsigned char*>(a);
    auto* y = static_cast<const unsigned char*>(b);
    // Skip equal words quickly; the byte loop then finds the first difference and its sign.
    while (size >= kWordSize && load(x) == load(y)) {
        x += kWordSize;
        y += kWordSize;
        size -= kWordSize;
    }
    for (; size; size--, x++, y++) {
        if (*x != *y)
            return *x < *y ? -1 : 1;
    }
    return 0;
}

// Reads whole aligned words, which may extend past the terminator. That cannot fault (an
// aligned word never crosses a page boundary) but AddressSanitizer would report it, so those
// reads are not instrumented.
size_t str_length(const char* s)
{
    const char* p = s;
    for (; misalignment(p); p++) {
        if (*p == '\0')
            return static_cast<size_t>(p - s);
    }
    while (!has_zero_byte(load_unchecked(p)))
        p += kWordSize;
    while (*p)
        p++;
    return static_cast<size_t>(p - s);
}

size_t str_nlength(const char* s, size_t max_size)
{
    size_t n = 0;
    while (n < max_size && s[n])
        n++;
    return n;
}

int str_compare(const char* a, const char* b)
{
    auto* x = reinterpret_cast<const unsigned char*>(a);
    auto* y = reinterpret_cast<const unsigned char*>(b);
    while (*x && *x == *y) {
        x++;
        y++;
    }
    return *x == *y ? 0 : (*x < *y ? -1 : 1);
}

int str_ncompare(const char* a, const char* b, size_t max_size)
{
    auto* x = reinterpret_cast<const unsigned char*>(a);
    auto* y = reinterpret_cast<const unsigned char*>(b);
    for (; max_size; max_size--, x++, y++) {
        if (*x != *y)
            return *x < *y ? -1 : 1;
        if (*x == '\0')
            return 0;
    }
    return 0;
}

const char* str_find_char(const char* s, char c)
{
    for (;; s++) {
        if (*s == c)
            return s;
        if (*s == '\0')
            return nullptr;
    }
}

} // namespace lib
