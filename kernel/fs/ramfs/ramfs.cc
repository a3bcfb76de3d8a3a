// ramfs nodes: files (page trees), directories (entry trees), symlinks and special nodes.
// Design, locking and lifetimes: ramfs.h.
#include <fs/clock.h>
#include <fs/ramfs/page_tree.h>
#include <fs/ramfs/ramfs.h>

#include <lib/intrusive_avl.h>
#include <lib/string.h>
#include <sync/rwlock.h>
#include <sync/thread_annotations.h>

#include <new>

namespace fs::ramfs {

namespace {

// st_size of a directory: a nominal size per entry, as tmpfs reports.
constexpr uint64_t kDirentNominalSize = 20;
// Cookies stay below this (Vnode::readdir's promise; the VFS adds 2 and d_off is signed).
constexpr uint64_t kCookieLimit = uint64_t(1) << 62;

const uint8_t g_zero_page[kPageSize] = {};

bool is_dot_or_dotdot(lib::StringView s)
{
    return (s.size() == 1 && s[0] == '.') || (s.size() == 2 && s[0] == '.' && s[1] == '.');
}

// A name for a new entry. The VFS sends only valid names; this is the filesystem's own guard.
Result<void> check_new_name(lib::StringView name)
{
    if (name.is_empty() || name.find('/') != lib::StringView::npos)
        return Errno::INVAL;
    if (name.size() > kNameMax)
        return Errno::NAMETOOLONG;
    if (is_dot_or_dotdot(name))
        return Errno::EXIST;
    return {};
}

// A write lock taken only when `lock` is non-null (rename's second directory and second
// node). The analysis cannot follow a conditional lock, hence TA_NO_ANALYSIS here and in
// rename, whose protocol ramfs.h states.
class MaybeWriteGuard {
public:
    explicit MaybeWriteGuard(ksync::RwLock* lock) TA_NO_ANALYSIS
    {
        if (lock)
            m_guard = new (m_storage) ksync::WriteGuard(*lock);
    }
    ~MaybeWriteGuard() TA_NO_ANALYSIS
    {
        if (m_guard)
            m_guard->~WriteGuard();
    }
    MaybeWriteGuard(const MaybeWriteGuard&) = delete;
    MaybeWriteGuard& operator=(const MaybeWriteGuard&) = delete;

private:
    alignas(ksync::WriteGuard) unsigned char m_storage[sizeof(ksync::WriteGuard)];
    ksync::WriteGuard* m_guard = nullptr;
};

// ---- nodes ---------------------------------------------------------------------------------

class RamNode : public Vnode {
public:
    RamNode(RamFs& fs, uint64_t ino, VnodeType type, uint32_t perm, uint32_t uid, uint32_t gid)
        : Vnode(fs, ino, type), m_mode(perm & kModePermMask), m_nlink(type == VnodeType::Directory ? 2 : 1), m_uid(uid),
          m_gid(gid)
    {
        Timespec t = now();
        m_atime = m_mtime = m_ctime = t;
    }

    RamFs& ramfs() const { return static_cast<RamFs&>(fs()); }

    Result<Attr> getattr() override;
    Result<void> setattr(const SetAttr& req) override;

