// Unit tests of dependency resolution: the dynamic linker's search rules on fake file trees,
// and one comparison with the host's ldd.
#include "runner/dependencies.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <map>

#include "fake_host_fs.h"

namespace runner {
namespace {

using testing::add_debian_base;
using testing::FakeElf;
using testing::FakeHostFs;
using testing::make_elf;
using testing::make_library;
using testing::make_program;

// needed name -> path, for every library found by a DT_NEEDED.
std::map<std::string, std::string> found(const DependencyResolver& r) {
    std::map<std::string, std::string> out;
    for (const auto& o : r.objects()) {
        if (!o.needed_name.empty()) {
            out[o.needed_name] = o.path;
        }
    }
    return out;
}

std::string program_with(std::vector<std::string> needed, std::optional<std::string> rpath,
                         std::optional<std::string> runpath) {
    FakeElf f;
    f.interpreter = "/lib64/ld-linux-x86-64.so.2";
    f.needed = std::move(needed);
    f.rpath = std::move(rpath);
    f.runpath = std::move(runpath);
    f.flags_1 = DF_1_PIE;
    return make_elf(f);
}

std::string library_with(std::string soname, std::vector<std::string> needed,
                         std::optional<std::string> rpath, std::optional<std::string> runpath,
                         uint64_t flags_1 = 0) {
    FakeElf f;
    f.soname = std::move(soname);
    f.needed = std::move(needed);
    f.rpath = std::move(rpath);
    f.runpath = std::move(runpath);
    f.flags_1 = flags_1;
    f.entry = 0;
    return make_elf(f);
}

class RunnerDeps : public ::testing::Test {
protected:
    void SetUp() override { add_debian_base(fs); }

    Status load(const std::string& program) {
        resolver.emplace(fs, settings);
        return resolver->load_program(program);
    }

