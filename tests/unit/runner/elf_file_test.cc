// Unit tests of the image builder's ELF reader: what it extracts, and that hostile or
// truncated input gives an error, never a crash.
#include "runner/elf_file.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "fake_host_fs.h"

namespace runner {
namespace {

using testing::FakeElf;
using testing::make_elf;

TEST(RunnerElf, ReadsInterpreterAndDynamicSection) {
    FakeElf f;
    f.interpreter = "/lib64/ld-linux-x86-64.so.2";
    f.needed = {"libfoo.so.1", "libc.so.6"};
    f.soname = "libself.so";
    f.rpath = "$ORIGIN/../lib";
    f.runpath = "/opt/lib";
    f.flags_1 = DF_1_PIE | DF_1_NODEFLIB;
    ElfResult r = parse_elf(make_elf(f));
    ASSERT_TRUE(r) << r.reason;
    EXPECT_EQ(r.info->type, ElfType::SharedObject);
    EXPECT_EQ(r.info->interpreter, "/lib64/ld-linux-x86-64.so.2");
    EXPECT_TRUE(r.info->has_dynamic);
    EXPECT_EQ(r.info->needed, (std::vector<std::string>{"libfoo.so.1", "libc.so.6"}));
    EXPECT_EQ(r.info->soname, "libself.so");
    EXPECT_EQ(r.info->rpath, "$ORIGIN/../lib");
    EXPECT_EQ(r.info->runpath, "/opt/lib");
    EXPECT_TRUE(r.info->pie_flag);
    EXPECT_TRUE(r.info->nodeflib);
    EXPECT_TRUE(r.info->is_program());
}

TEST(RunnerElf, StaticAndStaticPie) {
    FakeElf exec;
    exec.type = ET_EXEC;
    exec.dynamic = false;
    ElfResult r = parse_elf(make_elf(exec));
    ASSERT_TRUE(r);
    EXPECT_FALSE(r.info->has_dynamic);
    EXPECT_TRUE(r.info->needed.empty());
    EXPECT_TRUE(r.info->is_program());

    FakeElf pie;  // ET_DYN, no PT_INTERP, DF_1_PIE: what gcc -static-pie writes
    pie.flags_1 = DF_1_PIE;
    r = parse_elf(make_elf(pie));
    ASSERT_TRUE(r);
    EXPECT_TRUE(r.info->interpreter.empty());
    EXPECT_TRUE(r.info->is_program());
    EXPECT_EQ(why_not_a_program(*r.info), "");
}

TEST(RunnerElf, WhatIsNotAProgram) {
    FakeElf lib;  // a plain shared library
    lib.soname = "libx.so.1";
    ElfResult r = parse_elf(make_elf(lib));
    ASSERT_TRUE(r);
    EXPECT_FALSE(r.info->is_program());
    EXPECT_EQ(why_not_a_program(*r.info), "a shared library");

    FakeElf obj;
    obj.type = ET_REL;
    obj.dynamic = false;
    obj.entry = 0;
    r = parse_elf(make_elf(obj));
    ASSERT_TRUE(r);
    EXPECT_EQ(why_not_a_program(*r.info), "a relocatable object file");

    FakeElf core;
    core.type = ET_CORE;
    r = parse_elf(make_elf(core));
    ASSERT_TRUE(r);
    EXPECT_EQ(why_not_a_program(*r.info), "a core dump");

    FakeElf no_entry;
    no_entry.type = ET_EXEC;
    no_entry.entry = 0;
    r = parse_elf(make_elf(no_entry));
    ASSERT_TRUE(r);
    EXPECT_EQ(why_not_a_program(*r.info), "no entry point");
}

TEST(RunnerElf, RejectsWhatIsNotX8664Elf) {
    ElfResult r = parse_elf("hello world");
    EXPECT_FALSE(r);
    EXPECT_EQ(r.error, ElfError::NotElf);
    EXPECT_EQ(elf_error_message(r, "/x"), "not an ELF file: /x");

    r = parse_elf("#!/bin/sh\necho hi\n");
    EXPECT_EQ(r.error, ElfError::Script);
    EXPECT_EQ(elf_error_message(r, "/s.sh"),
              "not an ELF file: /s.sh (scripts are not supported; run the interpreter instead)");

    r = parse_elf("");
    EXPECT_EQ(r.error, ElfError::NotElf);

    FakeElf f32;
    f32.elf_class = ELFCLASS32;
    r = parse_elf(make_elf(f32));
    EXPECT_EQ(r.error, ElfError::Elf32);
    EXPECT_EQ(elf_error_message(r, "/a32"), "32-bit ELF not supported: /a32");

    FakeElf arm;
    arm.machine = EM_AARCH64;
    r = parse_elf(make_elf(arm));
    EXPECT_EQ(r.error, ElfError::WrongMachine);
    EXPECT_EQ(elf_error_message(r, "/arm"), "wrong architecture: /arm is AArch64, not x86-64");

    FakeElf odd;
    odd.machine = 4242;
    r = parse_elf(make_elf(odd));
    EXPECT_EQ(elf_error_message(r, "/o"), "wrong architecture: /o is machine 4242, not x86-64");

    FakeElf big;
    big.data = ELFDATA2MSB;
    r = parse_elf(make_elf(big));
    EXPECT_EQ(r.error, ElfError::WrongMachine);
}

TEST(RunnerElf, MalformedTablesAreErrors) {
    FakeElf f;
    f.needed = {"libc.so.6"};
    std::string good = make_elf(f);

    // Program headers pointing past the end.
    std::string bad = good;
    Elf64_Ehdr eh;
    std::memcpy(&eh, bad.data(), sizeof eh);
    eh.e_phoff = 1u << 30;
    std::memcpy(bad.data(), &eh, sizeof eh);
    ElfResult r = parse_elf(bad);
    EXPECT_EQ(r.error, ElfError::Malformed);
    EXPECT_NE(elf_error_message(r, "/m").find("program headers beyond the end"), std::string::npos);

    // Wrong program header entry size.
    bad = good;
    eh.e_phoff = sizeof(Elf64_Ehdr);
    eh.e_phentsize = 12;
    std::memcpy(bad.data(), &eh, sizeof eh);
    EXPECT_EQ(parse_elf(bad).error, ElfError::Malformed);

    // A DT_NEEDED offset outside the string table: make the table 1 byte long.
    bad = good;
    std::memcpy(&eh, good.data(), sizeof eh);
    for (size_t off = 0; off + sizeof(Elf64_Dyn) <= bad.size(); off += 8) {
        Elf64_Dyn d;
        std::memcpy(&d, bad.data() + off, sizeof d);
        if (d.d_tag == DT_STRSZ && d.d_un.d_val > 1 && d.d_un.d_val < 64) {
            d.d_un.d_val = 1;
            std::memcpy(bad.data() + off, &d, sizeof d);
            break;
        }
    }
    r = parse_elf(bad);
    EXPECT_EQ(r.error, ElfError::Malformed);
    EXPECT_NE(r.reason.find("outside DT_STRTAB"), std::string::npos) << r.reason;
}

TEST(RunnerElf, EveryTruncationIsHandled) {
    FakeElf f;
    f.interpreter = "/lib64/ld-linux-x86-64.so.2";
    f.needed = {"libfoo.so.1", "libbar.so.2"};
    f.runpath = "$ORIGIN";
    std::string good = make_elf(f);
    for (size_t n = 0; n < good.size(); ++n) {
        ElfResult r = parse_elf(std::string_view(good).substr(0, n));
        if (r) {
            // Only possible once everything parsed lies inside the prefix.
            EXPECT_LE(r.info->needed.size(), 2u);
        }
    }
}

TEST(RunnerElf, RandomCorruptionNeverCrashes) {
    FakeElf f;
    f.interpreter = "/lib64/ld-linux-x86-64.so.2";
    f.needed = {"libfoo.so.1", "libbar.so.2"};
    f.rpath = "/a:/b";
    f.soname = "x";
    std::string good = make_elf(f);
    std::mt19937 rng(12345);
    for (int round = 0; round < 20000; ++round) {
        std::string bytes = good;
        int flips = 1 + static_cast<int>(rng() % 8);
        for (int i = 0; i < flips; ++i) {
            size_t at = rng() % bytes.size();
            bytes[at] = static_cast<char>(rng());
        }
        if (rng() % 4 == 0) {
            bytes.resize(rng() % bytes.size());
        }
        (void)parse_elf(bytes);  // ASan/UBSan watch the reads
    }
}

TEST(RunnerElf, ReadsTheHostsLs) {
    std::ifstream in("/bin/ls", std::ios::binary);
    if (!in) {
        GTEST_SKIP() << "no /bin/ls";
    }
    std::stringstream bytes;
    bytes << in.rdbuf();
    ElfResult r = parse_elf(bytes.str());
    ASSERT_TRUE(r) << r.reason;
    EXPECT_TRUE(r.info->is_program());
    EXPECT_FALSE(r.info->interpreter.empty());
    EXPECT_FALSE(r.info->needed.empty());
}

} // namespace
} // namespace runner
