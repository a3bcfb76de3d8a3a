// ELF64 executables for x86-64: the on-disk structures, a validating parser of the program
// headers, and the page-granular load plan the kernel follows to map an image.
//
// Design
//  * Everything in a file is untrusted. parse() reads only the ELF header and the program
//    header table (plus the PT_INTERP string) through a FileReader, checks every field the
//    loader will rely on and returns an Executable: a small, self-contained summary whose
//    invariants the rest of the loader can assume. A malformed file is Errno::NOEXEC with a
//    one-line reason in ParseError, never an assertion.
//  * Sections are never read: loading needs only segments [gabi ch. 5 "Program Loading"].
//  * plan_load() turns an Executable and a load bias into the steps that build the memory
//    image. It is pure arithmetic (no I/O), so the same Executable can be planned at
//    several candidate addresses.
//
// What parse() guarantees about Executable::segments (the non-empty PT_LOADs, in file order):
//  * sorted by vaddr and byte-disjoint; filesz <= memsz; vaddr + memsz <= kLowerHalfLimit;
//  * offset ≡ vaddr (mod kPageSize), and [offset, offset + filesz) lies inside the file;
//  * consecutive segments may share a page (old linkers end text and start data in the
//    same page). Such a segment has shares_page_with_previous set. If two segments both
//    have file bytes in a shared page, they map that page from the same file page (the
//    same vaddr - offset), so one private file page serves both; otherwise parse() rejects
//    the file, since no single mapping could give the page its content.
//
// Sizes: Executable is about 4.8 KiB (the interpreter path is copied in), LoadPlan about
// 2.6 KiB. Both are plain data, fine on a 64 KiB kernel stack but not to be nested deeply.
//
// Concurrency: no shared state; the functions are reentrant. parse() blocks only if the
// FileReader does.
#pragma once

#include <lib/result.h>
#include <lib/string.h>
#include <stddef.h>
#include <stdint.h>