    FakeHostFs fs;
    ResolveSettings settings;
    std::optional<DependencyResolver> resolver;
};

TEST_F(RunnerDeps, DebianProgramThroughSymlinkedDirectories) {
    fs.add_file("/usr/bin/app", make_program({"libc.so.6"}), 0755);
    ASSERT_TRUE(load("/bin/app"));
    const auto& objects = resolver->objects();
    ASSERT_EQ(objects.size(), 3u);  // libc's DT_NEEDED ld-linux-x86-64.so.2 is the interpreter
    EXPECT_EQ(objects[0].path, "/bin/app");
    EXPECT_EQ(objects[1].path, "/lib64/ld-linux-x86-64.so.2");
    EXPECT_EQ(objects[2].path, "/lib/x86_64-linux-gnu/libc.so.6");
    EXPECT_EQ(objects[2].needed_name, "libc.so.6");
    EXPECT_EQ(objects[2].loader, 0);
    EXPECT_FALSE(resolver->is_musl());
}

TEST_F(RunnerDeps, StaticProgramNeedsNothing) {
    FakeElf f;
    f.type = ET_EXEC;
    f.dynamic = false;
    fs.add_file("/usr/bin/static", make_elf(f), 0755);
    ASSERT_TRUE(load("/usr/bin/static"));
    EXPECT_EQ(resolver->objects().size(), 1u);

    FakeElf pie;
    pie.flags_1 = DF_1_PIE;
    fs.add_file("/usr/bin/spie", make_elf(pie), 0755);
    ASSERT_TRUE(load("/usr/bin/spie"));
    EXPECT_EQ(resolver->objects().size(), 1u);
}

TEST_F(RunnerDeps, ProgramErrors) {
    fs.add_file("/usr/bin/script", "#!/bin/sh\n", 0755);
    EXPECT_EQ(load("/usr/bin/script").error,
              "not an ELF file: /usr/bin/script (scripts are not supported; run the interpreter instead)");
    EXPECT_EQ(load("/usr/bin/nothing").error, "program not found: /usr/bin/nothing: no such file or directory");
    fs.add_file("/usr/lib/libplain.so", make_library("libplain.so"), 0755);
    EXPECT_EQ(load("/usr/lib/libplain.so").error, "not executable: /usr/lib/libplain.so (a shared library)");
    FakeElf f32;
    f32.elf_class = ELFCLASS32;
    fs.add_file("/usr/bin/old", make_elf(f32), 0755);
    EXPECT_EQ(load("/usr/bin/old").error, "32-bit ELF not supported: /usr/bin/old");

    fs.add_file("/usr/bin/noint", make_program({"libc.so.6"}, "/lib/ld-nowhere.so.1"), 0755);
    EXPECT_EQ(load("/usr/bin/noint").error, "interpreter /lib/ld-nowhere.so.1 of /usr/bin/noint not found");
    fs.add_file("/usr/lib/ld-bad.so", make_elf(f32), 0755);
    fs.add_file("/usr/bin/badint", make_program({}, "/usr/lib/ld-bad.so"), 0755);
    EXPECT_NE(load("/usr/bin/badint").error.find("32-bit ELF"), std::string::npos);
}

TEST_F(RunnerDeps, MissingLibraryNamesWhoNeedsIt) {
    fs.add_file("/usr/lib/x86_64-linux-gnu/libfoo.so.1", make_library("libfoo.so.1", {"libgone.so.3"}));
    fs.add_file("/usr/bin/app", make_program({"libfoo.so.1", "libc.so.6", "libmissing.so.7"}), 0755);
    Status s = load("/usr/bin/app");
    EXPECT_FALSE(s);
    EXPECT_EQ(s.error, "libmissing.so.7 not found (needed by /usr/bin/app); "
                       "libgone.so.3 not found (needed by /lib/x86_64-linux-gnu/libfoo.so.1)");
}

TEST_F(RunnerDeps, WrongClassCandidatesAreSkipped) {
    FakeElf f32;
    f32.elf_class = ELFCLASS32;
    FakeElf arm;
    arm.machine = EM_AARCH64;
    fs.add_file("/usr/lib/x86_64-linux-gnu/libw.so.1", make_elf(f32));
    fs.add_file("/usr/lib/libw.so.1", make_library("libw.so.1"));
    fs.add_file("/usr/bin/app", make_program({"libw.so.1"}), 0755);
    ASSERT_TRUE(load("/usr/bin/app"));
    EXPECT_EQ(found(*resolver)["libw.so.1"], "/lib/libw.so.1");

    // None usable: the error says what was skipped.
    fs.add_file("/usr/lib/x86_64-linux-gnu/liba.so", make_elf(arm));
    fs.add_file("/usr/bin/app2", make_program({"liba.so"}), 0755);
    Status s = load("/usr/bin/app2");
    EXPECT_EQ(s.error, "liba.so not found (needed by /usr/bin/app2); skipped "
                       "/lib/x86_64-linux-gnu/liba.so: AArch64, /usr/lib/x86_64-linux-gnu/liba.so: AArch64");
}

TEST_F(RunnerDeps, SearchOrderRpathLibraryPathRunpathCacheDefaults) {
    for (const char* dir : {"/r", "/lp", "/u", "/c", "/usr/lib/x86_64-linux-gnu"}) {
        fs.add_file(std::string(dir) + "/libx.so.1", make_library("libx.so.1"));
    }
    settings.library_path = {"/lp"};

    // DT_RPATH (no DT_RUNPATH) comes first.
    fs.add_file("/usr/bin/a", program_with({"libx.so.1"}, "/r", std::nullopt), 0755);
    ASSERT_TRUE(load("/usr/bin/a"));
    EXPECT_EQ(found(*resolver)["libx.so.1"], "/r/libx.so.1");

    // With DT_RUNPATH, DT_RPATH is ignored and --library-path comes first.
    fs.add_file("/usr/bin/b", program_with({"libx.so.1"}, "/r", "/u"), 0755);
    ASSERT_TRUE(load("/usr/bin/b"));
    EXPECT_EQ(found(*resolver)["libx.so.1"], "/lp/libx.so.1");

    settings.library_path.clear();
    ASSERT_TRUE(load("/usr/bin/b"));
    EXPECT_EQ(found(*resolver)["libx.so.1"], "/u/libx.so.1");

    // Then ld.so.cache, then the default directories.
    fs.add_file("/usr/bin/c", make_program({"libx.so.1"}), 0755);
    ASSERT_TRUE(load("/usr/bin/c"));
    EXPECT_EQ(found(*resolver)["libx.so.1"], "/lib/x86_64-linux-gnu/libx.so.1");
}

TEST_F(RunnerDeps, RpathOfTheLoaderChain) {
    // The program's DT_RPATH serves a library's dependency, unless that library has DT_RUNPATH.
    fs.add_file("/usr/lib/x86_64-linux-gnu/liba.so", library_with("liba.so", {"libb.so"}, std::nullopt, std::nullopt));
    fs.add_file("/usr/lib/x86_64-linux-gnu/libc2.so", library_with("libc2.so", {"libb.so"}, std::nullopt, "/nowhere"));
    fs.add_file("/priv/libb.so", make_library("libb.so"));
    fs.add_file("/usr/bin/app", program_with({"liba.so"}, "/priv", std::nullopt), 0755);
    ASSERT_TRUE(load("/usr/bin/app"));
    EXPECT_EQ(found(*resolver)["libb.so"], "/priv/libb.so");

    fs.add_file("/usr/bin/app2", program_with({"libc2.so"}, "/priv", std::nullopt), 0755);
    Status s = load("/usr/bin/app2");
    EXPECT_EQ(s.error, "libb.so not found (needed by /lib/x86_64-linux-gnu/libc2.so)");
}

TEST_F(RunnerDeps, OriginOfProgramAndLibraries) {
    fs.add_file("/opt/app/bin/app", program_with({"libx.so"}, std::nullopt, "$ORIGIN/../lib"), 0755);
    fs.add_symlink("/usr/bin/app", "/opt/app/bin/app");  // $ORIGIN is the real directory
    fs.add_file("/opt/app/lib/libx.so", library_with("libx.so", {"liby.so"}, std::nullopt, "${ORIGIN}/private"));
    fs.add_file("/opt/app/lib/private/liby.so", make_library("liby.so"));
    ASSERT_TRUE(load("/usr/bin/app"));
    auto f = found(*resolver);
    EXPECT_EQ(f["libx.so"], "/opt/app/lib/libx.so");
    EXPECT_EQ(f["liby.so"], "/opt/app/lib/private/liby.so");
}

TEST_F(RunnerDeps, DynamicStringTokens) {
    ResolveSettings s;
    EXPECT_EQ(expand_dynamic_tokens("$ORIGIN/../lib", "/opt/a", s), "/opt/a/../lib");
    EXPECT_EQ(expand_dynamic_tokens("${ORIGIN}x", "/o", s), "/ox");
    EXPECT_EQ(expand_dynamic_tokens("/usr/$LIB/p", "/o", s), "/usr/lib/x86_64-linux-gnu/p");
    EXPECT_EQ(expand_dynamic_tokens("/x/${PLATFORM}", "/o", s), "/x/x86_64");
    EXPECT_EQ(expand_dynamic_tokens("/plain", "/o", s), "/plain");
    EXPECT_FALSE(expand_dynamic_tokens("$ORIGINX", "/o", s));
    EXPECT_FALSE(expand_dynamic_tokens("$HOME/lib", "/o", s));
    EXPECT_FALSE(expand_dynamic_tokens("${ORIGIN", "/o", s));
    EXPECT_FALSE(expand_dynamic_tokens("a$", "/o", s));

    // An unknown token drops that directory; the others are still searched.
    fs.add_file("/good/libx.so", make_library("libx.so"));
    fs.add_file("/usr/bin/app", program_with({"libx.so"}, std::nullopt, "$HOME/lib:/good"), 0755);
    ASSERT_TRUE(load("/usr/bin/app"));
    EXPECT_EQ(found(*resolver)["libx.so"], "/good/libx.so");
}

TEST_F(RunnerDeps, LdSoCache) {
    // Built the way ldconfig writes it: header, one x86-64 entry, strings.
    std::string key = "libodd.so.2", value = "/opt/odd/libodd.so.2";
    std::string cache(48 + 24, '\0');
    std::memcpy(cache.data(), "glibc-ld.so.cache1.1", 20);
    uint32_t v = 1;
    std::memcpy(cache.data() + 20, &v, 4);
    cache[28] = 2;
    int32_t flags = kLdCacheFlagsX8664Libc6;
    std::memcpy(cache.data() + 48, &flags, 4);
    v = 72;
    std::memcpy(cache.data() + 52, &v, 4);
    v = 72 + static_cast<uint32_t>(key.size()) + 1;
    std::memcpy(cache.data() + 56, &v, 4);
    cache += key + '\0' + value + '\0';
    fs.add_file("/etc/ld.so.cache", cache);
    fs.add_file("/opt/odd/libodd.so.2", make_library("libodd.so.2"));
    fs.add_file("/usr/bin/app", make_program({"libodd.so.2"}), 0755);
    ASSERT_TRUE(load("/usr/bin/app"));
    EXPECT_EQ(found(*resolver)["libodd.so.2"], "/opt/odd/libodd.so.2");
    EXPECT_TRUE(resolver->warnings().empty());

    // DF_1_NODEFLIB on the requester: neither the cache nor the default directories.
    fs.add_file("/usr/lib/x86_64-linux-gnu/libnd.so", library_with("libnd.so", {"libodd.so.2"}, std::nullopt,
                                                                  std::nullopt, DF_1_NODEFLIB));
    fs.add_file("/usr/bin/app2", make_program({"libnd.so"}), 0755);
    EXPECT_EQ(load("/usr/bin/app2").error, "libodd.so.2 not found (needed by /lib/x86_64-linux-gnu/libnd.so)");

    // A damaged cache is a warning, and the default directories still work.
    fs.set_data("/etc/ld.so.cache", "garbage");
    fs.add_file("/usr/bin/app3", make_program({"libc.so.6"}), 0755);
    ASSERT_TRUE(load("/usr/bin/app3"));
    ASSERT_EQ(resolver->warnings().size(), 1u);
    EXPECT_NE(resolver->warnings()[0].find("ignoring /etc/ld.so.cache"), std::string::npos);
}

TEST_F(RunnerDeps, OneFileUnderTwoNamesIsLoadedOnce) {
    fs.add_file("/usr/lib/x86_64-linux-gnu/libfoo.so.1.2", make_library("libfoo.so.1"));
    fs.add_symlink("/usr/lib/x86_64-linux-gnu/libfoo.so.1", "libfoo.so.1.2");
    fs.add_symlink("/usr/lib/x86_64-linux-gnu/libfoo-alias.so", "libfoo.so.1.2");
    fs.add_file("/usr/lib/x86_64-linux-gnu/libbar.so", make_library("libbar.so", {"libfoo-alias.so"}));
    fs.add_file("/usr/bin/app", make_program({"libfoo.so.1", "libbar.so"}), 0755);
    ASSERT_TRUE(load("/usr/bin/app"));
    EXPECT_EQ(resolver->objects().size(), 4u);  // app, ld.so, libfoo, libbar
}

TEST_F(RunnerDeps, NameWithSlashIsAPath) {
    fs.add_file("/opt/x/libabs.so", make_library("libabs.so"));
    fs.add_file("/work/librel.so", make_library("librel.so"));
    settings.cwd = "/work";
    fs.add_file("/usr/bin/app", make_program({"/opt/x/libabs.so", "./librel.so"}), 0755);
    ASSERT_TRUE(load("/usr/bin/app"));
    auto f = found(*resolver);
    EXPECT_EQ(f["/opt/x/libabs.so"], "/opt/x/libabs.so");
    EXPECT_EQ(f["./librel.so"], "/work/librel.so");
}

TEST_F(RunnerDeps, Musl) {
    fs.add_file("/usr/lib/x86_64-linux-musl/libc.so", make_library("libc.so"), 0755);
    fs.add_symlink("/usr/lib/ld-musl-x86_64.so.1", "/usr/lib/x86_64-linux-musl/libc.so");
    fs.add_file("/usr/lib/libz.so.1", make_library("libz.so.1", {"libc.so"}));
    fs.add_file("/usr/bin/mapp", make_program({"libc.so", "libm.so.6", "libz.so.1"}, "/lib/ld-musl-x86_64.so.1"),
                0755);
    ASSERT_TRUE(load("/usr/bin/mapp"));
    EXPECT_TRUE(resolver->is_musl());
    const auto& objects = resolver->objects();
    ASSERT_EQ(objects.size(), 3u);  // libc.so and libm.so.6 are the interpreter itself
    EXPECT_EQ(objects[1].path, "/lib/ld-musl-x86_64.so.1");
    EXPECT_EQ(objects[2].path, "/lib/libz.so.1");  // musl's default path starts with /lib

    // Debian's musl libc.so has no DT_SONAME: programs linked against it name it by path,
    // which is the interpreter's file.
    fs.add_file("/usr/bin/mapp2", make_program({"/lib/x86_64-linux-musl/libc.so"}, "/lib/ld-musl-x86_64.so.1"),
                0755);
    ASSERT_TRUE(load("/usr/bin/mapp2"));
    EXPECT_EQ(resolver->objects().size(), 2u);

    // The path file replaces the default directories; glibc's cache is not used.
    fs.add_file("/etc/ld-musl-x86_64.path", "/opt/m1\n/opt/m2:/opt/m3\n");
    fs.add_file("/opt/m3/libz.so.1", make_library("libz.so.1"));
    ASSERT_TRUE(load("/usr/bin/mapp"));
    EXPECT_EQ(resolver->objects()[2].path, "/opt/m3/libz.so.1");
}

TEST_F(RunnerDeps, ModulesLoadTheirLibrariesAndReportMissingOnes) {
    fs.add_file("/usr/bin/py", make_program({"libc.so.6"}), 0755);
    fs.add_file("/usr/lib/x86_64-linux-gnu/libffi.so.8", make_library("libffi.so.8", {"libc.so.6"}));
    fs.add_file("/usr/lib/py/_ctypes.so", make_library("", {"libffi.so.8", "libc.so.6"}));
    fs.add_file("/usr/lib/py/_gone.so", make_library("", {"libgone.so.1"}));
    ASSERT_TRUE(load("/usr/bin/py"));
    size_t before = resolver->objects().size();
    ASSERT_TRUE(resolver->load_module("/usr/lib/py/_ctypes.so"));
    ASSERT_EQ(resolver->objects().size(), before + 2);
    EXPECT_TRUE(resolver->objects()[before].is_module);
    EXPECT_EQ(resolver->objects()[before + 1].path, "/lib/x86_64-linux-gnu/libffi.so.8");

    Status s = resolver->load_module("/usr/lib/py/_gone.so");
    EXPECT_EQ(s.error, "libgone.so.1 not found (needed by /usr/lib/py/_gone.so)");
    EXPECT_TRUE(resolver->load_module("/usr/lib/py/_ctypes.so"));  // again: nothing new
    EXPECT_EQ(resolver->objects().size(), before + 3);
}

// ldd's view: needed name -> path, plus the interpreter (the line without "=>").
struct LddOutput {
    std::map<std::string, std::string> libraries;
    std::string interpreter;
    bool ok = false;
};

LddOutput run_ldd(const std::string& path) {
    LddOutput out;
    std::string command = "env -u LD_LIBRARY_PATH -u LD_PRELOAD ldd '" + path + "' 2>/dev/null";
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) {
        return out;
    }
    char line[4096];
    while (std::fgets(line, sizeof line, pipe) != nullptr) {
        std::string text = line;
        auto arrow = text.find(" => ");
        auto start = text.find_first_not_of(" \t");
        if (arrow != std::string::npos) {
            std::string name = text.substr(start, arrow - start);
            std::string rest = text.substr(arrow + 4);
            out.libraries[name] = rest.substr(0, rest.find(" ("));
        } else if (start != std::string::npos && text[start] == '/') {
            out.interpreter = text.substr(start, text.find(" (") - start);
        }
    }
    out.ok = ::pclose(pipe) == 0;
    return out;
}

TEST(RunnerDepsHost, MatchesLddOnThisHost) {
    int compared = 0;
    for (const char* program : {"/bin/ls", "/usr/bin/python3", "/usr/bin/qemu-system-x86_64"}) {
        RealHostFs fs;
        if (fs.lstat(program).kind == FileKind::Missing) {
            continue;
        }
        LddOutput ldd = run_ldd(program);
        if (!ldd.ok) {
            continue;  // no ldd, or it refused
        }
        DependencyResolver resolver(fs, ResolveSettings{});
        Status s = resolver.load_program(program);
        ASSERT_TRUE(s) << program << ": " << s.error;
        EXPECT_EQ(found(resolver), ldd.libraries) << program;
        ASSERT_GE(resolver.objects().size(), 2u);
        EXPECT_EQ(resolver.objects()[1].path, ldd.interpreter) << program;
        ++compared;
    }
    if (compared == 0) {
        GTEST_SKIP() << "no ldd or no programs to compare";
    }
}

} // namespace
} // namespace runner
