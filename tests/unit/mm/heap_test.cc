// Unit tests for Heap: pattern-checked random workloads, alignment, large blocks, exhaustion,
// realloc and returning pages, over a host page source and over PhysAllocator.
#include <mm/heap.h>
#include <mm/phys_allocator.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <vector>

namespace {

using mm::Heap;
using mm::kPageSize;

// PageSource over aligned_alloc with an optional page budget; checks that every run comes
// back exactly once with the size it was handed out with.
class HostPageSource final : public mm::PageSource {
public:
    explicit HostPageSource(size_t budget_pages = ~size_t(0)) : m_budget(budget_pages) {}
    ~HostPageSource()
    {
        for (auto& [p, n] : m_runs)
            std::free(p);
    }

    Result<void*> alloc_pages(size_t pages, size_t align_pages) override
    {
        if (pages > m_budget - m_outstanding)
            return Errno::NOMEM;
        size_t align = align_pages * kPageSize;
        void* p = std::aligned_alloc(align, (pages * kPageSize + align - 1) / align * align);
        if (!p)
            return Errno::NOMEM;
        std::memset(p, 0x5A, pages * kPageSize); // no zeroed-memory assumptions
        m_runs[p] = pages;
        m_outstanding += pages;
        return p;
    }

    void free_pages(void* start, size_t pages) override
    {
        auto it = m_runs.find(start);
        EXPECT_NE(it, m_runs.end()) << "freeing a run that was never handed out";
        if (it == m_runs.end())
            return;
        EXPECT_EQ(it->second, pages);
        m_outstanding -= it->second;
        m_runs.erase(it);
        std::free(start);
    }

    size_t outstanding() const { return m_outstanding; }
    void set_budget(size_t pages) { m_budget = pages; }

private:
    size_t m_budget;
    size_t m_outstanding = 0;
    std::map<void*, size_t> m_runs;
};

uint8_t pattern_byte(uint64_t seed, size_t i) { return uint8_t((seed * 0x9E3779B97F4A7C15ull + i * 131) >> 7); }

void fill(void* p, size_t size, uint64_t seed)
{
    auto* b = static_cast<uint8_t*>(p);
    for (size_t i = 0; i < size; i++)
        b[i] = pattern_byte(seed, i);
}

bool check(const void* p, size_t size, uint64_t seed)
{
    auto* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < size; i++) {
        if (b[i] != pattern_byte(seed, i))
            return false;
    }
    return true;
}

struct Live {
    void* p;
    size_t size;
    uint64_t seed;
};

TEST(Heap, SizeClassesCoverEverySmallSize)
{
    HostPageSource source;
    Heap heap(source);
    for (size_t i = 1; i < mm::kHeapClassCount; i++)
        EXPECT_GT(Heap::class_size(i), Heap::class_size(i - 1));
    EXPECT_EQ(Heap::class_size(mm::kHeapClassCount - 1), mm::kHeapMaxSmallSize);
    for (size_t size = 0; size <= 2100; size++) {
        void* p = heap.allocate(size);
        ASSERT_NE(p, nullptr);
        size_t usable = heap.usable_size(p);
        EXPECT_GE(usable, size);
        if (size > 0 && size <= mm::kHeapMaxSmallSize)
            EXPECT_LE(usable, size + size / 4 + 16) << size; // classes are at most 25% apart
        EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 16, 0u);
        heap.deallocate(p);
    }
    heap.trim();
    EXPECT_EQ(heap.stats().pages_held, 0u);
    EXPECT_EQ(source.outstanding(), 0u);
}

