// PageTable: the portable manager of one x86-64 4-level page-table tree (map, unmap, protect,
// lookup, enumerate), with huge-page selection and splitting.
//
// Design
//  * The tree is reached only through an injected PageTableEnv: it allocates and frees the
//    4 KiB table pages, turns their physical addresses into pointers (the direct map in the
//    kernel, an offset into a buffer in host tests) and invalidates TLB entries. That is what
//    lets the same code run on the host under ASan against fake physical memory.
//  * map() picks, for every piece of the range, the largest leaf that the alignment of both
//    the virtual and the physical address and the remaining size allow: 1 GiB (only when
//    MapOptions::allow_1g), 2 MiB (unless !allow_2m), else 4 KiB.
//  * When an operation covers only part of a huge leaf (unmap or protect of part of a 2 MiB or
//    1 GiB page, or a replacing map of smaller pages inside one) the leaf is split into 512
//    leaves of the next smaller size with the same frames and attributes, recursively, so the
//    untouched part keeps its translation and protection. protect() does not split a leaf that
//    already has the requested protection.
//  * Table pages that become empty on unmap are freed; the root is never freed (destroy()
//    releases everything).
//
// All-or-nothing. Every mutating operation first validates, then (map without `replace`)
// checks the whole range for an existing mapping (Errno::EXIST), then counts exactly how many
// table pages it will need (new tables plus splits) and allocates them all into a private
// pool. Only then does it modify the tree, and from that point it cannot fail. So on any
// error — INVAL, EXIST or NOMEM — the tree is exactly as before. unmap and protect can need
// pages too (to split a huge leaf) and so can fail with NOMEM, like Linux's munmap.
//
// TLB protocol. Entries are written with single 64-bit release stores (the MMU may walk the
// tables concurrently; x86 keeps our stores in order, so a new table is fully initialised
// before the entry pointing to it becomes visible). A split installs leaves with the identical
// translation, which the SDM allows without invalidation [intel-sdm-3a §4.10.2.3]; every leaf
// that was present and whose translation or rights change is then invalidated once —
// INVLPG on any address of a huge page drops all TLB entries derived from it [intel-sdm-3a
// §4.10.4.1]. Invalidations are batched: up to kTlbBatch single-page hooks, else one flush_all.
// They are issued after the tables are updated and before any table page is freed (paging-
// structure caches may still point at a table until then). Cross-CPU shootdown is the
// environment's business: finish_invalidation() must not return before every CPU has
// complied.
//
// Protection encoding. Present ⇒ readable on x86, so Protection::Write or Exec alone behave
// (and are reported) as including Read. A mapping with Protection::None is kept as a
// non-present entry carrying x86::kPteSwNoAccess and its frame, so mprotect(PROT_NONE) and
// back preserves the memory. NX is used for !Exec; the kernel must have EFER.NXE enabled.
// Intermediate entries are always present|writable|user and executable: rights are decided
// by the leaf alone (the effective rights are the AND over all levels).
//
// Concurrency: a PageTable is not synchronised; its owner (the address space) serialises all
// calls, including lookups that race with modifications. May not block unless the env's
// allocate hook blocks.
#pragma once

#include <lib/result.h>
#include <mm/paging.h>
#include <stddef.h>
#include <stdint.h>

