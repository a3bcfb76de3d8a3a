// AddressSpace: the application half of the virtual address space as an ordered set of VMAs
// with mmap/munmap/mprotect semantics, and the page-fault decision that follows from them.
//
// Design
//  * A VMA is a maximal run [start, end) of pages mapped alike. VMAs never overlap, are
//    page-aligned, lie inside [base, limit) and are kept in an intrusive AVL tree keyed by
//    start (lib::IntrusiveAvlTree): find() is a floor query. Adjacent VMAs that are identical
//    are always merged, so the set is canonical: it is exactly the run-length encoding of
//    "what is at each page". "Identical" means same kind, protection, max_prot and, for object
//    VMAs, the same object, the same shared flag and contiguous offsets (the left VMA's
//    offset + size is the right one's offset) — exactly the condition under which one VMA
//    describes both ranges.
//  * Kinds: Anonymous memory (demand-zero); Object (pages of a MemoryObject, e.g. a file);
//    Guard (no access; a fault in it is reported as a guard hit, e.g. a stack overflow);
//    Reserved (address space held back with no access, a fault is a protection violation).
//    Guard and Reserved ranges cannot be mprotect'ed (ACCES) but can be unmapped or mapped over
//    with MapFlags::Fixed.
//  * Placement without Fixed: the hint, if the range there is free; else the highest free gap
//    below `limit` (top-down, like Linux), 2 MiB aligned when size ≥ 2 MiB and such a gap
//    exists so that faults can use 2 MiB pages. The gap search is a linear walk over the VMAs;
//    applications have few VMAs. If that changes, augment the tree with each subtree's largest
//    gap.
//  * The AddressSpace does not touch page tables. The kernel glue calls it first and then
//    mirrors the change into the PageTable (unmap/protect the same range; on a fault, map what
//    resolve_fault() returns). A 2 MiB decision may meet 4 KiB pages already present in that
//    region: map() then fails with EXIST and the glue falls back to 4 KiB.
//
// Object VMAs (file mappings)
//  * Object is a kind of its own, not "Anonymous with an object", so that every
//    `kind == Anonymous` test (MADV_DONTNEED re-creating zero memory, freeing frames) keeps
//    refusing file mappings rather than treating borrowed frames as the mapping's own; code
//    that handles both (mremap) says so. Invariant:
//    kind == Object ⇔ object != nullptr; other kinds have offset 0 and shared false.
//  * `offset` is the object offset of `start`; the page at addr maps object offset
//    offset + (addr − start). Every operation that moves a VMA's start keeps that true: a split
//    at addr gives the upper part offset + (addr − start), trimming the low end by munmap/Fixed
//    advances offset by the same amount, trimming the high end or merging keeps the left
//    VMA's offset. map_object() refuses (INVAL) an offset whose range would wrap past 2^64, so
//    offset + size never overflows in any piece.
//  * References: each node naming an object holds exactly one reference. A new node acquires
//    (map_object, a split's upper part); freeing a node releases (munmap, Fixed replacement,
//    the right half of a merge, the destructor). So a VMA split in three holds three references
//    and a merge gives one back; the count is always the number of nodes naming the object.
//  * `max_prot` is the most mprotect may grant (Linux's VM_MAYREAD/WRITE/EXEC): for a shared
//    mapping of a file opened read-only the glue passes a max_prot without Write, so
//    mprotect(PROT_WRITE) is ACCES instead of letting writes reach a read-only file. Anonymous
//    and private object VMAs normally get ReadWriteExec; Guard and Reserved have None.
//
// Page faults and what the glue does with each FaultResolution kind
//  * Populate (anonymous): map fresh zeroed memory, `size` bytes (4 KiB or 2 MiB) at `base`.
//  * MapObjectPage (object VMA; read or exec fault on a private one, any allowed fault on a
//    shared one): phys = object->page(object_offset, has_all(prot, Write)); map it, 4 KiB,
//    with `prot`. For a private VMA `prot` has Write removed, so the first write faults again and
//    becomes CopyOnWrite; the object's frame is never writable through a private mapping. NXIO
//    → SIGBUS; never free the frame later.
//  * CopyOnWrite (write fault on a private object VMA that allows writing): if an entry at
//    `base` maps a private copy already (the glue's record of copies says so), the write was
//    refused only because the entry's rights lag the VMA: set them to `prot`. Otherwise take a
//    frame, copy the object's page (the frame the entry maps, else
//    object->page(object_offset, false)) into it (NXIO → SIGBUS) and map the copy with `prot`
//    (the VMA's, Write included), replacing the read-only entry of the object's page if any.
//  * NoVma / ProtectionViolation / GuardHit: SIGSEGV as before.
//  * An entry already present when MapObjectPage is returned (a stale TLB entry, or rights that
//    lag an mprotect): set its rights to vma->pte_protection(is it the object's page?).
//  * Object pages are always 4 KiB: an object's pages need not be physically contiguous.
//  * To call page() without holding the address space's lock (it may block on the object),
//    acquire() the object first, and after relocking call resolve_fault() again and map only if
//    it still names the same object and offset; then release().
//
// What the glue does on the other operations, per page-table entry in the range
//  * munmap / Fixed replacement: free the frames of Anonymous VMAs; never those of a shared
//    object VMA; for a private object VMA free exactly the entries that are private copies
//    (the glue records them: see memory_object.h). Tear down the page tables (and the TLB)
//    before calling AddressSpace::unmap(), which may drop the last reference to the object.
//  * mprotect: after protect() succeeds, set each entry's rights to vma.pte_protection(object
//    page?) — for a private object VMA the object's pages stay read-only even when the VMA
//    becomes writable (a later write is CopyOnWrite), while copies get the VMA's rights. For
//    every other VMA pte_protection() is simply vma.prot, so one range protect suffices
//    (is_private_object() says which case applies).
//
// Errors follow Linux: INVAL for unaligned addresses or zero sizes, NOMEM when no gap fits,
// when a Fixed range leaves [base, limit), when protect() meets unmapped pages, or when a VMA
// node cannot be allocated. Every operation is all-or-nothing: VMA nodes it may need are
// allocated before anything changes, and references are taken only once nothing can fail.
//
// Concurrency: not synchronised; the owning process serialises calls (a mutex, or an rwlock
// with resolve_fault()/find() as readers). Nothing here blocks except the allocator and the
// objects' acquire()/release().
#pragma once

