// Files and directories: the descriptor and path calls over the VFS (kernel/fs). Paths are
// copied in whole (at most PATH_MAX bytes) before anything is resolved; data moves through
// AppBuffer / AppIovecBuffer, so a bad pointer is EFAULT wherever it is met.
#include <core/memory.h>
#include <fs/ops.h>
#include <fs/open_file.h>
#include <fs/types.h>
#include <lib/string.h>
#include <lx/files.h>
#include <lx/flock.h>
#include <lx/syscall.h>
#include <lx/uaccess.h>

namespace lx {
namespace {

using fs::Ref;

struct Path {
    char text[fs::kPathMax];
    size_t length = 0;
    lib::StringView view() const { return { text, length }; }
    bool absolute() const { return length && text[0] == '/'; }
};

// Copies the path at `address`: FAULT, NAMETOOLONG (no NUL within PATH_MAX), or NOENT for an
// empty path unless `allow_empty` (AT_EMPTY_PATH).
Result<void> copy_path(Path& p, uint64_t address, bool allow_empty = false)
{
    p.length = TRY(copy_string_from_app(p.text, address, sizeof(p.text)));
    if (p.length == 0 && !allow_empty)
        return Errno::NOENT;
    return {};
}

Result<Ref<fs::OpenFile>> file(int fd) { return fd_table().get(fd); }

// Runs fn(OpenFile&) on descriptor fd's open file (EBADF if none).
template<typename F>
int64_t with_file(int fd, F fn)
{
    auto f = file(fd);
    if (f.is_error())
        return err(f.error());
    return fn(*f.value());
}

// struct stat of x86-64 Linux.
struct Stat {
    uint64_t dev, ino, nlink;
    uint32_t mode, uid, gid, pad0;
    uint64_t rdev;
    int64_t size, blksize, blocks;
    int64_t atime, atime_nsec, mtime, mtime_nsec, ctime, ctime_nsec;
    int64_t unused[3];
};
static_assert(sizeof(Stat) == 144);

Stat to_stat(const fs::Attr& a)
{
    Stat s {};
    s.dev = a.dev;
    s.ino = a.ino;
    s.nlink = a.nlink;
    s.mode = a.mode;
    s.uid = a.uid;
    s.gid = a.gid;
    s.rdev = a.rdev;
    s.size = int64_t(a.size);
    s.blksize = a.blksize;
    s.blocks = int64_t(a.blocks);
    s.atime = a.atime.sec;
    s.atime_nsec = a.atime.nsec;
    s.mtime = a.mtime.sec;
    s.mtime_nsec = a.mtime.nsec;
    s.ctime = a.ctime.sec;
    s.ctime_nsec = a.ctime.nsec;
    return s;
}

// The file an *at() call names: dirfd + path, or with AT_EMPTY_PATH and an empty path the
// descriptor itself.
Result<fs::Attr> stat_at(int dirfd, uint64_t path_address, unsigned flags)
{
    constexpr unsigned kKnown = fs::kAtSymlinkNoFollow | fs::kAtEmptyPath | 0x800 /* AT_NO_AUTOMOUNT */ |
                                0x6000 /* AT_STATX_SYNC_TYPE */;
    if (flags & ~kKnown)
        return Errno::INVAL;
    Path p;
    TRY(copy_path(p, path_address, flags & fs::kAtEmptyPath));
    if (p.length == 0) {
        if (dirfd == kAtFdcwd) {
            fs::PathContext ctx = TRY(path_context(kAtFdcwd));
            return fs::stat(ctx, ".", 0);
        }
        return TRY(file(dirfd))->getattr();
    }
    fs::PathContext ctx = TRY(path_context(dirfd, p.absolute()));
    return fs::stat(ctx, p.view(), flags & fs::kAtSymlinkNoFollow);
}

int64_t do_open(int dirfd, uint64_t path_address, unsigned flags, uint32_t mode)
{
    Path p;
    if (auto r = copy_path(p, path_address); r.is_error())
        return err(r.error());
    auto ctx = path_context(dirfd, p.absolute());
    if (ctx.is_error())
        return err(ctx.error());
    auto f = fs::open(ctx.value(), p.view(), flags, mode & ~umask() & 07777);
    if (f.is_error())
        return err(f.error());
    return ret(fd_table().install(f.release_value(), flags & fs::kOpenCloseOnExec));
}

// Linux's limits on one read or write (its access_ok and MAX_RW_COUNT): the buffer must lie
// in the application half (else FAULT, even for a file that would not touch it, such as
// /dev/null), and at most 2 GiB - 4 KiB move, so that the count returned is never mistaken
// for an error (a count of 2^64 - 4096 written to /dev/null once came back as -4096).
constexpr size_t kMaxRwCount = 0x7ffff000;

Result<size_t> rw_count(uint64_t buf, uint64_t count)
{
    if (!app_range_ok(buf, count))
        return Errno::FAULT;
    return count < kMaxRwCount ? count : kMaxRwCount;
}

Result<size_t> do_read(int fd, uint64_t buf, size_t count)
{
    Ref<fs::OpenFile> f = TRY(file(fd));
    AppBuffer b(buf, TRY(rw_count(buf, count)));
    return f->read(b);
}

Result<size_t> do_write(int fd, uint64_t buf, size_t count)
{
    Ref<fs::OpenFile> f = TRY(file(fd));
    AppBuffer b(buf, TRY(rw_count(buf, count)));
    return f->write(b);
}

enum class VecOp { Read, Write, PRead, PWrite };

int64_t do_vector(VecOp op, int fd, uint64_t iov_address, int count, int64_t offset)
{
    auto f = file(fd);
    if (f.is_error())
        return err(f.error());
    if (count < 0 || size_t(count) > fs::IovecBuffer::kMaxSegments)
        return err(Errno::INVAL); // beyond IOV_MAX
    AppIovecs iovecs;
    if (auto copied = iovecs.copy_in(iov_address, size_t(count)); copied.is_error())
        return err(copied.error());
    AppIovecBuffer b = iovecs.buffer();
    switch (op) {
    case VecOp::Read:
        return ret(f.value()->read(b));
    case VecOp::Write:
        return ret(f.value()->write(b));
    case VecOp::PRead:
        return ret(f.value()->pread(offset, b));
    case VecOp::PWrite:
        return ret(f.value()->pwrite(offset, b));
    }
    return err(Errno::INVAL);
}

} // namespace

// ---- descriptors -----------------------------------------------------------------------------

int64_t sys_read(const Args& a) { return ret(do_read(a.i(0), a.u(1), a.u(2))); }
int64_t sys_write(const Args& a) { return ret(do_write(a.i(0), a.u(1), a.u(2))); }
int64_t sys_readv(const Args& a) { return do_vector(VecOp::Read, a.i(0), a.u(1), a.i(2), 0); }
int64_t sys_writev(const Args& a) { return do_vector(VecOp::Write, a.i(0), a.u(1), a.i(2), 0); }
int64_t sys_preadv(const Args& a) { return do_vector(VecOp::PRead, a.i(0), a.u(1), a.i(2), a.l(3)); }
int64_t sys_pwritev(const Args& a) { return do_vector(VecOp::PWrite, a.i(0), a.u(1), a.i(2), a.l(3)); }

int64_t sys_pread64(const Args& a)
{
    return with_file(a.i(0), [&](fs::OpenFile& f) {
        auto count = rw_count(a.u(1), a.u(2));
        if (count.is_error())
            return err(count.error());
        AppBuffer b(a.u(1), count.value());
        return ret(f.pread(a.l(3), b));
    });
}

int64_t sys_pwrite64(const Args& a)
{
    return with_file(a.i(0), [&](fs::OpenFile& f) {
        auto count = rw_count(a.u(1), a.u(2));
        if (count.is_error())
            return err(count.error());
        AppBuffer b(a.u(1), count.value());
        return ret(f.pwrite(a.l(3), b));
    });
}

int64_t sys_lseek(const Args& a)
{
    return with_file(a.i(0), [&](fs::OpenFile& f) { return ret(f.seek(a.l(1), a.i(2))); });
}

int64_t sys_open(const Args& a) { return do_open(kAtFdcwd, a.u(0), unsigned(a.u(1)), uint32_t(a.u(2))); }
int64_t sys_openat(const Args& a) { return do_open(a.i(0), a.u(1), unsigned(a.u(2)), uint32_t(a.u(3))); }
int64_t sys_creat(const Args& a)
{
    return do_open(kAtFdcwd, a.u(0), fs::kOpenCreate | fs::kOpenWriteOnly | fs::kOpenTruncate, uint32_t(a.u(1)));
}

// close, dup2 and dup3 may drop the last descriptor of a description: its flock goes then.
int64_t sys_close(const Args& a)
{
    auto f = file(a.i(0));
    auto r = fd_table().close(a.i(0));
    if (!r.is_error() && !f.is_error())
        release_file_locks(f.release_value());
    return ret(r);
}

int64_t sys_dup(const Args& a) { return ret(fd_table().dup(a.i(0))); }

namespace {
template<typename F>
int64_t replacing(int new_fd, F dup)
{
    auto displaced = file(new_fd);
    auto r = dup();
    if (!r.is_error() && !displaced.is_error())
        release_file_locks(displaced.release_value());
    return ret(r);
}
} // namespace

int64_t sys_dup2(const Args& a)
{
    return replacing(a.i(1), [&] { return fd_table().dup2(a.i(0), a.i(1)); });
}
int64_t sys_dup3(const Args& a)
{
    return replacing(a.i(1), [&] { return fd_table().dup3(a.i(0), a.i(1), unsigned(a.u(2))); });
}

int64_t sys_flock(const Args& a)
{
    auto f = file(a.i(0));
    if (f.is_error())
        return err(f.error());
    return ret(flock_file(f.value(), a.i(1)));
}

int64_t sys_fcntl(const Args& a)
{
    constexpr int kDupfd = 0, kGetfd = 1, kSetfd = 2, kGetfl = 3, kSetfl = 4, kGetlk = 5, kSetlk = 6, kSetlkw = 7;
    constexpr int kOfdGetlk = 36, kOfdSetlk = 37, kOfdSetlkw = 38;
    constexpr int kDupfdCloexec = 1030, kGetpipeSz = 1032;
    int fd = a.i(0);
    switch (a.i(1)) {
    case kDupfd:
        return ret(fd_table().dup_at_least(fd, a.i(2), false));
    case kDupfdCloexec:
        return ret(fd_table().dup_at_least(fd, a.i(2), true));
    case kGetfd:
        return ret(fd_table().fd_flags(fd));
    case kSetfd:
        return ret(fd_table().set_fd_flags(fd, unsigned(a.u(2)) & fs::kFdCloseOnExec));
    case kGetfl: {
        auto f = file(fd);
        return f.is_error() ? err(f.error()) : int64_t(f.value()->flags());
    }
    case kSetfl: {
        auto f = file(fd);
        if (f.is_error())
            return err(f.error());
        f.value()->set_status_flags(unsigned(a.u(2)));
        return 0;
    }
    case kGetlk:
    case kSetlk:
    case kSetlkw:
    case kOfdGetlk:
    case kOfdSetlk:
    case kOfdSetlkw: {
        auto f = file(fd);
        return f.is_error() ? err(f.error()) : fcntl_record_lock(*f.value(), a.i(1), a.u(2));
    }
    case kGetpipeSz:
        return err(Errno::BADF); // no pipes yet
    default:
        return err(Errno::INVAL);
    }
}

int64_t sys_ioctl(const Args& a)
{
    auto f = file(a.i(0));
    if (f.is_error())
        return err(f.error());
    constexpr unsigned kFionbio = 0x5421, kFioclex = 0x5451, kFionclex = 0x5450;
    unsigned cmd = unsigned(a.u(1));
    switch (cmd) {
    case kFionbio: {
        auto on = read_app<int32_t>(a.u(2));
        if (on.is_error())
            return err(on.error());
        unsigned flags = f.value()->flags();
        f.value()->set_status_flags(on.value() ? flags | fs::kOpenNonBlock : flags & ~fs::kOpenNonBlock);
        return 0;
    }
    case kFioclex:
        return ret(fd_table().set_fd_flags(a.i(0), fs::kFdCloseOnExec));
    case kFionclex:
        return ret(fd_table().set_fd_flags(a.i(0), 0));
    default:
        return ret(f.value()->ioctl(cmd, a.u(2)));
    }
}

int64_t sys_fsync(const Args& a)
{
    auto f = file(a.i(0));
    return f.is_error() ? err(f.error()) : ret(f.value()->fsync());
}
int64_t sys_fdatasync(const Args& a) { return sys_fsync(a); }

int64_t sys_ftruncate(const Args& a)
{
    if (a.l(1) < 0)
        return err(Errno::INVAL);
    auto f = file(a.i(0));
    return f.is_error() ? err(f.error()) : ret(f.value()->truncate(a.u(1)));
}

int64_t sys_getdents64(const Args& a)
{
    return with_file(a.i(0), [&](fs::OpenFile& f) {
        AppBuffer b(a.u(1), a.u(2));
        return ret(f.getdents(b));
    });
}

// ---- attributes ------------------------------------------------------------------------------

int64_t sys_fstat(const Args& a)
{
    return with_file(a.i(0), [&](fs::OpenFile& f) {
        auto attr = f.getattr();
        return attr.is_error() ? err(attr.error()) : ret(write_app(a.u(1), to_stat(attr.value())));
    });
}

int64_t sys_newfstatat(const Args& a)
{
    auto attr = stat_at(a.i(0), a.u(1), unsigned(a.u(3)));
    return attr.is_error() ? err(attr.error()) : ret(write_app(a.u(2), to_stat(attr.value())));
}

int64_t sys_stat(const Args& a)
{
    auto attr = stat_at(kAtFdcwd, a.u(0), 0);
    return attr.is_error() ? err(attr.error()) : ret(write_app(a.u(1), to_stat(attr.value())));
}

int64_t sys_lstat(const Args& a)
{
    auto attr = stat_at(kAtFdcwd, a.u(0), fs::kAtSymlinkNoFollow);
    return attr.is_error() ? err(attr.error()) : ret(write_app(a.u(1), to_stat(attr.value())));
}

int64_t sys_statx(const Args& a)
{
    struct StatxTime {
        int64_t sec;
        uint32_t nsec;
        int32_t pad;
    };
    struct Statx {
        uint32_t mask, blksize;
        uint64_t attributes;
        uint32_t nlink, uid, gid;
        uint16_t mode, pad1;
        uint64_t ino, size, blocks, attributes_mask;
        StatxTime atime, btime, ctime, mtime;
        uint32_t rdev_major, rdev_minor, dev_major, dev_minor;
        uint64_t spare[14];
    };
    static_assert(sizeof(Statx) == 256);
    constexpr uint32_t kBasicStats = 0x7ff; // type, mode, nlink, uid, gid, times, ino, size, blocks
    auto attr = stat_at(a.i(0), a.u(1), unsigned(a.u(2)));
    if (attr.is_error())
        return err(attr.error());
    const fs::Attr& s = attr.value();
    Statx x {};
    x.mask = kBasicStats;
    x.blksize = s.blksize;
    x.nlink = s.nlink;
    x.uid = s.uid;
    x.gid = s.gid;
    x.mode = uint16_t(s.mode);
    x.ino = s.ino;
    x.size = s.size;
    x.blocks = s.blocks;
    x.atime = { s.atime.sec, uint32_t(s.atime.nsec), 0 };
    x.ctime = { s.ctime.sec, uint32_t(s.ctime.nsec), 0 };
    x.mtime = { s.mtime.sec, uint32_t(s.mtime.nsec), 0 };
    x.rdev_major = fs::dev_major(s.rdev);
    x.rdev_minor = fs::dev_minor(s.rdev);
    x.dev_major = fs::dev_major(s.dev);
    x.dev_minor = fs::dev_minor(s.dev);
    return ret(write_app(a.u(4), x));
}

int64_t sys_faccessat2(const Args& a)
{
    constexpr unsigned kXok = 1, kWok = 2, kRok = 4;
    constexpr unsigned kAtEaccess = 0x200;
    if (a.u(2) & ~uint64_t(kXok | kWok | kRok))
        return err(Errno::INVAL);
    unsigned flags = unsigned(a.u(3));
    auto attr = stat_at(a.i(0), a.u(1), flags & ~kAtEaccess);
    if (attr.is_error())
        return err(attr.error());
    // One user, root: read and write are always granted (a read-only file system refuses
    // the write itself); execute needs an execute bit, or a directory.
    if ((a.u(2) & kXok) && (attr.value().mode & fs::kModeTypeMask) != fs::kModeDirectory &&
        !(attr.value().mode & 0111))
        return err(Errno::ACCES);
    return 0;
}
int64_t sys_faccessat(const Args& a) { return sys_faccessat2({ { a.u(0), a.u(1), a.u(2), 0, 0, 0 }, a.frame }); }
int64_t sys_access(const Args& a)
{
    return sys_faccessat2({ { uint64_t(int64_t(kAtFdcwd)), a.u(0), a.u(1), 0, 0, 0 }, a.frame });
}

// ---- names -------------------------------------------------------------------------------

namespace {

// Runs fn(ctx, path) for the (dirfd, path) pair of an *at() call.
template<typename F>
int64_t with_path(int dirfd, uint64_t address, F fn)
{
    Path p;
    if (auto r = copy_path(p, address); r.is_error())
        return err(r.error());
    auto ctx = path_context(dirfd, p.absolute());
    if (ctx.is_error())
        return err(ctx.error());
    return fn(ctx.value(), p.view());
}

// Runs fn(old_ctx, old_path, new_ctx, new_path) for the two (dirfd, path) pairs of
// renameat/linkat.
template<typename F>
int64_t with_two_paths(int olddir, uint64_t oldpath, int newdir, uint64_t newpath, F fn)
{
    Path from, to;
    if (auto r = copy_path(from, oldpath); r.is_error())
        return err(r.error());
    if (auto r = copy_path(to, newpath); r.is_error())
        return err(r.error());
    auto from_ctx = path_context(olddir, from.absolute());
    if (from_ctx.is_error())
        return err(from_ctx.error());
    auto to_ctx = path_context(newdir, to.absolute());
    if (to_ctx.is_error())
        return err(to_ctx.error());
    return fn(from_ctx.value(), from.view(), to_ctx.value(), to.view());
}

int64_t do_rename(int olddir, uint64_t oldpath, int newdir, uint64_t newpath, unsigned flags)
{
    return with_two_paths(olddir, oldpath, newdir, newpath,
                          [&](const fs::PathContext& a, lib::StringView p, const fs::PathContext& b, lib::StringView q) {
                              return ret(fs::rename(a, p, b, q, flags));
                          });
}

int64_t do_link(int olddir, uint64_t oldpath, int newdir, uint64_t newpath, unsigned flags)
{
    return with_two_paths(olddir, oldpath, newdir, newpath,
                          [&](const fs::PathContext& a, lib::StringView p, const fs::PathContext& b, lib::StringView q) {
                              return ret(fs::link(a, p, b, q, flags));
                          });
}

int64_t do_symlink(uint64_t target_address, int dirfd, uint64_t path_address)
{
    Path target;
    if (auto r = copy_path(target, target_address); r.is_error())
        return err(r.error());
    return with_path(dirfd, path_address, [&](const fs::PathContext& ctx, lib::StringView path) {
        return ret(fs::symlink(ctx, target.view(), path));
    });
}

int64_t do_readlink(int dirfd, uint64_t path_address, uint64_t buf, uint64_t size)
{
    if (int64_t(size) <= 0)
        return err(Errno::INVAL);
    return with_path(dirfd, path_address, [&](const fs::PathContext& ctx, lib::StringView path) {
        AppBuffer b(buf, size);
        return ret(fs::readlink(ctx, path, b));
    });
}

int64_t do_mkdir(int dirfd, uint64_t path_address, uint32_t mode)
{
    return with_path(dirfd, path_address, [&](const fs::PathContext& ctx, lib::StringView path) {
        return ret(fs::mkdir(ctx, path, mode & ~umask() & 07777));
    });
}

int64_t do_mknod(int dirfd, uint64_t path_address, uint32_t mode, uint64_t dev)
{
    return with_path(dirfd, path_address, [&](const fs::PathContext& ctx, lib::StringView path) {
        uint32_t type = mode & fs::kModeTypeMask;
        return ret(fs::mknod(ctx, path, type | (mode & ~umask() & 07777), dev));
    });
}

int64_t do_set_attr(int dirfd, uint64_t path_address, bool follow, const fs::SetAttr& req)
{
    return with_path(dirfd, path_address, [&](const fs::PathContext& ctx, lib::StringView path) {
        return ret(fs::set_attr(ctx, path, follow, req));
    });
}

} // namespace

int64_t sys_mkdir(const Args& a) { return do_mkdir(kAtFdcwd, a.u(0), uint32_t(a.u(1))); }
int64_t sys_mkdirat(const Args& a) { return do_mkdir(a.i(0), a.u(1), uint32_t(a.u(2))); }
int64_t sys_mknod(const Args& a) { return do_mknod(kAtFdcwd, a.u(0), uint32_t(a.u(1)), a.u(2)); }
int64_t sys_mknodat(const Args& a) { return do_mknod(a.i(0), a.u(1), uint32_t(a.u(2)), a.u(3)); }

int64_t sys_unlink(const Args& a)
{
    return with_path(kAtFdcwd, a.u(0), [](const fs::PathContext& ctx, lib::StringView p) { return ret(fs::unlink(ctx, p, 0)); });
}
int64_t sys_rmdir(const Args& a)
{
    return with_path(kAtFdcwd, a.u(0), [](const fs::PathContext& ctx, lib::StringView p) {
        return ret(fs::unlink(ctx, p, fs::kAtRemoveDir));
    });
}
int64_t sys_unlinkat(const Args& a)
{
    unsigned flags = unsigned(a.u(2));
    if (flags & ~fs::kAtRemoveDir)
        return err(Errno::INVAL);
    return with_path(a.i(0), a.u(1), [&](const fs::PathContext& ctx, lib::StringView p) { return ret(fs::unlink(ctx, p, flags)); });
}

int64_t sys_rename(const Args& a) { return do_rename(kAtFdcwd, a.u(0), kAtFdcwd, a.u(1), 0); }
int64_t sys_renameat(const Args& a) { return do_rename(a.i(0), a.u(1), a.i(2), a.u(3), 0); }
int64_t sys_renameat2(const Args& a) { return do_rename(a.i(0), a.u(1), a.i(2), a.u(3), unsigned(a.u(4))); }
int64_t sys_link(const Args& a) { return do_link(kAtFdcwd, a.u(0), kAtFdcwd, a.u(1), 0); }
int64_t sys_linkat(const Args& a) { return do_link(a.i(0), a.u(1), a.i(2), a.u(3), unsigned(a.u(4))); }
int64_t sys_symlink(const Args& a) { return do_symlink(a.u(0), kAtFdcwd, a.u(1)); }
int64_t sys_symlinkat(const Args& a) { return do_symlink(a.u(0), a.i(1), a.u(2)); }
int64_t sys_readlink(const Args& a) { return do_readlink(kAtFdcwd, a.u(0), a.u(1), a.u(2)); }
int64_t sys_readlinkat(const Args& a) { return do_readlink(a.i(0), a.u(1), a.u(2), a.u(3)); }

int64_t sys_truncate(const Args& a)
{
    if (a.l(1) < 0)
        return err(Errno::INVAL);
    fs::SetAttr req;
    req.mask = fs::SetAttr::kSize;
    req.size = a.u(1);
    return do_set_attr(kAtFdcwd, a.u(0), true, req);
}

int64_t sys_chmod(const Args& a)
{
    fs::SetAttr req;
    req.mask = fs::SetAttr::kMode;
    req.mode = uint32_t(a.u(1)) & 07777;
    return do_set_attr(kAtFdcwd, a.u(0), true, req);
}

int64_t sys_fchmodat(const Args& a)
{
    fs::SetAttr req;
    req.mask = fs::SetAttr::kMode;
    req.mode = uint32_t(a.u(2)) & 07777;
    return do_set_attr(a.i(0), a.u(1), true, req);
}

int64_t sys_fchmod(const Args& a)
{
    auto f = file(a.i(0));
    if (f.is_error())
        return err(f.error());
    const fs::Location* loc = f.value()->location();
    if (!loc)
        return err(Errno::INVAL);
    fs::SetAttr req;
    req.mask = fs::SetAttr::kMode;
    req.mode = uint32_t(a.u(1)) & 07777;
    if (loc->mount->is_read_only())
        return err(Errno::ROFS);
    return ret(loc->vnode->setattr(req));
}

namespace {
int64_t do_chown(int dirfd, uint64_t path, uint32_t uid, uint32_t gid, bool follow)
{
    fs::SetAttr req;
    if (uid != ~uint32_t(0)) {
        req.mask |= fs::SetAttr::kUid;
        req.uid = uid;
    }
    if (gid != ~uint32_t(0)) {
        req.mask |= fs::SetAttr::kGid;
        req.gid = gid;
    }
    return do_set_attr(dirfd, path, follow, req);
}
} // namespace

int64_t sys_chown(const Args& a) { return do_chown(kAtFdcwd, a.u(0), uint32_t(a.u(1)), uint32_t(a.u(2)), true); }
int64_t sys_lchown(const Args& a) { return do_chown(kAtFdcwd, a.u(0), uint32_t(a.u(1)), uint32_t(a.u(2)), false); }
int64_t sys_fchownat(const Args& a)
{
    return do_chown(a.i(0), a.u(1), uint32_t(a.u(2)), uint32_t(a.u(3)), !(a.u(4) & fs::kAtSymlinkNoFollow));
}
int64_t sys_fchown(const Args& a)
{
    auto f = file(a.i(0));
    return f.is_error() ? err(f.error()) : 0; // one user: ownership changes are accepted and moot
}

int64_t sys_utimensat(const Args& a)
{
    constexpr int64_t kUtimeNow = (1l << 30) - 1, kUtimeOmit = (1l << 30) - 2;
    struct Ts {
        int64_t sec, nsec;
    } times[2] = { { 0, kUtimeNow }, { 0, kUtimeNow } };
    if (a.u(2))
        if (auto r = copy_from_app(times, a.u(2), sizeof(times)); r.is_error())
            return err(r.error());
    fs::SetAttr req;
    for (int i = 0; i < 2; ++i) {
        if (times[i].nsec == kUtimeOmit)
            continue;
        if (times[i].nsec == kUtimeNow) {
            req.mask |= i == 0 ? fs::SetAttr::kAtimeNow : fs::SetAttr::kMtimeNow;
            continue;
        }
        if (times[i].nsec < 0 || times[i].nsec >= 1000000000)
            return err(Errno::INVAL);
        req.mask |= i == 0 ? fs::SetAttr::kAtime : fs::SetAttr::kMtime;
        (i == 0 ? req.atime : req.mtime) = { times[i].sec, times[i].nsec };
    }
    if (!a.u(1)) { // futimens: the descriptor itself
        auto f = file(a.i(0));
        if (f.is_error())
            return err(f.error());
        const fs::Location* loc = f.value()->location();
        if (!loc)
            return err(Errno::INVAL);
        if (loc->mount->is_read_only())
            return err(Errno::ROFS);
        return ret(loc->vnode->setattr(req));
    }
    return do_set_attr(a.i(0), a.u(1), !(a.u(3) & fs::kAtSymlinkNoFollow), req);
}

// ---- the working directory ----------------------------------------------------------------

int64_t sys_chdir(const Args& a)
{
    return with_path(kAtFdcwd, a.u(0), [](const fs::PathContext& ctx, lib::StringView p) {
        auto dir = fs::lookup_directory(ctx, p);
        return dir.is_error() ? err(dir.error()) : ret(set_cwd(dir.value()));
    });
}

int64_t sys_fchdir(const Args& a)
{
    auto f = file(a.i(0));
    if (f.is_error())
        return err(f.error());
    const fs::Location* loc = f.value()->location();
    if (!loc)
        return err(Errno::NOTDIR);
    return ret(set_cwd(*loc));
}

int64_t sys_getcwd(const Args& a)
{
    auto ctx = path_context(kAtFdcwd);
    if (ctx.is_error())
        return err(ctx.error());
    char buf[fs::kPathMax];
    auto n = fs::get_path(ctx.value(), ctx.value().cwd, buf, sizeof(buf));
    if (n.is_error())
        return err(n.error());
    size_t len = n.value() + 1; // with the NUL
    if (a.u(1) < len)
        return err(Errno::RANGE);
    if (auto r = copy_to_app(a.u(0), buf, len); r.is_error())
        return err(r.error());
    return int64_t(len);
}

int64_t sys_umask(const Args& a) { return set_umask(uint32_t(a.u(0))); }

} // namespace lx

