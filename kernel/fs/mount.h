// The namespace: Location (a vnode together with the mount it was reached through), Mount
// (one filesystem attached at a directory), and Vfs (the mount table and the device registry
// of one VM).
//
// A Location is what the path walk moves through (Linux's struct path): the same directory
// vnode can be reached through two mounts of one filesystem, and ".." from a mount's root
// must know which mount it is in. Holding a Location keeps the mount, hence the filesystem,
// hence (fs/vnode.h) the vnode's owner alive.
//
// Mounts. Mount m covers directory `m.mountpoint()` of mount `m.parent()`: a walk reaching
// that directory continues at m's root (cross_mounts), and ".." from m's root goes to the
// covered directory's parent. Several mounts on one directory stack: the newest is on top
// (it covers the previous one's root). The root mount has no parent. Each FileSystem counts
// the mount points inside it so a walk through a filesystem without any skips the table.
//
// Locking. m_lock (an RwLock) guards the mount list and the device registry: the walk takes
// it shared (only in filesystems that contain mount points), mount/unmount/register take it
// exclusively. It is a leaf lock: nothing calls into the Vfs with a vnode lock held, and the
// Vfs calls no filesystem while holding it (a new filesystem's root() is taken before).
//
// Busy. unmount refuses (BUSY) while anything holds a Location in the mount (an open file, a
// cwd, a dirfd) or another mount sits on it: every user of a mount holds a reference to the
// Mount object, so "busy" is "more references than the table's and the caller's".
#pragma once

#include <fs/device.h>
#include <fs/ref.h>
#include <fs/vector.h>
#include <fs/vnode.h>
#include <lib/result.h>
#include <lib/string.h>
#include <sync/rwlock.h>
#include <sync/thread_annotations.h>

namespace fs {

class Mount;
struct PathContext;

// mount(2) flags understood here.
inline constexpr unsigned kMountReadOnly = 1; // MS_RDONLY

struct Location {
    Ref<Mount> mount;
    Ref<Vnode> vnode; // declared after `mount`: destroyed before it (the mount keeps the fs)

    bool is_valid() const { return bool(vnode); }
};

// The same vnode reached through the same mount.
bool same_location(const Location& a, const Location& b);

class Mount : public RefCounted<Mount> {
public:
    FileSystem& fs() const { return *m_fs; }
    const Ref<Vnode>& root() const { return m_root; }
    // The mount this one is attached to and the directory it covers there; null for the root
    // mount. Immutable after creation.
    const Ref<Mount>& parent() const { return m_parent; }
    const Ref<Vnode>& mountpoint() const { return m_mountpoint; }
    unsigned flags() const { return m_flags; }
    // Changes through this mount fail with ROFS.
    bool is_read_only() const { return (m_flags & kMountReadOnly) || m_fs->is_read_only(); }

    // For make_ref (use Vfs::mount).
    Mount(Ref<FileSystem> fs, Ref<Vnode> root, Ref<Mount> parent, Ref<Vnode> mountpoint, unsigned flags);

private:
    // Destroyed in reverse order: the root and the covered vnode go before the filesystems
    // that own them (m_parent keeps the covered one's).
    Ref<FileSystem> m_fs;
    Ref<Mount> m_parent;
    Ref<Vnode> m_mountpoint;
    Ref<Vnode> m_root;
    unsigned m_flags;
};

class Vfs {
public:
    Vfs() = default;
    Vfs(const Vfs&) = delete;
    Vfs& operator=(const Vfs&) = delete;
    ~Vfs();

    // Installs the root filesystem. BUSY if there is one; NOMEM.
    Result<void> mount_root(Ref<FileSystem> fs, unsigned flags = 0);
    // "/" of the namespace (invalid before mount_root).
    Location root() const;

    // mount(2): attaches `fs` on the directory `path` names (symlinks followed). NOTDIR if it
    // is not a directory, INVAL for unknown flags, NOMEM; path errors as resolve().
    Result<void> mount(const PathContext& ctx, lib::StringView path, Ref<FileSystem> fs, unsigned flags = 0);
    // umount(2): detaches the mount whose root `path` names. INVAL if it names no mount root,
    // BUSY for the root mount, a mount with mounts on it, or one in use (see the header).
    Result<void> unmount(const PathContext& ctx, lib::StringView path);

    // If a mount covers `loc`, the root of the topmost one (repeatedly); else `loc`.
    Location cross_mounts(Location loc) const;
    // Whether a mount covers `loc` (rmdir/unlink/rename of it are BUSY).
    bool is_mountpoint(const Location& loc) const;
    size_t mount_count() const;

    // The device registry: opening a device node with number `rdev` reaches `device`.
    // EXIST if the number is taken; NOMEM.
    Result<void> register_device(uint64_t rdev, Ref<Device> device);
    // The device for `rdev`, or null.
    Ref<Device> find_device(uint64_t rdev) const;

private:
    struct DeviceEntry {
        uint64_t rdev = 0;
        Ref<Device> device;
    };

    Ref<Mount> find_covering_locked(const Location& loc) const TA_REQ_SHARED(m_lock);

    mutable ksync::RwLock m_lock;
    Vector<Ref<Mount>> m_mounts TA_GUARDED(m_lock); // [0] is the root mount; in mount order
    Vector<DeviceEntry> m_devices TA_GUARDED(m_lock);
};

} // namespace fs
