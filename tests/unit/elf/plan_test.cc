// Unit tests for elf::plan_load, reserve_span, bias_within and check_plan: exact plans for
// the usual shapes, pages shared between segments, biases, the host's real files, and
// randomised layouts executed by a page model and compared byte by byte.
#include <elf/elf.h>

#include "elf_image.h"
#include <gtest/gtest.h>
#include <memory>
#include <random>
#include <string>

namespace {

using namespace elf_test;
using Kind = elf::LoadStep::Kind;
using elf::Prot;

constexpr Prot kR = Prot::Read;
constexpr Prot kRW = Prot::Read | Prot::Write;
constexpr Prot kRX = Prot::Read | Prot::Exec;
constexpr Prot kRWX = Prot::Read | Prot::Write | Prot::Exec;

std::unique_ptr<elf::Executable> parse_ok(const Bytes& bytes)
{
    BufferReader reader(bytes);
    elf::ParseError why;
    auto r = elf::parse(reader, &why);
    EXPECT_FALSE(r.is_error()) << why.message;
    if (r.is_error())
        return nullptr;
    return std::make_unique<elf::Executable>(r.value());
}

std::unique_ptr<elf::LoadPlan> plan_ok(const elf::Executable& exe, uint64_t bias)
{
    auto r = elf::plan_load(exe, bias);
    EXPECT_FALSE(r.is_error()) << lib::errno_name(r.error());
    if (r.is_error())
        return nullptr;
    return std::make_unique<elf::LoadPlan>(r.value());
}

struct Expected {
    Kind kind;
    uint64_t vaddr, length;
    Prot prot;
    uint64_t file_offset;
};

void expect_steps(const elf::LoadPlan& plan, const std::vector<Expected>& want)
{
    ASSERT_EQ(plan.step_count, want.size());
    for (size_t i = 0; i < want.size(); i++) {
        const elf::LoadStep& s = plan.steps[i];
        SCOPED_TRACE("step " + std::to_string(i));
        EXPECT_EQ(s.kind, want[i].kind);
        EXPECT_EQ(s.vaddr, want[i].vaddr);
        EXPECT_EQ(s.length, want[i].length);
        if (want[i].kind != Kind::ZeroTail)
            EXPECT_EQ(s.prot, want[i].prot);
        if (want[i].kind == Kind::MapFile)
            EXPECT_EQ(s.file_offset, want[i].file_offset);
    }
}

// Plans at `bias`, checks the plan with check_plan and with the page model.
std::unique_ptr<elf::LoadPlan> plan_and_verify(const elf::Executable& exe, const Bytes& file, uint64_t bias)
{
    auto plan = plan_ok(exe, bias);
    if (!plan)
        return nullptr;
    const char* problem = elf::check_plan(exe, *plan);
    EXPECT_EQ(problem, nullptr) << problem;
    MemoryModel model;
    EXPECT_EQ(model.run(*plan, file), "");
    EXPECT_EQ(model.verify(exe, bias, file), "");
    return plan;
}

TEST(ElfPlan, StaticExecutable)
{
    Bytes file = static_exec().bytes();
    auto exe = parse_ok(file);
    ASSERT_TRUE(exe);
    auto plan = plan_and_verify(*exe, file, 0);
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->bias, 0u);
    EXPECT_EQ(plan->entry, 0x401100u);
    EXPECT_EQ(plan->span.start, 0x400000u);
    EXPECT_EQ(plan->span.size, 0xb000u);
    expect_steps(*plan, {
                            { Kind::MapFile, 0x400000, 0x1000, kR, 0 },
                            { Kind::MapFile, 0x401000, 0x3000, kRX, 0x1000 },
                            { Kind::MapFile, 0x404000, 0x3000, kRW, 0x3000 },
                            { Kind::MapAnonymous, 0x407000, 0x4000, kRW, 0 },
                            { Kind::ZeroTail, 0x406040, 0xfc0, kR, 0 },
                        });
    // A fixed-address executable cannot move.
    auto moved = elf::plan_load(*exe, 0x1000);
    ASSERT_TRUE(moved.is_error());
    EXPECT_EQ(moved.error(), Errno::INVAL);
}

