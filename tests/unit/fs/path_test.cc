// Unit tests for path resolution: every rule in fs/path.h, mounts crossed both ways, symlink
// limits, name and path length limits, and get_path (getcwd).
#include "fs_test_support.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using fs_test::Namespace;

uint64_t ino_of(Namespace& ns, const char* path, bool follow = true) { return MUST(ns.stat(path, follow)).ino; }

Result<uint64_t> resolve_ino(const fs::PathContext& ctx, const std::string& path, unsigned flags = fs::kResolveFollow)
{
    fs::Resolved r;
    TRY(fs::resolve(ctx, lib::StringView(path.data(), path.size()), flags, r));
    if (!r.node.is_valid())
        return Errno::NOENT;
    return r.node.vnode->ino();
}

class PathTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_OK(fs::mkdir(ns.ctx, "/a", 0755));
        ASSERT_OK(fs::mkdir(ns.ctx, "/a/b", 0755));
        ASSERT_OK(fs::mkdir(ns.ctx, "/a/b/c", 0755));
        ASSERT_OK(ns.write_file("/a/file", "data"));
    }
    Namespace ns;
};

TEST_F(PathTest, AbsoluteRelativeSlashesAndDots)
{
    uint64_t c = ino_of(ns, "/a/b/c");
    EXPECT_EQ(MUST(resolve_ino(ns.ctx, "a/b/c")), c);
    EXPECT_EQ(MUST(resolve_ino(ns.ctx, "//a///b/./c/")), c);
    EXPECT_EQ(MUST(resolve_ino(ns.ctx, "/a/b/c/../c/./")), c);
    EXPECT_EQ(MUST(resolve_ino(ns.ctx, "/a/b/c/../..")), ino_of(ns, "/a"));
    EXPECT_EQ(MUST(resolve_ino(ns.ctx, "/")), ino_of(ns, "/"));
    EXPECT_EQ(MUST(resolve_ino(ns.ctx, "///")), ino_of(ns, "/"));
    EXPECT_EQ(MUST(resolve_ino(ns.ctx, ".")), ino_of(ns, "/"));
}

TEST_F(PathTest, DotDotNeverGoesAboveTheRoot)
{
    uint64_t root = ino_of(ns, "/");
    EXPECT_EQ(MUST(resolve_ino(ns.ctx, "/..")), root);
    EXPECT_EQ(MUST(resolve_ino(ns.ctx, "../../..")), root);
    EXPECT_EQ(MUST(resolve_ino(ns.ctx, "/../a/../../a/b")), ino_of(ns, "/a/b"));

    // A process rooted at /a (chroot): "/" is /a and ".." stops there.
    fs::PathContext jail = ns.ctx;
    jail.root = MUST(fs::lookup_directory(ns.ctx, "/a"));
    jail.cwd = MUST(fs::lookup_directory(ns.ctx, "/a/b/c"));
    EXPECT_EQ(MUST(resolve_ino(jail, "/")), ino_of(ns, "/a"));
    EXPECT_EQ(MUST(resolve_ino(jail, "../../../../..")), ino_of(ns, "/a"));
    EXPECT_EQ(MUST(resolve_ino(jail, "/b/c")), ino_of(ns, "/a/b/c"));
    EXPECT_EQ(MUST(resolve_ino(jail, "/file")), ino_of(ns, "/a/file"));
}

TEST_F(PathTest, EmptyMissingAndNotDirectory)
{
    EXPECT_ERRNO(resolve_ino(ns.ctx, ""), Errno::NOENT);
    EXPECT_ERRNO(resolve_ino(ns.ctx, "/nope"), Errno::NOENT);
    EXPECT_ERRNO(resolve_ino(ns.ctx, "/nope/x"), Errno::NOENT);
    EXPECT_ERRNO(resolve_ino(ns.ctx, "/a/file/x"), Errno::NOTDIR);
    EXPECT_ERRNO(resolve_ino(ns.ctx, "/a/file/"), Errno::NOTDIR);
    EXPECT_ERRNO(resolve_ino(ns.ctx, "/a/file/."), Errno::NOTDIR);
    EXPECT_ERRNO(resolve_ino(ns.ctx, "/a/file/.."), Errno::NOTDIR);
    EXPECT_ERRNO(resolve_ino(ns.ctx, "/a/file", fs::kResolveDirectory), Errno::NOTDIR);
    EXPECT_OK(resolve_ino(ns.ctx, "/a/file"));
    EXPECT_OK(resolve_ino(ns.ctx, "/a/b", fs::kResolveDirectory));
}

