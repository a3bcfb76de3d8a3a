// ramfs: a writable filesystem in memory (tmpfs's role) — regular files with data in whole
// 4 KiB pages, directories, symlinks, device/fifo/socket nodes, hard links.
//
// Data. A file's pages sit in a radix tree (page_tree.h) and come from the PageProvider the
// filesystem was created with. Holes are never allocated and read as zeros; whenever the end
// of the file moves, the rest of the page it falls in is cleared, so growing a file never
// exposes old data (nor bytes an mmap stored past the end). Pages can be handed to mmap (page_for_mmap). Config::max_bytes caps
// the data pages of the whole filesystem (NOSPC); metadata (nodes of the page trees — at most
// kMaxHeight per data page —, entries, symlink targets) is taken from the kernel heap and not
// counted. A file grows to kMaxFileSize at most (FBIG).
//
// Directories. Entries live in two intrusive AVL trees (lib::IntrusiveAvlTree): by name for
// lookup, and by cookie for readdir. An entry's cookie is a per-directory sequence number
// given when it is linked, so a listing resumed from a cookie sees every entry that stayed,
// once, whatever was added or removed meanwhile (entries linked since may or may not appear,
// as POSIX allows; a rename links a new entry). Each directory knows its parent (directories
// have exactly one link), for ".." and the rename loop check.
//
// Locking (lock order: the filesystem's rename mutex → directory locks → other nodes' locks).
//  * Every node has an RwLock, m_lock, guarding its attributes and contents: a file's size and
//    page tree, a directory's entries and parent pointer, times, link count, mode.
//  * Reads of a file (read, getattr, lookup, readdir) take it shared; changes take it
//    exclusive. So concurrent readers of one file copy in parallel: they share the lock for
//    their whole call, and a writer waits only for the readers in flight (the lock is
//    writer-preferring, so a stream of readers cannot starve it). A reader never sees half of
//    a write (write and truncate hold the lock exclusively).
//  * rename and rmdir take the filesystem's rename mutex (m_rename_lock) first. They are the
//    only operations holding more than one directory lock, and the mutex serialises them, so
//    directory locks among themselves can never deadlock; it also freezes every directory's
//    parent pointer (written only under it, and under that directory's lock) for the
//    "into its own subdirectory" walk. Other directory operations hold one directory lock.
//  * Non-directory nodes' locks are taken last (unlink/link/rename adjust link counts); rename
//    takes two of them in address order.
//  * A file's page tree has a lock of its own, m_page_lock (an RwLock), taken after m_lock
//    and held only while looking up or inserting a page — never across a copy to or from
//    the application, and never while waiting for any other lock but the PageProvider's.
//    The size is written under both locks, so either is enough to read it. page_for_mmap
//    and find_page (what a page fault on a mapping of the file calls) take m_page_lock
//    only. That is what makes a read or write whose buffer lies in a mapping of a ramfs
//    file safe whatever the file: its copy faults with m_lock held, and the fault needs
//    only a page lock, which no holder keeps while waiting for anything — so no cycle,
//    even when it is the same file, or two threads copy between two files crosswise.
//  * The path walk holds no lock between steps; nothing is held while calling the
//    PageProvider except the file's own locks.
//
// Lifetime. The filesystem owns the root; entries own their nodes (Ref). Nodes refer to the
// filesystem by a raw reference (vnode.h explains why it outlives them). A directory's tree
// is freed iteratively when the filesystem goes (no recursion on the kernel stack, however
// deep the tree).
#pragma once

#include <fs/page_provider.h>
#include <fs/ref.h>
#include <fs/vnode.h>
#include <lib/result.h>
#include <sync/mutex.h>

#include <atomic>
#include <stdint.h>

namespace fs::ramfs {

struct Config {
    PageProvider* pages = nullptr; // required; must outlive the filesystem
    uint64_t max_bytes = 0;        // cap on file data (counted in whole pages); 0 = no cap
    uint32_t root_mode = 0755;     // permission bits of "/"
    uint32_t root_uid = 0;
    uint32_t root_gid = 0;
};

class RamFs final : public FileSystem {
public:
    // 2^48 bytes, what the page tree can index.
    static constexpr uint64_t kMaxFileSize = uint64_t(1) << 48;
    // Links per file (MLINK beyond), as ext4's.
    static constexpr uint32_t kLinkMax = 65000;

    // INVAL without a page provider; NOMEM.
    static Result<Ref<RamFs>> create(const Config& config);
    ~RamFs() override;

    Ref<Vnode> root() override;
    const char* name() const override { return "ramfs"; }

    // Data pages in use, in bytes; the cap (0: none).
    uint64_t used_bytes() const;
    uint64_t max_bytes() const { return m_config.max_bytes; }

    // ---- for the nodes (ramfs.cc) ----
    PageProvider& pages() const { return *m_config.pages; }
    // Accounts one more data page against the cap: NOSPC if it would exceed it.
    Result<void> reserve_page();
    void release_pages(uint64_t count);
    uint64_t allocate_ino();
    ksync::Mutex& rename_lock() { return m_rename_lock; }

private:
    explicit RamFs(const Config& config);

    const Config m_config;
    Ref<Vnode> m_root; // a RamDir
    std::atomic<uint64_t> m_used_pages{0};
    std::atomic<uint64_t> m_next_ino{2}; // the root is inode 1
    ksync::Mutex m_rename_lock;
};

} // namespace fs::ramfs