    mutable ksync::RwLock m_lock;
    uint32_t m_mode TA_GUARDED(m_lock);  // permission bits only; the type is the Vnode's
    uint32_t m_nlink TA_GUARDED(m_lock); // directories: 2 + subdirectories; 0 once removed
    uint32_t m_uid TA_GUARDED(m_lock);
    uint32_t m_gid TA_GUARDED(m_lock);
    Timespec m_atime TA_GUARDED(m_lock);
    Timespec m_mtime TA_GUARDED(m_lock);
    Timespec m_ctime TA_GUARDED(m_lock);

protected:
    virtual uint64_t size_locked() const TA_REQ_SHARED(m_lock) { return 0; }
    virtual uint64_t blocks_locked() const TA_REQ_SHARED(m_lock) { return 0; }
    virtual uint64_t rdev() const { return 0; }
    // The size part of setattr (truncate). Default: not a regular file.
    virtual Result<void> resize_locked(uint64_t) TA_REQ(m_lock) { return is_directory() ? Errno::ISDIR : Errno::INVAL; }
};

Result<Attr> RamNode::getattr()
{
    ksync::ReadGuard guard(m_lock);
    Attr a;
    a.dev = fs().dev();
    a.ino = ino();
    a.mode = mode_type_bits(type()) | m_mode;
    a.nlink = m_nlink;
    a.uid = m_uid;
    a.gid = m_gid;
    a.rdev = rdev();
    a.size = size_locked();
    a.blocks = blocks_locked();
    a.blksize = uint32_t(kPageSize);
    a.atime = m_atime;
    a.mtime = m_mtime;
    a.ctime = m_ctime;
    return a;
}

Result<void> RamNode::setattr(const SetAttr& req)
{
    constexpr int64_t kNanosPerSecond = 1'000'000'000;
    if (((req.mask & SetAttr::kAtime) && (req.atime.nsec < 0 || req.atime.nsec >= kNanosPerSecond)) ||
        ((req.mask & SetAttr::kMtime) && (req.mtime.nsec < 0 || req.mtime.nsec >= kNanosPerSecond)))
        return Errno::INVAL;
    ksync::WriteGuard guard(m_lock);
    if (req.mask & SetAttr::kSize)
        TRY(resize_locked(req.size)); // first: on failure nothing else changes
    Timespec t = now();
    if (req.mask & SetAttr::kMode)
        m_mode = req.mode & kModePermMask;
    if (req.mask & SetAttr::kUid)
        m_uid = req.uid;
    if (req.mask & SetAttr::kGid)
        m_gid = req.gid;
    if (req.mask & SetAttr::kAtime)
        m_atime = req.atime;
    if (req.mask & SetAttr::kAtimeNow)
        m_atime = t;
    if (req.mask & SetAttr::kMtime)
        m_mtime = req.mtime;
    if (req.mask & (SetAttr::kMtimeNow | SetAttr::kSize))
        m_mtime = t;
    m_ctime = t;
    return {};
}

class RamFile final : public RamNode {
public:
    RamFile(RamFs& fs, uint64_t ino, uint32_t perm, uint32_t uid, uint32_t gid)
        : RamNode(fs, ino, VnodeType::Regular, perm, uid, gid), m_pages(fs.pages())
    {
    }
    ~RamFile() override
    {
        // Nobody else can reach the file now (its last reference is gone).
        ramfs().release_pages(m_pages.free_from(0));
    }

    Result<size_t> read(uint64_t offset, IoBuffer& buf) override;
    Result<size_t> write(uint64_t& offset, IoBuffer& buf, bool append) override;
    Result<PageHandle> page_for_mmap(uint64_t offset) override;
    Result<PageHandle> find_page(uint64_t offset) override;
    bool prefault_mappings() const override { return true; }

protected:
    uint64_t size_locked() const override TA_REQ_SHARED(m_lock) { return m_size; }
    uint64_t blocks_locked() const override TA_REQ_SHARED(m_lock)
    {
        ksync::ReadGuard pages(m_page_lock);
        return m_pages.data_pages() * (kPageSize / 512);
    }
    Result<void> resize_locked(uint64_t size) override TA_REQ(m_lock);

private:
    // The data page at `index`, or nullptr for a hole.
    void* data_page(uint64_t index) const TA_EXCL(m_page_lock)
    {
        ksync::ReadGuard pages(m_page_lock);
        return m_pages.find(index);
    }
    // The page at `index`, allocated (and counted against the cap) if it is a hole, which
    // `created` then says.
    Result<void*> page_locked(uint64_t index, bool& created) TA_REQ(m_page_lock);
    // Zeroes the rest of the page holding offset `from` (if allocated): called when the end
    // of the file moves, so bytes past it are zero even if an mmap stored some there.
    void zero_tail_locked(uint64_t from) TA_REQ(m_lock) TA_EXCL(m_page_lock);
    // Sets the size; m_page_lock is taken too, so that faults see it (see m_size).
    void set_size_locked(uint64_t size) TA_REQ(m_lock) TA_EXCL(m_page_lock);
    // The size as a fault sees it. m_size is written under both locks, so either one is
    // enough to read it; the analysis cannot express "either".
    uint64_t size_for_fault_locked() const TA_REQ_SHARED(m_page_lock) TA_NO_ANALYSIS { return m_size; }

    // Pages read and write look up under one hold of m_page_lock.
    static constexpr size_t kPagesPerLookup = 16;

