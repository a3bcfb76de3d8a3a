// Unit tests for the device nodes and devfs: null, zero, full, random/urandom (a fake
// entropy source), the console (a fake backend), device nodes in other filesystems, and the
// registry.
#include "fs_test_support.h"

#include <fs/devfs/devfs.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace {

using fs_test::Namespace;

class CountingEntropy final : public fs::devfs::EntropySource {
public:
    Result<void> fill(void* dst, size_t n) override
    {
        if (fail)
            return Errno::IO;
        auto* p = static_cast<uint8_t*>(dst);
        for (size_t i = 0; i < n; i++)
            p[i] = uint8_t(next++);
        return {};
    }
    unsigned next = 1;
    bool fail = false;
};

class FakeConsole final : public fs::devfs::ConsoleBackend {
public:
    Result<size_t> write(const void* data, size_t n) override
    {
        size_t take = n < max_write ? n : max_write; // a backend that takes a few bytes at a time
        output.append(static_cast<const char*>(data), take);
        return take;
    }
    Result<size_t> read(void* dst, size_t n, bool nonblocking) override
    {
        last_nonblocking = nonblocking;
        if (input.empty())
            return Errno::AGAIN;
        size_t take = n < input.size() ? n : input.size();
        std::memcpy(dst, input.data(), take);
        input.erase(0, take);
        return take;
    }
    Result<long> ioctl(unsigned cmd, uint64_t) override
    {
        if (cmd == 0x5401) // TCGETS: "yes, a terminal"
            return 0L;
        return Errno::NOTTY;
    }
    std::string output;
    std::string input;
    size_t max_write = 7;
    bool last_nonblocking = false;
};

class DevfsTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_OK(fs::mkdir(ns.ctx, "/dev", 0755));
        fs::devfs::Config config;
        config.entropy = &entropy;
        config.console = &console;
        devfs = MUST(fs::devfs::create(ns.vfs, ns.pages, config));
        ASSERT_OK(ns.vfs.mount(ns.ctx, "/dev", devfs));
    }
    void TearDown() override { devfs.reset(); }

    Result<std::string> read_dev(const char* path, size_t n, unsigned flags = fs::kOpenReadOnly)
    {
        auto f = TRY(fs::open(ns.ctx, path, flags));
        std::string out(n, 'X');
        fs::KernelBuffer buf(static_cast<void*>(out.data()), n);
        size_t got = TRY(f->read(buf));
        out.resize(got);
        return out;
    }
    Result<size_t> write_dev(const char* path, const std::string& data)
    {
        auto f = TRY(fs::open(ns.ctx, path, fs::kOpenWriteOnly));
        fs::KernelBuffer buf(static_cast<const void*>(data.data()), data.size());
        return f->write(buf);
    }

    CountingEntropy entropy;
    FakeConsole console;
    Namespace ns;
    Ref<fs::FileSystem> devfs;
};

TEST_F(DevfsTest, NodesHaveLinuxNumbersAndModes)
{
    struct {
        const char* path;
        uint32_t major, minor, perm;
    } expected[] = {{"/dev/null", 1, 3, 0666},   {"/dev/zero", 1, 5, 0666},   {"/dev/full", 1, 7, 0666},
                    {"/dev/random", 1, 8, 0666}, {"/dev/urandom", 1, 9, 0666}, {"/dev/tty", 5, 0, 0666},
                    {"/dev/console", 5, 1, 0600}};
    for (auto& e : expected) {
        fs::Attr a = MUST(ns.stat(e.path));
        EXPECT_EQ(a.mode, fs::kModeCharDevice | e.perm) << e.path;
        EXPECT_EQ(fs::dev_major(a.rdev), e.major) << e.path;
        EXPECT_EQ(fs::dev_minor(a.rdev), e.minor) << e.path;
    }
}

TEST_F(DevfsTest, NullZeroFull)
{
    EXPECT_EQ(MUST(read_dev("/dev/null", 10)), "");
    EXPECT_EQ(MUST(write_dev("/dev/null", "gone")), 4u);
    EXPECT_EQ(MUST(read_dev("/dev/zero", 5000)), std::string(5000, '\0'));
    EXPECT_EQ(MUST(write_dev("/dev/zero", "gone")), 4u);
    EXPECT_EQ(MUST(read_dev("/dev/full", 3)), std::string(3, '\0'));
    EXPECT_ERRNO(write_dev("/dev/full", "x"), Errno::NOSPC);
    EXPECT_EQ(MUST(write_dev("/dev/full", "")), 0u);
    // Seeking a device is harmless; pread works on /dev/zero.
    auto zero = MUST(fs::open(ns.ctx, "/dev/zero", fs::kOpenReadWrite));
    EXPECT_EQ(MUST(zero->seek(100, fs::kSeekSet)), 0u);
    char c = 'X';
    fs::KernelBuffer buf(static_cast<void*>(&c), 1);
    EXPECT_EQ(MUST(zero->pread(12345, buf)), 1u);
    EXPECT_EQ(c, '\0');
    EXPECT_ERRNO(zero->truncate(0), Errno::INVAL);
    EXPECT_ERRNO(zero->page_for_mmap(0), Errno::NODEV);
    EXPECT_ERRNO(zero->ioctl(0x5401, 0), Errno::NOTTY);
    // A fault in the application buffer.
    fs::KernelBuffer ro(static_cast<const void*>(&c), 1);
    EXPECT_ERRNO(zero->read(ro), Errno::FAULT);
}

