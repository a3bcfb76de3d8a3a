// The procfs and sysfs trees (procfs.h): one table-driven filesystem class serves both.
//
// Every node is a (Kind, number) pair: the number is the tid, descriptor or CPU a node is
// about (0 when it is about nothing), and the inode number is (kind << 32) | number, so a
// node made by two lookups is the same vnode to the VFS. A directory's entries are a static
// table of named kinds followed by the numbered entries it has right now (the pid, the
// descriptors, the tids, the CPUs); readdir cookies are 1 + the table index for the former
// and kNumberedCookie + number + 1 for the latter, so a resumed listing neither repeats nor
// skips an entry that stayed.
#include <fs/clock.h>
#include <fs/types.h>
#include <fs/vector.h>
#include <procfs/content.h>
#include <procfs/procfs.h>

namespace procfs {
namespace {

using fs::Ref;
using lib::StringView;

enum class Kind : uint8_t {
    // procfs directories
    ProcRoot = 1,
    PidDir,
    FdDir,
    TaskDir,
    TidDir,
    SysDir,
    SysKernelDir,
    SysVmDir,
    NetDir,
    // sysfs directories
    SysfsRoot,
    SysfsDevices,
    SysfsSystem,
    SysfsCpu,
    SysfsCpuN,
    SysfsFs,
    SysfsCgroup,
    // symlinks
    SelfLink,
    ThreadSelfLink,
    MountsLink,
    ExeLink,
    CwdLink,
    RootLink,
    FdLink,
    // files
    Cmdline,
    Environ,
    Auxv,
    Maps,
    Status,
    Stat,
    Statm,
    Comm,
    Mounts,
    TaskStatus,
    TaskStat,
    TaskComm,
    CpuInfo,
    MemInfo,
    SysStat,
    Uptime,
    LoadAvg,
    Version,
    Filesystems,
    OsRelease,
    PidMax,
    Overcommit,
    CpuOnline,
    CpuPossible,
    CpuPresent,
    NetSnmp,
    NetDev,
};

fs::VnodeType type_of(Kind kind)
{
    if (kind <= Kind::SysfsCgroup)
        return fs::VnodeType::Directory;
    if (kind <= Kind::FdLink)
        return fs::VnodeType::Symlink;
    return fs::VnodeType::Regular;
}

struct Entry {
    const char* name;
    Kind kind;
};

struct EntryList {
    const Entry* entries;
    size_t count;
};

template<size_t N>
constexpr EntryList list(const Entry (&entries)[N])
{
    return {entries, N};
}

constexpr Entry kProcRoot[] = {
    {"self", Kind::SelfLink},       {"thread-self", Kind::ThreadSelfLink}, {"cpuinfo", Kind::CpuInfo},
    {"meminfo", Kind::MemInfo},     {"stat", Kind::SysStat},               {"uptime", Kind::Uptime},
    {"loadavg", Kind::LoadAvg},     {"version", Kind::Version},            {"filesystems", Kind::Filesystems},
    {"mounts", Kind::MountsLink},   {"sys", Kind::SysDir},                 {"net", Kind::NetDir},
};
constexpr Entry kPidDir[] = {
    {"exe", Kind::ExeLink},     {"cwd", Kind::CwdLink},       {"root", Kind::RootLink}, {"cmdline", Kind::Cmdline},
    {"environ", Kind::Environ}, {"auxv", Kind::Auxv},         {"maps", Kind::Maps},     {"status", Kind::Status},
    {"stat", Kind::Stat},       {"statm", Kind::Statm},       {"comm", Kind::Comm},     {"mounts", Kind::Mounts},
    {"fd", Kind::FdDir},        {"task", Kind::TaskDir},
};
constexpr Entry kTidDir[] = {
    {"comm", Kind::TaskComm},
    {"stat", Kind::TaskStat},
    {"status", Kind::TaskStatus},
};
constexpr Entry kSysDir[] = {{"kernel", Kind::SysKernelDir}, {"vm", Kind::SysVmDir}};
constexpr Entry kSysKernelDir[] = {{"osrelease", Kind::OsRelease}, {"pid_max", Kind::PidMax}};
constexpr Entry kSysVmDir[] = {{"overcommit_memory", Kind::Overcommit}};
constexpr Entry kNetDir[] = {{"dev", Kind::NetDev}, {"snmp", Kind::NetSnmp}};
constexpr Entry kSysfsRoot[] = {{"devices", Kind::SysfsDevices}, {"fs", Kind::SysfsFs}};
constexpr Entry kSysfsDevices[] = {{"system", Kind::SysfsSystem}};
constexpr Entry kSysfsSystem[] = {{"cpu", Kind::SysfsCpu}};
constexpr Entry kSysfsCpu[] = {
    {"online", Kind::CpuOnline},
    {"possible", Kind::CpuPossible},
    {"present", Kind::CpuPresent},
};
constexpr Entry kSysfsFs[] = {{"cgroup", Kind::SysfsCgroup}};

EntryList static_entries(Kind kind)
{
    switch (kind) {
    case Kind::ProcRoot:
        return list(kProcRoot);
    case Kind::PidDir:
        return list(kPidDir);
    case Kind::TidDir:
        return list(kTidDir);
    case Kind::SysDir:
        return list(kSysDir);
    case Kind::SysKernelDir:
        return list(kSysKernelDir);
    case Kind::SysVmDir:
        return list(kSysVmDir);
    case Kind::NetDir:
        return list(kNetDir);
    case Kind::SysfsRoot:
        return list(kSysfsRoot);
    case Kind::SysfsDevices:
        return list(kSysfsDevices);
    case Kind::SysfsSystem:
        return list(kSysfsSystem);
    case Kind::SysfsCpu:
        return list(kSysfsCpu);
    case Kind::SysfsFs:
        return list(kSysfsFs);
    default:
        return {nullptr, 0};
    }
}

// The directory ".." leads to (a root leads to itself).
Kind parent_of(Kind kind)
{
    switch (kind) {
    case Kind::PidDir:
    case Kind::SysDir:
    case Kind::NetDir:
        return Kind::ProcRoot;
    case Kind::FdDir:
    case Kind::TaskDir:
        return Kind::PidDir;
    case Kind::TidDir:
        return Kind::TaskDir;
    case Kind::SysKernelDir:
    case Kind::SysVmDir:
        return Kind::SysDir;
    case Kind::SysfsDevices:
    case Kind::SysfsFs:
        return Kind::SysfsRoot;
    case Kind::SysfsSystem:
        return Kind::SysfsDevices;
    case Kind::SysfsCpu:
        return Kind::SysfsSystem;
    case Kind::SysfsCpuN:
        return Kind::SysfsCpu;
    case Kind::SysfsCgroup:
        return Kind::SysfsFs;
    default:
        return kind;
    }
}

// Cookies of numbered entries start here, above every static table's.
constexpr uint64_t kNumberedCookie = 256;

// A decimal number as /proc names it: digits only, no leading zero, at most INT32_MAX.
bool parse_number(StringView text, uint32_t& out)
{
    if (text.is_empty() || text.size() > 10 || (text[0] == '0' && text.size() > 1))
        return false;
    uint64_t n = 0;
    for (char c : text) {
        if (c < '0' || c > '9')
            return false;
        n = n * 10 + uint64_t(c - '0');
    }
    if (n > 0x7fffffff)
        return false;
    out = uint32_t(n);
    return true;
}

// Sorts ascending (heapsort: no recursion, no allocation, O(n log n) for large fd tables).
void sort_numbers(fs::Vector<uint32_t>& v)
{
    size_t n = v.size();
    auto sift_down = [&](size_t root, size_t end) {
        while (2 * root + 1 < end) {
            size_t child = 2 * root + 1;
            if (child + 1 < end && v[child] < v[child + 1])
                child++;
            if (!(v[root] < v[child]))
                return;
            uint32_t t = v[root];
            v[root] = v[child];
            v[child] = t;
            root = child;
        }
    };
    for (size_t i = n / 2; i-- > 0;)
        sift_down(i, n);
    for (size_t end = n; end > 1; end--) {
        uint32_t t = v[0];
        v[0] = v[end - 1];
        v[end - 1] = t;
        sift_down(0, end - 1);
    }
}

class SynthFs final : public fs::FileSystem {
public:
    SynthFs(ProcessSource& source, const char* name) : m_source(source), m_name(name) {}