namespace elf {

inline constexpr uint64_t kPageSize = 4096;
// Application addresses end here: the top of the lower canonical half (48-bit VA).
inline constexpr uint64_t kLowerHalfLimit = 0x0000'8000'0000'0000;
// Parser limits. Real programs have about a dozen program headers and 2-5 PT_LOADs.
inline constexpr size_t kMaxProgramHeaders = 128;
inline constexpr size_t kMaxLoadSegments = 16;
// A PT_INTERP string, NUL included, is at most PATH_MAX bytes (as in Linux).
inline constexpr size_t kMaxInterpreterPath = 4096;
// Larger PT_LOAD alignments are rejected: no linker emits them and they could not be placed.
inline constexpr uint64_t kMaxSegmentAlign = uint64_t(1) << 30;

// ---- On-disk structures [gabi ch. 4 "ELF Header", ch. 5 "Program Header"] ----

// e_ident indices and values.
inline constexpr size_t kEiNident = 16;
inline constexpr size_t kEiClass = 4;
inline constexpr size_t kEiData = 5;
inline constexpr size_t kEiVersion = 6;
inline constexpr uint8_t kElfClass32 = 1;
inline constexpr uint8_t kElfClass64 = 2;
inline constexpr uint8_t kElfData2Lsb = 1;
inline constexpr uint8_t kEvCurrent = 1;

// e_type, e_machine.
inline constexpr uint16_t kEtExec = 2;
inline constexpr uint16_t kEtDyn = 3;
inline constexpr uint16_t kEmX86_64 = 62;

// p_type. The PT_GNU_* values are in the OS-specific range [x86-64 psABI, gABI].
inline constexpr uint32_t kPtNull = 0;
inline constexpr uint32_t kPtLoad = 1;
inline constexpr uint32_t kPtDynamic = 2;
inline constexpr uint32_t kPtInterp = 3;
inline constexpr uint32_t kPtNote = 4;
inline constexpr uint32_t kPtPhdr = 6;
inline constexpr uint32_t kPtTls = 7;
inline constexpr uint32_t kPtGnuEhFrame = 0x6474e550;
inline constexpr uint32_t kPtGnuStack = 0x6474e551;
inline constexpr uint32_t kPtGnuRelro = 0x6474e552;
inline constexpr uint32_t kPtGnuProperty = 0x6474e553;

// p_flags.
inline constexpr uint32_t kPfX = 1;
inline constexpr uint32_t kPfW = 2;
inline constexpr uint32_t kPfR = 4;

// Elf64_Ehdr: the file header at offset 0. Little-endian (the only data encoding accepted).
struct Ehdr {
    uint8_t e_ident[kEiNident];
    uint16_t e_type;
    uint16_t e_machine;
    uint32_t e_version;
    uint64_t e_entry;
    uint64_t e_phoff;
    uint64_t e_shoff;
    uint32_t e_flags;
    uint16_t e_ehsize;
    uint16_t e_phentsize;
    uint16_t e_phnum;
    uint16_t e_shentsize;
    uint16_t e_shnum;
    uint16_t e_shstrndx;
};
static_assert(sizeof(Ehdr) == 64);

// Elf64_Phdr: one program header (a segment or a piece of loader information).
struct Phdr {
    uint32_t p_type;
    uint32_t p_flags;
    uint64_t p_offset;
    uint64_t p_vaddr;
    uint64_t p_paddr;
    uint64_t p_filesz;
    uint64_t p_memsz;
    uint64_t p_align;
};
static_assert(sizeof(Phdr) == 56);

// ---- Parser ----

// Where the parser reads the file from (a page-cache file in the kernel, a buffer in tests).
class FileReader {
public:
    // Reads up to n bytes at `offset` into buf and returns how many were read: fewer than n
    // only at the end of the file, 0 at or past it. Errors (IO, ...) are passed on by parse().
    virtual lib::Result<size_t> read_at(uint64_t offset, void* buf, size_t n) = 0;
    // The file size in bytes.
    virtual uint64_t size() const = 0;

protected:
    ~FileReader() = default;
};

// Access rights of a mapping. The values are those of mm::Protection (and PROT_READ,
// PROT_WRITE, PROT_EXEC), so the kernel glue converts with a cast; they are not p_flags'.
enum class Prot : uint8_t { None = 0, Read = 1, Write = 2, Exec = 4 };
constexpr Prot operator|(Prot a, Prot b) { return Prot(uint8_t(a) | uint8_t(b)); }
constexpr Prot operator&(Prot a, Prot b) { return Prot(uint8_t(a) & uint8_t(b)); }
// True if every right in `wanted` is in `set`.
constexpr bool has_all(Prot set, Prot wanted) { return (set & wanted) == wanted; }
// PF_R/PF_W/PF_X to Prot (other bits ignored).
constexpr Prot prot_from_flags(uint32_t p_flags)
{
    return Prot(((p_flags & kPfR) ? 1 : 0) | ((p_flags & kPfW) ? 2 : 0) | ((p_flags & kPfX) ? 4 : 0));
}

enum class FileType : uint8_t { Exec, Dyn }; // ET_EXEC (fixed address) or ET_DYN (PIE, ld.so)

// One non-empty PT_LOAD, unbiased.
struct LoadSegment {
    uint64_t vaddr = 0;
    uint64_t memsz = 0;
    uint64_t offset = 0;
    uint64_t filesz = 0;
    Prot prot = Prot::None;
    // The first page of this segment is also the last page of an earlier segment.
    bool shares_page_with_previous = false;
};

// The PT_TLS template: the C library (not the kernel) builds each thread's TLS block from it.
struct TlsTemplate {
    uint64_t vaddr = 0;
    uint64_t filesz = 0;
    uint64_t memsz = 0;
    uint64_t align = 0;
};

// The validated summary of an executable or shared object. Addresses are unbiased (as in
// the file); add the load bias for ET_DYN.
struct Executable {
    FileType type = FileType::Exec;
    uint64_t entry = 0; // e_entry; inside an executable segment

    // The program header table in memory (AT_PHDR/AT_PHENT/AT_PHNUM): PT_PHDR's vaddr, or
    // else where the PT_LOAD containing the table's file bytes maps it. has_phdr is false
    // if neither exists; parse() rejects that when PT_INTERP or PT_TLS is present, because
    // the interpreter and the C library find the program's segments through AT_PHDR.
    bool has_phdr = false;
    uint64_t phdr_vaddr = 0;
    uint16_t phnum = 0;
    uint16_t phent = 0;

    // PT_INTERP's path (e.g. "/lib64/ld-linux-x86-64.so.2"), without the NUL.
    bool has_interpreter = false;
    char interpreter[kMaxInterpreterPath] = {}; // NUL-terminated
    size_t interpreter_length = 0;

    LoadSegment segments[kMaxLoadSegments];
    size_t segment_count = 0;

    // [span_start, span_end): the page-aligned range from the lowest segment's first page
    // to the highest segment's end, holes included.
    uint64_t span_start = 0;
    uint64_t span_end = 0;
    // The largest PT_LOAD p_align, at least kPageSize: an ET_DYN bias must be a multiple.
    uint64_t max_align = kPageSize;