TEST(Heap, RandomWorkloadKeepsContents)
{
    HostPageSource source;
    Heap heap(source);
    std::mt19937_64 rng(5);
    std::vector<Live> live;
    std::map<uintptr_t, size_t> spans; // start -> usable size, to check for overlap

    for (int step = 0; step < 40000; step++) {
        if (live.empty() || rng() % 100 < 52) {
            size_t size;
            switch (rng() % 10) {
            case 0: size = 2049 + rng() % 60000; break;
            case 1: size = rng() % 16; break;
            default: size = rng() % 700; break;
            }
            size_t align = rng() % 8 == 0 ? size_t(1) << (rng() % 13) : 16;
            void* p = heap.allocate(size, align);
            ASSERT_NE(p, nullptr);
            uintptr_t a = reinterpret_cast<uintptr_t>(p);
            ASSERT_EQ(a % align, 0u) << "size " << size << " align " << align;
            size_t usable = heap.usable_size(p);
            ASSERT_GE(usable, size);
            auto next = spans.lower_bound(a);
            ASSERT_TRUE(next == spans.end() || next->first >= a + usable);
            ASSERT_TRUE(next == spans.begin() || std::prev(next)->first + std::prev(next)->second <= a);
            spans[a] = usable;
            uint64_t seed = rng();
            fill(p, usable, seed); // all of the usable size is the caller's
            live.push_back({p, usable, seed});
        } else {
            size_t idx = rng() % live.size();
            Live l = live[idx];
            ASSERT_TRUE(check(l.p, l.size, l.seed)) << "contents changed while allocated";
            spans.erase(reinterpret_cast<uintptr_t>(l.p));
            heap.deallocate(l.p);
            live[idx] = live.back();
            live.pop_back();
        }
        if (step % 1000 == 0) {
            size_t bytes = 0;
            for (auto& l : live)
                bytes += l.size;
            ASSERT_EQ(heap.stats().bytes_in_use, bytes);
            ASSERT_EQ(heap.stats().allocations, live.size());
            ASSERT_EQ(heap.stats().pages_held, source.outstanding());
        }
    }
    for (auto& l : live) {
        ASSERT_TRUE(check(l.p, l.size, l.seed));
        heap.deallocate(l.p);
    }
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
    EXPECT_EQ(heap.stats().allocations, 0u);
    // At most one cached empty slab per class remains; trim() gives those back too.
    EXPECT_LE(heap.stats().pages_held, mm::kHeapClassCount * mm::kHeapSlabPages);
    heap.trim();
    EXPECT_EQ(heap.stats().pages_held, 0u);
    EXPECT_EQ(heap.stats().slabs, 0u);
    EXPECT_EQ(source.outstanding(), 0u);
}

TEST(Heap, EveryAlignmentUpToAPage)
{
    HostPageSource source;
    Heap heap(source);
    std::vector<void*> ptrs;
    for (size_t align = 1; align <= mm::kHeapMaxAlign; align *= 2) {
        for (size_t size : {size_t(0), size_t(1), size_t(8), align / 2, align, align + 1, size_t(100), size_t(2048),
                            size_t(3000), size_t(4096), size_t(10000)}) {
            for (int rep = 0; rep < 3; rep++) {
                void* p = heap.allocate(size, align);
                ASSERT_NE(p, nullptr) << size << "/" << align;
                EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u) << size << "/" << align;
                EXPECT_GE(heap.usable_size(p), size);
                std::memset(p, 0xEE, heap.usable_size(p));
                ptrs.push_back(p);
            }
        }
    }
    // Unsupported alignments fail cleanly.
    EXPECT_EQ(heap.allocate(16, 8192), nullptr);
    EXPECT_EQ(heap.allocate(16, 24), nullptr);
    void* any = heap.allocate(16, 0); // 0 means "no requirement"
    EXPECT_NE(any, nullptr);
    heap.deallocate(any);
    for (void* p : ptrs)
        heap.deallocate(p);
}

TEST(Heap, LargeAllocationsUsePageRuns)
{
    HostPageSource source;
    Heap heap(source);
    const size_t sizes[] = {2049, 4096, 4033, 4032, 65536, 1 << 20, (8 << 20) + 3};
    std::vector<Live> live;
    for (size_t size : sizes) {
        size_t held = heap.stats().pages_held;
        void* p = heap.allocate(size);
        ASSERT_NE(p, nullptr);
        size_t pages = heap.stats().pages_held - held;
        EXPECT_EQ(pages, (size + 64 + kPageSize - 1) / kPageSize) << size;
        EXPECT_EQ(heap.usable_size(p), pages * kPageSize - 64);
        fill(p, size, size);
        live.push_back({p, size, size});
    }
    EXPECT_EQ(heap.stats().large_blocks, std::size(sizes));
    for (auto& l : live) {
        EXPECT_TRUE(check(l.p, l.size, l.seed));
        heap.deallocate(l.p);
    }
    EXPECT_EQ(heap.stats().pages_held, 0u);
    EXPECT_EQ(source.outstanding(), 0u);
    // Absurd sizes fail instead of overflowing.
    EXPECT_EQ(heap.allocate(~size_t(0)), nullptr);
    EXPECT_EQ(heap.allocate(~size_t(0) - 100, 4096), nullptr);
}