TEST_F(PathTest, NameAndPathLengthLimits)
{
    std::string longest(255, 'n');
    ASSERT_OK(ns.write_file(("/" + longest).c_str(), ""));
    EXPECT_OK(resolve_ino(ns.ctx, "/" + longest));
    EXPECT_ERRNO(resolve_ino(ns.ctx, "/" + std::string(256, 'n')), Errno::NAMETOOLONG);
    EXPECT_ERRNO(resolve_ino(ns.ctx, "/" + std::string(256, 'n') + "/x"), Errno::NAMETOOLONG);
    EXPECT_ERRNO(fs::mkdir(ns.ctx, ("/" + std::string(256, 'n')).c_str(), 0755), Errno::NAMETOOLONG);

    // 4095 characters resolve; 4096 (no room for the NUL of PATH_MAX) do not.
    std::string path = "/a/b/c";
    std::string padded = std::string(4095 - path.size(), '/') + path;
    ASSERT_EQ(padded.size(), 4095u);
    EXPECT_EQ(MUST(resolve_ino(ns.ctx, padded)), ino_of(ns, "/a/b/c"));
    EXPECT_ERRNO(resolve_ino(ns.ctx, "/" + padded), Errno::NAMETOOLONG);
}

TEST_F(PathTest, SymlinksRelativeAbsoluteAndFinal)
{
    ASSERT_OK(fs::symlink(ns.ctx, "b/c", "/a/rel"));      // relative to /a
    ASSERT_OK(fs::symlink(ns.ctx, "/a/b", "/a/b/c/abs")); // absolute
    ASSERT_OK(fs::symlink(ns.ctx, "../file", "/a/b/up"));
    ASSERT_OK(fs::symlink(ns.ctx, "rel", "/a/chain"));
    uint64_t c = ino_of(ns, "/a/b/c");
    EXPECT_EQ(MUST(resolve_ino(ns.ctx, "/a/rel")), c);
    EXPECT_EQ(MUST(resolve_ino(ns.ctx, "/a/chain/abs/c")), c);
    EXPECT_EQ(MUST(resolve_ino(ns.ctx, "/a/b/up")), ino_of(ns, "/a/file"));
    EXPECT_EQ(MUST(resolve_ino(ns.ctx, "/a/rel/..")), ino_of(ns, "/a/b")); // ".." of the target
    // The final link itself without kResolveFollow; followed with a trailing slash.
    EXPECT_EQ(MUST(resolve_ino(ns.ctx, "/a/rel", 0)), ino_of(ns, "/a/rel", false));
    EXPECT_NE(ino_of(ns, "/a/rel", false), c);
    EXPECT_EQ(MUST(resolve_ino(ns.ctx, "/a/rel/", 0)), c);
    // Through a link to a file, a further component is NOTDIR; a trailing slash too.
    EXPECT_ERRNO(resolve_ino(ns.ctx, "/a/b/up/x"), Errno::NOTDIR);
    EXPECT_ERRNO(resolve_ino(ns.ctx, "/a/b/up/"), Errno::NOTDIR);
    // Dangling.
    ASSERT_OK(fs::symlink(ns.ctx, "/nowhere", "/dangling"));
    EXPECT_ERRNO(resolve_ino(ns.ctx, "/dangling"), Errno::NOENT);
    EXPECT_OK(resolve_ino(ns.ctx, "/dangling", 0));
}

TEST_F(PathTest, SymlinkLoopsAndTheFortyLinkLimit)
{
    ASSERT_OK(fs::symlink(ns.ctx, "loop2", "/loop1"));
    ASSERT_OK(fs::symlink(ns.ctx, "loop1", "/loop2"));
    ASSERT_OK(fs::symlink(ns.ctx, "self", "/self"));
    EXPECT_ERRNO(resolve_ino(ns.ctx, "/loop1"), Errno::LOOP);
    EXPECT_ERRNO(resolve_ino(ns.ctx, "/self/x"), Errno::LOOP);
    EXPECT_OK(resolve_ino(ns.ctx, "/self", 0));

    // A chain of exactly 40 links resolves; 41 is LOOP.
    ASSERT_OK(fs::symlink(ns.ctx, "/a/b/c", "/l0"));
    for (int i = 1; i <= 40; i++)
        ASSERT_OK(fs::symlink(ns.ctx, ("/l" + std::to_string(i - 1)).c_str(), ("/l" + std::to_string(i)).c_str()));
    EXPECT_EQ(MUST(resolve_ino(ns.ctx, "/l39")), ino_of(ns, "/a/b/c"));
    EXPECT_ERRNO(resolve_ino(ns.ctx, "/l40"), Errno::LOOP);
}

