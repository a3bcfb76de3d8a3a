// The application's file-system state (files.h) and the kernel's backends for the fs layer:
// pages for ramfs, entropy for /dev/urandom, the serial console for /dev/console and its
// input (the line discipline, or the runner's relayed stdin on descriptor 0).
#include <atomic>
#include <boot/options.h>
#include <core/boot_info.h>
#include <core/clock.h>
#include <core/console.h>
#include <core/entropy.h>
#include <core/ioapic.h>
#include <core/irq_thread.h>
#include <core/memory.h>
#include <core/thread.h>
#include <drivers/block_dev.h>
#include <fs/devfs/devfs.h>
#include <fs/ops.h>
#include <fs/ramfs/ramfs.h>
#include <imagefs/image.h>
#include <lib/format.h>
#include <lx/files.h>
#include <lx/file_mapping.h>
#include <lx/poll.h>
#include <lx/process.h>
#include <lx/signal.h>
#include <lx/uaccess.h>
#include <new>
#include <rootfs/image_fs.h>
#include <sync/mutex.h>
#include <tty/line_discipline.h>
#include <tty/pipe_input.h>

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
        core::fill_random(dst, n);
        return {};
    }
};

// The serial console (COM1) as a terminal, and its input.
//
// Output goes straight to the UART. Input arrives by COM1's received-data interrupt (ISA IRQ
// 4 through the I/O APIC, served by an interrupt thread): the handler only masks the UART's
// interrupt; the thread drains the receive FIFO into the input queue under m_lock — a
// tty::LineDiscipline (console.input=tty: echo, editing, Ctrl-C) or a tty::PipeInput
// (console.input=pipe: the runner's relay protocol, ending in end of file) — and unmasks it
// again. When the queue is full it leaves the interrupt masked and the bytes in the UART (the
// host then stops sending: nothing is lost); the next read that makes room unmasks it, and
// the pending bytes raise the interrupt again. Readers and pollers wait on the readiness
// notifier (poll.h), which the thread signals after each drain: no polling. The console also
// notifies its epoll watches (one list for every open file of it: /dev/console, /dev/tty and
// the pipe-mode standard input) on each change that can make input readier — bytes or the end
// of the input arriving, a mode switch — so epoll looks at it only then and edge-triggered
// interests fire once per arrival; its output never waits, so writability never changes.
// Without the interrupt (no I/O APIC route) readers fall back to draining the UART themselves
// every 10 ms, and the console does not notify (nothing would run its watches).
//
// A read waiting for input ends with kRestartSys when a signal arrives (signal.h: EINTR after a
// handler without SA_RESTART, else the read runs again). A read copies to the application
// before it consumes, so a bad buffer gives FAULT and loses no input.
class SerialConsole final : public fs::devfs::ConsoleBackend, private tty::EchoSink {
public:
    // Chooses the input mode and starts the interrupt thread. Boot time, once.
    void start_input(bool pipe_mode)
    {
        m_pipe_mode = pipe_mode;
        core::InterruptThread::Ops ops { &on_interrupt, &on_work };
        auto irq = core::InterruptThread::create_for_gsi("console", core::isa_irq_route(4), ops, this, 0);
        if (irq.is_error()) {
            log_warn("console: no receive interrupt (%s): polling for input", lib::errno_name(irq.error()));
            return;
        }
        {
            ksync::MutexGuard guard(m_lock);
            m_irq = irq.value();
        }
        // A byte the UART kept from before its set-up raises no interrupt: take it (and
        // whatever else waits) now; drain() then turns the interrupt on.
        drain();
    }
    bool pipe_mode() const { return m_pipe_mode; }

    fs::ReadinessWatch** readiness_watches() override { return m_irq ? &m_watches : nullptr; }

    lib::Result<size_t> write(const void* data, size_t n) override
    {
        core::console_write(static_cast<const char*>(data), n);
        return n;
    }

    lib::Result<size_t> read(void* dst, size_t n, bool nonblocking) override
    {
        fs::KernelBuffer buf(dst, n);
        return read_into(buf, nonblocking);
    }

