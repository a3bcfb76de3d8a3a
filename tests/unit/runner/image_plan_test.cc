// Unit tests of the image plan: host paths reproduced with their symlinks, trees, guest paths
// resolved through planned symlinks, conflicts.
#include "runner/image_plan.h"

#include <gtest/gtest.h>

#include "fake_host_fs.h"

namespace runner {
namespace {

using testing::add_debian_base;
using testing::FakeHostFs;
using Kind = PlanEntry::Kind;

std::string describe(const ImagePlan& plan, const std::string& path) {
    auto it = plan.entries().find(path);
    if (it == plan.entries().end()) {
        return "missing";
    }
    switch (it->second.kind) {
    case Kind::Directory: return "dir";
    case Kind::File: return "file " + it->second.host_path;
    case Kind::Symlink: return "-> " + it->second.target;
    }
    return "?";
}

TEST(RunnerImagePlan, ReproducesTheSymlinkChainOfTheLoader) {
    FakeHostFs fs;
    add_debian_base(fs);
    ImagePlan plan;
    auto physical = plan.add_host_path(fs, "/lib64/ld-linux-x86-64.so.2");
    ASSERT_TRUE(physical) << physical.error;
    EXPECT_EQ(*physical.value, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
    EXPECT_EQ(describe(plan, "/lib64"), "-> usr/lib64");
    EXPECT_EQ(describe(plan, "/usr/lib64"), "dir");
    EXPECT_EQ(describe(plan, "/usr/lib64/ld-linux-x86-64.so.2"), "-> /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
    EXPECT_EQ(describe(plan, "/lib"), "-> usr/lib");
    EXPECT_EQ(describe(plan, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
              "file /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
    EXPECT_EQ(plan.file_count(), 1u);
    EXPECT_EQ(plan.entries().at("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2").mode, 0755u);

    // Adding the same things again changes nothing.
    auto before = plan.entries().size();
    ASSERT_TRUE(plan.add_host_path(fs, "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"));
    EXPECT_EQ(plan.entries().size(), before);
}

TEST(RunnerImagePlan, RelativeTargetsWithDotDotAndChains) {
    FakeHostFs fs;
    fs.add_file("/opt/real/v2/lib.so", "x");
    fs.add_symlink("/opt/real/current", "v2");
    fs.add_symlink("/opt/link", "real/current/../current/./lib.so");
    ImagePlan plan;
    auto physical = plan.add_host_path(fs, "/opt/link");
    ASSERT_TRUE(physical) << physical.error;
    EXPECT_EQ(*physical.value, "/opt/real/v2/lib.so");
    EXPECT_EQ(describe(plan, "/opt/link"), "-> real/current/../current/./lib.so");
    EXPECT_EQ(describe(plan, "/opt/real/current"), "-> v2");
    EXPECT_EQ(describe(plan, "/opt/real/v2/lib.so"), "file /opt/real/v2/lib.so");
}

TEST(RunnerImagePlan, HostPathErrors) {
    FakeHostFs fs;
    fs.add_symlink("/loop/a", "b");
    fs.add_symlink("/loop/b", "a");
    fs.add_file("/f", "x");
    fs.add_other("/dev/null");
    ImagePlan plan;
    EXPECT_EQ(plan.add_host_path(fs, "/loop/a").error, "/loop/a: too many levels of symbolic links");
    EXPECT_EQ(plan.add_host_path(fs, "/nope/x").error, "/nope/x: no such file or directory (/nope)");
    EXPECT_EQ(plan.add_host_path(fs, "/f/x").error, "/f/x: not a directory (/f)");
    EXPECT_EQ(plan.add_host_path(fs, "/dev/null").error, "/dev/null: not a regular file, directory or symlink");
}

TEST(RunnerImagePlan, TreesKeepInnerSymlinksAndSkip) {
    FakeHostFs fs;
    fs.add_file("/data/app/a.txt", "a");
    fs.add_file("/data/app/sub/b.txt", "bb", 0600);
    fs.add_symlink("/data/app/link", "../elsewhere");
    fs.add_dir("/data/app/skipme");
    fs.add_file("/data/app/skipme/big", "zzz");
    fs.add_other("/data/app/fifo");
    ImagePlan plan;
    std::vector<AddedFile> files;
    std::vector<std::string> warnings;
    auto skip = [](const std::string& p) { return p == "/data/app/skipme"; };
    ASSERT_TRUE(plan.add_host_tree(fs, "/data/app", skip, &files, &warnings));
    EXPECT_EQ(describe(plan, "/data/app/a.txt"), "file /data/app/a.txt");
    EXPECT_EQ(describe(plan, "/data/app/sub/b.txt"), "file /data/app/sub/b.txt");
    EXPECT_EQ(plan.entries().at("/data/app/sub/b.txt").mode, 0600u);
    EXPECT_EQ(describe(plan, "/data/app/link"), "-> ../elsewhere");
    EXPECT_EQ(describe(plan, "/data/app/skipme"), "missing");
    EXPECT_EQ(describe(plan, "/data/app/fifo"), "missing");
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("/data/app/fifo"), std::string::npos);
    ASSERT_EQ(files.size(), 2u);
    EXPECT_EQ(files[0].guest_path, "/data/app/a.txt");
    EXPECT_EQ(plan.data_bytes(), 3u);
}

TEST(RunnerImagePlan, GuestPathsGoThroughPlannedSymlinks) {
    FakeHostFs fs;
    add_debian_base(fs);
    fs.add_file("/home/me/plugin.so", "p");
    fs.add_dir("/home/me/conf");
    fs.add_file("/home/me/conf/app.ini", "ini");
    fs.add_symlink("/home/me/conf-link", "conf");
    ImagePlan plan;
    ASSERT_TRUE(plan.add_host_path(fs, "/lib/x86_64-linux-gnu/libc.so.6"));
    std::vector<AddedFile> files;
    std::vector<std::string> warnings;
    // /lib is a symlink in the image: the file lands in /usr/lib.
    ASSERT_TRUE(plan.add_tree(fs, "/home/me/plugin.so", "/lib/plugins/p.so", nullptr, &files, &warnings));
    EXPECT_EQ(describe(plan, "/usr/lib/plugins/p.so"), "file /home/me/plugin.so");
    EXPECT_EQ(describe(plan, "/lib"), "-> usr/lib");
    // A host symlink given as HOST is followed; the tree lands at GUEST.
    ASSERT_TRUE(plan.add_tree(fs, "/home/me/conf-link", "/etc/app", nullptr, &files, &warnings));
    EXPECT_EQ(describe(plan, "/etc/app/app.ini"), "file /home/me/conf/app.ini");
    EXPECT_EQ(files.back().guest_path, "/etc/app/app.ini");
}

TEST(RunnerImagePlan, Conflicts) {
    FakeHostFs fs;
    add_debian_base(fs);
    fs.add_file("/x/file", "f");
    ImagePlan plan;
    ASSERT_TRUE(plan.add_host_path(fs, "/lib64/ld-linux-x86-64.so.2"));
    std::vector<AddedFile> files;
    std::vector<std::string> warnings;
    // A file where the image has a directory.
    Status s = plan.add_tree(fs, "/x/file", "/usr/lib", nullptr, &files, &warnings);
    EXPECT_EQ(s.error, "cannot add a file at /usr/lib: it is already a directory in the image");
    // Below a file.
    ASSERT_TRUE(plan.add_contents("/etc/passwd", "root", 0644));
    s = plan.add_tree(fs, "/x/file", "/etc/passwd/x", nullptr, &files, &warnings);
    EXPECT_EQ(s.error, "cannot add /etc/passwd/x: /etc/passwd is a file in the image");
    // Files replace files; directories merge.
    ASSERT_TRUE(plan.add_tree(fs, "/x/file", "/etc/passwd", nullptr, &files, &warnings));
    EXPECT_EQ(describe(plan, "/etc/passwd"), "file /x/file");
    ASSERT_TRUE(plan.add_directory("/usr/lib", 0700));
    EXPECT_EQ(plan.entries().at("/usr/lib").mode, 0755u);  // the first one's metadata stays
    EXPECT_FALSE(plan.add_contents("/", "x", 0644));
    EXPECT_TRUE(plan.add_directory("/", 0755));
}

TEST(RunnerImagePlan, PathHelpers) {
    EXPECT_EQ(normalize_path("/a//b/./c/../d/"), "/a/b/d");
    EXPECT_EQ(normalize_path("/../.."), "/");
    EXPECT_EQ(normalize_path("a/../../b"), "../b");
    EXPECT_EQ(normalize_path(""), "");
    EXPECT_EQ(parent_path("/a/b"), "/a");
    EXPECT_EQ(parent_path("/a"), "/");
    EXPECT_EQ(parent_path("/"), "/");
    EXPECT_EQ(base_name("/a/b"), "b");
    EXPECT_EQ(base_name("/"), "");
    EXPECT_EQ(join_path("/a/b", "../c"), "/a/c");
    EXPECT_EQ(join_path("/a", "/abs"), "/abs");
    EXPECT_EQ(join_path("/a", ""), "/a");
    EXPECT_EQ(split_path("//a/b/"), (std::vector<std::string>{"a", "b"}));
}

TEST(RunnerImagePlan, RealPath) {
    FakeHostFs fs;
    add_debian_base(fs);
    fs.add_dir("/usr/bin");
    EXPECT_EQ(*real_path(fs, "/lib64/ld-linux-x86-64.so.2").value,
              "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
    EXPECT_EQ(*real_path(fs, "/bin/../lib").value, "/usr/lib");  // physical "..", as the kernel does
    EXPECT_EQ(real_path(fs, "/lib/none").error, "/lib/none: no such file or directory (/usr/lib/none)");
}

} // namespace
} // namespace runner
