// CRC32C (Castagnoli): the checksum of imagefs headers and metadata.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace imagefs {

// CRC32C of `size` bytes at `data` (reflected polynomial 0x82F63B78, initial value and final
// xor 0xFFFFFFFF; crc32c("123456789") == 0xE3069283). To checksum data in pieces, pass the
// previous result as `crc`: crc32c(b, nb, crc32c(a, na)) == crc32c of a followed by b.
uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);

} // namespace imagefs
