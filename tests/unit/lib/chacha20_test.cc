// Unit tests for ChaCha20 against the test vectors of RFC 8439 (§2.3.2, §2.4.2, appendix A.1
// and A.2), plus the streaming edge cases the entropy pool relies on.
#include <lib/chacha20.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::vector<uint8_t> from_hex(const char* hex)
{
    std::vector<uint8_t> out;
    auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    for (size_t i = 0; hex[i] && hex[i + 1]; i += 2)
        out.push_back(uint8_t(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
    return out;
}

std::string to_hex(const uint8_t* p, size_t n)
{
    static const char kDigits[] = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < n; ++i) {
        s += kDigits[p[i] >> 4];
        s += kDigits[p[i] & 15];
    }
    return s;
}

struct BlockVector {
    const char* name;
    const char* key;
    const char* nonce;
    uint32_t counter;
    const char* block;
};

// [rfc8439 §2.3.2] and the block-function vectors of appendix A.1.
const BlockVector kBlockVectors[] = {
    { "rfc8439 2.3.2", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
      "000000090000004a00000000", 1,
      "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
      "d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e" },
    { "rfc8439 A.1 #1", "0000000000000000000000000000000000000000000000000000000000000000",
      "000000000000000000000000", 0,
      "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7"
      "da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586" },
    { "rfc8439 A.1 #2", "0000000000000000000000000000000000000000000000000000000000000000",
      "000000000000000000000000", 1,
      "9f07e7be5551387a98ba977c732d080dcb0f29a048e3656912c6533e32ee7aed"
      "29b721769ce64e43d57133b074d839d531ed1f28510afb45ace10a1f4b794d6f" },
    { "rfc8439 A.1 #3", "0000000000000000000000000000000000000000000000000000000000000001",
      "000000000000000000000000", 1,
      "3aeb5224ecf849929b9d828db1ced4dd832025e8018b8160b82284f3c949aa5a"
      "8eca00bbb4a73bdad192b5c42f73f2fd4e273644c8b36125a64addeb006c13a0" },
    { "rfc8439 A.1 #4", "00ff000000000000000000000000000000000000000000000000000000000000",
      "000000000000000000000000", 2,
      "72d54dfbf12ec44b362692df94137f328fea8da73990265ec1bbbea1ae9af0ca"
      "13b25aa26cb4a648cb9b9d1be65b2c0924a66c54d545ec1b7374f4872e99f096" },
    { "rfc8439 A.1 #5", "0000000000000000000000000000000000000000000000000000000000000000",
      "000000000000000000000002", 0,
      "c2c64d378cd536374ae204b9ef933fcd1a8b2288b3dfa49672ab765b54ee27c7"
      "8a970e0e955c14f3a88e741b97c286f75f8fc299e8148362fa198a39531bed6d" },
};

TEST(ChaCha20, BlockFunctionMatchesRfcVectors)
{
    for (const BlockVector& v : kBlockVectors) {
        auto key = from_hex(v.key);
        auto nonce = from_hex(v.nonce);
        ASSERT_EQ(key.size(), lib::kChaCha20KeySize) << v.name;
        ASSERT_EQ(nonce.size(), lib::kChaCha20NonceSize) << v.name;
        uint8_t block[lib::kChaCha20BlockSize];
        lib::chacha20_block(key.data(), v.counter, nonce.data(), block);
        EXPECT_EQ(to_hex(block, sizeof(block)), v.block) << v.name;
    }
}

struct CipherVector {
    const char* name;
    const char* key;
    const char* nonce;
    uint32_t counter;
    const char* plaintext;
    const char* ciphertext;
};

// [rfc8439 §2.4.2] and the encryption vectors #2 and #3 of appendix A.2 (#1 is A.1 #1: the
// keystream over zeros).
const CipherVector kCipherVectors[] = {
    { "rfc8439 2.4.2", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
      "000000000000004a00000000", 1,
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
      "future, sunscreen would be it.",
      "6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b"
      "f91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8"
      "07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736"
      "5af90bbf74a35be6b40b8eedf2785e42874d" },
    { "rfc8439 A.2 #2", "0000000000000000000000000000000000000000000000000000000000000001",
      "000000000000000000000002", 1,
      "Any submission to the IETF intended by the Contributor for publication as all or part "
      "of an IETF Internet-Draft or RFC and any statement made within the context of an IETF "
      "activity is considered an \"IETF Contribution\". Such statements include oral "
      "statements in IETF sessions, as well as written and electronic communications made at "
      "any time or place, which are addressed to",
      "a3fbf07df3fa2fde4f376ca23e82737041605d9f4f4f57bd8cff2c1d4b7955ec"
      "2a97948bd3722915c8f3d337f7d370050e9e96d647b7c39f56e031ca5eb6250d"
      "4042e02785ececfa4b4bb5e8ead0440e20b6e8db09d881a7c6132f420e527950"
      "42bdfa7773d8a9051447b3291ce1411c680465552aa6c405b7764d5e87bea85a"
      "d00f8449ed8f72d0d662ab052691ca66424bc86d2df80ea41f43abf937d3259d"
      "c4b2d0dfb48a6c9139ddd7f76966e928e635553ba76c5c879d7b35d49eb2e62b"
      "0871cdac638939e25e8a1e0ef9d5280fa8ca328b351c3c765989cbcf3daa8b6c"
      "cc3aaf9f3979c92b3720fc88dc95ed84a1be059c6499b9fda236e7e818b04b0b"
      "c39c1e876b193bfe5569753f88128cc08aaa9b63d1a16f80ef2554d7189c411f"
      "5869ca52c5b83fa36ff216b9c1d30062bebcfd2dc5bce0911934fda79a86f6e6"
      "98ced759c3ff9b6477338f3da4f9cd8514ea9982ccafb341b2384dd902f3d1ab"
      "7ac61dd29c6f21ba5b862f3730e37cfdc4fd806c22f221" },
    { "rfc8439 A.2 #3", "1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0",
      "000000000000000000000002", 42,
      "'Twas brillig, and the slithy toves\nDid gyre and gimble in the wabe:\nAll mimsy were "
      "the borogoves,\nAnd the mome raths outgrabe.",
      "62e6347f95ed87a45ffae7426f27a1df5fb69110044c0d73118effa95b01e5cf"
      "166d3df2d721caf9b21e5fb14c616871fd84c54f9d65b283196c7fe4f60553eb"
      "f39c6402c42234e32a356b3e764312a61a5532055716ead6962568f87d3f3f77"
      "04c6a8d1bcd1bf4d50d6154b6da731b187b58dfd728afa36757a797ac188d1" },
};

TEST(ChaCha20, EncryptionMatchesRfcVectors)
{
    for (const CipherVector& v : kCipherVectors) {
        auto key = from_hex(v.key);
        auto nonce = from_hex(v.nonce);
        size_t n = std::strlen(v.plaintext);
        ASSERT_EQ(2 * n, std::strlen(v.ciphertext)) << v.name;
        std::vector<uint8_t> out(n);
        lib::chacha20_xor(key.data(), v.counter, nonce.data(), v.plaintext, out.data(), n);
        EXPECT_EQ(to_hex(out.data(), n), v.ciphertext) << v.name;

        // Decryption is the same operation, here in place.
        lib::chacha20_xor(key.data(), v.counter, nonce.data(), out.data(), out.data(), n);
        EXPECT_EQ(std::string(reinterpret_cast<const char*>(out.data()), n), v.plaintext) << v.name;
    }
}

TEST(ChaCha20, KeystreamIsConsecutiveBlocksForEveryLength)
{
    // A.1 #1 and #2 are blocks 0 and 1 of the all-zero key and nonce: any prefix of the
    // keystream from counter 0 must be a prefix of their concatenation, whole blocks or not.
    std::string expected = std::string(kBlockVectors[1].block) + kBlockVectors[2].block;
    uint8_t key[lib::kChaCha20KeySize] = {};
    uint8_t nonce[lib::kChaCha20NonceSize] = {};
    for (size_t n = 0; n <= 128; ++n) {
        std::vector<uint8_t> out(n + 1, 0xAA);
        lib::chacha20_keystream(key, 0, nonce, out.data(), n);
        EXPECT_EQ(to_hex(out.data(), n), expected.substr(0, 2 * n)) << "length " << n;
        EXPECT_EQ(out[n], 0xAA) << "wrote past the end at length " << n;
    }
}

TEST(ChaCha20, KeystreamEqualsXorOverZeros)
{
    auto key = from_hex(kCipherVectors[2].key);
    auto nonce = from_hex(kCipherVectors[2].nonce);
    std::vector<uint8_t> zeros(1000), a(1000), b(1000);
    lib::chacha20_keystream(key.data(), 7, nonce.data(), a.data(), a.size());
    lib::chacha20_xor(key.data(), 7, nonce.data(), zeros.data(), b.data(), b.size());
    EXPECT_EQ(a, b);
}

TEST(ChaCha20, SecureZeroClearsEveryByte)
{
    uint8_t buf[37];
    std::memset(buf, 0x5A, sizeof(buf));
    lib::secure_zero(buf + 1, 35);
    EXPECT_EQ(buf[0], 0x5A);
    for (size_t i = 1; i < 36; ++i)
        EXPECT_EQ(buf[i], 0) << i;
    EXPECT_EQ(buf[36], 0x5A);
}

} // namespace
