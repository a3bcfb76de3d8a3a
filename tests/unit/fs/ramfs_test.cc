// Unit tests for ramfs: sparse data, truncation, the size cap, link counts and times, every
// rename edge case, hard links, readdir resumption while the directory changes, mmap pages,
// and allocation failures.
#include "fs_test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>

namespace {

using fs_test::Namespace;

constexpr uint64_t kPage = fs::kPageSize;

Result<size_t> pwrite_str(fs::OpenFile& f, uint64_t at, const std::string& s)
{
    fs::KernelBuffer buf(static_cast<const void*>(s.data()), s.size());
    return f.pwrite(int64_t(at), buf);
}

Result<std::string> pread_n(fs::OpenFile& f, uint64_t at, size_t n)
{
    std::string out(n, 'X');
    fs::KernelBuffer buf(static_cast<void*>(out.data()), n);
    size_t got = TRY(f.pread(int64_t(at), buf));
    out.resize(got);
    return out;
}

TEST(Ramfs, HolesReadAsZerosAndAreNotAllocated)
{
    Namespace ns;
    auto f = MUST(fs::open(ns.ctx, "/sparse", fs::kOpenReadWrite | fs::kOpenCreate, 0644));
    ASSERT_OK(pwrite_str(*f, 3 * kPage + 10, "end"));
    fs::Attr a = MUST(f->getattr());
    EXPECT_EQ(a.size, 3 * kPage + 13);
    EXPECT_EQ(a.blocks, kPage / 512); // one data page
    std::string all = MUST(pread_n(*f, 0, a.size + 100));
    ASSERT_EQ(all.size(), a.size);
    EXPECT_EQ(all.substr(0, 3 * kPage + 10), std::string(3 * kPage + 10, '\0'));
    EXPECT_EQ(all.substr(3 * kPage + 10), "end");
    // Reads across a page boundary between a hole and data.
    ASSERT_OK(pwrite_str(*f, kPage - 2, "ABCD"));
    EXPECT_EQ(MUST(pread_n(*f, kPage - 4, 8)), std::string("\0\0ABCD\0\0", 8));
    EXPECT_EQ(MUST(f->getattr()).blocks, 3 * kPage / 512);
}

TEST(Ramfs, TerabyteOffsetsWithoutAllocating)
{
    Namespace ns;
    auto f = MUST(fs::open(ns.ctx, "/big", fs::kOpenReadWrite | fs::kOpenCreate, 0644));
    uint64_t tib = uint64_t(1) << 40;
    ASSERT_OK(pwrite_str(*f, tib - 1, "xy"));
    fs::Attr a = MUST(f->getattr());
    EXPECT_EQ(a.size, tib + 1);
    EXPECT_EQ(a.blocks, 2 * kPage / 512); // the two pages around the boundary
    EXPECT_LE(ns.pages.outstanding(), 2 + 2 * 4);
    EXPECT_EQ(MUST(pread_n(*f, tib - 2, 4)), std::string("\0xy", 3));
    EXPECT_EQ(MUST(pread_n(*f, tib / 2, 4)), std::string(4, '\0'));
    // Truncating up to 1 TiB more allocates nothing; truncating down frees.
    ASSERT_OK(f->truncate(2 * tib));
    EXPECT_EQ(MUST(f->getattr()).blocks, 2 * kPage / 512);
    ASSERT_OK(f->truncate(10));
    EXPECT_EQ(MUST(f->getattr()).blocks, 0u);
    EXPECT_EQ(MUST(f->getattr()).size, 10u);
    // The maximum file size.
    EXPECT_ERRNO(f->truncate(fs::ramfs::RamFs::kMaxFileSize + 1), Errno::FBIG);
    EXPECT_ERRNO(pwrite_str(*f, fs::ramfs::RamFs::kMaxFileSize, "z"), Errno::FBIG);
    EXPECT_EQ(MUST(pwrite_str(*f, fs::ramfs::RamFs::kMaxFileSize - 1, "zz")), 1u); // short
}

TEST(Ramfs, TruncateDownClearsTheTailForLaterGrowth)
{
    Namespace ns;
    auto f = MUST(fs::open(ns.ctx, "/t", fs::kOpenReadWrite | fs::kOpenCreate, 0644));
    ASSERT_OK(pwrite_str(*f, 0, std::string(2 * kPage + 100, 'a')));
    ASSERT_OK(f->truncate(kPage + 5));
    EXPECT_EQ(MUST(f->getattr()).blocks, 2 * kPage / 512);
    fs::SetAttr grow; // truncate(2) by path
    grow.mask = fs::SetAttr::kSize;
    grow.size = 3 * kPage;
    ASSERT_OK(fs::set_attr(ns.ctx, "/t", true, grow));
    std::string back = MUST(pread_n(*f, 0, 3 * kPage));
    EXPECT_EQ(back.substr(0, kPage + 5), std::string(kPage + 5, 'a'));
    EXPECT_EQ(back.substr(kPage + 5), std::string(2 * kPage - 5, '\0'));
    ASSERT_OK(f->truncate(0));
    EXPECT_EQ(MUST(f->getattr()).blocks, 0u);
    EXPECT_EQ(ns.pages.outstanding(), 0); // even the page-tree node went
}

TEST(Ramfs, SizeCapGivesNoSpaceAndShortWrites)
{
    Namespace ns(4 * kPage);
    auto f = MUST(fs::open(ns.ctx, "/f", fs::kOpenReadWrite | fs::kOpenCreate, 0644));
    EXPECT_EQ(MUST(pwrite_str(*f, 0, std::string(6 * kPage, 'x'))), 4 * kPage); // short count
    EXPECT_EQ(ns.root_fs->used_bytes(), 4 * kPage);
    EXPECT_ERRNO(pwrite_str(*f, 4 * kPage, "y"), Errno::NOSPC);
    EXPECT_ERRNO(ns.write_file("/g", "z"), Errno::NOSPC);
    EXPECT_OK(pwrite_str(*f, 100, "overwrite in place")); // no new page needed
    ASSERT_OK(f->truncate(kPage));
    EXPECT_EQ(ns.root_fs->used_bytes(), kPage);
    EXPECT_OK(ns.write_file("/g", "z"));
    f.reset();
    ASSERT_OK(fs::unlink(ns.ctx, "/f"));
    EXPECT_EQ(ns.root_fs->used_bytes(), kPage);
}

TEST(Ramfs, OutOfMemoryIsAnErrorNotACrash)
{
    Namespace ns;
    auto f = MUST(fs::open(ns.ctx, "/f", fs::kOpenReadWrite | fs::kOpenCreate, 0644));
    ns.pages.fail_after(0);
    EXPECT_ERRNO(pwrite_str(*f, 0, "x"), Errno::NOMEM);
    ns.pages.fail_after(2); // root node + one data page, then nothing
    EXPECT_EQ(MUST(pwrite_str(*f, 0, std::string(3 * kPage, 'x'))), kPage);
    ns.pages.fail_after(-1);
    EXPECT_EQ(ns.root_fs->used_bytes(), kPage); // the failed reservation was given back
    EXPECT_EQ(MUST(f->getattr()).size, kPage);
}

TEST(Ramfs, LinkCountsAndTimes)
{
    Namespace ns;
    fs_test::g_clock_sec = 2000;
    ASSERT_OK(fs::mkdir(ns.ctx, "/d", 0755));
    EXPECT_EQ(MUST(ns.stat("/")).nlink, 3u);
    EXPECT_EQ(MUST(ns.stat("/d")).nlink, 2u);
    ASSERT_OK(fs::mkdir(ns.ctx, "/d/s1", 0755));
    ASSERT_OK(fs::mkdir(ns.ctx, "/d/s2", 0755));
    EXPECT_EQ(MUST(ns.stat("/d")).nlink, 4u);
    fs_test::g_clock_sec = 2100;
    ASSERT_OK(ns.write_file("/d/f", "abc"));
    fs::Attr d = MUST(ns.stat("/d"));
    EXPECT_EQ(d.mtime.sec, 2100);
    EXPECT_EQ(d.ctime.sec, 2100);
    fs_test::g_clock_sec = 2200;
    ASSERT_OK(fs::link(ns.ctx, "/d/f", ns.ctx, "/d/g", 0));
    fs::Attr f = MUST(ns.stat("/d/f"));
    EXPECT_EQ(f.nlink, 2u);
    EXPECT_EQ(f.ctime.sec, 2200);
    EXPECT_EQ(f.mtime.sec, 2100);
    EXPECT_EQ(f.ino, MUST(ns.stat("/d/g")).ino);
    ASSERT_OK(fs::unlink(ns.ctx, "/d/f"));
    EXPECT_EQ(MUST(ns.stat("/d/g")).nlink, 1u);
    EXPECT_EQ(MUST(ns.read_file("/d/g")), "abc");
    ASSERT_OK(fs::unlink(ns.ctx, "/d/s1", fs::kAtRemoveDir));
    EXPECT_EQ(MUST(ns.stat("/d")).nlink, 3u);
    // setattr: mode, owner, explicit and current times.
    fs_test::g_clock_sec = 2300;
    fs::SetAttr req;
    req.mask = fs::SetAttr::kMode | fs::SetAttr::kUid | fs::SetAttr::kGid | fs::SetAttr::kAtime | fs::SetAttr::kMtimeNow;
    req.mode = 0100600 | 07000; // type bits are ignored
    req.uid = 5;
    req.gid = 6;
    req.atime = {123, 456};
    ASSERT_OK(fs::set_attr(ns.ctx, "/d/g", true, req));
    fs::Attr g = MUST(ns.stat("/d/g"));
    EXPECT_EQ(g.mode, fs::kModeRegular | 07600);
    EXPECT_EQ(g.uid, 5u);
    EXPECT_EQ(g.gid, 6u);
    EXPECT_EQ(g.atime, (fs::Timespec{123, 456}));
    EXPECT_EQ(g.mtime.sec, 2300);
    EXPECT_EQ(g.ctime.sec, 2300);
    req.mask = fs::SetAttr::kAtime;
    req.atime = {1, 1'000'000'000};
    EXPECT_ERRNO(fs::set_attr(ns.ctx, "/d/g", true, req), Errno::INVAL);
    fs_test::g_clock_sec = 1000;
}

TEST(Ramfs, HardLinkRules)
{
    Namespace ns;
    ASSERT_OK(fs::mkdir(ns.ctx, "/d", 0755));
    ASSERT_OK(ns.write_file("/f", "x"));
    ASSERT_OK(fs::symlink(ns.ctx, "f", "/sl"));
    EXPECT_ERRNO(fs::link(ns.ctx, "/d", ns.ctx, "/d2", 0), Errno::PERM);
    EXPECT_ERRNO(fs::link(ns.ctx, "/f", ns.ctx, "/d", 0), Errno::EXIST);
    EXPECT_ERRNO(fs::link(ns.ctx, "/nope", ns.ctx, "/n", 0), Errno::NOENT);
    EXPECT_ERRNO(fs::link(ns.ctx, "/f", ns.ctx, "/f2/", 0), Errno::NOENT);
    EXPECT_ERRNO(fs::link(ns.ctx, "/f", ns.ctx, "/f2", 0x1), Errno::INVAL);
    // Without AT_SYMLINK_FOLLOW the link itself gets the new name.
    ASSERT_OK(fs::link(ns.ctx, "/sl", ns.ctx, "/sl2", 0));
    EXPECT_EQ(MUST(ns.stat("/sl2", false)).ino, MUST(ns.stat("/sl", false)).ino);
    ASSERT_OK(fs::link(ns.ctx, "/sl", ns.ctx, "/f3", fs::kAtSymlinkFollow));
    EXPECT_EQ(MUST(ns.stat("/f3", false)).ino, MUST(ns.stat("/f")).ino);
}

TEST(Ramfs, UnlinkAndRmdirRules)
{
    Namespace ns;
    ASSERT_OK(fs::mkdir(ns.ctx, "/d", 0755));
    ASSERT_OK(ns.write_file("/d/f", "x"));
    EXPECT_ERRNO(fs::unlink(ns.ctx, "/d"), Errno::ISDIR);
    EXPECT_ERRNO(fs::unlink(ns.ctx, "/d/f", fs::kAtRemoveDir), Errno::NOTDIR);
    EXPECT_ERRNO(fs::unlink(ns.ctx, "/d", fs::kAtRemoveDir), Errno::NOTEMPTY);
    EXPECT_ERRNO(fs::unlink(ns.ctx, "/d/f/"), Errno::NOTDIR);
    EXPECT_ERRNO(fs::unlink(ns.ctx, "/d/.", fs::kAtRemoveDir), Errno::INVAL);
    EXPECT_ERRNO(fs::unlink(ns.ctx, "/d/..", fs::kAtRemoveDir), Errno::NOTEMPTY);
    EXPECT_ERRNO(fs::unlink(ns.ctx, "/", fs::kAtRemoveDir), Errno::BUSY);
    EXPECT_ERRNO(fs::unlink(ns.ctx, "/d/.."), Errno::ISDIR);
    EXPECT_ERRNO(fs::unlink(ns.ctx, "/d/g"), Errno::NOENT);
    EXPECT_ERRNO(fs::unlink(ns.ctx, "/d", 0x4), Errno::INVAL);
    ASSERT_OK(fs::unlink(ns.ctx, "/d/f"));
    // A removed directory that is still someone's cwd: lookups and creation fail, ".." too.
    fs::PathContext inside = ns.ctx;
    inside.cwd = MUST(fs::lookup_directory(ns.ctx, "/d"));
    ASSERT_OK(fs::unlink(ns.ctx, "/d/", fs::kAtRemoveDir));
    EXPECT_ERRNO(ns.write_file("x", "", &inside), Errno::NOENT);
    EXPECT_ERRNO(fs::mkdir(inside, "sub", 0755), Errno::NOENT);
    EXPECT_ERRNO(fs::stat(inside, ".."), Errno::NOENT);
    EXPECT_EQ(MUST(fs::stat(inside, ".")).nlink, 0u);
    auto dir = MUST(fs::open(inside, ".", fs::kOpenReadOnly));
    EXPECT_EQ(fs_test::list_dir(*dir), (std::vector<std::string>{".", ".."}));
}

TEST(Ramfs, CreateRules)
{
    Namespace ns;
    ASSERT_OK(ns.write_file("/f", "x"));
    EXPECT_ERRNO(fs::mkdir(ns.ctx, "/f", 0755), Errno::EXIST);
    EXPECT_ERRNO(fs::mkdir(ns.ctx, "/", 0755), Errno::EXIST);
    EXPECT_ERRNO(fs::mkdir(ns.ctx, "/.", 0755), Errno::EXIST);
    EXPECT_ERRNO(fs::mkdir(ns.ctx, "/f/x", 0755), Errno::NOTDIR);
    EXPECT_OK(fs::mkdir(ns.ctx, "/new/", 0755)); // a trailing slash is fine for mkdir
    EXPECT_ERRNO(fs::symlink(ns.ctx, "", "/l"), Errno::NOENT);
    EXPECT_ERRNO(fs::symlink(ns.ctx, std::string(4096, 'a').c_str(), "/l"), Errno::NAMETOOLONG);
    EXPECT_ERRNO(fs::symlink(ns.ctx, "t", "/f"), Errno::EXIST);
    EXPECT_ERRNO(fs::symlink(ns.ctx, "t", "/l/"), Errno::NOENT);
    std::string longest(4095, 'a');
    ASSERT_OK(fs::symlink(ns.ctx, longest.c_str(), "/l"));
    char target[4096];
    fs::KernelBuffer out(static_cast<void*>(target), sizeof(target));
    EXPECT_EQ(MUST(fs::readlink(ns.ctx, "/l", out)), 4095u);
    EXPECT_EQ(std::string(target, 4095), longest);
    fs::KernelBuffer small(static_cast<void*>(target), 3);
    EXPECT_EQ(MUST(fs::readlink(ns.ctx, "/l", small)), 3u);
    EXPECT_ERRNO(fs::readlink(ns.ctx, "/f", out), Errno::INVAL);
    fs::KernelBuffer empty(static_cast<void*>(target), 0);
    EXPECT_ERRNO(fs::readlink(ns.ctx, "/l", empty), Errno::INVAL);
    EXPECT_EQ(MUST(ns.stat("/l", false)).size, 4095u);
    // mknod types.
    EXPECT_OK(fs::mknod(ns.ctx, "/fifo", fs::kModeFifo | 0644, 0));
    EXPECT_OK(fs::mknod(ns.ctx, "/reg", 0644, 0));
    EXPECT_EQ(MUST(ns.stat("/reg")).mode, fs::kModeRegular | 0644);
    EXPECT_OK(fs::mknod(ns.ctx, "/chr", fs::kModeCharDevice | 0600, fs::make_dev(4, 64)));
    EXPECT_EQ(MUST(ns.stat("/chr")).rdev, fs::make_dev(4, 64));
    EXPECT_ERRNO(fs::mknod(ns.ctx, "/dir", fs::kModeDirectory | 0755, 0), Errno::PERM);
    EXPECT_ERRNO(fs::mknod(ns.ctx, "/bad", 0030000 | 0755, 0), Errno::INVAL);
    EXPECT_ERRNO(fs::open(ns.ctx, "/fifo", fs::kOpenReadOnly), Errno::NXIO);
    EXPECT_ERRNO(fs::open(ns.ctx, "/chr", fs::kOpenReadOnly), Errno::NXIO); // no driver
}

class RenameTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_OK(fs::mkdir(ns.ctx, "/a", 0755));
        ASSERT_OK(fs::mkdir(ns.ctx, "/a/sub", 0755));
        ASSERT_OK(fs::mkdir(ns.ctx, "/b", 0755));
        ASSERT_OK(fs::mkdir(ns.ctx, "/empty", 0755));
        ASSERT_OK(ns.write_file("/a/f", "F"));
        ASSERT_OK(ns.write_file("/b/g", "G"));
    }
    Result<void> mv(const char* from, const char* to, unsigned flags = 0)
    {
        return fs::rename(ns.ctx, from, ns.ctx, to, flags);
    }
    Namespace ns;
};

