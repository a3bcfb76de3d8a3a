// CRC32C, table-driven one byte at a time. Metadata is small (kilobytes to a few megabytes
// for a large image), so the 1 KiB table is enough; the SSE4.2 crc32 instruction would be
// the next step if mounting ever shows up in a boot profile.
#include <imagefs/crc32c.h>

namespace imagefs {
namespace {

constexpr uint32_t kPolynomial = 0x82f6'3b78; // 0x1EDC6F41 bit-reversed

struct Table {
    uint32_t entry[256];
};

// entry[b] is the CRC register after shifting the byte b through it (reflected form: the
// low bit is the highest power of x).
constexpr Table make_table()
{
    Table t{};
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t r = b;
        for (int bit = 0; bit < 8; bit++)
            r = (r & 1) ? (r >> 1) ^ kPolynomial : r >> 1;
        t.entry[b] = r;
    }
    return t;
}

constexpr Table kTable = make_table();

} // namespace

uint32_t crc32c(const void* data, size_t size, uint32_t crc)
{
    const auto* p = static_cast<const uint8_t*>(data);
    uint32_t r = ~crc;
    for (size_t i = 0; i < size; i++)
        r = (r >> 8) ^ kTable.entry[(r ^ p[i]) & 0xff];
    return ~r;
}

} // namespace imagefs
