// Unit tests for image::Builder, check_image and list_image: paths and replacement rules,
// errors, hard links, host files (including a sparse 5 GiB one), determinism, and images
// read back through the kernel's reader.
#include "image/builder.h"

#include <imagefs/format.h>
#include <imagefs/image.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace image {
namespace {

namespace fs = std::filesystem;

std::string read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_file(const std::string& path, const std::string& contents)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << contents;
}

bool contains(const std::string& haystack, const std::string& needle)
{
    return haystack.find(needle) != std::string::npos;
}

class BuilderTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        std::string tmpl = (fs::temp_directory_path() / "imagefs-test-XXXXXX").string();
        ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
        m_dir = tmpl;
    }
    void TearDown() override { fs::remove_all(m_dir); }

    std::string path(const std::string& name) const { return (fs::path(m_dir) / name).string(); }

    // Writes the builder's image and returns its path (failing the test on error).
    std::string write(Builder& b, const std::string& name = "image.img")
    {
        std::string out = path(name);
        Error e = b.write(out);
        EXPECT_TRUE(e.ok()) << e.message;
        return out;
    }

    // The image's bytes, kept alive with the reader that points into them.
    struct Loaded {
        std::string bytes;
        std::optional<imagefs::Image> image;
        imagefs::Ino resolve(const std::string& p) const
        {
            imagefs::Ino ino = image->root();
            std::stringstream ss(p);
            std::string c;
            while (std::getline(ss, c, '/')) {
                if (c.empty())
                    continue;
                auto r = image->lookup(ino, lib::StringView(c.data(), c.size()));
                EXPECT_FALSE(r.is_error()) << p;
                if (r.is_error())
                    return 0;
                ino = r.value();
            }
            return ino;
        }
        std::string contents(const std::string& p) const
        {
            imagefs::FileData d = image->file_data(resolve(p));
            return std::string(reinterpret_cast<const char*>(d.data), d.size);
        }
    };

    void load(const std::string& image_path, Loaded& out)
    {
        out.bytes = read_file(image_path);
        imagefs::ErrorReport why;
        auto r = imagefs::Image::open(out.bytes.data(), out.bytes.size(), &why);
        ASSERT_FALSE(r.is_error()) << why.message;
        out.image = r.release_value();
    }

    std::string m_dir;
};

TEST_F(BuilderTest, EmptyImage)
{
    Builder b;
    std::string img = write(b);
    EXPECT_EQ(fs::file_size(img), imagefs::kPageSize);
    EXPECT_EQ(check_image(img), "");
    EXPECT_EQ(list_image(img), "/ dir 0755 0:0 0\n");
    EXPECT_EQ(b.file_count(), 0u);
    EXPECT_EQ(b.data_bytes(), 0u);
}

TEST_F(BuilderTest, TreeListsInNameOrder)
{
    Builder b;
    ASSERT_TRUE(b.add_file_contents("/usr/bin/python3", "#!", {0755, 0, 0, 0, 0}).ok());
    ASSERT_TRUE(b.add_directory("/etc", {0750, 1, 2, 0, 0}).ok());
    ASSERT_TRUE(b.add_file_contents("/etc/hostname", "nimbus\n", {0644, 1000, 1000, 0, 0}).ok());
    ASSERT_TRUE(b.add_symlink("/lib64", "usr/lib64").ok());
    ASSERT_TRUE(b.add_directory("/tmp", {01777}).ok());
    ASSERT_TRUE(b.add_file_contents("/etc/empty", "", {}).ok());
    std::string img = write(b);
    EXPECT_EQ(check_image(img), "");
    EXPECT_EQ(list_image(img),
              "/ dir 0755 0:0 4\n"
              "/etc dir 0750 1:2 2\n"
              "/etc/empty file 0644 0:0 0\n"
              "/etc/hostname file 0644 1000:1000 7\n"
              "/lib64 symlink 0777 0:0 9 -> usr/lib64\n"
              "/tmp dir 1777 0:0 0\n"
              "/usr dir 0755 0:0 1\n"
              "/usr/bin dir 0755 0:0 1\n"
              "/usr/bin/python3 file 0755 0:0 2\n");
    EXPECT_EQ(b.file_count(), 3u);
    EXPECT_EQ(b.data_bytes(), 9u);

    Loaded l;
    load(img, l);
    EXPECT_EQ(l.contents("/etc/hostname"), "nimbus\n");
    EXPECT_EQ(l.contents("/usr/bin/python3"), "#!");
    EXPECT_EQ(l.image->inode(l.resolve("/usr")).nlink, 3u);
    EXPECT_EQ(l.image->inode(l.image->root()).nlink, 5u);
}

