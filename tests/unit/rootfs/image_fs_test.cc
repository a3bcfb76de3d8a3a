// ImageFs: a root image served through the VFS — path walks with "..", symlinks, getdents
// over "." / ".." and the image's entries, reads, stat, read-only refusals, and the in-place
// pages mmap gets.
#include <fs/ops.h>
#include <fs/open_file.h>
#include <gtest/gtest.h>
#include <rootfs/image_fs.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "../imagefs/test_image.h"

namespace {

using imagefs::test::TestImage;

// The image bytes at a page-aligned address, as the boot loader leaves a module.
struct AlignedImage {
    explicit AlignedImage(const std::vector<uint8_t>& bytes)
        : size(bytes.size()), data(static_cast<uint8_t*>(std::aligned_alloc(4096, (bytes.size() + 4095) / 4096 * 4096)))
    {
        std::memcpy(data, bytes.data(), bytes.size());
    }
    ~AlignedImage() { std::free(data); }
    size_t size;
    uint8_t* data;
};

class ImageFsTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        TestImage t;
        imagefs::Ino etc = t.dir(imagefs::kRootIno, "etc");
        t.file(etc, "hosts", "127.0.0.1 localhost\n");
        imagefs::Ino lib = t.dir(imagefs::kRootIno, "lib");
        std::string big(3 * 4096 + 100, 'b');
        big[4096] = 'X';
        t.file(lib, "big.so", big, 0755);
        t.symlink(imagefs::kRootIno, "lib64", "lib");
        t.symlink(lib, "loop", "loop");
        m_image = std::make_unique<AlignedImage>(t.build());
        auto img = imagefs::Image::open(m_image->data, m_image->size, nullptr);
        ASSERT_FALSE(img.is_error());
        auto fs = rootfs::ImageFs::create(img.value(), 0x100000);
        ASSERT_FALSE(fs.is_error());
        ASSERT_FALSE(m_vfs.mount_root(fs.value(), fs::kMountReadOnly).is_error());
        m_ctx.vfs = &m_vfs;
        m_ctx.root = m_vfs.root();
        m_ctx.cwd = m_vfs.root();
    }

    std::string read_all(const char* path)
    {
        auto f = fs::open(m_ctx, path, fs::kOpenReadOnly);
        if (f.is_error())
            return "<" + std::string(lib::errno_name(f.error())) + ">";
        std::string out;
        char buf[1000];
        for (;;) {
            fs::KernelBuffer kb(buf, sizeof(buf));
            auto n = f.value()->read(kb);
            if (n.is_error() || n.value() == 0)
                break;
            out.append(buf, n.value());
        }
        return out;
    }

    std::unique_ptr<AlignedImage> m_image;
    fs::Vfs m_vfs;
    fs::PathContext m_ctx;
};

TEST_F(ImageFsTest, WalksAndReads)
{
    EXPECT_EQ(read_all("/etc/hosts"), "127.0.0.1 localhost\n");
    EXPECT_EQ(read_all("/lib/../etc/./hosts"), "127.0.0.1 localhost\n");
    EXPECT_EQ(read_all("/../../etc/hosts"), "127.0.0.1 localhost\n");
    EXPECT_EQ(read_all("/lib64/big.so").size(), 3u * 4096 + 100);
    EXPECT_EQ(read_all("/etc/nothing"), "<ENOENT>");
    EXPECT_EQ(read_all("/etc/hosts/x"), "<ENOTDIR>");
    EXPECT_EQ(read_all("/lib/loop"), "<ELOOP>");
}