TEST(Heap, ExhaustionReturnsNull)
{
    HostPageSource source(64);
    Heap heap(source);
    std::vector<void*> small, large;
    while (void* p = heap.allocate(100))
        small.push_back(p);
    EXPECT_GT(small.size(), 100u);
    EXPECT_EQ(heap.allocate(100), nullptr);
    EXPECT_EQ(heap.allocate(5000), nullptr);
    EXPECT_EQ(source.outstanding(), heap.stats().pages_held);
    // Freeing makes room again.
    for (void* p : small)
        heap.deallocate(p);
    heap.trim();
    EXPECT_EQ(source.outstanding(), 0u);
    while (void* p = heap.allocate(20000))
        large.push_back(p);
    EXPECT_EQ(large.size(), 64u / 5); // 20000 + header -> 5 pages each
    for (void* p : large)
        heap.deallocate(p);
    EXPECT_EQ(source.outstanding(), 0u);
}

TEST(Heap, ReallocateKeepsContents)
{
    HostPageSource source;
    Heap heap(source);
    void* zero = heap.reallocate(nullptr, 0); // realloc(NULL, 0) == malloc(0)
    EXPECT_NE(zero, nullptr);
    heap.deallocate(zero);
    void* p = heap.reallocate(nullptr, 10);
    ASSERT_NE(p, nullptr);
    fill(p, 10, 1);
    size_t size = 10;
    std::mt19937_64 rng(9);
    // Grow through small classes into large blocks and back down.
    const size_t steps[] = {20, 100, 1000, 2048, 2049, 5000, 70000, 300000, 70001, 3000, 700, 15, 1, 64};
    for (size_t next : steps) {
        void* q = heap.reallocate(p, next);
        ASSERT_NE(q, nullptr);
        EXPECT_GE(heap.usable_size(q), next);
        EXPECT_TRUE(check(q, std::min(size, next), 1)) << size << " -> " << next;
        fill(q, next, 1);
        p = q;
        size = next;
    }
    // Shrinking a little keeps the block.
    void* big = heap.allocate(1000);
    EXPECT_EQ(heap.reallocate(big, 900), big);
    EXPECT_EQ(heap.reallocate(p, 0), nullptr); // frees
    heap.deallocate(big);
    // A failing reallocate leaves the old block alone.
    source.set_budget(source.outstanding());
    void* small = heap.allocate(50);
    ASSERT_NE(small, nullptr); // served from a cached slab, no new pages
    fill(small, 50, 2);
    EXPECT_EQ(heap.reallocate(small, 100000), nullptr);
    EXPECT_TRUE(check(small, 50, 2));
    heap.deallocate(small);
    heap.trim();
    EXPECT_EQ(heap.stats().pages_held, 0u);
    EXPECT_EQ(heap.stats().bytes_in_use, 0u);
}

TEST(Heap, EmptySlabsGoBack)
{
    HostPageSource source;
    Heap heap(source);
    // Fill several slabs of one class, then free everything: only one slab stays cached.
    std::vector<void*> ptrs;
    for (int i = 0; i < 5000; i++)
        ptrs.push_back(heap.allocate(64));
    EXPECT_GT(heap.stats().slabs, 10u);
    std::shuffle(ptrs.begin(), ptrs.end(), std::mt19937_64(4));
    for (void* p : ptrs)
        heap.deallocate(p);
    EXPECT_EQ(heap.stats().slabs, 1u);
    EXPECT_EQ(source.outstanding(), mm::kHeapSlabPages);
    // Allocating again reuses the cached slab.
    void* p = heap.allocate(64);
    EXPECT_EQ(source.outstanding(), mm::kHeapSlabPages);
    heap.deallocate(p);
    heap.trim();
    EXPECT_EQ(source.outstanding(), 0u);
}