TEST_F(PathTest, SymlinkExpansionThatGetsTooLongIsNameTooLong)
{
    std::string target(3000, '/');
    target += "a";
    ASSERT_OK(fs::symlink(ns.ctx, target.c_str(), "/long"));
    EXPECT_EQ(MUST(resolve_ino(ns.ctx, "/long")), ino_of(ns, "/a"));
    std::string rest = "/long" + std::string(1200, '/') + "b";
    EXPECT_ERRNO(resolve_ino(ns.ctx, rest), Errno::NAMETOOLONG);
}

TEST_F(PathTest, DirfdBaseForRelativePathsOnly)
{
    fs::PathContext at = ns.ctx;
    at.base = MUST(fs::lookup_directory(ns.ctx, "/a/b"));
    EXPECT_EQ(MUST(resolve_ino(at, "c")), ino_of(ns, "/a/b/c"));
    EXPECT_EQ(MUST(resolve_ino(at, "..")), ino_of(ns, "/a"));
    EXPECT_EQ(MUST(resolve_ino(at, "/a")), ino_of(ns, "/a"));
    // A base that is not a directory (openat with a file descriptor of a file).
    fs::Resolved file;
    ASSERT_OK(fs::resolve(ns.ctx, "/a/file", 0, file));
    at.base = file.node;
    EXPECT_ERRNO(resolve_ino(at, "x"), Errno::NOTDIR);
}

TEST_F(PathTest, ParentModeReportsNameAndTrailingSlash)
{
    fs::Resolved r;
    ASSERT_OK(fs::resolve(ns.ctx, "/a/b/new/", fs::kResolveParent, r));
    EXPECT_EQ(std::string(r.name), "new");
    EXPECT_TRUE(r.trailing_slash);
    EXPECT_FALSE(r.node.is_valid());
    EXPECT_EQ(r.parent.vnode->ino(), ino_of(ns, "/a/b"));
    ASSERT_OK(fs::resolve(ns.ctx, "/a/..", fs::kResolveParent, r));
    EXPECT_EQ(std::string(r.name), "..");
    EXPECT_TRUE(r.name_is_dot_or_dotdot());
    ASSERT_OK(fs::resolve(ns.ctx, "/", fs::kResolveParent, r));
    EXPECT_FALSE(r.parent.is_valid());
    EXPECT_EQ(r.name_length, 0u);
    EXPECT_ERRNO(fs::resolve(ns.ctx, "/nope/x", fs::kResolveParent, r), Errno::NOENT);
    // May-not-exist: the missing last component gives parent + name; a missing middle does not.
    ASSERT_OK(fs::resolve(ns.ctx, "/a/missing", fs::kResolveMayNotExist, r));
    EXPECT_FALSE(r.node.is_valid());
    EXPECT_EQ(std::string(r.name), "missing");
    EXPECT_ERRNO(fs::resolve(ns.ctx, "/missing/x", fs::kResolveMayNotExist, r), Errno::NOENT);
}

class MountPathTest : public PathTest {
protected:
    void SetUp() override
    {
        PathTest::SetUp();
        other = ns.make_ramfs();
        ASSERT_OK(ns.vfs.mount(ns.ctx, "/a/b", other));
        ASSERT_OK(fs::mkdir(ns.ctx, "/a/b/inner", 0755));
    }
    void TearDown() override { other.reset(); }
    Ref<fs::ramfs::RamFs> other;
};

TEST_F(MountPathTest, CrossingDownAndUp)
{
    // /a/b now shows the new filesystem's root; the old /a/b/c is hidden.
    fs::Attr b = MUST(ns.stat("/a/b"));
    EXPECT_EQ(b.dev, other->dev());
    EXPECT_ERRNO(ns.stat("/a/b/c"), Errno::NOENT);
    EXPECT_EQ(MUST(ns.stat("/a/b/inner")).dev, other->dev());
    // ".." from the mount's root goes to the covered directory's parent.
    EXPECT_EQ(MUST(resolve_ino(ns.ctx, "/a/b/..")), ino_of(ns, "/a"));
    EXPECT_EQ(MUST(resolve_ino(ns.ctx, "/a/b/inner/../../file")), ino_of(ns, "/a/file"));
    fs::PathContext inside = ns.ctx;
    inside.cwd = MUST(fs::lookup_directory(ns.ctx, "/a/b/inner"));
    EXPECT_EQ(MUST(resolve_ino(inside, "../..")), ino_of(ns, "/a"));
    // A symlink in the mounted fs pointing back out.
    ASSERT_OK(fs::symlink(ns.ctx, "../file", "/a/b/out"));
    EXPECT_EQ(MUST(resolve_ino(ns.ctx, "/a/b/out")), ino_of(ns, "/a/file"));
}

