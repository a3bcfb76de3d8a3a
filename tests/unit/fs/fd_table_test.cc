// Unit tests for the file descriptor table: lowest free descriptor, dup/dup2/dup3/F_DUPFD,
// close-on-exec, the limit, and that get() keeps a file alive across a close.
#include "fs_test_support.h"

#include <gtest/gtest.h>

namespace {

using fs_test::Namespace;

class FdTableTest : public ::testing::Test {
protected:
    Ref<fs::OpenFile> file(const char* path = "/f")
    {
        return MUST(fs::open(ns.ctx, path, fs::kOpenReadWrite | fs::kOpenCreate, 0644));
    }
    Namespace ns;
    fs::FdTable table;
};

TEST_F(FdTableTest, LowestFreeDescriptor)
{
    EXPECT_EQ(MUST(table.install(file(), false)), 0);
    EXPECT_EQ(MUST(table.install(file(), false)), 1);
    EXPECT_EQ(MUST(table.install(file(), false)), 2);
    ASSERT_OK(table.close(1));
    EXPECT_EQ(MUST(table.install(file(), false)), 1);
    EXPECT_EQ(MUST(table.install(file(), false)), 3);
    ASSERT_OK(table.close(0));
    ASSERT_OK(table.close(2));
    EXPECT_EQ(MUST(table.install(file(), false)), 0);
    EXPECT_EQ(MUST(table.install(file(), false)), 2);
    EXPECT_EQ(MUST(table.install(file(), false, 10)), 10);
    EXPECT_EQ(MUST(table.install(file(), false)), 4);
    EXPECT_EQ(table.count(), 6u);
    EXPECT_ERRNO(table.close(5), Errno::BADF);
    EXPECT_ERRNO(table.close(-1), Errno::BADF);
    EXPECT_ERRNO(table.close(1 << 30), Errno::BADF);
    EXPECT_ERRNO(table.get(7), Errno::BADF);
    EXPECT_ERRNO(table.install(file(), false, -1), Errno::INVAL);
}

TEST_F(FdTableTest, DupSharesTheOpenFileDescription)
{
    int fd = MUST(table.install(file(), true));
    int copy = MUST(table.dup(fd));
    EXPECT_EQ(copy, 1);
    EXPECT_EQ(MUST(table.get(fd)).get(), MUST(table.get(copy)).get());
    EXPECT_EQ(MUST(table.fd_flags(fd)), fs::kFdCloseOnExec);
    EXPECT_EQ(MUST(table.fd_flags(copy)), 0u); // dup clears close-on-exec
    // Shared offset.
    fs::KernelBuffer buf(static_cast<const void*>("abc"), 3);
    ASSERT_OK(MUST(table.get(fd))->write(buf));
    EXPECT_EQ(MUST(MUST(table.get(copy))->seek(0, fs::kSeekCur)), 3u);
    ASSERT_OK(table.set_fd_flags(copy, fs::kFdCloseOnExec | 0x10));
    EXPECT_EQ(MUST(table.fd_flags(copy)), fs::kFdCloseOnExec);
    EXPECT_ERRNO(table.fd_flags(9), Errno::BADF);
    EXPECT_ERRNO(table.dup(9), Errno::BADF);
}

TEST_F(FdTableTest, Dup2AndDup3)
{
    int a = MUST(table.install(file("/a"), false));
    int b = MUST(table.install(file("/b"), false));
    auto b_file = MUST(table.get(b));
    EXPECT_EQ(MUST(table.dup2(a, b)), b); // closes b's old file first
    EXPECT_EQ(MUST(table.get(b)).get(), MUST(table.get(a)).get());
    EXPECT_EQ(b_file->ref_count(), 1u); // only our reference is left
    EXPECT_EQ(MUST(table.dup2(a, a)), a);
    EXPECT_ERRNO(table.dup2(7, 7), Errno::BADF);
    EXPECT_ERRNO(table.dup2(7, 0), Errno::BADF);
    EXPECT_ERRNO(table.dup2(a, -1), Errno::BADF);
    EXPECT_ERRNO(table.dup2(a, int(table.limit())), Errno::BADF);
    EXPECT_EQ(MUST(table.dup2(a, 500)), 500); // far above: the table grows
    EXPECT_EQ(MUST(table.install(file(), false)), 2);
    EXPECT_ERRNO(table.dup3(a, a, 0), Errno::INVAL);
    EXPECT_ERRNO(table.dup3(a, 9, 0x1), Errno::INVAL);
    EXPECT_EQ(MUST(table.dup3(a, 9, fs::kOpenCloseOnExec)), 9);
    EXPECT_EQ(MUST(table.fd_flags(9)), fs::kFdCloseOnExec);
    EXPECT_EQ(table.count(), 5u);
}

TEST_F(FdTableTest, DupAtLeastIsFcntlDupfd)
{
    int a = MUST(table.install(file(), false));
    EXPECT_EQ(MUST(table.dup_at_least(a, 5, true)), 5);
    EXPECT_EQ(MUST(table.dup_at_least(a, 5, false)), 6);
    EXPECT_EQ(MUST(table.fd_flags(5)), fs::kFdCloseOnExec);
    EXPECT_EQ(MUST(table.dup_at_least(a, 0, false)), 1);
    EXPECT_ERRNO(table.dup_at_least(a, int(table.limit()), false), Errno::INVAL);
    EXPECT_ERRNO(table.dup_at_least(a, -3, false), Errno::INVAL);
}

TEST_F(FdTableTest, LimitGivesMfile)
{
    ASSERT_OK(table.set_limit(4));
    for (int i = 0; i < 4; i++)
        EXPECT_EQ(MUST(table.install(file(), false)), i);
    EXPECT_ERRNO(table.install(file(), false), Errno::MFILE);
    EXPECT_ERRNO(table.dup(0), Errno::MFILE);
    ASSERT_OK(table.set_limit(2)); // lowering keeps what is open
    EXPECT_OK(table.get(3));
    ASSERT_OK(table.close(0));
    EXPECT_EQ(MUST(table.dup(1)), 0);         // 0 is free and below the new limit
    EXPECT_ERRNO(table.dup(1), Errno::MFILE); // nothing else is
    EXPECT_ERRNO(table.set_limit(fs::FdTable::kMaxLimit + 1), Errno::INVAL);
    ASSERT_OK(table.set_limit(fs::FdTable::kMaxLimit));
    EXPECT_EQ(MUST(table.dup2(1, int(fs::FdTable::kMaxLimit) - 1)), int(fs::FdTable::kMaxLimit) - 1);
}

TEST_F(FdTableTest, GetKeepsTheFileAliveAcrossClose)
{
    int fd = MUST(table.install(file(), false));
    Ref<fs::OpenFile> held = MUST(table.get(fd));
    ASSERT_OK(table.close(fd));
    EXPECT_EQ(held->ref_count(), 1u);
    fs::KernelBuffer buf(static_cast<const void*>("x"), 1);
    EXPECT_OK(held->write(buf)); // still usable
    table.close_all();
    EXPECT_EQ(table.count(), 0u);
}

} // namespace
