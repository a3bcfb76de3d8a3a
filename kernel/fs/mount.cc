// The mount table and the device registry (see mount.h).
#include <fs/mount.h>
#include <fs/path.h>

namespace fs {

bool same_location(const Location& a, const Location& b)
{
    return a.mount == b.mount && a.vnode && b.vnode && same_vnode(*a.vnode, *b.vnode);
}

Mount::Mount(Ref<FileSystem> fs, Ref<Vnode> root, Ref<Mount> parent, Ref<Vnode> mountpoint, unsigned flags)
    : m_fs(std::move(fs)), m_parent(std::move(parent)), m_mountpoint(std::move(mountpoint)), m_root(std::move(root)),
      m_flags(flags)
{
}

Vfs::~Vfs()
{
    ksync::WriteGuard guard(m_lock);
    // Newest first, so each mount's covered filesystem still has its count to drop.
    while (!m_mounts.is_empty()) {
        Ref<Mount>& last = m_mounts[m_mounts.size() - 1];
        if (last->parent())
            last->parent()->fs().remove_mountpoint();
        m_mounts.erase_at(m_mounts.size() - 1);
    }
    m_devices.clear();
}

Result<void> Vfs::mount_root(Ref<FileSystem> fs, unsigned flags)
{
    if (flags & ~kMountReadOnly)
        return Errno::INVAL;
    Ref<Vnode> root = fs->root();
    if (!root->is_directory())
        return Errno::NOTDIR;
    Ref<Mount> mount = TRY(make_ref<Mount>(std::move(fs), std::move(root), Ref<Mount>(), Ref<Vnode>(), flags));
    ksync::WriteGuard guard(m_lock);
    if (!m_mounts.is_empty())
        return Errno::BUSY;
    TRY(m_mounts.push_back(std::move(mount)));
    return {};
}

Location Vfs::root() const
{
    ksync::ReadGuard guard(m_lock);
    if (m_mounts.is_empty())
        return {};
    const Ref<Mount>& mount = m_mounts[0];
    return Location{mount, mount->root()};
}

Result<void> Vfs::mount(const PathContext& ctx, lib::StringView path, Ref<FileSystem> fs, unsigned flags)
{
    if (flags & ~kMountReadOnly)
        return Errno::INVAL;
    Resolved where;
    TRY(resolve(ctx, path, kResolveFollow | kResolveDirectory, where));
    Ref<Vnode> root = fs->root();
    if (!root->is_directory())
        return Errno::NOTDIR;
    Location point = std::move(where.node);
    Ref<Mount> mount = TRY(make_ref<Mount>(std::move(fs), std::move(root), point.mount, point.vnode, flags));
    ksync::WriteGuard guard(m_lock);
    // Another mount may have landed on the same directory since the walk: stack on top of it.
    for (;;) {
        Ref<Mount> above = find_covering_locked(point);
        if (!above)
            break;
        // Rebuild on the newer mount's root (rare; the object is cheap).
        Location top{above, above->root()};
        mount = TRY(make_ref<Mount>(Ref<FileSystem>(&mount->fs()), mount->root(), top.mount, top.vnode, flags));
        point = std::move(top);
    }
    TRY(m_mounts.push_back(Ref<Mount>(mount)));
    point.vnode->fs().add_mountpoint();
    return {};
}

Result<void> Vfs::unmount(const PathContext& ctx, lib::StringView path)
{
    Resolved where;
    TRY(resolve(ctx, path, kResolveFollow | kResolveDirectory, where));
    Location target = std::move(where.node);
    where = {};
    if (!same_vnode(*target.vnode, *target.mount->root()))
        return Errno::INVAL;
    Ref<Mount> victim;
    {
        ksync::WriteGuard guard(m_lock);
        size_t index = m_mounts.size();
        for (size_t i = 0; i < m_mounts.size(); i++) {
            if (m_mounts[i] == target.mount)
                index = i;
        }
        if (index == m_mounts.size())
            return Errno::INVAL;
        if (!target.mount->parent())
            return Errno::BUSY; // the root mount
        for (const Ref<Mount>& m : m_mounts) {
            if (m->parent() == target.mount)
                return Errno::BUSY;
        }
        // The references now: the table's and `target`'s. Any other is a user. None can
        // appear meanwhile: new ones come only from the table (we hold its lock) or by
        // copying an existing one.
        if (target.mount->ref_count() > 2)
            return Errno::BUSY;
        victim = std::move(m_mounts[index]);
        m_mounts.erase_at(index);
        victim->parent()->fs().remove_mountpoint();
    }
    // The filesystem goes when the last reference (here) does, outside the lock.
    return {};
}

Ref<Mount> Vfs::find_covering_locked(const Location& loc) const
{
    // Newest first: the top of a stack of mounts on one directory.
    for (size_t i = m_mounts.size(); i-- > 0;) {
        const Ref<Mount>& m = m_mounts[i];
        if (m->parent() == loc.mount && same_vnode(*m->mountpoint(), *loc.vnode))
            return m;
    }
    return {};
}

Location Vfs::cross_mounts(Location loc) const
{
    while (loc.vnode->fs().mountpoint_count() != 0) {
        Ref<Mount> above;
        {
            ksync::ReadGuard guard(m_lock);
            above = find_covering_locked(loc);
        }
        if (!above)
            break;
        Ref<Vnode> root = above->root();
        loc = Location{std::move(above), std::move(root)};
    }
    return loc;
}

bool Vfs::is_mountpoint(const Location& loc) const
{
    if (loc.vnode->fs().mountpoint_count() == 0)
        return false;
    ksync::ReadGuard guard(m_lock);
    return bool(find_covering_locked(loc));
}

size_t Vfs::mount_count() const
{
    ksync::ReadGuard guard(m_lock);
    return m_mounts.size();
}

Result<void> Vfs::register_device(uint64_t rdev, Ref<Device> device)
{
    ksync::WriteGuard guard(m_lock);
    for (const DeviceEntry& e : m_devices) {
        if (e.rdev == rdev)
            return Errno::EXIST;
    }
    DeviceEntry entry;
    entry.rdev = rdev;
    entry.device = std::move(device);
    TRY(m_devices.push_back(std::move(entry)));
    return {};
}

Ref<Device> Vfs::find_device(uint64_t rdev) const
{
    ksync::ReadGuard guard(m_lock);
    for (const DeviceEntry& e : m_devices) {
        if (e.rdev == rdev)
            return e.device;
    }
    return {};
}

} // namespace fs