#include <lib/intrusive_avl.h>
#include <lib/result.h>
#include <mm/memory_object.h>
#include <mm/paging.h>
#include <stddef.h>
#include <stdint.h>

namespace mm {

enum class VmaKind : uint8_t { Anonymous, Object, Guard, Reserved };

// Request flags for map_anonymous()/map_object()/reserve() (not stored in the VMA).
enum class MapFlags : uint32_t {
    None = 0,
    Fixed = 1,          // MAP_FIXED: exactly at `hint`, replacing whatever overlaps
    FixedNoReplace = 2, // MAP_FIXED_NOREPLACE: exactly at `hint`, EXIST if anything overlaps
};
constexpr MapFlags operator|(MapFlags a, MapFlags b) { return MapFlags(uint32_t(a) | uint32_t(b)); }
constexpr bool has_flag(MapFlags set, MapFlags f) { return (uint32_t(set) & uint32_t(f)) != 0; }

struct Vma : lib::AvlLink<> {
    uint64_t start = 0; // page-aligned; the tree key
    uint64_t end = 0;   // page-aligned, > start
    Protection prot = Protection::None;
    Protection max_prot = Protection::ReadWriteExec; // what mprotect may grant; ⊇ prot
    VmaKind kind = VmaKind::Anonymous;
    bool shared = false;            // Object only: MAP_SHARED (writes reach the object)
    MemoryObject* object = nullptr; // Object only: what is mapped; this node holds a reference
    uint64_t offset = 0;            // Object only: the object offset of `start`, page-aligned

