// Vnode and FileSystem: what every filesystem implements for the VFS — one object per file
// (inode) with virtual operations, and one object per filesystem instance.
//
// Identity. A vnode is identified by (filesystem, inode number); the VFS compares vnodes with
// same_vnode() and never by pointer, so a filesystem may hand out a new Vnode object for an
// inode on every lookup (ramfs returns the same one). Inode numbers are unique within a
// filesystem while the file exists.
//
// Lifetime. Vnodes and filesystems are reference-counted (Ref<T>, fs/ref.h). A filesystem
// owns its root (and, through it, whatever tree it keeps in memory); a vnode holds only a raw
// reference to its filesystem, which must therefore outlive it. The VFS guarantees that by
// holding every vnode beside a reference to its mount (a Location, fs/mount.h), which holds
// the filesystem: code outside a filesystem must do the same. (Vnodes holding their
// filesystem would make a cycle with the root the filesystem owns.)
//
// Operations. Directory operations take a single component (never empty, never containing
// '/', at most kNameMax bytes; "." and ".." are resolved by the VFS, except that lookup("..")
// must return the parent directory — a filesystem's root returns itself — and a removed
// directory answers every lookup with NOENT). Defaults return the error Linux gives for a
// vnode of the wrong type (NOTDIR, INVAL, ...). Read-only mounts, mount points, cross-mount
// links and renames, and permission bits are the VFS's business (there is one user, uid 0),
// so a filesystem sees only requests that passed those checks.
//
// Locking is each filesystem's own (see ramfs.h); the VFS holds no lock while calling a
// vnode, so any operation may block.
#pragma once

#include <fs/io_buffer.h>
#include <fs/page_provider.h>
#include <fs/ref.h>
#include <fs/types.h>
#include <lib/result.h>
#include <lib/string.h>

#include <atomic>
#include <stdint.h>

namespace fs {

class FileSystem;

// Receives directory entries from Vnode::readdir(). `next_cookie` is the cookie that resumes
// the listing right after this entry. Returning false means "full": the entry was NOT
// consumed and readdir stops (getdents64 resumes from this entry's cookie next time).
class DirSink {
public:
    virtual bool emit(uint64_t ino, DirentType type, lib::StringView name, uint64_t next_cookie) = 0;

protected:
    ~DirSink() = default;
};

class Vnode : public RefCounted<Vnode> {
public:
    Vnode(const Vnode&) = delete;
    Vnode& operator=(const Vnode&) = delete;
    virtual ~Vnode() = default;

    FileSystem& fs() const { return m_fs; }
    uint64_t ino() const { return m_ino; }

    // Executables: while the program runs from this file, opening it for writing or changing
    // its size fails with TXTBSY (its pages are mapped in place; Linux refuses the same).
    // Never undone: the program runs until the VM ends. Per vnode object, which is the file
    // for writable filesystems (their vnodes are unique per file); a read-only filesystem
    // refuses the writes anyway.
    void deny_write() { m_write_denied.store(true, std::memory_order_relaxed); }
    bool write_denied() const { return m_write_denied.load(std::memory_order_relaxed); }
    VnodeType type() const { return m_type; }
    bool is_directory() const { return m_type == VnodeType::Directory; }
    bool is_symlink() const { return m_type == VnodeType::Symlink; }
    bool is_regular() const { return m_type == VnodeType::Regular; }

    // ---- directories ----------------------------------------------------------------------
    // The entry `name` (or the parent for ".."). NOENT if absent.
    virtual Result<Ref<Vnode>> lookup(lib::StringView name);
    // New entries. EXIST if the name is taken; NOENT if this directory was removed; NOSPC or
    // NOMEM when out of room. `mode` is the permission bits for create/mkdir/symlink, and type
    // bits | permission bits for mknod (regular, device, fifo or socket; INVAL otherwise).
    virtual Result<Ref<Vnode>> create(lib::StringView name, uint32_t mode);
    virtual Result<Ref<Vnode>> mkdir(lib::StringView name, uint32_t mode);
    virtual Result<Ref<Vnode>> mknod(lib::StringView name, uint32_t mode, uint64_t rdev);
    virtual Result<Ref<Vnode>> symlink(lib::StringView name, lib::StringView target);
    // A new entry for `target`, a non-directory of this filesystem (PERM for a directory;
    // NOENT if it has no links left; MLINK at the link limit).
    virtual Result<void> link(lib::StringView name, Vnode& target);
    // Removes a non-directory entry (ISDIR for a directory) / an empty directory entry
    // (NOTDIR for a non-directory, NOTEMPTY if it has entries).
    virtual Result<void> unlink(lib::StringView name);
    virtual Result<void> rmdir(lib::StringView name);
    // rename(2) within this filesystem: moves entry `old_name` of this directory to
    // `new_name` in `new_dir`, replacing what is there following POSIX: a non-directory
    // replaces a non-directory (ISDIR / NOTDIR otherwise), a directory replaces an empty
    // directory (NOTEMPTY otherwise); a directory cannot move into itself or a descendant
    // (INVAL); renaming a file onto another link of the same file does nothing. `flags`:
    // kRenameNoReplace (EXIST if new_name exists) or 0.
    virtual Result<void> rename(lib::StringView old_name, Vnode& new_dir, lib::StringView new_name, unsigned flags);
    // Lists the entries from `cookie` on (0 = the beginning), excluding "." and ".." (the VFS
    // adds those). Cookies of entries are stable: entries added or removed meanwhile never
    // make a resumed listing repeat or skip an entry that stayed. Cookies stay below 2^62.
    virtual Result<void> readdir(uint64_t cookie, DirSink& sink);