TEST_F(DevfsTest, RandomUsesTheEntropySource)
{
    std::string bytes = MUST(read_dev("/dev/urandom", 300)); // more than one internal chunk
    ASSERT_EQ(bytes.size(), 300u);
    for (size_t i = 0; i < bytes.size(); i++)
        EXPECT_EQ(uint8_t(bytes[i]), uint8_t(i + 1));
    EXPECT_EQ(MUST(read_dev("/dev/random", 2)).size(), 2u);
    EXPECT_EQ(MUST(write_dev("/dev/random", "seed")), 4u);
    entropy.fail = true;
    EXPECT_ERRNO(read_dev("/dev/urandom", 4), Errno::IO);
}

TEST_F(DevfsTest, ConsoleReadsWritesAndIoctls)
{
    std::string text(600, 'w');
    EXPECT_EQ(MUST(write_dev("/dev/console", text)), 600u); // the backend took it 7 at a time
    EXPECT_EQ(console.output, text);
    console.input = "line\nmore";
    EXPECT_EQ(MUST(read_dev("/dev/tty", 5)), "line\n");
    EXPECT_FALSE(console.last_nonblocking);
    EXPECT_EQ(MUST(read_dev("/dev/tty", 100, fs::kOpenReadOnly | fs::kOpenNonBlock)), "more");
    EXPECT_TRUE(console.last_nonblocking);
    EXPECT_ERRNO(read_dev("/dev/tty", 100, fs::kOpenReadOnly | fs::kOpenNonBlock), Errno::AGAIN);
    auto tty = MUST(fs::open(ns.ctx, "/dev/tty", fs::kOpenReadWrite));
    EXPECT_EQ(MUST(tty->ioctl(0x5401, 0)), 0L);
    EXPECT_ERRNO(tty->ioctl(0x1234, 0), Errno::NOTTY);
    EXPECT_EQ(tty->poll_events() & (fs::kPollIn | fs::kPollOut), fs::kPollIn | fs::kPollOut);
}

TEST_F(DevfsTest, DeviceNodesWorkInAnyFilesystem)
{
    // A node made in the root ramfs reaches the same driver; one with an unknown number
    // cannot be opened; block devices are not supported.
    ASSERT_OK(fs::mknod(ns.ctx, "/mynull", fs::kModeCharDevice | 0666, fs::devfs::kNullDevice));
    EXPECT_EQ(MUST(write_dev("/mynull", "abc")), 3u);
    ASSERT_OK(fs::mknod(ns.ctx, "/nodriver", fs::kModeCharDevice | 0666, fs::make_dev(99, 1)));
    EXPECT_ERRNO(read_dev("/nodriver", 1), Errno::NXIO);
    ASSERT_OK(fs::mknod(ns.ctx, "/blk", fs::kModeBlockDevice | 0666, fs::make_dev(8, 0)));
    EXPECT_ERRNO(read_dev("/blk", 1), Errno::NXIO);
    // O_PATH on a node with no driver is fine (no device is opened).
    EXPECT_OK(fs::open(ns.ctx, "/nodriver", fs::kOpenPath));
}

TEST_F(DevfsTest, TheApplicationCanAddFilesAndDevfsCanBeMadeTwice)
{
    ASSERT_OK(ns.write_file("/dev/shm-like", "x"));
    ASSERT_OK(fs::symlink(ns.ctx, "/proc/self/fd/0", "/dev/stdin"));
    // A second devfs for the same Vfs keeps the registered drivers.
    Ref<fs::FileSystem> second = MUST(fs::devfs::create(ns.vfs, ns.pages, fs::devfs::Config{}));
    EXPECT_EQ(MUST(second->root()->lookup("null"))->type(), fs::VnodeType::CharDevice);
    EXPECT_ERRNO(second->root()->lookup("console"), Errno::NOENT);
    EXPECT_ERRNO(ns.vfs.register_device(fs::devfs::kNullDevice, MUST(fs::make_ref<fs::devfs::NullDevice>())),
                 Errno::EXIST);
}

} // namespace
