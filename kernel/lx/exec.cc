// execve for the one program of the VM (exec.h).
//
// A program is loaded by the plan elf::plan_load() computes: a reservation of its whole span
// (so a PIE or the interpreter lands in one piece), then each step. File-backed steps are
// private file mappings (lx/file_mapping.h): the root image's pages in place, read-only until
// a write copies one (relocations, .data) — the image format keeps file data page-aligned for
// exactly that. A file whose pages cannot be mapped is copied into anonymous memory instead.
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/fpu.h>
#include <core/entropy.h>
#include <core/memory.h>
#include <elf/elf.h>
#include <elf/stack.h>
#include <fs/io_buffer.h>
#include <fs/ops.h>
#include <fs/open_file.h>
#include <lib/format.h>
#include <lib/string.h>
#include <lx/exec.h>
#include <lx/file_mapping.h>
#include <lx/process.h>
#include <lx/vdso.h>
#include <new>

namespace lx {
namespace {

using lib::Errno;

constexpr uint64_t kPage = 4096;
// Where a PIE goes (Linux's ELF_ET_DYN_BASE without randomisation: 2/3 of the lower half),
// and the main thread's stack size (RLIMIT_STACK's default) with a guard below it.
constexpr uint64_t kPieBase = 0x555555554000ull;
constexpr uint64_t kStackSize = 8ull << 20;
constexpr uint64_t kStackGuard = 64 * 1024;
// Bytes of the initial stack's tables and strings we prepare at most.
constexpr size_t kMaxInitialStack = 64 * 1024;

class Reason {
public:
    Reason(char* buf, size_t size) : m_buf(buf), m_size(size) {}
    template<typename... A>
    Errno set(Errno e, const char* fmt, A... args)
    {
        if (m_size)
            lib::format_to(m_buf, m_size, fmt, args...);
        return e;
    }

private:
    char* m_buf;
    size_t m_size;
};

class OpenFileReader final : public elf::FileReader {
public:
    OpenFileReader(fs::OpenFile& file, uint64_t size) : m_file(file), m_size(size) {}
    lib::Result<size_t> read_at(uint64_t offset, void* buf, size_t n) override
    {
        fs::KernelBuffer kb(buf, n);
        return m_file.pread(int64_t(offset), kb);
    }
    uint64_t size() const override { return m_size; }

private:
    fs::OpenFile& m_file;
    uint64_t m_size;
};

mm::Protection to_mm(elf::Prot p) { return mm::Protection(uint8_t(p)); }

struct Loaded {
    uint64_t bias = 0;
    uint64_t entry = 0;
    uint64_t phdr = 0;
    uint16_t phnum = 0, phent = 0;
    uint64_t end = 0; // first page past the image
};

// Opens `path` as an executable file: a regular file we can read.
lib::Result<fs::Ref<fs::OpenFile>> open_executable(const fs::PathContext& ctx, const char* path, uint64_t& size,
                                                   Reason& why)
{
    auto file = fs::open(ctx, { path, lib::str_length(path) }, fs::kOpenReadOnly);
    if (file.is_error())
        return why.set(file.error(), "%s: %s", path, file.error() == Errno::NOENT ? "no such file" : lib::errno_name(file.error()));
    auto attr = file.value()->getattr();
    if (attr.is_error())
        return why.set(attr.error(), "%s: %s", path, lib::errno_name(attr.error()));
    if ((attr.value().mode & fs::kModeTypeMask) != fs::kModeRegular)
        return why.set(Errno::ACCES, "%s: not a regular file", path);
    size = attr.value().size;
    return file.release_value();
}

// Copies `length` bytes of the file at `offset` to application address `dst`.
lib::Result<void> copy_file(fs::OpenFile& file, uint64_t offset, uint64_t dst, uint64_t length)
{
    while (length) {
        // The kernel writes the application's (fresh, writable) pages directly; a page it
        // touches first is demand-faulted in.
        size_t chunk = length < (1u << 20) ? size_t(length) : size_t(1) << 20;
        fs::KernelBuffer kb(reinterpret_cast<void*>(dst), chunk);
        size_t n = TRY(file.pread(int64_t(offset), kb));
        if (n == 0)
            return Errno::IO; // the file shrank under us
        offset += n;
        dst += n;
        length -= n;
    }
    return {};
}

// Loads one ELF image: the program (interpreter == false) or its interpreter.
lib::Result<Loaded> load_image(const fs::PathContext& ctx, const char* path, elf::Executable& exe, bool is_interpreter,
                               Reason& why)
{
    uint64_t file_size = 0;
    auto file = TRY(open_executable(ctx, path, file_size, why));
    // Its pages are about to be mapped in place: from now on the file cannot be written or
    // truncated (TXTBSY), as on Linux.
    if (file->location())
        file->location()->vnode->deny_write();
    OpenFileReader reader(*file, file_size);
    elf::ParseError perr;
    auto parsed = elf::parse(reader, &perr);
    if (parsed.is_error())
        return why.set(parsed.error(), "%s: %s", path, perr.message[0] ? perr.message : lib::errno_name(parsed.error()));
    exe = parsed.release_value();
    if (is_interpreter && exe.has_interpreter)
        return why.set(Errno::NOEXEC, "%s: the interpreter itself asks for an interpreter", path);

    // Reserve the span (holes included) in one piece; the steps then replace parts of it.
    elf::Span span = elf::reserve_span(exe);
    uint64_t bias = 0;
    uint64_t reservation = 0, reservation_size = 0;
    if (exe.type == elf::FileType::Exec) {
        auto r = core::map_anonymous(span.start, span.size, mm::Protection::None, mm::MapFlags::FixedNoReplace);
        if (r.is_error())
            return why.set(Errno::NOMEM, "%s: cannot map at its fixed address %#lx", path, span.start);
        reservation = span.start;
        reservation_size = span.size;
    } else {
        reservation_size = span.size + exe.max_align - kPage;
        uint64_t hint = is_interpreter ? 0 : kPieBase;
        auto r = core::map_anonymous(hint, reservation_size, mm::Protection::None, mm::MapFlags::None);
        if (r.is_error())
            return why.set(Errno::NOMEM, "%s: no room for %lu bytes", path, reservation_size);
        reservation = r.value();
        auto b = elf::bias_within(exe, reservation, reservation_size);
        if (b.is_error()) {
            (void)core::unmap(reservation, reservation_size);
            return why.set(Errno::NOMEM, "%s: cannot place the image", path);
        }
        bias = b.value();
    }
    auto fail = [&](Errno e, const char* what) {
        (void)core::unmap(reservation, reservation_size);
        return why.set(e, "%s: %s: %s", path, what, lib::errno_name(e));
    };
    auto* plan = new (std::nothrow) elf::LoadPlan;
    if (!plan)
        return fail(Errno::NOMEM, "loading");
    auto planned = elf::plan_load(exe, bias);
    if (planned.is_error()) {
        delete plan;
        return fail(planned.error(), "load plan");
    }
    *plan = planned.value();
    Errno failure = Errno(0);
    // The file's pages, mapped in place, unless its filesystem cannot map them (then copied).
    auto o = file_object(*file);
    if (o.is_error() && o.error() != Errno::NOTSUP) {
        delete plan;
        return fail(o.error(), "loading");
    }
    mm::MemoryObject* object = o.is_error() ? nullptr : o.value();
    // Build everything writable, then apply each step's protection.
    for (size_t i = 0; i < plan->step_count && failure == Errno(0); ++i) {
        const elf::LoadStep& s = plan->steps[i];
        switch (s.kind) {
        case elf::LoadStep::Kind::MapFile: {
            if (object) {
                core::ObjectMapping m;
                m.hint = s.vaddr;
                m.size = s.length;
                m.prot = mm::Protection::ReadWrite; // private: a write copies the page
                m.flags = mm::MapFlags::Fixed;
                m.object = object;
                m.offset = s.file_offset;
                if (auto r = core::map_object(m); r.is_error())
                    failure = r.error();
                break;
            }
            if (auto r = core::map_anonymous(s.vaddr, s.length, mm::Protection::ReadWrite, mm::MapFlags::Fixed); r.is_error()) {
                failure = r.error();
                break;
            }
            uint64_t avail = s.file_offset < file_size ? file_size - s.file_offset : 0;
            if (auto r = copy_file(*file, s.file_offset, s.vaddr, s.length < avail ? s.length : avail); r.is_error())
                failure = r.error();
            break;
        }
        case elf::LoadStep::Kind::ZeroTail:
            lib::mem_set(reinterpret_cast<void*>(s.vaddr), 0, s.length);
            break;
        case elf::LoadStep::Kind::MapAnonymous:
            if (auto r = core::map_anonymous(s.vaddr, s.length, to_mm(s.prot), mm::MapFlags::Fixed); r.is_error())
                failure = r.error();
            break;
        }
    }
    for (size_t i = 0; i < plan->step_count && failure == Errno(0); ++i) {
        const elf::LoadStep& s = plan->steps[i];
        if (s.kind == elf::LoadStep::Kind::MapFile)
            if (auto r = core::protect(s.vaddr, s.length, to_mm(s.prot)); r.is_error())
                failure = r.error();
    }
    Loaded out;
    out.bias = bias;
    out.entry = plan->entry;
    out.end = plan->span.start + plan->span.size;
    out.phdr = exe.has_phdr ? exe.phdr_vaddr + bias : 0;
    out.phnum = exe.phnum;
    out.phent = exe.phent;
    delete plan;
    if (object)
        object->release(); // the mappings hold their own references
    if (failure != Errno(0))
        return fail(failure, "loading");
    return out;
}

uint64_t hwcap() { return arch::cpuid(1).edx; }

constexpr size_t kMaxAuxv = 32;
elf::AuxEntry g_auxv[kMaxAuxv];
StackRange g_stack; // written once, by exec, before any other thread of the program runs
size_t g_auxv_count = 0;

} // namespace

StackRange main_stack_range() { return g_stack; }

size_t initial_auxv(const void** data)
{
    *data = g_auxv;
    return g_auxv_count * sizeof(elf::AuxEntry);
}

lib::Result<void> start_application(const fs::PathContext& ctx, const boot::AppCommand& cmd, char* why_buf,
                                    size_t why_size)
{
    Reason why(why_buf, why_size);
    const char* path = cmd.argv[0];
    auto* exe = new (std::nothrow) elf::Executable;
    auto* interp = new (std::nothrow) elf::Executable;
    auto* stack_buf = static_cast<uint8_t*>(core::kmalloc(kMaxInitialStack));
    auto* views = new (std::nothrow) lib::StringView[2 * boot::AppCommand::kMaxWords];
    struct Cleanup {
        elf::Executable *a, *b;
        uint8_t* s;
        lib::StringView* v;
        ~Cleanup()
        {
            delete a;
            delete b;
            core::kfree(s);
            delete[] v;
        }
    } cleanup { exe, interp, stack_buf, views };
    if (!exe || !interp || !stack_buf || !views)
        return why.set(Errno::NOMEM, "%s: out of memory", path);

    Loaded program = TRY(load_image(ctx, path, *exe, false, why));
    Loaded loader {};
    bool has_interp = exe->has_interpreter;
    if (has_interp)
        loader = TRY(load_image(ctx, exe->interpreter, *interp, true, why));
    if (!exe->has_phdr && has_interp)
        return why.set(Errno::NOEXEC, "%s: no program headers in memory", path);

    // The main thread's stack, with an inaccessible guard below it.
    auto stack = core::map_anonymous(0, kStackGuard + kStackSize, mm::Protection::None, mm::MapFlags::None);
    if (stack.is_error())
        return why.set(Errno::NOMEM, "%s: no room for the stack", path);
    uint64_t stack_bottom = stack.value() + kStackGuard;
    if (auto r = core::protect(stack_bottom, kStackSize, mm::Protection::ReadWrite); r.is_error())
        return why.set(r.error(), "%s: stack: %s", path, lib::errno_name(r.error()));
    uint64_t stack_top = stack_bottom + kStackSize;
    g_stack = { stack_bottom, stack_top };

    auto vdso = map_vdso();
    if (vdso.is_error())
        return why.set(vdso.error(), "%s: no room for the vDSO", path);

    lib::StringView* argv = views;
    lib::StringView* envp = views + boot::AppCommand::kMaxWords;
    for (size_t i = 0; i < cmd.argc; ++i)
        argv[i] = { cmd.argv[i], lib::str_length(cmd.argv[i]) };
    for (size_t i = 0; i < cmd.env_count; ++i)
        envp[i] = { cmd.env[i], lib::str_length(cmd.env[i]) };
    elf::AuxEntry aux[] = {
        { elf::kAtSysinfoEhdr, vdso.value() },
        { elf::kAtMinSigStkSz, 2048 + arch::xsave_area_size() },
        { elf::kAtHwcap, hwcap() },
        { elf::kAtPagesz, kPage },
        { elf::kAtClktck, 100 },
        { elf::kAtPhdr, program.phdr },
        { elf::kAtPhent, program.phent },
        { elf::kAtPhnum, program.phnum },
        { elf::kAtBase, has_interp ? loader.bias : 0 },
        { elf::kAtFlags, 0 },
        { elf::kAtEntry, program.entry },
        { elf::kAtUid, 0 },
        { elf::kAtEuid, 0 },
        { elf::kAtGid, 0 },
        { elf::kAtEgid, 0 },
        { elf::kAtSecure, 0 },
        { elf::kAtRandom, 0 },
        { elf::kAtHwcap2, 0 },
        { elf::kAtExecFn, 0 },
        { elf::kAtPlatform, 0 },
    };
    elf::StackSpec spec;
    spec.argv = argv;
    spec.argc = cmd.argc;
    spec.envp = envp;
    spec.envc = cmd.env_count;
    core::fill_random(spec.random, sizeof(spec.random));
    spec.execfn = argv[0];
    spec.auxv = aux;
    spec.auxc = sizeof(aux) / sizeof(aux[0]);
    elf::StackImage image { stack_buf, kMaxInitialStack, stack_top };
    auto sp = elf::build_initial_stack(image, spec);
    if (sp.is_error())
        return why.set(sp.error(), "%s: arguments and environment too large for the initial stack", path);
    // /proc/self/auxv: the vector as built, AT_NULL included.
    g_auxv_count = 0;
    if (auto n = elf::read_auxv(image, sp.value(), g_auxv, kMaxAuxv); !n.is_error())
        g_auxv_count = n.value();
    uint64_t used = stack_top - sp.value();
    lib::mem_copy(reinterpret_cast<void*>(sp.value()), stack_buf + (kMaxInitialStack - used), used);

    init_program_break(program.end);
    uint64_t entry = has_interp ? loader.entry : program.entry;
    auto main_thread = spawn_app_thread(path, entry, sp.value(), 0, kPid);
    if (main_thread.is_error())
        return why.set(main_thread.error(), "%s: cannot start the main thread", path);
    return {};
}

} // namespace lx
