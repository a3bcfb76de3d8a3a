// Unit tests for PhysAllocator, against a std::set reference model and fake physical memory
// (a flat host buffer, or sparse pages created on first touch). Its free-run tree,
// lib::IntrusiveAvlTree, is tested in tests/unit/lib/intrusive_avl_test.cc.
#include <mm/phys_allocator.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

using mm::kPageSize;
using mm::PhysAddr;
using mm::PhysAllocator;

// ---- Fake physical memory ------------------------------------------------------------------

// [base, base + size) of "physical" memory backed by one host buffer.
class FlatMemory {
public:
    FlatMemory(uint64_t base, size_t size)
        : m_base(base), m_size(size), m_buffer(static_cast<uint8_t*>(std::aligned_alloc(kPageSize, size)))
    {
        std::memset(m_buffer.get(), 0xCC, size);
    }

    static void* translate(void* ctx, PhysAddr p)
    {
        auto* self = static_cast<FlatMemory*>(ctx);
        EXPECT_GE(p.value(), self->m_base);
        EXPECT_LT(p.value(), self->m_base + self->m_size);
        self->m_calls++;
        self->m_touched.insert(p.page_number());
        return self->m_buffer.get() + (p.value() - self->m_base);
    }

    uint8_t* at(PhysAddr p) { return m_buffer.get() + (p.value() - m_base); }
    uint64_t base() const { return m_base; }
    size_t size() const { return m_size; }
    size_t calls() const { return m_calls; }
    const std::set<uint64_t>& touched() const { return m_touched; }

private:
    struct Free {
        void operator()(uint8_t* p) const { std::free(p); }
    };
    uint64_t m_base;
    size_t m_size;
    std::unique_ptr<uint8_t, Free> m_buffer;
    size_t m_calls = 0;
    std::set<uint64_t> m_touched;
};

// Any amount of "physical" memory; a host page is created the first time a page is touched,
// so tests can describe terabytes and see exactly which pages the allocator wrote.
class SparseMemory {
public:
    static void* translate(void* ctx, PhysAddr p)
    {
        auto* self = static_cast<SparseMemory*>(ctx);
        EXPECT_EQ(p.page_offset(), 0u);
        self->m_calls++;
        auto& page = self->m_pages[p.page_number()];
        if (!page)
            page = std::make_unique<Page>();
        return page->bytes;
    }
    size_t calls() const { return m_calls; }
    size_t pages_touched() const { return m_pages.size(); }

private:
    struct Page {
        alignas(4096) uint8_t bytes[4096];
    };
    std::unordered_map<uint64_t, std::unique_ptr<Page>> m_pages;
    size_t m_calls = 0;
};

using Runs = std::vector<std::pair<uint64_t, uint64_t>>; // (start address, pages)

Runs free_runs(const PhysAllocator& a)
{
    Runs runs;
    a.for_each_free_range([&](PhysAddr start, size_t pages) { runs.emplace_back(start.value(), pages); });
    return runs;
}

// Maximal runs of a set of free page numbers.
Runs runs_of(const std::set<uint64_t>& pages)
{
    Runs runs;
    for (uint64_t pfn : pages) {
        if (!runs.empty() && runs.back().first / kPageSize + runs.back().second == pfn)
            runs.back().second++;
        else
            runs.emplace_back(pfn * kPageSize, 1);
    }
    return runs;
}

// ---- PhysAllocator -------------------------------------------------------------------------

constexpr uint64_t kFlatBase = uint64_t(4) << 30; // "physical" memory starts at 4 GiB
constexpr size_t kFlatSize = 16 << 20;            // 4096 pages

TEST(PhysAllocator, ArgumentChecks)
{
    FlatMemory mem(kFlatBase, kFlatSize);
    PhysAllocator a(&FlatMemory::translate, &mem);
    EXPECT_EQ(a.alloc(1).error(), Errno::NOMEM); // nothing added yet
    ASSERT_FALSE(a.add_range(PhysAddr(kFlatBase), PhysAddr(kFlatBase + kFlatSize)).is_error());
    EXPECT_EQ(a.alloc(0).error(), Errno::INVAL);
    EXPECT_EQ(a.alloc(1, 3).error(), Errno::INVAL);
    EXPECT_EQ(a.alloc(1, 0).error(), Errno::INVAL);
    EXPECT_EQ(a.add_range(PhysAddr(kFlatBase + 8192), PhysAddr(kFlatBase)).error(), Errno::INVAL);
    EXPECT_TRUE(a.verify());
}