namespace mm {

// What the page-table manager needs from its surroundings. Physical addresses are plain
// uint64_t for now (to become PhysAddr).
class PageTableEnv {
public:
    // A zero-filled 4 KiB page for a table, 4 KiB aligned; Errno::NOMEM when none is left.
    virtual Result<uint64_t> allocate_table_page() = 0;
    // Returns a table page obtained from allocate_table_page() (its contents are garbage).
    virtual void free_table_page(uint64_t pa) = 0;
    // A pointer through which the table page at `pa` can be read and written.
    virtual void* phys_to_virt(uint64_t pa) = 0;
    // Drops any TLB entry (and paging-structure cache entry) for the page containing `va`.
    virtual void invalidate_page(uint64_t va) = 0;
    // Drops all TLB entries for this tree, global ones included.
    virtual void flush_all() = 0;
    // Called once after an operation's invalidate_page / flush_all calls and before it frees
    // any table page: an environment that batches (a cross-CPU shootdown) completes the
    // batch here; when it returns no CPU may hold a stale entry.
    virtual void finish_invalidation() {}

protected:
    ~PageTableEnv() = default;
};

// Per-call choices for map(). The caller decides kernel vs application: set `user` for the
// lower half, `global` for kernel mappings shared by every address space.
struct MapOptions {
    bool replace = false;  // silently replace existing mappings in the range (else EXIST)
    bool allow_2m = true;  // may use 2 MiB leaves
    bool allow_1g = false; // may use 1 GiB leaves (needs CPUID.80000001H:EDX.Page1GB)
    bool user = false;     // U/S: accessible from user mode
    bool global = false;   // G: not flushed by CR3 writes
    CacheMode cache = CacheMode::WriteBack;
};

// One leaf mapping as found in the tree.
struct Mapping {
    uint64_t va = 0;       // canonical virtual base of the leaf page
    uint64_t pa = 0;       // physical base of its frame
    PageSize size = PageSize::Size4K;
    Protection prot = Protection::None; // effective rights (Read added if anything is set)
    bool user = false;
    bool global = false;
    CacheMode cache = CacheMode::WriteBack;
    uint64_t entry = 0;    // the raw leaf entry, for tests and diagnostics

    uint64_t bytes() const { return page_size_bytes(size); }
    // Physical address that `addr` (inside this leaf) translates to.
    uint64_t translate(uint64_t addr) const { return pa + (addr - va); }
};

class PageTable {
public:
    // Most TLB invalidations one operation issues page by page before it flushes everything.
    static constexpr unsigned kTlbBatch = 32;

    // A new, empty tree; its root page comes from env. NOMEM if that allocation fails.
    static Result<PageTable> create(PageTableEnv& env);
    // Manages an existing tree (e.g. the one boot code built). Table pages it frees later go
    // to env.free_table_page(), so env must accept every table page reachable from root.
    static PageTable adopt(PageTableEnv& env, uint64_t root_pa) { return PageTable(env, root_pa); }

    PageTable(PageTable&& other) : m_env(other.m_env), m_root(other.m_root) { other.m_root = 0; }
    PageTable(const PageTable&) = delete;
    PageTable& operator=(const PageTable&) = delete;
    PageTable& operator=(PageTable&&) = delete;
    // Does not free anything: the kernel's own tree lives forever; call destroy() otherwise.
    ~PageTable() = default;

    // Physical address of the PML4 (what goes into CR3).
    uint64_t root() const { return m_root; }

    // Maps [va, va+size) to [pa, pa+size) with `prot`. va, pa and size must be 4 KiB aligned,
    // size non-zero, the virtual range canonical and inside one half, pa+size ≤ 2^52
    // (else INVAL). EXIST if anything in the range is mapped and !opts.replace; NOMEM if a
    // table page cannot be allocated. All-or-nothing.
    Result<void> map(uint64_t va, uint64_t pa, uint64_t size, Protection prot, const MapOptions& opts = {});

    // Removes every mapping in [va, va+size) (holes are fine), splitting huge leaves that
    // straddle the boundaries and freeing tables left empty. Frames are not freed: they are
    // the caller's (enumerate them with for_each first). INVAL for a bad range, NOMEM if a
    // split cannot get a table page. All-or-nothing.
    Result<void> unmap(uint64_t va, uint64_t size) { return unmap_visiting(va, size, nullptr, nullptr); }

