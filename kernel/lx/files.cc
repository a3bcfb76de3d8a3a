// The application's file-system state (files.h) and the kernel's backends for the fs layer:
// pages for ramfs, entropy for /dev/urandom, the serial console for /dev/console.
#include <atomic>
#include <core/clock.h>
#include <core/console.h>
#include <core/memory.h>
#include <core/thread.h>
#include <fs/devfs/devfs.h>
#include <fs/ops.h>
#include <fs/ramfs/ramfs.h>
#include <imagefs/image.h>
#include <lib/format.h>
#include <lx/files.h>
#include <lx/random.h>
#include <lx/file_mapping.h>
#include <lx/signal.h>
#include <lx/uaccess.h>
#include <new>
#include <rootfs/image_fs.h>
#include <sync/mutex.h>

namespace lx {
namespace {

using lib::Errno;

class KernelPages final : public fs::PageProvider {
public:
    lib::Result<void*> alloc_page() override
    {
        void* p = core::alloc_zeroed_page();
        if (!p)
            return Errno::NOMEM;
        return p;
    }
    void free_page(void* page) override { core::free_page(page); }
    uint64_t physical_address(void* page) override { return core::virt_to_phys(page); }
    void revoke_mappings(const fs::Vnode& file, uint64_t from_offset) override
    {
        revoke_file_mappings(file, from_offset);
    }
};

class KernelEntropy final : public fs::devfs::EntropySource {
public:
    lib::Result<void> fill(void* dst, size_t n) override
    {
        fill_random(dst, n);
        return {};
    }
};

// The serial console as a terminal. Input is polled every 10 ms (TODO(#4): the UART's
// receive interrupt through an interrupt thread); writes go straight to the UART. A read
// waiting for input ends with kRestartSys when a signal arrives (signal.h: EINTR after a
// handler without SA_RESTART, else the read runs again): the wait is a park with a
// deadline, which the sender's kick cuts short.
class SerialConsole final : public fs::devfs::ConsoleBackend {
public:
    lib::Result<size_t> write(const void* data, size_t n) override
    {
        core::console_write(static_cast<const char*>(data), n);
        return n;
    }

    lib::Result<size_t> read(void* dst, size_t n, bool nonblocking) override
    {
        auto* out = static_cast<char*>(dst);
        size_t got = 0;
        while (got == 0) {
            char c;
            while (got < n && core::console_try_read(c))
                out[got++] = c == '\r' ? '\n' : c; // ICRNL
            if (got || nonblocking)
                break;
            if (signal_pending())
                return kRestartSys;
            core::park_current_thread_until(core::monotonic_ns() + kInputPollNs);
        }
        if (!got)
            return Errno::AGAIN;
        return got;
    }

    lib::Result<long> ioctl(unsigned cmd, uint64_t arg) override
    {
        constexpr unsigned kTcgets = 0x5401, kTcsets = 0x5402, kTcsetsw = 0x5403, kTcsetsf = 0x5404;
        constexpr unsigned kTiocgwinsz = 0x5413, kTiocswinsz = 0x5414, kTiocgpgrp = 0x540f, kTiocspgrp = 0x5410;
        switch (cmd) {
        case kTcgets: {
            ksync::MutexGuard guard(m_lock);
            TRY(write_app(arg, m_termios));
            return 0;
        }
        case kTcsets:
        case kTcsetsw:
        case kTcsetsf: {
            Termios t = TRY(read_app<Termios>(arg));
            ksync::MutexGuard guard(m_lock);
            m_termios = t; // kept for TCGETS; the serial line itself has no modes to set
            return 0;
        }
        case kTiocgwinsz: {
            struct Winsize {
                uint16_t rows, cols, xpixel, ypixel;
            } w { 24, 80, 0, 0 };
            TRY(write_app(arg, w));
            return 0;
        }
        case kTiocswinsz:
            return 0;
        case kTiocgpgrp:
            TRY(write_app<int32_t>(arg, 1));
            return 0;
        case kTiocspgrp:
            return 0;
        default:
            return Errno::NOTTY;
        }
    }

private:
    static constexpr uint64_t kInputPollNs = 10'000'000;

    // struct termios as TCGETS gives it: a fresh Linux console's modes (canonical input with
    // echo, ONLCR output processing, 38400 baud, 8 bits).
    struct Termios {
        uint32_t iflag = 0x0500;  // ICRNL | IXON
        uint32_t oflag = 0x0005;  // OPOST | ONLCR
        uint32_t cflag = 0x00bf;  // B38400 | CS8 | CREAD
        uint32_t lflag = 0x8a3b;  // ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN
        uint8_t line = 0;
        uint8_t cc[19] = { 3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22, 0, 0, 0 };
    };
    static_assert(sizeof(Termios) == 36);