    static Result<Ref<fs::FileSystem>> create(ProcessSource& source, const char* name, Kind root);

    Ref<fs::Vnode> root() override { return m_root; }
    const char* name() const override { return m_name; }
    bool is_read_only() const override { return true; }

    ProcessSource& source() const { return m_source; }
    Result<Ref<fs::Vnode>> node(Kind kind, uint32_t number);

private:
    ProcessSource& m_source;
    const char* m_name;
    Ref<fs::Vnode> m_root;
};

class SynthNode final : public fs::Vnode {
public:
    SynthNode(SynthFs& owner, Kind kind, uint32_t number)
        : fs::Vnode(owner, (uint64_t(kind) << 32) | number, type_of(kind)), m_owner(owner), m_kind(kind),
          m_number(number)
    {
    }

    Result<Ref<fs::Vnode>> lookup(StringView name) override;
    Result<void> readdir(uint64_t cookie, fs::DirSink& sink) override;
    Result<size_t> readlink(char* buf, size_t size) override;
    Result<fs::Attr> getattr() override;
    Result<size_t> read(uint64_t offset, fs::IoBuffer& buf) override;

    // Nothing here can change.
    Result<size_t> write(uint64_t&, fs::IoBuffer&, bool) override { return Errno::ROFS; }
    Result<void> setattr(const fs::SetAttr&) override { return Errno::ROFS; }
    Result<Ref<fs::Vnode>> create(StringView, uint32_t) override { return change_error(); }
    Result<Ref<fs::Vnode>> mkdir(StringView, uint32_t) override { return change_error(); }
    Result<Ref<fs::Vnode>> mknod(StringView, uint32_t, uint64_t) override { return change_error(); }
    Result<Ref<fs::Vnode>> symlink(StringView, StringView) override { return change_error(); }
    Result<void> link(StringView, fs::Vnode&) override { return change_error(); }
    Result<void> unlink(StringView) override { return change_error(); }
    Result<void> rmdir(StringView) override { return change_error(); }
    Result<void> rename(StringView, fs::Vnode&, StringView, unsigned) override { return change_error(); }

private:
    Errno change_error() const { return is_directory() ? Errno::ROFS : Errno::NOTDIR; }
    ProcessSource& source() const { return m_owner.source(); }
    // The numbered entries of this directory right now, ascending.
    Result<void> numbered_entries(fs::Vector<uint32_t>& out);
    Result<Ref<fs::Vnode>> lookup_numbered(StringView name);
    Result<void> generate(TextBuffer& out);
    Result<void> link_target(TextBuffer& out);

