// OpenFile: an open file description (what a file descriptor points to, shared by dup'ed
// descriptors) — the flags and offset — and VnodeFile, the one for files, directories and
// device nodes. Pipes, eventfd and sockets will be further subclasses.
//
// The public calls are the syscall layer's entry points. They check the access mode first
// (BADF for reading a write-only file and the reverse; everything but getattr is BADF on an
// O_PATH file) and then call the protected virtual do_* of the subclass, whose defaults give
// Linux's error for a file that cannot do that (SPIPE for seeking a stream, NOTDIR for
// getdents, NOTTY for ioctl, ...).
//
// Offsets and locking (VnodeFile). m_offset_lock serialises the calls that use and update
// the offset — read, write, lseek, getdents — on one open file, so two threads sharing a
// descriptor never read the same bytes twice or write over each other. pread/pwrite, fstat,
// ftruncate, fsync and mmap do not take it, and neither do device files: a device is a stream
// (its offset is not used), and a console read waiting for input must not hold up a write to
// the same open file (stdin and stdout are often one). The lock is held across the vnode
// call, which takes the vnode's own locks: order m_offset_lock → vnode locks. Concurrent
// readers of one *file* through different open files (or pread) do not share any lock here;
// how they share the vnode is the filesystem's (ramfs: an RwLock taken shared).
//
// The status flags (O_APPEND, O_NONBLOCK, ...) are one atomic word: F_SETFL may change them
// while another thread reads; relaxed is enough, as they guard no other data.
#pragma once

#include <fs/device.h>
#include <fs/io_buffer.h>
#include <fs/mount.h>
#include <fs/ref.h>
#include <fs/types.h>
#include <lib/result.h>
#include <sync/mutex.h>
#include <sync/thread_annotations.h>

#include <atomic>
#include <stdint.h>

namespace fs {

// Someone watching a file's readiness (an epoll interest): `changed` runs whenever the file's
// poll_events() may have changed — for file types that say notifies_readiness(). The
// syscall layer links watches into the file and runs them (lx/poll.h); `changed` must only
// take leaf locks.
struct ReadinessWatch {
    ReadinessWatch* next = nullptr;
    ReadinessWatch* prev = nullptr;
    void (*changed)(ReadinessWatch*) = nullptr;
    // The kPoll* bits the watcher asks about, kPollErr | kPollHup included (as epoll reports
    // them unasked). Each notification names the kinds of readiness it may have added, and
    // watches asking about none of them are skipped (as Linux's wake-up keys do): input
    // arriving on a terminal does not touch an interest in its writability (lx/poll.h).
    // Under the watch lock, like the links.
    uint32_t events = ~0u;
};

class OpenFile : public RefCounted<OpenFile> {
public:
    virtual ~OpenFile() = default;

    // The open flags: access mode and status flags (kOpen*). Creation flags (O_CREAT,
    // O_EXCL, O_TRUNC, O_NOCTTY) and O_CLOEXEC (a descriptor flag) are not kept.
    unsigned flags() const { return m_flags.load(std::memory_order_relaxed); }
    unsigned access_mode() const { return flags() & kOpenAccessMode; }
    bool is_path_only() const { return flags() & kOpenPath; }
    bool can_read() const;
    bool can_write() const;
    // fcntl(F_SETFL): replaces the settable status flags (kOpenSettableFlags) and keeps the
    // rest.
    void set_status_flags(unsigned flags);

    // read(2)/write(2) at the file offset, advancing it. Short counts and FAULT as the
    // vnode's (vnode.h). BADF if the access mode does not allow it.
    Result<size_t> read(IoBuffer& buf);
    Result<size_t> write(IoBuffer& buf);
    // pread64/pwrite64: at `offset` (INVAL if negative), the file offset unchanged. SPIPE
    // for streams. (With O_APPEND, pwrite appends, as on Linux.)
    Result<size_t> pread(int64_t offset, IoBuffer& buf);
    Result<size_t> pwrite(int64_t offset, IoBuffer& buf);
    // lseek(2); returns the new offset. INVAL for a bad whence or a negative result,
    // OVERFLOW past kMaxOffset, NXIO for SEEK_DATA/SEEK_HOLE at or past the end.
    Result<uint64_t> seek(int64_t offset, int whence);
    // getdents64(2): linux_dirent64 records into buf; 0 at the end. INVAL if not even one
    // record fits, NOTDIR for a non-directory.
    Result<size_t> getdents(IoBuffer& buf);
    Result<long> ioctl(unsigned cmd, uint64_t arg);
    // poll(2) readiness right now (kPoll* bits).
    uint32_t poll_events();
    Result<Attr> getattr();
    // ftruncate(2): INVAL unless open for writing and a regular file.
    Result<void> truncate(uint64_t length);
    Result<void> fsync();
    // mmap: see Vnode::page_for_mmap. NODEV for files that cannot be mapped; ACCES unless
    // open for reading.
    Result<PageHandle> page_for_mmap(uint64_t offset);