TEST_F(BuilderTest, PathsAreNormalisedOrRejected)
{
    Builder b;
    EXPECT_TRUE(b.add_file_contents("//a///b/", "x", {}).ok());
    EXPECT_TRUE(b.add_directory("/").ok());
    EXPECT_TRUE(contains(b.add_directory("relative").message, "not an absolute guest path"));
    EXPECT_TRUE(contains(b.add_directory("").message, "not an absolute guest path"));
    EXPECT_TRUE(contains(b.add_directory("/a/./c").message, "\".\" and \"..\" are not allowed"));
    EXPECT_TRUE(contains(b.add_directory("/a/../c").message, "\".\" and \"..\" are not allowed"));
    EXPECT_TRUE(contains(b.add_directory("/" + std::string(256, 'n')).message, "longer than 255"));
    EXPECT_TRUE(b.add_directory("/" + std::string(255, 'n')).ok());
    EXPECT_TRUE(contains(b.add_directory(std::string("/a\0b", 4)).message, "NUL"));
    EXPECT_TRUE(contains(b.add_file_contents("/", "x", {}).message, "the root is a directory"));
    std::string img = write(b);
    Loaded l;
    load(img, l);
    EXPECT_EQ(l.contents("/a/b"), "x");
}

TEST_F(BuilderTest, RootMetadataCanBeSet)
{
    Builder b;
    ASSERT_TRUE(b.add_directory("/", {0700, 5, 6, 77, 8}).ok());
    std::string img = write(b);
    Loaded l;
    load(img, l);
    imagefs::InodeInfo root = l.image->inode(l.image->root());
    EXPECT_EQ(root.permissions(), 0700u);
    EXPECT_EQ(root.uid, 5u);
    EXPECT_EQ(root.gid, 6u);
    EXPECT_EQ(root.mtime_sec, 77);
    EXPECT_EQ(root.mtime_nsec, 8u);
}