TEST_F(ImageFsTest, StatReportsTheImage)
{
    auto a = fs::stat(m_ctx, "/lib/big.so");
    ASSERT_FALSE(a.is_error());
    EXPECT_EQ(a.value().mode, fs::kModeRegular | 0755);
    EXPECT_EQ(a.value().size, 3u * 4096 + 100);
    EXPECT_EQ(a.value().blocks, 4u * 8);
    auto l = fs::stat(m_ctx, "/lib64", fs::kAtSymlinkNoFollow);
    ASSERT_FALSE(l.is_error());
    EXPECT_EQ(l.value().mode & fs::kModeTypeMask, fs::kModeSymlink);
    auto d = fs::stat(m_ctx, "/lib64");
    ASSERT_FALSE(d.is_error());
    EXPECT_EQ(d.value().mode & fs::kModeTypeMask, fs::kModeDirectory);
    EXPECT_EQ(d.value().ino, fs::stat(m_ctx, "/lib").value().ino);
}

TEST_F(ImageFsTest, ListsDirectories)
{
    auto dir = fs::open(m_ctx, "/", fs::kOpenReadOnly | fs::kOpenDirectory);
    ASSERT_FALSE(dir.is_error());
    std::set<std::string> names;
    alignas(8) char buf[512];
    for (;;) {
        fs::KernelBuffer kb(buf, sizeof(buf));
        auto n = dir.value()->getdents(kb);
        ASSERT_FALSE(n.is_error());
        if (n.value() == 0)
            break;
        for (size_t at = 0; at < n.value();) {
            uint16_t reclen;
            std::memcpy(&reclen, buf + at + 16, 2);
            names.insert(buf + at + 19);
            at += reclen;
        }
    }
    EXPECT_EQ(names, (std::set<std::string> { ".", "..", "etc", "lib", "lib64" }));
}

TEST_F(ImageFsTest, RefusesChanges)
{
    EXPECT_EQ(fs::open(m_ctx, "/etc/hosts", fs::kOpenWriteOnly).error(), lib::Errno::ROFS);
    EXPECT_EQ(fs::open(m_ctx, "/new", fs::kOpenCreate | fs::kOpenWriteOnly, 0644).error(), lib::Errno::ROFS);
    EXPECT_EQ(fs::mkdir(m_ctx, "/d", 0755).error(), lib::Errno::ROFS);
    EXPECT_EQ(fs::unlink(m_ctx, "/etc/hosts").error(), lib::Errno::ROFS);
}

TEST_F(ImageFsTest, MmapGetsTheImagesOwnPages)
{
    auto f = fs::open(m_ctx, "/lib/big.so", fs::kOpenReadOnly);
    ASSERT_FALSE(f.is_error());
    auto page = f.value()->page_for_mmap(4096);
    ASSERT_FALSE(page.is_error());
    EXPECT_EQ(static_cast<const char*>(page.value().data)[0], 'X');
    EXPECT_EQ(page.value().phys, 0x100000 + uint64_t(static_cast<uint8_t*>(page.value().data) - m_image->data));
    EXPECT_EQ(page.value().phys % 4096, 0u);
    EXPECT_EQ(f.value()->page_for_mmap(4 * 4096).error(), lib::Errno::NXIO);
    EXPECT_EQ(f.value()->page_for_mmap(100).error(), lib::Errno::NXIO);
}

TEST(ImageFsAlignment, UnalignedImagesCopyInsteadOfMapping)
{
    TestImage t;
    t.file(imagefs::kRootIno, "f", std::string(5000, 'f'));
    std::vector<uint8_t> bytes = t.build();
    std::vector<uint8_t> shifted(bytes.size() + 8);
    std::memcpy(shifted.data() + 8, bytes.data(), bytes.size());
    auto img = imagefs::Image::open(shifted.data() + 8, bytes.size(), nullptr);
    ASSERT_FALSE(img.is_error());
    auto fs = rootfs::ImageFs::create(img.value(), 0x100008);
    ASSERT_FALSE(fs.is_error());
    EXPECT_EQ(fs.value()->image_phys(), rootfs::ImageFs::kNoPhys);
    auto root = fs.value()->root();
    auto file = root->lookup("f");
    ASSERT_FALSE(file.is_error());
    EXPECT_EQ(file.value()->page_for_mmap(0).error(), lib::Errno::NOTSUP);
}

} // namespace
