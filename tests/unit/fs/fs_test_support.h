// Host scaffolding for the fs tests: a page provider over aligned_alloc with counters and an
// optional failure injection, a settable clock, and a namespace (Vfs + ramfs root +
// PathContext) with small helpers to write and read whole files through the VFS.
#pragma once

#include <fs/clock.h>
#include <fs/fd_table.h>
#include <fs/mount.h>
#include <fs/open_file.h>
#include <fs/ops.h>
#include <fs/path.h>
#include <fs/ramfs/ramfs.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

using fs::Ref;

namespace fs_test {

// Pages from aligned_alloc, zero-filled; counts what is outstanding. fail_after(n) makes the
// (n+1)-th allocation from now on fail (NOMEM).
class HostPages final : public fs::PageProvider {
public:
    ~HostPages() { EXPECT_EQ(outstanding(), 0) << "pages leaked"; }

    Result<void*> alloc_page() override
    {
        if (m_fail_after >= 0) {
            if (m_fail_after == 0)
                return Errno::NOMEM;
            m_fail_after--;
        }
        void* p = std::aligned_alloc(fs::kPageSize, fs::kPageSize);
        if (!p)
            return Errno::NOMEM;
        std::memset(p, 0, fs::kPageSize);
        m_outstanding.fetch_add(1, std::memory_order_relaxed);
        return p;
    }
    void free_page(void* page) override
    {
        // Poison, so a use after free shows up as garbage, not as the right data.
        std::memset(page, 0xa5, fs::kPageSize);
        std::free(page);
        m_outstanding.fetch_sub(1, std::memory_order_relaxed);
    }
    uint64_t physical_address(void* page) override { return reinterpret_cast<uint64_t>(page); }

    int64_t outstanding() const { return m_outstanding.load(std::memory_order_relaxed); }
    void fail_after(int n) { m_fail_after = n; }

private:
    std::atomic<int64_t> m_outstanding{0};
    int m_fail_after = -1; // single-threaded use only
};

// A manual clock for timestamps.
inline std::atomic<int64_t> g_clock_sec{1000};
inline fs::Timespec test_clock() { return {g_clock_sec.load(std::memory_order_relaxed), 0}; }

// A Vfs whose root is a fresh ramfs, and a context at its root. Members are declared so that
// the context (vnode references) goes before the Vfs and the filesystem.
struct Namespace {
    explicit Namespace(uint64_t max_bytes = 0)
    {
        fs::set_clock(test_clock);
        fs::ramfs::Config config;
        config.pages = &pages;
        config.max_bytes = max_bytes;
        root_fs = MUST(fs::ramfs::RamFs::create(config));
        EXPECT_FALSE(vfs.mount_root(root_fs).is_error());
        ctx.vfs = &vfs;
        ctx.root = vfs.root();
        ctx.cwd = vfs.root();
    }

    Ref<fs::ramfs::RamFs> make_ramfs(uint64_t max_bytes = 0)
    {
        fs::ramfs::Config config;
        config.pages = &pages;
        config.max_bytes = max_bytes;
        return MUST(fs::ramfs::RamFs::create(config));
    }

    // Writes `data` to `path` (created or truncated).
    Result<void> write_file(const char* path, const std::string& data, const fs::PathContext* at = nullptr)
    {
        auto file = TRY(fs::open(at ? *at : ctx, path, fs::kOpenWriteOnly | fs::kOpenCreate | fs::kOpenTruncate, 0644));
        fs::KernelBuffer buf(static_cast<const void*>(data.data()), data.size());
        size_t n = TRY(file->write(buf));
        if (n != data.size())
            return Errno::IO;
        return {};
    }

    // The whole contents of `path` (up to 1 MiB), or an error.
    Result<std::string> read_file(const char* path)
    {
        auto file = TRY(fs::open(ctx, path, fs::kOpenReadOnly));
        std::string out;
        char chunk[4096];
        for (;;) {
            fs::KernelBuffer buf(static_cast<void*>(chunk), sizeof(chunk));
            size_t n = TRY(file->read(buf));
            if (n == 0)
                break;
            out.append(chunk, n);
            if (out.size() > (1 << 20))
                return Errno::FBIG;
        }
        return out;
    }

    Result<fs::Attr> stat(const char* path, bool follow = true)
    {
        return fs::stat(ctx, path, follow ? 0 : fs::kAtSymlinkNoFollow);
    }

    HostPages pages;
    Ref<fs::ramfs::RamFs> root_fs;
    fs::Vfs vfs;
    fs::PathContext ctx;
};

// Names returned by getdents64 on an open directory, in order, reading with a buffer of
// `buffer_size` bytes per call.
inline std::vector<std::string> list_dir(fs::OpenFile& dir, size_t buffer_size = 4096)
{
    std::vector<std::string> names;
    std::vector<char> buffer(buffer_size);
    for (;;) {
        fs::KernelBuffer buf(static_cast<void*>(buffer.data()), buffer.size());
        auto n = dir.getdents(buf);
        if (n.is_error()) {
            ADD_FAILURE() << "getdents: " << lib::errno_name(n.error());
            break;
        }
        if (n.value() == 0)
            break;
        size_t at = 0;
        while (at < n.value()) {
            uint16_t reclen;
            std::memcpy(&reclen, buffer.data() + at + 16, 2);
            names.emplace_back(buffer.data() + at + 19);
            at += reclen;
        }
    }
    return names;
}

} // namespace fs_test

// Checks a Result's error code (or success) with the errno name in the message.
#define EXPECT_ERRNO(expr, err)                                                                       \
    do {                                                                                              \
        auto _r = (expr);                                                                             \
        EXPECT_TRUE(_r.is_error()) << #expr << " succeeded, expected " << lib::errno_name(err);        \
        if (_r.is_error())                                                                            \
            EXPECT_EQ(_r.error(), err) << #expr << ": " << lib::errno_name(_r.error()) << " instead of " \
                                       << lib::errno_name(err);                                       \
    } while (0)
#define EXPECT_OK(expr)                                                                               \
    do {                                                                                              \
        auto _r = (expr);                                                                             \
        EXPECT_FALSE(_r.is_error()) << #expr << ": " << lib::errno_name(_r.error());                   \
    } while (0)
#define ASSERT_OK(expr)                                                                               \
    do {                                                                                              \
        auto _r = (expr);                                                                             \
        ASSERT_FALSE(_r.is_error()) << #expr << ": " << lib::errno_name(_r.error());                   \
    } while (0)