TEST_F(RenameTest, MovesFilesAndReplacesFiles)
{
    uint64_t f = MUST(ns.stat("/a/f")).ino;
    ASSERT_OK(mv("/a/f", "/b/f"));
    EXPECT_ERRNO(ns.stat("/a/f"), Errno::NOENT);
    EXPECT_EQ(MUST(ns.stat("/b/f")).ino, f);
    ASSERT_OK(mv("/b/f", "/b/g")); // over an existing file
    EXPECT_EQ(MUST(ns.read_file("/b/g")), "F");
    EXPECT_ERRNO(ns.stat("/b/f"), Errno::NOENT);
    ASSERT_OK(ns.write_file("/b/h", "H"));
    EXPECT_ERRNO(mv("/b/h", "/b/g", fs::kRenameNoReplace), Errno::EXIST);
    EXPECT_ERRNO(mv("/b/h", "/b/g", fs::kRenameExchange), Errno::INVAL);
    EXPECT_EQ(MUST(ns.read_file("/b/g")), "F");
}

TEST_F(RenameTest, DirectoriesOverEmptyDirectoriesOnly)
{
    ASSERT_OK(mv("/a/sub", "/empty"));
    EXPECT_ERRNO(ns.stat("/a/sub"), Errno::NOENT);
    EXPECT_EQ(MUST(ns.stat("/")).nlink, 5u); // /a, /b and /empty (now the moved directory)
    EXPECT_EQ(MUST(ns.stat("/a")).nlink, 2u);
    ASSERT_OK(fs::mkdir(ns.ctx, "/a/full", 0755));
    ASSERT_OK(ns.write_file("/a/full/x", ""));
    EXPECT_ERRNO(mv("/empty", "/a/full"), Errno::NOTEMPTY);
    EXPECT_ERRNO(mv("/empty", "/b/g"), Errno::NOTDIR);
    EXPECT_ERRNO(mv("/b/g", "/empty"), Errno::ISDIR);
    EXPECT_ERRNO(mv("/b/g/", "/b/x"), Errno::NOTDIR);
    EXPECT_ERRNO(mv("/b/g", "/b/x/"), Errno::NOTDIR);
    EXPECT_OK(mv("/empty/", "/moved/"));
}

