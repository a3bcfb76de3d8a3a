// Unit tests for elf::parse: every rejection rule on synthetic files, the recorded fields,
// and the host's real executables compared with an independent reading through <elf.h>.
#include <elf/elf.h>

#include "elf_image.h"
#include <cstddef>
#include <elf.h>
#include <gtest/gtest.h>
#include <memory>
#include <string>

namespace {

using namespace elf_test;

// Our structures must be the gABI's, field for field (the host's <elf.h> is the reference).
static_assert(sizeof(elf::Ehdr) == sizeof(Elf64_Ehdr));
static_assert(offsetof(elf::Ehdr, e_entry) == offsetof(Elf64_Ehdr, e_entry));
static_assert(offsetof(elf::Ehdr, e_phoff) == offsetof(Elf64_Ehdr, e_phoff));
static_assert(offsetof(elf::Ehdr, e_flags) == offsetof(Elf64_Ehdr, e_flags));
static_assert(offsetof(elf::Ehdr, e_phentsize) == offsetof(Elf64_Ehdr, e_phentsize));
static_assert(offsetof(elf::Ehdr, e_phnum) == offsetof(Elf64_Ehdr, e_phnum));
static_assert(offsetof(elf::Ehdr, e_shstrndx) == offsetof(Elf64_Ehdr, e_shstrndx));
static_assert(sizeof(elf::Phdr) == sizeof(Elf64_Phdr));
static_assert(offsetof(elf::Phdr, p_flags) == offsetof(Elf64_Phdr, p_flags));
static_assert(offsetof(elf::Phdr, p_offset) == offsetof(Elf64_Phdr, p_offset));
static_assert(offsetof(elf::Phdr, p_vaddr) == offsetof(Elf64_Phdr, p_vaddr));
static_assert(offsetof(elf::Phdr, p_filesz) == offsetof(Elf64_Phdr, p_filesz));
static_assert(offsetof(elf::Phdr, p_memsz) == offsetof(Elf64_Phdr, p_memsz));
static_assert(offsetof(elf::Phdr, p_align) == offsetof(Elf64_Phdr, p_align));
static_assert(elf::kPtLoad == PT_LOAD && elf::kPtDynamic == PT_DYNAMIC && elf::kPtInterp == PT_INTERP);
static_assert(elf::kPtPhdr == PT_PHDR && elf::kPtTls == PT_TLS && elf::kPtNote == PT_NOTE);
static_assert(elf::kPtGnuStack == PT_GNU_STACK && elf::kPtGnuRelro == PT_GNU_RELRO);
static_assert(elf::kPtGnuEhFrame == PT_GNU_EH_FRAME);
static_assert(elf::kPfR == PF_R && elf::kPfW == PF_W && elf::kPfX == PF_X);
static_assert(elf::kEtExec == ET_EXEC && elf::kEtDyn == ET_DYN && elf::kEmX86_64 == EM_X86_64);
static_assert(elf::kEiClass == EI_CLASS && elf::kEiData == EI_DATA && elf::kEiVersion == EI_VERSION);
static_assert(elf::kElfClass64 == ELFCLASS64 && elf::kElfData2Lsb == ELFDATA2LSB);

struct Outcome {
    lib::Result<elf::Executable> result;
    std::string message;
};

// Parsing result and message; the Executable lives on the heap (it is ~5 KiB).
std::unique_ptr<Outcome> parse_bytes(const Bytes& bytes, size_t max_chunk = SIZE_MAX)
{
    BufferReader reader(bytes);
    reader.max_chunk = max_chunk;
    elf::ParseError why;
    auto out = std::unique_ptr<Outcome>(new Outcome { elf::parse(reader, &why), "" });
    out->message = why.message;
    return out;
}

std::unique_ptr<Outcome> parse_image(const ElfImage& img) { return parse_bytes(img.bytes()); }

// Expects NOEXEC with exactly `message`.
void expect_rejected(const ElfImage& img, const std::string& message)
{
    auto out = parse_image(img);
    ASSERT_TRUE(out->result.is_error()) << "accepted; expected: " << message;
    EXPECT_EQ(out->result.error(), Errno::NOEXEC);
    EXPECT_EQ(out->message, message);
}

TEST(ElfParse, StaticExecutable)
{
    auto out = parse_image(static_exec());
    ASSERT_FALSE(out->result.is_error()) << out->message;
    const elf::Executable& exe = out->result.value();
    EXPECT_EQ(out->message, "");
    EXPECT_EQ(exe.type, elf::FileType::Exec);
    EXPECT_EQ(exe.entry, 0x401100u);
    EXPECT_FALSE(exe.has_interpreter);
    EXPECT_EQ(exe.interpreter_path().size(), 0u);
    // No PT_PHDR: the table is found through the first PT_LOAD, which maps file offset 0.
    EXPECT_TRUE(exe.has_phdr);
    EXPECT_EQ(exe.phdr_vaddr, 0x400040u);
    EXPECT_EQ(exe.phnum, 4u);
    EXPECT_EQ(exe.phent, 56u);
    ASSERT_EQ(exe.segment_count, 3u);
    EXPECT_EQ(exe.segments[0].prot, elf::Prot::Read);
    EXPECT_EQ(exe.segments[1].prot, elf::Prot::Read | elf::Prot::Exec);
    EXPECT_EQ(exe.segments[2].prot, elf::Prot::Read | elf::Prot::Write);
    EXPECT_EQ(exe.segments[2].vaddr, 0x404e10u);
    EXPECT_EQ(exe.segments[2].offset, 0x3e10u);
    EXPECT_EQ(exe.segments[2].filesz, 0x1230u);
    EXPECT_EQ(exe.segments[2].memsz, 0x5678u);
    for (size_t i = 0; i < exe.segment_count; i++)
        EXPECT_FALSE(exe.segments[i].shares_page_with_previous);
    EXPECT_EQ(exe.span_start, 0x400000u);
    EXPECT_EQ(exe.span_end, 0x40b000u);
    EXPECT_EQ(exe.max_align, 0x1000u);
    EXPECT_FALSE(exe.executable_stack);
    EXPECT_FALSE(exe.has_tls);
    EXPECT_FALSE(exe.has_dynamic);
    EXPECT_FALSE(exe.has_relro);
    elf::Span span = elf::reserve_span(exe);
    EXPECT_EQ(span.start, 0x400000u);
    EXPECT_EQ(span.size, 0xb000u);
}

TEST(ElfParse, DynamicPie)
{
    auto out = parse_image(pie());
    ASSERT_FALSE(out->result.is_error()) << out->message;
    const elf::Executable& exe = out->result.value();
    EXPECT_EQ(exe.type, elf::FileType::Dyn);
    EXPECT_TRUE(exe.has_interpreter);
    EXPECT_TRUE(exe.interpreter_path() == kInterp);
    EXPECT_STREQ(exe.interpreter, kInterp);
    EXPECT_TRUE(exe.has_phdr);
    EXPECT_EQ(exe.phdr_vaddr, 0x40u);
    EXPECT_EQ(exe.phnum, 9u);
    ASSERT_EQ(exe.segment_count, 4u);
    EXPECT_TRUE(exe.has_dynamic);
    EXPECT_EQ(exe.dynamic_vaddr, 0x3e00u);
    ASSERT_TRUE(exe.has_tls);
    EXPECT_EQ(exe.tls.vaddr, 0x3df0u);
    EXPECT_EQ(exe.tls.filesz, 0x10u);
    EXPECT_EQ(exe.tls.memsz, 0x30u);
    EXPECT_EQ(exe.tls.align, 16u);
    EXPECT_TRUE(exe.has_relro);
    EXPECT_EQ(exe.relro_vaddr, 0x3df0u);
    EXPECT_EQ(exe.relro_size, 0x210u);
    EXPECT_EQ(exe.span_start, 0u);
    EXPECT_EQ(exe.span_end, 0x6000u);
}

TEST(ElfParse, ShortReadsAreFollowed)
{
    for (size_t chunk : { 1, 3, 7, 56, 100 }) {
        auto out = parse_bytes(pie().bytes(), chunk);
        ASSERT_FALSE(out->result.is_error()) << chunk << ": " << out->message;
        EXPECT_TRUE(out->result.value().interpreter_path() == kInterp);
    }
}

TEST(ElfParse, ReaderErrorsArePassedOn)
{
    BufferReader reader(pie().bytes());
    reader.fail_at = 0x238; // the PT_INTERP string
    elf::ParseError why;
    auto r = elf::parse(reader, &why);
    ASSERT_TRUE(r.is_error());
    EXPECT_EQ(r.error(), Errno::IO);
    EXPECT_EQ(std::string(why.message), "read error at offset 0x238 (EIO)");

    // A reader that claims more bytes than it has: fine until a read comes back empty.
    BufferReader liar(static_exec().bytes());
    liar.claim_size(0x100000);
    EXPECT_FALSE(elf::parse(liar, nullptr).is_error()); // nothing is read past the real end
    ElfImage img = static_exec();
    img.ph.push_back(phdr(elf::kPtInterp, R, 0x90000, 0, 8, 8, 1));
    BufferReader liar2(img.bytes());
    liar2.claim_size(0x100000);
    r = elf::parse(liar2, &why);
    ASSERT_TRUE(r.is_error());
    EXPECT_EQ(r.error(), Errno::IO);
    EXPECT_EQ(std::string(why.message), "file shorter than its size (read at offset 0x90000)");
}

TEST(ElfParse, NullWhyIsAllowed)
{
    BufferReader reader(Bytes(10, 0));
    auto r = elf::parse(reader, nullptr);
    ASSERT_TRUE(r.is_error());
    EXPECT_EQ(r.error(), Errno::NOEXEC);
}

TEST(ElfParse, RejectsBadHeaders)
{
    {
        auto out = parse_bytes(Bytes(63, 0));
        ASSERT_TRUE(out->result.is_error());
        EXPECT_EQ(out->message, "not an ELF file (too short)");
        auto empty = parse_bytes(Bytes());
        EXPECT_EQ(empty->message, "not an ELF file (too short)");
    }
    ElfImage img = static_exec();
    img.eh.e_ident[0] = 0x7e;
    expect_rejected(img, "not an ELF file");
    img = static_exec();
    img.eh.e_ident[3] = 'f';
    expect_rejected(img, "not an ELF file");
    img = static_exec();
    img.eh.e_ident[elf::kEiClass] = 1;
    expect_rejected(img, "32-bit ELF");
    img.eh.e_ident[elf::kEiClass] = 3;
    expect_rejected(img, "unknown ELF class 3");
    img = static_exec();
    img.eh.e_ident[elf::kEiData] = 2;
    expect_rejected(img, "big-endian ELF");
    img.eh.e_ident[elf::kEiData] = 0;
    expect_rejected(img, "unknown ELF data encoding 0");
    img = static_exec();
    img.eh.e_ident[elf::kEiVersion] = 0;
    expect_rejected(img, "unknown ELF version 0");
    img = static_exec();
    img.eh.e_version = 2;
    expect_rejected(img, "unknown ELF version 2");
    img = static_exec();
    img.eh.e_machine = 183; // AArch64
    expect_rejected(img, "wrong architecture: machine 183");
    img.eh.e_machine = 3; // i386
    expect_rejected(img, "wrong architecture: machine 3");
    img = static_exec();
    img.eh.e_type = 1; // ET_REL
    expect_rejected(img, "not an executable or shared object (type 1)");
    img.eh.e_type = 4; // ET_CORE
    expect_rejected(img, "not an executable or shared object (type 4)");
    img = static_exec();
    img.eh.e_phentsize = 32;
    expect_rejected(img, "program header size 32, expected 56");
}

TEST(ElfParse, RejectsBadProgramHeaderTables)
{
    ElfImage img = static_exec();
    img.phnum_override = 0;
    expect_rejected(img, "no program headers");
    img.phnum_override = 129;
    img.file_size = 0x10000;
    expect_rejected(img, "too many program headers (129, at most 128)");
    img.phnum_override = 0xffff; // PN_XNUM: the real count would be in section 0
    expect_rejected(img, "too many program headers (65535, at most 128)");
    img = static_exec();
    img.eh.e_phoff = img.file_size - 3 * 56; // the 4th header would end past the file
    expect_rejected(img, "program header table outside the file");
    img.eh.e_phoff = ~uint64_t(0) - 8; // wraps around
    expect_rejected(img, "program header table outside the file");

    // 128 headers are fine (padding with PT_NULL).
    img = static_exec();
    img.file_size = 0x10000;
    img.eh.e_phoff = 0x8000;
    img.ph.resize(128, phdr(elf::kPtNull, 0, 0, 0, 0, 0));
    auto out = parse_image(img);
    ASSERT_FALSE(out->result.is_error()) << out->message;
    EXPECT_EQ(out->result.value().phnum, 128u);
    // The table is not mapped by any segment any more: no AT_PHDR, fine without PT_INTERP.
    EXPECT_FALSE(out->result.value().has_phdr);
}

TEST(ElfParse, RejectsBadLoadSegments)
{
    ElfImage img = static_exec();
    img.ph[2].p_filesz = img.ph[2].p_memsz + 1;
    expect_rejected(img, "segment 2: file size 0x5679 above memory size 0x5678");

    img = static_exec();
    img.ph[2].p_filesz = 0x3000; // 0x3e10 + 0x3000 > 0x6000
    expect_rejected(img, "segment 2: file range outside the file");
    img.ph[2].p_offset = ~uint64_t(0) - 0xfff + 0xe10;
    img.ph[2].p_filesz = 0x2000; // wraps around
    expect_rejected(img, "segment 2: file range outside the file");

    img = static_exec();
    img.ph[1].p_offset = 0x1010;
    expect_rejected(img, "segment 1: offset 0x1010 and address 0x401000 differ modulo the page size");

    img = static_exec();
    img.ph[1].p_align = 0x3000;
    expect_rejected(img, "segment 1: alignment 0x3000 is not a power of two");
    img.ph[1].p_align = uint64_t(1) << 31;
    expect_rejected(img, "segment 1: alignment 0x80000000 above 1 GiB");

    img = static_exec();
    img.ph[2].p_memsz = elf::kLowerHalfLimit - img.ph[2].p_vaddr + 1;
    expect_rejected(img, "segment 2: address range above the lower half");
    img.ph[2].p_vaddr = 0xffff'ffff'ffff'fe10; // wraps around
    img.ph[2].p_memsz = 0x5678;
    expect_rejected(img, "segment 2: address range above the lower half");
    img.ph[2].p_vaddr = 0xffff'8000'0000'0e10; // kernel half
    expect_rejected(img, "segment 2: address range above the lower half");

    // Just below the limit is fine.
    img = static_exec();
    img.ph[2].p_vaddr = elf::kLowerHalfLimit - 0x6000 + 0xe10;
    img.ph[2].p_memsz = 0x6000 - 0xe10;
    auto out = parse_image(img);
    ASSERT_FALSE(out->result.is_error()) << out->message;
    EXPECT_EQ(out->result.value().span_end, elf::kLowerHalfLimit);
}

TEST(ElfParse, RejectsUnsortedAndOverlappingSegments)
{
    ElfImage img = static_exec();
    std::swap(img.ph[1], img.ph[2]);
    expect_rejected(img, "segment 2: loadable segments not sorted by address");

    img = static_exec();
    img.ph[2].p_vaddr = 0x403e10; // after text's end...
    img.ph[1].p_memsz = 0x2e11;   // ...until text grows to end at 0x403e11
    expect_rejected(img, "segment 2: overlaps the previous loadable segment");

    img = static_exec();
    img.ph[2].p_vaddr = 0x401e10; // starts inside text
    expect_rejected(img, "segment 2: overlaps the previous loadable segment");
}

TEST(ElfParse, SharedPagesAreAllowedAndRecorded)
{
    // Old-linker layout: data starts right after text, in the same page and at the same
    // vaddr - offset, so one file page serves both.
    ElfImage img;
    img.eh.e_entry = 0x400100;
    img.ph.push_back(phdr(elf::kPtLoad, R | X, 0, 0x400000, 0x1234, 0x1234));
    img.ph.push_back(phdr(elf::kPtLoad, R | W, 0x1234, 0x401234, 0x100, 0x2000));
    auto out = parse_image(img);
    ASSERT_FALSE(out->result.is_error()) << out->message;
    const elf::Executable& exe = out->result.value();
    EXPECT_FALSE(exe.segments[0].shares_page_with_previous);
    EXPECT_TRUE(exe.segments[1].shares_page_with_previous);

    // Sharing the page but from another file page: no single mapping can give that page
    // both contents.
    img.ph[1].p_offset = 0x2234;
    expect_rejected(img, "segment 1: shares page 0x401000 with an earlier segment but maps it from another file offset");

    // ... unless one of them has no file bytes in the shared page.
    img.ph[1].p_filesz = 0; // pure .bss segment in text's last page
    out = parse_image(img);
    ASSERT_FALSE(out->result.is_error()) << out->message;
    EXPECT_TRUE(out->result.value().segments[1].shares_page_with_previous);

    // Three segments in one page: the third is checked against the first too.
    ElfImage three;
    three.eh.e_entry = 0x400100;
    three.ph.push_back(phdr(elf::kPtLoad, R | X, 0, 0x400000, 0x1100, 0x1100));
    three.ph.push_back(phdr(elf::kPtLoad, R, 0x1100, 0x401100, 0, 0x100));       // .bss only
    three.ph.push_back(phdr(elf::kPtLoad, R | W, 0x3200, 0x401200, 0x100, 0x100)); // other file page
    expect_rejected(three, "segment 2: shares page 0x401000 with an earlier segment but maps it from another file offset");
    three.ph[2].p_offset = 0x1200;
    out = parse_image(three);
    ASSERT_FALSE(out->result.is_error()) << out->message;
    EXPECT_TRUE(out->result.value().segments[2].shares_page_with_previous);
}

TEST(ElfParse, EmptyLoadSegmentsAreSkipped)
{
    ElfImage img = static_exec();
    img.ph.insert(img.ph.begin() + 1, phdr(elf::kPtLoad, R, 0x99999000, 0x10000, 0, 0));
    auto out = parse_image(img);
    ASSERT_FALSE(out->result.is_error()) << out->message;
    EXPECT_EQ(out->result.value().segment_count, 3u);

    ElfImage none;
    none.eh.e_entry = 0x1000;
    none.ph.push_back(phdr(elf::kPtGnuStack, R | W, 0, 0, 0, 0));
    expect_rejected(none, "no loadable segment");
    none.ph.push_back(phdr(elf::kPtLoad, R | X, 0x1000, 0x1000, 0, 0));
    expect_rejected(none, "no loadable segment with a size");
}

TEST(ElfParse, LimitsTheNumberOfLoadSegments)
{
    ElfImage img;
    img.file_size = 0x20000;
    img.eh.e_entry = 0x400000;
    for (size_t i = 0; i <= elf::kMaxLoadSegments; i++)
        img.ph.push_back(phdr(elf::kPtLoad, R | X, i * 0x1000, 0x400000 + i * 0x1000, 0x10, 0x10));
    expect_rejected(img, "too many loadable segments (more than 16)");
    img.ph.pop_back();
    auto out = parse_image(img);
    ASSERT_FALSE(out->result.is_error()) << out->message;
    EXPECT_EQ(out->result.value().segment_count, elf::kMaxLoadSegments);
}

TEST(ElfParse, RejectsEntryOutsideExecutableSegments)
{
    ElfImage img = static_exec();
    img.eh.e_entry = 0x400100; // in the R segment
    expect_rejected(img, "entry point 0x400100 is not in an executable segment");
    img.eh.e_entry = 0x403345; // one past text
    expect_rejected(img, "entry point 0x403345 is not in an executable segment");
    img.eh.e_entry = 0;
    expect_rejected(img, "entry point 0x0 is not in an executable segment");
    img.eh.e_entry = 0x403344; // last byte of text
    auto out = parse_image(img);
    EXPECT_FALSE(out->result.is_error()) << out->message;
}

TEST(ElfParse, InterpreterRules)
{
    // Duplicates replace PT_GNU_RELRO (ph[8]), so the table keeps its size.
    ElfImage img = pie();
    img.ph[8] = img.ph[1];
    expect_rejected(img, "more than one PT_INTERP");

    img = pie();
    img.ph[1].p_filesz = 0;
    expect_rejected(img, "empty interpreter path");
    img.ph[1].p_filesz = 1; // just the NUL
    img.patches.push_back({ 0x238, std::string(1, '\0') });
    expect_rejected(img, "empty interpreter path");

    img = pie();
    img.ph[1].p_filesz = 24; // cut before the NUL
    expect_rejected(img, "interpreter path is not NUL-terminated");

    img = pie();
    img.ph[1].p_filesz = 4097;
    img.file_size = 0x3000 + 4097;
    expect_rejected(img, "interpreter path too long (0x1001 bytes, at most 4096)");

    img = pie();
    img.ph[1].p_offset = img.file_size - 10;
    expect_rejected(img, "PT_INTERP outside the file");

    // The longest path: 4095 characters and the NUL.
    img = pie();
    img.file_size = 0x5000;
    img.ph[1].p_offset = 0x3100;
    img.ph[1].p_filesz = 4096;
    img.patches.push_back({ 0x3100, std::string(4095, 'a') + '\0' });
    auto out = parse_image(img);
    ASSERT_FALSE(out->result.is_error()) << out->message;
    EXPECT_EQ(out->result.value().interpreter_length, 4095u);
    EXPECT_EQ(out->result.value().interpreter[4095], '\0');

    // Padding after the NUL is ignored, and cleared in the copy.
    img = pie();
    img.ph[1].p_filesz = 32;
    img.patches.push_back({ 0x238, std::string(kInterp) + '\0' + "garbage" });
    out = parse_image(img);
    ASSERT_FALSE(out->result.is_error()) << out->message;
    EXPECT_TRUE(out->result.value().interpreter_path() == kInterp);
    EXPECT_EQ(out->result.value().interpreter[26], '\0');
}

TEST(ElfParse, ProgramHeaderLocation)
{
    // PT_PHDR outside every segment.
    ElfImage img = pie();
    img.ph[0].p_vaddr = 0x8000;
    expect_rejected(img, "PT_PHDR is not inside a loadable segment");
    img.ph[0].p_vaddr = 0x500 - 9 * 56 + 1; // runs one byte past the first segment
    expect_rejected(img, "PT_PHDR is not inside a loadable segment");
    img.ph[0].p_vaddr = ~uint64_t(0) - 8; // wraps around
    expect_rejected(img, "PT_PHDR is not inside a loadable segment");

    img = pie();
    img.ph[8] = img.ph[0];
    expect_rejected(img, "more than one PT_PHDR");

    // Without PT_PHDR the table is found through the segment mapping e_phoff.
    img = pie();
    img.ph[0].p_type = elf::kPtNull;
    auto out = parse_image(img);
    ASSERT_FALSE(out->result.is_error()) << out->message;
    EXPECT_TRUE(out->result.value().has_phdr);
    EXPECT_EQ(out->result.value().phdr_vaddr, 0x40u);

    // ... and a PIE whose first segment starts later in the file maps it elsewhere.
    img.ph[2].p_offset = 0x0;
    img.ph[2].p_vaddr = 0x10000;
    img.ph[3].p_vaddr += 0x10000;
    img.ph[4].p_vaddr += 0x10000;
    img.ph[5].p_vaddr += 0x10000;
    img.ph[6].p_vaddr += 0x10000;
    img.ph[7].p_vaddr += 0x10000;
    img.eh.e_entry += 0x10000;
    out = parse_image(img);
    ASSERT_FALSE(out->result.is_error()) << out->message;
    EXPECT_EQ(out->result.value().phdr_vaddr, 0x10040u);

    // Neither: fine for a static program without TLS, an error with PT_INTERP or PT_TLS.
    img = pie();
    img.ph[0].p_type = elf::kPtNull;
    img.ph[2].p_offset = 0x1000; // the first segment no longer covers the table
    img.ph[2].p_vaddr = 0x1000;
    img.ph[2].p_filesz = img.ph[2].p_memsz = 0x10;
    img.ph[3].p_offset = 0x2000;
    img.ph[3].p_vaddr = 0x2000;
    img.ph[4].p_type = elf::kPtNull;
    img.eh.e_entry = 0x2040;
    expect_rejected(img, "program headers are not in memory (no PT_PHDR and no segment maps them)");
    img.ph[1].p_type = elf::kPtNull; // no interpreter, but still PT_TLS
    expect_rejected(img, "program headers are not in memory (no PT_PHDR and no segment maps them)");
    img.ph[7].p_type = elf::kPtNull;
    out = parse_image(img);
    ASSERT_FALSE(out->result.is_error()) << out->message;
    EXPECT_FALSE(out->result.value().has_phdr);
}

TEST(ElfParse, TlsDynamicRelroAndStack)
{
    ElfImage img = pie();
    img.ph[7].p_filesz = 0x31;
    expect_rejected(img, "PT_TLS: file size above memory size");
    img = pie();
    img.ph[7].p_align = 24;
    expect_rejected(img, "PT_TLS: alignment 0x18 is not a power of two");
    img = pie();
    img.ph[7].p_vaddr = elf::kLowerHalfLimit - 0x10;
    expect_rejected(img, "PT_TLS: address range above the lower half");
    img = pie();
    img.ph[7].p_vaddr = 0x9000;
    expect_rejected(img, "PT_TLS template is not inside a loadable segment");
    img.ph[7].p_filesz = 0; // all .tbss: nothing is read from the image
    EXPECT_FALSE(parse_image(img)->result.is_error());
    img = pie();
    img.ph[8] = img.ph[7];
    expect_rejected(img, "more than one PT_TLS");

    img = pie();
    img.ph[6].p_vaddr = 0x5000;
    expect_rejected(img, "PT_DYNAMIC is not inside a loadable segment");
    img.ph[6].p_vaddr = 0x3e00;
    img.ph[6].p_memsz = 0;
    expect_rejected(img, "PT_DYNAMIC is not inside a loadable segment");
    img = pie();
    img.ph[8] = img.ph[6];
    expect_rejected(img, "more than one PT_DYNAMIC");

    img = pie();
    img.ph[8].p_memsz = elf::kLowerHalfLimit;
    expect_rejected(img, "PT_GNU_RELRO: address range above the lower half");

    img = static_exec();
    img.ph[3].p_flags = R | W | X;
    auto out = parse_image(img);
    ASSERT_FALSE(out->result.is_error());
    EXPECT_TRUE(out->result.value().executable_stack);
    img.ph.push_back(phdr(elf::kPtGnuStack, R | W, 0, 0, 0, 0, 16)); // the last one counts
    out = parse_image(img);
    ASSERT_FALSE(out->result.is_error());
    EXPECT_FALSE(out->result.value().executable_stack);
}

TEST(ElfParse, AlignmentIsRecorded)
{
    ElfImage img = static_exec();
    img.ph[1].p_align = 0x200000;
    img.ph[2].p_align = 0; // 0 and 1 mean "no constraint"
    img.ph[0].p_align = 1;
    auto out = parse_image(img);
    ASSERT_FALSE(out->result.is_error()) << out->message;
    EXPECT_EQ(out->result.value().max_align, 0x200000u);
}

// ---- The host's real files, compared with an independent reading through <elf.h> ----

struct HostView {
    Elf64_Ehdr eh;
    std::vector<Elf64_Phdr> ph;
};

HostView read_with_host_headers(const Bytes& b)
{
    HostView v;
    std::memcpy(&v.eh, b.data(), sizeof(v.eh));
    v.ph.resize(v.eh.e_phnum);
    std::memcpy(v.ph.data(), b.data() + v.eh.e_phoff, v.eh.e_phnum * sizeof(Elf64_Phdr));
    return v;
}

void check_against_host_view(const char* path, bool expect_interp)
{
    auto bytes = read_host_file(path);
    if (!bytes)
        GTEST_SKIP() << path << " is missing";
    auto out = parse_bytes(*bytes);
    ASSERT_FALSE(out->result.is_error()) << path << ": " << out->message;
    const elf::Executable& exe = out->result.value();
    HostView v = read_with_host_headers(*bytes);

    EXPECT_EQ(exe.type, v.eh.e_type == ET_EXEC ? elf::FileType::Exec : elf::FileType::Dyn);
    EXPECT_EQ(exe.entry, v.eh.e_entry);
    EXPECT_EQ(exe.phnum, v.eh.e_phnum);
    EXPECT_EQ(exe.phent, sizeof(Elf64_Phdr));
    size_t loads = 0;
    uint64_t max_align = 0x1000;
    bool saw_phdr = false;
    for (const Elf64_Phdr& p : v.ph) {
        if (p.p_type == PT_LOAD) {
            ASSERT_LT(loads, exe.segment_count);
            const elf::LoadSegment& s = exe.segments[loads++];
            EXPECT_EQ(s.vaddr, p.p_vaddr);
            EXPECT_EQ(s.memsz, p.p_memsz);
            EXPECT_EQ(s.offset, p.p_offset);
            EXPECT_EQ(s.filesz, p.p_filesz);
            EXPECT_EQ(has_all(s.prot, elf::Prot::Read), (p.p_flags & PF_R) != 0);
            EXPECT_EQ(has_all(s.prot, elf::Prot::Write), (p.p_flags & PF_W) != 0);
            EXPECT_EQ(has_all(s.prot, elf::Prot::Exec), (p.p_flags & PF_X) != 0);
            max_align = std::max<uint64_t>(max_align, p.p_align);
        } else if (p.p_type == PT_INTERP) {
            EXPECT_TRUE(exe.interpreter_path() ==
                        lib::StringView(reinterpret_cast<const char*>(bytes->data() + p.p_offset)));
        } else if (p.p_type == PT_PHDR) {
            saw_phdr = true;
            EXPECT_EQ(exe.phdr_vaddr, p.p_vaddr);
        } else if (p.p_type == PT_TLS) {
            EXPECT_TRUE(exe.has_tls);
            EXPECT_EQ(exe.tls.vaddr, p.p_vaddr);
            EXPECT_EQ(exe.tls.memsz, p.p_memsz);
        } else if (p.p_type == PT_DYNAMIC) {
            EXPECT_EQ(exe.dynamic_vaddr, p.p_vaddr);
        } else if (p.p_type == PT_GNU_STACK) {
            EXPECT_FALSE(exe.executable_stack); // Debian builds with -z noexecstack
        }
    }
    EXPECT_EQ(loads, exe.segment_count);
    EXPECT_EQ(exe.max_align, max_align);
    EXPECT_EQ(exe.has_interpreter, expect_interp);
    EXPECT_TRUE(exe.has_phdr);
    if (!saw_phdr) // the table is mapped by the first segment (file offset 0 at vaddr 0)
        EXPECT_EQ(exe.phdr_vaddr, v.eh.e_phoff);
    if (expect_interp) // Debian's binaries all name glibc's loader
        EXPECT_TRUE(exe.interpreter_path() == "/lib64/ld-linux-x86-64.so.2");
}

TEST(ElfParseHost, BinTrue) { check_against_host_view("/bin/true", true); }
TEST(ElfParseHost, LibC) { check_against_host_view("/usr/lib/x86_64-linux-gnu/libc.so.6", true); }
TEST(ElfParseHost, DynamicLoader) { check_against_host_view("/lib64/ld-linux-x86-64.so.2", false); }

TEST(ElfParseHost, TruncatedRealFilesAreRejectedCleanly)
{
    auto bytes = read_host_file("/bin/true");
    if (!bytes)
        GTEST_SKIP() << "/bin/true is missing";
    // Every prefix up to the end of the PT_INTERP string fails with a message, never crashes.
    for (size_t n = 0; n < 0x400 && n < bytes->size(); n++) {
        Bytes prefix(bytes->begin(), bytes->begin() + n);
        auto out = parse_bytes(prefix);
        ASSERT_TRUE(out->result.is_error()) << n;
        EXPECT_EQ(out->result.error(), Errno::NOEXEC);
        EXPECT_NE(out->message, "");
    }
}

} // namespace
