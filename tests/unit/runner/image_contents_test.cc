// Unit tests of image contents: what a program's image holds, the Python profile, --add and
// manifests, finding the program.
#include "runner/image_contents.h"

#include <gtest/gtest.h>

#include "fake_host_fs.h"

namespace runner {
namespace {

using testing::add_debian_base;
using testing::FakeHostFs;
using testing::make_library;
using testing::make_program;
using Kind = PlanEntry::Kind;

bool has(const ImagePlan& plan, const std::string& path, Kind kind) {
    auto it = plan.entries().find(path);
    return it != plan.entries().end() && it->second.kind == kind;
}

class RunnerImageContents : public ::testing::Test {
protected:
    void SetUp() override {
        add_debian_base(fs);
        fs.add_file("/usr/bin/app", make_program({"libc.so.6"}), 0755);
    }

    Parsed<ImageContents> collect(const std::string& program, std::vector<AddSpec> adds = {}) {
        ImageRequest request;
        request.program = program;
        request.adds = std::move(adds);
        return collect_image_contents(fs, request);
    }

    FakeHostFs fs;
};

TEST_F(RunnerImageContents, ProgramLibrariesEtcAndMountPoints) {
    auto c = collect("/bin/app");
    ASSERT_TRUE(c) << c.error;
    const ImagePlan& plan = c.value->plan;
    EXPECT_TRUE(has(plan, "/bin", Kind::Symlink));
    EXPECT_TRUE(has(plan, "/usr/bin/app", Kind::File));
    EXPECT_TRUE(has(plan, "/lib64", Kind::Symlink));
    EXPECT_TRUE(has(plan, "/usr/lib64/ld-linux-x86-64.so.2", Kind::Symlink));
    EXPECT_TRUE(has(plan, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", Kind::File));
    EXPECT_TRUE(has(plan, "/usr/lib/x86_64-linux-gnu/libc.so.6", Kind::File));
    for (const char* dir : {"/tmp", "/dev", "/proc", "/sys", "/etc"}) {
        EXPECT_TRUE(has(plan, dir, Kind::Directory)) << dir;
    }
    EXPECT_EQ(plan.entries().at("/tmp").mode, 01777u);
    for (const char* file : {"/etc/passwd", "/etc/group", "/etc/hosts", "/etc/nsswitch.conf", "/etc/resolv.conf"}) {
        EXPECT_TRUE(has(plan, file, Kind::File)) << file;
    }
    EXPECT_NE(plan.entries().at("/etc/passwd").contents.find("root:x:0:0:"), std::string::npos);
    EXPECT_NE(plan.entries().at("/etc/passwd").contents.find("nobody:x:65534:"), std::string::npos);
    EXPECT_NE(plan.entries().at("/etc/hosts").contents.find("localhost"), std::string::npos);
    EXPECT_EQ(plan.entries().at("/etc/nsswitch.conf").contents.find("dns"), std::string::npos);
    EXPECT_EQ(plan.file_count(), 3u + 5u);
    EXPECT_TRUE(c.value->warnings.empty());
}

TEST_F(RunnerImageContents, WarnsAboutWhatMountsWillHide) {
    fs.add_file("/proc/build/app", make_program({"libc.so.6"}), 0755);
    auto c = collect("/proc/build/app");
    ASSERT_TRUE(c) << c.error;
    ASSERT_EQ(c.value->warnings.size(), 1u);
    EXPECT_EQ(c.value->warnings[0], "/proc/build will be hidden: the kernel mounts a file system on /proc");
}

TEST_F(RunnerImageContents, ProgramsUnderTmpAreNotHidden) {
    // The kernel copies the image's /tmp into the ramfs it mounts there.
    fs.add_file("/tmp/build/app", make_program({"libc.so.6"}), 0755);
    auto c = collect("/tmp/build/app");
    ASSERT_TRUE(c) << c.error;
    EXPECT_TRUE(c.value->warnings.empty());
}

TEST_F(RunnerImageContents, ErrorsComeFromTheProgram) {
    fs.add_file("/usr/bin/tool", make_program({"libnope.so.1"}), 0755);
    EXPECT_EQ(collect("/usr/bin/tool").error, "libnope.so.1 not found (needed by /usr/bin/tool)");
}

TEST_F(RunnerImageContents, PythonProfile) {
    fs.add_file("/usr/bin/python3.11", make_program({"libc.so.6", "libz.so.1"}), 0755);
    fs.add_symlink("/usr/bin/python3", "python3.11");
    fs.add_file("/usr/lib/x86_64-linux-gnu/libz.so.1", make_library("libz.so.1"));
    fs.add_file("/usr/lib/x86_64-linux-gnu/libffi.so.8", make_library("libffi.so.8"));
    const std::string tree = "/usr/lib/python3.11";
    fs.add_file(tree + "/os.py", "# os");
    fs.add_file(tree + "/__pycache__/os.cpython-311.pyc", "pyc");
    fs.add_file(tree + "/encodings/utf_8.py", "#");
    fs.add_file(tree + "/lib-dynload/_ctypes.cpython-311-x86_64-linux-gnu.so",
                make_library("", {"libffi.so.8", "libc.so.6"}));
    fs.add_file(tree + "/lib-dynload/_broken.cpython-311-x86_64-linux-gnu.so", make_library("", {"libgone.so.2"}));
    fs.add_file(tree + "/lib-dynload/notelf.so", "just text");
    fs.add_file(tree + "/test/test_os.py", "#");
    fs.add_file(tree + "/idlelib/idle.py", "#");
    fs.add_file(tree + "/site-packages/pkg.py", "#");
    fs.add_file(tree + "/config-3.11-x86_64-linux-gnu/libpython3.11.a", "big");
    fs.add_file(tree + "/encodings/test/keep.py", "#");  // only the top-level test/ is skipped

    auto c = collect("/usr/bin/python3");
    ASSERT_TRUE(c) << c.error;
    const ImagePlan& plan = c.value->plan;
    EXPECT_TRUE(has(plan, "/usr/bin/python3", Kind::Symlink));
    EXPECT_TRUE(has(plan, "/usr/bin/python3.11", Kind::File));
    EXPECT_TRUE(has(plan, tree + "/os.py", Kind::File));
    EXPECT_TRUE(has(plan, tree + "/__pycache__/os.cpython-311.pyc", Kind::File));
    EXPECT_TRUE(has(plan, tree + "/encodings/test/keep.py", Kind::File));
    EXPECT_TRUE(has(plan, tree + "/lib-dynload/notelf.so", Kind::File));
    for (const char* gone : {"/test", "/idlelib", "/site-packages", "/config-3.11-x86_64-linux-gnu"}) {
        EXPECT_FALSE(plan.contains(tree + gone)) << gone;
    }
    // The extension modules' libraries came in; the broken one is a warning.
    EXPECT_TRUE(has(plan, "/usr/lib/x86_64-linux-gnu/libffi.so.8", Kind::File));
    ASSERT_EQ(c.value->warnings.size(), 1u);
    EXPECT_EQ(c.value->warnings[0], tree + "/lib-dynload/_broken.cpython-311-x86_64-linux-gnu.so: "
                                           "libgone.so.2 not found (needed by " +
                                           tree + "/lib-dynload/_broken.cpython-311-x86_64-linux-gnu.so)"
                                           " (that module will fail to load)");

    // No library tree: a warning, and the program alone.
    fs.add_file("/opt/py/bin/python3.12", make_program({"libc.so.6"}), 0755);
    c = collect("/opt/py/bin/python3.12");
    ASSERT_TRUE(c) << c.error;
    ASSERT_EQ(c.value->warnings.size(), 1u);
    EXPECT_NE(c.value->warnings[0].find("/opt/py/lib/python3.12 not found"), std::string::npos);
}

TEST_F(RunnerImageContents, AddsAndTheirModules) {
    fs.add_file("/home/me/data/a.txt", "a");
    fs.add_file("/home/me/plugins/libplug.so", make_library("libplug.so", {"libz.so.1"}));
    fs.add_file("/usr/lib/x86_64-linux-gnu/libz.so.1", make_library("libz.so.1"));
    fs.add_file("/home/me/passwd", "me:x:1000:1000::/:/bin/sh\n");
    std::vector<AddSpec> adds = {
        {"/home/me/data", std::nullopt, "--add /home/me/data"},
        {"/home/me/plugins", "/app/plugins", "--add /home/me/plugins:/app/plugins"},
        {"/home/me/passwd", "/etc/passwd", "m.txt:3"},
    };
    auto c = collect("/usr/bin/app", adds);
    ASSERT_TRUE(c) << c.error;
    const ImagePlan& plan = c.value->plan;
    EXPECT_TRUE(has(plan, "/home/me/data/a.txt", Kind::File));
    EXPECT_TRUE(has(plan, "/app/plugins/libplug.so", Kind::File));
    EXPECT_FALSE(plan.contains("/home/me/plugins"));  // the module is not copied twice
    EXPECT_TRUE(has(plan, "/usr/lib/x86_64-linux-gnu/libz.so.1", Kind::File));
    EXPECT_EQ(plan.entries().at("/etc/passwd").host_path, "/home/me/passwd");  // --add wins over /etc

    fs.add_dir("/proc/1");
    fs.add_symlink("/home/me/root", "/");
    for (const char* host : {"/proc", "/proc/1", "/home/me/root"}) {
        adds = {{host, std::nullopt, "--add x"}};
        EXPECT_NE(collect("/usr/bin/app", adds).error.find("--add x: refusing to copy"), std::string::npos) << host;
    }
    fs.add_file("/devices.txt", "not /dev");
    adds = {{"/devices.txt", std::nullopt, "--add x"}};
    EXPECT_TRUE(collect("/usr/bin/app", adds));

    adds = {{"/home/me/missing", std::nullopt, "m.txt:7"}};
    EXPECT_EQ(collect("/usr/bin/app", adds).error, "m.txt:7: /home/me/missing: no such file or directory");
}

TEST(RunnerImageInputs, AddSpecs) {
    auto s = parse_add_spec("data/x:/opt/x/", "/home/me", "--add data/x:/opt/x/");
    ASSERT_TRUE(s) << s.error;
    EXPECT_EQ(s.value->host, "/home/me/data/x");
    EXPECT_EQ(s.value->guest, "/opt/x");
    s = parse_add_spec("/abs", "/home/me", "--add /abs");
    ASSERT_TRUE(s);
    EXPECT_EQ(s.value->host, "/abs");
    EXPECT_FALSE(s.value->guest);
    EXPECT_EQ(parse_add_spec("x:rel", "/", "--add x:rel").error,
              "--add x:rel: GUEST must be an absolute path: 'rel'");
    EXPECT_EQ(parse_add_spec("x:", "/", "--add x:").error, "--add x:: GUEST must be an absolute path: ''");
    EXPECT_EQ(parse_add_spec(":/g", "/", "--add :/g").error, "--add :/g: empty HOST path");
}

TEST(RunnerImageInputs, Manifests) {
    std::string text =
        "# the app's data\n"
        "\n"
        "  data/config.ini:/etc/app.ini  \r\n"
        "/usr/share/zoneinfo/UTC\n"
        "\t# indented comment\n"
        "assets:/srv/assets";  // no final newline
    auto m = parse_manifest(text, "app.manifest", "/proj");
    ASSERT_TRUE(m) << m.error;
    ASSERT_EQ(m.value->size(), 3u);
    EXPECT_EQ((*m.value)[0].host, "/proj/data/config.ini");
    EXPECT_EQ((*m.value)[0].guest, "/etc/app.ini");
    EXPECT_EQ((*m.value)[0].origin, "app.manifest:3");
    EXPECT_EQ((*m.value)[1].host, "/usr/share/zoneinfo/UTC");
    EXPECT_FALSE((*m.value)[1].guest);
    EXPECT_EQ((*m.value)[2].origin, "app.manifest:6");

    EXPECT_EQ(parse_manifest("ok\n\nbad:relative\n", "m", "/").error,
              "m:3: GUEST must be an absolute path: 'relative'");
    EXPECT_EQ(parse_manifest(std::string("a\nb\0c\n", 6), "m", "/").error, "m:2: NUL byte in the line");
    auto empty = parse_manifest("# nothing\n\n", "m", "/");
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty.value->empty());
}

TEST(RunnerImageInputs, FindProgramLikeAShell) {
    FakeHostFs fs;
    fs.add_file("/usr/bin/tool", "x", 0755);
    fs.add_file("/usr/local/bin/tool", "x", 0644);  // not executable: skipped
    fs.add_file("/home/me/bin/mine", "x", 0755);
    fs.add_file("/home/me/notexec", "x", 0644);
    fs.add_dir("/usr/bin/adir");
    EXPECT_EQ(*find_program(fs, "tool", "/usr/local/bin:/usr/bin", "/").value, "/usr/bin/tool");
    EXPECT_EQ(*find_program(fs, "mine", "/usr/bin::", "/home/me/bin").value, "/home/me/bin/mine");  // "" = cwd
    EXPECT_EQ(*find_program(fs, "bin/mine", "", "/home/me").value, "/home/me/bin/mine");
    EXPECT_EQ(*find_program(fs, "./bin/../bin/mine", "", "/home/me").value, "/home/me/bin/mine");
    EXPECT_EQ(find_program(fs, "nothing", "/usr/bin", "/").error, "program not found on PATH: nothing");
    EXPECT_EQ(find_program(fs, "/usr/bin/nothing", "", "/").error, "program not found: /usr/bin/nothing");
    EXPECT_EQ(find_program(fs, "./notexec", "", "/home/me").error,
              "not executable: /home/me/notexec (no execute permission)");
    EXPECT_EQ(find_program(fs, "/usr/bin/adir", "", "/").error, "not a regular file: /usr/bin/adir");
    EXPECT_EQ(find_program(fs, "adir", "/usr/bin", "/").error, "program not found on PATH: adir");
}

TEST(RunnerImageInputs, Names) {
    EXPECT_EQ(python_library_dir("/usr/bin/python3.11"), "/usr/lib/python3.11");
    EXPECT_EQ(python_library_dir("/opt/py/bin/python3.12"), "/opt/py/lib/python3.12");
    EXPECT_FALSE(python_library_dir("/usr/bin/python3"));
    EXPECT_FALSE(python_library_dir("/usr/bin/python3.11-config"));
    EXPECT_FALSE(python_library_dir("/usr/bin/python"));
    EXPECT_TRUE(is_shared_object_name("libz.so"));
    EXPECT_TRUE(is_shared_object_name("libz.so.1.2.13"));
    EXPECT_TRUE(is_shared_object_name("_ctypes.cpython-311-x86_64-linux-gnu.so"));
    EXPECT_FALSE(is_shared_object_name(".so"));
    EXPECT_FALSE(is_shared_object_name("notes.sorted"));
    EXPECT_FALSE(is_shared_object_name("a.txt"));
}

} // namespace
} // namespace runner
