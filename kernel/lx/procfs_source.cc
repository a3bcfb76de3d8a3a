// What /proc and /sys show (kernel/procfs): the procfs::ProcessSource of the one application,
// from the kernel's own state, and their mounts.
#include <arch/x86_64/cpu.h>
#include <core/clock.h>
#include <core/cpu.h>
#include <core/memory.h>
#include <core/thread.h>
#include <fs/open_file.h>
#include <fs/path.h>
#include <lib/format.h>
#include <lib/string.h>
#include <lx/exec.h>
#include <lx/file_mapping.h>
#include <lx/files.h>
#include <lx/lx.h>
#include <lx/process.h>
#include <lx/vdso.h>
#include <network/network.h>
#include <procfs/procfs.h>

namespace lx {
namespace {

void put_text(lib::FormatSink& out, const char* text) { out.put(text, lib::str_length(text)); }

class KernelSource final : public procfs::ProcessSource {
public:
    int pid() override { return kPid; }
    int current_tid() override
    {
        auto* t = static_cast<AppThread*>(core::current_thread()->app_data());
        return t ? t->tid : kPid;
    }
    uint32_t umask() override { return lx::umask(); }

    void cmdline(lib::FormatSink& out) override
    {
        if (const boot::AppCommand* cmd = app_command())
            for (size_t i = 0; i < cmd->argc; ++i)
                out.put(cmd->argv[i], lib::str_length(cmd->argv[i]) + 1); // with its NUL
    }

    void environment(lib::FormatSink& out) override
    {
        if (const boot::AppCommand* cmd = app_command())
            for (size_t i = 0; i < cmd->env_count; ++i)
                out.put(cmd->env[i], lib::str_length(cmd->env[i]) + 1);
    }

    void exe_path(lib::FormatSink& out) override
    {
        if (const boot::AppCommand* cmd = app_command())
            put_text(out, cmd->argv[0]);
    }

    void cwd_path(lib::FormatSink& out) override
    {
        auto ctx = path_context(kAtFdcwd);
        static char buf[fs::kPathMax]; // under the caller's read: procfs reads one at a time
        if (!ctx.is_error()) {
            auto n = fs::get_path(ctx.value(), ctx.value().cwd, buf, sizeof(buf));
            if (!n.is_error()) {
                out.put(buf, n.value());
                return;
            }
        }
        put_text(out, "/");
    }

    void auxv(lib::FormatSink& out) override
    {
        const void* data;
        size_t size = initial_auxv(&data);
        out.put(static_cast<const char*>(data), size);
    }

    void for_each_thread(procfs::Visitor<const procfs::ThreadInfo&> visit) override
    {
        for_each_app_thread(
            [](AppThread& t, void* ctx) {
                auto& v = *static_cast<procfs::Visitor<const procfs::ThreadInfo&>*>(ctx);
                procfs::ThreadInfo info;
                info.tid = t.tid;
                info.name = { t.comm, lib::str_nlength(t.comm, sizeof(t.comm)) };
                core::Thread* th = t.thread;
                info.state = th && th->state() == core::Thread::State::Running ? procfs::ThreadState::Running
                                                                              : procfs::ThreadState::Sleeping;
                info.cpu = th ? int(th->cpu_index()) : 0;
                info.user_ns = th ? th->runtime_ns() : 0;
                v(info);
                return false;
            },
            &visit);
    }

    void for_each_fd(procfs::Visitor<const procfs::FdInfo&> visit) override
    {
        static char path[fs::kPathMax];
        auto ctx = path_context(kAtFdcwd, true);
        unsigned limit = fd_table().limit();
        size_t left = fd_table().count();
        for (unsigned fd = 0; fd < limit && left; ++fd) {
            auto f = fd_table().get(int(fd));
            if (f.is_error())
                continue;
            --left;
            procfs::FdInfo info;
            info.fd = int(fd);
            const fs::Location* loc = f.value()->location();
            const fs::Location* parent = nullptr;
            lib::StringView name;
            size_t n = 0;
            if (loc && !ctx.is_error()) {
                if (loc->vnode->is_directory()) {
                    auto got = fs::get_path(ctx.value(), *loc, path, sizeof(path));
                    n = got.is_error() ? 0 : got.value();
                } else if (f.value()->opened_as(parent, name)) {
                    // A file: its directory's path (computed) and the name it was opened as.
                    auto got = fs::get_path(ctx.value(), *parent, path, sizeof(path) - name.size() - 2);
                    if (!got.is_error()) {
                        n = got.value();
                        if (n == 0 || path[n - 1] != '/')
                            path[n++] = '/';
                        lib::mem_copy(path + n, name.data(), name.size());
                        n += name.size();
                    }
                }
            }
            if (!n) {
                auto attr = f.value()->getattr();
                n = lib::format_to(path, sizeof(path), "anon_inode:[%lu]", attr.is_error() ? 0ul : attr.value().ino);
            }
            info.target = { path, n };
            visit(info);
        }
    }

