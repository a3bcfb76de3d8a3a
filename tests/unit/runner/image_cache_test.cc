// Unit tests of the image cache: SHA-256, what changes the key, where the cache lives.
#include "runner/image_cache.h"

#include <gtest/gtest.h>

#include "fake_host_fs.h"
#include "runner/sha256.h"

namespace runner {
namespace {

using testing::FakeHostFs;

TEST(RunnerSha256, Fips180Vectors) {
    EXPECT_EQ(Sha256::hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(Sha256::hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(Sha256::hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    Sha256 h;
    std::string chunk(1000, 'a');
    for (int i = 0; i < 1000; ++i) {
        h.update(chunk);  // one million 'a', in pieces
    }
    EXPECT_EQ(Sha256::to_hex(h.finish()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    // Every length around the padding boundaries, split anywhere, equals one update.
    for (size_t n = 50; n < 140; ++n) {
        std::string text(n, 'x');
        Sha256 parts;
        parts.update(text.substr(0, n / 3));
        parts.update(text.substr(n / 3));
        EXPECT_EQ(Sha256::to_hex(parts.finish()), Sha256::hex(text)) << n;
    }
}

class RunnerImageCache : public ::testing::Test {
protected:
    void SetUp() override {
        fs.add_file("/usr/bin/app", "program", 0755);
        fs.add_file("/usr/lib/libx.so", "library");
        fs.add_symlink("/usr/lib/libx.so.1", "libx.so");
    }

    std::string key(const std::string& manifests = "", const std::string& tag = "imagefs 1") {
        ImagePlan plan;
        EXPECT_TRUE(plan.add_host_path(fs, "/usr/bin/app"));
        EXPECT_TRUE(plan.add_host_path(fs, "/usr/lib/libx.so.1"));
        EXPECT_TRUE(plan.add_contents("/etc/passwd", passwd, 0644));
        return image_cache_key(plan, "/usr/bin/app", manifests, tag);
    }

    FakeHostFs fs;
    std::string passwd = "root:x:0:0::/:/bin/sh\n";
};

TEST_F(RunnerImageCache, KeyIsStableAndSeesEveryInput) {
    std::string base = key();
    EXPECT_EQ(base.size(), 64u);
    EXPECT_EQ(key(), base);

    EXPECT_NE(key("m.txt\n/a:/b\n"), base);
    EXPECT_NE(key("", "imagefs 2"), base);

    fs.set_mtime("/usr/lib/libx.so", 2000);  // a library upgraded in place
    EXPECT_NE(key(), base);
    fs.set_mtime("/usr/lib/libx.so", 1000);
    EXPECT_EQ(key(), base);

    fs.set_data("/usr/lib/libx.so", "library!");  // same mtime, new size
    EXPECT_NE(key(), base);
    fs.set_data("/usr/lib/libx.so", "library");

    fs.add_symlink("/usr/lib/libx.so.1", "./libx.so");  // another symlink target
    EXPECT_NE(key(), base);
    fs.add_symlink("/usr/lib/libx.so.1", "libx.so");
    EXPECT_EQ(key(), base);

    passwd += "me:x:1000:1000::/:/bin/sh\n";  // inline contents
    EXPECT_NE(key(), base);
}

TEST_F(RunnerImageCache, KeyDependsOnTheProgramPath) {
    ImagePlan plan;
    ASSERT_TRUE(plan.add_host_path(fs, "/usr/bin/app"));
    EXPECT_NE(image_cache_key(plan, "/usr/bin/app", "", "t"), image_cache_key(plan, "/usr/bin/app2", "", "t"));
    // Length prefixes: moving bytes between fields changes the key.
    EXPECT_NE(image_cache_key(plan, "/usr/bin/app", "x", ""), image_cache_key(plan, "/usr/bin/app", "", "x"));
}

TEST(RunnerImageCacheDir, Precedence) {
    EXPECT_EQ(*image_cache_dir("/c", "/x", "/h").value, "/c");
    EXPECT_EQ(*image_cache_dir("/c/", nullptr, nullptr).value, "/c");
    EXPECT_EQ(*image_cache_dir("", "/x", "/h").value, "/x/nimbus");
    EXPECT_EQ(*image_cache_dir(nullptr, "relative", "/h").value, "/h/.cache/nimbus");
    EXPECT_EQ(*image_cache_dir(nullptr, nullptr, "/home/me").value, "/home/me/.cache/nimbus");
    EXPECT_EQ(image_cache_dir("rel", nullptr, "/h").error, "NIMBUS_CACHE must be an absolute path: 'rel'");
    EXPECT_FALSE(image_cache_dir(nullptr, nullptr, nullptr));
    EXPECT_FALSE(image_cache_dir(nullptr, "", ""));
    EXPECT_EQ(cached_image_path("/c", std::string(64, 'a')), "/c/images/" + std::string(32, 'a') + ".img");
}

} // namespace
} // namespace runner