    uint64_t size() const { return end - start; }
    bool contains(uint64_t addr) const { return addr >= start && addr < end; }
    bool is_private_object() const { return kind == VmaKind::Object && !shared; }
    // The object offset of the page holding addr (Object VMAs). Precondition: contains(addr).
    uint64_t object_offset(uint64_t addr) const { return offset + ((addr & ~(kSize4K - 1)) - start); }
    // The rights a page-table entry of this VMA gets. `object_page`: the entry maps the
    // object's own frame, not a private copy (for a private object VMA; ignored
    // otherwise). That frame is never writable through a private mapping; if removing Write
    // leaves nothing, the entry is Read (x86 pages are always readable, see Protection).
    Protection pte_protection(bool object_page) const;
};

// Where VMA nodes come from: the kernel heap in the kernel, new/delete in host tests.
class VmaAllocator {
public:
    // Storage for one object of `size` bytes aligned to `align`, or nullptr.
    virtual void* allocate(size_t size, size_t align) = 0;
    virtual void deallocate(void* p) = 0;

protected:
    ~VmaAllocator() = default;
};

enum class Access : uint8_t { Read, Write, Exec };

// What the page-fault handler should do about a fault at some address (see "Page faults" above
// for what the glue does with each kind).
struct FaultResolution {
    enum class Kind : uint8_t {
        Populate,            // map `size` bytes at `base` with `prot` (fresh zeroed memory)
        MapObjectPage,       // map object's page at object_offset, 4 KiB at `base`, with `prot`
        CopyOnWrite,         // map a private copy of that page, 4 KiB at `base`, with `prot`
        NoVma,               // nothing mapped there: SIGSEGV, SEGV_MAPERR
        ProtectionViolation, // mapped, access not allowed: SIGSEGV, SEGV_ACCERR
        GuardHit,            // inside a guard VMA: SIGSEGV, SEGV_ACCERR (report the overflow)
    };
    Kind kind = Kind::NoVma;
    uint64_t base = 0;
    uint64_t size = 0;
    Protection prot = Protection::None;
    const Vma* vma = nullptr;       // the VMA hit, if any
    MemoryObject* object = nullptr; // MapObjectPage/CopyOnWrite: vma->object
    uint64_t object_offset = 0;     // MapObjectPage/CopyOnWrite: the object offset of `base`
};

class AddressSpace {
public:
    // The default application range: above the null-pointer guard area, below the top page
    // of the lower canonical half.
    static constexpr uint64_t kDefaultBase = 0x10000;
    static constexpr uint64_t kDefaultLimit = 0x0000'7fff'ffff'f000;

    // Manages [base, limit) (page-aligned, base < limit); VMA nodes come from `allocator`,
    // which must outlive this object.
    explicit AddressSpace(VmaAllocator& allocator, uint64_t base = kDefaultBase, uint64_t limit = kDefaultLimit);
    AddressSpace(const AddressSpace&) = delete;
    AddressSpace& operator=(const AddressSpace&) = delete;
    // Frees every VMA node and releases their object references (page tables and frames are
    // the glue's to release first).
    ~AddressSpace();

    uint64_t base() const { return m_base; }
    uint64_t limit() const { return m_limit; }

    // mmap(MAP_ANONYMOUS): maps size (rounded up to pages) bytes with `prot` and returns the
    // start. Without Fixed flags `hint` is only a preference. With Fixed, `hint` must be
    // page-aligned (INVAL) and whatever overlaps is unmapped first; with FixedNoReplace an
    // overlap is EXIST. NOMEM if no room or no memory for a VMA node.
    Result<uint64_t> map_anonymous(uint64_t hint, uint64_t size, Protection prot, MapFlags flags = MapFlags::None);

    // mmap of an object (a file): as map_anonymous, but the pages are `object`'s from `offset`
    // on, private (copy-on-write) or `shared`. The caller holds a reference to `object` for the
    // call; each VMA node naming it acquires one of its own. INVAL if `offset` is unaligned or
    // offset + size (rounded up) passes 2^64, or a protection is not valid; ACCES if `prot`
    // exceeds `max_prot` (see the header comment). Mapping past the object's end is allowed:
    // those pages fault with NXIO.
    Result<uint64_t> map_object(uint64_t hint, uint64_t size, Protection prot, MapFlags flags, MemoryObject& object,
                                uint64_t offset, bool shared, Protection max_prot = Protection::ReadWriteExec);