TEST_F(BuilderTest, MetadataIsValidated)
{
    Builder b;
    EXPECT_TRUE(contains(b.add_file_contents("/f", "", {0100644}).message, "mode 0100644 has bits outside 07777"));
    EXPECT_TRUE(contains(b.add_directory("/d", {0755, 0, 0, 0, 1'000'000'000}).message, "nanoseconds"));
    EXPECT_TRUE(contains(b.add_file_from_host("/h", "", {}).message, "empty host path"));
}

TEST_F(BuilderTest, AttributesRoundTrip)
{
    Builder b;
    ASSERT_TRUE(b.add_file_contents("/f", "x", {04755, 1000, 100, -5, 999'999'999}).ok());
    ASSERT_TRUE(b.add_directory("/d", {0711, 3, 4, 1'700'000'000, 1}).ok());
    std::string img = write(b);
    Loaded l;
    load(img, l);
    imagefs::InodeInfo f = l.image->inode(l.resolve("/f"));
    EXPECT_EQ(f.mode, imagefs::kModeRegular | 04755);
    EXPECT_EQ(f.uid, 1000u);
    EXPECT_EQ(f.gid, 100u);
    EXPECT_EQ(f.mtime_sec, -5);
    EXPECT_EQ(f.mtime_nsec, 999'999'999u);
    imagefs::InodeInfo d = l.image->inode(l.resolve("/d"));
    EXPECT_EQ(d.mode, imagefs::kModeDirectory | 0711);
    EXPECT_EQ(d.mtime_sec, 1'700'000'000);
}

TEST_F(BuilderTest, SamePathTwice)
{
    Builder b;
    ASSERT_TRUE(b.add_file_contents("/f", "first", {}).ok());
    ASSERT_TRUE(b.add_file_contents("/f", "second", {0600}).ok());
    ASSERT_TRUE(b.add_symlink("/s", "one").ok());
    ASSERT_TRUE(b.add_symlink("/s", "two").ok());
    ASSERT_TRUE(b.add_file_contents("/d/inner", "i", {}).ok());
    ASSERT_TRUE(b.add_directory("/d", {0700}).ok()); // merges, keeps /d/inner
    EXPECT_TRUE(contains(b.add_directory("/f").message, "/f exists as a file, cannot add a directory"));
    EXPECT_TRUE(contains(b.add_file_contents("/d", "", {}).message, "/d exists as a directory, cannot add a file"));
    EXPECT_TRUE(contains(b.add_symlink("/f", "x").message, "/f exists as a file, cannot add a symlink"));
    EXPECT_TRUE(contains(b.add_file_contents("/s", "", {}).message, "/s exists as a symlink, cannot add a file"));
    std::string img = write(b);
    EXPECT_EQ(list_image(img),
              "/ dir 0755 0:0 3\n"
              "/d dir 0700 0:0 1\n"
              "/d/inner file 0644 0:0 1\n"
              "/f file 0600 0:0 6\n"
              "/s symlink 0777 0:0 3 -> two\n");
}

TEST_F(BuilderTest, NonDirectoryParentIsAnErrorAndChangesNothing)
{
    Builder b;
    ASSERT_TRUE(b.add_file_contents("/a/file", "x", {}).ok());
    ASSERT_TRUE(b.add_symlink("/a/link", "/a").ok());
    EXPECT_TRUE(contains(b.add_file_contents("/a/file/x/y", "", {}).message, "/a/file is not a directory"));
    EXPECT_TRUE(contains(b.add_directory("/a/link/sub").message, "/a/link is not a directory"));
    // Failing calls create no parents.
    EXPECT_FALSE(b.add_file_contents("/new/f", "", {0100000}).ok());
    EXPECT_FALSE(b.add_symlink("/new2/s", "").ok());
    EXPECT_FALSE(b.add_hard_link("/new3/h", "/missing").ok());
    std::string img = write(b);
    EXPECT_EQ(list_image(img),
              "/ dir 0755 0:0 1\n"
              "/a dir 0755 0:0 2\n"
              "/a/file file 0644 0:0 1\n"
              "/a/link symlink 0777 0:0 2 -> /a\n");
}

TEST_F(BuilderTest, SymlinkTargets)
{
    Builder b;
    EXPECT_TRUE(contains(b.add_symlink("/s", "").message, "target length 0"));
    EXPECT_TRUE(contains(b.add_symlink("/s", std::string(4096, 't')).message, "target length 4096"));
    EXPECT_TRUE(contains(b.add_symlink("/s", std::string("a\0b", 3)).message, "NUL"));
    ASSERT_TRUE(b.add_symlink("/long", std::string(4095, 't')).ok());
    ASSERT_TRUE(b.add_symlink("/dangling", "/no/such/file").ok());
    std::string img = write(b);
    Loaded l;
    load(img, l);
    lib::StringView t = l.image->read_link(l.resolve("/long"));
    EXPECT_EQ(std::string(t.data(), t.size()), std::string(4095, 't'));
}

TEST_F(BuilderTest, HardLinks)
{
    Builder b;
    ASSERT_TRUE(b.add_file_contents("/bin/busybox", "BB", {0755}).ok());
    ASSERT_TRUE(b.add_hard_link("/bin/sh", "/bin/busybox").ok());
    ASSERT_TRUE(b.add_hard_link("/usr/bin/ls", "//bin/busybox").ok());
    ASSERT_TRUE(b.add_symlink("/s", "target").ok());
    ASSERT_TRUE(b.add_hard_link("/s2", "/s").ok());
    ASSERT_TRUE(b.add_file_contents("/other", "o", {}).ok());
    ASSERT_TRUE(b.add_hard_link("/other", "/bin/busybox").ok()); // replaces the file entry
    ASSERT_TRUE(b.add_hard_link("/bin/busybox", "/bin/busybox").ok()); // no-op
    EXPECT_TRUE(contains(b.add_hard_link("/d", "/bin").message, "is a directory"));
    EXPECT_TRUE(contains(b.add_hard_link("/d", "/nothing").message, "does not exist"));
    EXPECT_TRUE(contains(b.add_hard_link("/bin", "/other").message, "/bin exists as a directory"));
    EXPECT_TRUE(contains(b.add_hard_link("/s", "/other").message, "/s exists as a symlink, cannot add a file"));
    EXPECT_EQ(b.file_count(), 1u);
    EXPECT_EQ(b.data_bytes(), 2u);
    std::string img = write(b);
    EXPECT_EQ(list_image(img),
              "/ dir 0755 0:0 5\n"
              "/bin dir 0755 0:0 2\n"
              "/bin/busybox file 0755 0:0 2 links=4\n"
              "/bin/sh file 0755 0:0 2 links=4\n"
              "/other file 0755 0:0 2 links=4\n"
              "/s symlink 0777 0:0 6 -> target links=2\n"
              "/s2 symlink 0777 0:0 6 -> target links=2\n"
              "/usr dir 0755 0:0 1\n"
              "/usr/bin dir 0755 0:0 1\n"
              "/usr/bin/ls file 0755 0:0 2 links=4\n");
    Loaded l;
    load(img, l);
    EXPECT_EQ(l.resolve("/bin/sh"), l.resolve("/usr/bin/ls"));
    EXPECT_EQ(l.resolve("/bin/sh"), l.resolve("/other"));
    EXPECT_EQ(l.contents("/usr/bin/ls"), "BB");
}

TEST_F(BuilderTest, ReplacingAFileBreaksItsHardLink)
{
    Builder b;
    ASSERT_TRUE(b.add_file_contents("/a", "old", {}).ok());
    ASSERT_TRUE(b.add_hard_link("/b", "/a").ok());
    ASSERT_TRUE(b.add_file_contents("/a", "new", {}).ok());
    std::string img = write(b);
    Loaded l;
    load(img, l);
    EXPECT_EQ(l.contents("/a"), "new");
    EXPECT_EQ(l.contents("/b"), "old");
    EXPECT_EQ(l.image->inode(l.resolve("/b")).nlink, 1u);
}

TEST_F(BuilderTest, FilesFromTheHostAreReadAtWriteTime)
{
    Builder b;
    std::string host = path("host.txt");
    ASSERT_TRUE(b.add_file_from_host("/etc/motd", host, {0444}).ok()); // does not exist yet
    std::string big(3 * imagefs::kPageSize + 17, '\0');
    for (size_t i = 0; i < big.size(); i++)
        big[i] = char(i * 7);
    write_file(host, big);
    EXPECT_EQ(b.data_bytes(), big.size());
    std::string img = write(b);
    Loaded l;
    load(img, l);
    EXPECT_EQ(l.contents("/etc/motd"), big);
    // The tail of the last page is zero-filled.
    imagefs::Ino ino = l.resolve("/etc/motd");
    uint64_t end = l.image->data_offset(ino) + big.size();
    for (uint64_t i = end; i % imagefs::kPageSize != 0; i++)
        ASSERT_EQ(l.bytes[i], '\0') << i;
}

TEST_F(BuilderTest, MissingHostFileFailsTheWrite)
{
    Builder b;
    ASSERT_TRUE(b.add_file_from_host("/x", path("missing"), {}).ok());
    std::string out = path("out.img");
    Error e = b.write(out);
    EXPECT_TRUE(contains(e.message, "cannot read host file " + path("missing"))) << e.message;
    EXPECT_FALSE(fs::exists(out));
    EXPECT_FALSE(fs::exists(out + ".tmp"));
}

TEST_F(BuilderTest, HostDirectoryIsNotAFile)
{
    Builder b;
    ASSERT_TRUE(b.add_file_from_host("/x", m_dir, {}).ok());
    EXPECT_TRUE(contains(b.write(path("out.img")).message, "is not a regular file"));
}

TEST_F(BuilderTest, UnwritableOutput)
{
    Builder b;
    EXPECT_TRUE(contains(b.write(path("no/such/dir/out.img")).message, "cannot create"));
}

TEST_F(BuilderTest, OverwritesAnExistingImage)
{
    Builder b;
    std::string out = path("out.img");
    write_file(out, std::string(100000, 'x'));
    ASSERT_TRUE(b.write(out).ok());
    EXPECT_EQ(fs::file_size(out), imagefs::kPageSize);
    EXPECT_EQ(check_image(out), "");
}

TEST_F(BuilderTest, DeterministicRegardlessOfInsertionOrder)
{
    std::string host = path("host.bin");
    write_file(host, std::string(10000, 'h'));
    auto fill = [&](Builder& b, bool reverse) {
        std::vector<std::function<void()>> steps = {
            [&] { ASSERT_TRUE(b.add_file_contents("/a/b/c", "abc", {0600, 1, 2, 3, 4}).ok()); },
            [&] { ASSERT_TRUE(b.add_file_from_host("/z/host", host, {}).ok()); },
            [&] { ASSERT_TRUE(b.add_symlink("/lnk", "a/b/c").ok()); },
            [&] { ASSERT_TRUE(b.add_directory("/empty", {0700}).ok()); },
            [&] { ASSERT_TRUE(b.add_file_contents("/m/\xc3\xa9t\xc3\xa9", "", {}).ok()); },
        };
        if (reverse)
            std::reverse(steps.begin(), steps.end());
        for (auto& s : steps)
            s();
        ASSERT_TRUE(b.add_hard_link("/z/again", "/a/b/c").ok());
    };
    Builder one, two;
    fill(one, false);
    fill(two, true);
    std::string a = write(one, "one.img");
    std::string b = write(two, "two.img");
    EXPECT_EQ(check_image(a), "");
    EXPECT_EQ(read_file(a), read_file(b));
}

TEST_F(BuilderTest, ListingEscapesControlBytes)
{
    Builder b;
    ASSERT_TRUE(b.add_file_contents("/a\nb\\c\xc3\xa9", "", {}).ok());
    ASSERT_TRUE(b.add_symlink("/l", "x\ty").ok());
    std::string img = write(b);
    EXPECT_EQ(list_image(img),
              "/ dir 0755 0:0 2\n"
              "/a\\x0ab\\x5cc\xc3\xa9 file 0644 0:0 0\n"
              "/l symlink 0777 0:0 3 -> x\\x09y\n");
}

TEST_F(BuilderTest, DeepTree)
{
    Builder b;
    std::string p;
    for (int i = 0; i < 300; i++)
        p += "/d" + std::to_string(i);
    ASSERT_TRUE(b.add_file_contents(p + "/leaf", "deep", {}).ok());
    std::string img = write(b);
    Loaded l;
    load(img, l);
    EXPECT_EQ(l.contents(p + "/leaf"), "deep");
    std::string listing = list_image(img);
    EXPECT_TRUE(contains(listing, p + "/leaf file 0644 0:0 4\n"));
    EXPECT_EQ(std::count(listing.begin(), listing.end(), '\n'), 302);
}

TEST_F(BuilderTest, ManyFilesEachOnItsOwnPage)
{
    Builder b;
    for (int i = 0; i < 200; i++)
        ASSERT_TRUE(b.add_file_contents("/dir" + std::to_string(i % 5) + "/f" + std::to_string(i),
                                        std::string(size_t(i) * 37, char('a' + i % 26)), {})
                        .ok());
    std::string img = write(b);
    Loaded l;
    load(img, l);
    for (int i = 0; i < 200; i++) {
        std::string p = "/dir" + std::to_string(i % 5) + "/f" + std::to_string(i);
        imagefs::Ino ino = l.resolve(p);
        EXPECT_EQ(l.image->data_offset(ino) % imagefs::kPageSize, 0u);
        EXPECT_EQ(l.contents(p), std::string(size_t(i) * 37, char('a' + i % 26)));
    }
    EXPECT_EQ(b.file_count(), 200u);
}

TEST_F(BuilderTest, LargeSparseHostFile)
{
    // 5 GiB with a few bytes of data: offsets past 4 GiB, holes copied as holes.
    std::string host = path("sparse.bin");
    const uint64_t size = (uint64_t(5) << 30) + 123;
    int fd = ::open(host.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, off_t(size)), 0);
    ASSERT_EQ(pwrite(fd, "start", 5, 0), 5);
    ASSERT_EQ(pwrite(fd, "middle", 6, off_t(uint64_t(1) << 32)), 6);
    ASSERT_EQ(pwrite(fd, "end", 3, off_t(size - 3)), 3);
    close(fd);
    struct stat st;
    ASSERT_EQ(stat(host.c_str(), &st), 0);
    if (uint64_t(st.st_blocks) * 512 > (uint64_t(64) << 20))
        GTEST_SKIP() << "the temporary directory's file system does not keep holes";

    Builder b;
    ASSERT_TRUE(b.add_file_contents("/small", "s", {}).ok());
    ASSERT_TRUE(b.add_file_from_host("/big", host, {}).ok());
    ASSERT_TRUE(b.add_file_contents("/zz", "after", {}).ok());
    EXPECT_EQ(b.data_bytes(), size + 6);
    std::string img = write(b);
    EXPECT_EQ(check_image(img), "");
    ASSERT_EQ(stat(img.c_str(), &st), 0);
    EXPECT_LT(uint64_t(st.st_blocks) * 512, uint64_t(64) << 20) << "the output lost its holes";

    // Read the few interesting bytes with pread rather than loading 5 GiB.
    fd = ::open(img.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    std::string head(imagefs::kPageSize, '\0');
    ASSERT_EQ(pread(fd, head.data(), head.size(), 0), ssize_t(head.size()));
    const auto* h = reinterpret_cast<const imagefs::DiskHeader*>(head.data());
    const auto* inodes = reinterpret_cast<const imagefs::DiskInode*>(head.data() + h->inode_offset);
    const imagefs::DiskInode* big = nullptr;
    for (uint32_t i = 1; i < h->inode_count; i++) {
        if (inodes[i].size == size)
            big = &inodes[i];
    }
    ASSERT_NE(big, nullptr);
    EXPECT_EQ(big->offset % imagefs::kPageSize, 0u);
    char buf[8] = {};
    ASSERT_EQ(pread(fd, buf, 5, off_t(big->offset)), 5);
    EXPECT_EQ(std::string(buf, 5), "start");
    ASSERT_EQ(pread(fd, buf, 6, off_t(big->offset + (uint64_t(1) << 32))), 6);
    EXPECT_EQ(std::string(buf, 6), "middle");
    ASSERT_EQ(pread(fd, buf, 3, off_t(big->offset + size - 3)), 3);
    EXPECT_EQ(std::string(buf, 3), "end");
    ASSERT_EQ(pread(fd, buf, 1, off_t(big->offset + (uint64_t(3) << 30))), 1);
    EXPECT_EQ(buf[0], '\0');
    close(fd);
    EXPECT_TRUE(contains(list_image(img), "/big file 0644 0:0 5368709243\n"));
}

TEST_F(BuilderTest, CheckImageReportsDefects)
{
    EXPECT_TRUE(contains(check_image(path("missing.img")), "cannot open"));
    write_file(path("empty.img"), "");
    EXPECT_TRUE(contains(check_image(path("empty.img")), "smaller than the 80-byte header"));
    write_file(path("junk.img"), std::string(8192, 'j'));
    EXPECT_TRUE(contains(check_image(path("junk.img")), "bad magic"));

    Builder b;
    ASSERT_TRUE(b.add_file_contents("/f", "data", {}).ok());
    std::string img = write(b);
    std::string bytes = read_file(img);
    bytes[sizeof(imagefs::DiskHeader) + 3] ^= 1; // inside the inode table
    write_file(path("bad.img"), bytes);
    EXPECT_TRUE(contains(check_image(path("bad.img")), "metadata: checksum"));
    EXPECT_TRUE(contains(list_image(path("bad.img")), "error: metadata: checksum"));
    // File data is not checksummed: changing it keeps the image valid.
    bytes = read_file(img);
    bytes[bytes.size() - imagefs::kPageSize] ^= 1;
    write_file(path("data.img"), bytes);
    EXPECT_EQ(check_image(path("data.img")), "");
    // A truncated image.
    bytes = read_file(img);
    write_file(path("short.img"), bytes.substr(0, bytes.size() - 1));
    EXPECT_TRUE(contains(check_image(path("short.img")), "truncated"));
}

} // namespace
} // namespace image