// The kernel configuration: heap -> DirectMapPageSource -> PhysAllocator over "physical" memory
// that is a host buffer at a fake direct-map offset.
TEST(Heap, OverPhysAllocator)
{
    constexpr size_t kSize = 8 << 20;
    constexpr uint64_t kPhysBase = uint64_t(1) << 32;
    auto* buffer = static_cast<uint8_t*>(std::aligned_alloc(mm::kHeapSlabSize, kSize));
    ASSERT_NE(buffer, nullptr);
    uintptr_t direct_map_base = reinterpret_cast<uintptr_t>(buffer) - kPhysBase;
    struct Ctx {
        uintptr_t base;
    } ctx{direct_map_base};
    mm::PhysAllocator phys(
        [](void* c, mm::PhysAddr p) -> void* { return reinterpret_cast<void*>(static_cast<Ctx*>(c)->base + p.value()); },
        &ctx);
    ASSERT_FALSE(phys.add_range(mm::PhysAddr(kPhysBase + 5000), mm::PhysAddr(kPhysBase + kSize)).is_error());
    size_t total = phys.free_pages();
    mm::DirectMapPageSource source(phys, direct_map_base);
    Heap heap(source);

    std::mt19937_64 rng(12);
    std::vector<Live> live;
    size_t failures = 0;
    for (int step = 0; step < 20000; step++) {
        if (live.empty() || rng() % 100 < 60) {
            size_t size = rng() % 8 == 0 ? 2049 + rng() % 100000 : rng() % 2048;
            void* p = heap.allocate(size, size_t(1) << (rng() % 8));
            if (!p) {
                failures++;
                continue;
            }
            uint64_t seed = rng();
            fill(p, size, seed);
            live.push_back({p, size, seed});
        } else {
            size_t idx = rng() % live.size();
            ASSERT_TRUE(check(live[idx].p, live[idx].size, live[idx].seed));
            heap.deallocate(live[idx].p);
            live[idx] = live.back();
            live.pop_back();
        }
    }
    EXPECT_GT(failures, 0u); // 8 MiB runs out: the failures must have been clean nullptrs
    for (auto& l : live) {
        ASSERT_TRUE(check(l.p, l.size, l.seed));
        heap.deallocate(l.p);
    }
    heap.trim();
    EXPECT_EQ(phys.free_pages(), total);
    EXPECT_TRUE(phys.verify());
    std::free(buffer);
}

// The kernel defines these as globals; they must be constant-initialised (no constructor has
// to run before the heap can be used).
void* null_translate(void*, mm::PhysAddr) { return nullptr; }
constinit mm::PhysAllocator g_phys(&null_translate);
constinit mm::DirectMapPageSource g_page_source(g_phys, 0);
constinit mm::Heap g_heap(g_page_source);

TEST(Heap, GlobalsAreConstantInitialised)
{
    EXPECT_EQ(g_phys.total_pages(), 0u);
    EXPECT_EQ(g_heap.allocate(32), nullptr); // no memory yet: a clean failure
    EXPECT_EQ(g_heap.stats().pages_held, 0u);
}

TEST(HeapDeathTest, BadFreeAsserts)
{
    HostPageSource source;
    Heap heap(source);
    void* p = heap.allocate(100);
    void* big = heap.allocate(10000);
    // Not an object boundary.
    EXPECT_DEATH(heap.deallocate(static_cast<char*>(p) + 8), "assertion failed");
    // Interior of a large block.
    EXPECT_DEATH(heap.deallocate(static_cast<char*>(big) + 16), "assertion failed");
    // Memory the heap never handed out: its "header" has no valid magic.
    void* foreign = std::aligned_alloc(mm::kHeapSlabSize, mm::kHeapSlabSize);
    std::memset(foreign, 0, mm::kHeapSlabSize);
    EXPECT_DEATH(heap.deallocate(static_cast<char*>(foreign) + 256), "assertion failed");
    std::free(foreign);
    heap.deallocate(p);
    heap.deallocate(big);
}

} // namespace