    void for_each_mapping(procfs::Visitor<const procfs::Mapping&> visit) override
    {
        // Taken before the memory lock (the break has a lock of its own).
        struct MapsContext {
            procfs::Visitor<const procfs::Mapping&>* visit;
            uint64_t heap;
            StackRange stack;
        } context { &visit, program_break_start(), main_stack_range() };
        core::for_each_app_vma(
            [](const mm::Vma& v, void* ctx) {
                // Guard and reserved ranges are the kernel's bookkeeping, not mappings.
                if (v.kind == mm::VmaKind::Guard || v.kind == mm::VmaKind::Reserved)
                    return;
                procfs::Mapping m;
                m.start = v.start;
                m.end = v.end;
                m.read = mm::has_all(v.prot, mm::Protection::Read);
                m.write = mm::has_all(v.prot, mm::Protection::Write);
                m.exec = mm::has_all(v.prot, mm::Protection::Exec);
                // Called under the memory lock: the name comes from the file object's copy, no
                // path walk (fs locks rank above the memory lock).
                static char file_path[128];
                if (v.kind == mm::VmaKind::Object) {
                    m.is_private = !v.shared;
                    m.offset = v.offset;
                    size_t n = file_object_name(v.object, file_path, sizeof(file_path), m.inode);
                    if (n)
                        m.path = lib::StringView(file_path, n);
                }
                // The vDSO's two mappings keep their own protections, so they are VMAs of
                // their own unless a neighbour with the same rights merged (then unnamed).
                auto* c = static_cast<MapsContext*>(ctx);
                VdsoRange vdso = vdso_range();
                if (v.kind == mm::VmaKind::Anonymous && c->heap && v.contains(c->heap))
                    m.path = lib::StringView("[heap]", 6);
                else if (v.kind == mm::VmaKind::Anonymous && v.start < c->stack.top && c->stack.top <= v.end)
                    m.path = lib::StringView("[stack]", 7);
                else if (v.start == vdso.vvar && v.end == vdso.image)
                    m.path = lib::StringView("[vvar]", 6);
                else if (v.start == vdso.image && v.end == vdso.end)
                    m.path = lib::StringView("[vdso]", 6);
                (*c->visit)(m);
            },
            &context);
    }

    procfs::MemoryUsage memory_usage() override
    {
        procfs::MemoryUsage u;
        core::for_each_app_vma(
            [](const mm::Vma& v, void* ctx) {
                auto* usage = static_cast<procfs::MemoryUsage*>(ctx);
                usage->vm_size += v.size();
                if (v.prot != mm::Protection::None)
                    usage->rss += v.size(); // an upper bound: pages are demand-faulted
            },
            &u);
        return u;
    }

    unsigned cpu_count() override { return core::cpu_count(); }

    procfs::CpuTimes cpu_times(unsigned cpu) override
    {
        procfs::CpuTimes t;
        uint64_t up = core::monotonic_ns();
        core::Thread* idle = cpu < core::cpu_count() ? core::cpu(cpu).idle : nullptr;
        t.idle_ns = idle ? idle->runtime_ns() : 0;
        t.user_ns = up > t.idle_ns ? up - t.idle_ns : 0;
        return t;
    }

    procfs::SystemMemory system_memory() override
    {
        procfs::SystemMemory m;
        m.total = core::total_memory();
        m.free = core::phys_allocator().free_pages() * 4096;
        m.available = m.free;
        return m;
    }

    uint64_t uptime_ns() override { return core::monotonic_ns(); }
    uint64_t idle_ns() override
    {
        uint64_t sum = 0;
        for (unsigned i = 0; i < core::cpu_count(); ++i)
            sum += cpu_times(i).idle_ns;
        return sum;
    }
    uint64_t boot_time_sec() override { return (core::realtime_ns() - core::monotonic_ns()) / 1000000000; }
    uint64_t context_switches() override { return core::context_switches(); }

    void for_each_mount(procfs::Visitor<const procfs::MountInfo&> visit) override
    {
        visit(procfs::MountInfo { "rootfs", "/", "imagefs", true });
        visit(procfs::MountInfo { "ramfs", "/tmp", "ramfs", false });
        visit(procfs::MountInfo { "devfs", "/dev", "ramfs", false });
        visit(procfs::MountInfo { "proc", "/proc", "proc", true });
        visit(procfs::MountInfo { "sysfs", "/sys", "sysfs", true });
    }

    bool net_mib(net::Mib& out) override { return network::read_mib(out); }