    // The page tree's own lock, beside the node's m_lock (ramfs.h, "Locking"): a page fault
    // on a mapping of this file (page_for_mmap) takes only this one, never m_lock, so a
    // read or write that holds m_lock — of this file or any other — while its copy faults
    // on a mapping never waits for an m_lock. Taken after m_lock; held only for lookups and
    // insertions in the tree, never across a copy to or from the application.
    mutable ksync::RwLock m_page_lock;
    PageTree m_pages TA_GUARDED(m_page_lock);
    uint64_t m_size TA_GUARDED(m_lock) = 0; // written with m_page_lock held too
};

Result<size_t> RamFile::read(uint64_t offset, IoBuffer& buf)
{
    ksync::ReadGuard guard(m_lock);
    if (offset >= m_size)
        return size_t(0);
    uint64_t n = m_size - offset;
    if (n > buf.size())
        n = buf.size();
    size_t done = 0;
    while (done < n) {
        // The next pages are looked up under one hold of m_page_lock, then copied without it:
        // a copy may fault on a mapping of this very file, whose fault takes m_page_lock. The
        // pages stay: only a truncation frees pages, and it needs m_lock exclusively.
        uint64_t first = (offset + done) / kPageSize;
        uint64_t last = (offset + n - 1) / kPageSize;
        size_t count = last - first + 1 < kPagesPerLookup ? size_t(last - first + 1) : kPagesPerLookup;
        void* pages[kPagesPerLookup];
        {
            ksync::ReadGuard lookup(m_page_lock);
            for (size_t i = 0; i < count; ++i)
                pages[i] = m_pages.find(first + i);
        }
        for (size_t i = 0; i < count; ++i) {
            uint64_t pos = offset + done;
            size_t in = size_t(pos % kPageSize);
            size_t chunk = kPageSize - in;
            if (chunk > n - done)
                chunk = size_t(n - done);
            const uint8_t* src = pages[i] ? static_cast<const uint8_t*>(pages[i]) : g_zero_page;
            if (buf.copy_out(done, src + in, chunk).is_error())
                return done ? Result<size_t>(done) : Result<size_t>(Errno::FAULT);
            done += chunk;
        }
    }
    return done;
}

Result<void*> RamFile::page_locked(uint64_t index, bool& created)
{
    created = false;
    if (void* page = m_pages.find(index))
        return page;
    TRY(ramfs().reserve_page());
    auto page = m_pages.find_or_create(index, created);
    if (page.is_error())
        ramfs().release_pages(1);
    return page;
}

void RamFile::zero_tail_locked(uint64_t from)
{
    if (from % kPageSize == 0)
        return;
    if (void* page = data_page(from / kPageSize))
        lib::mem_set(static_cast<uint8_t*>(page) + from % kPageSize, 0, kPageSize - from % kPageSize);
}

void RamFile::set_size_locked(uint64_t size)
{
    ksync::WriteGuard pages(m_page_lock);
    m_size = size;
}

Result<size_t> RamFile::write(uint64_t& offset, IoBuffer& buf, bool append)
{
    ksync::WriteGuard guard(m_lock);
    uint64_t start = append ? m_size : offset;
    if (buf.size() == 0) {
        offset = start;
        return size_t(0);
    }
    if (start >= RamFs::kMaxFileSize)
        return Errno::FBIG;
    uint64_t n = RamFs::kMaxFileSize - start;
    if (n > buf.size())
        n = buf.size();
    if (start > m_size)
        zero_tail_locked(m_size); // the gap becomes part of the file
    size_t done = 0;
    Errno error = Errno(0);
    while (done < n && error == Errno(0)) {
        // As in read: the next pages under one hold of m_page_lock, the copies without it.
        // A hole is allocated only as the last page of a batch, so that a copy that fails
        // leaves no page allocated past it; a page that cannot be had ends the write there.
        uint64_t first = (start + done) / kPageSize;
        uint64_t last = (start + n - 1) / kPageSize;
        size_t count = last - first + 1 < kPagesPerLookup ? size_t(last - first + 1) : kPagesPerLookup;
        void* pages[kPagesPerLookup];
        {
            ksync::WriteGuard lookup(m_page_lock);
            for (size_t i = 0; i < count; ++i) {
                bool created = false;
                auto page = page_locked(first + i, created);
                if (page.is_error()) {
                    error = page.error();
                    count = i;
                    break;
                }
                pages[i] = page.value();
                if (created) {
                    count = i + 1;
                    break;
                }
            }
        }
        for (size_t i = 0; i < count; ++i) {
            uint64_t pos = start + done;
            size_t in = size_t(pos % kPageSize);
            size_t chunk = kPageSize - in;
            if (chunk > n - done)
                chunk = size_t(n - done);
            auto* bytes = static_cast<uint8_t*>(pages[i]);
            if (buf.copy_in(done, bytes + in, chunk).is_error()) {
                // The copy may have stored part of the chunk: keep the bytes past the end of
                // the file (which stays at max(m_size, pos)) zero.
                uint64_t end = m_size > pos ? m_size : pos;
                if (end < pos + chunk)
                    lib::mem_set(bytes + in + (end - pos), 0, size_t(pos + chunk - end));
                error = Errno::FAULT;
                break;
            }
            done += chunk;
        }
    }
    if (done == 0)
        return error;
    if (start + done > m_size)
        set_size_locked(start + done);
    m_mtime = m_ctime = now();
    offset = start + done;
    return done;
}

Result<void> RamFile::resize_locked(uint64_t size)
{
    if (size > RamFs::kMaxFileSize)
        return Errno::FBIG;
    if (size < m_size) {
        uint64_t keep = (size + kPageSize - 1) / kPageSize;
        // The size first: a fault that looks a page up from now on finds it past the end
        // (NXIO), and one that looked it up before is undone by the revocation (which it
        // notices: core/memory.cc checks for revocations before mapping).
        uint64_t old_size = m_size;
        set_size_locked(size);
        if (keep * kPageSize < old_size)
            ramfs().pages().revoke_mappings(*this, keep * kPageSize);
        uint64_t freed;
        {
            ksync::WriteGuard pages(m_page_lock);
            freed = m_pages.free_from(keep);
        }
        ramfs().release_pages(freed);
        zero_tail_locked(size); // must read as zero if the file grows again
    } else {
        zero_tail_locked(m_size); // may hold bytes an mmap stored past the old end
        set_size_locked(size);
    }
    return {};
}

Result<PageHandle> RamFile::page_for_mmap(uint64_t offset)
{
    if (offset % kPageSize != 0)
        return Errno::INVAL;
    uint64_t index = offset / kPageSize;
    {
        ksync::ReadGuard pages(m_page_lock);
        if (offset >= size_for_fault_locked())
            return Errno::NXIO;
        if (void* page = m_pages.find(index))
            return PageHandle{ramfs().pages().physical_address(page), page};
    }
    ksync::WriteGuard pages(m_page_lock);
    if (offset >= size_for_fault_locked())
        return Errno::NXIO; // truncated meanwhile
    bool created = false;
    void* page = TRY(page_locked(index, created));
    return PageHandle{ramfs().pages().physical_address(page), page};
}

Result<PageHandle> RamFile::find_page(uint64_t offset)
{
    if (offset % kPageSize != 0)
        return Errno::INVAL;
    ksync::ReadGuard pages(m_page_lock);
    if (offset >= size_for_fault_locked())
        return Errno::NXIO;
    void* page = m_pages.find(offset / kPageSize);
    if (!page)
        return Errno::NOENT;
    return PageHandle{ramfs().pages().physical_address(page), page};
}

class RamSymlink final : public RamNode {
public:
    RamSymlink(RamFs& fs, uint64_t ino, char* target, size_t length)
        : RamNode(fs, ino, VnodeType::Symlink, 0777, 0, 0), m_target(target), m_length(length)
    {
    }
    ~RamSymlink() override { delete[] m_target; }

