// Path-based file operations: what openat, mkdirat, mknodat, symlinkat, linkat, unlinkat,
// renameat2, readlinkat, newfstatat, fchmodat/fchownat/utimensat/truncate and chdir do once
// the syscall layer has copied the path in and built the PathContext.
//
// Each resolves its path(s) (path.h), applies the namespace's rules — read-only mounts (ROFS),
// mount points (BUSY), mounts crossed by link/rename (XDEV), "." / ".." / "/" as the last
// component, trailing slashes — and calls the filesystem (vnode.h). Error precedence follows
// Linux where it is observable: e.g. mkdir of an existing name is EXIST even on a read-only
// mount. There are no permission checks (one user, uid 0); `mode` arguments are used as
// given (the umask is the caller's to apply).
//
// Nothing here holds a lock across calls; races between the checks and the filesystem call
// (a name created in between) are settled by the filesystem, which re-checks under its locks.
#pragma once

#include <fs/io_buffer.h>
#include <fs/mount.h>
#include <fs/open_file.h>
#include <fs/path.h>
#include <fs/types.h>
#include <lib/result.h>
#include <lib/string.h>

namespace fs {

// open(2). `flags` are Linux's (kOpen*); `mode` the permission bits for O_CREAT. Supported:
// O_CREAT, O_EXCL, O_TRUNC (regular files open for writing), O_DIRECTORY, O_NOFOLLOW (LOOP on
// a symlink), O_APPEND, O_NONBLOCK, O_PATH (then only O_DIRECTORY and O_NOFOLLOW count), the
// access modes. O_CLOEXEC is the fd table's business (ignored here). Errors: ISDIR (a
// directory for writing, O_CREAT on a directory or with a trailing slash), NOTDIR, EXIST,
// LOOP, ROFS (writing, truncating or creating on a read-only mount), NXIO (a device node
// without a driver, a fifo or socket), INVAL (access mode 3, O_CREAT|O_DIRECTORY), NOTSUP
// (O_TMPFILE), and the path errors.
Result<Ref<OpenFile>> open(const PathContext& ctx, lib::StringView path, unsigned flags, uint32_t mode = 0);

// mkdir(2). EXIST if the name exists (also "/", "." and "..").
Result<void> mkdir(const PathContext& ctx, lib::StringView path, uint32_t mode);
// mknod(2): `mode` has the type (regular if none, char/block device, fifo, socket; PERM for a
// directory, INVAL otherwise).
Result<void> mknod(const PathContext& ctx, lib::StringView path, uint32_t mode, uint64_t rdev);
// symlink(2): a link at `path` to `target` (NOENT if empty, NAMETOOLONG past kPathMax - 1).
Result<void> symlink(const PathContext& ctx, lib::StringView target, lib::StringView path);
// linkat(2): a new name `new_path` for the file `old_path` names (its symlink followed only
// with kAtSymlinkFollow). PERM for a directory, XDEV across mounts, EXIST.
Result<void> link(const PathContext& old_ctx, lib::StringView old_path, const PathContext& new_ctx,
                  lib::StringView new_path, unsigned at_flags);
// unlinkat(2): with kAtRemoveDir an empty directory (rmdir), else a non-directory (ISDIR for a
// directory). BUSY for a mount point or "/"; rmdir of "." is INVAL and of ".." NOTEMPTY.
Result<void> unlink(const PathContext& ctx, lib::StringView path, unsigned at_flags = 0);
// renameat2(2) with flags 0 or kRenameNoReplace (INVAL otherwise). XDEV across mounts, BUSY
// for mount points and "." / ".." / "/", plus the filesystem's rules (Vnode::rename).
Result<void> rename(const PathContext& old_ctx, lib::StringView old_path, const PathContext& new_ctx,
                    lib::StringView new_path, unsigned flags = 0);
// readlinkat(2): copies the target (no NUL, truncated to out.size()) and returns the count.
// INVAL for a non-symlink or an empty buffer.
Result<size_t> readlink(const PathContext& ctx, lib::StringView path, IoBuffer& out);
// newfstatat(2) (kAtSymlinkNoFollow: lstat).
Result<Attr> stat(const PathContext& ctx, lib::StringView path, unsigned at_flags = 0);
// chmod/chown/truncate/utimensat by path (`follow`: follow a final symlink). ROFS on a
// read-only mount; a size change needs a regular file (ISDIR for a directory, INVAL else).
Result<void> set_attr(const PathContext& ctx, lib::StringView path, bool follow, const SetAttr& req);
// chdir(2)/chroot(2): the directory `path` names (NOTDIR otherwise).
Result<Location> lookup_directory(const PathContext& ctx, lib::StringView path);

} // namespace fs
