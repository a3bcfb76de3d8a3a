// Unit tests for imagefs::crc32c against published check values and a bitwise model.
#include <imagefs/crc32c.h>

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

namespace imagefs {
namespace {

// The definition, one bit at a time (reflected, polynomial 0x82F63B78).
uint32_t bitwise_crc32c(const uint8_t* p, size_t n)
{
    uint32_t r = 0xffff'ffff;
    for (size_t i = 0; i < n; i++) {
        r ^= p[i];
        for (int b = 0; b < 8; b++)
            r = (r >> 1) ^ (0x82f6'3b78 & (0u - (r & 1)));
    }
    return ~r;
}

TEST(ImagefsCrc32c, CheckValues)
{
    EXPECT_EQ(crc32c("123456789", 9), 0xe306'9283u); // the catalogue's check value
    EXPECT_EQ(crc32c("", 0), 0u);
    // RFC 3720 (iSCSI) appendix B.4 test vectors.
    std::vector<uint8_t> zeros(32, 0), ones(32, 0xff), up(32), down(32);
    for (int i = 0; i < 32; i++) {
        up[i] = uint8_t(i);
        down[i] = uint8_t(31 - i);
    }
    EXPECT_EQ(crc32c(zeros.data(), 32), 0x8a91'36aau);
    EXPECT_EQ(crc32c(ones.data(), 32), 0x62a8'ab43u);
    EXPECT_EQ(crc32c(up.data(), 32), 0x46dd'794eu);
    EXPECT_EQ(crc32c(down.data(), 32), 0x113f'db5cu);
}

TEST(ImagefsCrc32c, MatchesTheBitwiseDefinition)
{
    std::mt19937 rng(7);
    for (size_t n = 0; n < 300; n++) {
        std::vector<uint8_t> data(n);
        for (auto& b : data)
            b = uint8_t(rng());
        EXPECT_EQ(crc32c(data.data(), n), bitwise_crc32c(data.data(), n)) << n;
    }
}

TEST(ImagefsCrc32c, PiecesChainToTheWhole)
{
    const char* text = "The quick brown fox jumps over the lazy dog";
    size_t n = std::strlen(text);
    uint32_t whole = crc32c(text, n);
    for (size_t cut = 0; cut <= n; cut++)
        EXPECT_EQ(crc32c(text + cut, n - cut, crc32c(text, cut)), whole) << cut;
}

} // namespace
} // namespace imagefs