TEST(PhysAllocator, InitTrimsAndCoalescesOddRegions)
{
    FlatMemory mem(kFlatBase, kFlatSize);
    PhysAllocator a(&FlatMemory::translate, &mem);
    std::mt19937_64 rng(7);
    std::set<uint64_t> model;

    // Many non-overlapping regions with unaligned ends, in random order; some adjacent, some
    // smaller than a page, some that lose everything to trimming.
    struct Region {
        uint64_t start, end;
    };
    std::vector<Region> regions;
    uint64_t cursor = kFlatBase + 123;
    while (true) {
        uint64_t len = rng() % 5 == 0 ? rng() % 6000 : rng() % (200 * kPageSize);
        uint64_t gap = rng() % 3 == 0 ? 0 : rng() % (8 * kPageSize);
        if (cursor + gap + len > kFlatBase + kFlatSize)
            break;
        regions.push_back({cursor + gap, cursor + gap + len});
        cursor += gap + len;
    }
    ASSERT_GT(regions.size(), 40u);
    std::shuffle(regions.begin(), regions.end(), rng);
    uint64_t total = 0;
    for (auto& r : regions) {
        ASSERT_FALSE(a.add_range(PhysAddr(r.start), PhysAddr(r.end)).is_error());
        uint64_t first = (r.start + kPageSize - 1) / kPageSize;
        uint64_t last = r.end / kPageSize;
        for (uint64_t pfn = first; pfn < last; pfn++)
            model.insert(pfn);
        total += last > first ? last - first : 0;
        ASSERT_TRUE(a.verify());
    }
    EXPECT_EQ(a.total_pages(), total);
    EXPECT_EQ(a.free_pages(), total);
    EXPECT_EQ(free_runs(a), runs_of(model));

    // Overlapping a free range is rejected and changes nothing.
    auto before = free_runs(a);
    auto [start, pages] = before[before.size() / 2];
    EXPECT_EQ(a.add_range(PhysAddr(start + kPageSize * (pages - 1)), PhysAddr(start + kPageSize * (pages + 3)))
                  .error(),
              Errno::INVAL);
    EXPECT_EQ(free_runs(a), before);
    EXPECT_EQ(a.total_pages(), total);
}

// Random alloc/free against a std::set of free pages; allocated pages are filled with junk
// (including bytes that look like allocator metadata) so that any dependence on the contents
// of allocated memory shows up.
TEST(PhysAllocator, RandomSequenceMatchesModel)
{
    FlatMemory mem(kFlatBase, kFlatSize);
    PhysAllocator a(&FlatMemory::translate, &mem);
    std::mt19937_64 rng(42);
    std::set<uint64_t> model;
    uint64_t base_pfn = kFlatBase / kPageSize;
    // Three regions with holes between them.
    const std::pair<uint64_t, uint64_t> regions[] = {{0, 1000}, {1003, 2500}, {2600, 4096}};
    for (auto [s, e] : regions) {
        ASSERT_FALSE(a.add_range(PhysAddr::from_page_number(base_pfn + s), PhysAddr::from_page_number(base_pfn + e))
                         .is_error());
        for (uint64_t p = s; p < e; p++)
            model.insert(base_pfn + p);
    }
    const Runs original = free_runs(a);
    ASSERT_EQ(original.size(), 3u);

    std::vector<std::pair<uint64_t, uint64_t>> live; // (pfn, pages)
    size_t nomem = 0;
    for (int step = 0; step < 20000; step++) {
        bool do_alloc = live.empty() || rng() % 100 < 55;
        if (do_alloc) {
            size_t pages = rng() % 4 == 0 ? 1 + rng() % 64 : 1 + rng() % 4;
            size_t align = size_t(1) << (rng() % 4 == 0 ? rng() % 6 : 0);
            auto r = a.alloc(pages, align);
            if (r.is_error()) {
                ASSERT_EQ(r.error(), Errno::NOMEM);
                nomem++;
                // NOMEM must be genuine: no aligned fitting block exists in the model.
                for (uint64_t pfn : model) {
                    if (pfn % align)
                        continue;
                    bool fits = true;
                    for (uint64_t i = 0; i < pages && fits; i++)
                        fits = model.count(pfn + i);
                    ASSERT_FALSE(fits) << "NOMEM although pfn " << pfn << " fits " << pages;
                }
                continue;
            }
            PhysAddr p = r.value();
            ASSERT_TRUE(p.is_aligned(align * kPageSize));
            for (uint64_t i = 0; i < pages; i++) {
                ASSERT_EQ(model.erase(p.page_number() + i), 1u) << "handed out a page that was not free";
                ASSERT_FALSE(a.is_free(p.plus_pages(i)));
            }
            // Junk: a repeating copy of what a free-run header might look like.
            uint8_t* bytes = mem.at(p);
            for (size_t i = 0; i < pages * kPageSize; i += 8) {
                uint64_t word = (i / 8) % 2 ? 0x4e42465245455255ull : p.value();
                std::memcpy(bytes + i, &word, 8);
            }
            live.emplace_back(p.page_number(), pages);
        } else {
            size_t idx = rng() % live.size();
            auto [pfn, pages] = live[idx];
            // Sometimes free only a part (the allocator allows splitting an allocation).
            uint64_t part = pages > 1 && rng() % 4 == 0 ? 1 + rng() % (pages - 1) : pages;
            bool front = rng() % 2;
            uint64_t free_pfn = front ? pfn : pfn + pages - part;
            a.free(PhysAddr::from_page_number(free_pfn), part);
            for (uint64_t i = 0; i < part; i++)
                model.insert(free_pfn + i);
            if (part == pages) {
                live[idx] = live.back();
                live.pop_back();
            } else {
                live[idx] = {front ? pfn + part : pfn, pages - part};
            }
        }
        ASSERT_EQ(a.free_pages(), model.size());
        if (step % 100 == 0) {
            ASSERT_TRUE(a.verify());
            ASSERT_EQ(free_runs(a), runs_of(model));
        }
    }

    EXPECT_GT(nomem, 0u); // the sequence must have run the allocator dry now and then

    // Free everything: back to exactly the three original ranges.
    for (auto [pfn, pages] : live)
        a.free(PhysAddr::from_page_number(pfn), pages);
    EXPECT_TRUE(a.verify());
    EXPECT_EQ(free_runs(a), original);
    EXPECT_EQ(a.free_pages(), a.total_pages());
}