TEST(ElfPlan, PieAtABias)
{
    Bytes file = pie().bytes();
    auto exe = parse_ok(file);
    ASSERT_TRUE(exe);
    const uint64_t bias = 0x5555'5555'4000;
    auto plan = plan_and_verify(*exe, file, bias);
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->entry, bias + 0x1040);
    EXPECT_EQ(plan->span.start, bias);
    EXPECT_EQ(plan->span.size, 0x6000u);
    expect_steps(*plan, {
                            { Kind::MapFile, bias + 0x0000, 0x1000, kR, 0 },
                            { Kind::MapFile, bias + 0x1000, 0x1000, kRX, 0x1000 },
                            { Kind::MapFile, bias + 0x2000, 0x1000, kR, 0x2000 },
                            { Kind::MapFile, bias + 0x3000, 0x2000, kRW, 0x2000 },
                            { Kind::MapAnonymous, bias + 0x5000, 0x1000, kRW, 0 },
                            { Kind::ZeroTail, bias + 0x4010, 0xff0, kR, 0 },
                        });
}

TEST(ElfPlan, BiasRules)
{
    Bytes file = pie().bytes();
    auto exe = parse_ok(file);
    ASSERT_TRUE(exe);
    EXPECT_TRUE(plan_and_verify(*exe, file, 0));
    EXPECT_EQ(elf::plan_load(*exe, 0x800).error(), Errno::INVAL); // not page-aligned
    EXPECT_TRUE(plan_and_verify(*exe, file, elf::kLowerHalfLimit - 0x6000)); // ends at the limit
    EXPECT_EQ(elf::plan_load(*exe, elf::kLowerHalfLimit - 0x5000).error(), Errno::INVAL);
    EXPECT_EQ(elf::plan_load(*exe, elf::kLowerHalfLimit).error(), Errno::INVAL);
    EXPECT_EQ(elf::plan_load(*exe, uint64_t(0) - 0x1000).error(), Errno::INVAL); // wraps below 0

    // A larger p_align raises the bias granularity.
    ElfImage img = pie();
    img.ph[3].p_align = 0x200000;
    Bytes file2 = img.bytes();
    auto exe2 = parse_ok(file2);
    ASSERT_TRUE(exe2);
    EXPECT_EQ(exe2->max_align, 0x200000u);
    EXPECT_EQ(elf::plan_load(*exe2, 0x1000).error(), Errno::INVAL);
    EXPECT_TRUE(plan_and_verify(*exe2, file2, 0x7f00'0000'0000));

    // A "negative" bias moves an image linked high down.
    ElfImage high = pie();
    for (auto& p : high.ph) {
        if (p.p_type != elf::kPtInterp)
            p.p_vaddr += 0x1000'0000;
    }
    high.eh.e_entry += 0x1000'0000;
    Bytes file3 = high.bytes();
    auto exe3 = parse_ok(file3);
    ASSERT_TRUE(exe3);
    auto plan = plan_and_verify(*exe3, file3, uint64_t(0) - 0x0fff'0000);
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->span.start, 0x10000u);
    EXPECT_EQ(plan->entry, 0x11040u);
}