    void for_each_net_interface(procfs::Visitor<const net::InterfaceCounters&> visit) override
    {
        network::for_each_interface_counters(
            [](const net::InterfaceCounters& c, void* context) {
                (*static_cast<procfs::Visitor<const net::InterfaceCounters&>*>(context))(c);
            },
            &visit);
    }

    void cpu_vendor(lib::FormatSink& out) override
    {
        arch::CpuidResult r = arch::cpuid(0);
        char v[13];
        lib::mem_copy(v, &r.ebx, 4);
        lib::mem_copy(v + 4, &r.edx, 4);
        lib::mem_copy(v + 8, &r.ecx, 4);
        out.put(v, 12);
    }

    void cpu_model_name(lib::FormatSink& out) override
    {
        if (arch::cpuid(0x80000000).eax < 0x80000004) {
            put_text(out, "unknown");
            return;
        }
        char name[49] = {};
        for (uint32_t i = 0; i < 3; ++i) {
            arch::CpuidResult r = arch::cpuid(0x80000002 + i);
            lib::mem_copy(name + 16 * i, &r.eax, 4);
            lib::mem_copy(name + 16 * i + 4, &r.ebx, 4);
            lib::mem_copy(name + 16 * i + 8, &r.ecx, 4);
            lib::mem_copy(name + 16 * i + 12, &r.edx, 4);
        }
        const char* p = name;
        while (*p == ' ')
            ++p;
        put_text(out, p);
    }

    void cpu_flags(lib::FormatSink& out) override
    {
        struct Flag {
            uint32_t leaf;
            char reg; // 'c' or 'd' or 'b'
            uint32_t bit;
            const char* name;
        };
        static const Flag kFlags[] = {
            { 1, 'd', 0, "fpu" }, { 1, 'd', 4, "tsc" }, { 1, 'd', 5, "msr" }, { 1, 'd', 6, "pae" },
            { 1, 'd', 8, "cx8" }, { 1, 'd', 9, "apic" }, { 1, 'd', 15, "cmov" }, { 1, 'd', 19, "clflush" },
            { 1, 'd', 23, "mmx" }, { 1, 'd', 24, "fxsr" }, { 1, 'd', 25, "sse" }, { 1, 'd', 26, "sse2" },
            { 1, 'c', 0, "pni" }, { 1, 'c', 1, "pclmulqdq" }, { 1, 'c', 9, "ssse3" }, { 1, 'c', 12, "fma" },
            { 1, 'c', 13, "cx16" }, { 1, 'c', 19, "sse4_1" }, { 1, 'c', 20, "sse4_2" }, { 1, 'c', 22, "movbe" },
            { 1, 'c', 23, "popcnt" }, { 1, 'c', 25, "aes" }, { 1, 'c', 26, "xsave" }, { 1, 'c', 28, "avx" },
            { 1, 'c', 29, "f16c" }, { 1, 'c', 30, "rdrand" }, { 7, 'b', 0, "fsgsbase" }, { 7, 'b', 3, "bmi1" },
            { 7, 'b', 5, "avx2" }, { 7, 'b', 8, "bmi2" }, { 7, 'b', 9, "erms" }, { 7, 'b', 16, "avx512f" },
            { 7, 'b', 18, "rdseed" }, { 7, 'b', 19, "adx" }, { 7, 'b', 29, "sha_ni" },
        };
        bool first = true;
        uint32_t max_leaf = arch::cpuid(0).eax;
        for (const Flag& f : kFlags) {
            if (f.leaf > max_leaf)
                continue;
            arch::CpuidResult r = arch::cpuid(f.leaf);
            uint32_t reg = f.reg == 'c' ? r.ecx : f.reg == 'd' ? r.edx : r.ebx;
            if (!(reg & (1u << f.bit)))
                continue;
            if (!first)
                out.put(" ", 1);
            put_text(out, f.name);
            first = false;
        }
    }

    procfs::CpuIdentity cpu_identity() override
    {
        procfs::CpuIdentity id;
        uint32_t eax = arch::cpuid(1).eax;
        id.stepping = eax & 0xf;
        id.model = ((eax >> 4) & 0xf) | (((eax >> 16) & 0xf) << 4);
        id.family = ((eax >> 8) & 0xf) + ((eax >> 20) & 0xff);
        id.khz = core::tsc_frequency_hz() / 1000;
        return id;
    }
};

KernelSource g_source;

} // namespace

lib::Result<void> mount_proc_and_sys(fs::Vfs& vfs)
{
    fs::PathContext ctx { &vfs, vfs.root(), vfs.root(), {} };
    auto proc = TRY(procfs::create_procfs(g_source));
    TRY(vfs.mount(ctx, "/proc", proc));
    auto sys = TRY(procfs::create_sysfs(g_source));
    TRY(vfs.mount(ctx, "/sys", sys));
    return {};
}

} // namespace lx
