// PhysAllocator: the physical page allocator — hands out runs of 4 KiB page frames, optionally
// aligned for 2 MiB / 1 GiB mappings, from the free ranges of the firmware memory map.
//
// Design. Free memory is kept as maximal "free runs" [start, start + pages * 4 KiB). The
// bookkeeping for a run (struct FreeRun) is stored *inside the first page of the run itself*,
// reached through the phys_to_virt translation given at construction (the direct map in the
// kernel, an offset into a host buffer in tests). Consequences:
//  - no per-page array and no bitmap: initialisation writes one FreeRun per memory-map region,
//    so boot cost is O(regions log regions), independent of the amount of RAM;
//  - the allocator needs no memory of its own, and free memory describes itself.
//
// Every free run is on two intrusive structures at once:
//  (a) an address-ordered AVL tree (lib::IntrusiveAvlTree keyed by start address; its links
//      live in the FreeRun, so the tree never allocates). free() finds the free runs just
//      below and just above the freed block in O(log n) and merges with whichever is adjacent,
//      so free memory always stays coalesced into maximal runs. Coalescing looks only at
//      FreeRun nodes found through the tree, i.e. only at memory that is free; it never reads
//      an allocated page to guess whether it is free.
//  (b) size buckets: bucket k holds the runs whose length in pages is in [2^k, 2^(k+1)), as a
//      doubly linked list, and a 64-bit mask records which buckets are non-empty. An allocation
//      of n pages (alignment a) takes the first run of the lowest non-empty bucket whose every
//      run is guaranteed to fit (length >= n + a - 1): one count-trailing-zeros and O(log n)
//      tree work. Only when no such bucket exists does it scan the smaller buckets that may
//      still hold a fitting run, so NOMEM is returned only if no free run can satisfy the
//      request.
//
// Carving takes the highest suitably aligned block of the chosen run. For unaligned requests
// that is the tail of the run, so the run's FreeRun node stays where it is and only its length
// (and maybe its bucket) changes.
//
// Invariants (checked by verify()):
//  - free runs are page-aligned, non-empty, pairwise disjoint and never adjacent (maximal);
//  - each run is in the tree under its start address and in bucket floor(log2(pages));
//  - free_pages() is the sum of run lengths and never exceeds total_pages().
//
// Errors: exhaustion returns Errno::NOMEM (never asserts). Freeing memory that overlaps a free
// run (double free) is a kernel bug and asserts.
//
// Concurrency: none inside. The caller serialises every call (single CPU for now; a later SMP
// change wraps it in the lock-free mutex). The intended hot path is a small per-CPU stack of
// single pages in front of this class, refilled and drained in batches through alloc(1)/free(p, 1),
// so this class stays a slow path shared by all CPUs.
#pragma once

#include <lib/intrusive_avl.h>
#include <lib/result.h>
#include <mm/types.h>

#include <stddef.h>
#include <stdint.h>

namespace mm {

class PhysAllocator {
public:
    // Translation from a physical address to a pointer through which the allocator may read and
    // write that page. Must be valid for every page ever handed to add_range(). `ctx` is passed
    // through unchanged.
    using PhysToVirtFn = void* (*)(void* ctx, PhysAddr);

    constexpr explicit PhysAllocator(PhysToVirtFn phys_to_virt, void* ctx = nullptr)
        : m_phys_to_virt(phys_to_virt), m_ctx(ctx)
    {
    }
    PhysAllocator(const PhysAllocator&) = delete;
    PhysAllocator& operator=(const PhysAllocator&) = delete;

    // Hand the free physical range [start, end) to the allocator (boot-time memory map). The
    // range is trimmed inwards to 4 KiB boundaries; one that is empty after trimming is ignored.
    // Counts towards total_pages(). Adjacent free runs are merged. Touches one page.
    // Errors: INVAL if end < start or the range overlaps memory that is already free (a broken
    // memory map); nothing is changed then.
    Result<void> add_range(PhysAddr start, PhysAddr end);

