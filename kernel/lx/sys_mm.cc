// Memory: brk, mmap, munmap, mprotect, madvise, mremap, mincore, msync over the application
// address space (core/memory.h keeps VMAs and page tables in step; pages are demand-faulted).
// File mappings: lx/file_mapping.h (the objects), core/memory.h (faults, copy-on-write).
#include <core/memory.h>
#include <fs/io_buffer.h>
#include <fs/open_file.h>
#include <lx/file_mapping.h>
#include <lx/files.h>
#include <lx/process.h>
#include <lx/syscall.h>
#include <lx/uaccess.h>
#include <sync/mutex.h>

namespace lx {
namespace {

constexpr uint64_t kPage = 4096;
constexpr int kProtRead = 1, kProtWrite = 2, kProtExec = 4;
constexpr int kMapShared = 0x01, kMapPrivate = 0x02, kMapSharedValidate = 0x03, kMapTypeMask = 0x0f;
constexpr int kMapFixed = 0x10, kMapAnonymous = 0x20;
constexpr int kMapGrowsdown = 0x100, kMapDenywrite = 0x800, kMapExecutable = 0x1000, kMapLocked = 0x2000;
constexpr int kMapNoreserve = 0x4000, kMapPopulate = 0x8000, kMapNonblock = 0x10000, kMapStack = 0x20000;
constexpr int kMapHugetlb = 0x40000, kMapSync = 0x80000, kMapFixedNoreplace = 0x100000;
constexpr int kMapKnown = kMapTypeMask | kMapFixed | kMapAnonymous | kMapGrowsdown | kMapDenywrite | kMapExecutable |
                          kMapLocked | kMapNoreserve | kMapPopulate | kMapNonblock | kMapStack | kMapHugetlb |
                          kMapSync | kMapFixedNoreplace | (0x3f << 26) /* huge page size bits */;

uint64_t page_up(uint64_t v) { return (v + kPage - 1) & ~(kPage - 1); }

Result<mm::Protection> to_protection(uint64_t prot)
{
    if (prot & ~uint64_t(kProtRead | kProtWrite | kProtExec))
        return Errno::INVAL; // PROT_GROWSDOWN/UP: not supported
    mm::Protection p = mm::Protection::None;
    if (prot & kProtRead)
        p = p | mm::Protection::Read;
    if (prot & kProtWrite)
        p = p | mm::Protection::Read | mm::Protection::Write; // x86: no write-only pages
    if (prot & kProtExec)
        p = p | mm::Protection::Read | mm::Protection::Exec;
    return p;
}

// The program break: [g_brk_start, g_brk) is mapped read-write; brk moves its end.
constinit ksync::Mutex g_brk_lock;
uint64_t g_brk_start = 0;
uint64_t g_brk = 0;

// A private mapping filled with a copy of the file's bytes: for files whose pages cannot be
// mapped (page_for_mmap NOTSUP, e.g. a root image the boot loader left unaligned). Exactly what
// the program sees until it writes; its writes stay its own.
int64_t map_file_copy(uint64_t addr, uint64_t length, mm::Protection prot, mm::MapFlags mflags, fs::OpenFile& f,
                      uint64_t file_size, uint64_t offset)
{
    uint64_t size = page_up(length);
    auto r = core::map_anonymous(addr & ~(kPage - 1), size, mm::Protection::ReadWrite, mflags);
    if (r.is_error())
        return err(r.error() == Errno::INVAL ? Errno::NOMEM : r.error());
    uint64_t base = r.value();
    uint64_t avail = offset < file_size ? file_size - offset : 0;
    uint64_t to_copy = length < avail ? length : avail;
    uint64_t done = 0;
    while (done < to_copy) {
        size_t chunk = to_copy - done < (1u << 20) ? size_t(to_copy - done) : size_t(1) << 20;
        fs::KernelBuffer kb(reinterpret_cast<void*>(base + done), chunk);
        auto n = f.pread(int64_t(offset + done), kb);
        if (n.is_error() || n.value() == 0) {
            (void)core::unmap(base, size);
            return err(n.is_error() ? n.error() : Errno::IO);
        }
        done += n.value();
    }
    if (prot != mm::Protection::ReadWrite) {
        if (auto p = core::protect(base, size, prot); p.is_error()) {
            (void)core::unmap(base, size);
            return err(p.error());
        }
    }
    return int64_t(base);
}

// Maps the file's pages that exist in [offset, offset + size) at [base, ...) now (see
// fs::Vnode::prefault_mappings); holes are left to their faults. The pages are looked up
// without the memory lock, a batch at a time.
void prefault_file(fs::Vnode& v, mm::MemoryObject& object, uint64_t base, uint64_t size, uint64_t offset)
{
    constexpr size_t kBatch = 64;
    uint64_t phys[kBatch];
    for (uint64_t done = 0; done < size;) {
        uint64_t revocations = core::object_revocations();
        uint64_t first = done;
        size_t n = 0;
        for (; n < kBatch && done < size; done += kPage) {
            auto page = v.find_page(offset + done);
            if (page.is_error()) {
                if (page.error() == Errno::NOENT)
                    break; // a hole: map what we have, then go on after it
                return;    // past the end (NXIO), or unmappable
            }
            phys[n++] = page.value().phys;
        }
        if (n)
            core::prefault_object_pages(base + first, object, offset + first, phys, n, revocations);
        if (n < kBatch && done < size)
            done += kPage; // skip the hole
    }
}

// mmap of a file: private mappings map the file's pages read-only and copy a page when it is
// first written (copy-on-write); shared ones map the file's pages themselves, so stores reach
// the file and every other mapping of it at once.
int64_t map_file(uint64_t addr, uint64_t length, mm::Protection prot, mm::MapFlags mflags, int flags, int type,
                 int fd, uint64_t offset)
{
    auto file = fd_table().get(fd);
    if (file.is_error())
        return err(Errno::BADF);
    fs::OpenFile& f = *file.value();
    if (f.is_path_only())
        return err(Errno::BADF);
    if (!f.can_read())
        return err(Errno::ACCES);
    auto attr = f.getattr();
    if (attr.is_error())
        return err(attr.error());
    if ((attr.value().mode & fs::kModeTypeMask) != fs::kModeRegular || !f.location())
        return err(Errno::NODEV);
    bool shared = type != kMapPrivate;
    if (shared && mm::has_all(prot, mm::Protection::Write) && !f.can_write())
        return err(Errno::ACCES);
    if (offset > kAppLimit || length > kAppLimit - offset)
        return err(Errno::OVERFLOW);
    auto object = file_object(f);
    if (object.is_error() && object.error() == Errno::NOTSUP) {
        if (shared && mm::has_all(prot, mm::Protection::Write))
            return err(Errno::NODEV);
        return map_file_copy(addr, length, prot, mflags, f, attr.value().size, offset);
    }
    if (object.is_error())
        return err(object.error());
    fs::Vnode& vnode = *f.location()->vnode;
    // What mprotect may grant later: a shared mapping of a file opened read-only never
    // becomes writable.
    mm::Protection max_prot = mm::Protection::ReadWriteExec;
    if (shared && !f.can_write())
        max_prot = mm::Protection::ReadExec;
    core::ObjectMapping m;
    m.hint = addr & ~(kPage - 1);
    m.size = page_up(length);
    m.prot = prot;
    m.flags = mflags;
    m.object = object.value();
    m.offset = offset;
    m.shared = shared;
    m.max_prot = max_prot;
    auto mapped = core::map_object(m);
    if (!mapped.is_error() && (vnode.prefault_mappings() || (flags & kMapPopulate))) {
        uint64_t in_file = offset < attr.value().size ? attr.value().size - offset : 0; // the rest is SIGBUS
        prefault_file(vnode, *object.value(), mapped.value(), m.size < in_file ? m.size : in_file, offset);
    }
    object.value()->release();
    if (mapped.is_error())
        return err(mapped.error() == Errno::INVAL ? Errno::NOMEM : mapped.error());
    return int64_t(mapped.value());
}

} // namespace

void init_program_break(uint64_t start)
{
    ksync::MutexGuard guard(g_brk_lock);
    g_brk_start = g_brk = page_up(start);
}

uint64_t program_break_start()
{
    ksync::MutexGuard guard(g_brk_lock);
    return g_brk_start;
}

int64_t sys_brk(const Args& a)
{
    ksync::MutexGuard guard(g_brk_lock);
    uint64_t want = a.u(0);
    if (g_brk_start == 0 || want < g_brk_start || want >= kAppLimit)
        return int64_t(g_brk);
    uint64_t old_end = page_up(g_brk), new_end = page_up(want);
    if (new_end > old_end) {
        auto r = core::map_anonymous(old_end, new_end - old_end, mm::Protection::ReadWrite,
                                     mm::MapFlags::FixedNoReplace);
        if (r.is_error())
            return int64_t(g_brk); // Linux: the unchanged break means failure
    } else if (new_end < old_end) {
        if (core::unmap(new_end, old_end - new_end).is_error())
            return int64_t(g_brk);
    }
    g_brk = want;
    return int64_t(g_brk);
}

int64_t sys_mmap(const Args& a)
{
    uint64_t addr = a.u(0), length = a.u(1);
    int flags = a.i(3);
    uint64_t offset = a.u(5);
    if (length == 0 || (flags & ~kMapKnown))
        return err(Errno::INVAL);
    int type = flags & kMapTypeMask;
    if (type != kMapShared && type != kMapPrivate && type != kMapSharedValidate)
        return err(Errno::INVAL);
    if (offset % kPage)
        return err(Errno::INVAL);
    if (length > kAppLimit)
        return err(Errno::NOMEM);
    auto prot = to_protection(a.u(2));
    if (prot.is_error())
        return err(prot.error());
    mm::MapFlags mflags = mm::MapFlags::None;
    if (flags & kMapFixedNoreplace)
        mflags = mm::MapFlags::FixedNoReplace;
    else if (flags & kMapFixed)
        mflags = mm::MapFlags::Fixed;
    if (mflags != mm::MapFlags::None && addr % kPage)
        return err(Errno::INVAL);
    if (!(flags & kMapAnonymous))
        return map_file(addr, length, prot.value(), mflags, flags, type, a.i(4), offset);
    // One process and no fork: shared anonymous memory is private memory nobody else sees.
    auto r = core::map_anonymous(addr & ~(kPage - 1), page_up(length), prot.value(), mflags);
    if (r.is_error())
        return err(r.error() == Errno::INVAL ? Errno::NOMEM : r.error());
    return int64_t(r.value());
}

int64_t sys_munmap(const Args& a)
{
    if (a.u(0) % kPage || a.u(1) == 0)
        return err(Errno::INVAL);
    return ret(core::unmap(a.u(0), page_up(a.u(1))));
}

int64_t sys_mprotect(const Args& a)
{
    if (a.u(0) % kPage)
        return err(Errno::INVAL);
    auto prot = to_protection(a.u(2));
    if (prot.is_error())
        return err(prot.error());
    if (a.u(1) == 0)
        return 0;
    if (!app_range_ok(a.u(0), page_up(a.u(1))))
        return err(Errno::NOMEM);
    return ret(core::protect(a.u(0), page_up(a.u(1)), prot.value()));
}

int64_t sys_madvise(const Args& a)
{
    constexpr int kMadvDontneed = 4, kMadvFree = 8, kMadvRemove = 9, kMadvLast = 25; // MADV_COLLAPSE
    uint64_t addr = a.u(0), length = a.u(1);
    int advice = a.i(2);
    // Defined: 0-4 and 8-25 (5-7 never were; hwpoison and soft-offline need hardware).
    if (addr % kPage || advice < 0 || advice > kMadvLast || (advice > kMadvDontneed && advice < kMadvFree))
        return err(Errno::INVAL);
    if (length == 0)
        return 0;
    if (length > kAppLimit || page_up(length) > kAppLimit)
        return err(Errno::INVAL);
    // Every page of the range must be mapped (kernel addresses never are).
    if (!app_range_ok(addr, page_up(length)))
        return err(Errno::NOMEM);
    if (advice == kMadvDontneed || advice == kMadvRemove) {
        // The pages go; the next touch sees zeros, or in a file mapping the file's bytes (a
        // private mapping loses its copies). MADV_REMOVE does the same: nothing here has
        // backing store to punch a hole in except ramfs, whose pages a shared mapping keeps.
        return ret(core::discard(addr, page_up(length)));
    }
    // The rest are hints (MADV_FREE may keep the pages): the range must still be mapped.
    return ret(core::check_mapped(addr, page_up(length)));
}

int64_t sys_mremap(const Args& a)
{
    constexpr int kMremapMaymove = 1, kMremapFixed = 2, kMremapDontunmap = 4;
    int flags = a.i(3);
    if (flags & ~(kMremapMaymove | kMremapFixed | kMremapDontunmap))
        return err(Errno::INVAL);
    if (a.u(0) >= kAppLimit)
        return err(Errno::FAULT);
    core::RemapRequest r;
    r.old_addr = a.u(0);
    r.old_size = a.u(1);
    r.new_size = a.u(2);
    r.may_move = flags & kMremapMaymove;
    r.fixed = flags & kMremapFixed;
    r.dont_unmap = flags & kMremapDontunmap;
    r.fixed_addr = a.u(4);
    if (r.new_size > kAppLimit || (r.fixed && !app_range_ok(r.fixed_addr, page_up(r.new_size))))
        return err(r.fixed ? Errno::INVAL : Errno::NOMEM);
    auto moved = core::remap(r);
    if (moved.is_error())
        return err(moved.error());
    return int64_t(moved.value());
}

int64_t sys_mincore(const Args& a)
{
    uint64_t addr = a.u(0), length = a.u(1);
    if (addr % kPage)
        return err(Errno::INVAL);
    if (length == 0)
        return 0;
    if (!app_range_ok(addr, page_up(length)))
        return err(Errno::NOMEM);
    // In chunks, so the kernel buffer stays small whatever the length.
    uint8_t vec[512];
    uint64_t pages = page_up(length) / kPage;
    for (uint64_t done = 0; done < pages;) {
        size_t n = pages - done < sizeof(vec) ? size_t(pages - done) : sizeof(vec);
        if (auto r = core::resident_pages(addr + done * kPage, n, vec); r.is_error())
            return err(r.error());
        if (auto w = copy_to_app(a.u(2) + done, vec, n); w.is_error())
            return err(w.error());
        done += n;
    }
    return 0;
}

// Shared file mappings map the file's own pages (the root image's, or ramfs's in memory), so
// there is nothing to write back; the range must still be mapped, and the flags valid.
int64_t sys_msync(const Args& a)
{
    constexpr int kMsAsync = 1, kMsInvalidate = 2, kMsSync = 4;
    int flags = a.i(2);
    if (a.u(0) % kPage || (flags & ~(kMsAsync | kMsInvalidate | kMsSync)) || ((flags & kMsAsync) && (flags & kMsSync)))
        return err(Errno::INVAL);
    if (a.u(1) == 0)
        return 0;
    if (!app_range_ok(a.u(0), page_up(a.u(1))))
        return err(Errno::NOMEM);
    return ret(core::check_mapped(a.u(0), page_up(a.u(1))));
}

} // namespace lx