    // ---- symlinks -------------------------------------------------------------------------
    // Copies up to `size` bytes of the target to buf and returns the target's full length
    // (at most kPathMax - 1). INVAL for a non-symlink.
    virtual Result<size_t> readlink(char* buf, size_t size);

    // ---- attributes -----------------------------------------------------------------------
    virtual Result<Attr> getattr();
    // Applies `req` (see SetAttr). Size changes: regular files only (ISDIR for a directory,
    // INVAL otherwise), FBIG beyond the filesystem's maximum, NOSPC/NOMEM if the space cannot
    // be found.
    virtual Result<void> setattr(const SetAttr& req);

    // ---- data (regular files; devices are reached through their Device) ------------------
    // Reads up to buf.size() bytes at `offset`; 0 at or past the end. Holes read as zeros.
    // FAULT only if nothing was copied (a fault after some bytes gives a short count).
    virtual Result<size_t> read(uint64_t offset, IoBuffer& buf);
    // Writes buf at `offset` (or, with `append`, at the end, atomically with respect to other
    // writers) and sets `offset` to just past the last byte written. A short count when space
    // or the buffer runs out after some bytes; NOSPC / FBIG / FAULT if none was written.
    virtual Result<size_t> write(uint64_t& offset, IoBuffer& buf, bool append);
    virtual Result<void> fsync();
    // For mmap: the page holding file offset `offset` (a multiple of kPageSize), allocated
    // if it is a hole. NOTSUP where pages cannot be mapped directly; NXIO at or past the end
    // of the file (the fault becomes SIGBUS). The page stays the file's: it is freed when the
    // file shrinks past it or dies, so the mmap glue must not keep it mapped beyond that.
    // Called by page faults, which happen inside other calls' copies to and from the
    // application — a read or write of this very file or of another, with its lock held — so
    // it (and find_page) must never wait for a lock that any filesystem holds across such a
    // copy (ramfs takes only the file's page lock).
    virtual Result<PageHandle> page_for_mmap(uint64_t offset);
    // As page_for_mmap, but never allocates: NOENT for a hole. For mapping a file's existing
    // pages eagerly (see prefault_mappings).
    virtual Result<PageHandle> find_page(uint64_t offset);
    // Whether mmap should map the file's existing pages when the mapping is made rather than
    // on first touch (in-memory files: it saves a fault per page).
    virtual bool prefault_mappings() const { return false; }

protected:
    Vnode(FileSystem& fs, uint64_t ino, VnodeType type) : m_fs(fs), m_ino(ino), m_type(type) {}

private:
    FileSystem& m_fs;
    const uint64_t m_ino;
    const VnodeType m_type;
    std::atomic<bool> m_write_denied{false};
};

// Whether a and b are the same file (same filesystem, same inode).
bool same_vnode(const Vnode& a, const Vnode& b);

class FileSystem : public RefCounted<FileSystem> {
public:
    FileSystem(const FileSystem&) = delete;
    FileSystem& operator=(const FileSystem&) = delete;
    virtual ~FileSystem() = default;

    // The root directory. Never null.
    virtual Ref<Vnode> root() = 0;
    // Short type name for logs and /proc/mounts ("ramfs").
    virtual const char* name() const = 0;
    // A read-only filesystem (an image): the VFS refuses every change with ROFS.
    virtual bool is_read_only() const { return false; }

    // st_dev of every file here: an anonymous device number (major 0) unique per instance.
    uint64_t dev() const { return m_dev; }

    // The number of mounts whose mount point is a vnode of this filesystem. The path walk
    // consults the mount table only when it is nonzero. Maintained by the Vfs under its mount
    // table lock; read without it (acquire: pairs with the release increment made after the
    // new mount is in the table, so a walk that sees the count also sees the mount).
    uint32_t mountpoint_count() const { return m_mountpoints.load(std::memory_order_acquire); }
    void add_mountpoint() { m_mountpoints.fetch_add(1, std::memory_order_release); }
    void remove_mountpoint() { m_mountpoints.fetch_sub(1, std::memory_order_relaxed); }

protected:
    FileSystem();

private:
    const uint64_t m_dev;
    std::atomic<uint32_t> m_mountpoints{0};
};

} // namespace fs