    // Allocate `pages` contiguous pages whose start is aligned to `align_pages` pages (a power
    // of two: 512 for a 2 MiB page, 262144 for 1 GiB). Contents are undefined.
    // Errors: INVAL if pages == 0 or align_pages is not a power of two; NOMEM if no free run
    // can hold the request.
    Result<PhysAddr> alloc(size_t pages, size_t align_pages = 1);

    // Return `pages` pages starting at `start` (page-aligned), previously allocated. Any
    // sub-range of an allocation may be freed separately. Asserts if the block overlaps free
    // memory (double free).
    void free(PhysAddr start, size_t pages);

    size_t free_pages() const { return m_free_pages; }
    size_t total_pages() const { return m_total_pages; }
    // Number of maximal free runs (a fragmentation measure).
    size_t free_run_count() const { return m_tree.size(); }
    // True if the page containing `addr` is free.
    bool is_free(PhysAddr addr) const;

    // Call fn(PhysAddr start, size_t pages) for every free run in address order (debug print).
    // fn must not call into the allocator.
    template<typename Fn>
    void for_each_free_range(Fn&& fn) const
    {
        for (const FreeRun& run : m_tree)
            fn(run_start(&run), size_t(run.pages));
    }

    // Check every invariant in the header comment. O(free runs); for tests and debugging.
    bool verify() const;

private:
    static constexpr size_t kBucketCount = 64;
    static constexpr uint64_t kFreeRunMagic = 0x4e42'4652'4545'5255; // debug aid only

    // Lives in the first page of the free run it describes. The AvlLink base holds the tree
    // links (keyed by `start`).
    struct FreeRun : lib::AvlLink<> {
        uint64_t start; // physical address of this run (and of the page holding this header)
        FreeRun* bucket_next;
        FreeRun* bucket_prev;
        uint64_t pages;
        // Written when the node is created and cleared when its page stops being a run head.
        // Only ever read from nodes reached through the tree or a bucket, to catch stray writes
        // into free memory; never used to decide whether memory is free.
        uint64_t magic;
    };

    struct FreeRunStart {
        uint64_t operator()(const FreeRun& r) const { return r.start; }
    };
    using RunTree = lib::IntrusiveAvlTree<FreeRun, FreeRunStart>;

    static PhysAddr run_start(const FreeRun* r) { return PhysAddr(r->start); }
    static PhysAddr run_end(const FreeRun* r) { return PhysAddr(r->start).plus_pages(r->pages); }
    static size_t bucket_of(uint64_t pages);

    // Write a fresh FreeRun into the (free) page at `start`; it is in no structure yet.
    FreeRun* make_run(PhysAddr start, uint64_t pages);
    void bucket_insert(FreeRun* run);
    void bucket_remove(FreeRun* run);
    void set_run_pages(FreeRun* run, uint64_t pages);
    // Insert [start, start + pages) as free memory, coalescing with neighbours. The caller has
    // checked that it overlaps no free run; `pred` / `succ` are the runs just below and above.
    void insert_free(PhysAddr start, uint64_t pages, FreeRun* pred, FreeRun* succ);
    // If run holds an `align_pages`-aligned block of `pages` pages, store the highest such
    // block start in `out` and return true.
    static bool fit(const FreeRun* run, uint64_t pages, uint64_t align_pages, PhysAddr& out);
    PhysAddr carve(FreeRun* run, PhysAddr block, uint64_t pages);

    PhysToVirtFn m_phys_to_virt;
    void* m_ctx;
    RunTree m_tree;
    FreeRun* m_buckets[kBucketCount] = {};
    uint64_t m_nonempty_buckets = 0; // bit k set <=> m_buckets[k] != nullptr
    size_t m_free_pages = 0;
    size_t m_total_pages = 0;
};

} // namespace mm