    // Where the file is in the namespace (fchdir, *at() dirfds, /proc/self/fd), or nullptr
    // for files that have no path (pipes, sockets).
    virtual const Location* location() const { return nullptr; }
    // Where the file was opened: the directory and the name in it (as opened; a later rename
    // is not followed), for /proc/self/fd. False for files without a path.
    virtual bool opened_as(const Location*& parent, lib::StringView& name) const { return false; }
    // RTTI-free type identification for subclasses defined outside fs (the syscall layer's
    // epoll files): each returns the address of a static tag of its own.
    virtual const void* type_tag() const { return nullptr; }

    // True for a file type that reports every change of its readiness to its watchers (and
    // so supports edge-triggered epoll exactly); the others are re-checked on every change
    // of any file. The watch list is the syscall layer's (lx/poll.cc), under its lock.
    virtual bool notifies_readiness() const { return false; }
    // The list the file's watches are linked on: its own, or — for a file whose readiness is
    // a shared object's (a device node) — that object's, which then notifies for all of its
    // open files at once.
    virtual ReadinessWatch*& readiness_watches() { return m_watches; }

protected:
    explicit OpenFile(unsigned flags) : m_flags(flags) {}

    virtual Result<size_t> do_read(IoBuffer& buf);
    virtual Result<size_t> do_write(IoBuffer& buf);
    virtual Result<size_t> do_pread(uint64_t offset, IoBuffer& buf);
    virtual Result<size_t> do_pwrite(uint64_t offset, IoBuffer& buf);
    virtual Result<uint64_t> do_seek(int64_t offset, int whence);
    virtual Result<size_t> do_getdents(IoBuffer& buf);
    virtual Result<long> do_ioctl(unsigned cmd, uint64_t arg);
    virtual uint32_t do_poll_events();
    virtual Result<Attr> do_getattr() = 0;
    virtual Result<void> do_truncate(uint64_t length);
    virtual Result<void> do_fsync();
    virtual Result<PageHandle> do_page_for_mmap(uint64_t offset);

private:
    std::atomic<unsigned> m_flags;
    ReadinessWatch* m_watches = nullptr;
};

// An open regular file, directory, symlink (O_PATH only) or device node.
class VnodeFile final : public OpenFile {
public:
    // `device` is the driver of a device node (null otherwise).
    static Result<Ref<VnodeFile>> create(Location location, unsigned flags, Ref<Device> device = {});

    const Location* location() const override { return &m_location; }
    Vnode& vnode() const { return *m_location.vnode; }
    bool opened_as(const Location*& parent, lib::StringView& name) const override;
    // Records the directory and name it was opened through (fs::open does).
    void set_opened_as(const Location& parent, lib::StringView name);
    // A device node notifies when its device does (Device::readiness_watches), on the
    // device's list.
    bool notifies_readiness() const override { return m_device && m_device->readiness_watches(); }
    ReadinessWatch*& readiness_watches() override;

    // For make_ref (use create()).
    VnodeFile(Location location, unsigned flags, Ref<Device> device);

protected:
    Result<size_t> do_read(IoBuffer& buf) override;
    Result<size_t> do_write(IoBuffer& buf) override;
    Result<size_t> do_pread(uint64_t offset, IoBuffer& buf) override;
    Result<size_t> do_pwrite(uint64_t offset, IoBuffer& buf) override;
    Result<uint64_t> do_seek(int64_t offset, int whence) override;
    Result<size_t> do_getdents(IoBuffer& buf) override;
    Result<long> do_ioctl(unsigned cmd, uint64_t arg) override;
    uint32_t do_poll_events() override;
    Result<Attr> do_getattr() override;
    Result<void> do_truncate(uint64_t length) override;
    Result<void> do_fsync() override;
    Result<PageHandle> do_page_for_mmap(uint64_t offset) override;

private:
    Result<size_t> getdents_locked(IoBuffer& buf) TA_REQ(m_offset_lock);

    const Location m_location;
    const Ref<Device> m_device;
    Location m_parent;
    char m_name[kNameMax + 1] = {};
    size_t m_name_length = 0;
    ksync::Mutex m_offset_lock;
    uint64_t m_offset TA_GUARDED(m_offset_lock) = 0;
};

} // namespace fs