TEST_F(RenameTest, NotIntoItselfOrBelow)
{
    ASSERT_OK(fs::mkdir(ns.ctx, "/a/sub/deep", 0755));
    EXPECT_ERRNO(mv("/a", "/a/sub/deep/x"), Errno::INVAL);
    EXPECT_ERRNO(mv("/a", "/a/x"), Errno::INVAL);
    EXPECT_ERRNO(mv("/a/sub", "/a/sub/x"), Errno::INVAL);
    // Over its own ancestor: that directory is not empty.
    EXPECT_ERRNO(mv("/a/sub/deep", "/a"), Errno::NOTEMPTY);
    EXPECT_ERRNO(mv("/a/sub", "/a"), Errno::NOTEMPTY);
    EXPECT_OK(ns.stat("/a/sub/deep"));
}

TEST_F(RenameTest, SameFileIsANoOp)
{
    ASSERT_OK(fs::link(ns.ctx, "/a/f", ns.ctx, "/b/f2", 0));
    ASSERT_OK(mv("/a/f", "/b/f2"));
    EXPECT_OK(ns.stat("/a/f")); // both names stay (POSIX)
    EXPECT_EQ(MUST(ns.stat("/a/f")).nlink, 2u);
    ASSERT_OK(mv("/a/f", "/a/f"));
    ASSERT_OK(mv("/a", "/a"));
    EXPECT_OK(ns.stat("/a/f"));
}

