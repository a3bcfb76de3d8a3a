// PageTable implementation: range walks over the 4-level tree, exact table-page accounting for
// all-or-nothing updates, huge-leaf splitting and batched TLB invalidation.
//
// Internally all virtual addresses are 48-bit linear addresses (the canonical sign extension
// stripped), so a range is a plain [start, end) with end ≤ 2^48 and never overflows; they are
// made canonical again only when handed to the env or reported in a Mapping.
#include <mm/page_table.h>

namespace mm {

using namespace x86;

namespace {

constexpr uint64_t kLinearLimit = uint64_t(1) << 48;
constexpr uint64_t kTableEntryFlags = kPtePresent.bits() | kPteWritable.bits() | kPteUser.bits();
// Bits that encode the rights of a leaf; everything else in a leaf is kept by protect().
constexpr uint64_t kRightsMask =
    kPtePresent.bits() | kPteWritable.bits() | kPteNoExecute.bits() | kPteSwNoAccess.bits();

uint64_t load_entry(const uint64_t* slot) { return __atomic_load_n(slot, __ATOMIC_RELAXED); }

// Release: the contents of a table (or frame) an entry points to are written before the entry
// itself. Pairs with the MMU's page walk, which on x86 observes our stores in program order.
void store_entry(uint64_t* slot, uint64_t value) { __atomic_store_n(slot, value, __ATOMIC_RELEASE); }

bool is_table_entry(uint64_t e, int level)
{
    return level > 0 && pte_has(e, kPtePresent) && !pte_has(e, kPteHuge);
}

// A leaf that maps something, accessible or not (see kPteSwNoAccess).
bool is_leaf_entry(uint64_t e, int level)
{
    bool mapped = pte_has(e, kPtePresent) || pte_has(e, kPteSwNoAccess);
    return mapped && (level == 0 || pte_has(e, kPteHuge));
}

uint64_t with_rights(uint64_t e, Protection prot)
{
    e &= ~kRightsMask;
    if (prot == Protection::None)
        return e | kPteSwNoAccess.bits();
    e |= kPtePresent.bits();
    if (has_all(prot, Protection::Write))
        e |= kPteWritable.bits();
    if (!has_all(prot, Protection::Exec))
        e |= kPteNoExecute.bits();
    return e;
}

Protection rights_of(uint64_t e)
{
    if (!pte_has(e, kPtePresent))
        return Protection::None;
    Protection p = Protection::Read;
    if (pte_has(e, kPteWritable))
        p = p | Protection::Write;
    if (!pte_has(e, kPteNoExecute))
        p = p | Protection::Exec;
    return p;
}

uint64_t cache_bits(CacheMode mode)
{
    switch (mode) {
    case CacheMode::WriteBack:
        return 0;
    case CacheMode::WriteThrough:
        return kPteWriteThrough.bits();
    case CacheMode::Uncached:
        return kPteWriteThrough.bits() | kPteCacheDisable.bits();
    }
    return 0;
}

// The Mapping described by leaf `e` at `level` that covers linear address `linear`.
Mapping make_mapping(uint64_t e, int level, uint64_t linear)
{
    Mapping m;
    m.va = make_canonical(linear & ~(level_span(level) - 1));
    m.pa = e & leaf_addr_mask(level);
    m.size = PageSize(level);
    m.prot = rights_of(e);
    m.user = pte_has(e, kPteUser);
    m.global = pte_has(e, kPteGlobal);
    m.cache = pte_has(e, kPteCacheDisable)  ? CacheMode::Uncached
              : pte_has(e, kPteWriteThrough) ? CacheMode::WriteThrough
                                             : CacheMode::WriteBack;
    m.entry = e;
    return m;
}

uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

// Can [start, slot_end) — inside the slot at `slot_base` of a table at `level` — be one leaf
// mapping `pa`?
bool leaf_fits(int level, uint64_t start, uint64_t slot_end, uint64_t pa, const MapOptions& opts)
{
    if (level == 0)
        return true;
    if (level == 1 && !opts.allow_2m)
        return false;
    if (level == 2 && !opts.allow_1g)
        return false;
    if (level > 2)
        return false;
    uint64_t span = level_span(level);
    return (start & (span - 1)) == 0 && slot_end - start == span && (pa & (span - 1)) == 0;
}

} // namespace

// How count_* sees a table that does not exist yet: Real reads the tree, Empty is a table the
// operation would create, AllLeaves one that a split would fill with 512 leaves — all with the
// same rights as the split leaf, which is why a protect that split it must split them too.
enum class PageTable::Shadow : uint8_t { Real, Empty, AllLeaves };

// The state of one mutating operation: its pre-allocated table pages, the table pages to free
// once the TLB is clean, and the pending invalidations. Page lists are linked through word 0
// of the pages themselves (a page-aligned physical address, so bit 0 — P — stays clear and a
// stray walk of a page being freed sees "not present").
struct PageTable::Txn {
    explicit Txn(PageTableEnv& env) : env(env) {}

