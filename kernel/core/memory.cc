// Memory bring-up. Boot.S left an early map of the first GiB (identity, direct map and the
// kernel window, all 2 MiB pages, all writable and executable). Here the final kernel page
// table is built with the portable mm::PageTable:
//   - the direct map of every RAM/ACPI region (2 MiB / 1 GiB pages where aligned), no-execute;
//   - the kernel image in the -2 GiB window, W^X: text R-X, rodata R--, data/bss RW-, with the
//     stacks' guard pages left unmapped; its direct-map alias is made read-only;
// then CR3 is switched. Large heap blocks that physical fragmentation prevents from being
// contiguous are page-mapped into the vmap area instead (KernelPageSource). The page allocator is fed in two phases: RAM inside the early map
// first (its bookkeeping lives in free pages, which must be reachable), the rest once the
// full direct map is live. Allocator set-up costs O(regions), not O(pages).
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/descriptors.h>
#include <arch/x86_64/layout.h>
#include <arch/x86_64/trap_frame.h>
#include <core/console.h>
#include <core/memory.h>
#include <lib/assert.h>
#include <core/traps.h>
#include <core/thread.h>
#include <core/tlb.h>
#include <lib/intrusive_avl.h>
#include <mm/heap.h>
#include <new>
#include <sync/mutex.h>

extern "C" char __kernel_start[], __text_end[], __rodata_end[], __kernel_end[];