TEST_F(RenameTest, DotsRootAndMissing)
{
    EXPECT_ERRNO(mv("/a/.", "/x"), Errno::BUSY);
    EXPECT_ERRNO(mv("/a/..", "/x"), Errno::BUSY);
    EXPECT_ERRNO(mv("/", "/x"), Errno::BUSY);
    EXPECT_ERRNO(mv("/a/f", "/b/.."), Errno::BUSY);
    EXPECT_ERRNO(mv("/a/nope", "/x"), Errno::NOENT);
    EXPECT_ERRNO(mv("/a/f", "/nope/x"), Errno::NOENT);
}

TEST_F(RenameTest, DirectoryMoveUpdatesParentAndLinkCounts)
{
    ASSERT_OK(ns.write_file("/a/sub/inside", "I"));
    ASSERT_OK(mv("/a/sub", "/b/sub2"));
    EXPECT_EQ(MUST(ns.stat("/a")).nlink, 2u);
    EXPECT_EQ(MUST(ns.stat("/b")).nlink, 3u);
    EXPECT_EQ(MUST(ns.stat("/b/sub2/..")).ino, MUST(ns.stat("/b")).ino);
    EXPECT_EQ(MUST(ns.read_file("/b/sub2/../sub2/inside")), "I");
}

TEST_F(RenameTest, ReplacedFileStaysAliveWhileOpen)
{
    auto g = MUST(fs::open(ns.ctx, "/b/g", fs::kOpenReadOnly));
    ASSERT_OK(mv("/a/f", "/b/g"));
    EXPECT_EQ(MUST(g->getattr()).nlink, 0u);
    char c;
    fs::KernelBuffer buf(static_cast<void*>(&c), 1);
    EXPECT_EQ(MUST(g->read(buf)), 1u);
    EXPECT_EQ(c, 'G');
}

