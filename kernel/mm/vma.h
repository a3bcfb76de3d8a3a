// AddressSpace: the application half of the virtual address space as an ordered set of VMAs
// with mmap/munmap/mprotect semantics, and the page-fault decision that follows from them.
//
// Design
//  * A VMA is a maximal run [start, end) of pages with one kind and one protection. VMAs never
//    overlap, are page-aligned, lie inside [base, limit) and are kept in an intrusive AVL tree
//    keyed by start (lib::IntrusiveAvlTree): find() is a floor query. Adjacent VMAs that are
//    identical (same kind and protection) are always merged, so the set is canonical: it is
//    exactly the run-length encoding of "what is at each page". When VMAs gain a backing
//    object, can_merge() must also require the same object and contiguous offsets.
//  * Kinds: Anonymous memory (demand-zero); Guard (no access; a fault in it is reported as a
//    guard hit, e.g. a stack overflow); Reserved (address space held back with no access, a
//    fault is a protection violation). Guard and Reserved ranges cannot be mprotect'ed (ACCES)
//    but can be unmapped or mapped over with MapFlags::Fixed.
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
// Errors follow Linux: INVAL for unaligned addresses or zero sizes, NOMEM when no gap fits,
// when a Fixed range leaves [base, limit), when protect() meets unmapped pages, or when a VMA
// node cannot be allocated. Every operation is all-or-nothing: VMA nodes it may need are
// allocated before anything changes.
//
// Concurrency: not synchronised; the owning process serialises calls (a mutex, or an rwlock
// with resolve_fault()/find() as readers). Nothing here blocks except the allocator.
#pragma once

#include <lib/intrusive_avl.h>
#include <lib/result.h>
#include <mm/paging.h>
#include <stddef.h>
#include <stdint.h>

namespace mm {

enum class VmaKind : uint8_t { Anonymous, Guard, Reserved };

// Request flags for map_anonymous()/reserve() (not stored in the VMA).
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
    VmaKind kind = VmaKind::Anonymous;
    // A backing object (file, shared memory) and its offset will go here.

    uint64_t size() const { return end - start; }
    bool contains(uint64_t addr) const { return addr >= start && addr < end; }
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

// What the page-fault handler should do about a fault at some address.
struct FaultResolution {
    enum class Kind : uint8_t {
        Populate,            // map `size` bytes at `base` with `prot` (fresh zeroed memory)
        NoVma,               // nothing mapped there: SIGSEGV, SEGV_MAPERR
        ProtectionViolation, // mapped, access not allowed: SIGSEGV, SEGV_ACCERR
        GuardHit,            // inside a guard VMA: SIGSEGV, SEGV_ACCERR (report the overflow)
    };
    Kind kind = Kind::NoVma;
    uint64_t base = 0;
    uint64_t size = 0;
    Protection prot = Protection::None;
    const Vma* vma = nullptr; // the VMA hit, if any
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
    // Frees every VMA node (page tables and frames are the glue's to release).
    ~AddressSpace();

    uint64_t base() const { return m_base; }
    uint64_t limit() const { return m_limit; }

    // mmap(MAP_ANONYMOUS): maps size (rounded up to pages) bytes with `prot` and returns the
    // start. Without Fixed flags `hint` is only a preference. With Fixed, `hint` must be
    // page-aligned (INVAL) and whatever overlaps is unmapped first; with FixedNoReplace an
    // overlap is EXIST. NOMEM if no room or no memory for a VMA node.
    Result<uint64_t> map_anonymous(uint64_t hint, uint64_t size, Protection prot, MapFlags flags = MapFlags::None);

    // As map_anonymous, but creates a Guard or Reserved VMA (no access). INVAL for Anonymous.
    Result<uint64_t> reserve(uint64_t hint, uint64_t size, VmaKind kind, MapFlags flags = MapFlags::None);

    // munmap: removes [addr, addr+size) from every VMA, splitting the ones that straddle the
    // edges. Unmapped holes are fine. INVAL if addr is unaligned, size is 0 or the range
    // passes `limit`; NOMEM only if a VMA must be split in two and no node is available.
    Result<void> unmap(uint64_t addr, uint64_t size);

    // mprotect: sets the protection of [addr, addr+size), splitting VMAs at the edges. NOMEM
    // if any page of the range is unmapped, ACCES if it touches a Guard/Reserved VMA (nothing
    // changes in either case); INVAL as for unmap.
    Result<void> protect(uint64_t addr, uint64_t size, Protection prot);

    // The VMA containing addr, or nullptr.
    const Vma* find(uint64_t addr) const;

    // The fault decision for an access at addr. Reads are allowed by any protection other
    // than None (x86 has no write- or exec-only pages). Populate uses a 2 MiB page when the
    // VMA is anonymous and covers the whole 2 MiB-aligned region around addr.
    FaultResolution resolve_fault(uint64_t addr, Access access) const;

    // Calls fn(const Vma&) for each VMA in address order. fn must not modify the space.
    template<typename F>
    void for_each(F&& fn) const
    {
        for (const Vma& v : m_vmas)
            fn(v);
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

    Result<uint64_t> place(uint64_t hint, uint64_t size, Protection prot, VmaKind kind, MapFlags flags);
    Result<void> check_range(uint64_t addr, uint64_t size, uint64_t& end) const;
    bool range_is_free(uint64_t start, uint64_t end) const;
    // Highest `align`-aligned start of a free range of `size` bytes, or 0 if none.
    uint64_t find_gap(uint64_t size, uint64_t align) const;
    Vma* find_mutable(uint64_t addr) const;
    void carve(uint64_t start, uint64_t end, NodeReserve& nodes);
    void split_at(uint64_t addr, NodeReserve& nodes);
    void merge_range(uint64_t start, uint64_t end);
    void free_vma(Vma* v);

    VmaAllocator& m_allocator;
    uint64_t m_base;
    uint64_t m_limit;
    Tree m_vmas;
};

} // namespace mm