TEST_F(MountPathTest, StackedMountsShowTheNewest)
{
    Ref<fs::ramfs::RamFs> third = ns.make_ramfs();
    ASSERT_OK(ns.vfs.mount(ns.ctx, "/a/b", third));
    EXPECT_EQ(MUST(ns.stat("/a/b")).dev, third->dev());
    EXPECT_EQ(MUST(resolve_ino(ns.ctx, "/a/b/..")), ino_of(ns, "/a"));
    ASSERT_OK(ns.vfs.unmount(ns.ctx, "/a/b"));
    EXPECT_EQ(MUST(ns.stat("/a/b")).dev, other->dev());
    ASSERT_OK(ns.vfs.unmount(ns.ctx, "/a/b"));
    EXPECT_EQ(MUST(ns.stat("/a/b")).dev, ns.root_fs->dev());
    EXPECT_OK(ns.stat("/a/b/c"));
}

TEST_F(MountPathTest, UnmountRules)
{
    EXPECT_ERRNO(ns.vfs.unmount(ns.ctx, "/a"), Errno::INVAL);          // not a mount root
    EXPECT_ERRNO(ns.vfs.unmount(ns.ctx, "/"), Errno::BUSY);            // the root mount
    {
        auto file = MUST(fs::open(ns.ctx, "/a/b/inner", fs::kOpenReadOnly | fs::kOpenDirectory));
        EXPECT_ERRNO(ns.vfs.unmount(ns.ctx, "/a/b"), Errno::BUSY);     // in use
    }
    fs::PathContext inside = ns.ctx;
    inside.cwd = MUST(fs::lookup_directory(ns.ctx, "/a/b/inner"));
    EXPECT_ERRNO(ns.vfs.unmount(ns.ctx, "/a/b"), Errno::BUSY);         // someone's cwd
    inside.cwd = {};
    EXPECT_ERRNO(fs::unlink(ns.ctx, "/a/b", fs::kAtRemoveDir), Errno::BUSY); // mount point
    EXPECT_ERRNO(fs::rename(ns.ctx, "/a/b", ns.ctx, "/a/z"), Errno::BUSY);
    EXPECT_EQ(ns.vfs.mount_count(), 2u);
    ASSERT_OK(ns.vfs.unmount(ns.ctx, "/a/b/"));
    EXPECT_EQ(ns.vfs.mount_count(), 1u);
    EXPECT_ERRNO(ns.vfs.mount(ns.ctx, "/a/file", ns.make_ramfs()), Errno::NOTDIR);
    EXPECT_ERRNO(ns.vfs.mount(ns.ctx, "/a/b", ns.make_ramfs(), 0x80), Errno::INVAL);
}

TEST_F(MountPathTest, CrossMountLinkAndRenameAreXdev)
{
    EXPECT_ERRNO(fs::rename(ns.ctx, "/a/file", ns.ctx, "/a/b/file"), Errno::XDEV);
    EXPECT_ERRNO(fs::link(ns.ctx, "/a/file", ns.ctx, "/a/b/file", 0), Errno::XDEV);
    EXPECT_OK(fs::rename(ns.ctx, "/a/file", ns.ctx, "/a/file2"));
}