TEST(Ramfs, ReaddirResumesWhileTheDirectoryChanges)
{
    Namespace ns;
    ASSERT_OK(fs::mkdir(ns.ctx, "/d", 0755));
    std::set<std::string> present;
    for (int i = 0; i < 200; i++) {
        std::string name = "/d/e" + std::to_string(i);
        ASSERT_OK(ns.write_file(name.c_str(), ""));
        present.insert(name.substr(3));
    }
    auto dir = MUST(fs::open(ns.ctx, "/d", fs::kOpenReadOnly));
    std::mt19937 rng(7);
    std::multiset<std::string> seen;
    std::set<std::string> removed, added;
    std::vector<char> buffer(256); // a few records per call
    int next_new = 0;
    for (;;) {
        fs::KernelBuffer buf(static_cast<void*>(buffer.data()), buffer.size());
        size_t n = MUST(dir->getdents(buf));
        if (n == 0)
            break;
        for (size_t at = 0; at < n;) {
            uint16_t reclen;
            std::memcpy(&reclen, buffer.data() + at + 16, 2);
            seen.insert(buffer.data() + at + 19);
            at += reclen;
        }
        // Between calls: remove two random entries and add one (for a while).
        for (int k = 0; k < 2 && !present.empty(); k++) {
            auto it = present.begin();
            std::advance(it, rng() % present.size());
            ASSERT_OK(fs::unlink(ns.ctx, ("/d/" + *it).c_str()));
            removed.insert(*it);
            present.erase(it);
        }
        if (next_new < 20) { // (adding forever would keep the listing going forever)
            std::string fresh = "new" + std::to_string(next_new++);
            ASSERT_OK(ns.write_file(("/d/" + fresh).c_str(), ""));
            added.insert(fresh);
            present.insert(fresh);
        }
    }
    // Every entry present throughout was seen exactly once; nothing was seen twice.
    for (const std::string& name : present) {
        if (!added.count(name))
            EXPECT_EQ(seen.count(name), 1u) << name;
    }
    for (const std::string& name : seen)
        EXPECT_EQ(seen.count(name), 1u) << name;
    EXPECT_EQ(seen.count("."), 1u);
    EXPECT_EQ(seen.count(".."), 1u);
}