    SynthFs& m_owner;
    const Kind m_kind;
    const uint32_t m_number;
};

Result<Ref<fs::FileSystem>> SynthFs::create(ProcessSource& source, const char* name, Kind root)
{
    Ref<SynthFs> self = TRY(fs::make_ref<SynthFs>(source, name));
    self->m_root = TRY(self->node(root, 0));
    return Ref<fs::FileSystem>(self);
}

Result<Ref<fs::Vnode>> SynthFs::node(Kind kind, uint32_t number)
{
    auto v = TRY(fs::make_ref<SynthNode>(*this, kind, number));
    return Ref<fs::Vnode>(v);
}

Result<Ref<fs::Vnode>> SynthNode::lookup(StringView name)
{
    if (!is_directory())
        return Errno::NOTDIR;
    if (name == "..") {
        // Every directory but a root (its own parent) has an unnumbered parent.
        Kind parent = parent_of(m_kind);
        return m_owner.node(parent, parent == m_kind ? m_number : 0);
    }
    EntryList entries = static_entries(m_kind);
    for (size_t i = 0; i < entries.count; i++) {
        if (name == entries.entries[i].name)
            return m_owner.node(entries.entries[i].kind, m_kind == Kind::TidDir ? m_number : 0);
    }
    return lookup_numbered(name);
}

Result<Ref<fs::Vnode>> SynthNode::lookup_numbered(StringView name)
{
    uint32_t n = 0;
    switch (m_kind) {
    case Kind::ProcRoot:
        if (!parse_number(name, n) || int(n) != source().pid())
            return Errno::NOENT;
        return m_owner.node(Kind::PidDir, 0);
    case Kind::FdDir:
    case Kind::TaskDir: {
        if (!parse_number(name, n))
            return Errno::NOENT;
        bool found = false;
        if (m_kind == Kind::FdDir)
            source().for_each_fd([&](const FdInfo& f) { found = found || f.fd == int(n); });
        else
            source().for_each_thread([&](const ThreadInfo& t) { found = found || t.tid == int(n); });
        if (!found)
            return Errno::NOENT;
        return m_owner.node(m_kind == Kind::FdDir ? Kind::FdLink : Kind::TidDir, n);
    }
    case Kind::SysfsCpu:
        if (!name.starts_with("cpu") || !parse_number(name.substr(3), n) || n >= source().cpu_count())
            return Errno::NOENT;
        return m_owner.node(Kind::SysfsCpuN, n);
    default:
        return Errno::NOENT;
    }
}

Result<void> SynthNode::numbered_entries(fs::Vector<uint32_t>& out)
{
    bool failed = false;
    auto add = [&](int n) {
        if (n >= 0 && !failed && out.push_back(uint32_t(n)).is_error())
            failed = true;
    };
    switch (m_kind) {
    case Kind::ProcRoot:
        add(source().pid());
        break;
    case Kind::FdDir:
        source().for_each_fd([&](const FdInfo& f) { add(f.fd); });
        break;
    case Kind::TaskDir:
        source().for_each_thread([&](const ThreadInfo& t) { add(t.tid); });
        break;
    case Kind::SysfsCpu:
        for (unsigned cpu = 0; cpu < source().cpu_count(); cpu++)
            add(int(cpu));
        break;
    default:
        break;
    }
    if (failed)
        return Errno::NOMEM;
    sort_numbers(out);
    return {};
}

Result<void> SynthNode::readdir(uint64_t cookie, fs::DirSink& sink)
{
    if (!is_directory())
        return Errno::NOTDIR;
    EntryList entries = static_entries(m_kind);
    for (uint64_t i = cookie; i < entries.count; i++) {
        const Entry& e = entries.entries[i];
        uint32_t number = m_kind == Kind::TidDir ? m_number : 0;
        uint64_t ino = (uint64_t(e.kind) << 32) | number;
        if (!sink.emit(ino, fs::dirent_type(type_of(e.kind)), e.name, i + 1))
            return {};
    }
    fs::Vector<uint32_t> numbers;
    TRY(numbered_entries(numbers));
    Kind child = Kind::PidDir;
    const char* prefix = "";
    if (m_kind == Kind::FdDir)
        child = Kind::FdLink;
    else if (m_kind == Kind::TaskDir)
        child = Kind::TidDir;
    else if (m_kind == Kind::SysfsCpu) {
        child = Kind::SysfsCpuN;
        prefix = "cpu";
    }
    for (size_t i = 0; i < numbers.size(); i++) {
        uint32_t n = numbers[i];
        if (kNumberedCookie + n < cookie || (i > 0 && numbers[i - 1] == n))
            continue;
        char name[16];
        size_t length = lib::format_to(name, sizeof(name), "%s%u", prefix, n);
        uint32_t number = child == Kind::PidDir ? 0 : n;
        uint64_t ino = (uint64_t(child) << 32) | number;
        if (!sink.emit(ino, fs::dirent_type(type_of(child)), StringView(name, length), kNumberedCookie + n + 1))
            return {};
    }
    return {};
}

Result<void> SynthNode::link_target(TextBuffer& out)
{
    switch (m_kind) {
    case Kind::SelfLink:
        out.print("%d", source().pid());
        break;
    case Kind::ThreadSelfLink:
        out.print("%d/task/%d", source().pid(), source().current_tid());
        break;
    case Kind::MountsLink:
        out.put("self/mounts");
        break;
    case Kind::ExeLink:
        source().exe_path(out);
        break;
    case Kind::CwdLink:
        source().cwd_path(out);
        break;
    case Kind::RootLink:
        out.put("/");
        break;
    case Kind::FdLink: {
        bool found = false;
        source().for_each_fd([&](const FdInfo& f) {
            if (f.fd == int(m_number) && !found) {
                found = true;
                out.put(f.target);
            }
        });
        if (!found)
            return Errno::NOENT; // closed since the lookup
        break;
    }
    default:
        return Errno::INVAL;
    }
    TRY(out.status());
    if (out.size() == 0)
        return Errno::NOENT; // no executable / directory to show (Linux's answer too)
    return {};
}

Result<size_t> SynthNode::readlink(char* buf, size_t size)
{
    if (!is_symlink())
        return Errno::INVAL;
    TextBuffer target;
    TRY(link_target(target));
    size_t length = target.size() < fs::kPathMax - 1 ? target.size() : fs::kPathMax - 1;
    lib::mem_copy(buf, target.data(), length < size ? length : size);
    return length;
}

Result<fs::Attr> SynthNode::getattr()
{
    fs::Attr a;
    a.dev = m_owner.dev();
    a.ino = ino();
    uint32_t perm = 0444;
    if (is_directory())
        perm = m_kind == Kind::FdDir ? 0500 : 0555;
    else if (is_symlink())
        perm = m_kind == Kind::FdLink ? 0700 : 0777;
    else if (m_kind == Kind::Environ || m_kind == Kind::Auxv)
        perm = 0400;
    a.mode = fs::mode_type_bits(type()) | perm;
    a.nlink = is_directory() ? 2 : 1;
    a.size = 0; // generated on read, as on Linux
    a.blksize = 1024;
    a.mtime = fs::now();
    a.atime = a.mtime;
    a.ctime = a.mtime;
    return a;
}

Result<void> SynthNode::generate(TextBuffer& out)
{
    ProcessSource& s = source();
    int pid = s.pid();
    switch (m_kind) {
    case Kind::Cmdline:
        return content::cmdline(s, out);
    case Kind::Environ:
        return content::environment(s, out);
    case Kind::Auxv:
        return content::auxv(s, out);
    case Kind::Maps:
        return content::maps(s, out);
    case Kind::Status:
        return content::status(s, pid, false, out);
    case Kind::Stat:
        return content::stat(s, pid, false, out);
    case Kind::Statm:
        return content::statm(s, out);
    case Kind::Comm:
        return content::comm(s, pid, out);
    case Kind::Mounts:
        return content::mounts(s, out);
    case Kind::TaskStatus:
        return content::status(s, int(m_number), true, out);
    case Kind::TaskStat:
        return content::stat(s, int(m_number), true, out);
    case Kind::TaskComm:
        return content::comm(s, int(m_number), out);
    case Kind::CpuInfo:
        return content::cpuinfo(s, out);
    case Kind::MemInfo:
        return content::meminfo(s, out);
    case Kind::SysStat:
        return content::system_stat(s, out);
    case Kind::Uptime:
        return content::uptime(s, out);
    case Kind::LoadAvg:
        return content::loadavg(s, out);
    case Kind::Version:
        return content::version(s, out);
    case Kind::Filesystems:
        return content::filesystems(out);
    case Kind::OsRelease:
        return content::osrelease(s, out);
    case Kind::PidMax:
        return content::pid_max(s, out);
    case Kind::Overcommit:
        return content::overcommit_memory(out);
    case Kind::NetSnmp:
        return content::net_snmp(source(), out);
    case Kind::NetDev:
        return content::net_dev(source(), out);
    case Kind::CpuOnline:
    case Kind::CpuPossible:
    case Kind::CpuPresent:
        return content::cpu_range(s, out);
    default:
        return Errno::INVAL;
    }
}

Result<size_t> SynthNode::read(uint64_t offset, fs::IoBuffer& buf)
{
    if (is_directory())
        return Errno::ISDIR;
    if (!is_regular())
        return Errno::INVAL;
    // The whole file, fresh for every call (see procfs.h on why and what it costs).
    TextBuffer text;
    TRY(generate(text));
    TRY(text.status());
    if (offset >= text.size())
        return size_t(0);
    size_t n = text.size() - size_t(offset);
    if (n > buf.size())
        n = buf.size();
    TRY(buf.copy_out(0, text.data() + offset, n));
    return n;
}

} // namespace

Result<Ref<fs::FileSystem>> create_procfs(ProcessSource& source)
{
    return SynthFs::create(source, "proc", Kind::ProcRoot);
}

Result<Ref<fs::FileSystem>> create_sysfs(ProcessSource& source)
{
    return SynthFs::create(source, "sysfs", Kind::SysfsRoot);
}

} // namespace procfs
