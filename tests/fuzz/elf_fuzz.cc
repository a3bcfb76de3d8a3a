// fuzz-links: elf
// libFuzzer target: a hostile executable. The input is the file; parse() must never crash,
// read out of bounds or accept something that breaks its guarantees, and every plan it
// allows must pass check_plan() and build exactly the segments' bytes (page model). The
// tail of the input also drives the initial-stack builder.
#include <elf/elf.h>
#include <elf/stack.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

namespace {

#define CHECK(cond)                  \
    do {                             \
        if (!(cond))                 \
            __builtin_trap();        \
    } while (0)

// Reads come back in uneven pieces, as a page cache at a page boundary would.
class FuzzReader final : public elf::FileReader {
public:
    FuzzReader(const uint8_t* data, size_t size) : m_data(data), m_size(size) {}
    lib::Result<size_t> read_at(uint64_t offset, void* buf, size_t n) override
    {
        if (offset >= m_size)
            return size_t(0);
        size_t k = n < m_size - offset ? n : m_size - offset;
        size_t cap = 1 + (offset * 7919) % 300;
        if (k > cap)
            k = cap;
        std::memcpy(buf, m_data + offset, k);
        return k;
    }
    uint64_t size() const override { return m_size; }

private:
    const uint8_t* m_data;
    size_t m_size;
};

constexpr uint64_t kPage = elf::kPageSize;

// The guarantees elf.h lists for a parsed Executable.
void check_executable(const elf::Executable& exe, uint64_t file_size)
{
    CHECK(exe.segment_count >= 1 && exe.segment_count <= elf::kMaxLoadSegments);
    bool entry_ok = false;
    for (size_t i = 0; i < exe.segment_count; i++) {
        const elf::LoadSegment& s = exe.segments[i];
        CHECK(s.memsz > 0 && s.filesz <= s.memsz);
        CHECK(s.vaddr < elf::kLowerHalfLimit && s.memsz <= elf::kLowerHalfLimit - s.vaddr);
        CHECK((s.offset - s.vaddr) % kPage == 0);
        CHECK(s.filesz == 0 || (s.offset <= file_size && s.filesz <= file_size - s.offset));
        if (i > 0) {
            const elf::LoadSegment& p = exe.segments[i - 1];
            CHECK(s.vaddr >= p.vaddr + p.memsz);
            bool shares = (s.vaddr & ~(kPage - 1)) < ((p.vaddr + p.memsz + kPage - 1) & ~(kPage - 1));
            CHECK(shares == s.shares_page_with_previous);
        }
        if (elf::has_all(s.prot, elf::Prot::Exec) && exe.entry >= s.vaddr && exe.entry - s.vaddr < s.memsz)
            entry_ok = true;
    }
    CHECK(entry_ok);
    CHECK(exe.span_start % kPage == 0 && exe.span_end % kPage == 0 && exe.span_start < exe.span_end);
    CHECK(exe.span_end <= elf::kLowerHalfLimit);
    CHECK(exe.max_align >= kPage && (exe.max_align & (exe.max_align - 1)) == 0);
    CHECK(exe.phent == sizeof(elf::Phdr) && exe.phnum >= 1 && exe.phnum <= elf::kMaxProgramHeaders);
    if (exe.has_interpreter) {
        CHECK(exe.interpreter_length >= 1 && exe.interpreter_length < elf::kMaxInterpreterPath);
        CHECK(exe.interpreter[exe.interpreter_length] == '\0');
        CHECK(std::memchr(exe.interpreter, 0, exe.interpreter_length) == nullptr);
        CHECK(exe.has_phdr);
    } else {
        CHECK(exe.interpreter_length == 0);
    }
    if (exe.has_tls)
        CHECK(exe.has_phdr && exe.tls.filesz <= exe.tls.memsz);
}

// Executes the plan page by page and compares every segment byte with the file (for
// images small enough to model).
void check_bytes(const elf::Executable& exe, const elf::LoadPlan& plan, const uint8_t* file, size_t file_size)
{
    struct Page {
        uint8_t bytes[kPage];
        elf::Prot prot;
    };
    std::map<uint64_t, std::unique_ptr<Page>> pages;
    for (size_t i = 0; i < plan.step_count; i++) {
        const elf::LoadStep& s = plan.steps[i];
        if (s.kind == elf::LoadStep::Kind::ZeroTail) {
            auto it = pages.find(s.vaddr & ~(kPage - 1));
            CHECK(it != pages.end());
            std::memset(it->second->bytes + s.vaddr % kPage, 0, s.length);
            continue;
        }
        for (uint64_t off = 0; off < s.length; off += kPage) {
            auto& page = pages[s.vaddr + off];
            CHECK(!page);
            page = std::make_unique<Page>();
            page->prot = s.prot;
            for (uint64_t k = 0; k < kPage; k++) {
                uint64_t f = s.file_offset + off + k;
                page->bytes[k] = s.kind == elf::LoadStep::Kind::MapFile && f < file_size ? file[f] : 0;
            }
        }
    }
    for (size_t i = 0; i < exe.segment_count; i++) {
        const elf::LoadSegment& s = exe.segments[i];
        const Page* page = nullptr;
        for (uint64_t k = 0; k < s.memsz; k++) {
            uint64_t addr = s.vaddr + plan.bias + k;
            if (page == nullptr || addr % kPage == 0) {
                auto it = pages.find(addr & ~(kPage - 1));
                CHECK(it != pages.end());
                page = it->second.get();
                CHECK(elf::has_all(page->prot, s.prot));
            }
            CHECK(page->bytes[addr % kPage] == (k < s.filesz ? file[s.offset + k] : 0));
        }
    }
}

// Plans at `bias` (which must fail exactly when it is invalid) and checks the plan; with
// `model`, byte by byte too, for images up to 256 KiB.
void check_plan_at(const elf::Executable& exe, uint64_t bias, const uint8_t* file, size_t file_size, bool model)
{
    auto plan = elf::plan_load(exe, bias);
    bool valid_bias = exe.type == elf::FileType::Exec
                          ? bias == 0
                          : (bias & (exe.max_align - 1)) == 0 && exe.span_start + bias < elf::kLowerHalfLimit &&
                                exe.span_end - exe.span_start <= elf::kLowerHalfLimit - (exe.span_start + bias);
    CHECK(plan.is_error() == !valid_bias);
    if (plan.is_error()) {
        CHECK(plan.error() == Errno::INVAL);
        return;
    }
    CHECK(elf::check_plan(exe, plan.value()) == nullptr);
    if (model && exe.span_end - exe.span_start <= (uint64_t(256) << 10))
        check_bytes(exe, plan.value(), file, file_size);
}

void fuzz_elf(const uint8_t* data, size_t size)
{
    FuzzReader reader(data, size);
    elf::ParseError why;
    auto parsed = elf::parse(reader, &why);
    if (parsed.is_error()) {
        CHECK(why.message[0] != '\0');
        CHECK(std::memchr(why.message, 0, sizeof(why.message)) != nullptr);
        return;
    }
    const elf::Executable& exe = parsed.value();
    check_executable(exe, size);

    uint64_t size_span = exe.span_end - exe.span_start;
    check_plan_at(exe, 0, data, size, true);
    check_plan_at(exe, exe.max_align, data, size, false);
    check_plan_at(exe, kPage / 2, data, size, false);
    check_plan_at(exe, (elf::kLowerHalfLimit - exe.span_end) & ~(exe.max_align - 1), data, size, false);
    check_plan_at(exe, elf::kLowerHalfLimit - exe.span_start, data, size, false);
    check_plan_at(exe, uint64_t(0) - exe.span_start, data, size, false); // "negative": starts at 0

    auto bias = elf::bias_within(exe, 0x10000, size_span + exe.max_align);
    if (exe.type == elf::FileType::Dyn) {
        CHECK(!bias.is_error());
        check_plan_at(exe, bias.value(), data, size, true);
    }
}

// The input's first 256 bytes, split at '\n', become argv and envp.
void fuzz_stack(const uint8_t* data, size_t size)
{
    size_t n = size < 256 ? size : 256;
    std::vector<lib::StringView> strings;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || data[i] == '\n') {
            strings.push_back({ reinterpret_cast<const char*>(data + start), i - start });
            start = i + 1;
        }
    }
    size_t argc = strings.size() / 2;
    elf::AuxEntry aux[] = { { elf::kAtPagesz, 4096 }, { elf::kAtRandom, 0 }, { elf::kAtEntry, 0x401000 } };
    elf::StackSpec spec;
    spec.argv = strings.data();
    spec.argc = argc;
    spec.envp = strings.data() + argc;
    spec.envc = strings.size() - argc;
    spec.execfn = strings[0];
    spec.auxv = aux;
    spec.auxc = size % 4;
    std::vector<uint8_t> buffer(64 + size % 1024);
    elf::StackImage image { buffer.data(), buffer.size(), 0x7fff'ffff'f000 };
    auto sp = elf::build_initial_stack(image, spec);
    if (sp.is_error()) {
        CHECK(sp.error() == Errno::INVAL || sp.error() == Errno::TOO_BIG);
        return;
    }
    CHECK(sp.value() % 16 == 0 && sp.value() >= image.top - image.size);
    uint64_t argc_word;
    std::memcpy(&argc_word, buffer.data() + (sp.value() - (image.top - image.size)), 8);
    CHECK(argc_word == argc);
    elf::AuxEntry out[8];
    auto count = elf::read_auxv(image, sp.value(), out, 8);
    CHECK(!count.is_error() && count.value() >= 3 && out[count.value() - 1].type == elf::kAtNull);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    fuzz_elf(data, size);
    fuzz_stack(data, size);
    return 0;
}