TEST(Ramfs, ReaddirListsInCreationOrderAndSurvivesRenames)
{
    Namespace ns;
    ASSERT_OK(fs::mkdir(ns.ctx, "/d", 0755));
    for (const char* n : {"zeta", "alpha", "mid"})
        ASSERT_OK(ns.write_file((std::string("/d/") + n).c_str(), ""));
    auto dir = MUST(fs::open(ns.ctx, "/d", fs::kOpenReadOnly));
    EXPECT_EQ(fs_test::list_dir(*dir), (std::vector<std::string>{".", "..", "zeta", "alpha", "mid"}));
    ASSERT_OK(fs::rename(ns.ctx, "/d/zeta", ns.ctx, "/d/omega"));
    ASSERT_OK(dir->seek(0, fs::kSeekSet));
    EXPECT_EQ(fs_test::list_dir(*dir), (std::vector<std::string>{".", "..", "alpha", "mid", "omega"}));
}

TEST(Ramfs, PagesForMmapAreTheFilesPages)
{
    Namespace ns;
    auto f = MUST(fs::open(ns.ctx, "/m", fs::kOpenReadWrite | fs::kOpenCreate, 0644));
    ASSERT_OK(pwrite_str(*f, 0, "mapped"));
    ASSERT_OK(f->truncate(3 * kPage));
    fs::PageHandle p0 = MUST(f->page_for_mmap(0));
    EXPECT_EQ(std::memcmp(p0.data, "mapped", 6), 0);
    EXPECT_EQ(p0.phys, reinterpret_cast<uint64_t>(p0.data));
    // A hole gets a page, and the file sees what is stored through it.
    fs::PageHandle p2 = MUST(f->page_for_mmap(2 * kPage));
    std::memcpy(static_cast<char*>(p2.data) + 1, "via mmap", 8);
    EXPECT_EQ(MUST(pread_n(*f, 2 * kPage + 1, 8)), "via mmap");
    EXPECT_EQ(MUST(f->getattr()).blocks, 2 * kPage / 512);
    EXPECT_ERRNO(f->page_for_mmap(3 * kPage), Errno::NXIO);
    // Bytes an mmap stores past the end do not show when the file grows.
    ASSERT_OK(f->truncate(2 * kPage + 100));
    std::memset(static_cast<char*>(p2.data) + 100, 'M', 50);
    ASSERT_OK(pwrite_str(*f, 2 * kPage + 200, "w")); // grows over the stored bytes
    EXPECT_EQ(MUST(pread_n(*f, 2 * kPage + 100, 100)), std::string(100, '\0'));
    std::memset(static_cast<char*>(p2.data) + 300, 'M', 50);
    ASSERT_OK(f->truncate(2 * kPage + 400));
    EXPECT_EQ(MUST(pread_n(*f, 2 * kPage + 201, 199)), std::string(199, '\0'));
    EXPECT_ERRNO(f->page_for_mmap(1), Errno::INVAL);
    auto ro_dir = MUST(fs::open(ns.ctx, "/", fs::kOpenReadOnly));
    EXPECT_ERRNO(ro_dir->page_for_mmap(0), Errno::NODEV);
    auto wo = MUST(fs::open(ns.ctx, "/m", fs::kOpenWriteOnly));
    EXPECT_ERRNO(wo->page_for_mmap(0), Errno::ACCES);
}