TEST(ElfPlan, BiasWithin)
{
    Bytes file = pie().bytes();
    auto exe = parse_ok(file);
    ASSERT_TRUE(exe);
    EXPECT_EQ(elf::bias_within(*exe, 0x10000, 0x6000).value(), 0x10000u);
    EXPECT_EQ(elf::bias_within(*exe, 0x10000, 0x5fff).error(), Errno::NOMEM);
    EXPECT_EQ(elf::bias_within(*exe, 0x10800, 0x7000).value(), 0x11000u);
    EXPECT_EQ(elf::bias_within(*exe, elf::kLowerHalfLimit - 0x6000, 0x100000).value(),
              elf::kLowerHalfLimit - 0x6000); // clipped at the lower half's end
    EXPECT_EQ(elf::bias_within(*exe, elf::kLowerHalfLimit - 0x5000, 0x100000).error(), Errno::NOMEM);
    EXPECT_EQ(elf::bias_within(*exe, 1, ~uint64_t(0)).error(), Errno::INVAL);

    ElfImage img = pie();
    img.ph[3].p_align = 0x200000;
    Bytes file2 = img.bytes();
    auto exe2 = parse_ok(file2);
    ASSERT_TRUE(exe2);
    // The caller reserves span + max_align - page anywhere; the bias lands on a boundary.
    // The worst case: the region starts one page past a 2 MiB boundary.
    uint64_t region = 0x7f00'0000'1000, size = 0x6000 + 0x200000 - 0x1000;
    auto bias = elf::bias_within(*exe2, region, size);
    ASSERT_FALSE(bias.is_error());
    EXPECT_EQ(bias.value() % 0x200000, 0u);
    EXPECT_GE(bias.value(), region);
    EXPECT_LE(bias.value() + 0x6000, region + size);
    EXPECT_TRUE(plan_and_verify(*exe2, file2, bias.value()));
    EXPECT_EQ(elf::bias_within(*exe2, region, size - 0x1000).error(), Errno::NOMEM);

    auto exe3 = parse_ok(static_exec().bytes());
    ASSERT_TRUE(exe3);
    EXPECT_EQ(elf::bias_within(*exe3, 0x400000, 0xb000).value(), 0u);
    EXPECT_EQ(elf::bias_within(*exe3, 0x400000, 0xa000).error(), Errno::NOMEM);
    EXPECT_EQ(elf::bias_within(*exe3, 0x10000000, 0x100000).error(), Errno::NOMEM);
}

// Old-linker layout: data starts in text's last page, from the same file page.
TEST(ElfPlan, SharedPageGetsUnionOfProtections)
{
    ElfImage img;
    img.eh.e_entry = 0x400100;
    img.ph.push_back(phdr(elf::kPtLoad, R | X, 0, 0x400000, 0x1234, 0x1234));
    img.ph.push_back(phdr(elf::kPtLoad, R | W, 0x1234, 0x401234, 0x100, 0x2000));
    Bytes file = img.bytes();
    auto exe = parse_ok(file);
    ASSERT_TRUE(exe);
    auto plan = plan_and_verify(*exe, file, 0);
    ASSERT_TRUE(plan);
    expect_steps(*plan, {
                            { Kind::MapFile, 0x400000, 0x1000, kRX, 0 },
                            { Kind::MapFile, 0x401000, 0x1000, kRWX, 0x1000 },
                            { Kind::MapAnonymous, 0x402000, 0x2000, kRW, 0 },
                            { Kind::ZeroTail, 0x401334, 0xccc, kR, 0 },
                        });
}

// A .bss-only segment in the last page of text: that page stays file-backed, and only the
// .bss part of it is zeroed.
TEST(ElfPlan, BssOnlySegmentInAFilePage)
{
    ElfImage img;
    img.eh.e_entry = 0x400100;
    img.ph.push_back(phdr(elf::kPtLoad, R | X, 0, 0x400000, 0x1100, 0x1100));
    img.ph.push_back(phdr(elf::kPtLoad, R | W, 0x1100, 0x401100, 0, 0x2000));
    Bytes file = img.bytes();
    auto exe = parse_ok(file);
    ASSERT_TRUE(exe);
    auto plan = plan_and_verify(*exe, file, 0);
    ASSERT_TRUE(plan);
    expect_steps(*plan, {
                            { Kind::MapFile, 0x400000, 0x1000, kRX, 0 },
                            { Kind::MapFile, 0x401000, 0x1000, kRWX, 0x1000 },
                            { Kind::MapAnonymous, 0x402000, 0x2000, kRW, 0 },
                            { Kind::ZeroTail, 0x401100, 0xf00, kR, 0 },
                        });
}

// A segment's .bss ends in a page where a later segment's file bytes (from another file
// page) begin: the page comes from the later segment's file page, and the earlier
// segment's .bss part of it is zeroed, up to where the later segment starts.
TEST(ElfPlan, BssEndsInALaterSegmentsFilePage)
{
    ElfImage img;
    img.eh.e_entry = 0x2900;
    img.ph.push_back(phdr(elf::kPtLoad, R | W, 0, 0x1000, 0x100, 0x1800));
    img.ph.push_back(phdr(elf::kPtLoad, R | X, 0x5900, 0x2900, 0x100, 0x100));
    Bytes file = img.bytes();
    auto exe = parse_ok(file);
    ASSERT_TRUE(exe);
    auto plan = plan_and_verify(*exe, file, 0);
    ASSERT_TRUE(plan);
    expect_steps(*plan, {
                            { Kind::MapFile, 0x1000, 0x1000, kRW, 0 },
                            { Kind::MapFile, 0x2000, 0x1000, kRWX, 0x5000 },
                            { Kind::ZeroTail, 0x1100, 0xf00, kR, 0 },
                            { Kind::ZeroTail, 0x2000, 0x900, kR, 0 },
                        });
}

