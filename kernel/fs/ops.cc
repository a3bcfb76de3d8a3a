// Path-based file operations (see ops.h).
#include <fs/ops.h>

#include <lib/string.h>

#include <new>

namespace fs {

namespace {

// The __O_TMPFILE bit alone (kOpenTmpFile also has O_DIRECTORY).
constexpr unsigned kOpenTmpFileBit = 020000000;

// The flags an OpenFile keeps (see OpenFile::flags()).
constexpr unsigned kOpenCreationFlags = kOpenCreate | kOpenExclusive | kOpenNoCtty | kOpenTruncate | kOpenCloseOnExec;

// The first steps of every call that makes a new name (mkdir, mknod, symlink, link), in
// Linux's order of errors: the parent must resolve, the name must not exist (EXIST, also for
// "/", "." and ".."), a trailing slash is NOENT unless a directory is being made, and the
// mount must be writable (ROFS).
Result<void> prepare_create(const PathContext& ctx, lib::StringView path, bool directory, Resolved& r)
{
    TRY(resolve(ctx, path, kResolveParent, r));
    if (!r.parent.is_valid() || r.name_length == 0 || r.name_is_dot_or_dotdot())
        return Errno::EXIST;
    auto existing = r.parent.vnode->lookup(r.name_view());
    if (!existing.is_error())
        return Errno::EXIST;
    if (existing.error() != Errno::NOENT)
        return existing.error();
    if (r.trailing_slash && !directory)
        return Errno::NOENT;
    if (r.parent.mount->is_read_only())
        return Errno::ROFS;
    return {};
}

// The entry a parent-only walk ended on (for unlink and rename), as a Location.
Result<Location> lookup_child(const PathContext& ctx, const Resolved& r)
{
    Ref<Vnode> child = TRY(r.parent.vnode->lookup(r.name_view()));
    return Location{r.parent.mount, std::move(child)};
}

} // namespace

Result<Ref<OpenFile>> open(const PathContext& ctx, lib::StringView path, unsigned flags, uint32_t mode)
{
    if (flags & kOpenTmpFileBit)
        return Errno::NOTSUP;

    Resolved r;
    if (flags & kOpenPath) {
        unsigned how = (flags & kOpenNoFollow) ? 0 : kResolveFollow;
        if (flags & kOpenDirectory)
            how |= kResolveDirectory;
        TRY(resolve(ctx, path, how, r));
        Ref<VnodeFile> file = TRY(VnodeFile::create(std::move(r.node), flags & (kOpenPath | kOpenDirectory | kOpenNoFollow)));
        if (r.parent.is_valid() && !r.name_is_dot_or_dotdot())
            file->set_opened_as(r.parent, r.name_view());
        return Ref<OpenFile>(std::move(file));
    }

    unsigned access = flags & kOpenAccessMode;
    if (access == kOpenAccessMode)
        return Errno::INVAL;
    bool created = false;
    if (flags & kOpenCreate) {
        if (flags & kOpenDirectory)
            return Errno::INVAL;
        // O_EXCL never follows a final symlink (it must fail on one); otherwise a dangling
        // link makes its target.
        unsigned how = kResolveMayNotExist;
        if (!(flags & (kOpenExclusive | kOpenNoFollow)))
            how |= kResolveFollow;
        TRY(resolve(ctx, path, how, r));
        if (!r.node.is_valid()) {
            if (r.trailing_slash)
                return Errno::ISDIR;
            if (r.parent.mount->is_read_only())
                return Errno::ROFS;
            auto made = r.parent.vnode->create(r.name_view(), mode & kModePermMask);
            if (made.is_error()) {
                // Someone else created it since the walk: open theirs, unless O_EXCL.
                if (made.error() != Errno::EXIST || (flags & kOpenExclusive))
                    return made.error();
                made = r.parent.vnode->lookup(r.name_view());
                if (made.is_error())
                    return made.error();
            } else {
                created = true;
            }
            r.node = Location{r.parent.mount, made.release_value()};
        } else if (flags & kOpenExclusive) {
            return Errno::EXIST;
        }
    } else {
        unsigned how = (flags & kOpenNoFollow) ? 0 : kResolveFollow;
        if (flags & kOpenDirectory)
            how |= kResolveDirectory;
        TRY(resolve(ctx, path, how, r));
    }

    Vnode& vnode = *r.node.vnode;
    if (vnode.is_symlink())
        return Errno::LOOP; // O_NOFOLLOW on a symlink
    if ((flags & kOpenDirectory) && !vnode.is_directory())
        return Errno::NOTDIR;
    bool writes = access != kOpenReadOnly;
    if (vnode.is_directory() && (writes || (flags & (kOpenCreate | kOpenTruncate))))
        return Errno::ISDIR;

    Ref<Device> device;
    switch (vnode.type()) {
    case VnodeType::Regular:
        if ((writes || (flags & kOpenTruncate)) && !created && r.node.mount->is_read_only())
            return Errno::ROFS;
        if ((writes || (flags & kOpenTruncate)) && vnode.write_denied())
            return Errno::TXTBSY;
        break;
    case VnodeType::CharDevice:
    case VnodeType::BlockDevice: {
        Attr attr = TRY(vnode.getattr());
        bool block = vnode.type() == VnodeType::BlockDevice;
        device = ctx.vfs->find_device(block ? block_device_key(attr.rdev) : attr.rdev);
        if (!device)
            return Errno::NXIO;
        TRY(device->open(flags));
        break;
    }
    case VnodeType::Fifo:
    case VnodeType::Socket:
        return Errno::NXIO;
    case VnodeType::Directory:
    case VnodeType::Symlink:
        break;
    }

    if ((flags & kOpenTruncate) && writes && vnode.is_regular() && !created) {
        SetAttr req;
        req.mask = SetAttr::kSize;
        req.size = 0;
        TRY(vnode.setattr(req));
    }
    Ref<VnodeFile> file = TRY(VnodeFile::create(std::move(r.node), flags & ~kOpenCreationFlags, std::move(device)));
    if (r.parent.is_valid() && !r.name_is_dot_or_dotdot())
        file->set_opened_as(r.parent, r.name_view());
    return Ref<OpenFile>(std::move(file));
}

Result<void> mkdir(const PathContext& ctx, lib::StringView path, uint32_t mode)
{
    Resolved r;
    TRY(prepare_create(ctx, path, true, r));
    TRY(r.parent.vnode->mkdir(r.name_view(), mode & kModePermMask));
    return {};
}

Result<void> mknod(const PathContext& ctx, lib::StringView path, uint32_t mode, uint64_t rdev)
{
    if ((mode & kModeTypeMask) == 0)
        mode |= kModeRegular;
    VnodeType type;
    if (!type_from_mode(mode, type) || type == VnodeType::Symlink)
        return Errno::INVAL;
    if (type == VnodeType::Directory)
        return Errno::PERM;
    Resolved r;
    TRY(prepare_create(ctx, path, false, r));
    TRY(r.parent.vnode->mknod(r.name_view(), mode & (kModeTypeMask | kModePermMask), rdev));
    return {};
}

Result<void> symlink(const PathContext& ctx, lib::StringView target, lib::StringView path)
{
    if (target.is_empty())
        return Errno::NOENT;
    if (target.size() >= kPathMax)
        return Errno::NAMETOOLONG;
    Resolved r;
    TRY(prepare_create(ctx, path, false, r));
    TRY(r.parent.vnode->symlink(r.name_view(), target));
    return {};
}

Result<void> link(const PathContext& old_ctx, lib::StringView old_path, const PathContext& new_ctx,
                  lib::StringView new_path, unsigned at_flags)
{
    if (at_flags & ~(kAtSymlinkFollow | kAtEmptyPath))
        return Errno::INVAL;
    Resolved from;
    TRY(resolve(old_ctx, old_path, (at_flags & kAtSymlinkFollow) ? kResolveFollow : 0, from));
    if (from.node.vnode->is_directory())
        return Errno::PERM;
    Resolved to;
    TRY(prepare_create(new_ctx, new_path, false, to));
    if (!(to.parent.mount == from.node.mount))
        return Errno::XDEV;
    return to.parent.vnode->link(to.name_view(), *from.node.vnode);
}

Result<void> unlink(const PathContext& ctx, lib::StringView path, unsigned at_flags)
{
    if (at_flags & ~kAtRemoveDir)
        return Errno::INVAL;
    bool rmdir = at_flags & kAtRemoveDir;
    Resolved r;
    TRY(resolve(ctx, path, kResolveParent, r));
    lib::StringView name = r.name_view();
    if (!r.parent.is_valid() || name.is_empty())
        return rmdir ? Errno::BUSY : Errno::ISDIR; // "/"
    if (rmdir && name == ".")
        return Errno::INVAL;
    if (rmdir && name == "..")
        return Errno::NOTEMPTY;
    if (!rmdir && r.name_is_dot_or_dotdot())
        return Errno::ISDIR;
    Location child = TRY(lookup_child(ctx, r));
    if (rmdir) {
        if (!child.vnode->is_directory())
            return Errno::NOTDIR;
        if (ctx.vfs->is_mountpoint(child))
            return Errno::BUSY;
    } else {
        if (child.vnode->is_directory())
            return Errno::ISDIR;
        if (r.trailing_slash)
            return Errno::NOTDIR;
    }
    if (r.parent.mount->is_read_only())
        return Errno::ROFS;
    return rmdir ? r.parent.vnode->rmdir(name) : r.parent.vnode->unlink(name);
}

Result<void> rename(const PathContext& old_ctx, lib::StringView old_path, const PathContext& new_ctx,
                    lib::StringView new_path, unsigned flags)
{
    if (flags & ~kRenameNoReplace)
        return Errno::INVAL;
    Resolved from;
    TRY(resolve(old_ctx, old_path, kResolveParent, from));
    Resolved to;
    TRY(resolve(new_ctx, new_path, kResolveParent, to));
    if (!from.parent.is_valid() || from.name_length == 0 || from.name_is_dot_or_dotdot())
        return Errno::BUSY;
    if (!to.parent.is_valid() || to.name_length == 0 || to.name_is_dot_or_dotdot())
        return (flags & kRenameNoReplace) ? Errno::EXIST : Errno::BUSY;
    if (!(from.parent.mount == to.parent.mount))
        return Errno::XDEV;
    Location moving = TRY(lookup_child(old_ctx, from));
    if ((from.trailing_slash || to.trailing_slash) && !moving.vnode->is_directory())
        return Errno::NOTDIR;
    if (old_ctx.vfs->is_mountpoint(moving))
        return Errno::BUSY;
    auto replaced = lookup_child(new_ctx, to);
    if (!replaced.is_error() && new_ctx.vfs->is_mountpoint(replaced.value()))
        return Errno::BUSY;
    if (from.parent.mount->is_read_only())
        return Errno::ROFS;
    return from.parent.vnode->rename(from.name_view(), *to.parent.vnode, to.name_view(), flags);
}

Result<size_t> readlink(const PathContext& ctx, lib::StringView path, IoBuffer& out)
{
    if (out.size() == 0)
        return Errno::INVAL;
    Resolved r;
    TRY(resolve(ctx, path, 0, r));
    if (!r.node.vnode->is_symlink())
        return Errno::INVAL;
    char* target = new (std::nothrow) char[kPathMax];
    if (!target)
        return Errno::NOMEM;
    auto length = r.node.vnode->readlink(target, kPathMax);
    Result<size_t> result = Errno::INVAL;
    if (length.is_error()) {
        result = length.error();
    } else {
        size_t n = length.value();
        if (n > kPathMax)
            n = kPathMax;
        if (n > out.size())
            n = out.size();
        auto copied = out.copy_out(0, target, n);
        result = copied.is_error() ? Result<size_t>(copied.error()) : Result<size_t>(n);
    }
    delete[] target;
    return result;
}

Result<Attr> stat(const PathContext& ctx, lib::StringView path, unsigned at_flags)
{
    if (at_flags & ~(kAtSymlinkNoFollow | kAtEmptyPath))
        return Errno::INVAL;
    Resolved r;
    TRY(resolve(ctx, path, (at_flags & kAtSymlinkNoFollow) ? 0 : kResolveFollow, r));
    return r.node.vnode->getattr();
}

Result<void> set_attr(const PathContext& ctx, lib::StringView path, bool follow, const SetAttr& req)
{
    Resolved r;
    TRY(resolve(ctx, path, follow ? kResolveFollow : 0, r));
    Vnode& vnode = *r.node.vnode;
    if (req.mask & SetAttr::kSize) {
        if (vnode.is_directory())
            return Errno::ISDIR;
        if (!vnode.is_regular())
            return Errno::INVAL;
        if (req.size > kMaxOffset)
            return Errno::INVAL;
    }
    if (r.node.mount->is_read_only())
        return Errno::ROFS;
    if ((req.mask & SetAttr::kSize) && vnode.write_denied())
        return Errno::TXTBSY;
    return vnode.setattr(req);
}

Result<Location> lookup_directory(const PathContext& ctx, lib::StringView path)
{
    Resolved r;
    TRY(resolve(ctx, path, kResolveFollow | kResolveDirectory, r));
    return std::move(r.node);
}

} // namespace fs