TEST(PhysAllocator, SinglePagesDrainAndCoalesce)
{
    FlatMemory mem(kFlatBase, kFlatSize);
    PhysAllocator a(&FlatMemory::translate, &mem);
    ASSERT_FALSE(a.add_range(PhysAddr(kFlatBase), PhysAddr(kFlatBase + kFlatSize)).is_error());
    std::vector<PhysAddr> pages;
    while (true) {
        auto r = a.alloc(1);
        if (r.is_error()) {
            EXPECT_EQ(r.error(), Errno::NOMEM);
            break;
        }
        pages.push_back(r.value());
    }
    EXPECT_EQ(pages.size(), kFlatSize / kPageSize);
    EXPECT_EQ(a.free_pages(), 0u);
    EXPECT_EQ(a.free_run_count(), 0u);
    // Free every other page first (no coalescing possible), then the rest.
    std::mt19937_64 rng(3);
    std::shuffle(pages.begin(), pages.end(), rng);
    for (PhysAddr p : pages)
        a.free(p, 1);
    EXPECT_TRUE(a.verify());
    EXPECT_EQ(free_runs(a), (Runs{{kFlatBase, kFlatSize / kPageSize}}));
}

TEST(PhysAllocator, ExhaustionAndFragmentationReturnNomem)
{
    FlatMemory mem(kFlatBase, kFlatSize);
    PhysAllocator a(&FlatMemory::translate, &mem);
    ASSERT_FALSE(a.add_range(PhysAddr(kFlatBase), PhysAddr(kFlatBase + 64 * kPageSize)).is_error());
    EXPECT_EQ(a.alloc(65).error(), Errno::NOMEM);
    PhysAddr all = a.alloc(64).value();
    EXPECT_EQ(all, PhysAddr(kFlatBase));
    EXPECT_EQ(a.alloc(1).error(), Errno::NOMEM);
    // Give back every other page: 32 free pages, but no two adjacent.
    for (size_t i = 0; i < 64; i += 2)
        a.free(all.plus_pages(i), 1);
    EXPECT_EQ(a.free_pages(), 32u);
    EXPECT_EQ(a.alloc(2).error(), Errno::NOMEM);
    EXPECT_FALSE(a.alloc(1, 2).is_error()); // pages at even offsets are 2-page aligned
    // Only the first page of the range is 128-page aligned (the base is 4 GiB).
    EXPECT_EQ(a.alloc(1, 128).value(), PhysAddr(kFlatBase));
    EXPECT_EQ(a.alloc(1, 128).error(), Errno::NOMEM);
    EXPECT_EQ(a.free_pages(), 30u);
    EXPECT_TRUE(a.verify());
}

