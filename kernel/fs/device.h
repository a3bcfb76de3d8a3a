// Device: a character device driver as the VFS sees it. A device node (a CharDevice vnode in
// any filesystem) carries a device number; opening it looks the number up in the Vfs's device
// registry (Vfs::register_device) and routes read/write/ioctl/poll to the Device found.
//
// Lifetime: the registry and every open file of the device hold a Ref, so a driver outlives
// its last user. Locking: a device synchronises itself; the VFS calls it with no fs lock held
// (device I/O does not even take the open file's offset mutex), so its calls may block.
#pragma once

#include <fs/io_buffer.h>
#include <fs/ref.h>
#include <fs/types.h>
#include <lib/result.h>

#include <stdint.h>

namespace fs {

struct ReadinessWatch;

// Block and character device numbers are separate spaces (as on Linux); the registry keys
// block devices with this bit set.
inline constexpr uint64_t kBlockDeviceKey = 1ull << 63;
inline constexpr uint64_t block_device_key(uint64_t rdev) { return rdev | kBlockDeviceKey; }

class Device : public RefCounted<Device> {
public:
    virtual ~Device() = default;

    // Called for each open of a node of this device (`flags`: the open flags). An error fails
    // the open. Default: accept.
    virtual Result<void> open(unsigned flags);
    // read/write at the open file's offset (which most devices ignore). `flags` are the open
    // file's status flags at the time of the call (kOpenNonBlock: AGAIN instead of waiting).
    // Same short-count and FAULT rules as Vnode::read/write.
    virtual Result<size_t> read(uint64_t offset, IoBuffer& buf, unsigned flags) = 0;
    virtual Result<size_t> write(uint64_t offset, IoBuffer& buf, unsigned flags) = 0;
    // ioctl(2). `arg` is passed through untouched (a device that reads memory through it must
    // use the kernel's checked copies). Default: NOTTY.
    virtual Result<long> ioctl(unsigned cmd, uint64_t arg);
    // Current poll(2) readiness (kPollIn/kPollOut/...). Default: always readable and writable.
    virtual uint32_t poll_events();
    // A device that tells every change that can make it readier (see OpenFile::
    // notifies_readiness) returns the head of its watch list, which all its open files share
    // and which it runs on each change (lx/poll.h); null (the default): it does not, and epoll
    // re-checks it on every change anywhere.
    virtual ReadinessWatch** readiness_watches() { return nullptr; }

    // A seekable device (a disk) is read and written at the open file's offset, which read and
    // write advance (under the file's offset lock) and lseek moves, SEEK_END counting from
    // size(). A stream device (the default) ignores the offset and lseek answers 0.
    virtual bool is_seekable() const { return false; }
    virtual uint64_t size() const { return 0; }
    // fsync/fdatasync: make written data durable. Default: nothing to do.
    virtual Result<void> sync() { return {}; }

protected:
    Device() = default;
};

} // namespace fs