TEST_F(MountPathTest, ReadOnlyMountRefusesChanges)
{
    Ref<fs::ramfs::RamFs> ro = ns.make_ramfs();
    ASSERT_OK(ns.vfs.mount(ns.ctx, "/a/b/inner", ro, fs::kMountReadOnly));
    EXPECT_ERRNO(fs::mkdir(ns.ctx, "/a/b/inner/x", 0755), Errno::ROFS);
    EXPECT_ERRNO(ns.write_file("/a/b/inner/f", "x"), Errno::ROFS);
    EXPECT_ERRNO(fs::symlink(ns.ctx, "t", "/a/b/inner/l"), Errno::ROFS);
    EXPECT_ERRNO(fs::mkdir(ns.ctx, "/a/b/inner/..", 0755), Errno::EXIST); // EXIST before ROFS
    // Files made before the read-only mount (through the filesystem) are readable only.
    ASSERT_OK(ro->root()->create("f", 0644));
    EXPECT_OK(fs::open(ns.ctx, "/a/b/inner/f", fs::kOpenReadOnly));
    EXPECT_ERRNO(fs::open(ns.ctx, "/a/b/inner/f", fs::kOpenReadWrite), Errno::ROFS);
    EXPECT_ERRNO(fs::open(ns.ctx, "/a/b/inner/f", fs::kOpenReadOnly | fs::kOpenTruncate), Errno::ROFS);
    EXPECT_ERRNO(fs::unlink(ns.ctx, "/a/b/inner/f"), Errno::ROFS);
    fs::SetAttr chmod;
    chmod.mask = fs::SetAttr::kMode;
    EXPECT_ERRNO(fs::set_attr(ns.ctx, "/a/b/inner/f", true, chmod), Errno::ROFS);
    ASSERT_OK(ns.vfs.unmount(ns.ctx, "/a/b/inner"));
}

TEST_F(PathTest, GetPathWalksUpByNames)
{
    char buf[256];
    fs::Location c = MUST(fs::lookup_directory(ns.ctx, "/a/b/c"));
    EXPECT_EQ(MUST(fs::get_path(ns.ctx, c, buf, sizeof(buf))), 6u);
    EXPECT_STREQ(buf, "/a/b/c");
    EXPECT_EQ(MUST(fs::get_path(ns.ctx, ns.ctx.root, buf, sizeof(buf))), 1u);
    EXPECT_STREQ(buf, "/");
    EXPECT_ERRNO(fs::get_path(ns.ctx, c, buf, 6), Errno::RANGE); // no room for the NUL
    EXPECT_OK(fs::get_path(ns.ctx, c, buf, 7));

    // Renaming an ancestor is seen at once (nothing cached).
    ASSERT_OK(fs::rename(ns.ctx, "/a/b", ns.ctx, "/a/renamed"));
    ASSERT_OK(fs::get_path(ns.ctx, c, buf, sizeof(buf)));
    EXPECT_STREQ(buf, "/a/renamed/c");

    // A removed directory has no path.
    ASSERT_OK(fs::unlink(ns.ctx, "/a/renamed/c", fs::kAtRemoveDir));
    EXPECT_ERRNO(fs::get_path(ns.ctx, c, buf, sizeof(buf)), Errno::NOENT);

    // Relative to a chroot, and a directory outside it.
    fs::PathContext jail = ns.ctx;
    jail.root = MUST(fs::lookup_directory(ns.ctx, "/a"));
    fs::Location renamed = MUST(fs::lookup_directory(ns.ctx, "/a/renamed"));
    ASSERT_OK(fs::get_path(jail, renamed, buf, sizeof(buf)));
    EXPECT_STREQ(buf, "/renamed");
    EXPECT_ERRNO(fs::get_path(jail, ns.ctx.root, buf, sizeof(buf)), Errno::NOENT);
}

TEST_F(MountPathTest, GetPathAcrossMounts)
{
    char buf[256];
    fs::Location inner = MUST(fs::lookup_directory(ns.ctx, "/a/b/inner"));
    ASSERT_OK(fs::get_path(ns.ctx, inner, buf, sizeof(buf)));
    EXPECT_STREQ(buf, "/a/b/inner");
    fs::Location mount_root = MUST(fs::lookup_directory(ns.ctx, "/a/b"));
    ASSERT_OK(fs::get_path(ns.ctx, mount_root, buf, sizeof(buf)));
    EXPECT_STREQ(buf, "/a/b");
}

TEST_F(PathTest, DeepTreesResolveAndTearDownWithoutRecursion)
{
    // 2000 levels: the walk is iterative and the ramfs teardown too (ASan would catch a
    // stack overflow on the default stack only at far larger depths, but the code path runs).
    std::string path;
    for (int i = 0; i < 2000; i++) {
        ASSERT_OK(fs::mkdir(ns.ctx, (path + "/d").c_str(), 0755));
        path += "/d";
        if (path.size() > 3000) {
            ns.ctx.cwd = MUST(fs::lookup_directory(ns.ctx, path.c_str()));
            path = ".";
        }
    }
    ns.ctx.cwd = ns.ctx.root;
}

} // namespace