    // As map_anonymous, but creates a Guard or Reserved VMA (no access). INVAL for other kinds.
    Result<uint64_t> reserve(uint64_t hint, uint64_t size, VmaKind kind, MapFlags flags = MapFlags::None);

    // munmap: removes [addr, addr+size) from every VMA, splitting the ones that straddle the
    // edges. Unmapped holes are fine. INVAL if addr is unaligned, size is 0 or the range
    // passes `limit`; NOMEM only if a VMA must be split in two and no node is available.
    Result<void> unmap(uint64_t addr, uint64_t size);

    // mprotect: sets the protection of [addr, addr+size), splitting VMAs at the edges. NOMEM
    // if any page of the range is unmapped, ACCES if it touches a Guard/Reserved VMA or `prot`
    // exceeds a VMA's max_prot (nothing changes in any of these cases); INVAL as for unmap.
    // For private object VMAs the glue must then use Vma::pte_protection() per entry.
    Result<void> protect(uint64_t addr, uint64_t size, Protection prot);

    // The VMA containing addr, or nullptr.
    const Vma* find(uint64_t addr) const;

    // The fault decision for an access at addr. Reads are allowed by any protection other
    // than None (x86 has no write- or exec-only pages). Populate uses a 2 MiB page when the
    // VMA is anonymous and covers the whole 2 MiB-aligned region around addr. Object VMAs give
    // MapObjectPage or CopyOnWrite, always 4 KiB.
    FaultResolution resolve_fault(uint64_t addr, Access access) const;

    // Calls fn(const Vma&) for each VMA in address order. fn must not modify the space.
    template<typename F>
    void for_each(F&& fn) const
    {
        for (const Vma& v : m_vmas)
            fn(v);
    }
    // Calls fn(const Vma&) for each VMA that overlaps [start, end), in address order (whole
    // VMAs: clip to the range yourself). fn must not modify the space. O(log n + visited).
    template<typename F>
    void for_each_in(uint64_t start, uint64_t end, F&& fn) const
    {
        const Vma* v = find(start);
        if (!v)
            v = m_vmas.lower_bound(start);
        for (; v && v->start < end; v = Tree::next(*v))
            fn(*v);
    }
    size_t vma_count() const { return m_vmas.size(); }

    // Verifies the invariants listed above (for tests and debug self-checks); O(n).
    bool check_invariants() const;

private:
    struct VmaStart {
        uint64_t operator()(const Vma& v) const { return v.start; }
    };
    using Tree = lib::IntrusiveAvlTree<Vma, VmaStart>;
    class NodeReserve;

    // Maps [hint, hint+size) (placed per `flags`) as a VMA with proto's attributes (its start
    // and end are ignored).
    Result<uint64_t> place(uint64_t hint, uint64_t size, MapFlags flags, const Vma& proto);
    Result<void> check_range(uint64_t addr, uint64_t size, uint64_t& end) const;
    bool range_is_free(uint64_t start, uint64_t end) const;
    // Highest `align`-aligned start of a free range of `size` bytes, or 0 if none.
    uint64_t find_gap(uint64_t size, uint64_t align) const;
    Vma* find_mutable(uint64_t addr) const;
    void carve(uint64_t start, uint64_t end, NodeReserve& nodes);
    void split_at(uint64_t addr, NodeReserve& nodes);
    // Links a new node for [at, v.end) with v's attributes, and trims v to [v.start, at).
    void split_off_upper(Vma& v, uint64_t at, NodeReserve& nodes);
    void merge_range(uint64_t start, uint64_t end);
    void free_vma(Vma* v);

    VmaAllocator& m_allocator;
    uint64_t m_base;
    uint64_t m_limit;
    Tree m_vmas;
};

} // namespace mm
