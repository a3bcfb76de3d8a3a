// procfs and sysfs: the synthetic /proc and /sys that Linux programs read (glibc, Python,
// JVMs, Go), as read-only VFS filesystems generated from a ProcessSource.
//
// Design
//  * The kernel implements ProcessSource from its real state; this library only formats. Every
//    method either returns a small value, writes text or bytes into a caller-provided sink
//    (lib::FormatSink: put raw bytes, or lib::format into it), or reports a list through a
//    Visitor callback, so the source allocates nothing per call and holds its locks only while
//    it reports. Names and paths handed to a visitor need to live only for that call.
//  * Files are generated when read: each Vnode::read() produces the file's whole text into a
//    heap buffer and copies the requested range out of it. The vnode read API carries no
//    per-open state, so a reader reading in chunks gets a fresh snapshot per chunk; a file
//    that changes between two chunks (maps while another thread maps memory) can then read
//    torn at the chunk boundary. Programs read these files with one large read or small
//    ones in a row; we accept this until open files can carry state. Sizes report 0, as on
//    Linux, so readers read until 0.
//  * Vnodes are made per lookup (fs/vnode.h allows it) and hold only (kind, number); their
//    identity is an inode number built from the two. Nothing here locks: the source serialises
//    itself, and a number that disappears between lookup and read (a closed descriptor, an
//    exited thread) answers NOENT (readlink) or SRCH (read), as Linux does for a dead task.
//  * Everything is read-only: the filesystems say so (the VFS refuses changes with ROFS) and
//    the vnodes refuse writes themselves.
//
// There is one process (the VM's program), whose pid is source.pid(): /proc lists only it.
// Formats follow man 5 proc and what Linux 6.1 prints (see README.md for the file list).
//
// Context: may block (allocation, the source's locks); thread context.
#pragma once

#include <fs/ref.h>
#include <fs/vnode.h>
#include <lib/format.h>
#include <lib/result.h>
#include <lib/string.h>

#include <net/mib.h>
#include <stdint.h>
#include <type_traits>

namespace procfs {

// A non-owning reference to a callable taking Args (a lambda at the call site). Valid while
// the callable is: pass it down, never store it.
template<typename... Args>
class Visitor {
public:
    template<typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, Visitor>>>
    Visitor(F&& f)
        : m_object(const_cast<void*>(static_cast<const void*>(&f)))
        , m_call([](void* object, Args... args) { (*static_cast<std::remove_reference_t<F>*>(object))(args...); })
    {
    }