    // Fills the pool with exactly n zeroed pages, or returns NOMEM having allocated nothing.
    Result<void> reserve(size_t n)
    {
        for (size_t i = 0; i < n; i++) {
            auto page = env.allocate_table_page();
            if (page.is_error()) {
                release_pool();
                return Errno::NOMEM;
            }
            push(pool, page.value());
        }
        return {};
    }

    uint64_t take()
    {
        NIMBUS_ASSERT(pool != 0); // the count_* functions promised enough pages
        uint64_t pa = pool;
        uint64_t* words = static_cast<uint64_t*>(env.phys_to_virt(pa));
        pool = words[0];
        words[0] = 0; // back to an all-zero table
        return pa;
    }

    void defer_free(uint64_t pa) { push(deferred, pa); }

    void invalidate(uint64_t linear)
    {
        if (flush)
            return;
        if (pending == kTlbBatch) {
            flush = true;
            return;
        }
        tlb[pending++] = make_canonical(linear);
    }

    // Makes the changes visible to every TLB, then frees what was unlinked.
    void commit()
    {
        NIMBUS_ASSERT(pool == 0); // the counts were exact
        if (flush || (pending == 0 && deferred != 0)) {
            env.flush_all();
        } else {
            for (unsigned i = 0; i < pending; i++)
                env.invalidate_page(tlb[i]);
        }
        if (flush || pending != 0 || deferred != 0)
            env.finish_invalidation();
        while (deferred != 0) {
            uint64_t pa = deferred;
            deferred = static_cast<uint64_t*>(env.phys_to_virt(pa))[0];
            env.free_table_page(pa);
        }
    }

    void release_pool()
    {
        while (pool != 0)
            env.free_table_page(take());
    }

    void push(uint64_t& list, uint64_t pa)
    {
        static_cast<uint64_t*>(env.phys_to_virt(pa))[0] = list;
        list = pa;
    }