    Result<size_t> readlink(char* buf, size_t size) override
    {
        lib::mem_copy(buf, m_target, size < m_length ? size : m_length);
        return m_length;
    }

protected:
    uint64_t size_locked() const override TA_REQ_SHARED(m_lock) { return m_length; }

private:
    char* const m_target; // immutable: read without the lock
    const size_t m_length;
};

// Device, fifo and socket nodes: attributes only (opening them is the VFS's business).
class RamSpecial final : public RamNode {
public:
    RamSpecial(RamFs& fs, uint64_t ino, VnodeType type, uint32_t perm, uint64_t rdev)
        : RamNode(fs, ino, type, perm, 0, 0), m_rdev(rdev)
    {
    }

protected:
    uint64_t rdev() const override { return m_rdev; }

private:
    const uint64_t m_rdev;
};

// ---- directories -----------------------------------------------------------------------

struct ByName {};
struct ByCookie {};

struct Entry : lib::AvlLink<ByName>, lib::AvlLink<ByCookie> {
    char* name = nullptr;
    size_t length = 0;
    uint64_t cookie = 0;
    Ref<RamNode> node;
    Entry* next_free = nullptr; // teardown work list

    ~Entry() { delete[] name; }
    lib::StringView name_view() const { return {name, length}; }
};

// Names ordered bytewise, shorter first on a common prefix.
struct NameKey {
    lib::StringView s;
    bool operator<(const NameKey& other) const
    {
        size_t n = s.size() < other.s.size() ? s.size() : other.s.size();
        int c = lib::mem_compare(s.data(), other.s.data(), n);
        return c < 0 || (c == 0 && s.size() < other.s.size());
    }
};
struct EntryName {
    NameKey operator()(const Entry& e) const { return {e.name_view()}; }
};
struct EntryCookie {
    uint64_t operator()(const Entry& e) const { return e.cookie; }
};

Result<Entry*> make_entry(lib::StringView name)
{
    auto* e = new (std::nothrow) Entry();
    if (!e)
        return Errno::NOMEM;
    e->name = new (std::nothrow) char[name.size()];
    if (!e->name) {
        delete e;
        return Errno::NOMEM;
    }
    lib::mem_copy(e->name, name.data(), name.size());
    e->length = name.size();
    return e;
}

class RamDir final : public RamNode {
public:
    RamDir(RamFs& fs, uint64_t ino, uint32_t perm, uint32_t uid, uint32_t gid, RamDir* parent)
        : RamNode(fs, ino, VnodeType::Directory, perm, uid, gid), m_parent(parent)
    {
    }
    ~RamDir() override;