    void operator()(Args... args) const { m_call(m_object, args...); }

private:
    void* m_object;
    void (*m_call)(void*, Args...);
};

// The scheduler-visible state of a thread, by the letter Linux prints [man 5 proc, stat (3)].
enum class ThreadState : char {
    Running = 'R',
    Sleeping = 'S',   // interruptible wait
    DiskSleep = 'D',  // uninterruptible wait
    Stopped = 'T',
    Zombie = 'Z',
};

struct ThreadInfo {
    int tid = 0;
    lib::StringView name; // comm: at most 15 bytes are shown
    ThreadState state = ThreadState::Sleeping;
    int cpu = 0;          // the CPU it last ran on
    uint64_t user_ns = 0; // CPU time in application code
    uint64_t system_ns = 0;
    uint64_t voluntary_switches = 0;
    uint64_t involuntary_switches = 0;
};

struct FdInfo {
    int fd = 0;
    // What readlink(/proc/self/fd/N) shows: an absolute path, or "pipe:[5]", "socket:[7]",
    // "anon_inode:[eventfd]" for files without one.
    lib::StringView target;
};

// One line of /proc/self/maps.
struct Mapping {
    uint64_t start = 0; // [start, end), page-aligned
    uint64_t end = 0;
    bool read = false;
    bool write = false;
    bool exec = false;
    bool is_private = true; // 'p' (copy-on-write / anonymous) or 's' (shared)
    uint64_t offset = 0;    // file offset of `start`
    uint32_t dev_major = 0;
    uint32_t dev_minor = 0;
    uint64_t inode = 0;
    // The file's path, a pseudo name ("[heap]", "[stack]", "[vdso]"), or empty (anonymous).
    lib::StringView path;
};

// The process's memory, in bytes.
struct MemoryUsage {
    uint64_t vm_size = 0; // all mappings
    uint64_t rss = 0;     // resident
    uint64_t rss_file = 0;
    uint64_t data = 0;    // private writable mappings (VmData)
    uint64_t stack = 0;
    uint64_t text = 0;    // the executable's code (VmExe)
    uint64_t lib = 0;     // shared-library code (VmLib)
};

// The machine's memory, in bytes.
struct SystemMemory {
    uint64_t total = 0;
    uint64_t free = 0;
    uint64_t available = 0; // what could be had without swapping (free + reclaimable caches)
    uint64_t cached = 0;    // file pages (ramfs data)
};

// One CPU's time since boot, in nanoseconds.
struct CpuTimes {
    uint64_t user_ns = 0;
    uint64_t system_ns = 0;
    uint64_t idle_ns = 0;
};

// What /proc/cpuinfo shows besides the strings (CPUID leaf 1 and 0x80000008).
struct CpuIdentity {
    unsigned family = 6;
    unsigned model = 0;
    unsigned stepping = 0;
    uint64_t khz = 0;       // cpu MHz, in kHz
    unsigned cache_kb = 0;
    unsigned physical_bits = 40;
    unsigned virtual_bits = 48;
};

struct MountInfo {
    lib::StringView device; // "none", "/dev/vda", ...
    lib::StringView mount_point;
    lib::StringView fs_type; // "ramfs", "proc", ...
    bool read_only = false;
};

// What /proc and /sys show, implemented by the kernel. Methods may block and may be called
// from any thread, concurrently; each call must report a consistent view of its own data
// (a list is reported under whatever lock protects it). Visitors are called synchronously,
// before the method returns, and must not call back into the source.
class ProcessSource {
public:
    // ---- the process ---------------------------------------------------------------------
    virtual int pid() = 0;
    virtual int ppid() { return 0; }
    // The thread that is calling (for /proc/thread-self).
    virtual int current_tid() { return pid(); }
    virtual uint32_t umask() { return 022; }
    // argv as written at exec: each argument followed by a NUL.
    virtual void cmdline(lib::FormatSink& out) = 0;
    // The environment, same layout (empty is acceptable).
    virtual void environment(lib::FormatSink& out) {}
    // Absolute paths (no NUL) of the executable and the working directory.
    virtual void exe_path(lib::FormatSink& out) = 0;
    virtual void cwd_path(lib::FormatSink& out) = 0;
    // The auxiliary vector as the program got it: (type, value) pairs of 8-byte words up to
    // and including AT_NULL.
    virtual void auxv(lib::FormatSink& out) = 0;
    // Every live thread of the process (the main thread's tid is pid()), in any order.
    virtual void for_each_thread(Visitor<const ThreadInfo&> visit) = 0;
    // Every open descriptor, in any order.
    virtual void for_each_fd(Visitor<const FdInfo&> visit) = 0;
    // Every mapping, in ascending address order.
    virtual void for_each_mapping(Visitor<const Mapping&> visit) = 0;
    virtual MemoryUsage memory_usage() = 0;
    // When the process started, in nanoseconds since boot.
    virtual uint64_t start_time_ns() { return 0; }

    // ---- the system ----------------------------------------------------------------------
    // CPUs online, numbered 0 .. cpu_count() - 1. At least 1.
    virtual unsigned cpu_count() = 0;
    virtual CpuTimes cpu_times(unsigned cpu) = 0;
    virtual SystemMemory system_memory() = 0;
    // Time since boot and the idle time summed over all CPUs, in nanoseconds.
    virtual uint64_t uptime_ns() = 0;
    virtual uint64_t idle_ns() = 0;
    // The wall-clock time of boot, in seconds since the epoch.
    virtual uint64_t boot_time_sec() = 0;
    virtual uint64_t context_switches() = 0;
    // Processes created since boot (/proc/stat "processes").
    virtual uint64_t processes_created() { return 1; }
    // Every mount, parents before children (as /proc/mounts lists them).
    virtual void for_each_mount(Visitor<const MountInfo&> visit) = 0;
    // CPUID strings: "GenuineIntel", the brand string, and the flags as Linux names them,
    // separated by single spaces ("fpu vme de pse ...").
    virtual void cpu_vendor(lib::FormatSink& out) = 0;
    virtual void cpu_model_name(lib::FormatSink& out) = 0;
    virtual void cpu_flags(lib::FormatSink& out) = 0;
    virtual CpuIdentity cpu_identity() { return {}; }
    // uname's release and version, which /proc/version and osrelease repeat.
    virtual lib::StringView kernel_release() { return "6.1.0-nimbus"; }
    virtual lib::StringView kernel_version() { return "#1 SMP Nimbus"; }
    virtual uint32_t pid_max() { return 4194304; }

    // ---- the network (/proc/net) ---------------------------------------------------------
    // Adds the stack's MIB counters to `out` (zeroed by the caller); false without a stack
    // (the files are then empty of counters: /proc/net/snmp prints zeros, as a host whose
    // network never carried a packet).
    virtual bool net_mib(net::Mib& out) { return false; }
    // Every network interface's counters, "lo" first.
    virtual void for_each_net_interface(Visitor<const net::InterfaceCounters&> visit) {}

protected:
    ~ProcessSource() = default;
};

// A new /proc ("proc" in /proc/mounts) / /sys ("sysfs") over `source`, which must outlive the
// filesystem. NOMEM.
Result<fs::Ref<fs::FileSystem>> create_procfs(ProcessSource& source);
Result<fs::Ref<fs::FileSystem>> create_sysfs(ProcessSource& source);

} // namespace procfs
