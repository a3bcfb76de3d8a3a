// read/write and friends. TODO(#4): these move onto the VFS's file descriptions (kernel/fs)
// once it is in; until then descriptors 0, 1 and 2 are the console (a terminal on the
// serial port) and everything else is EBADF.
#include <core/console.h>
#include <lx/syscall.h>
#include <lx/uaccess.h>

namespace lx {
namespace {

constexpr uint64_t kTcgets = 0x5401;
constexpr uint64_t kTiocgwinsz = 0x5413;
constexpr uint64_t kTiocgpgrp = 0x540f;
constexpr int kIovMax = 1024;

struct Iovec {
    uint64_t base;
    uint64_t len;
};

bool is_console(int fd) { return fd >= 0 && fd <= 2; }

int64_t console_write_from_app(uint64_t buf, uint64_t size)
{
    char chunk[256];
    uint64_t done = 0;
    while (done < size) {
        size_t n = size - done < sizeof(chunk) ? size - done : sizeof(chunk);
        if (auto r = copy_from_app(chunk, buf + done, n); r.is_error())
            return done ? int64_t(done) : err(r.error());
        core::console_write(chunk, n);
        done += n;
    }
    return int64_t(done);
}

} // namespace

int64_t sys_write(const Args& a)
{
    if (!is_console(a.i(0)))
        return err(Errno::BADF);
    if (a.i(0) == 0)
        return err(Errno::BADF); // stdin is open for reading only
    if (a.u(2) > 0x7ffff000)
        return err(Errno::INVAL);
    return console_write_from_app(a.u(1), a.u(2));
}

int64_t sys_read(const Args& a)
{
    if (!is_console(a.i(0)))
        return err(Errno::BADF);
    if (!app_range_ok(a.u(1), a.u(2)))
        return err(Errno::FAULT);
    return 0; // TODO(#4): console input from the serial port; end of file for now
}

int64_t sys_writev(const Args& a)
{
    if (!is_console(a.i(0)) || a.i(0) == 0)
        return err(Errno::BADF);
    int count = a.i(2);
    if (count < 0 || count > kIovMax)
        return err(Errno::INVAL);
    int64_t total = 0;
    for (int i = 0; i < count; ++i) {
        auto iov = read_app<Iovec>(a.u(1) + uint64_t(i) * sizeof(Iovec));
        if (iov.is_error())
            return total ? total : err(iov.error());
        if (iov.value().len == 0)
            continue;
        int64_t n = console_write_from_app(iov.value().base, iov.value().len);
        if (n < 0)
            return total ? total : n;
        total += n;
    }
    return total;
}

int64_t sys_readv(const Args& a)
{
    if (!is_console(a.i(0)))
        return err(Errno::BADF);
    if (a.i(2) < 0 || a.i(2) > kIovMax)
        return err(Errno::INVAL);
    return 0;
}

int64_t sys_ioctl(const Args& a)
{
    if (!is_console(a.i(0)))
        return err(Errno::BADF);
    switch (a.u(1)) {
    case kTcgets: {
        // A terminal in the state a fresh Linux console has: canonical input with echo,
        // output post-processing (ONLCR), 38400 baud, 8 bits.
        struct Termios {
            uint32_t iflag, oflag, cflag, lflag;
            uint8_t line;
            uint8_t cc[19];
        } t {};
        static_assert(sizeof(Termios) == 36);
        t.iflag = 0x0500;        // ICRNL | IXON
        t.oflag = 0x0005;        // OPOST | ONLCR
        t.cflag = 0x00bf;        // B38400 | CS8 | CREAD
        t.lflag = 0x8a3b;        // ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN
        const uint8_t cc[] = { 3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22, 0 };
        for (size_t i = 0; i < sizeof(cc); ++i)
            t.cc[i] = cc[i];
        return ret(write_app(a.u(2), t));
    }
    case kTiocgwinsz: {
        struct Winsize {
            uint16_t rows, cols, xpixel, ypixel;
        } w { 24, 80, 0, 0 };
        return ret(write_app(a.u(2), w));
    }
    case kTiocgpgrp:
        return ret(write_app<int32_t>(a.u(2), 1));
    default:
        return err(Errno::NOTTY);
    }
}

} // namespace lx