    // /dev/console and /dev/tty: the terminal (in pipe mode they read the relayed input).
    lib::Result<size_t> read_into(fs::IoBuffer& buf, bool nonblocking) override
    {
        if (m_pipe_mode)
            return read_pipe(buf, nonblocking);
        return read_terminal(buf, nonblocking);
    }

    uint32_t poll_events() override
    {
        ksync::MutexGuard guard(m_lock);
        poll_uart_locked();
        bool readable = m_pipe_mode ? m_pipe.readable() : m_line.readable();
        return fs::kPollOut | fs::kPollWrNorm | (readable ? fs::kPollIn | fs::kPollRdNorm : 0);
    }

    lib::Result<long> ioctl(unsigned cmd, uint64_t arg) override
    {
        constexpr unsigned kTcgets = 0x5401, kTcsets = 0x5402, kTcsetsw = 0x5403, kTcsetsf = 0x5404;
        constexpr unsigned kTcflsh = 0x540b, kFionread = 0x541b;
        constexpr unsigned kTiocgwinsz = 0x5413, kTiocswinsz = 0x5414, kTiocgpgrp = 0x540f, kTiocspgrp = 0x5410;
        switch (cmd) {
        case kTcgets: {
            tty::Termios t;
            {
                ksync::MutexGuard guard(m_lock);
                t = m_line.termios();
            }
            TRY(write_app(arg, t));
            return 0;
        }
        case kTcsets:
        case kTcsetsw: // output is never queued: nothing to drain first
        case kTcsetsf: {
            tty::Termios t = TRY(read_app<tty::Termios>(arg));
            {
                ksync::MutexGuard guard(m_lock);
                if (cmd == kTcsetsf && !m_pipe_mode)
                    m_line.flush();
                m_line.set_termios(t);
                restart_receive_locked();
            }
            readiness_changed(m_watches, kInputEvents); // a mode switch can make input readable
            return 0;
        }
        case kTcflsh: {
            constexpr uint64_t kTciflush = 0, kTcioflush = 2;
            if (arg != kTciflush && arg != kTcioflush)
                return arg == 1 ? 0 : lib::Result<long>(Errno::INVAL);
            ksync::MutexGuard guard(m_lock);
            if (!m_pipe_mode)
                m_line.flush();
            restart_receive_locked();
            return 0;
        }
        case kFionread: {
            int32_t count;
            {
                ksync::MutexGuard guard(m_lock);
                count = int32_t(m_pipe_mode ? m_pipe.available() : m_line.committed());
            }
            TRY(write_app(arg, count));
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

    // Standard input in pipe mode (PipeInputFile): the relayed bytes, then end of file.
    lib::Result<size_t> read_pipe(fs::IoBuffer& buf, bool nonblocking)
    {
        if (buf.size() == 0)
            return size_t(0);
        for (;;) {
            uint64_t epoch = readiness_epoch();
            {
                ksync::MutexGuard guard(m_lock);
                poll_uart_locked();
                uint8_t chunk[kReadChunk];
                size_t n = m_pipe.peek(chunk, buf.size() < sizeof(chunk) ? buf.size() : sizeof(chunk));
                if (n) {
                    TRY(buf.copy_out(0, chunk, n));
                    m_pipe.consume(n);
                    restart_receive_locked();
                    return n;
                }
                if (m_pipe.ended())
                    return size_t(0);
            }
            if (nonblocking)
                return Errno::AGAIN;
            TRY(wait_for_input(epoch, kNoDeadline));
        }
    }

    uint32_t pipe_poll_events()
    {
        ksync::MutexGuard guard(m_lock);
        poll_uart_locked();
        uint32_t ev = 0;
        if (m_pipe.available())
            ev |= fs::kPollIn | fs::kPollRdNorm;
        if (m_pipe.ended())
            ev |= fs::kPollHup; // as a pipe whose writer closed
        return ev;
    }

    size_t pipe_available()
    {
        ksync::MutexGuard guard(m_lock);
        return m_pipe.available();
    }

private:
    static constexpr uint64_t kNoDeadline = ~uint64_t(0);
    static constexpr uint64_t kInputPollNs = 10'000'000;
    static constexpr size_t kReadChunk = tty::LineDiscipline::kMaxLine; // a whole canonical line
    static constexpr int32_t kSiKernel = 0x80;
    static constexpr unsigned kRefillPolls = 64;
    // Input, or its end (pipe mode: POLLHUP).
    static constexpr uint32_t kInputEvents = kReadinessIn | fs::kPollHup;

    // Interrupt context: COM1 is not shared, but check that it is signalling, then mask its
    // interrupt so that the (edge-triggered) line drops; on_work unmasks it.
    static bool on_interrupt(void*)
    {
        if (!core::console_interrupt_pending())
            return false;
        core::console_set_receive_interrupt(false);
        return true;
    }

    static void on_work(void* self) { static_cast<SerialConsole*>(self)->drain(); }

    // The interrupt thread: moves the UART's bytes into the queue, then sends the signal a
    // Ctrl-C asked for and wakes readers and pollers.
    void drain()
    {
        int signal = 0;
        bool got;
        {
            ksync::MutexGuard guard(m_lock);
            got = drain_locked(signal);
            if (!m_receive_stopped)
                core::console_set_receive_interrupt(true);
        }
        if (signal) {
            AppThread::PendingInfo info;
            info.code = kSiKernel;
            send_process_signal(signal, info);
        }
        if (got)
            readiness_changed(m_watches, kInputEvents); // input or its end (pipe mode: POLLHUP)
    }

    // Takes bytes from the UART while the queue has room; a full queue stops the receive
    // interrupt until a read makes room (restart_receive_locked). Whether any byte came.
    bool drain_locked(int& signal) TA_REQ(m_lock)
    {
        bool got = false;
        unsigned idle = 0;
        for (;;) {
            if (m_pipe_mode ? !m_pipe.can_receive() : !m_line.can_receive()) {
                m_receive_stopped = true;
                return got;
            }
            char c;
            if (!core::console_try_read(c)) {
                // The host refills the 16-byte FIFO as soon as it empties: during a burst,
                // looking a few more times is far cheaper than an interrupt per FIFO-full.
                if (!got || ++idle > kRefillPolls)
                    return got;
                continue;
            }
            idle = 0;
            got = true;
            if (m_pipe_mode) {
                m_pipe.receive(uint8_t(c));
            } else if (auto r = m_line.receive(uint8_t(c), *this); r.signal) {
                signal = r.signal;
            }
        }
    }

    void restart_receive_locked() TA_REQ(m_lock)
    {
        if (m_receive_stopped && (m_pipe_mode ? m_pipe.can_receive() : m_line.can_receive())) {
            m_receive_stopped = false;
            if (m_irq)
                core::console_set_receive_interrupt(true); // pending bytes interrupt at once
        }
    }

    // Without the interrupt: the caller drains the UART itself (signals are not raised).
    void poll_uart_locked() TA_REQ(m_lock)
    {
        if (m_irq)
            return;
        int signal = 0;
        m_receive_stopped = false;
        drain_locked(signal);
    }

    // Waits for the notifier (or, polling, at most 10 ms). Ok on a change or at the
    // deadline; kRestartSys when a signal arrived.
    lib::Result<void> wait_for_input(uint64_t epoch, uint64_t deadline)
    {
        if (!m_irq) {
            uint64_t poll = core::monotonic_ns() + kInputPollNs;
            deadline = deadline < poll ? deadline : poll;
        }
        if (!wait_readiness(epoch, deadline) && signal_pending())
            return kRestartSys;
        return {};
    }

    // A terminal read: ICANON waits for a line; otherwise VMIN and VTIME decide [termios(3)]:
    // MIN 0 TIME 0 returns what is there (maybe 0), MIN 0 TIME t waits up to t tenths of a
    // second for a byte, MIN m TIME 0 waits for min(m, n) bytes, MIN m TIME t waits for the
    // first byte and then until m bytes or t tenths of a second without a new one.
    lib::Result<size_t> read_terminal(fs::IoBuffer& buf, bool nonblocking)
    {
        if (buf.size() == 0)
            return size_t(0);
        uint64_t deadline = kNoDeadline;
        size_t seen = 0;
        bool started = false;
        for (;;) {
            uint64_t epoch = readiness_epoch();
            {
                ksync::MutexGuard guard(m_lock);
                poll_uart_locked();
                const tty::Termios& t = m_line.termios();
                uint64_t now = core::monotonic_ns();
                uint64_t tenths = uint64_t(t.cc[tty::kVtime]) * 100'000'000;
                size_t vmin = t.cc[tty::kVmin];
                size_t have = m_line.committed();
                bool ready;
                if (t.lflag & tty::kIcanon) {
                    ready = m_line.readable();
                } else if (vmin == 0) {
                    if (!started && tenths)
                        deadline = now + tenths;
                    ready = have > 0 || !tenths || now >= deadline;
                } else {
                    size_t want = vmin < buf.size() ? vmin : buf.size();
                    if (tenths && have && have != seen)
                        deadline = now + tenths; // the inter-byte timer restarts
                    ready = have >= want || (tenths && have && now >= deadline);
                }
                started = true;
                seen = have;
                if (ready) {
                    uint8_t chunk[kReadChunk];
                    auto plan = m_line.peek(chunk, buf.size() < sizeof(chunk) ? buf.size() : sizeof(chunk));
                    TRY(buf.copy_out(0, chunk, plan.bytes));
                    m_line.consume(plan);
                    restart_receive_locked();
                    return plan.bytes;
                }
            }
            if (nonblocking)
                return Errno::AGAIN;
            TRY(wait_for_input(epoch, deadline));
        }
    }

    void echo(const char* data, size_t size) override { core::console_write(data, size); }

    ksync::Mutex m_lock;
    tty::LineDiscipline m_line TA_GUARDED(m_lock); // tty mode: the input; both: the modes
    tty::PipeInput m_pipe TA_GUARDED(m_lock);      // pipe mode: the input
    bool m_receive_stopped TA_GUARDED(m_lock) = false;
    core::InterruptThread* m_irq = nullptr; // set once at boot, before the program runs
    bool m_pipe_mode = false;               // likewise
    fs::ReadinessWatch* m_watches = nullptr; // the epoll watches: under lx/poll.cc's watch lock
};

// Descriptor 0 in pipe mode: the relayed stdin as a FIFO (not a terminal: TCGETS is NOTTY),
// ending in end of file.
class PipeInputFile final : public fs::OpenFile {
public:
    explicit PipeInputFile(SerialConsole& console) : fs::OpenFile(fs::kOpenReadOnly), m_console(console) {}

    // Its readiness is the console's input: it shares the console's watch list.
    bool notifies_readiness() const override { return m_console.readiness_watches() != nullptr; }
    fs::ReadinessWatch*& readiness_watches() override
    {
        if (fs::ReadinessWatch** shared = m_console.readiness_watches())
            return *shared;
        return OpenFile::readiness_watches();
    }

protected:
    lib::Result<size_t> do_read(fs::IoBuffer& buf) override
    {
        return m_console.read_pipe(buf, flags() & fs::kOpenNonBlock);
    }
    uint32_t do_poll_events() override { return m_console.pipe_poll_events(); }
    lib::Result<long> do_ioctl(unsigned cmd, uint64_t arg) override
    {
        constexpr unsigned kFionread = 0x541b;
        if (cmd != kFionread)
            return Errno::NOTTY;
        TRY(write_app(arg, int32_t(m_console.pipe_available())));
        return 0;
    }
    lib::Result<fs::Attr> do_getattr() override
    {
        fs::Attr a;
        a.ino = 1;
        a.mode = 0010000 /* S_IFIFO */ | 0600;
        a.nlink = 1;
        a.blksize = 4096;
        return a;
    }

private:
    SerialConsole& m_console;
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

// Descriptor 0 in pipe mode (console.input=pipe).
lib::Result<void> open_pipe_input()
{
    auto file = TRY(fs::make_ref<PipeInputFile>(g_console));
    int fd = TRY(g_fds->install(fs::Ref<fs::OpenFile>(file), false));
    return fd == 0 ? lib::Result<void>() : lib::Result<void>(Errno::BADF);
}

bool console_input_is_pipe() { return core::boot_options().console_input == boot::ConsoleInput::pipe; }

lib::Result<void> open_console(unsigned flags, int expected_fd)
{
    fs::PathContext ctx { g_vfs, g_vfs->root(), g_vfs->root(), {} };
    auto file = TRY(fs::open(ctx, "/dev/console", flags));
    int fd = TRY(g_fds->install(file, false));
    return fd == expected_fd ? lib::Result<void>() : lib::Result<void>(Errno::BADF);
}

} // namespace

lib::Result<void> set_resolv_conf(lib::StringView text)
{
    if (!g_vfs)
        return Errno::NOENT;
    fs::PathContext ctx { g_vfs, g_vfs->root(), g_vfs->root(), {} };
    constexpr const char* kPath = "/etc/resolv.conf";
    static char current[1024]; // boot-time only: one thread
    if (auto file = fs::open(ctx, kPath, fs::kOpenReadOnly); !file.is_error()) {
        fs::KernelBuffer in(current, sizeof current);
        auto n = file.value()->read(in);
        if (!n.is_error() && n.value() == text.size() && lib::mem_compare(current, text.data(), text.size()) == 0)
            return {};
    }
    auto out = fs::open(ctx, kPath, fs::kOpenWriteOnly | fs::kOpenCreate | fs::kOpenTruncate, 0644);
    if (out.is_error() && out.error() == Errno::ROFS) {
        // The image's /etc is read-only: a ramfs with a copy of it takes its place.
        fs::ramfs::Config config;
        config.pages = &g_pages;
        config.root_mode = 0755;
        auto etc = TRY(fs::ramfs::RamFs::create(config));
        auto image_etc = TRY(fs::lookup_directory(ctx, "/etc"));
        TRY(copy_tree(*image_etc.vnode, *etc->root(), 0));
        TRY(mount_at("/etc", etc));
        out = fs::open(ctx, kPath, fs::kOpenWriteOnly | fs::kOpenCreate | fs::kOpenTruncate, 0644);
    }
    if (out.is_error())
        return out.error();
    fs::KernelBuffer data(static_cast<const void*>(text.data()), text.size());
    size_t written = TRY(out.value()->write(data));
    return written == text.size() ? lib::Result<void>() : lib::Result<void>(Errno::IO);
}

// /dev/<name>, a block device node for a disk (drivers::publish_block_devices).
lib::Result<void> make_block_node(const char* name, uint64_t rdev)
{
    char path[32];
    lib::format_to(path, sizeof path, "/dev/%s", name);
    fs::PathContext ctx { g_vfs, g_vfs->root(), g_vfs->root(), {} };
    return fs::mknod(ctx, path, fs::kModeBlockDevice | 0660, rdev);
}

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
    if (auto r = drivers::publish_block_devices(*g_vfs, make_block_node); r.is_error())
        log_warn("/dev: the disks have no nodes: %s", lib::errno_name(r.error()));
    g_console.start_input(console_input_is_pipe());
    auto stdin_opened = g_console.pipe_mode() ? open_pipe_input() : open_console(fs::kOpenReadOnly, 0);
    if (stdin_opened.is_error() || open_console(fs::kOpenWriteOnly, 1).is_error() ||
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

lib::Result<void> AppIovecs::copy_in(uint64_t address, size_t count)
{
    if (count > fs::IovecBuffer::kMaxSegments || m_count != 0)
        return lib::Errno::INVAL;
    if (count == 0)
        return {};
    if (count > kInline) {
        m_heap = new (std::nothrow) fs::IoVec[count];
        if (!m_heap)
            return lib::Errno::NOMEM;
    }
    m_count = count;
    TRY(lx::copy_from_app(segments(), address, count * sizeof(fs::IoVec)));
    TRY(fs::IovecBuffer::total_length(segments(), count));
    for (size_t i = 0; i < count; ++i)
        if (!app_range_ok(segments()[i].base, segments()[i].length))
            return lib::Errno::FAULT;
    return {};
}

} // namespace lx