namespace core {
namespace {

void* direct_map(void*, mm::PhysAddr pa) { return phys_to_virt(pa.value()); }

// One sleeping lock over the page allocator, the heap, the kernel page table and both
// address spaces (kernel vmap, application), once other threads exist; before that boot is
// single-threaded and there is no thread to own a lock. Recursive, so the layers may call one
// another. Callers must be able to block (ksync asserts it). Page faults from thread context
// run on the faulting thread's stack and take it too (handle_app_page_fault).
// Per-CPU allocation caches in front of it are the next step.
constinit ksync::Mutex g_mm_lock;

class TA_SCOPED_CAPABILITY MmGuard {
public:
    MmGuard() TA_ACQUIRE(g_mm_lock) TA_NO_ANALYSIS : m_locked(threads_started())
    {
        if (m_locked)
            new (m_storage) ksync::InlineMutexGuard(g_mm_lock); // every kmalloc and kfree
    }
    ~MmGuard() TA_RELEASE() TA_NO_ANALYSIS
    {
        if (m_locked)
            reinterpret_cast<ksync::InlineMutexGuard*>(m_storage)->~InlineMutexGuard();
    }
    MmGuard(const MmGuard&) = delete;
    MmGuard& operator=(const MmGuard&) = delete;

private:
    bool m_locked;
    alignas(ksync::InlineMutexGuard) char m_storage[sizeof(ksync::InlineMutexGuard)];
};

constinit mm::PhysAllocator g_phys(&direct_map);
uint64_t g_total_memory = 0;

// The kernel heap's pages: physically contiguous runs through the direct map when the page
// allocator has them; otherwise, for large blocks, single pages mapped contiguously into the
// kernel's vmap area, so a large allocation does not fail just because physical memory is
// fragmented. Slab requests (kHeapSlabPages) never take the vmap path: the vmap area's own
// VMA nodes come from slabs, and this keeps the recursion bounded.
class KernelPageSource final : public mm::PageSource {
public:
    Result<void*> alloc_pages(size_t pages, size_t align_pages) override;
    void free_pages(void* start, size_t pages) override;
};
constinit KernelPageSource g_page_source;
constinit mm::Heap g_heap(g_page_source);

// The kernel page table's environment: table pages from the page allocator, reached through
// the direct map, TLB maintenance with invlpg / CR3 reload here and a shootdown on the other
// CPUs (core/tlb.h) once per operation. Used under g_mm_lock, which also serialises the
// shootdowns.
class KernelPageTableEnv final : public mm::PageTableEnv {
public:
    Result<uint64_t> allocate_table_page() override
    {
        mm::PhysAddr pa = TRY(g_phys.alloc(1));
        __builtin_memset(phys_to_virt(pa.value()), 0, mm::kPageSize);
        return pa.value();
    }
    void free_table_page(uint64_t pa) override { g_phys.free(mm::PhysAddr(pa), 1); }
    void* phys_to_virt(uint64_t pa) override { return core::phys_to_virt(pa); }
    void invalidate_page(uint64_t va) override
    {
        if (!m_live)
            return;
        arch::invlpg(va);
        if (m_count < kTlbShootdownBatch)
            m_pages[m_count++] = va;
        else
            m_all = true;
    }
    void flush_all() override
    {
        // The kernel's mappings are global: a CR3 reload alone would keep them.
        if (!m_live)
            return;
        arch::flush_tlb_global();
        m_all = true;
    }
    void finish_invalidation() override
    {
        if (m_live && (m_all || m_count))
            tlb_shootdown(m_pages, m_count, m_all);
        m_count = 0;
        m_all = false;
    }
    void set_live() { m_live = true; }

private:
    bool m_live = false; // no TLB maintenance while the table is not yet in CR3
    bool m_all = false;
    unsigned m_count = 0;
    uint64_t m_pages[kTlbShootdownBatch];
};

KernelPageTableEnv g_pt_env;
alignas(mm::PageTable) char g_kernel_pt_storage[sizeof(mm::PageTable)];
mm::PageTable* g_kernel_pt = nullptr;

// VMA nodes come from the kernel heap.
class HeapVmaAllocator final : public mm::VmaAllocator {
public:
    void* allocate(size_t size, size_t align) override { return g_heap.allocate(size, align); }
    void deallocate(void* p) override { g_heap.deallocate(p); }
};
HeapVmaAllocator g_vma_allocator;
alignas(mm::AddressSpace) char g_aspace_storage[sizeof(mm::AddressSpace)];
mm::AddressSpace* g_aspace = nullptr;

alignas(mm::AddressSpace) char g_vmap_storage[sizeof(mm::AddressSpace)];
mm::AddressSpace* g_vmap = nullptr;

bool is_direct_mapped(uint64_t va) { return va >= arch::kDirectMap && va < kVmapBase; }

// vmap reservations are whole multiples of this, so every block the area hands out (placed
// at the top of a free gap, whose edges are multiples of it too) is aligned to it.
constexpr uint64_t kVmapGranule = mm::kHeapSlabPages * mm::kPageSize;

uint64_t vmap_size(size_t pages) { return (pages * mm::kPageSize + kVmapGranule - 1) & ~(kVmapGranule - 1); }

// Frees the pages mapped in [mapped, mapped + mapped_size) — whole 4 KiB leaves, so the
// page-table side cannot fail — then the VMA range [range, range + range_size). That can need
// a node if the range is part of a merged VMA; without memory for one the virtual range
// stays reserved (a leak of address space only, of which the area has 16 TiB).
void release_vmap(uint64_t mapped, uint64_t mapped_size, uint64_t range, uint64_t range_size)
{
    if (mapped_size)
        MUST(g_kernel_pt->unmap(mapped, mapped_size, [](const mm::Mapping& m) { g_phys.free(mm::PhysAddr(m.pa), 1); }));
    if (auto r = g_vmap->unmap(range, range_size); r.is_error())
        log_warn("vmap: keeping %#lx+%#lx reserved: %s", range, range_size, lib::errno_name(r.error()));
}

// Maps fresh pages at [va, va + size) in the vmap area; on failure unmaps what it mapped.
Result<void> populate_vmap(uint64_t va, uint64_t size)
{
    for (uint64_t page = va; page < va + size; page += mm::kPageSize) {
        auto frame = g_phys.alloc(1);
        Result<void> mapped = frame.is_error()
                                  ? Result<void>(frame.error())
                                  : g_kernel_pt->map(page, frame.value().value(), mm::kPageSize, mm::Protection::ReadWrite);
        if (mapped.is_error()) {
            if (!frame.is_error())
                g_phys.free(frame.value(), 1);
            if (page > va)
                MUST(g_kernel_pt->unmap(va, page - va, [](const mm::Mapping& m) { g_phys.free(mm::PhysAddr(m.pa), 1); }));
            return mapped.error();
        }
    }
    return {};
}

Result<void*> KernelPageSource::alloc_pages(size_t pages, size_t align_pages)
{
    auto run = g_phys.alloc(pages, align_pages);
    if (!run.is_error())
        return phys_to_virt(run.value().value());
    if (pages <= mm::kHeapSlabPages || !g_vmap || align_pages * mm::kPageSize > kVmapGranule)
        return run.error();
    // The block, then one inaccessible granule: a guard against overruns, and a separator
    // that keeps neighbouring blocks from merging into one VMA, so that freeing a block
    // removes whole VMAs and never needs memory.
    uint64_t size = vmap_size(pages);
    uint64_t start = TRY(g_vmap->map_anonymous(0, size + kVmapGranule, mm::Protection::ReadWrite));
    NIMBUS_ASSERT(start % kVmapGranule == 0);
    if (auto guard = g_vmap->protect(start + size, kVmapGranule, mm::Protection::None); guard.is_error()) {
        MUST(g_vmap->unmap(start, size + kVmapGranule)); // one whole VMA: no split, cannot fail
        return guard.error();
    }
    if (auto populated = populate_vmap(start, pages * mm::kPageSize); populated.is_error()) {
        release_vmap(start, 0, start, size + kVmapGranule);
        return populated.error();
    }
    return reinterpret_cast<void*>(start);
}

void KernelPageSource::free_pages(void* start, size_t pages)
{
    uint64_t va = uint64_t(start);
    if (is_direct_mapped(va)) {
        g_phys.free(mm::PhysAddr(va - arch::kDirectMap), pages);
        return;
    }
    // The block's VMA and its guard's, both whole: no VMA split. Whole 4 KiB leaves: no page
    // split. Neither can fail.
    uint64_t size = vmap_size(pages);
    release_vmap(va, size, va, size + kVmapGranule);
}

uint64_t kernel_phys(const void* p) { return uint64_t(p) - arch::kKernelWindow; }

Result<void> map_kernel_image(mm::PageTable& pt)
{
    mm::MapOptions global;
    global.global = true;
    global.allow_2m = false; // the image is small and its boundaries are 4 KiB-aligned
    uint64_t text = uint64_t(__kernel_start), text_end = uint64_t(__text_end);
    uint64_t rodata_end = uint64_t(__rodata_end), end = uint64_t(__kernel_end);
    TRY(pt.map(text, kernel_phys(__kernel_start), text_end - text, mm::Protection::ReadExec, global));
    TRY(pt.map(text_end, kernel_phys(__text_end), rodata_end - text_end, mm::Protection::Read, global));
    // Data, bss and stacks: read-write, never executable; then punch the guard pages out.
    TRY(pt.map(rodata_end, kernel_phys(__rodata_end), end - rodata_end, mm::Protection::ReadWrite, global));
    for (int slot = 0; slot < arch::kNumStacks; ++slot)
        TRY(pt.unmap(arch::stack_guard_page(slot), mm::kPageSize));
    return {};
}

Result<void> map_direct(mm::PageTable& pt, const boot::BootInfo& info, bool allow_1g, uint64_t limit)
{
    boot::PhysRange runs[boot::BootInfo::kMaxRegions];
    size_t merged = boot::compute_mappable_ranges(info, limit, runs);
    mm::MapOptions opts;
    opts.global = true;
    opts.allow_1g = allow_1g;
    for (size_t i = 0; i < merged; ++i)
        TRY(pt.map(arch::kDirectMap + runs[i].begin, runs[i].begin, runs[i].end - runs[i].begin,
                   mm::Protection::ReadWrite, opts));
    return {};
}

// Maps fresh zeroed memory at [base, base + size), size 4 KiB or 2 MiB (aligned frame).
bool populate(uint64_t base, uint64_t size, mm::Protection prot)
{
    size_t pages = size / mm::kPageSize;
    auto frame = g_phys.alloc(pages, pages);
    if (frame.is_error())
        return false;
    uint64_t pa = frame.value().value();
    __builtin_memset(phys_to_virt(pa), 0, size);
    if (g_kernel_pt->map(base, pa, size, prot).is_error()) {
        g_phys.free(frame.value(), pages);
        return false;
    }
    return true;
}

// Private copies of object pages: the frames copy-on-write faults allocated, by the
// application address they are mapped at. A private file mapping's entry maps either the
// file's frame or a copy, and only copies may be freed or made writable; this set tells
// which. It is kept here rather than asked of the file because the file would take its own
// lock, and the memory lock is held here (lock order: file → memory lock, since a read or
// write of a file faults on the application's buffer with the file's lock held). Every node
// names a live page-table entry: it is erased whenever that entry goes (release_range).
// Under the memory lock.
struct CopyFrame : lib::AvlLink<> {
    uint64_t va = 0;
    uint64_t pa = 0;
};
struct CopyVa {
    uint64_t operator()(const CopyFrame& c) const { return c.va; }
};
lib::IntrusiveAvlTree<CopyFrame, CopyVa> g_copies;

// Bumped (under the memory lock) whenever object pages are revoked (revoke_object_pages): a
// fault or prefault that looked a page up without the lock maps it only if no revocation
// happened meanwhile, because the page may have been freed since.
uint64_t g_revocations = 0;

bool is_copy(uint64_t va, uint64_t pa)
{
    const CopyFrame* c = g_copies.find(va);
    return c && c->pa == pa;
}

// Whether the frame mapped at `va` is the application's to free once its entry goes: memory of
// an Anonymous VMA, or a private copy. The frames of object VMAs belong to their objects.
bool owns_frame(uint64_t va, uint64_t pa)
{
    if (is_copy(va, pa))
        return true;
    const mm::Vma* vma = g_aspace->find(va);
    return vma && vma->kind == mm::VmaKind::Anonymous;
}

// Maps a private copy of the page at `src_pa` at `va` (4 KiB) with `prot`, replacing the entry
// there if any (the object's read-only page). False when memory runs out.
bool map_copy(uint64_t va, uint64_t src_pa, mm::Protection prot)
{
    auto* node = static_cast<CopyFrame*>(g_heap.allocate(sizeof(CopyFrame), alignof(CopyFrame)));
    if (!node)
        return false;
    auto frame = g_phys.alloc(1);
    if (frame.is_error()) {
        g_heap.deallocate(node);
        return false;
    }
    uint64_t pa = frame.value().value();
    __builtin_memcpy(phys_to_virt(pa), phys_to_virt(src_pa), mm::kPageSize);
    mm::MapOptions replace;
    replace.replace = true;
    if (g_kernel_pt->map(va, pa, mm::kPageSize, prot, replace).is_error()) {
        g_phys.free(frame.value(), 1);
        g_heap.deallocate(node);
        return false;
    }
    new (node) CopyFrame;
    node->va = va;
    node->pa = pa;
    // The entry replaced was the object's page, never a copy, so no node names va yet.
    bool inserted = g_copies.insert(*node);
    NIMBUS_ASSERT(inserted);
    return true;
}

enum class FaultStep : uint8_t {
    Resolved,       // retry the access
    Unresolved,     // report it: SIGSEGV
    BusError,       // report it: SIGBUS (the object has no page there)
    OutOfMemory,    // report it: no memory for the page (or a page table) — the program dies
    NeedObjectPage, // ask the object for the page without the memory lock, then finish_object_fault
};

// What an object fault needs from its object, and the state it was decided in.
struct ObjectFault {
    mm::MemoryObject* object = nullptr;
    uint64_t offset = 0;
    bool for_write = false;
    uint64_t revocations = 0;
};

mm::Access access_of(const arch::TrapFrame& frame)
{
    return (frame.error_code & arch::kPfInstructionFetch) ? mm::Access::Exec
           : (frame.error_code & arch::kPfWrite)        ? mm::Access::Write
                                                        : mm::Access::Read;
}

bool is_object_fault(const mm::FaultResolution& res)
{
    return res.kind == mm::FaultResolution::Kind::MapObjectPage || res.kind == mm::FaultResolution::Kind::CopyOnWrite;
}

// The part of a fault decided under the memory lock (see mm/vma.h, "Page faults").
FaultStep resolve_app_page_fault(uint64_t address, mm::Access access, ObjectFault& need)
{
    mm::FaultResolution res = g_aspace->resolve_fault(address, access);
    uint64_t page = address & ~(mm::kPageSize - 1);
    if (res.kind == mm::FaultResolution::Kind::Populate) {
        // Already populated, and the VMA allows the access: either a stale TLB entry, or the
        // page tables lag the VMA (an mprotect whose page-table half failed for lack of
        // memory). The VMA is the truth: bring the page in line and retry.
        if (auto existing = g_kernel_pt->lookup(page); !existing.is_error()) {
            if (existing.value().prot != res.prot)
                return g_kernel_pt->protect(page, mm::kPageSize, res.prot).is_error() ? FaultStep::OutOfMemory
                                                                                      : FaultStep::Resolved;
            arch::invlpg(page);
            return FaultStep::Resolved;
        }
        if (populate(res.base, res.size, res.prot))
            return FaultStep::Resolved;
        // No free 2 MiB frame, or part of the 2 MiB region already holds small pages: one page.
        if (res.size > mm::kPageSize && populate(page, mm::kPageSize, res.prot))
            return FaultStep::Resolved;
        return FaultStep::OutOfMemory; // reported, never retried in a loop
    }
    if (!is_object_fault(res))
        return FaultStep::Unresolved;
    if (auto existing = g_kernel_pt->lookup(page); !existing.is_error()) {
        uint64_t pa = existing.value().pa;
        bool copy = is_copy(page, pa);
        // A write to the object's read-only page in a private mapping: copy it. The source is
        // the frame already mapped, so the object is not asked (nor its lock taken).
        if (res.kind == mm::FaultResolution::Kind::CopyOnWrite && !copy)
            return map_copy(page, pa, res.prot) ? FaultStep::Resolved : FaultStep::OutOfMemory;
        // Otherwise the entry's rights lag the VMA (or the TLB is stale).
        mm::Protection want = res.vma->pte_protection(!copy);
        if (existing.value().prot != want)
            return g_kernel_pt->protect(page, mm::kPageSize, want).is_error() ? FaultStep::OutOfMemory
                                                                              : FaultStep::Resolved;
        arch::invlpg(page);
        return FaultStep::Resolved;
    }
    need.object = res.object;
    need.offset = res.object_offset;
    need.for_write = res.kind == mm::FaultResolution::Kind::MapObjectPage && mm::has_all(res.prot, mm::Protection::Write);
    need.revocations = g_revocations;
    return FaultStep::NeedObjectPage;
}

// The rest of an object fault once the object answered, under the memory lock again. The
// address space may have changed meanwhile: map only if the access would still need exactly
// this page; otherwise retry the access, which decides afresh.
FaultStep finish_object_fault(uint64_t address, mm::Access access, const ObjectFault& need, Result<uint64_t> phys)
{
    mm::FaultResolution res = g_aspace->resolve_fault(address, access);
    bool same = is_object_fault(res) && res.object == need.object && res.object_offset == need.offset &&
                g_revocations == need.revocations &&
                need.for_write == (res.kind == mm::FaultResolution::Kind::MapObjectPage &&
                                   mm::has_all(res.prot, mm::Protection::Write));
    if (!same)
        return FaultStep::Resolved;
    if (phys.is_error())
        return phys.error() == Errno::NXIO    ? FaultStep::BusError
               : phys.error() == Errno::NOMEM ? FaultStep::OutOfMemory
                                              : FaultStep::Unresolved;
    uint64_t page = address & ~(mm::kPageSize - 1);
    if (!g_kernel_pt->lookup(page).is_error())
        return FaultStep::Resolved; // another thread's fault mapped it meanwhile
    if (res.kind == mm::FaultResolution::Kind::CopyOnWrite)
        return map_copy(page, phys.value(), res.prot) ? FaultStep::Resolved : FaultStep::OutOfMemory;
    return g_kernel_pt->map(page, phys.value(), mm::kPageSize, res.prot).is_error() ? FaultStep::OutOfMemory
                                                                                   : FaultStep::Resolved;
}

// Demand paging. A fault with interrupts on came from thread context, and traps.S moved it
// onto that thread's stack (application code: its kernel stack; kernel code touching
// application memory: below the red zone): it may sleep, so it takes the memory lock like
// every other change to the address space. A fault with interrupts off stays on the IST
// stack and cannot block: that is only single-threaded boot-time code (no lock is held by
// anyone else then, and no file is mapped yet).
//
// A page of a memory object (a file) is asked for without the memory lock: the object may
// take its own lock, which ranks above the memory lock (see g_copies). The reference taken
// meanwhile keeps the object alive if the mapping goes away.
bool handle_app_page_fault(arch::TrapFrame& frame, uint64_t address)
{
    if (!g_aspace || address >= (uint64_t(1) << 47))
        return false;
    mm::Access access = access_of(frame);
    ObjectFault need;
    if (!(frame.rflags & arch::kRflagsIf) || !threads_started())
        return resolve_app_page_fault(address, access, need) == FaultStep::Resolved;
    asm volatile("sti" ::: "memory");
    FaultStep step;
    {
        MmGuard guard;
        step = resolve_app_page_fault(address, access, need);
        if (step == FaultStep::NeedObjectPage)
            need.object->acquire();
    }
    if (step == FaultStep::NeedObjectPage) {
        Result<uint64_t> phys = need.object->page(need.offset, need.for_write);
        MmGuard guard;
        step = finish_object_fault(address, access, need, phys);
        need.object->release();
    }
    asm volatile("cli" ::: "memory");
    if (step == FaultStep::BusError)
        frame.error_code |= arch::kPfSoftBusError;
    else if (step == FaultStep::OutOfMemory)
        frame.error_code |= arch::kPfSoftOutOfMemory;
    return step == FaultStep::Resolved;
}

} // namespace

void* alloc_zeroed_page()
{
    MmGuard guard;
    auto page = g_phys.alloc(1);
    if (page.is_error())
        return nullptr;
    void* p = phys_to_virt(page.value().value());
    __builtin_memset(p, 0, mm::kPageSize);
    return p;
}

void free_page(void* page)
{
    if (!page)
        return;
    MmGuard guard;
    g_phys.free(mm::PhysAddr(virt_to_phys(page)), 1);
}

void* alloc_contiguous_pages(size_t pages)
{
    if (pages == 0)
        return nullptr;
    mm::PhysAddr first;
    {
        MmGuard guard;
        auto run = g_phys.alloc(pages);
        if (run.is_error())
            return nullptr;
        first = run.value();
    }
    void* p = phys_to_virt(first.value());
    __builtin_memset(p, 0, pages * mm::kPageSize);
    return p;
}

void free_contiguous_pages(void* first, size_t pages)
{
    if (!first || pages == 0)
        return;
    MmGuard guard;
    g_phys.free(mm::PhysAddr(virt_to_phys(first)), pages);
}

void* kmalloc(size_t size, size_t align)
{
    MmGuard guard;
    return g_heap.allocate(size, align);
}

void kfree(void* p)
{
    if (!p)
        return;
    MmGuard guard;
    g_heap.deallocate(p);
}

Result<uint64_t> allocate_kernel_stack(size_t size)
{
    MmGuard guard;
    if (size == 0 || size % mm::kPageSize || size > (64u << 20))
        return Errno::INVAL;
    // [guard granule, no access][stack]: an overflow faults on the guard.
    uint64_t base = TRY(g_vmap->map_anonymous(0, kVmapGranule + size, mm::Protection::ReadWrite));
    if (auto guard = g_vmap->protect(base, kVmapGranule, mm::Protection::None); guard.is_error()) {
        release_vmap(base, 0, base, kVmapGranule + size);
        return guard.error();
    }
    if (auto populated = populate_vmap(base + kVmapGranule, size); populated.is_error()) {
        release_vmap(base, 0, base, kVmapGranule + size);
        return populated.error();
    }
    return base + kVmapGranule;
}

void free_kernel_stack(uint64_t bottom, size_t size)
{
    MmGuard guard;
    release_vmap(bottom, size, bottom - kVmapGranule, kVmapGranule + size);
}

Result<void> map_physical(uint64_t paddr, size_t size, mm::Protection prot, mm::CacheMode cache,
                          size_t* page_budget)
{
    MmGuard guard;
    if (size == 0 || paddr >= phys_addr_limit() || size > phys_addr_limit() - paddr)
        return Errno::INVAL;
    uint64_t first = paddr & ~(mm::kPageSize - 1);
    uint64_t last = (paddr + size - 1) & ~(mm::kPageSize - 1);
    mm::MapOptions opts;
    opts.global = true;
    opts.allow_2m = false;
    opts.cache = cache;
    for (uint64_t page = first; page <= last; page += mm::kPageSize) {
        uint64_t va = arch::kDirectMap + page;
        if (auto existing = g_kernel_pt->lookup(va); !existing.is_error()) {
            if (!mm::has_all(existing.value().prot, prot))
                return Errno::ACCES;
            continue;
        }
        if (page_budget) {
            if (*page_budget == 0)
                return Errno::NOMEM;
            --*page_budget;
        }
        TRY(g_kernel_pt->map(va, page, mm::kPageSize, prot, opts));
    }
    return {};
}

void* map_mmio(uint64_t paddr, size_t size)
{
    if (map_physical(paddr, size, mm::Protection::ReadWrite, mm::CacheMode::Uncached).is_error())
        return nullptr;
    return phys_to_virt(paddr);
}

bool is_vmap_guard(uint64_t address)
{
    if (!g_vmap || address < kVmapBase || address >= kVmapLimit)
        return false;
    const mm::Vma* vma = g_vmap->find(address);
    return vma && vma->prot == mm::Protection::None;
}

mm::PhysAllocator& phys_allocator() { return g_phys; }
mm::PageTable& kernel_page_table() { return *g_kernel_pt; }
mm::AddressSpace& app_address_space() { return *g_aspace; }
uint64_t total_memory() { return g_total_memory; }

// The highest physical address + 1 the kernel can use: what the CPU can address
// (CPUID 0x80000008 [intel-sdm-2a CPUID]) and what the direct-map window holds. RAM above it
// is left alone rather than mapped with reserved bits or outside the window.
uint64_t phys_addr_limit()
{
    uint64_t limit = uint64_t(1) << 46;
    if (arch::cpuid(0x80000000).eax >= 0x80000008) {
        unsigned bits = arch::cpuid(0x80000008).eax & 0xff;
        if (bits >= 32 && bits < 46)
            limit = uint64_t(1) << bits;
    }
    return limit;
}

Result<void> init_memory(const boot::BootInfo& info, const boot::Options& options)
{
    // Never hand out: the first MiB (real-mode structures, page 0), the kernel image, modules.
    uint64_t limit = phys_addr_limit();
    boot::PhysRange reserved[3 + boot::BootInfo::kMaxModules];
    size_t reserved_count = 0;
    reserved[reserved_count++] = { 0, 0x100000 };
    reserved[reserved_count++] = { limit, ~uint64_t(0) };
    reserved[reserved_count++] = { kernel_phys(__kernel_start), kernel_phys(__kernel_end) };
    for (size_t i = 0; i < info.module_count; ++i)
        reserved[reserved_count++] = { info.modules[i].paddr, info.modules[i].paddr + info.modules[i].size };
    boot::PhysRange free_ranges[boot::BootInfo::kMaxRegions];
    size_t dropped = 0;
    size_t count = boot::compute_free_ranges(info, reserved, reserved_count, free_ranges,
                                             boot::BootInfo::kMaxRegions, &dropped);
    if (dropped)
        log_warn("memory map too fragmented: %zu ranges ignored", dropped);
    for (size_t i = 0; i < info.region_count; ++i)
        if (info.regions[i].type == boot::MemoryType::Ram)
            g_total_memory += info.regions[i].size;

    // Phase 1: RAM the early map reaches.
    for (size_t i = 0; i < count; ++i) {
        uint64_t begin = free_ranges[i].begin, end = free_ranges[i].end;
        if (begin >= arch::kEarlyMapSize)
            continue;
        TRY(g_phys.add_range(mm::PhysAddr(begin), mm::PhysAddr(end < arch::kEarlyMapSize ? end : arch::kEarlyMapSize)));
    }

    bool has_1g = (arch::cpuid(0x80000000).eax >= 0x80000001) && (arch::cpuid(0x80000001).edx & (1u << 26));
    mm::PageTable pt = TRY(mm::PageTable::create(g_pt_env));
    TRY(map_direct(pt, info, has_1g && options.mm_huge1g, limit));
    TRY(map_kernel_image(pt));
    // The direct-map alias of the kernel image must not make text writable.
    TRY(pt.protect(arch::kDirectMap + kernel_phys(__kernel_start), uint64_t(__rodata_end) - uint64_t(__kernel_start),
                   mm::Protection::Read));

    arch::write_cr4(arch::read_cr4() | arch::kCr4Pge);
    arch::write_cr3(pt.root());
    g_pt_env.set_live();
    g_kernel_pt = new (g_kernel_pt_storage) mm::PageTable(static_cast<mm::PageTable&&>(pt));

    // Phase 2: everything above the early map, now that the direct map covers it.
    for (size_t i = 0; i < count; ++i) {
        uint64_t begin = free_ranges[i].begin, end = free_ranges[i].end;
        if (end <= arch::kEarlyMapSize)
            continue;
        TRY(g_phys.add_range(mm::PhysAddr(begin > arch::kEarlyMapSize ? begin : arch::kEarlyMapSize), mm::PhysAddr(end)));
    }

    g_aspace = new (g_aspace_storage) mm::AddressSpace(g_vma_allocator);
    g_vmap = new (g_vmap_storage) mm::AddressSpace(g_vma_allocator, kVmapBase, kVmapLimit);
    set_page_fault_handler(&handle_app_page_fault);
    return {};
}

Result<uint64_t> map_anonymous(uint64_t hint, uint64_t size, mm::Protection prot, mm::MapFlags flags)
{
    MmGuard guard;
    // MAP_FIXED replaces what was there: release its pages first (Linux, too, may leave the
    // range unmapped when the new mapping then fails).
    if (mm::has_flag(flags, mm::MapFlags::Fixed))
        TRY(unmap(hint, size));
    return g_aspace->map_anonymous(hint, size, prot, flags);
}

namespace {

// Removes the page-table entries of [addr, end) and frees the frames that were the
// application's (owns_frame: anonymous memory and private copies; never an object's own
// pages), leaving the VMAs alone. The frames go back to the allocator only after the
// page-table operation, whose end shoots the translations down on every CPU: freed earlier, a
// frame could be handed out and written while another CPU still reaches it through a stale
// TLB entry (a thread racing the unmap). So the frames of the part inside the range are
// collected first — in an array sized by a count of the leaves, allocated before anything
// changes, so that running out of memory fails the call as a whole. A range of at most
// kInlineLeaves 4 KiB leaves needs no memory at all. Under the memory lock.
constexpr size_t kInlineLeaves = 32;

Result<void> release_range(uint64_t addr, uint64_t end)
{
    struct Run {
        uint64_t pa;
        uint64_t pages;
        CopyFrame* copy; // the copy set's node for a private copy, erased with the entry
    };
    size_t leaves = 0;
    g_kernel_pt->for_each_in(addr, end - addr, [&](const mm::Mapping&) { ++leaves; });
    if (leaves == 0)
        return {};
    Run on_stack[kInlineLeaves];
    Run* runs = on_stack;
    if (leaves > kInlineLeaves) {
        runs = static_cast<Run*>(g_heap.allocate(leaves * sizeof(Run)));
        if (!runs)
            return Errno::NOMEM;
    }
    size_t count = 0;
    auto unmapped = g_kernel_pt->unmap(addr, end - addr, [&](const mm::Mapping& m) {
        uint64_t from = m.va > addr ? m.va : addr;
        uint64_t to = m.va + m.bytes() < end ? m.va + m.bytes() : end;
        if (count == leaves || !owns_frame(m.va, m.pa))
            return;
        CopyFrame* copy = m.size == mm::PageSize::Size4K ? g_copies.find(m.va) : nullptr;
        runs[count++] = { m.translate(from), (to - from) / mm::kPageSize, copy };
    });
    for (size_t i = 0; i < count && !unmapped.is_error(); ++i) {
        g_phys.free(mm::PhysAddr(runs[i].pa), runs[i].pages);
        if (runs[i].copy) {
            g_copies.erase(*runs[i].copy);
            g_heap.deallocate(runs[i].copy);
        }
    }
    if (runs != on_stack)
        g_heap.deallocate(runs);
    return unmapped;
}

} // namespace

Result<void> unmap(uint64_t addr, uint64_t size)
{
    MmGuard guard;
    if (size == 0 || addr % mm::kPageSize || size > (uint64_t(1) << 47) || addr > (uint64_t(1) << 47) - size)
        return Errno::INVAL;
    uint64_t end = addr + ((size + mm::kPageSize - 1) & ~(mm::kPageSize - 1));
    // Page tables first (all-or-nothing; a split of a huge page may need memory), then the
    // VMAs (which may drop the last reference to a mapped object: its pages are unmapped by
    // then).
    TRY(release_range(addr, end));
    TRY(g_aspace->unmap(addr, end - addr));
    return {};
}

Result<void> discard(uint64_t addr, uint64_t size)
{
    // Unmap and map again, under the memory lock throughout: a thread touching the range
    // meanwhile waits for the lock in its page fault and then sees fresh zero pages — or, in a
    // file mapping, the file's bytes again (its private copies are gone).
    MmGuard guard;
    if (size == 0 || addr % mm::kPageSize || size > (uint64_t(1) << 47) || addr > (uint64_t(1) << 47) - size)
        return Errno::INVAL;
    uint64_t end = addr + ((size + mm::kPageSize - 1) & ~(mm::kPageSize - 1));
    struct Piece {
        uint64_t start, end;
        mm::Vma attrs; // kind, rights, object, offset (of `start`), shared; links unused
    };
    constexpr size_t kMaxPieces = 64;
    Piece pieces[kMaxPieces];
    size_t count = 0;
    uint64_t covered = addr;
    bool too_many = false;
    g_aspace->for_each_in(addr, end, [&](const mm::Vma& v) {
        if (v.start > covered || count == kMaxPieces) {
            too_many = true; // a hole (or more pieces than we keep): refused below
            return;
        }
        Piece& p = pieces[count++];
        p.start = v.start > addr ? v.start : addr;
        p.end = v.end < end ? v.end : end;
        p.attrs.prot = v.prot;
        p.attrs.max_prot = v.max_prot;
        p.attrs.kind = v.kind;
        p.attrs.shared = v.shared;
        p.attrs.object = v.object;
        p.attrs.offset = v.kind == mm::VmaKind::Object ? v.object_offset(p.start) : 0;
        covered = v.end;
    });
    if (too_many || covered < end)
        return Errno::NOMEM;
    // The unmap may drop the last VMA reference to an object that is mapped again below.
    for (size_t i = 0; i < count; ++i)
        if (pieces[i].attrs.object)
            pieces[i].attrs.object->acquire();
    Result<void> result = unmap(addr, end - addr);
    for (size_t i = 0; i < count && !result.is_error(); ++i) {
        const Piece& p = pieces[i];
        const mm::Vma& a = p.attrs;
        // Only a VMA node allocation can fail here (NOMEM); the piece then stays unmapped,
        // as a failed MAP_FIXED leaves its range on Linux.
        Result<uint64_t> r = Errno::INVAL;
        if (a.kind == mm::VmaKind::Anonymous)
            r = g_aspace->map_anonymous(p.start, p.end - p.start, a.prot, mm::MapFlags::FixedNoReplace);
        else if (a.kind == mm::VmaKind::Object)
            r = g_aspace->map_object(p.start, p.end - p.start, a.prot, mm::MapFlags::FixedNoReplace, *a.object,
                                     a.offset, a.shared, a.max_prot);
        else
            r = g_aspace->reserve(p.start, p.end - p.start, a.kind, mm::MapFlags::FixedNoReplace);
        if (r.is_error())
            result = r.error();
    }
    for (size_t i = 0; i < count; ++i)
        if (pieces[i].attrs.object)
            pieces[i].attrs.object->release();
    return result;
}

Result<void> protect(uint64_t addr, uint64_t size, mm::Protection prot)
{
    MmGuard guard;
    TRY(g_aspace->protect(addr, size, prot));
    uint64_t end = addr + ((size + mm::kPageSize - 1) & ~(mm::kPageSize - 1));
    // Every entry gets vma.pte_protection(): the VMA's rights, except that an object's own
    // page in a private mapping never becomes writable (a write must fault and copy). Such a
    // page must not be writable even for a moment — another CPU could store into the file —
    // so a private object VMA's range is first given the rights without Write, and then only
    // its copies get Write back. Object pages are 4 KiB leaves, so neither step splits a huge
    // page and neither can fail there.
    Result<void> result;
    g_aspace->for_each_in(addr, end, [&](const mm::Vma& v) {
        uint64_t from = v.start > addr ? v.start : addr, to = v.end < end ? v.end : end;
        if (result.is_error())
            return;
        if (!v.is_private_object()) {
            result = g_kernel_pt->protect(from, to - from, v.prot);
            return;
        }
        result = g_kernel_pt->protect(from, to - from, v.pte_protection(true));
        for (CopyFrame* c = g_copies.lower_bound(from); c && c->va < to && !result.is_error();
             c = decltype(g_copies)::next(*c))
            result = g_kernel_pt->protect(c->va, mm::kPageSize, v.pte_protection(false));
    });
    // A failure (no memory to split a huge page) leaves some entries with their old rights;
    // the VMAs are already right, and a fault brings a lagging entry in line with its VMA.
    return result;
}

Result<uint64_t> map_object(const ObjectMapping& m)
{
    MmGuard guard;
    if (mm::has_flag(m.flags, mm::MapFlags::Fixed))
        TRY(unmap(m.hint, m.size));
    return g_aspace->map_object(m.hint, m.size, m.prot, m.flags, *m.object, m.offset, m.shared, m.max_prot);
}

uint64_t object_revocations()
{
    MmGuard guard;
    return g_revocations;
}

void prefault_object_pages(uint64_t va, const mm::MemoryObject& object, uint64_t offset, const uint64_t* phys,
                           size_t count, uint64_t revocations)
{
    MmGuard guard;
    if (revocations != g_revocations)
        return; // a page may have been freed since it was looked up: leave them to faults
    const mm::Vma* v = nullptr;
    for (size_t i = 0; i < count; ++i) {
        uint64_t page = va + i * mm::kPageSize;
        if (!v || !v->contains(page))
            v = g_aspace->find(page);
        if (!v || v->object != &object || v->object_offset(page) != offset + i * mm::kPageSize ||
            v->prot == mm::Protection::None)
            continue;
        // EXIST (a fault mapped it meanwhile) or no memory for a page table: the page is left
        // as it is, or to its fault.
        (void)g_kernel_pt->map(page, phys[i], mm::kPageSize, v->pte_protection(true));
    }
}

void revoke_object_pages(const mm::MemoryObject& object, uint64_t from_offset)
{
    MmGuard guard;
    ++g_revocations;
    g_aspace->for_each([&](const mm::Vma& v) {
        if (v.object != &object || v.offset + v.size() <= from_offset)
            return;
        uint64_t start = v.offset >= from_offset ? v.start : v.start + (from_offset - v.offset);
        // In windows of kInlineLeaves pages: object VMAs hold 4 KiB leaves only, so no window
        // needs memory (neither a leaf array nor a page-table split) and none can fail — which
        // matters, since the pages are about to be freed.
        for (uint64_t at = start; at < v.end; at += kInlineLeaves * mm::kPageSize) {
            uint64_t to = v.end - at > kInlineLeaves * mm::kPageSize ? at + kInlineLeaves * mm::kPageSize : v.end;
            MUST(release_range(at, to));
        }
    });
}

namespace {

// Maps [at, at + size) like `like` (an Anonymous or Object VMA's attributes): anonymous memory
// with its rights, or its object from `offset` on, private or shared, with its rights and
// max_prot. Under the memory lock; the object stays alive through `like`'s caller.
Result<uint64_t> map_like(const mm::Vma& like, uint64_t at, uint64_t size, uint64_t offset, mm::MapFlags flags)
{
    if (like.kind == mm::VmaKind::Anonymous)
        return g_aspace->map_anonymous(at, size, like.prot, flags);
    return g_aspace->map_object(at, size, like.prot, flags, *like.object, offset, like.shared, like.max_prot);
}

// The part of remap that moves pages: [from, from + size) — wholly inside one VMA with the
// attributes `like` — to the fresh VMA of the same kind at `to`. The frames change address,
// not content: anonymous memory, the object's own pages (still the object's) and private
// copies alike, each entry keeping the rights it had (an object's page in a private mapping
// stays read-only; copies are re-keyed in g_copies, so they stay the mapping's to free). Under
// the memory lock. All-or-nothing: NOMEM leaves both ranges as they were.
Result<void> move_pages(uint64_t from, uint64_t to, uint64_t size, const mm::Vma& like)
{
    // Split any huge leaf straddling the source's edges now (it may need table pages), so
    // that the unmap at the end cannot fail. Re-applying the VMA's own rights changes nothing
    // else. Object VMAs hold 4 KiB leaves only (and a private one's entries must keep their
    // own rights), so they need no split.
    if (like.kind == mm::VmaKind::Anonymous)
        TRY(g_kernel_pt->protect(from, size, like.prot));
    struct Leaf {
        uint64_t va, pa, bytes;
        mm::Protection prot;
    };
    size_t leaves = 0;
    g_kernel_pt->for_each_in(from, size, [&](const mm::Mapping&) { ++leaves; });
    Leaf* list = leaves ? static_cast<Leaf*>(g_heap.allocate(leaves * sizeof(Leaf))) : nullptr;
    if (leaves && !list)
        return Errno::NOMEM;
    size_t count = 0;
    g_kernel_pt->for_each_in(from, size, [&](const mm::Mapping& m) {
        if (count == leaves)
            return;
        bool object_page = like.kind == mm::VmaKind::Object && !is_copy(m.va, m.pa);
        list[count++] = { m.va, m.pa, m.bytes(), like.pte_protection(object_page) };
    });
    // Map the frames at the destination (a 2 MiB frame whose new address is not 2 MiB
    // aligned becomes 512 small entries); on failure take the new entries away again.
    Result<void> mapped;
    for (size_t i = 0; i < count && !mapped.is_error(); ++i)
        mapped = g_kernel_pt->map(to + (list[i].va - from), list[i].pa, list[i].bytes, list[i].prot);
    g_heap.deallocate(list);
    if (mapped.is_error()) {
        (void)g_kernel_pt->unmap(to, size); // only removes: frees tables, never needs them here
        return mapped.error();
    }
    TRY(g_kernel_pt->unmap(from, size));
    // The copies now live at their new addresses. The ranges do not overlap, so each step
    // takes one node out of [from, from + size) and the loop ends.
    for (CopyFrame* c = g_copies.lower_bound(from); c && c->va < from + size; c = g_copies.lower_bound(from)) {
        g_copies.erase(*c);
        c->va = to + (c->va - from);
        bool inserted = g_copies.insert(*c);
        NIMBUS_ASSERT(inserted);
    }
    return {};
}

} // namespace

Result<uint64_t> remap(const RemapRequest& r)
{
    MmGuard guard;
    constexpr uint64_t kHalf = uint64_t(1) << 47;
    auto page_up = [](uint64_t v) { return (v + mm::kPageSize - 1) & ~(mm::kPageSize - 1); };
    if (r.old_addr % mm::kPageSize || r.new_size == 0 || r.old_size > kHalf || r.new_size > kHalf)
        return Errno::INVAL;
    uint64_t old_size = page_up(r.old_size), new_size = page_up(r.new_size);
    if (r.fixed && (!r.may_move || r.fixed_addr % mm::kPageSize || r.fixed_addr > kHalf - new_size))
        return Errno::INVAL;
    if (r.dont_unmap && (!r.may_move || old_size != new_size))
        return Errno::INVAL;
    if (r.fixed && r.fixed_addr < r.old_addr + old_size && r.old_addr < r.fixed_addr + new_size)
        return Errno::INVAL;
    const mm::Vma* vma = g_aspace->find(r.old_addr);
    if (!vma || (vma->kind != mm::VmaKind::Anonymous && vma->kind != mm::VmaKind::Object) ||
        r.old_addr > vma->end - old_size)
        return Errno::FAULT;
    // The VMA's attributes, kept by value: the node may be split or freed below. The object
    // (if any) is held for the call, since the old range's nodes may all go.
    mm::Vma like;
    like.kind = vma->kind;
    like.prot = vma->prot;
    like.max_prot = vma->max_prot;
    like.shared = vma->shared;
    like.object = vma->object;
    uint64_t offset = vma->kind == mm::VmaKind::Object ? vma->object_offset(r.old_addr) : 0;
    if (like.object)
        like.object->acquire();
    auto result = [&]() -> Result<uint64_t> {
        // old_size 0: a second mapping of the same pages — which only a shared mapping has
        // (Linux refuses to "duplicate" a private one). It cannot be made in place.
        if (old_size == 0) {
            if (!(like.kind == mm::VmaKind::Object && like.shared))
                return Errno::INVAL;
            if (!r.may_move)
                return Errno::NOMEM;
            if (r.fixed)
                TRY(unmap(r.fixed_addr, new_size));
            return map_like(like, r.fixed ? r.fixed_addr : 0, new_size, offset,
                            r.fixed ? mm::MapFlags::FixedNoReplace : mm::MapFlags::None);
        }
        if (!r.fixed && !r.dont_unmap) {
            if (new_size <= old_size) {
                if (new_size < old_size)
                    TRY(unmap(r.old_addr + new_size, old_size - new_size));
                return r.old_addr;
            }
            // Grow in place: the new part continues the mapping (for an object, at the next
            // offsets), so the VMAs merge.
            auto grown = map_like(like, r.old_addr + old_size, new_size - old_size, offset + old_size,
                                  mm::MapFlags::FixedNoReplace);
            if (!grown.is_error())
                return r.old_addr;
            if (grown.error() != Errno::EXIST && grown.error() != Errno::NOMEM)
                return grown.error();
            if (!r.may_move)
                return Errno::NOMEM;
        }

        // Move. A shrinking move gives up the tail first (Linux does the same).
        uint64_t moved = old_size;
        if (new_size < old_size) {
            TRY(unmap(r.old_addr + new_size, old_size - new_size));
            moved = new_size;
        }
        if (r.fixed)
            TRY(unmap(r.fixed_addr, new_size));
        uint64_t to = TRY(map_like(like, r.fixed ? r.fixed_addr : 0, new_size, offset,
                                   r.fixed ? mm::MapFlags::FixedNoReplace : mm::MapFlags::None));
        if (auto m = move_pages(r.old_addr, to, moved, like); m.is_error()) {
            // A whole VMA, unless it merged with a neighbour mapping the same object at the
            // offsets around it; then the unmap needs a node, and without one the range stays
            // mapped, empty (its pages fault in from the object again).
            (void)g_aspace->unmap(to, new_size);
            return m.error();
        }
        if (!r.dont_unmap) {
            // Needs a VMA node only if the old range sits strictly inside a larger VMA; if that
            // allocation fails the old range stays in the VMA set, empty, and reads as zeros
            // (or as the object's bytes).
            (void)g_aspace->unmap(r.old_addr, moved);
        }
        return to;
    }();
    if (like.object)
        like.object->release();
    return result;
}

Result<void> check_mapped(uint64_t addr, uint64_t size)
{
    MmGuard guard;
    if (size > (uint64_t(1) << 47) || addr > (uint64_t(1) << 47) - size)
        return Errno::NOMEM;
    uint64_t end = addr + size;
    uint64_t covered = addr;
    // VMAs come in address order and never overlap: the range is covered if they tile it.
    g_aspace->for_each([&](const mm::Vma& v) {
        if (covered < end && v.start <= covered && v.end > covered)
            covered = v.end;
    });
    return covered >= end ? Result<void>() : Result<void>(Errno::NOMEM);
}

Result<void> resident_pages(uint64_t addr, size_t pages, uint8_t* out)
{
    MmGuard guard;
    if (addr % mm::kPageSize || pages > (uint64_t(1) << 35) || addr > (uint64_t(1) << 47) - pages * mm::kPageSize)
        return Errno::INVAL;
    uint64_t end = addr + pages * mm::kPageSize;
    TRY(check_mapped(addr, end - addr));
    __builtin_memset(out, 0, pages);
    g_kernel_pt->for_each_in(addr, end - addr, [&](const mm::Mapping& m) {
        uint64_t from = m.va > addr ? m.va : addr;
        uint64_t to = m.va + m.bytes() < end ? m.va + m.bytes() : end;
        for (uint64_t va = from; va < to; va += mm::kPageSize)
            out[(va - addr) / mm::kPageSize] = 1;
    });
    return {};
}

void for_each_app_vma(void (*fn)(const mm::Vma&, void*), void* ctx)
{
    MmGuard guard;
    if (g_aspace)
        g_aspace->for_each([&](const mm::Vma& v) { fn(v, ctx); });
}

LeafCounts count_leaves(uint64_t va, uint64_t size)
{
    MmGuard guard;
    LeafCounts counts;
    g_kernel_pt->for_each_in(va, size, [&](const mm::Mapping& m) {
        switch (m.size) {
        case mm::PageSize::Size4K:
            ++counts.pages_4k;
            break;
        case mm::PageSize::Size2M:
            ++counts.pages_2m;
            break;
        case mm::PageSize::Size1G:
            ++counts.pages_1g;
            break;
        }
    });
    return counts;
}

void print_memory_state()
{
    MmGuard guard;
    kprintf("physical memory: %lu KiB free of %lu KiB managed, %zu free runs\n",
            g_phys.free_pages() * 4, g_phys.total_pages() * 4, g_phys.free_run_count());
    g_phys.for_each_free_range([](mm::PhysAddr start, size_t pages) {
        kprintf("  free 0x%016lx-0x%016lx (%zu pages)\n", start.value(), start.value() + pages * mm::kPageSize, pages);
    });
    LeafCounts direct = count_leaves(arch::kDirectMap, uint64_t(1) << 46);
    kprintf("direct map: %lu x 1 GiB, %lu x 2 MiB, %lu x 4 KiB pages\n", direct.pages_1g, direct.pages_2m,
            direct.pages_4k);
    mm::HeapStats hs = g_heap.stats();
    kprintf("kernel heap: %zu allocations, %zu bytes in use, %zu pages held\n", hs.allocations, hs.bytes_in_use,
            hs.pages_held);
}

void exhaust_memory_test()
{
    MmGuard guard;
    // Chain the blocks through their own first word so the test needs no memory of its own.
    constexpr size_t kChunk = 64 * 1024;
    void* head = nullptr;
    size_t blocks = 0;
    for (;;) {
        void* p = g_heap.allocate(kChunk);
        if (!p)
            break;
        *static_cast<void**>(p) = head;
        head = p;
        ++blocks;
    }
    kprintf("memory exhausted: ENOMEM from the kernel heap after %zu blocks (%zu MiB)\n", blocks,
            blocks * kChunk >> 20);
    auto page = g_phys.alloc(1);
    kprintf("page allocator with the heap full: %s\n", page.is_error() ? lib::errno_name(page.error()) : "a page");
    if (!page.is_error())
        g_phys.free(page.value(), 1);
    while (head) {
        void* next = *static_cast<void**>(head);
        g_heap.deallocate(head);
        head = next;
    }
    g_heap.trim();
    kprintf("all memory returned: %lu KiB free\n", g_phys.free_pages() * 4);
}

} // namespace core

// The kernel's operator new/delete: nothrow forms only (no exceptions in the kernel; a
// failed allocation is a nullptr the caller handles). Plain `new T` does not link.
void* operator new(size_t size, const std::nothrow_t&) noexcept { return core::kmalloc(size); }
void* operator new[](size_t size, const std::nothrow_t&) noexcept { return core::kmalloc(size); }
void* operator new(size_t size, std::align_val_t align, const std::nothrow_t&) noexcept
{
    return core::kmalloc(size, size_t(align));
}
void operator delete(void* p) noexcept { core::kfree(p); }
void operator delete[](void* p) noexcept { core::kfree(p); }
void operator delete(void* p, size_t) noexcept { core::kfree(p); }
void operator delete[](void* p, size_t) noexcept { core::kfree(p); }
void operator delete(void* p, std::align_val_t) noexcept { core::kfree(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { core::kfree(p); }