    PageTableEnv& env;
    uint64_t pool = 0;
    uint64_t deferred = 0;
    uint64_t tlb[kTlbBatch];
    unsigned pending = 0;
    bool flush = false;
};

Result<PageTable> PageTable::create(PageTableEnv& env)
{
    uint64_t root = TRY(env.allocate_table_page());
    return PageTable(env, root);
}

Result<void> PageTable::check_range(uint64_t va, uint64_t size, uint64_t& start, uint64_t& end)
{
    if (size == 0 || (va & (kSize4K - 1)) != 0 || (size & (kSize4K - 1)) != 0 || !is_canonical(va))
        return Errno::INVAL;
    start = va & (kLinearLimit - 1);
    uint64_t half_end = is_lower_half(va) ? kLowerHalfEnd : kLinearLimit;
    if (size > half_end - start)
        return Errno::INVAL; // runs into the non-canonical hole or off the top
    end = start + size;
    return {};
}

Result<void> PageTable::map(uint64_t va, uint64_t pa, uint64_t size, Protection prot, const MapOptions& opts)
{
    uint64_t start, end;
    TRY(check_range(va, size, start, end));
    if ((pa & (kSize4K - 1)) != 0 || pa >= kPhysAddrLimit || size > kPhysAddrLimit - pa || !is_valid(prot))
        return Errno::INVAL;
    uint64_t leaf = cache_bits(opts.cache);
    if (opts.user)
        leaf |= kPteUser.bits();
    if (opts.global)
        leaf |= kPteGlobal.bits();
    leaf = with_rights(leaf, prot);

    // The common case — one 4 KiB page under an existing last-level table (demand paging, a
    // file page, a copy-on-write copy) — takes a walk and a store, without the counting pass
    // and the transaction below. Same result: no table page is needed, so nothing can fail.
    if (end - start == kSize4K) {
        if (uint64_t* slot = last_level_slot(start)) {
            uint64_t e = load_entry(slot);
            if (is_leaf_entry(e, 0) && !opts.replace)
                return Errno::EXIST;
            store_entry(slot, leaf | pa);
            if (pte_has(e, kPtePresent)) {
                Txn txn(*m_env);
                txn.invalidate(start);
                txn.commit();
            }
            return {};
        }
    }

    if (!opts.replace && range_has_mapping(kRootLevel, m_root, start, end))
        return Errno::EXIST;

    Txn txn(*m_env);
    TRY(txn.reserve(count_map_pages(kRootLevel, Shadow::Real, m_root, start, end, pa, opts)));
    map_level(txn, kRootLevel, m_root, start, end, pa, leaf, opts);
    txn.commit();
    return {};
}

uint64_t* PageTable::last_level_slot(uint64_t linear) const
{
    uint64_t table_pa = m_root;
    for (int level = kRootLevel; level > 0; level--) {
        uint64_t e = load_entry(&table(table_pa)[table_index(linear, level)]);
        if (!is_table_entry(e, level))
            return nullptr;
        table_pa = e & kPteAddrMask4K;
    }
    return &table(table_pa)[table_index(linear, 0)];
}

Result<void> PageTable::unmap_visiting(uint64_t va, uint64_t size, Visitor visit, void* ctx)
{
    uint64_t start, end;
    TRY(check_range(va, size, start, end));
    Txn txn(*m_env);
    TRY(txn.reserve(count_split_pages(kRootLevel, Shadow::Real, m_root, start, end, nullptr)));
    // Every table page a split needs is reserved: nothing below can fail any more.
    if (visit)
        walk(start, end, visit, ctx);
    unmap_level(txn, kRootLevel, m_root, start, end);
    txn.commit();
    return {};
}

Result<void> PageTable::protect(uint64_t va, uint64_t size, Protection prot)
{
    uint64_t start, end;
    TRY(check_range(va, size, start, end));
    if (!is_valid(prot))
        return Errno::INVAL;
    Txn txn(*m_env);
    TRY(txn.reserve(count_split_pages(kRootLevel, Shadow::Real, m_root, start, end, &prot)));
    protect_level(txn, kRootLevel, m_root, start, end, prot);
    txn.commit();
    return {};
}

Result<Mapping> PageTable::lookup(uint64_t va) const
{
    if (!is_canonical(va))
        return Errno::FAULT;
    uint64_t linear = va & (kLinearLimit - 1);
    uint64_t table_pa = m_root;
    for (int level = kRootLevel; level >= 0; level--) {
        uint64_t e = load_entry(&table(table_pa)[table_index(linear, level)]);
        if (is_table_entry(e, level)) {
            table_pa = e & kPteAddrMask4K;
            continue;
        }
        if (!is_leaf_entry(e, level))
            return Errno::FAULT;
        return make_mapping(e, level, linear);
    }
    return Errno::FAULT;
}

void PageTable::destroy()
{
    if (m_root == 0)
        return;
    Txn txn(*m_env);
    txn.flush = true;
    release_subtree(txn, kRootLevel, m_root, 0);
    txn.commit();
    m_root = 0;
}

void PageTable::walk(uint64_t start, uint64_t end, Visitor visit, void* ctx) const
{
    walk_level(kRootLevel, m_root, start, end, visit, ctx);
}

// The loops below all share one shape: visit each slot of the table at `level` that overlaps
// [start, end); `va` is the first address of the range inside the slot, `slot_end` the end of
// the range inside it.
void PageTable::walk_level(int level, uint64_t table_pa, uint64_t start, uint64_t end, Visitor visit,
                           void* ctx) const
{
    uint64_t span = level_span(level);
    uint64_t* t = table(table_pa);
    for (uint64_t va = start; va < end;) {
        uint64_t slot_base = va & ~(span - 1);
        uint64_t slot_end = min_u64(slot_base + span, end);
        uint64_t e = load_entry(&t[table_index(va, level)]);
        if (is_table_entry(e, level)) {
            walk_level(level - 1, e & kPteAddrMask4K, va, slot_end, visit, ctx);
        } else if (is_leaf_entry(e, level)) {
            visit(ctx, make_mapping(e, level, slot_base));
        }
        va = slot_end;
    }
}

bool PageTable::range_has_mapping(int level, uint64_t table_pa, uint64_t start, uint64_t end) const
{
    uint64_t span = level_span(level);
    uint64_t* t = table(table_pa);
    for (uint64_t va = start; va < end;) {
        uint64_t slot_end = min_u64((va & ~(span - 1)) + span, end);
        uint64_t e = load_entry(&t[table_index(va, level)]);
        if (is_leaf_entry(e, level))
            return true;
        if (is_table_entry(e, level) && range_has_mapping(level - 1, e & kPteAddrMask4K, va, slot_end))
            return true;
        va = slot_end;
    }
    return false;
}

// Table pages map_level() will take from the pool: one per table it creates and one per leaf
// it splits. Mirrors map_level() decision for decision.
size_t PageTable::count_map_pages(int level, Shadow shadow, uint64_t table_pa, uint64_t start, uint64_t end,
                                  uint64_t pa, const MapOptions& opts) const
{
    size_t pages = 0;
    uint64_t span = level_span(level);
    for (uint64_t va = start; va < end;) {
        uint64_t slot_end = min_u64((va & ~(span - 1)) + span, end);
        uint64_t slot_pa = pa + (va - start);
        if (!leaf_fits(level, va, slot_end, slot_pa, opts)) {
            Shadow child = shadow;
            uint64_t child_pa = 0;
            if (shadow == Shadow::Real) {
                uint64_t e = load_entry(&table(table_pa)[table_index(va, level)]);
                if (is_table_entry(e, level))
                    child_pa = e & kPteAddrMask4K;
                else
                    child = is_leaf_entry(e, level) ? Shadow::AllLeaves : Shadow::Empty;
            }
            if (child != Shadow::Real)
                pages++;
            pages += count_map_pages(level - 1, child, child_pa, va, slot_end, slot_pa, opts);
        }
        va = slot_end;
    }
    return pages;
}

// Table pages unmap_level() (target == nullptr) or protect_level() (target = the new rights)
// will need: one per leaf split because the range covers it only partly (and, for protect,
// its rights change).
size_t PageTable::count_split_pages(int level, Shadow shadow, uint64_t table_pa, uint64_t start, uint64_t end,
                                    const Protection* target) const
{
    if (level == 0)
        return 0; // 4 KiB leaves are never split
    size_t pages = 0;
    uint64_t span = level_span(level);
    for (uint64_t va = start; va < end;) {
        uint64_t slot_base = va & ~(span - 1);
        uint64_t slot_end = min_u64(slot_base + span, end);
        bool partial = va != slot_base || slot_end != slot_base + span;
        if (shadow == Shadow::Real) {
            uint64_t e = load_entry(&table(table_pa)[table_index(va, level)]);
            if (is_table_entry(e, level)) {
                pages += count_split_pages(level - 1, Shadow::Real, e & kPteAddrMask4K, va, slot_end, target);
            } else if (is_leaf_entry(e, level) && partial && (!target || with_rights(e, *target) != e)) {
                pages += 1 + count_split_pages(level - 1, Shadow::AllLeaves, 0, va, slot_end, target);
            }
        } else if (shadow == Shadow::AllLeaves && partial) {
            pages += 1 + count_split_pages(level - 1, Shadow::AllLeaves, 0, va, slot_end, target);
        }
        va = slot_end;
    }
    return pages;
}

void PageTable::map_level(Txn& txn, int level, uint64_t table_pa, uint64_t start, uint64_t end, uint64_t pa,
                          uint64_t leaf_template, const MapOptions& opts)
{
    uint64_t span = level_span(level);
    uint64_t* t = table(table_pa);
    for (uint64_t va = start; va < end;) {
        uint64_t slot_base = va & ~(span - 1);
        uint64_t slot_end = min_u64(slot_base + span, end);
        uint64_t slot_pa = pa + (va - start);
        uint64_t* slot = &t[table_index(va, level)];
        uint64_t e = load_entry(slot);
        if (leaf_fits(level, va, slot_end, slot_pa, opts)) {
            uint64_t leaf = leaf_template | slot_pa | (level > 0 ? kPteHuge.bits() : 0);
            store_entry(slot, leaf);
            if (is_table_entry(e, level))
                release_subtree(txn, level - 1, e & kPteAddrMask4K, slot_base);
            else if (pte_has(e, kPtePresent))
                txn.invalidate(slot_base);
        } else {
            uint64_t child;
            if (is_table_entry(e, level)) {
                child = e & kPteAddrMask4K;
            } else {
                child = is_leaf_entry(e, level) ? split_leaf(txn, e, level) : txn.take();
                store_entry(slot, child | kTableEntryFlags);
            }
            map_level(txn, level - 1, child, va, slot_end, slot_pa, leaf_template, opts);
        }
        va = slot_end;
    }
}

void PageTable::unmap_level(Txn& txn, int level, uint64_t table_pa, uint64_t start, uint64_t end)
{
    uint64_t span = level_span(level);
    uint64_t* t = table(table_pa);
    for (uint64_t va = start; va < end;) {
        uint64_t slot_base = va & ~(span - 1);
        uint64_t slot_end = min_u64(slot_base + span, end);
        bool whole = va == slot_base && slot_end == slot_base + span;
        uint64_t* slot = &t[table_index(va, level)];
        uint64_t e = load_entry(slot);
        if (is_table_entry(e, level)) {
            uint64_t child = e & kPteAddrMask4K;
            if (whole) {
                store_entry(slot, 0);
                release_subtree(txn, level - 1, child, slot_base);
            } else {
                unmap_level(txn, level - 1, child, va, slot_end);
                if (table_is_empty(child)) {
                    store_entry(slot, 0);
                    txn.defer_free(child);
                }
            }
        } else if (is_leaf_entry(e, level)) {
            if (whole) {
                store_entry(slot, 0);
                if (pte_has(e, kPtePresent))
                    txn.invalidate(slot_base);
            } else {
                // The rest of the leaf stays mapped, so the new table is never empty.
                uint64_t child = split_leaf(txn, e, level);
                store_entry(slot, child | kTableEntryFlags);
                unmap_level(txn, level - 1, child, va, slot_end);
            }
        }
        va = slot_end;
    }
}

void PageTable::protect_level(Txn& txn, int level, uint64_t table_pa, uint64_t start, uint64_t end, Protection prot)
{
    uint64_t span = level_span(level);
    uint64_t* t = table(table_pa);
    for (uint64_t va = start; va < end;) {
        uint64_t slot_base = va & ~(span - 1);
        uint64_t slot_end = min_u64(slot_base + span, end);
        bool whole = va == slot_base && slot_end == slot_base + span;
        uint64_t* slot = &t[table_index(va, level)];
        uint64_t e = load_entry(slot);
        if (is_table_entry(e, level)) {
            protect_level(txn, level - 1, e & kPteAddrMask4K, va, slot_end, prot);
        } else if (is_leaf_entry(e, level) && with_rights(e, prot) != e) {
            if (whole) {
                store_entry(slot, with_rights(e, prot));
                if (pte_has(e, kPtePresent))
                    txn.invalidate(slot_base);
            } else {
                uint64_t child = split_leaf(txn, e, level);
                store_entry(slot, child | kTableEntryFlags);
                protect_level(txn, level - 1, child, va, slot_end, prot);
            }
        }
        va = slot_end;
    }
}

// Builds (from the pool) a table of 512 leaves one size smaller that together translate
// exactly like the huge leaf `entry` at `level`: same frames, rights, cache mode, U/G and A/D.
// Returns the new table's physical address; the caller links it in.
uint64_t PageTable::split_leaf(Txn& txn, uint64_t entry, int level)
{
    NIMBUS_ASSERT(level > 0);
    int child_level = level - 1;
    uint64_t child_span = level_span(child_level);
    uint64_t base_pa = entry & leaf_addr_mask(level);
    uint64_t attrs = entry & ~leaf_addr_mask(level) & ~kPteHuge.bits() & ~kPtePatHuge.bits();
    if (child_level > 0)
        attrs |= kPteHuge.bits() | (entry & kPtePatHuge.bits());
    else if (pte_has(entry, kPtePatHuge))
        attrs |= kPtePat4K.bits();
    uint64_t child = txn.take();
    uint64_t* t = table(child);
    for (unsigned i = 0; i < kEntriesPerTable; i++)
        t[i] = (base_pa + i * child_span) | attrs; // not yet reachable: plain stores suffice
    return child;
}

// Queues every table page below (and including) `table_pa` for freeing and every present leaf
// in it for invalidation. `base` is the linear address the table starts at. The caller has
// already unlinked the table.
void PageTable::release_subtree(Txn& txn, int level, uint64_t table_pa, uint64_t base)
{
    uint64_t* t = table(table_pa);
    uint64_t span = level_span(level);
    for (unsigned i = 0; i < kEntriesPerTable; i++) {
        uint64_t e = load_entry(&t[i]);
        if (is_table_entry(e, level))
            release_subtree(txn, level - 1, e & kPteAddrMask4K, base + i * span);
        else if (is_leaf_entry(e, level) && pte_has(e, kPtePresent))
            txn.invalidate(base + i * span);
    }
    txn.defer_free(table_pa);
}

bool PageTable::table_is_empty(uint64_t table_pa) const
{
    uint64_t* t = table(table_pa);
    for (unsigned i = 0; i < kEntriesPerTable; i++) {
        if (load_entry(&t[i]) != 0)
            return false;
    }
    return true;
}

} // namespace mm
