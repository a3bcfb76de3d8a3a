// Path resolution [man 7 path_resolution]: from a string to a Location, relative to a
// process's root, working directory or an *at() directory — and back (get_path, getcwd).
//
// Rules implemented by resolve():
//  * An empty path is NOENT (AT_EMPTY_PATH is the caller's business). A path of kPathMax
//    bytes or more, or a component longer than kNameMax, is NAMETOOLONG.
//  * Absolute paths start at ctx.root, relative ones at ctx.base if valid (the dirfd), else
//    ctx.cwd. Repeated slashes count as one. Every component but the last must be a
//    directory once symlinks are followed (NOTDIR).
//  * "." stays; ".." goes to the parent, never above ctx.root, and crosses mounts upwards:
//    from a mount's root it continues from the covered directory. Entering a directory that
//    a mount covers continues at that mount's root (downwards crossing).
//  * Symlinks in the middle of a path are always followed; the last component's only with
//    kResolveFollow or a trailing slash. A relative target continues from the link's
//    directory, an absolute one from ctx.root; an empty target is NOENT. More than
//    kSymlinkMax links in one walk is LOOP (which also ends every loop).
//  * A trailing slash, or kResolveDirectory, makes the result need to be a directory
//    (NOTDIR). With kResolveParent the walk stops before the last component and reports the
//    parent and the name, so "a/" is the parent of "a" with name "a" and trailing_slash set;
//    the caller applies the slash rule for its operation.
//
// getcwd is computed, not stored: get_path walks ".." upwards and looks each directory's name
// up by scanning its parent's entries for its inode number (directories have one link, so
// the name is unique). It costs a directory scan per level; getcwd is rare and this keeps
// rename free of any name cache to update.
//
// No locks are held across the walk; each step holds only what one vnode operation takes.
// Permissions are not checked (one user, uid 0).
#pragma once

#include <fs/mount.h>
#include <fs/types.h>
#include <lib/result.h>
#include <lib/string.h>

#include <stddef.h>

namespace fs {

// Where a walk starts, per calling thread (root and cwd are process state; base is the
// directory of an *at() call's dirfd, or invalid for AT_FDCWD). `vfs`, `root` and `cwd` are
// required (asserted: a context without them is a kernel bug).
struct PathContext {
    Vfs* vfs = nullptr;
    Location root;
    Location cwd;
    Location base;
};

// resolve() flags.
inline constexpr unsigned kResolveFollow = 1;      // follow a symlink in the last component
inline constexpr unsigned kResolveDirectory = 2;   // the result must be a directory
inline constexpr unsigned kResolveParent = 4;      // stop before the last component
inline constexpr unsigned kResolveMayNotExist = 8; // a missing last component is no error

// The outcome of a walk.
struct Resolved {
    // The directory the last component was looked up in (also for "." and ".."). Invalid
    // when the path has no last component ("/", or a symlink to "/").
    Location parent;
    // The last component's vnode. Invalid with kResolveParent, or when it does not exist
    // under kResolveMayNotExist.
    Location node;
    // The last component as written (after following symlinks in it): may be "." or "..";
    // empty when there is none.
    char name[kNameMax + 1] = {};
    size_t name_length = 0;
    // The last component was followed by a slash.
    bool trailing_slash = false;

    lib::StringView name_view() const { return {name, name_length}; }
    bool name_is_dot_or_dotdot() const;
};

// Walks `path` as described above. `out` is overwritten. Errors: NOENT, NOTDIR,
// NAMETOOLONG, LOOP, NOMEM, and whatever the filesystems' lookups return (IO, ...).
Result<void> resolve(const PathContext& ctx, lib::StringView path, unsigned flags, Resolved& out);

// The parent directory of `loc` as ".." sees it (crossing mounts upwards; `limit` is a root
// not to go above, or invalid for the namespace's top). NOENT for a removed directory.
Result<Location> parent_location(const Location& loc, const Location& limit);

// Writes the absolute path of `loc` as seen from ctx.root into buf (NUL-terminated) and
// returns its length without the NUL. RANGE if it does not fit in `size` bytes (getcwd's
// error), NAMETOOLONG if it exceeds kPathMax; NOENT if `loc` was removed or is not below
// ctx.root (Linux's "(unreachable)" case).
Result<size_t> get_path(const PathContext& ctx, const Location& loc, char* buf, size_t size);

} // namespace fs