    // As unmap(), and calls on_removed(const Mapping&) for every leaf that overlaps the range
    // (reported whole, before any split) once the operation can no longer fail, so the caller
    // can release exactly the frames of a successful unmap.
    template<typename F>
    Result<void> unmap(uint64_t va, uint64_t size, F&& on_removed)
    {
        return unmap_visiting(va, size, &visit_trampoline<F>, &on_removed);
    }

    // Sets the rights of every mapping in [va, va+size) to `prot` (holes are skipped, so this
    // works over partly populated demand-paged regions), splitting straddling huge leaves.
    // User/global/cache attributes are kept. Errors as for unmap. All-or-nothing.
    Result<void> protect(uint64_t va, uint64_t size, Protection prot);

    // The leaf mapping `va` (any address, not necessarily aligned); FAULT if not mapped.
    Result<Mapping> lookup(uint64_t va) const;

    // Calls fn(const Mapping&) for every leaf, in address order (lower half first). The
    // callback must not modify this tree.
    template<typename F>
    void for_each(F&& fn) const
    {
        walk(0, uint64_t(1) << 48, &visit_trampoline<F>, &fn);
    }
    // As for_each, but only leaves that overlap [va, va+size) (reported whole). The range
    // must be valid as for unmap; an invalid one visits nothing.
    template<typename F>
    void for_each_in(uint64_t va, uint64_t size, F&& fn) const
    {
        uint64_t start, end;
        if (!check_range(va, size, start, end).is_error())
            walk(start, end, &visit_trampoline<F>, &fn);
    }

    // Frees every table page including the root after one flush_all. Leaf frames are not
    // touched. The object is empty afterwards (root() == 0) and must not be used again.
    void destroy();

private:
    struct Txn;
    enum class Shadow : uint8_t;
    using Visitor = void (*)(void* ctx, const Mapping&);

    PageTable(PageTableEnv& env, uint64_t root) : m_env(&env), m_root(root) {}

    template<typename F>
    static void visit_trampoline(void* ctx, const Mapping& m)
    {
        (*static_cast<F*>(ctx))(m);
    }

    // Validates a virtual range and converts it to 48-bit linear [start, end).
    Result<void> unmap_visiting(uint64_t va, uint64_t size, Visitor visit, void* ctx);
    static Result<void> check_range(uint64_t va, uint64_t size, uint64_t& start, uint64_t& end);

    uint64_t* table(uint64_t pa) const { return static_cast<uint64_t*>(m_env->phys_to_virt(pa)); }

    void walk(uint64_t start, uint64_t end, Visitor visit, void* ctx) const;
    void walk_level(int level, uint64_t table_pa, uint64_t start, uint64_t end, Visitor visit, void* ctx) const;
    bool range_has_mapping(int level, uint64_t table_pa, uint64_t start, uint64_t end) const;
    // The 4 KiB entry for `linear` when every level above it is a table, else nullptr.
    uint64_t* last_level_slot(uint64_t linear) const;

    size_t count_map_pages(int level, Shadow shadow, uint64_t table_pa, uint64_t start, uint64_t end,
                           uint64_t pa, const MapOptions& opts) const;
    size_t count_split_pages(int level, Shadow shadow, uint64_t table_pa, uint64_t start, uint64_t end,
                             const Protection* target) const;

    void map_level(Txn& txn, int level, uint64_t table_pa, uint64_t start, uint64_t end, uint64_t pa,
                   uint64_t leaf_template, const MapOptions& opts);
    void unmap_level(Txn& txn, int level, uint64_t table_pa, uint64_t start, uint64_t end);
    void protect_level(Txn& txn, int level, uint64_t table_pa, uint64_t start, uint64_t end, Protection prot);
    uint64_t split_leaf(Txn& txn, uint64_t entry, int level);
    void release_subtree(Txn& txn, int level, uint64_t table_pa, uint64_t base);
    bool table_is_empty(uint64_t table_pa) const;

    PageTableEnv* m_env;
    uint64_t m_root; // physical address of the PML4; 0 after destroy() or a move
};

} // namespace mm
