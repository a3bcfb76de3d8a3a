// The fs vocabulary shared by the VFS, the filesystems and the syscall layer: Linux's numeric
// constants (open flags, mode bits, dirent types, seek and poll values, limits), timestamps,
// vnode types and the attribute records behind stat(2) and the set-attribute calls.
//
// Constants carry Linux's x86-64 values so the syscall layer passes them through unchanged;
// they are named kOpen*/kMode*/... rather than O_*/S_* because the host's C headers define
// those names as macros (the unit tests compare the two sets).
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace fs {

// Limits [man 7 path_resolution, limits.h]: a component (NAME_MAX), a whole path including
// its terminating NUL (PATH_MAX: so at most 4095 characters), and symlinks followed per walk.
inline constexpr size_t kNameMax = 255;
inline constexpr size_t kPathMax = 4096;
inline constexpr unsigned kSymlinkMax = 40;

// open(2) flags, x86-64 values [man 2 open].
inline constexpr unsigned kOpenReadOnly = 00;
inline constexpr unsigned kOpenWriteOnly = 01;
inline constexpr unsigned kOpenReadWrite = 02;
inline constexpr unsigned kOpenAccessMode = 03;
inline constexpr unsigned kOpenCreate = 0100;
inline constexpr unsigned kOpenExclusive = 0200;
inline constexpr unsigned kOpenNoCtty = 0400;
inline constexpr unsigned kOpenTruncate = 01000;
inline constexpr unsigned kOpenAppend = 02000;
inline constexpr unsigned kOpenNonBlock = 04000;
inline constexpr unsigned kOpenDataSync = 010000;
inline constexpr unsigned kOpenAsync = 020000;
inline constexpr unsigned kOpenDirect = 040000;
inline constexpr unsigned kOpenLargeFile = 0100000;
inline constexpr unsigned kOpenDirectory = 0200000;
inline constexpr unsigned kOpenNoFollow = 0400000;
inline constexpr unsigned kOpenNoAtime = 01000000;
inline constexpr unsigned kOpenCloseOnExec = 02000000;
inline constexpr unsigned kOpenSync = 04010000;
inline constexpr unsigned kOpenPath = 010000000;
inline constexpr unsigned kOpenTmpFile = 020200000;
// The status flags fcntl(F_SETFL) may change [man 2 fcntl]; the rest are fixed at open.
inline constexpr unsigned kOpenSettableFlags = kOpenAppend | kOpenNonBlock | kOpenAsync | kOpenDirect | kOpenNoAtime;

// File descriptor flags (F_GETFD/F_SETFD).
inline constexpr unsigned kFdCloseOnExec = 1;

// *at(2) flags [man 2 unlinkat, linkat, fstatat].
inline constexpr unsigned kAtSymlinkNoFollow = 0x100;
inline constexpr unsigned kAtRemoveDir = 0x200;
inline constexpr unsigned kAtSymlinkFollow = 0x400;
inline constexpr unsigned kAtEmptyPath = 0x1000;

// renameat2(2) flags.
inline constexpr unsigned kRenameNoReplace = 1;
inline constexpr unsigned kRenameExchange = 2;
inline constexpr unsigned kRenameWhiteout = 4;

// st_mode: file type and permission bits [man 7 inode].
inline constexpr uint32_t kModeTypeMask = 0170000;
inline constexpr uint32_t kModeSocket = 0140000;
inline constexpr uint32_t kModeSymlink = 0120000;
inline constexpr uint32_t kModeRegular = 0100000;
inline constexpr uint32_t kModeBlockDevice = 0060000;
inline constexpr uint32_t kModeDirectory = 0040000;
inline constexpr uint32_t kModeCharDevice = 0020000;
inline constexpr uint32_t kModeFifo = 0010000;
inline constexpr uint32_t kModePermMask = 07777; // rwx for u/g/o, setuid, setgid, sticky

// lseek(2) whence.
inline constexpr int kSeekSet = 0;
inline constexpr int kSeekCur = 1;
inline constexpr int kSeekEnd = 2;
inline constexpr int kSeekData = 3;
inline constexpr int kSeekHole = 4;

// poll(2) event bits.
inline constexpr uint32_t kPollIn = 0x001;
inline constexpr uint32_t kPollPri = 0x002;
inline constexpr uint32_t kPollOut = 0x004;
inline constexpr uint32_t kPollErr = 0x008;
inline constexpr uint32_t kPollHup = 0x010;
inline constexpr uint32_t kPollNval = 0x020;
inline constexpr uint32_t kPollRdNorm = 0x040;
inline constexpr uint32_t kPollWrNorm = 0x100;

// The largest offset or size a syscall may produce (off_t is signed 64-bit).
inline constexpr uint64_t kMaxOffset = uint64_t(INT64_MAX);

// A point in time: seconds and nanoseconds since the epoch (struct timespec's meaning).
struct Timespec {
    int64_t sec = 0;
    int64_t nsec = 0; // 0 ≤ nsec < 1e9
    friend bool operator==(const Timespec& a, const Timespec& b) { return a.sec == b.sec && a.nsec == b.nsec; }
};

enum class VnodeType : uint8_t {
    Regular,
    Directory,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
};

// The S_IF* bits of a type, and back (false when the bits name no type).
uint32_t mode_type_bits(VnodeType type);
bool type_from_mode(uint32_t mode, VnodeType& type);

// linux_dirent64.d_type values [man 2 getdents64].
enum class DirentType : uint8_t {
    Unknown = 0,
    Fifo = 1,
    CharDevice = 2,
    Directory = 4,
    BlockDevice = 6,
    Regular = 8,
    Symlink = 10,
    Socket = 12,
};
DirentType dirent_type(VnodeType type);

// Device numbers in the 64-bit encoding glibc's makedev() uses (and st_rdev carries):
// minor bits 0-7 and 20-43, major bits 8-19 and 44-63.
constexpr uint64_t make_dev(uint32_t major, uint32_t minor)
{
    return (uint64_t(major & 0xfffff000u) << 32) | (uint64_t(major & 0xfffu) << 8) |
           (uint64_t(minor & 0xffffff00u) << 12) | uint64_t(minor & 0xffu);
}
constexpr uint32_t dev_major(uint64_t dev) { return uint32_t(((dev >> 32) & 0xfffff000u) | ((dev >> 8) & 0xfffu)); }
constexpr uint32_t dev_minor(uint64_t dev) { return uint32_t(((dev >> 12) & 0xffffff00u) | (dev & 0xffu)); }

// What stat(2) reports about a vnode.
struct Attr {
    uint64_t dev = 0;  // the filesystem's device number (st_dev)
    uint64_t ino = 0;
    uint32_t mode = 0; // type bits | permission bits
    uint32_t nlink = 0;
    uint32_t uid = 0;
    uint32_t gid = 0;
    uint64_t rdev = 0; // device nodes only
    uint64_t size = 0;
    uint64_t blocks = 0; // 512-byte units actually allocated
    uint32_t blksize = 4096;
    Timespec atime;
    Timespec mtime;
    Timespec ctime;
};

// A set-attribute request (chmod, chown, truncate, utimensat): `mask` says which fields
// apply. Changing anything also sets ctime to now.
struct SetAttr {
    static constexpr unsigned kMode = 1;      // permission bits only; the type never changes
    static constexpr unsigned kUid = 2;
    static constexpr unsigned kGid = 4;
    static constexpr unsigned kSize = 8;      // truncate (regular files); also sets mtime
    static constexpr unsigned kAtime = 16;    // to `atime`
    static constexpr unsigned kMtime = 32;    // to `mtime`
    static constexpr unsigned kAtimeNow = 64; // to the current time
    static constexpr unsigned kMtimeNow = 128;

    unsigned mask = 0;
    uint32_t mode = 0;
    uint32_t uid = 0;
    uint32_t gid = 0;
    uint64_t size = 0;
    Timespec atime;
    Timespec mtime;
};

} // namespace fs