    Result<Ref<Vnode>> lookup(lib::StringView name) override;
    Result<Ref<Vnode>> create(lib::StringView name, uint32_t mode) override;
    Result<Ref<Vnode>> mkdir(lib::StringView name, uint32_t mode) override;
    Result<Ref<Vnode>> mknod(lib::StringView name, uint32_t mode, uint64_t rdev) override;
    Result<Ref<Vnode>> symlink(lib::StringView name, lib::StringView target) override;
    Result<void> link(lib::StringView name, Vnode& target) override;
    Result<void> unlink(lib::StringView name) override;
    Result<void> rmdir(lib::StringView name) override;
    Result<void> rename(lib::StringView old_name, Vnode& new_dir, lib::StringView new_name, unsigned flags) override;
    Result<void> readdir(uint64_t cookie, DirSink& sink) override;

protected:
    uint64_t size_locked() const override TA_REQ_SHARED(m_lock) { return m_by_name.size() * kDirentNominalSize; }

private:
    using NameTree = lib::IntrusiveAvlTree<Entry, EntryName, ByName>;
    using CookieTree = lib::IntrusiveAvlTree<Entry, EntryCookie, ByCookie>;

    // Links a new entry for `node` (EXIST, NOENT if this directory was removed, NOSPC if
    // its cookies ran out); on success returns the node.
    Result<Ref<Vnode>> add(lib::StringView name, Ref<RamNode> node);
    Result<void> insert_locked(Entry* e, bool is_directory) TA_REQ(m_lock);
    void link_entry_locked(Entry* e) TA_REQ(m_lock);
    void unlink_entry_locked(Entry* e) TA_REQ(m_lock);
    Entry* find_locked(lib::StringView name) const TA_REQ_SHARED(m_lock) { return m_by_name.find(NameKey{name}); }
    Result<void> unlink_locked(lib::StringView name, Entry*& dead, Ref<RamNode>& doomed) TA_REQ(m_lock);
    Result<void> rmdir_locked(lib::StringView name, Entry*& dead, Ref<RamNode>& doomed) TA_REQ(m_lock);
    Result<void> link_locked(Entry* e, RamNode& target) TA_REQ(m_lock);
    Result<void> rename_locked(lib::StringView old_name, RamDir& dst, lib::StringView new_name, unsigned flags,
                               Entry*& fresh, Entry*& dead_old, Entry*& dead_victim, Ref<RamNode>& doomed)
        TA_NO_ANALYSIS;
    // Moves every entry onto `list` (teardown). Only for a directory nobody else can reach.
    void take_entries(Entry*& list) TA_NO_ANALYSIS;