    ksync::Mutex m_lock;
    Termios m_termios;
};

KernelPages g_pages;
KernelEntropy g_entropy;
SerialConsole g_console;
fs::Vfs* g_vfs = nullptr;
fs::FdTable* g_fds = nullptr;
constinit ksync::Mutex g_cwd_lock;
fs::Location g_cwd;
std::atomic<uint32_t> g_umask { 022 };

lib::Result<void> mount_at(const char* path, fs::Ref<fs::FileSystem> filesystem)
{
    fs::PathContext ctx { g_vfs, g_vfs->root(), g_vfs->root(), {} };
    return g_vfs->mount(ctx, { path, lib::str_length(path) }, filesystem);
}

// Copies the tree below directory `from` into directory `to` (the image's /tmp into the
// ramfs mounted over it, so that nothing the image has there disappears). Depth-limited: the
// image is validated (no cycles), the limit only bounds the kernel stack.
lib::Result<void> copy_tree(fs::Vnode& from, fs::Vnode& to, int depth)
{
    if (depth > 32)
        return Errno::LOOP;
    struct OneEntry final : fs::DirSink {
        char name[fs::kNameMax + 1];
        size_t length = 0;
        uint64_t next = 0;
        bool got = false;
        bool emit(uint64_t, fs::DirentType, lib::StringView n, uint64_t next_cookie) override
        {
            if (got)
                return false;
            lib::mem_copy(name, n.data(), n.size());
            length = n.size();
            next = next_cookie;
            got = true;
            return true;
        }
    };
    static uint8_t chunk[64 * 1024]; // boot-time only: one thread
    for (uint64_t cookie = 0;;) {
        OneEntry e;
        TRY(from.readdir(cookie, e));
        if (!e.got)
            return {};
        cookie = e.next;
        lib::StringView name { e.name, e.length };
        fs::Ref<fs::Vnode> src = TRY(from.lookup(name));
        fs::Attr attr = TRY(src->getattr());
        uint32_t perm = attr.mode & 07777;
        if (src->is_directory()) {
            fs::Ref<fs::Vnode> dir = TRY(to.mkdir(name, perm));
            TRY(copy_tree(*src, *dir, depth + 1));
        } else if (src->is_symlink()) {
            static char target[fs::kPathMax]; // boot-time only, and not live across the recursion
            size_t n = TRY(src->readlink(target, sizeof(target)));
            TRY(to.symlink(name, { target, n < sizeof(target) ? n : sizeof(target) }));
        } else if (src->is_regular()) {
            fs::Ref<fs::Vnode> dst = TRY(to.create(name, perm));
            for (uint64_t at = 0; at < attr.size;) {
                fs::KernelBuffer in(chunk, sizeof(chunk));
                size_t n = TRY(src->read(at, in));
                if (n == 0)
                    break;
                fs::KernelBuffer out(static_cast<const void*>(chunk), n);
                uint64_t offset = at;
                TRY(dst->write(offset, out, false));
                at += n;
            }
        }
    }
}

lib::Result<void> open_console(unsigned flags, int expected_fd)
{
    fs::PathContext ctx { g_vfs, g_vfs->root(), g_vfs->root(), {} };
    auto file = TRY(fs::open(ctx, "/dev/console", flags));
    int fd = TRY(g_fds->install(file, false));
    return fd == expected_fd ? lib::Result<void>() : lib::Result<void>(Errno::BADF);
}

} // namespace

lib::Result<void> init_files(const void* image, size_t size, uint64_t image_phys, char* why, size_t why_size)
{
    if (g_vfs) {
        lib::format_to(why, why_size, "the file systems are already set up");
        return Errno::BUSY;
    }
    g_vfs = new (std::nothrow) fs::Vfs;
    g_fds = new (std::nothrow) fs::FdTable;
    if (!g_vfs || !g_fds) {
        lib::format_to(why, why_size, "out of memory");
        return Errno::NOMEM;
    }
    if (image) {
        imagefs::ErrorReport report;
        auto img = imagefs::Image::open(image, size, &report);
        if (img.is_error()) {
            lib::format_to(why, why_size, "the root image is malformed: %s", report.message);
            return img.error();
        }
        auto root = rootfs::ImageFs::create(img.value(), image_phys);
        if (root.is_error()) {
            lib::format_to(why, why_size, "the root image: %s", lib::errno_name(root.error()));
            return root.error();
        }
        if (auto r = g_vfs->mount_root(root.value(), fs::kMountReadOnly); r.is_error()) {
            lib::format_to(why, why_size, "mounting the root image: %s", lib::errno_name(r.error()));
            return r.error();
        }
    } else {
        // No image (in-kernel tests): an empty writable root with the usual mount points.
        fs::ramfs::Config root_config;
        root_config.pages = &g_pages;
        auto root = fs::ramfs::RamFs::create(root_config);
        if (root.is_error() || g_vfs->mount_root(root.value()).is_error()) {
            lib::format_to(why, why_size, "no memory for a root file system");
            return Errno::NOMEM;
        }
        fs::PathContext ctx { g_vfs, g_vfs->root(), g_vfs->root(), {} };
        (void)fs::mkdir(ctx, "/tmp", 01777);
        (void)fs::mkdir(ctx, "/dev", 0755);
    }
    g_cwd = g_vfs->root();

    // /tmp: a ramfs without a cap of its own (memory is the limit); /dev: the devices.
    fs::ramfs::Config tmp_config;
    tmp_config.pages = &g_pages;
    tmp_config.root_mode = 01777;
    auto tmp = fs::ramfs::RamFs::create(tmp_config);
    if (!tmp.is_error()) {
        fs::PathContext root_ctx { g_vfs, g_vfs->root(), g_vfs->root(), {} };
        if (auto image_tmp = fs::lookup_directory(root_ctx, "/tmp"); !image_tmp.is_error())
            if (auto r = copy_tree(*image_tmp.value().vnode, *tmp.value()->root(), 0); r.is_error())
                log_warn("/tmp: copying the image's /tmp failed: %s", lib::errno_name(r.error()));
    }
    if (tmp.is_error() || mount_at("/tmp", tmp.value()).is_error())
        log_warn("no /tmp: the image has no /tmp directory or memory ran out");
    fs::devfs::Config dev_config;
    dev_config.entropy = &g_entropy;
    dev_config.console = &g_console;
    auto dev = fs::devfs::create(*g_vfs, g_pages, dev_config);
    if (dev.is_error() || mount_at("/dev", dev.value()).is_error()) {
        lib::format_to(why, why_size, "cannot mount /dev (does the image have a /dev directory?)");
        return Errno::NOENT;
    }
    if (image) // (the in-kernel tests' bare root has no /proc or /sys)
        if (auto r = mount_proc_and_sys(*g_vfs); r.is_error())
            log_warn("no /proc or /sys: %s (does the image have the directories?)", lib::errno_name(r.error()));
    fs::PathContext ctx { g_vfs, g_vfs->root(), g_vfs->root(), {} };
    (void)fs::symlink(ctx, "/proc/self/fd/0", "/dev/stdin");
    (void)fs::symlink(ctx, "/proc/self/fd/1", "/dev/stdout");
    (void)fs::symlink(ctx, "/proc/self/fd/2", "/dev/stderr");
    if (open_console(fs::kOpenReadOnly, 0).is_error() || open_console(fs::kOpenWriteOnly, 1).is_error() ||
        open_console(fs::kOpenWriteOnly, 2).is_error()) {
        lib::format_to(why, why_size, "cannot open /dev/console for descriptors 0-2");
        return Errno::NOENT;
    }
    return {};
}

bool files_ready() { return g_vfs != nullptr; }

fs::Vfs& vfs() { return *g_vfs; }
fs::FdTable& fd_table() { return *g_fds; }

lib::Result<fs::PathContext> path_context(int dirfd, bool path_is_absolute)
{
    fs::PathContext ctx;
    ctx.vfs = g_vfs;
    ctx.root = g_vfs->root();
    {
        ksync::MutexGuard guard(g_cwd_lock);
        ctx.cwd = g_cwd;
    }
    if (dirfd != kAtFdcwd && !path_is_absolute) {
        auto file = TRY(g_fds->get(dirfd));
        const fs::Location* loc = file->location();
        if (!loc || !loc->vnode->is_directory())
            return Errno::NOTDIR;
        ctx.base = *loc;
    }
    return ctx;
}

lib::Result<void> set_cwd(const fs::Location& dir)
{
    if (!dir.vnode->is_directory())
        return Errno::NOTDIR;
    ksync::MutexGuard guard(g_cwd_lock);
    g_cwd = dir;
    return {};
}

uint32_t umask() { return g_umask.load(std::memory_order_relaxed); }
uint32_t set_umask(uint32_t mask) { return g_umask.exchange(mask & 0777, std::memory_order_relaxed); }

lib::Result<void> AppBuffer::copy_out(size_t at, const void* src, size_t n)
{
    if (at > m_size || n > m_size - at)
        return Errno::FAULT;
    return copy_to_app(m_address + at, src, n);
}

lib::Result<void> AppBuffer::copy_in(size_t at, void* dst, size_t n)
{
    if (at > m_size || n > m_size - at)
        return Errno::FAULT;
    return copy_from_app(dst, m_address + at, n);
}

lib::Result<void> AppIovecBuffer::copy_to_app(uint64_t address, const void* src, size_t n)
{
    return lx::copy_to_app(address, src, n);
}

lib::Result<void> AppIovecBuffer::copy_from_app(uint64_t address, void* dst, size_t n)
{
    return lx::copy_from_app(dst, address, n);
}

} // namespace lx