// ---- file-system information and extended attributes -------------------------------------

namespace lx {
namespace {

struct Statfs {
    uint64_t type, bsize, blocks, bfree, bavail, files, ffree;
    int32_t fsid[2];
    uint64_t namelen, frsize, flags, spare[4];
};
static_assert(sizeof(Statfs) == 120);

int64_t fill_statfs(const fs::Location& loc, uint64_t out)
{
    constexpr uint64_t kRamfsMagic = 0x858458f6, kImageMagic = 0x4e494d42; // "NIMB"
    constexpr uint64_t kStRdonly = 1;
    Statfs st {};
    const char* name = loc.mount->fs().name();
    bool image = lib::str_compare(name, "imagefs") == 0;
    st.type = image ? kImageMagic : kRamfsMagic;
    st.bsize = st.frsize = 4096;
    if (image) {
        auto attr = loc.mount->root()->getattr();
        st.blocks = attr.is_error() ? 0 : attr.value().blocks / 8;
    } else {
        st.blocks = core::total_memory() / 4096;
        st.bfree = st.bavail = core::phys_allocator().free_pages();
    }
    st.files = 1 << 20;
    st.ffree = image ? 0 : st.files;
    uint64_t dev = loc.mount->fs().dev();
    st.fsid[0] = int32_t(dev);
    st.fsid[1] = int32_t(dev >> 32);
    st.namelen = fs::kNameMax;
    st.flags = loc.mount->is_read_only() ? kStRdonly : 0;
    return ret(write_app(out, st));
}

} // namespace

int64_t sys_statfs(const Args& a)
{
    return with_path(kAtFdcwd, a.u(0), [&](const fs::PathContext& ctx, lib::StringView p) {
        auto f = fs::open(ctx, p, fs::kOpenPath);
        if (f.is_error())
            return err(f.error());
        const fs::Location* loc = f.value()->location();
        return loc ? fill_statfs(*loc, a.u(1)) : err(Errno::NOSYS);
    });
}

int64_t sys_fstatfs(const Args& a)
{
    return with_file(a.i(0), [&](fs::OpenFile& f) {
        const fs::Location* loc = f.location();
        return loc ? fill_statfs(*loc, a.u(1)) : err(Errno::NOSYS);
    });
}

// No file system here keeps extended attributes: ENOTSUP (EOPNOTSUPP), which tools such as
// ls and cp take as "none", as on a Linux file system mounted without xattr support.
int64_t sys_getxattr(const Args&) { return err(Errno::NOTSUP); }
int64_t sys_lgetxattr(const Args&) { return err(Errno::NOTSUP); }
int64_t sys_fgetxattr(const Args&) { return err(Errno::NOTSUP); }
int64_t sys_setxattr(const Args&) { return err(Errno::NOTSUP); }
int64_t sys_lsetxattr(const Args&) { return err(Errno::NOTSUP); }
int64_t sys_fsetxattr(const Args&) { return err(Errno::NOTSUP); }
int64_t sys_listxattr(const Args&) { return err(Errno::NOTSUP); }
int64_t sys_llistxattr(const Args&) { return err(Errno::NOTSUP); }
int64_t sys_flistxattr(const Args&) { return err(Errno::NOTSUP); }
int64_t sys_removexattr(const Args&) { return err(Errno::NOTSUP); }
int64_t sys_lremovexattr(const Args&) { return err(Errno::NOTSUP); }
int64_t sys_fremovexattr(const Args&) { return err(Errno::NOTSUP); }

} // namespace lx