TEST(ElfPlan, ThreeSegmentsInOnePage)
{
    ElfImage img;
    img.eh.e_entry = 0x400100;
    img.ph.push_back(phdr(elf::kPtLoad, R | X, 0, 0x400000, 0x1100, 0x1100));
    img.ph.push_back(phdr(elf::kPtLoad, R, 0x1100, 0x401100, 0, 0x100));
    img.ph.push_back(phdr(elf::kPtLoad, R | W, 0x1200, 0x401200, 0x100, 0x800));
    Bytes file = img.bytes();
    auto exe = parse_ok(file);
    ASSERT_TRUE(exe);
    auto plan = plan_and_verify(*exe, file, 0);
    ASSERT_TRUE(plan);
    expect_steps(*plan, {
                            { Kind::MapFile, 0x400000, 0x1000, kRX, 0 },
                            { Kind::MapFile, 0x401000, 0x1000, kRWX, 0x1000 },
                            { Kind::ZeroTail, 0x401100, 0x100, kR, 0 },
                            { Kind::ZeroTail, 0x401300, 0xd00, kR, 0 },
                        });
}

// A segment whose file bytes end exactly on a page boundary needs no ZeroTail, and one
// without .bss gets none even if its file bytes end mid-page (as in Linux).
TEST(ElfPlan, NoZeroTailWhenNotNeeded)
{
    ElfImage img;
    img.eh.e_entry = 0x400000;
    img.ph.push_back(phdr(elf::kPtLoad, R | X, 0, 0x400000, 0x1234, 0x1234));
    img.ph.push_back(phdr(elf::kPtLoad, R | W, 0x2000, 0x402000, 0x1000, 0x3000));
    Bytes file = img.bytes();
    auto exe = parse_ok(file);
    ASSERT_TRUE(exe);
    auto plan = plan_and_verify(*exe, file, 0);
    ASSERT_TRUE(plan);
    expect_steps(*plan, {
                            { Kind::MapFile, 0x400000, 0x2000, kRX, 0 },
                            { Kind::MapFile, 0x402000, 0x1000, kRW, 0x2000 },
                            { Kind::MapAnonymous, 0x403000, 0x2000, kRW, 0 },
                        });
}

