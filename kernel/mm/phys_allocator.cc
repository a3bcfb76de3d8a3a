// PhysAllocator: free-run page allocator (design and invariants in phys_allocator.h).
#include <mm/phys_allocator.h>

#include <lib/assert.h>

#include <new>

namespace mm {

static_assert(sizeof(void*) == 8);

size_t PhysAllocator::bucket_of(uint64_t pages)
{
    return 63 - size_t(__builtin_clzll(pages)); // floor(log2(pages)); pages > 0
}

PhysAllocator::FreeRun* PhysAllocator::make_run(PhysAddr start, uint64_t pages)
{
    void* where = m_phys_to_virt(m_ctx, start);
    auto* run = new (where) FreeRun{};
    run->start = start.value();
    run->pages = pages;
    run->magic = kFreeRunMagic;
    return run;
}

void PhysAllocator::bucket_insert(FreeRun* run)
{
    size_t k = bucket_of(run->pages);
    run->bucket_prev = nullptr;
    run->bucket_next = m_buckets[k];
    if (m_buckets[k])
        m_buckets[k]->bucket_prev = run;
    m_buckets[k] = run;
    m_nonempty_buckets |= uint64_t(1) << k;
}

void PhysAllocator::bucket_remove(FreeRun* run)
{
    size_t k = bucket_of(run->pages);
    if (run->bucket_prev)
        run->bucket_prev->bucket_next = run->bucket_next;
    else
        m_buckets[k] = run->bucket_next;
    if (run->bucket_next)
        run->bucket_next->bucket_prev = run->bucket_prev;
    if (!m_buckets[k])
        m_nonempty_buckets &= ~(uint64_t(1) << k);
}

void PhysAllocator::set_run_pages(FreeRun* run, uint64_t pages)
{
    if (bucket_of(pages) == bucket_of(run->pages)) {
        run->pages = pages;
        return;
    }
    bucket_remove(run);
    run->pages = pages;
    bucket_insert(run);
}

void PhysAllocator::insert_free(PhysAddr start, uint64_t pages, FreeRun* pred, FreeRun* succ)
{
    PhysAddr end = start.plus_pages(pages);
    bool merge_pred = pred && run_end(pred) == start;
    bool merge_succ = succ && run_start(succ) == end;

    if (merge_pred && merge_succ) {
        // pred absorbs the block and succ; succ's node page becomes interior to pred's run.
        uint64_t total = pred->pages + pages + succ->pages;
        bucket_remove(succ);
        m_tree.erase(*succ);
        succ->magic = 0;
        set_run_pages(pred, total);
    } else if (merge_pred) {
        set_run_pages(pred, pred->pages + pages);
    } else if (merge_succ) {
        // The merged run starts at `start`: a new node there takes succ's place in the tree
        // (the order is unchanged because nothing lies between start and succ).
        FreeRun* run = make_run(start, pages + succ->pages);
        bucket_remove(succ);
        m_tree.replace(*succ, *run);
        succ->magic = 0;
        bucket_insert(run);
    } else {
        FreeRun* run = make_run(start, pages);
        bool inserted = m_tree.insert(*run);
        NIMBUS_ASSERT(inserted); // the caller checked that no free run overlaps the block
        bucket_insert(run);
    }
    m_free_pages += pages;
}

Result<void> PhysAllocator::add_range(PhysAddr start, PhysAddr end)
{
    if (end < start)
        return Errno::INVAL;
    PhysAddr first = start.align_up(kPageSize);
    PhysAddr last = end.align_down(kPageSize);
    if (first < start || last <= first) // wrapped at the top of the address space, or empty
        return {};
    uint64_t pages = (last - first) >> kPageShift;

    FreeRun* pred = m_tree.floor(first.value());
    FreeRun* succ = m_tree.upper_bound(first.value());
    if ((pred && run_end(pred) > first) || (succ && run_start(succ) < last))
        return Errno::INVAL;

    insert_free(first, pages, pred, succ);
    m_total_pages += pages;
    return {};
}

bool PhysAllocator::fit(const FreeRun* run, uint64_t pages, uint64_t align_pages, PhysAddr& out)
{
    if (run->pages < pages)
        return false;
    PhysAddr block = run_end(run) - (pages << kPageShift);
    block = block.align_down(align_pages << kPageShift);
    if (block < run_start(run))
        return false;
    out = block;
    return true;
}

PhysAddr PhysAllocator::carve(FreeRun* run, PhysAddr block, uint64_t pages)
{
    NIMBUS_ASSERT(run->magic == kFreeRunMagic);
    PhysAddr start = run_start(run);
    PhysAddr block_end = block.plus_pages(pages);
    uint64_t head = (block - start) >> kPageShift;
    uint64_t tail = (run_end(run) - block_end) >> kPageShift;

    if (head > 0) {
        set_run_pages(run, head);
        if (tail > 0) {
            FreeRun* rest = make_run(block_end, tail);
            bool inserted = m_tree.insert(*rest);
            NIMBUS_ASSERT(inserted); // rest lies inside run, past its start: no other run there
            bucket_insert(rest);
        }
    } else {
        // The run's own first page is handed out: its node must go.
        bucket_remove(run);
        if (tail > 0) {
            FreeRun* rest = make_run(block_end, tail);
            m_tree.replace(*run, *rest);
            bucket_insert(rest);
        } else {
            m_tree.erase(*run);
        }
        run->magic = 0;
    }
    m_free_pages -= pages;
    return block;
}

Result<PhysAddr> PhysAllocator::alloc(size_t pages, size_t align_pages)
{
    if (pages == 0 || !is_power_of_two(align_pages))
        return Errno::INVAL;
    if (pages > m_free_pages)
        return Errno::NOMEM;

    // Any run of at least `need` pages holds an aligned block of `pages` pages.
    uint64_t need = uint64_t(pages) + (align_pages - 1);
    // ceil(log2(need)); need == 1 is bucket 0.
    size_t sure_bucket = need < pages ? kBucketCount : need == 1 ? 0 : 64 - size_t(__builtin_clzll(need - 1));
    if (sure_bucket < kBucketCount) {
        uint64_t candidates = m_nonempty_buckets & (~uint64_t(0) << sure_bucket);
        if (candidates) {
            FreeRun* run = m_buckets[__builtin_ctzll(candidates)];
            PhysAddr block;
            bool ok = fit(run, pages, align_pages, block);
            NIMBUS_ASSERT(ok);
            return carve(run, block, pages);
        }
    }

    // Slow path: buckets whose runs may or may not fit. Bounded by the number of free runs.
    size_t scan_end = sure_bucket < kBucketCount ? sure_bucket : kBucketCount;
    for (size_t k = bucket_of(pages); k < scan_end; k++) {
        for (FreeRun* run = m_buckets[k]; run; run = run->bucket_next) {
            PhysAddr block;
            if (fit(run, pages, align_pages, block))
                return carve(run, block, pages);
        }
    }
    return Errno::NOMEM;
}

void PhysAllocator::free(PhysAddr start, size_t pages)
{
    NIMBUS_ASSERT(start.is_page_aligned());
    NIMBUS_ASSERT(pages > 0);
    PhysAddr end = start.plus_pages(pages);
    NIMBUS_ASSERT(end > start);
    NIMBUS_ASSERT(m_free_pages + pages <= m_total_pages);

    FreeRun* pred = m_tree.floor(start.value());
    FreeRun* succ = m_tree.upper_bound(start.value());
    NIMBUS_ASSERT(!pred || pred->magic == kFreeRunMagic);
    NIMBUS_ASSERT(!succ || succ->magic == kFreeRunMagic);
    // Overlapping a free run means this memory (or part of it) is already free.
    NIMBUS_ASSERT(!pred || run_end(pred) <= start);
    NIMBUS_ASSERT(!succ || run_start(succ) >= end);

    insert_free(start, pages, pred, succ);
}

bool PhysAllocator::is_free(PhysAddr addr) const
{
    const FreeRun* run = m_tree.floor(addr.value());
    return run && addr < run_end(run);
}

bool PhysAllocator::verify() const
{
    if (!m_tree.check_invariants())
        return false;
    uint64_t sum = 0;
    size_t runs = 0;
    const FreeRun* prev = nullptr;
    for (const FreeRun& r : m_tree) {
        const FreeRun* run = &r;
        if (run->magic != kFreeRunMagic || run->pages == 0 || !run_start(run).is_page_aligned())
            return false;
        // Disjoint and maximal: strictly separated from the previous run.
        if (prev && run_end(prev) >= run_start(run))
            return false;
        sum += run->pages;
        runs++;
        prev = run;
    }
    if (sum != m_free_pages || m_free_pages > m_total_pages)
        return false;

    size_t bucketed = 0;
    for (size_t k = 0; k < kBucketCount; k++) {
        bool nonempty = (m_nonempty_buckets >> k) & 1;
        if (nonempty != (m_buckets[k] != nullptr))
            return false;
        const FreeRun* before = nullptr;
        for (const FreeRun* run = m_buckets[k]; run; run = run->bucket_next) {
            if (bucket_of(run->pages) != k || run->bucket_prev != before)
                return false;
            if (m_tree.find(run->start) != run)
                return false;
            before = run;
            bucketed++;
        }
    }
    return bucketed == runs;
}

} // namespace mm