    // PT_GNU_STACK with PF_X. Without PT_GNU_STACK the stack is not executable (as Linux
    // does for 64-bit programs).
    bool executable_stack = false;
    bool has_tls = false;
    TlsTemplate tls;
    bool has_dynamic = false;
    uint64_t dynamic_vaddr = 0;
    bool has_relro = false;
    uint64_t relro_vaddr = 0;
    uint64_t relro_size = 0;

    lib::StringView interpreter_path() const { return { interpreter, interpreter_length }; }
};

// Why parse() rejected a file: one line for the log or the exec error message, e.g.
// "wrong architecture: machine 183" or "segment 2: file range outside the file".
struct ParseError {
    char message[128] = {};
};

// Reads and validates the ELF header and program headers of `file`. `why` (optional) gets
// the reason on any error. Errors: NOEXEC for anything malformed, unsupported or beyond the
// limits above ("not an ELF file", "32-bit ELF", "wrong architecture: machine 183", "not
// an executable or shared object (type 1)", ...); IO if the file is shorter than size()
// claims; any error of the reader itself is passed on. Blocks only if the reader does.
lib::Result<Executable> parse(FileReader& file, ParseError* why);

// ---- Load plan ----

// A page-aligned address range.
struct Span {
    uint64_t start = 0;
    uint64_t size = 0;
};

// The range an image occupies before biasing: reserve it (plus bias) in one piece, so that
// a PIE or an interpreter is placed at once and its holes cannot be taken by other mappings.
Span reserve_span(const Executable& exe);

// The smallest valid load bias that places the whole image inside [region_start,
// region_start + region_size): 0 for ET_EXEC (if it fits), else a multiple of max_align.
// NOMEM if it does not fit. Helps the caller turn a reservation of
// reserve_span().size + max_align - kPageSize bytes anywhere into a bias.
lib::Result<uint64_t> bias_within(const Executable& exe, uint64_t region_start, uint64_t region_size);

// One step of building the image. The kernel executes a plan's steps in order, after
// reserving plan.span (all addresses are biased):
//   MapFile      map `length` bytes of the file at `file_offset` privately at `vaddr` with
//                `prot` (page-aligned). Why: the segment's file bytes, demand-paged from the
//                page cache; private so that writes (data, relocations) stay in this image.
//                Bytes past the end of the file in the last page read as zero.
//   ZeroTail     zero [vaddr, vaddr + length), which lies inside one page mapped by an
//                earlier MapFile. Why: a page that holds the end of a segment's file bytes
//                also holds bytes that must read as zero: the start of its .bss, and (as
//                Linux does) the rest of the page. The file has other bytes there (the next
//                section, the symbol table). The kernel writes to its private copy of the
//                page, whatever the page's protection (a .bss may be in a read-only segment).
//                When a later segment's data shares the page, the zeroing stops where that
//                segment begins.
//   MapAnonymous map `length` bytes of zero-filled memory at `vaddr` with `prot`. Why: the
//                rest of the .bss has no file bytes at all.
// A page shared by two segments (see Executable) appears in one map step only, with the
// union of their protections; that is the price of sharing (text + data = RWX).
struct LoadStep {
    enum class Kind : uint8_t { MapFile, ZeroTail, MapAnonymous };
    Kind kind = Kind::MapFile;
    Prot prot = Prot::None;   // MapFile, MapAnonymous
    uint64_t vaddr = 0;       // biased
    uint64_t length = 0;
    uint64_t file_offset = 0; // MapFile
};

struct LoadPlan {
    // Per segment: a file run, an anonymous run and two ZeroTails, plus one split per
    // shared page.
    static constexpr size_t kMaxSteps = 5 * kMaxLoadSegments;

    uint64_t bias = 0;
    Span span;          // biased reserve_span()
    uint64_t entry = 0; // biased e_entry
    LoadStep steps[kMaxSteps];
    size_t step_count = 0;
};

// The steps that build `exe` at `load_bias`: map steps in address order, non-overlapping
// and page-aligned, then ZeroTails in address order. `exe` must come from parse().
// Errors: INVAL if the bias is not 0 for ET_EXEC, not a multiple of max_align for ET_DYN,
// or moves the image past kLowerHalfLimit.
lib::Result<LoadPlan> plan_load(const Executable& exe, uint64_t load_bias);

// Checks that `plan` builds `exe` correctly, interval by interval, independently of how
// plan_load() computed it: every segment byte is mapped with at least its protection; file
// bytes come from the right file offsets and are never zeroed; .bss bytes are anonymous or
// zeroed; steps are aligned, sorted and disjoint and map nothing outside the segments'
// pages. Returns nullptr if so, else a description of the first violation. For tests and
// the fuzzer; O(segments × steps).
const char* check_plan(const Executable& exe, const LoadPlan& plan);

} // namespace elf