TEST(ElfPlan, CheckPlanCatchesBrokenPlans)
{
    Bytes file = static_exec().bytes();
    auto exe = parse_ok(file);
    ASSERT_TRUE(exe);
    auto good = plan_ok(*exe, 0);
    ASSERT_TRUE(good);
    ASSERT_EQ(elf::check_plan(*exe, *good), nullptr);
    auto broken = [&](auto mutate) {
        elf::LoadPlan p = *good;
        mutate(p);
        const char* problem = elf::check_plan(*exe, p);
        return std::string(problem ? problem : "(accepted)");
    };
    EXPECT_EQ(broken([](elf::LoadPlan& p) { p.step_count = 4; }), ".bss bytes on a file page not zeroed");
    EXPECT_EQ(broken([](elf::LoadPlan& p) { p.steps[1].file_offset = 0x2000; }),
              "file bytes mapped from the wrong offset");
    EXPECT_EQ(broken([](elf::LoadPlan& p) { p.steps[1].prot = kR; }), "segment mapped without its protection");
    EXPECT_EQ(broken([](elf::LoadPlan& p) { p.steps[1].kind = Kind::MapAnonymous; }), "file bytes mapped anonymous");
    EXPECT_EQ(broken([](elf::LoadPlan& p) { p.steps[3].length = 0x3000; }), "segment page not mapped");
    EXPECT_EQ(broken([](elf::LoadPlan& p) { p.steps[1].length = 0x4000; }), "map steps overlap or are not sorted");
    EXPECT_EQ(broken([](elf::LoadPlan& p) { p.steps[4].vaddr = 0x406030; p.steps[4].length = 0xfd0; }),
              "ZeroTail erases file bytes");
    EXPECT_EQ(broken([](elf::LoadPlan& p) { p.steps[4].length = 0x1000; }), "ZeroTail crosses a page boundary");
    EXPECT_EQ(broken([](elf::LoadPlan& p) { p.steps[4].vaddr = 0x408000; p.steps[4].length = 0x10; }),
              "ZeroTail outside a file-backed page");
    EXPECT_EQ(broken([](elf::LoadPlan& p) { p.steps[0].vaddr = 0x400800; }), "map step not page-aligned");
    EXPECT_EQ(broken([](elf::LoadPlan& p) { p.steps[0].file_offset = 0x10; }), "file offset not page-aligned");
    EXPECT_EQ(broken([](elf::LoadPlan& p) { std::swap(p.steps[3], p.steps[4]); }), "map step after a ZeroTail");
    EXPECT_EQ(broken([](elf::LoadPlan& p) { p.steps[3].length = 0x5000; }), "step outside the span");
    EXPECT_EQ(broken([](elf::LoadPlan& p) { p.entry += 1; }), "span or entry not biased correctly");
    EXPECT_EQ(broken([](elf::LoadPlan& p) { p.steps[2].length = 0; }), "empty step");
    EXPECT_EQ(broken([](elf::LoadPlan& p) { p.step_count = elf::LoadPlan::kMaxSteps + 1; }),
              "step count above capacity");

    // A page between segments that no segment uses must not be mapped.
    ElfImage img = static_exec();
    img.ph[1].p_memsz = img.ph[1].p_filesz = 0x1000; // text ends at 0x402000, a hole until 0x404000
    Bytes file2 = img.bytes();
    auto exe2 = parse_ok(file2);
    ASSERT_TRUE(exe2);
    auto plan2 = plan_ok(*exe2, 0);
    ASSERT_TRUE(plan2);
    plan2->steps[1].length = 0x2000;
    EXPECT_STREQ(elf::check_plan(*exe2, *plan2), "map step covers a page no segment uses");
}

// The host's real files. The checks are properties that `readelf -lW` shows for them:
// every PT_LOAD's file bytes are mapped from their offsets with exactly their protection
// (no page is shared in these files), the .bss is zeroed or anonymous, nothing else is
// mapped.
void check_host_file(const char* path, bool pie)
{
    auto bytes = read_host_file(path);
    if (!bytes)
        GTEST_SKIP() << path << " is missing";
    auto exe = parse_ok(*bytes);
    ASSERT_TRUE(exe);
    for (uint64_t bias : { uint64_t(0), uint64_t(0x5555'5555'4000), uint64_t(0x7fff'f7fc'0000) }) {
        SCOPED_TRACE(bias);
        auto plan = plan_and_verify(*exe, *bytes, bias);
        ASSERT_TRUE(plan);
        size_t file_maps = 0, file_segments = 0, zero_tails = 0, expected_zero_tails = 0;
        for (size_t i = 0; i < exe->segment_count; i++) {
            const elf::LoadSegment& s = exe->segments[i];
            EXPECT_FALSE(s.shares_page_with_previous);
            file_segments += s.filesz > 0;
            expected_zero_tails += s.memsz > s.filesz && (s.vaddr + s.filesz) % elf::kPageSize != 0;
        }
        for (size_t i = 0; i < plan->step_count; i++) {
            const elf::LoadStep& st = plan->steps[i];
            if (st.kind == Kind::ZeroTail) {
                zero_tails++;
                continue;
            }
            EXPECT_EQ(st.vaddr % elf::kPageSize, 0u);
            EXPECT_EQ(st.length % elf::kPageSize, 0u);
            // Each map step lies inside one segment's pages and has exactly its protection.
            bool found = false;
            for (size_t k = 0; k < exe->segment_count; k++) {
                const elf::LoadSegment& s = exe->segments[k];
                uint64_t lo = (s.vaddr + bias) & ~(elf::kPageSize - 1);
                uint64_t hi = (s.vaddr + bias + s.memsz + elf::kPageSize - 1) & ~(elf::kPageSize - 1);
                if (st.vaddr >= lo && st.vaddr + st.length <= hi) {
                    found = true;
                    EXPECT_EQ(st.prot, s.prot);
                    if (st.kind == Kind::MapFile) {
                        file_maps++;
                        EXPECT_EQ(st.vaddr, lo);
                        EXPECT_EQ(st.file_offset, s.offset & ~(elf::kPageSize - 1));
                        EXPECT_GE(st.file_offset + st.length, s.offset + s.filesz);
                    }
                }
            }
            EXPECT_TRUE(found) << "step " << i;
        }
        EXPECT_EQ(file_maps, file_segments);
        EXPECT_EQ(zero_tails, expected_zero_tails);
        if (!pie)
            break;
    }
}

