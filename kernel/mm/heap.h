// Heap: the kernel's malloc — size-class slabs for small objects, page runs for large ones,
// with pages drawn from a PageSource (the direct-mapped PhysAllocator in the kernel).
//
// Layout. Every allocation lives in a "block" obtained from the page source and aligned to
// kHeapSlabSize (16 KiB). The block starts with a 64-byte BlockHeader, and the header of any
// pointer p the heap returned is found by pure arithmetic:
//
//     header(p) = (p - 1) rounded down to a multiple of kHeapSlabSize
//
// so no per-page metadata array or lookup structure is needed.
//  - Small blocks (slabs) serve one size class (24 classes, 16..2048 bytes: steps of 16 up to
//    128, then four classes per power of two). Objects are laid out downwards from the end of
//    the slab: object i occupies [slab_end - (i+1)*size, slab_end - i*size). Because slab_end is
//    16 KiB-aligned, an object of a class whose size is a multiple of 2^k is 2^k-aligned; small
//    aligned requests simply pick the first class whose size is a multiple of the alignment.
//    Objects never overlap the header, so (p - 1) stays inside the slab.
//  - Large blocks hold one allocation bigger than 2048 bytes (or aligned to 4096): the object
//    starts `offset` bytes into the run, offset = max(64, align) <= 4096, so (p - 1) falls in
//    the first page. A 4096-aligned allocation therefore costs one extra page; callers that
//    want whole pages should use the page allocator directly.
// Alignment up to kPageSize is supported; larger alignments return nullptr.
//
// Free lists. A slab keeps its own free list (threaded through the freed objects) plus a bump
// index for never-used objects, so creating a slab is O(1). Per size class, slabs with at least
// one free object are on a "partial" list; full slabs are on no list and rejoin it when an
// object is freed. When a slab becomes empty it is returned to the page source, except that one
// empty slab per class is kept to avoid thrashing at a slab boundary (trim() releases those).
//
// Per-CPU shape. The per-class state lives in HeapCpuCache. There is one instance today; with
// SMP each CPU gets its own (reached under a PreemptGuard) and every slab records the CPU that
// owns it (BlockHeader::cpu), so a free from another CPU can be handed back to the owner through
// a per-CPU-pair queue instead of a global lock.
//
// Errors: exhaustion (the page source failing) makes allocate() return nullptr; it never
// asserts. Freeing a pointer the heap did not hand out is a kernel bug: where the header magic
// or the object's position is wrong, NIMBUS_ASSERT fires.
//
// Concurrency: none inside; the caller serialises every call (single CPU for now).
#pragma once

#include <lib/result.h>
#include <mm/phys_allocator.h>
#include <mm/types.h>

#include <stddef.h>
#include <stdint.h>

namespace mm {

// Where the heap gets its memory: runs of whole pages, aligned to a power-of-two number of
// pages. Implementations: DirectMapPageSource below, core::KernelPageSource (the kernel's:
// the direct map, or the vmap area for large blocks), aligned_alloc fakes (host tests).
class PageSource {
public:
    // `pages` contiguous, writable pages whose address is a multiple of align_pages * kPageSize.
    // Errors: NOMEM when out of memory.
    virtual Result<void*> alloc_pages(size_t pages, size_t align_pages) = 0;
    // Return exactly a run previously obtained from alloc_pages (same start, same count).
    virtual void free_pages(void* start, size_t pages) = 0;

protected:
    ~PageSource() = default; // not deleted through the interface
};

// PageSource backed by a PhysAllocator, with physical memory reached through a direct map at
// virtual address phys + direct_map_base. The caller serialises use (as for PhysAllocator).
class DirectMapPageSource final : public PageSource {
public:
    constexpr DirectMapPageSource(PhysAllocator& phys, uintptr_t direct_map_base)
        : m_phys(phys), m_direct_map_base(direct_map_base)
    {
    }
    Result<void*> alloc_pages(size_t pages, size_t align_pages) override;
    void free_pages(void* start, size_t pages) override;

private:
    PhysAllocator& m_phys;
    uintptr_t m_direct_map_base;
};

inline constexpr size_t kHeapSlabPages = 4;
inline constexpr size_t kHeapSlabSize = kHeapSlabPages * kPageSize; // 16 KiB
inline constexpr size_t kHeapMaxSmallSize = 2048;
inline constexpr size_t kHeapClassCount = 24;
inline constexpr size_t kHeapMaxAlign = kPageSize;

struct HeapStats {
    size_t bytes_in_use = 0;  // sum of usable_size() over live allocations
    size_t allocations = 0;   // live allocations
    size_t pages_held = 0;    // pages currently taken from the page source
    size_t slabs = 0;         // small blocks held (including cached empty ones)
    size_t large_blocks = 0;  // live large allocations
};

class Heap {
public:
    struct BlockHeader;

    // Per-size-class state of one CPU's cache (see the header comment).
    struct ClassState {
        BlockHeader* partial = nullptr; // slabs with >= 1 free object, doubly linked
        size_t empty_slabs = 0;         // slabs on `partial` with no object in use
    };
    struct HeapCpuCache {
        ClassState classes[kHeapClassCount];
    };

    constexpr explicit Heap(PageSource& source) : m_source(source) {}
    Heap(const Heap&) = delete;
    Heap& operator=(const Heap&) = delete;

    // At least `size` bytes aligned to `align` (a power of two <= kHeapMaxAlign; 0 means 1).
    // size 0 yields a unique minimal allocation. Returns nullptr if memory is exhausted or the
    // alignment is unsupported. Never blocks (beyond what the page source does).
    void* allocate(size_t size, size_t align = 16);
    // Free p (nullptr is ignored). p must come from this heap and be live; asserts on a bad
    // header.
    void deallocate(void* p);
    // Bytes usable at p (>= the size asked for). p must be live.
    size_t usable_size(const void* p) const;
    // C realloc: p == nullptr allocates, size == 0 frees and returns nullptr; otherwise returns
    // a block of at least `size` bytes holding the old contents (up to the smaller size), which
    // may be p itself. On failure returns nullptr and p is untouched. A moved block is only
    // 16-byte aligned.
    void* reallocate(void* p, size_t size);
    // Return every cached empty slab to the page source (a hook for memory-pressure shrinkers).
    void trim();

    HeapStats stats() const { return m_stats; }

    // Size of objects in size class `index` (< kHeapClassCount); exposed for tests.
    static size_t class_size(size_t index);

private:
    // Class index for a small request, or -1 if it must go to a large block.
    static int class_for(size_t size, size_t align);
    static BlockHeader* header_of(const void* p);

    void* allocate_small(size_t cls);
    void* allocate_large(size_t size, size_t align);
    void deallocate_small(BlockHeader* slab, void* p);
    void deallocate_large(BlockHeader* block, void* p);
    BlockHeader* new_slab(size_t cls);
    void release_slab(BlockHeader* slab);
    void partial_push(ClassState& cs, BlockHeader* slab);
    void partial_remove(ClassState& cs, BlockHeader* slab);

    PageSource& m_source;
    HeapCpuCache m_cpu; // one cache while Nimbus is single-CPU
    HeapStats m_stats;
};

} // namespace mm