    NameTree m_by_name TA_GUARDED(m_lock);
    CookieTree m_by_cookie TA_GUARDED(m_lock);
    uint64_t m_next_cookie TA_GUARDED(m_lock) = 0;
    bool m_removed TA_GUARDED(m_lock) = false;

public:
    // The directory holding this one's entry; null for the root and once removed. Written
    // with the filesystem's rename mutex and m_lock both held; read with either (ramfs.h).
    RamDir* m_parent;
};

RamDir::~RamDir()
{
    // Entries, and the entries of directories whose last reference they held, are freed from
    // a work list: no recursion however deep the tree. A non-empty directory dies only with
    // its filesystem (a removed one is empty), when nothing else can reach any of it.
    Entry* work = nullptr;
    take_entries(work);
    while (work) {
        Entry* e = work;
        work = e->next_free;
        Ref<RamNode> node = std::move(e->node);
        delete e;
        if (node->is_directory() && node->ref_count() == 1)
            static_cast<RamDir&>(*node).take_entries(work);
        node.reset(); // an emptied directory's destructor finds nothing to recurse into
    }
}

void RamDir::take_entries(Entry*& list)
{
    m_by_cookie.clear([](Entry&) {});
    m_by_name.clear([&list](Entry& e) {
        e.next_free = list;
        list = &e;
    });
}

void RamDir::link_entry_locked(Entry* e)
{
    e->cookie = m_next_cookie++;
    m_by_name.insert(*e);
    m_by_cookie.insert(*e);
}

void RamDir::unlink_entry_locked(Entry* e)
{
    m_by_name.erase(*e);
    m_by_cookie.erase(*e);
}

Result<Ref<Vnode>> RamDir::lookup(lib::StringView name)
{
    ksync::ReadGuard guard(m_lock);
    if (m_removed)
        return Errno::NOENT;
    if (name.size() == 2 && name[0] == '.' && name[1] == '.')
        return Ref<Vnode>(m_parent ? static_cast<Vnode*>(m_parent) : this);
    if (name.size() == 1 && name[0] == '.')
        return Ref<Vnode>(this);
    Entry* e = find_locked(name);
    if (!e)
        return Errno::NOENT;
    return Ref<Vnode>(e->node);
}

Result<void> RamDir::insert_locked(Entry* e, bool is_directory)
{
    if (m_removed)
        return Errno::NOENT;
    if (find_locked(e->name_view()))
        return Errno::EXIST;
    if (m_next_cookie >= kCookieLimit)
        return Errno::NOSPC;
    if (is_directory && m_nlink >= RamFs::kLinkMax)
        return Errno::MLINK;
    link_entry_locked(e);
    if (is_directory)
        m_nlink++;
    m_mtime = m_ctime = now();
    return {};
}

Result<Ref<Vnode>> RamDir::add(lib::StringView name, Ref<RamNode> node)
{
    Entry* e = TRY(make_entry(name));
    e->node = node;
    Result<void> inserted;
    {
        ksync::WriteGuard guard(m_lock);
        inserted = insert_locked(e, node->is_directory());
    }
    if (inserted.is_error()) {
        delete e;
        return inserted.error();
    }
    return Ref<Vnode>(std::move(node));
}

Result<Ref<Vnode>> RamDir::create(lib::StringView name, uint32_t mode)
{
    TRY(check_new_name(name));
    Ref<RamNode> node = TRY(make_ref<RamFile>(ramfs(), ramfs().allocate_ino(), mode, 0u, 0u));
    return add(name, std::move(node));
}

Result<Ref<Vnode>> RamDir::mkdir(lib::StringView name, uint32_t mode)
{
    TRY(check_new_name(name));
    Ref<RamNode> node = TRY(make_ref<RamDir>(ramfs(), ramfs().allocate_ino(), mode, 0u, 0u, this));
    return add(name, std::move(node));
}

Result<Ref<Vnode>> RamDir::mknod(lib::StringView name, uint32_t mode, uint64_t rdev)
{
    TRY(check_new_name(name));
    VnodeType type;
    if (!type_from_mode(mode, type) || type == VnodeType::Directory || type == VnodeType::Symlink)
        return Errno::INVAL;
    if (type == VnodeType::Regular)
        return create(name, mode);
    bool device = type == VnodeType::CharDevice || type == VnodeType::BlockDevice;
    Ref<RamNode> node = TRY(make_ref<RamSpecial>(ramfs(), ramfs().allocate_ino(), type, mode, device ? rdev : 0));
    return add(name, std::move(node));
}

Result<Ref<Vnode>> RamDir::symlink(lib::StringView name, lib::StringView target)
{
    TRY(check_new_name(name));
    if (target.is_empty())
        return Errno::NOENT;
    if (target.size() >= kPathMax)
        return Errno::NAMETOOLONG;
    char* copy = new (std::nothrow) char[target.size()];
    if (!copy)
        return Errno::NOMEM;
    lib::mem_copy(copy, target.data(), target.size());
    auto node = make_ref<RamSymlink>(ramfs(), ramfs().allocate_ino(), copy, target.size());
    if (node.is_error()) {
        delete[] copy;
        return node.error();
    }
    return add(name, Ref<RamNode>(node.release_value()));
}

Result<void> RamDir::link_locked(Entry* e, RamNode& target)
{
    if (m_removed)
        return Errno::NOENT;
    if (find_locked(e->name_view()))
        return Errno::EXIST;
    if (m_next_cookie >= kCookieLimit)
        return Errno::NOSPC;
    Timespec t = now();
    {
        ksync::WriteGuard node_guard(target.m_lock);
        if (target.m_nlink == 0)
            return Errno::NOENT; // unlinked meanwhile
        if (target.m_nlink >= RamFs::kLinkMax)
            return Errno::MLINK;
        target.m_nlink++;
        target.m_ctime = t;
    }
    e->node = Ref<RamNode>(&target);
    link_entry_locked(e);
    m_mtime = m_ctime = t;
    return {};
}

Result<void> RamDir::link(lib::StringView name, Vnode& target)
{
    if (&target.fs() != &fs())
        return Errno::XDEV;
    if (target.is_directory())
        return Errno::PERM;
    TRY(check_new_name(name));
    Entry* e = TRY(make_entry(name));
    Result<void> linked;
    {
        ksync::WriteGuard guard(m_lock);
        linked = link_locked(e, static_cast<RamNode&>(target));
    }
    if (linked.is_error())
        delete e;
    return linked;
}

Result<void> RamDir::unlink_locked(lib::StringView name, Entry*& dead, Ref<RamNode>& doomed)
{
    Entry* e = find_locked(name);
    if (!e)
        return Errno::NOENT;
    RamNode& node = *e->node;
    if (node.is_directory())
        return Errno::ISDIR;
    Timespec t = now();
    {
        ksync::WriteGuard node_guard(node.m_lock);
        node.m_nlink--;
        node.m_ctime = t;
    }
    unlink_entry_locked(e);
    m_mtime = m_ctime = t;
    doomed = std::move(e->node);
    dead = e;
    return {};
}

Result<void> RamDir::unlink(lib::StringView name)
{
    if (is_dot_or_dotdot(name))
        return Errno::ISDIR;
    Ref<RamNode> doomed; // the node may die here: after the lock (declared before the guard)
    Entry* dead = nullptr;
    Result<void> result;
    {
        ksync::WriteGuard guard(m_lock);
        result = unlink_locked(name, dead, doomed);
    }
    delete dead;
    return result;
}

Result<void> RamDir::rmdir_locked(lib::StringView name, Entry*& dead, Ref<RamNode>& doomed)
{
    Entry* e = find_locked(name);
    if (!e)
        return Errno::NOENT;
    if (!e->node->is_directory())
        return Errno::NOTDIR;
    auto& child = static_cast<RamDir&>(*e->node);
    Timespec t = now();
    {
        ksync::WriteGuard child_guard(child.m_lock);
        if (!child.m_by_name.empty())
            return Errno::NOTEMPTY;
        child.m_removed = true;
        child.m_nlink = 0;
        child.m_parent = nullptr;
        child.m_ctime = t;
    }
    unlink_entry_locked(e);
    m_nlink--;
    m_mtime = m_ctime = t;
    doomed = std::move(e->node);
    dead = e;
    return {};
}

Result<void> RamDir::rmdir(lib::StringView name)
{
    if (name.size() == 1 && name[0] == '.')
        return Errno::INVAL;
    if (name.size() == 2 && name[0] == '.' && name[1] == '.')
        return Errno::NOTEMPTY;
    Ref<RamNode> doomed;
    Entry* dead = nullptr;
    Result<void> result;
    {
        ksync::MutexGuard rename_guard(ramfs().rename_lock());
        ksync::WriteGuard guard(m_lock);
        result = rmdir_locked(name, dead, doomed);
    }
    delete dead;
    return result;
}

// Called with the rename mutex, this directory's lock and dst's lock held (one lock if the
// same directory). On success `fresh` is consumed (set to null) and the entries and node that
// went away are handed back to be freed after the locks.
Result<void> RamDir::rename_locked(lib::StringView old_name, RamDir& dst, lib::StringView new_name, unsigned flags,
                                   Entry*& fresh, Entry*& dead_old, Entry*& dead_victim,
                                   Ref<RamNode>& doomed) TA_NO_ANALYSIS
{
    if (m_removed || dst.m_removed)
        return Errno::NOENT;
    Entry* from = find_locked(old_name);
    if (!from)
        return Errno::NOENT;
    Entry* to = dst.find_locked(new_name);
    RamNode* moving = from->node.get();
    RamNode* victim = to ? to->node.get() : nullptr;
    if (victim == moving)
        return {}; // the same file under both names (or the same entry): nothing to do
    if (to && (flags & kRenameNoReplace))
        return Errno::EXIST;
    bool moving_dir = moving->is_directory();
    if (moving_dir) {
        // Not into itself or below: no ancestor of dst may be the directory being moved.
        // Parent pointers are frozen by the rename mutex.
        for (RamDir* p = &dst; p; p = p->m_parent) {
            if (p == moving)
                return Errno::INVAL;
        }
        if (victim && !victim->is_directory())
            return Errno::NOTDIR;
        // The victim is a subdirectory of dst; if it is this directory (or holds it) it is
        // not empty — and its lock is already held.
        if (victim == this)
            return Errno::NOTEMPTY;
    } else if (victim && victim->is_directory()) {
        return Errno::ISDIR;
    }
    if (dst.m_next_cookie >= kCookieLimit)
        return Errno::NOSPC;
    if (moving_dir && &dst != this && !victim && dst.m_nlink >= RamFs::kLinkMax)
        return Errno::MLINK;

    // The two nodes' own locks, in address order (both directories or both not).
    RamNode* first = moving;
    RamNode* second = victim;
    if (second && second < first) {
        first = victim;
        second = moving;
    }
    ksync::WriteGuard first_guard(first->m_lock);
    MaybeWriteGuard second_guard(second ? &second->m_lock : nullptr);
    if (victim && victim->is_directory() && !static_cast<RamDir*>(victim)->m_by_name.empty())
        return Errno::NOTEMPTY;

    Timespec t = now();
    unlink_entry_locked(from);
    if (to) {
        dst.unlink_entry_locked(to);
        if (victim->is_directory()) {
            auto* gone = static_cast<RamDir*>(victim);
            gone->m_removed = true;
            gone->m_nlink = 0;
            gone->m_parent = nullptr;
            dst.m_nlink--;
        } else {
            victim->m_nlink--;
        }
        victim->m_ctime = t;
        doomed = std::move(to->node);
        dead_victim = to;
    }
    fresh->node = std::move(from->node);
    dead_old = from;
    dst.link_entry_locked(fresh);
    fresh = nullptr;
    if (moving_dir && &dst != this) {
        static_cast<RamDir*>(moving)->m_parent = &dst;
        m_nlink--;
        dst.m_nlink++;
    }
    moving->m_ctime = t;
    m_mtime = m_ctime = t;
    dst.m_mtime = dst.m_ctime = t;
    return {};
}

Result<void> RamDir::rename(lib::StringView old_name, Vnode& new_dir, lib::StringView new_name, unsigned flags)
{
    if (flags & ~kRenameNoReplace)
        return Errno::INVAL;
    if (&new_dir.fs() != &fs())
        return Errno::XDEV;
    if (!new_dir.is_directory())
        return Errno::NOTDIR;
    if (is_dot_or_dotdot(old_name))
        return Errno::BUSY;
    if (old_name.is_empty() || old_name.size() > kNameMax)
        return Errno::NOENT;
    TRY(check_new_name(new_name));
    auto& dst = static_cast<RamDir&>(new_dir);
    Entry* fresh = TRY(make_entry(new_name));
    Entry* dead_old = nullptr;
    Entry* dead_victim = nullptr;
    Ref<RamNode> doomed; // dropped after the locks
    Result<void> result;
    {
        ksync::MutexGuard rename_guard(ramfs().rename_lock());
        ksync::WriteGuard src_guard(m_lock);
        MaybeWriteGuard dst_guard(&dst == this ? nullptr : &dst.m_lock);
        result = rename_locked(old_name, dst, new_name, flags, fresh, dead_old, dead_victim, doomed);
    }
    delete fresh; // unused unless the rename happened
    delete dead_old;
    delete dead_victim;
    return result;
}

Result<void> RamDir::readdir(uint64_t cookie, DirSink& sink)
{
    ksync::ReadGuard guard(m_lock);
    for (Entry* e = m_by_cookie.lower_bound(cookie); e; e = CookieTree::next(*e)) {
        if (!sink.emit(e->node->ino(), dirent_type(e->node->type()), e->name_view(), e->cookie + 1))
            break;
    }
    return {};
}

} // namespace

// ---- the filesystem ----------------------------------------------------------------------

Result<Ref<RamFs>> RamFs::create(const Config& config)
{
    if (!config.pages)
        return Errno::INVAL;
    auto* fs = new (std::nothrow) RamFs(config);
    if (!fs)
        return Errno::NOMEM;
    Ref<RamFs> ref(fs);
    auto* root = new (std::nothrow) RamDir(*fs, 1, config.root_mode, config.root_uid, config.root_gid, nullptr);
    if (!root)
        return Errno::NOMEM;
    fs->m_root = Ref<Vnode>(root);
    return ref;
}

RamFs::RamFs(const Config& config) : m_config(config) {}

RamFs::~RamFs()
{
    // The tree first: its files give their pages back through m_used_pages.
    m_root.reset();
}

Ref<Vnode> RamFs::root() { return m_root; }

uint64_t RamFs::used_bytes() const
{
    return m_used_pages.load(std::memory_order_relaxed) * kPageSize; // relaxed: a statistic
}

Result<void> RamFs::reserve_page()
{
    // relaxed: a counter that publishes nothing; the CAS alone keeps the cap exact.
    if (m_config.max_bytes == 0) {
        m_used_pages.fetch_add(1, std::memory_order_relaxed);
        return {};
    }
    uint64_t limit = m_config.max_bytes / kPageSize;
    uint64_t used = m_used_pages.load(std::memory_order_relaxed);
    do {
        if (used >= limit)
            return Errno::NOSPC;
    } while (!m_used_pages.compare_exchange_weak(used, used + 1, std::memory_order_relaxed));
    return {};
}

void RamFs::release_pages(uint64_t count)
{
    m_used_pages.fetch_sub(count, std::memory_order_relaxed); // relaxed: see reserve_page
}

uint64_t RamFs::allocate_ino()
{
    return m_next_ino.fetch_add(1, std::memory_order_relaxed); // relaxed: only uniqueness matters
}

} // namespace fs::ramfs
