// SHA-256 [FIPS 180-4 §6.2], for the image cache's content keys.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace runner {

class Sha256 {
public:
    Sha256();
    void update(std::string_view data);
    std::array<uint8_t, 32> finish();  // the object must not be updated afterwards

    // Lower-case hex of the digest of `data`.
    static std::string hex(std::string_view data);
    static std::string to_hex(const std::array<uint8_t, 32>& digest);

private:
    void compress(const uint8_t* block);

    std::array<uint32_t, 8> m_state;
    uint8_t m_buffer[64];
    size_t m_buffered = 0;
    uint64_t m_length = 0;  // bytes hashed so far
};

} // namespace runner
