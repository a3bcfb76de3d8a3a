// The ELF64 program-header parser and the load planner (see elf.h for the rules).
#include <elf/elf.h>

#include <lib/format.h>
#include <stdarg.h>

namespace elf {

namespace {

constexpr uint64_t page_down(uint64_t addr) { return addr & ~(kPageSize - 1); }
// Only for addresses below kLowerHalfLimit, where rounding up cannot overflow.
constexpr uint64_t page_up(uint64_t addr) { return (addr + kPageSize - 1) & ~(kPageSize - 1); }
constexpr bool is_power_of_two(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

__attribute__((format(printf, 3, 4))) Errno fail(ParseError* why, Errno error, const char* fmt, ...)
{
    if (why) {
        va_list args;
        va_start(args, fmt);
        lib::vformat_to(why->message, sizeof(why->message), fmt, args);
        va_end(args);
    }
    return error;
}

// Inside Parser: a NOEXEC with its reason.
#define REJECT(...) fail(m_why, Errno::NOEXEC, __VA_ARGS__)

using ull = unsigned long long;

// True if [vaddr, vaddr + size) lies inside one segment's memory (size > 0).
bool inside_a_segment(const Executable& exe, uint64_t vaddr, uint64_t size)
{
    for (size_t i = 0; i < exe.segment_count; i++) {
        const LoadSegment& s = exe.segments[i];
        if (vaddr >= s.vaddr && size <= s.memsz && vaddr - s.vaddr <= s.memsz - size)
            return true;
    }
    return false;
}

// True if [vaddr, vaddr + size) stays below kLowerHalfLimit (no wrap-around).
bool in_lower_half(uint64_t vaddr, uint64_t size)
{
    return vaddr < kLowerHalfLimit && size <= kLowerHalfLimit - vaddr;
}

class Parser {
public:
    Parser(FileReader& file, Executable& exe, ParseError* why)
        : m_file(file), m_exe(exe), m_why(why), m_file_size(file.size())
    {
    }

    Result<void> run();

private:
    Result<void> read_exact(uint64_t offset, void* buf, size_t size);
    Result<void> check_header(const Ehdr& eh);
    Result<void> take(const Phdr& ph, size_t index);
    Result<void> take_load(const Phdr& ph, size_t index);
    Result<void> take_interp(const Phdr& ph);
    Result<void> finish(const Ehdr& eh);
    bool in_file(uint64_t offset, uint64_t size) const
    {
        return offset <= m_file_size && size <= m_file_size - offset;
    }

    FileReader& m_file;
    Executable& m_exe;
    ParseError* m_why;
    uint64_t m_file_size;
    bool m_seen_phdr = false;
    uint64_t m_phdr_vaddr = 0;
    bool m_seen_tls = false;
    bool m_seen_dynamic = false;
    uint64_t m_dynamic_size = 0;
    size_t m_load_headers = 0; // PT_LOADs seen, empty ones included
};

Result<void> Parser::read_exact(uint64_t offset, void* buf, size_t size)
{
    auto* out = static_cast<uint8_t*>(buf);
    size_t done = 0;
    while (done < size) {
        auto got = m_file.read_at(offset + done, out + done, size - done);
        if (got.is_error())
            return fail(m_why, got.error(), "read error at offset 0x%llx (%s)", ull(offset + done),
                        lib::errno_name(got.error()));
        if (got.value() == 0 || got.value() > size - done)
            return fail(m_why, Errno::IO, "file shorter than its size (read at offset 0x%llx)", ull(offset + done));
        done += got.value();
    }
    return {};
}

Result<void> Parser::check_header(const Ehdr& eh)
{
    const uint8_t* id = eh.e_ident;
    if (id[0] != 0x7f || id[1] != 'E' || id[2] != 'L' || id[3] != 'F')
        return REJECT("not an ELF file");
    if (id[kEiClass] == kElfClass32)
        return REJECT("32-bit ELF");
    if (id[kEiClass] != kElfClass64)
        return REJECT("unknown ELF class %u", unsigned(id[kEiClass]));
    if (id[kEiData] == 2)
        return REJECT("big-endian ELF");
    if (id[kEiData] != kElfData2Lsb)
        return REJECT("unknown ELF data encoding %u", unsigned(id[kEiData]));
    if (id[kEiVersion] != kEvCurrent || eh.e_version != kEvCurrent)
        return REJECT("unknown ELF version %u", unsigned(id[kEiVersion] != kEvCurrent ? id[kEiVersion] : eh.e_version));
    if (eh.e_machine != kEmX86_64)
        return REJECT("wrong architecture: machine %u", unsigned(eh.e_machine));
    if (eh.e_type != kEtExec && eh.e_type != kEtDyn)
        return REJECT("not an executable or shared object (type %u)", unsigned(eh.e_type));
    if (eh.e_phentsize != sizeof(Phdr))
        return REJECT("program header size %u, expected %zu", unsigned(eh.e_phentsize), sizeof(Phdr));
    if (eh.e_phnum == 0)
        return REJECT("no program headers");
    if (eh.e_phnum > kMaxProgramHeaders)
        return REJECT("too many program headers (%u, at most %zu)", unsigned(eh.e_phnum), kMaxProgramHeaders);
    if (!in_file(eh.e_phoff, uint64_t(eh.e_phnum) * sizeof(Phdr)))
        return REJECT("program header table outside the file");
    return {};
}

Result<void> Parser::take_load(const Phdr& ph, size_t index)
{
    m_load_headers++;
    if (ph.p_filesz > ph.p_memsz)
        return REJECT("segment %zu: file size 0x%llx above memory size 0x%llx", index, ull(ph.p_filesz),
                      ull(ph.p_memsz));
    if (ph.p_filesz > 0 && !in_file(ph.p_offset, ph.p_filesz))
        return REJECT("segment %zu: file range outside the file", index);
    if ((ph.p_offset - ph.p_vaddr) % kPageSize != 0)
        return REJECT("segment %zu: offset 0x%llx and address 0x%llx differ modulo the page size", index,
                      ull(ph.p_offset), ull(ph.p_vaddr));
    if (ph.p_align > 1 && !is_power_of_two(ph.p_align))
        return REJECT("segment %zu: alignment 0x%llx is not a power of two", index, ull(ph.p_align));
    if (ph.p_align > kMaxSegmentAlign)
        return REJECT("segment %zu: alignment 0x%llx above 1 GiB", index, ull(ph.p_align));
    if (!in_lower_half(ph.p_vaddr, ph.p_memsz))
        return REJECT("segment %zu: address range above the lower half", index);
    if (ph.p_memsz == 0)
        return {}; // maps nothing (the gABI allows it); the checks above still hold it to the rules
    if (m_exe.segment_count == kMaxLoadSegments)
        return REJECT("too many loadable segments (more than %zu)", kMaxLoadSegments);

    LoadSegment seg;
    seg.vaddr = ph.p_vaddr;
    seg.memsz = ph.p_memsz;
    seg.offset = ph.p_offset;
    seg.filesz = ph.p_filesz;
    seg.prot = prot_from_flags(ph.p_flags);

    if (m_exe.segment_count > 0) {
        const LoadSegment& prev = m_exe.segments[m_exe.segment_count - 1];
        if (seg.vaddr < prev.vaddr)
            return REJECT("segment %zu: loadable segments not sorted by address", index);
        if (seg.vaddr - prev.vaddr < prev.memsz)
            return REJECT("segment %zu: overlaps the previous loadable segment", index);
        uint64_t first_page = page_down(seg.vaddr);
        seg.shares_page_with_previous = page_up(prev.vaddr + prev.memsz) > first_page;
        // Every earlier segment reaching into our first page must, if both have file bytes
        // there, map it from the same file page: one private page will serve both. Ends
        // increase with the index (sorted and disjoint), so walk back until one ends before.
        for (size_t j = m_exe.segment_count; j-- > 0;) {
            const LoadSegment& other = m_exe.segments[j];
            if (page_up(other.vaddr + other.memsz) <= first_page)
                break;
            bool other_has_file_bytes_here = other.filesz > 0 && page_up(other.vaddr + other.filesz) > first_page;
            if (seg.filesz > 0 && other_has_file_bytes_here && other.vaddr - other.offset != seg.vaddr - seg.offset)
                return REJECT("segment %zu: shares page 0x%llx with an earlier segment but maps it from "
                              "another file offset",
                              index, ull(first_page));
        }
    }
    uint64_t align = ph.p_align > kPageSize ? ph.p_align : kPageSize;
    if (align > m_exe.max_align)
        m_exe.max_align = align;
    m_exe.segments[m_exe.segment_count++] = seg;
    return {};
}

Result<void> Parser::take_interp(const Phdr& ph)
{
    if (m_exe.has_interpreter)
        return REJECT("more than one PT_INTERP");
    if (ph.p_filesz == 0)
        return REJECT("empty interpreter path");
    if (ph.p_filesz > kMaxInterpreterPath)
        return REJECT("interpreter path too long (0x%llx bytes, at most %zu)", ull(ph.p_filesz), kMaxInterpreterPath);
    if (!in_file(ph.p_offset, ph.p_filesz))
        return REJECT("PT_INTERP outside the file");
    size_t size = size_t(ph.p_filesz);
    TRY(read_exact(ph.p_offset, m_exe.interpreter, size));
    // The path ends at its first NUL; any padding after it is ignored.
    size_t length = lib::str_nlength(m_exe.interpreter, size);
    if (length == size)
        return REJECT("interpreter path is not NUL-terminated");
    if (length == 0)
        return REJECT("empty interpreter path");
    lib::mem_set(m_exe.interpreter + length, 0, size - length);
    m_exe.interpreter_length = length;
    m_exe.has_interpreter = true;
    return {};
}

Result<void> Parser::take(const Phdr& ph, size_t index)
{
    switch (ph.p_type) {
    case kPtLoad:
        return take_load(ph, index);
    case kPtInterp:
        return take_interp(ph);
    case kPtPhdr:
        if (m_seen_phdr)
            return REJECT("more than one PT_PHDR");
        m_seen_phdr = true;
        m_phdr_vaddr = ph.p_vaddr;
        return {};
    case kPtTls:
        if (m_seen_tls)
            return REJECT("more than one PT_TLS");
        if (ph.p_filesz > ph.p_memsz)
            return REJECT("PT_TLS: file size above memory size");
        if (ph.p_align > 1 && !is_power_of_two(ph.p_align))
            return REJECT("PT_TLS: alignment 0x%llx is not a power of two", ull(ph.p_align));
        if (!in_lower_half(ph.p_vaddr, ph.p_memsz))
            return REJECT("PT_TLS: address range above the lower half");
        m_seen_tls = true;
        m_exe.has_tls = true;
        m_exe.tls = { ph.p_vaddr, ph.p_filesz, ph.p_memsz, ph.p_align };
        return {};
    case kPtDynamic:
        if (m_seen_dynamic)
            return REJECT("more than one PT_DYNAMIC");
        m_seen_dynamic = true;
        m_exe.has_dynamic = true;
        m_exe.dynamic_vaddr = ph.p_vaddr;
        m_dynamic_size = ph.p_memsz;
        return {};
    case kPtGnuStack:
        // Linux honours the last one; so do we.
        m_exe.executable_stack = (ph.p_flags & kPfX) != 0;
        return {};
    case kPtGnuRelro:
        if (m_exe.has_relro)
            return {}; // the dynamic linker uses the first
        if (!in_lower_half(ph.p_vaddr, ph.p_memsz))
            return REJECT("PT_GNU_RELRO: address range above the lower half");
        m_exe.has_relro = true;
        m_exe.relro_vaddr = ph.p_vaddr;
        m_exe.relro_size = ph.p_memsz;
        return {};
    default:
        return {}; // PT_NULL, PT_NOTE, PT_GNU_EH_FRAME, PT_GNU_PROPERTY, unknown: nothing to load
    }
}

Result<void> Parser::finish(const Ehdr& eh)
{
    Executable& exe = m_exe;
    if (exe.segment_count == 0)
        return REJECT(m_load_headers == 0 ? "no loadable segment" : "no loadable segment with a size");

    bool entry_ok = false;
    for (size_t i = 0; i < exe.segment_count; i++) {
        const LoadSegment& s = exe.segments[i];
        if (has_all(s.prot, Prot::Exec) && eh.e_entry >= s.vaddr && eh.e_entry - s.vaddr < s.memsz)
            entry_ok = true;
    }
    if (!entry_ok)
        return REJECT("entry point 0x%llx is not in an executable segment", ull(eh.e_entry));
    exe.entry = eh.e_entry;

    // The rest of these are read from memory by the interpreter or the C library: a range
    // outside the image would only make the program crash, so say so now.
    uint64_t table_size = uint64_t(eh.e_phnum) * sizeof(Phdr);
    if (m_seen_phdr) {
        if (!inside_a_segment(exe, m_phdr_vaddr, table_size))
            return REJECT("PT_PHDR is not inside a loadable segment");
        exe.has_phdr = true;
        exe.phdr_vaddr = m_phdr_vaddr;
    } else {
        for (size_t i = 0; i < exe.segment_count; i++) {
            const LoadSegment& s = exe.segments[i];
            if (eh.e_phoff >= s.offset && table_size <= s.filesz && eh.e_phoff - s.offset <= s.filesz - table_size) {
                exe.has_phdr = true;
                exe.phdr_vaddr = s.vaddr + (eh.e_phoff - s.offset);
                break;
            }
        }
    }
    if (!exe.has_phdr && (exe.has_interpreter || exe.has_tls))
        return REJECT("program headers are not in memory (no PT_PHDR and no segment maps them)");
    exe.phnum = eh.e_phnum;
    exe.phent = eh.e_phentsize;

    if (exe.has_tls && exe.tls.filesz > 0 && !inside_a_segment(exe, exe.tls.vaddr, exe.tls.filesz))
        return REJECT("PT_TLS template is not inside a loadable segment");
    if (exe.has_dynamic && (m_dynamic_size == 0 || !inside_a_segment(exe, exe.dynamic_vaddr, m_dynamic_size)))
        return REJECT("PT_DYNAMIC is not inside a loadable segment");

    const LoadSegment& last = exe.segments[exe.segment_count - 1];
    exe.span_start = page_down(exe.segments[0].vaddr);
    exe.span_end = page_up(last.vaddr + last.memsz);
    return {};
}

Result<void> Parser::run()
{
    if (m_file_size < sizeof(Ehdr))
        return REJECT("not an ELF file (too short)");
    Ehdr eh;
    TRY(read_exact(0, &eh, sizeof(eh)));
    TRY(check_header(eh));
    m_exe.type = eh.e_type == kEtExec ? FileType::Exec : FileType::Dyn;

    // A few headers per read: small enough for a kernel stack, few enough reads.
    constexpr size_t kChunk = 8;
    Phdr chunk[kChunk];
    for (size_t base = 0; base < eh.e_phnum; base += kChunk) {
        size_t count = eh.e_phnum - base < kChunk ? eh.e_phnum - base : kChunk;
        TRY(read_exact(eh.e_phoff + base * sizeof(Phdr), chunk, count * sizeof(Phdr)));
        for (size_t i = 0; i < count; i++)
            TRY(take(chunk[i], base + i));
    }
    return finish(eh);
}

// ---- Load plan ----

class PlanBuilder {
public:
    explicit PlanBuilder(LoadPlan& plan) : m_plan(plan) {}

    Result<void> push(const LoadStep& step)
    {
        if (m_plan.step_count == LoadPlan::kMaxSteps)
            return Errno::INVAL; // cannot happen for an Executable from parse()
        m_plan.steps[m_plan.step_count++] = step;
        return {};
    }

    // Appends a map step; if its first page is the last page of the previous step (a page
    // shared by two segments), that page is split off both into one step of its own with
    // the union of their protections, backed by the file if either side is.
    Result<void> push_map(LoadStep piece)
    {
        if (m_plan.step_count > 0) {
            LoadStep& last = m_plan.steps[m_plan.step_count - 1];
            uint64_t last_end = last.vaddr + last.length;
            if (last_end > piece.vaddr) {
                if (piece.vaddr != last_end - kPageSize || piece.vaddr < last.vaddr)
                    return Errno::INVAL; // more than one page: parse() excludes this
                LoadStep shared;
                shared.vaddr = piece.vaddr;
                shared.length = kPageSize;
                shared.prot = last.prot | piece.prot;
                if (last.kind == LoadStep::Kind::MapFile) {
                    shared.kind = LoadStep::Kind::MapFile;
                    shared.file_offset = last.file_offset + (piece.vaddr - last.vaddr);
                } else if (piece.kind == LoadStep::Kind::MapFile) {
                    shared.kind = LoadStep::Kind::MapFile;
                    shared.file_offset = piece.file_offset;
                } else {
                    shared.kind = LoadStep::Kind::MapAnonymous;
                }
                last.length -= kPageSize;
                if (last.length == 0)
                    m_plan.step_count--;
                TRY(push(shared));
                piece.vaddr += kPageSize;
                piece.length -= kPageSize;
                if (piece.kind == LoadStep::Kind::MapFile)
                    piece.file_offset += kPageSize;
                if (piece.length == 0)
                    return {};
            }
        }
        return push(piece);
    }

    // The map step covering addr, or nullptr.
    const LoadStep* map_step_at(uint64_t addr) const
    {
        for (size_t i = 0; i < m_plan.step_count; i++) {
            const LoadStep& s = m_plan.steps[i];
            if (s.kind != LoadStep::Kind::ZeroTail && addr >= s.vaddr && addr - s.vaddr < s.length)
                return &s;
        }
        return nullptr;
    }

    // Zeroes [start, end) (inside one page) if that page is file-backed.
    Result<void> zero_if_file_backed(uint64_t start, uint64_t end)
    {
        const LoadStep* map = map_step_at(start);
        if (map == nullptr || map->kind != LoadStep::Kind::MapFile || end <= start)
            return {};
        LoadStep zero;
        zero.kind = LoadStep::Kind::ZeroTail;
        zero.vaddr = start;
        zero.length = end - start;
        return push(zero);
    }

private:
    LoadPlan& m_plan;
};

} // namespace

Result<Executable> parse(FileReader& file, ParseError* why)
{
    if (why)
        why->message[0] = '\0';
    Executable exe;
    Parser parser(file, exe, why);
    TRY(parser.run());
    return exe;
}

Span reserve_span(const Executable& exe) { return { exe.span_start, exe.span_end - exe.span_start }; }

Result<uint64_t> bias_within(const Executable& exe, uint64_t region_start, uint64_t region_size)
{
    if (region_size > ~uint64_t(0) - region_start)
        return Errno::INVAL;
    uint64_t region_end = region_start + region_size;
    if (region_end > kLowerHalfLimit)
        region_end = kLowerHalfLimit;
    uint64_t size = exe.span_end - exe.span_start;
    if (exe.type == FileType::Exec)
        return exe.span_start >= region_start && exe.span_end <= region_end ? Result<uint64_t>(uint64_t(0))
                                                                             : Result<uint64_t>(Errno::NOMEM);
    // The lowest start at or above region_start that keeps span_start's residue modulo
    // max_align (so the bias is a multiple of it).
    uint64_t delta = (exe.span_start - region_start) & (exe.max_align - 1);
    if (region_start >= region_end || delta > region_end - region_start ||
        size > region_end - region_start - delta)
        return Errno::NOMEM;
    return region_start + delta - exe.span_start;
}

Result<LoadPlan> plan_load(const Executable& exe, uint64_t load_bias)
{
    if (exe.segment_count == 0 || exe.segment_count > kMaxLoadSegments || !is_power_of_two(exe.max_align))
        return Errno::INVAL;
    if (exe.type == FileType::Exec && load_bias != 0)
        return Errno::INVAL;
    if (exe.type == FileType::Dyn && (load_bias & (exe.max_align - 1)) != 0)
        return Errno::INVAL;
    // Biases are modular: a "negative" one moves an image with high link-time addresses down.
    Span span = reserve_span(exe);
    span.start += load_bias;
    if (!in_lower_half(span.start, span.size))
        return Errno::INVAL;

    LoadPlan plan;
    plan.bias = load_bias;
    plan.span = span;
    plan.entry = exe.entry + load_bias;
    PlanBuilder builder(plan);

    for (size_t i = 0; i < exe.segment_count; i++) {
        const LoadSegment& s = exe.segments[i];
        uint64_t vaddr = s.vaddr + load_bias;
        uint64_t file_end = vaddr + s.filesz;
        uint64_t mem_end = vaddr + s.memsz;
        uint64_t anon_start = page_down(vaddr);
        if (s.filesz > 0) {
            LoadStep file;
            file.kind = LoadStep::Kind::MapFile;
            file.prot = s.prot;
            file.vaddr = page_down(vaddr);
            file.length = page_up(file_end) - file.vaddr;
            file.file_offset = page_down(s.offset);
            TRY(builder.push_map(file));
            anon_start = page_up(file_end);
        }
        if (anon_start < page_up(mem_end)) {
            LoadStep anon;
            anon.kind = LoadStep::Kind::MapAnonymous;
            anon.prot = s.prot;
            anon.vaddr = anon_start;
            anon.length = page_up(mem_end) - anon_start;
            TRY(builder.push_map(anon));
        }
    }

    // The .bss bytes that landed on file-backed pages: at most its first page (the one
    // holding the end of the file bytes, or a page shared with an earlier segment) and its
    // last page (shared with a later segment's file bytes). Zero to the end of the page,
    // stopping where the next segment begins.
    for (size_t i = 0; i < exe.segment_count; i++) {
        const LoadSegment& s = exe.segments[i];
        if (s.memsz == s.filesz)
            continue;
        uint64_t vaddr = s.vaddr + load_bias;
        uint64_t bss_start = vaddr + s.filesz;
        uint64_t bss_end = vaddr + s.memsz;
        uint64_t next = i + 1 < exe.segment_count ? exe.segments[i + 1].vaddr + load_bias : kLowerHalfLimit;
        uint64_t first_page = page_down(bss_start);
        uint64_t last_page = page_down(bss_end - 1);
        uint64_t first_end = first_page + kPageSize < next ? first_page + kPageSize : next;
        TRY(builder.zero_if_file_backed(bss_start, first_end));
        if (last_page != first_page) {
            uint64_t last_end = last_page + kPageSize < next ? last_page + kPageSize : next;
            TRY(builder.zero_if_file_backed(last_page, last_end));
        }
    }
    return plan;
}

// ---- Plan checker ----

namespace {

bool is_map(const LoadStep& s) { return s.kind != LoadStep::Kind::ZeroTail; }
uint64_t end_of(const LoadStep& s) { return s.vaddr + s.length; }

// True if the ZeroTail steps (sorted, disjoint) cover [start, end).
bool zeroed(const LoadPlan& plan, uint64_t start, uint64_t end)
{
    uint64_t covered = start;
    for (size_t i = 0; i < plan.step_count && covered < end; i++) {
        const LoadStep& z = plan.steps[i];
        if (!is_map(z) && z.vaddr <= covered && end_of(z) > covered)
            covered = end_of(z);
    }
    return covered >= end;
}

const char* check_steps(const Executable& exe, const LoadPlan& plan)
{
    if (plan.step_count > LoadPlan::kMaxSteps)
        return "step count above capacity";
    if (plan.span.start != exe.span_start + plan.bias || plan.span.size != exe.span_end - exe.span_start ||
        plan.entry != exe.entry + plan.bias)
        return "span or entry not biased correctly";
    if (!in_lower_half(plan.span.start, plan.span.size))
        return "span outside the lower half";
    bool zeros_started = false;
    uint64_t prev_map_end = 0;
    uint64_t prev_zero_end = 0;
    for (size_t i = 0; i < plan.step_count; i++) {
        const LoadStep& s = plan.steps[i];
        if (s.length == 0)
            return "empty step";
        if (s.vaddr < plan.span.start || s.length > plan.span.start + plan.span.size - s.vaddr)
            return "step outside the span";
        if (is_map(s)) {
            if (zeros_started)
                return "map step after a ZeroTail";
            if ((s.vaddr | s.length) % kPageSize != 0)
                return "map step not page-aligned";
            if (s.kind == LoadStep::Kind::MapFile && s.file_offset % kPageSize != 0)
                return "file offset not page-aligned";
            if (i > 0 && s.vaddr < prev_map_end)
                return "map steps overlap or are not sorted";
            prev_map_end = end_of(s);
            // Every page mapped belongs to some segment (segments are sorted by start).
            uint64_t covered = s.vaddr;
            for (size_t k = 0; k < exe.segment_count; k++) {
                const LoadSegment& seg = exe.segments[k];
                uint64_t first = page_down(seg.vaddr + plan.bias);
                uint64_t end = page_up(seg.vaddr + plan.bias + seg.memsz);
                if (first <= covered && end > covered)
                    covered = end;
            }
            if (covered < end_of(s))
                return "map step covers a page no segment uses";
        } else {
            if (zeros_started && s.vaddr < prev_zero_end)
                return "ZeroTails overlap or are not sorted";
            zeros_started = true;
            prev_zero_end = end_of(s);
            if (page_down(s.vaddr) != page_down(end_of(s) - 1))
                return "ZeroTail crosses a page boundary";
            bool on_file_page = false;
            for (size_t k = 0; k < i; k++) {
                const LoadStep& m = plan.steps[k];
                if (m.kind == LoadStep::Kind::MapFile && s.vaddr >= m.vaddr && end_of(s) <= end_of(m))
                    on_file_page = true;
            }
            if (!on_file_page)
                return "ZeroTail outside a file-backed page";
        }
    }
    return nullptr;
}

const char* check_segment(const LoadSegment& seg, const LoadPlan& plan)
{
    uint64_t vaddr = seg.vaddr + plan.bias;
    uint64_t file_end = vaddr + seg.filesz;
    uint64_t mem_end = vaddr + seg.memsz;
    uint64_t covered = page_down(vaddr);
    for (size_t i = 0; i < plan.step_count && covered < page_up(mem_end); i++) {
        const LoadStep& m = plan.steps[i];
        if (!is_map(m) || end_of(m) <= covered)
            continue;
        if (m.vaddr > covered)
            return "segment page not mapped";
        if (!has_all(m.prot, seg.prot))
            return "segment mapped without its protection";
        uint64_t lo = m.vaddr > vaddr ? m.vaddr : vaddr;
        uint64_t hi = end_of(m) < file_end ? end_of(m) : file_end;
        if (lo < hi) {
            if (m.kind != LoadStep::Kind::MapFile)
                return "file bytes mapped anonymous";
            if (m.file_offset - m.vaddr != seg.offset - vaddr)
                return "file bytes mapped from the wrong offset";
        }
        lo = m.vaddr > file_end ? m.vaddr : file_end;
        hi = end_of(m) < mem_end ? end_of(m) : mem_end;
        if (lo < hi && m.kind == LoadStep::Kind::MapFile && !zeroed(plan, lo, hi))
            return ".bss bytes on a file page not zeroed";
        covered = end_of(m);
    }
    if (covered < page_up(mem_end))
        return "segment page not mapped";
    for (size_t i = 0; i < plan.step_count; i++) {
        const LoadStep& z = plan.steps[i];
        if (!is_map(z) && z.vaddr < file_end && end_of(z) > vaddr)
            return "ZeroTail erases file bytes";
    }
    return nullptr;
}

} // namespace

const char* check_plan(const Executable& exe, const LoadPlan& plan)
{
    if (const char* problem = check_steps(exe, plan))
        return problem;
    for (size_t i = 0; i < exe.segment_count; i++) {
        if (const char* problem = check_segment(exe.segments[i], plan))
            return problem;
    }
    return nullptr;
}

} // namespace elf