TEST(ElfPlanHost, BinTrue) { check_host_file("/bin/true", true); }
TEST(ElfPlanHost, LibC) { check_host_file("/usr/lib/x86_64-linux-gnu/libc.so.6", true); }
TEST(ElfPlanHost, DynamicLoader) { check_host_file("/lib64/ld-linux-x86-64.so.2", true); }

// Random layouts with adjacent and shared pages, file offsets that follow the previous
// segment (old linkers) or jump to a fresh page, .bss of every size: each accepted file
// is planned at several biases and compared byte by byte with the ELF rules.
TEST(ElfPlan, RandomLayoutsMatchTheModel)
{
    std::mt19937_64 rng(12345);
    auto pick = [&](uint64_t n) { return uint64_t(rng() % n); };
    size_t accepted = 0, shared = 0;
    for (int round = 0; round < 1500; round++) {
        ElfImage img;
        img.eh.e_type = pick(2) ? elf::kEtDyn : elf::kEtExec;
        img.file_size = 0x20000;
        uint64_t vaddr = img.eh.e_type == elf::kEtDyn ? 0 : 0x400000;
        uint64_t offset = 0;
        size_t count = 1 + pick(5);
        for (size_t i = 0; i < count; i++) {
            if (i > 0) {
                switch (pick(4)) {
                case 0: vaddr += pick(0x40); break;                 // the same page, most likely
                case 1: vaddr = (vaddr + 0xfff) & ~0xfffull; break; // the next page boundary
                default: vaddr += pick(0x3000); break;
                }
            }
            if (i > 0 && pick(3) == 0)
                offset = (offset & ~0xfffull) + 0x1000 * (1 + pick(3)); // a fresh file page
            offset = (offset & ~0xfffull) + (vaddr & 0xfff);              // keep them congruent
            uint64_t filesz = pick(4) == 0 ? 0 : pick(0x2400);
            uint64_t memsz = filesz + (pick(2) ? pick(0x3000) : 0);
            if (memsz == 0)
                memsz = 1;
            uint32_t flags = R | (pick(2) ? W : 0) | (pick(2) ? X : 0);
            if (i == 0)
                flags |= X;
            img.ph.push_back(phdr(elf::kPtLoad, flags, offset, vaddr, filesz, memsz));
            vaddr += memsz;
            offset += filesz;
        }
        img.eh.e_entry = img.ph[0].p_vaddr;
        Bytes file = img.bytes();
        BufferReader reader(file);
        auto parsed = elf::parse(reader, nullptr);
        if (parsed.is_error())
            continue; // a shared page from two file pages, or past the file: rejected
        const elf::Executable& exe = parsed.value();
        accepted++;
        for (size_t i = 0; i < exe.segment_count; i++)
            shared += exe.segments[i].shares_page_with_previous;
        std::vector<uint64_t> biases = { 0 };
        if (exe.type == elf::FileType::Dyn)
            biases = { 0, exe.max_align * (1 + pick(1000)), elf::kLowerHalfLimit - exe.span_end };
        for (uint64_t bias : biases) {
            SCOPED_TRACE("round " + std::to_string(round) + " bias " + std::to_string(bias));
            auto plan = plan_and_verify(exe, file, bias);
            ASSERT_TRUE(plan);
        }
    }
    EXPECT_GT(accepted, 500u);
    EXPECT_GT(shared, 200u);
}

} // namespace