TEST(Ramfs, DirectAccessWithoutTheVfsValidatesNames)
{
    fs_test::HostPages pages;
    fs::ramfs::Config config;
    config.pages = &pages;
    Ref<fs::ramfs::RamFs> fs = MUST(fs::ramfs::RamFs::create(config));
    {
        Ref<fs::Vnode> root = fs->root();
        EXPECT_ERRNO(root->create("", 0644), Errno::INVAL);
        EXPECT_ERRNO(root->create("a/b", 0644), Errno::INVAL);
        EXPECT_ERRNO(root->create(std::string(256, 'x').c_str(), 0644), Errno::NAMETOOLONG);
        EXPECT_ERRNO(root->mkdir("..", 0755), Errno::EXIST);
        EXPECT_ERRNO(root->mknod("d", fs::kModeDirectory, 0), Errno::INVAL);
        Ref<fs::Vnode> file = MUST(root->create("f", 0644));
        EXPECT_ERRNO(file->lookup("x"), Errno::NOTDIR);
        struct NoSink final : fs::DirSink {
            bool emit(uint64_t, fs::DirentType, lib::StringView, uint64_t) override { return true; }
        } sink;
        EXPECT_ERRNO(file->readdir(0, sink), Errno::NOTDIR);
        EXPECT_ERRNO(root->rename("f", *file, "x", 0), Errno::NOTDIR);
        EXPECT_ERRNO(root->rename(".", *root, "x", 0), Errno::BUSY);
        EXPECT_EQ(MUST(root->lookup("..")).get(), root.get()); // the root is its own parent
        EXPECT_EQ(std::string(fs->name()), "ramfs");
    }
    EXPECT_ERRNO(fs::ramfs::RamFs::create(fs::ramfs::Config{}), Errno::INVAL);
}

TEST(Ramfs, TeardownFreesEverything)
{
    {
        Namespace* ns = new Namespace();
        for (int i = 0; i < 20; i++) {
            std::string dir = "/d" + std::to_string(i);
            ASSERT_OK(fs::mkdir(ns->ctx, dir.c_str(), 0755));
            ASSERT_OK(ns->write_file((dir + "/f").c_str(), std::string(5000, 'x')));
            ASSERT_OK(fs::mkdir(ns->ctx, (dir + "/sub").c_str(), 0755));
            ASSERT_OK(fs::symlink(ns->ctx, "f", (dir + "/sub/l").c_str()));
        }
        EXPECT_GT(ns->pages.outstanding(), 0);
        delete ns; // HostPages' destructor checks that every page came back
    }
}

} // namespace