TEST(PhysAllocator, HugeAndGiantAlignment)
{
    SparseMemory mem;
    PhysAllocator a(&SparseMemory::translate, &mem);
    // 5 GiB starting at an odd address above 1 MiB.
    const uint64_t start = (1 << 20) + 12345;
    const uint64_t end = start + (uint64_t(5) << 30);
    ASSERT_FALSE(a.add_range(PhysAddr(start), PhysAddr(end)).is_error());

    std::vector<std::pair<PhysAddr, size_t>> got;
    for (int i = 0; i < 3; i++) {
        PhysAddr p = a.alloc(mm::kPagesPerGiantPage, mm::kPagesPerGiantPage).value();
        EXPECT_TRUE(p.is_aligned(mm::kGiantPageSize));
        got.emplace_back(p, mm::kPagesPerGiantPage);
    }
    for (int i = 0; i < 100; i++) {
        PhysAddr p = a.alloc(mm::kPagesPerHugePage, mm::kPagesPerHugePage).value();
        EXPECT_TRUE(p.is_aligned(mm::kHugePageSize));
        got.emplace_back(p, mm::kPagesPerHugePage);
        PhysAddr q = a.alloc(3).value(); // break up the runs in between
        got.emplace_back(q, 3);
    }
    EXPECT_TRUE(a.verify());
    // Odd alignment/size combinations.
    for (size_t shift = 0; shift <= 10; shift++) {
        PhysAddr p = a.alloc(7, size_t(1) << shift).value();
        EXPECT_TRUE(p.is_aligned(kPageSize << shift));
        got.emplace_back(p, 7);
    }
    // Ranges must be disjoint.
    std::sort(got.begin(), got.end());
    for (size_t i = 1; i < got.size(); i++)
        EXPECT_LE(got[i - 1].first.plus_pages(got[i - 1].second), got[i].first);
    for (auto [p, n] : got)
        a.free(p, n);
    EXPECT_TRUE(a.verify());
    EXPECT_EQ(a.free_run_count(), 1u);
    EXPECT_EQ(a.free_pages(), a.total_pages());
}

// Initialising from a big machine's memory map must cost O(regions), not O(pages).
TEST(PhysAllocator, InitTouchesOnlyOnePagePerRegion)
{
    SparseMemory mem;
    PhysAllocator a(&SparseMemory::translate, &mem);
    std::mt19937_64 rng(11);
    const size_t kRegions = 1000;
    uint64_t cursor = 0x100000;
    uint64_t total = 0;
    for (size_t i = 0; i < kRegions; i++) {
        uint64_t gap = kPageSize + rng() % (uint64_t(1) << 30);
        uint64_t len = kPageSize + rng() % (uint64_t(4) << 30); // up to 4 GiB each: ~2 TiB total
        uint64_t s = cursor + gap + 17;
        uint64_t e = s + len;
        ASSERT_FALSE(a.add_range(PhysAddr(s), PhysAddr(e)).is_error());
        total += (mm::align_down(e, kPageSize) - mm::align_up(s, kPageSize)) / kPageSize;
        cursor = e;
    }
    EXPECT_EQ(a.total_pages(), total);
    EXPECT_GT(total, uint64_t(1) << 28); // more than a terabyte of pages
    EXPECT_LE(mem.calls(), kRegions);
    EXPECT_LE(mem.pages_touched(), kRegions);
    EXPECT_TRUE(a.verify());
    // And allocation stays cheap: one page write per split, at most.
    size_t before = mem.calls();
    for (int i = 0; i < 100; i++)
        ASSERT_FALSE(a.alloc(1 + i, 1).is_error());
    EXPECT_LE(mem.calls() - before, 100u);
}

TEST(PhysAllocatorDeathTest, DoubleFreeAsserts)
{
    FlatMemory mem(kFlatBase, kFlatSize);
    PhysAllocator a(&FlatMemory::translate, &mem);
    ASSERT_FALSE(a.add_range(PhysAddr(kFlatBase), PhysAddr(kFlatBase + kFlatSize)).is_error());
    PhysAddr p = a.alloc(8).value();
    PhysAddr q = a.alloc(8).value();
    a.free(p, 8);
    EXPECT_DEATH(a.free(p, 8), "assertion failed");
    EXPECT_DEATH(a.free(p.plus_pages(4), 1), "assertion failed");
    EXPECT_DEATH(a.free(q, 9), "assertion failed"); // runs into free memory above/below q
    EXPECT_DEATH(a.free(PhysAddr(q.value() + 100), 1), "assertion failed");
}

} // namespace
