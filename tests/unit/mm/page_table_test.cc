// Unit tests for mm::PageTable against fake physical memory: page-size selection, splitting,
// entry bits, table-page reclamation, all-or-nothing failures and a randomized model check.
#include <mm/page_table.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <vector>

namespace {

using mm::CacheMode;
using mm::MapOptions;
using mm::Mapping;
using mm::PageSize;
using mm::PageTable;
using mm::Protection;
using mm::kSize1G;
using mm::kSize2M;
using mm::kSize4K;
namespace x86 = mm::x86;

// Table pages live in one host buffer; "physical" addresses are offsets from kBase.
class FakeEnv final : public mm::PageTableEnv {
public:
    static constexpr uint64_t kBase = 0x1000'0000;
    static constexpr size_t kPages = 8192;

    FakeEnv() : m_memory(static_cast<uint64_t*>(std::aligned_alloc(4096, kPages * 4096)))
    {
        for (size_t i = kPages; i-- > 0;)
            m_free.push_back(kBase + i * 4096);
    }
    ~FakeEnv() { std::free(m_memory); }

    Result<uint64_t> allocate_table_page() override
    {
        if (fail_after == 0 || m_free.empty())
            return Errno::NOMEM;
        if (fail_after > 0)
            fail_after--;
        uint64_t pa = m_free.back();
        m_free.pop_back();
        std::memset(phys_to_virt(pa), 0, 4096);
        m_live.insert(pa);
        allocations++;
        return pa;
    }
    void free_table_page(uint64_t pa) override
    {
        EXPECT_EQ(m_live.erase(pa), 1u) << "freeing a page that is not allocated: " << std::hex << pa;
        std::memset(phys_to_virt(pa), 0xa5, 4096); // catch use after free
        m_free.push_back(pa);
    }
    void* phys_to_virt(uint64_t pa) override
    {
        EXPECT_TRUE(pa >= kBase && pa < kBase + kPages * 4096 && pa % 4096 == 0);
        return reinterpret_cast<char*>(m_memory) + (pa - kBase);
    }
    void invalidate_page(uint64_t va) override { invalidations.push_back(va); }
    void flush_all() override { flushes++; }

    size_t live_pages() const { return m_live.size(); }
    const std::set<uint64_t>& live() const { return m_live; }

    long fail_after = -1; // allocations that still succeed; -1 = unlimited
    size_t allocations = 0;
    std::vector<uint64_t> invalidations;
    size_t flushes = 0;

private:
    uint64_t* m_memory;
    std::vector<uint64_t> m_free;
    std::set<uint64_t> m_live;
};

std::vector<Mapping> mappings(const PageTable& pt)
{
    std::vector<Mapping> out;
    pt.for_each([&](const Mapping& m) { out.push_back(m); });
    return out;
}

size_t count_size(const PageTable& pt, PageSize size)
{
    size_t n = 0;
    pt.for_each([&](const Mapping& m) { n += m.size == size; });
    return n;
}

// Walks the tree: every table page must be live, reached once, and (except the root) not
// empty; every live page must be reachable (no leak).
void check_tree(FakeEnv& env, const PageTable& pt)
{
    std::set<uint64_t> seen;
    auto visit = [&](auto& self, uint64_t pa, int level) -> void {
        ASSERT_TRUE(env.live().count(pa)) << "table page not allocated";
        ASSERT_TRUE(seen.insert(pa).second) << "table page reachable twice";
        auto* t = static_cast<uint64_t*>(env.phys_to_virt(pa));
        bool empty = true;
        for (unsigned i = 0; i < 512; i++) {
            uint64_t e = t[i];
            if (e != 0)
                empty = false;
            if (level > 0 && x86::pte_has(e, x86::kPtePresent) && !x86::pte_has(e, x86::kPteHuge))
                self(self, e & x86::kPteAddrMask4K, level - 1);
        }
        if (pa != pt.root())
            EXPECT_FALSE(empty) << "empty table page left behind";
    };
    visit(visit, pt.root(), 3);
    EXPECT_EQ(seen.size(), env.live_pages()) << "leaked table pages";
}

PageTable make_table(FakeEnv& env)
{
    auto pt = PageTable::create(env);
    EXPECT_FALSE(pt.is_error());
    return pt.release_value();
}

class PageTableTest : public ::testing::Test {
protected:
    FakeEnv env;
    PageTable pt = make_table(env);
};

TEST_F(PageTableTest, PicksLargestPageSize)
{
    MapOptions giant;
    giant.allow_1g = true;
    uint64_t va = 0x40'0000'0000;
    // 1 GiB + 2 MiB + 4 KiB, all aligned: one of each.
    ASSERT_FALSE(pt.map(va, 0x8000'0000, kSize1G + kSize2M + kSize4K, Protection::ReadWrite, giant).is_error());
    auto m = mappings(pt);
    ASSERT_EQ(m.size(), 3u);
    EXPECT_EQ(m[0].size, PageSize::Size1G);
    EXPECT_EQ(m[0].va, va);
    EXPECT_EQ(m[0].pa, 0x8000'0000u);
    EXPECT_EQ(m[1].size, PageSize::Size2M);
    EXPECT_EQ(m[1].pa, 0x8000'0000u + kSize1G);
    EXPECT_EQ(m[2].size, PageSize::Size4K);
    check_tree(env, pt);

    // Without allow_1g the same range uses 2 MiB pages.
    uint64_t va2 = 0x80'0000'0000;
    ASSERT_FALSE(pt.map(va2, 0x8000'0000, kSize1G + kSize2M + kSize4K, Protection::ReadWrite).is_error());
    size_t n2m = 0, n4k = 0;
    pt.for_each_in(va2, kSize1G + kSize2M + kSize4K, [&](const Mapping& mp) {
        n2m += mp.size == PageSize::Size2M;
        n4k += mp.size == PageSize::Size4K;
    });
    EXPECT_EQ(n2m, 513u);
    EXPECT_EQ(n4k, 1u);

    // Virtual start 4 KiB before a 2 MiB boundary: one 4K, then 2M, then the 4K tail.
    uint64_t va3 = 0x1'0000'0000 - kSize4K;
    ASSERT_FALSE(pt.map(va3, 0x20'0000 - kSize4K, kSize4K + kSize2M + kSize4K, Protection::Read).is_error());
    std::vector<PageSize> sizes;
    pt.for_each_in(va3, kSize4K + kSize2M + kSize4K, [&](const Mapping& mp) { sizes.push_back(mp.size); });
    EXPECT_EQ(sizes, (std::vector<PageSize>{PageSize::Size4K, PageSize::Size2M, PageSize::Size4K}));

    // Physical address not congruent modulo 2 MiB: only 4 KiB pages.
    uint64_t va4 = 0x2'0000'0000;
    ASSERT_FALSE(pt.map(va4, 0x100'1000, 2 * kSize2M, Protection::Read).is_error());
    size_t n = 0;
    pt.for_each_in(va4, 2 * kSize2M, [&](const Mapping& mp) {
        EXPECT_EQ(mp.size, PageSize::Size4K);
        n++;
    });
    EXPECT_EQ(n, 1024u);

    // allow_2m = false forces 4 KiB.
    MapOptions small;
    small.allow_2m = false;
    ASSERT_FALSE(pt.map(0x3'0000'0000, 0x4000'0000, kSize2M, Protection::Read, small).is_error());
    EXPECT_EQ(pt.lookup(0x3'0000'0000).value().size, PageSize::Size4K);
    check_tree(env, pt);
}

TEST_F(PageTableTest, LookupEverywhere)
{
    MapOptions giant;
    giant.allow_1g = true;
    uint64_t va = 0x40'0000'0000 - kSize2M - kSize4K;
    uint64_t pa = 0x4000'0000 - kSize2M - kSize4K;
    uint64_t size = kSize4K + kSize2M + kSize1G + 3 * kSize2M + 5 * kSize4K;
    ASSERT_FALSE(pt.map(va, pa, size, Protection::ReadExec, giant).is_error());
    EXPECT_EQ(count_size(pt, PageSize::Size1G), 1u);
    std::mt19937_64 rng(1);
    for (int i = 0; i < 5000; i++) {
        uint64_t off = rng() % size;
        auto m = pt.lookup(va + off);
        ASSERT_FALSE(m.is_error());
        EXPECT_EQ(m.value().translate(va + off), pa + off);
        EXPECT_EQ(m.value().prot, Protection::ReadExec);
        EXPECT_LE(m.value().va, va + off);
        EXPECT_GT(m.value().va + m.value().bytes(), va + off);
    }
    EXPECT_EQ(pt.lookup(va - 1).error(), Errno::FAULT);
    EXPECT_EQ(pt.lookup(va + size).error(), Errno::FAULT);
    EXPECT_EQ(pt.lookup(0x0000'8000'0000'0000).error(), Errno::FAULT); // non-canonical
}

TEST_F(PageTableTest, EntryBitsExact)
{
    using namespace x86;
    const uint64_t va = 0x10'0000;
    ASSERT_FALSE(pt.map(va, 0x5000, kSize4K, Protection::ReadWrite).is_error());
    uint64_t e = pt.lookup(va).value().entry;
    EXPECT_EQ(e, 0x5000 | kPtePresent.bits() | kPteWritable.bits() | kPteNoExecute.bits());

    ASSERT_FALSE(pt.map(va + kSize4K, 0x6000, kSize4K, Protection::ReadExec).is_error());
    EXPECT_EQ(pt.lookup(va + kSize4K).value().entry, 0x6000 | kPtePresent.bits());

    ASSERT_FALSE(pt.map(va + 2 * kSize4K, 0x7000, kSize4K, Protection::Read).is_error());
    EXPECT_EQ(pt.lookup(va + 2 * kSize4K).value().entry, 0x7000 | kPtePresent.bits() | kPteNoExecute.bits());

    // Write-only is reported as read+write (present implies readable on x86).
    ASSERT_FALSE(pt.map(va + 3 * kSize4K, 0x8000, kSize4K, Protection::Write).is_error());
    EXPECT_EQ(pt.lookup(va + 3 * kSize4K).value().prot, Protection::ReadWrite);

    MapOptions opts;
    opts.user = true;
    opts.global = true;
    opts.cache = CacheMode::Uncached;
    ASSERT_FALSE(pt.map(0x4000'0000, 0x20'0000, kSize2M, Protection::ReadWriteExec, opts).is_error());
    Mapping m = pt.lookup(0x4000'1234).value();
    EXPECT_EQ(m.entry, 0x20'0000 | kPtePresent.bits() | kPteWritable.bits() | kPteUser.bits() | kPteHuge.bits() |
                           kPteGlobal.bits() | kPteWriteThrough.bits() | kPteCacheDisable.bits());
    EXPECT_TRUE(m.user);
    EXPECT_TRUE(m.global);
    EXPECT_EQ(m.cache, CacheMode::Uncached);

    // Intermediate entries are permissive; the leaf decides.
    auto* pml4 = static_cast<uint64_t*>(env.phys_to_virt(pt.root()));
    EXPECT_EQ(pml4[0] & 0xfff, kPtePresent.bits() | kPteWritable.bits() | kPteUser.bits());
    EXPECT_FALSE(pte_has(pml4[0], kPteNoExecute));

    // PROT_NONE: not present, frame kept, reported as None; back to RW restores the entry.
    ASSERT_FALSE(pt.protect(va, kSize4K, Protection::None).is_error());
    m = pt.lookup(va).value();
    EXPECT_FALSE(pte_has(m.entry, kPtePresent));
    EXPECT_EQ(m.prot, Protection::None);
    EXPECT_EQ(m.pa, 0x5000u);
    ASSERT_FALSE(pt.protect(va, kSize4K, Protection::ReadWrite).is_error());
    EXPECT_EQ(pt.lookup(va).value().entry, e);
}

TEST_F(PageTableTest, PartialUnmapSplits2M)
{
    const uint64_t va = 0x4020'0000, pa = 0x60'0000;
    ASSERT_FALSE(pt.map(va, pa, kSize2M, Protection::ReadWrite).is_error());
    EXPECT_EQ(count_size(pt, PageSize::Size2M), 1u);
    env.invalidations.clear();
    ASSERT_FALSE(pt.unmap(va + 5 * kSize4K, 2 * kSize4K).is_error());
    EXPECT_EQ(count_size(pt, PageSize::Size2M), 0u);
    EXPECT_EQ(count_size(pt, PageSize::Size4K), 510u);
    for (uint64_t off = 0; off < kSize2M; off += kSize4K) {
        auto m = pt.lookup(va + off);
        if (off == 5 * kSize4K || off == 6 * kSize4K) {
            EXPECT_TRUE(m.is_error());
        } else {
            ASSERT_FALSE(m.is_error());
            EXPECT_EQ(m.value().pa, pa + off);
            EXPECT_EQ(m.value().prot, Protection::ReadWrite);
        }
    }
    EXPECT_EQ(env.invalidations, (std::vector<uint64_t>{va + 5 * kSize4K, va + 6 * kSize4K}));
    check_tree(env, pt);
}

TEST_F(PageTableTest, PartialProtectSplits1GTwice)
{
    MapOptions giant;
    giant.allow_1g = true;
    giant.user = true;
    const uint64_t va = 0x80'0000'0000, pa = 0x1'0000'0000;
    ASSERT_FALSE(pt.map(va, pa, kSize1G, Protection::ReadWrite, giant).is_error());
    size_t before = env.live_pages();
    const uint64_t target = va + 7 * kSize2M + 3 * kSize4K;
    ASSERT_FALSE(pt.protect(target, kSize4K, Protection::Read).is_error());
    EXPECT_EQ(env.live_pages(), before + 2); // one PD, one PT
    EXPECT_EQ(count_size(pt, PageSize::Size1G), 0u);
    EXPECT_EQ(count_size(pt, PageSize::Size2M), 511u);
    EXPECT_EQ(count_size(pt, PageSize::Size4K), 512u);
    Mapping m = pt.lookup(target).value();
    EXPECT_EQ(m.prot, Protection::Read);
    EXPECT_TRUE(x86::pte_has(m.entry, x86::kPteNoExecute));
    EXPECT_FALSE(x86::pte_has(m.entry, x86::kPteWritable));
    EXPECT_TRUE(m.user);
    EXPECT_EQ(m.pa, pa + (target - va));
    for (uint64_t addr : {va, target - kSize4K, target + kSize4K, va + 7 * kSize2M, va + kSize1G - kSize4K}) {
        Mapping other = pt.lookup(addr).value();
        EXPECT_EQ(other.prot, Protection::ReadWrite) << std::hex << addr;
        EXPECT_EQ(other.translate(addr), pa + (addr - va));
        EXPECT_TRUE(other.user);
    }
    // Protect with the rights a huge leaf already has does not split it.
    size_t pages = env.live_pages();
    ASSERT_FALSE(pt.protect(va, kSize4K, Protection::ReadWrite).is_error());
    EXPECT_EQ(env.live_pages(), pages);
    EXPECT_EQ(pt.lookup(va).value().size, PageSize::Size2M);
    // Whole-leaf protect keeps the huge page.
    ASSERT_FALSE(pt.protect(va + kSize2M, kSize2M, Protection::ReadExec).is_error());
    EXPECT_EQ(pt.lookup(va + kSize2M).value().size, PageSize::Size2M);
    EXPECT_EQ(pt.lookup(va + kSize2M).value().prot, Protection::ReadExec);
    check_tree(env, pt);
}

TEST_F(PageTableTest, ReplacingMapInsideHugePageSplits)
{
    ASSERT_FALSE(pt.map(0x4000'0000, 0x4000'0000, kSize2M, Protection::ReadWrite).is_error());
    MapOptions replace;
    replace.replace = true;
    ASSERT_FALSE(pt.map(0x4000'0000 + kSize4K, 0x9000, kSize4K, Protection::Read, replace).is_error());
    EXPECT_EQ(pt.lookup(0x4000'0000 + kSize4K).value().pa, 0x9000u);
    EXPECT_EQ(pt.lookup(0x4000'0000).value().pa, 0x4000'0000u);
    EXPECT_EQ(pt.lookup(0x4000'0000 + 2 * kSize4K).value().pa, 0x4000'0000u + 2 * kSize4K);
    EXPECT_EQ(count_size(pt, PageSize::Size4K), 512u);
    // Replacing the split region by a 2 MiB leaf again frees the page table.
    size_t pages = env.live_pages();
    ASSERT_FALSE(pt.map(0x4000'0000, 0x80'0000, kSize2M, Protection::Read, replace).is_error());
    EXPECT_EQ(env.live_pages(), pages - 1);
    EXPECT_EQ(pt.lookup(0x4000'0000).value().size, PageSize::Size2M);
    check_tree(env, pt);
}

TEST_F(PageTableTest, ExistOnOverlap)
{
    ASSERT_FALSE(pt.map(0x4020'0000, 0x20'0000, 4 * kSize4K, Protection::Read).is_error());
    auto before = mappings(pt);
    size_t pages = env.live_pages();
    // Overlap at the end of a larger range that would otherwise need new tables.
    auto r = pt.map(0x20'0000, 0, kSize1G + kSize4K, Protection::Read);
    ASSERT_TRUE(r.is_error());
    EXPECT_EQ(r.error(), Errno::EXIST);
    EXPECT_EQ(mappings(pt).size(), before.size());
    EXPECT_EQ(env.live_pages(), pages);
    // PROT_NONE mappings count as mappings too.
    ASSERT_FALSE(pt.protect(0x4020'0000, kSize4K, Protection::None).is_error());
    EXPECT_EQ(pt.map(0x4020'0000, 0, kSize4K, Protection::Read).error(), Errno::EXIST);
    MapOptions replace;
    replace.replace = true;
    ASSERT_FALSE(pt.map(0x4020'0000, 0, kSize4K, Protection::Read, replace).is_error());
    EXPECT_EQ(pt.lookup(0x4020'0000).value().pa, 0u);
    check_tree(env, pt);
}

// One 4 KiB page under existing tables takes the fast path (no transaction); it must behave
// exactly as the general path: EXIST without replace (PROT_NONE entries included), the
// entry's bits as for any map, and one invalidation when it replaces a present entry.
TEST_F(PageTableTest, SinglePageUnderExistingTables)
{
    constexpr uint64_t va = 0x7000'0000'0000;
    ASSERT_FALSE(pt.map(va, 0x10'0000, 2 * kSize4K, Protection::Read).is_error());
    ASSERT_FALSE(pt.unmap(va + kSize4K, kSize4K).is_error());
    size_t pages = env.live_pages();
    env.invalidations.clear();
    MapOptions user;
    user.user = true;
    ASSERT_FALSE(pt.map(va + kSize4K, 0x30'0000, kSize4K, Protection::ReadWrite, user).is_error());
    EXPECT_EQ(env.live_pages(), pages);
    EXPECT_TRUE(env.invalidations.empty()); // nothing was present there
    auto m = pt.lookup(va + kSize4K).value();
    EXPECT_EQ(m.pa, 0x30'0000u);
    EXPECT_EQ(m.prot, Protection::ReadWrite);
    EXPECT_TRUE(m.user);
    EXPECT_FALSE(m.global);
    // The general path makes the identical entry.
    PageTable other = make_table(env);
    ASSERT_FALSE(other.map(va + kSize4K, 0x30'0000, kSize4K, Protection::ReadWrite, user).is_error());
    EXPECT_EQ(other.lookup(va + kSize4K).value().entry, m.entry);
    other.destroy();
    EXPECT_EQ(pt.map(va, 0x50'0000, kSize4K, Protection::Read).error(), Errno::EXIST);
    EXPECT_EQ(pt.lookup(va).value().pa, 0x10'0000u);
    ASSERT_FALSE(pt.protect(va, kSize4K, Protection::None).is_error());
    EXPECT_EQ(pt.map(va, 0x50'0000, kSize4K, Protection::Read).error(), Errno::EXIST);
    env.invalidations.clear();
    MapOptions replace;
    replace.replace = true;
    ASSERT_FALSE(pt.map(va + kSize4K, 0x60'0000, kSize4K, Protection::Read, replace).is_error());
    EXPECT_EQ(pt.lookup(va + kSize4K).value().pa, 0x60'0000u);
    EXPECT_EQ(env.invalidations, (std::vector<uint64_t>{va + kSize4K}));
    check_tree(env, pt);
}

TEST_F(PageTableTest, InvalidArguments)
{
    EXPECT_EQ(pt.map(0x1001, 0, kSize4K, Protection::Read).error(), Errno::INVAL);
    EXPECT_EQ(pt.map(0x1000, 0x10, kSize4K, Protection::Read).error(), Errno::INVAL);
    EXPECT_EQ(pt.map(0x1000, 0, 0, Protection::Read).error(), Errno::INVAL);
    EXPECT_EQ(pt.map(0x1000, 0, 100, Protection::Read).error(), Errno::INVAL);
    EXPECT_EQ(pt.map(0x0000'8000'0000'0000, 0, kSize4K, Protection::Read).error(), Errno::INVAL);
    // Running into the non-canonical hole or off the top of the address space.
    EXPECT_EQ(pt.map(0x0000'7fff'ffff'f000, 0, 2 * kSize4K, Protection::Read).error(), Errno::INVAL);
    EXPECT_EQ(pt.map(0xffff'ffff'ffff'f000, 0, 2 * kSize4K, Protection::Read).error(), Errno::INVAL);
    EXPECT_EQ(pt.map(0x1000, x86::kPhysAddrLimit - kSize4K, 2 * kSize4K, Protection::Read).error(), Errno::INVAL);
    EXPECT_EQ(pt.map(0x1000, 0, kSize4K, Protection(8)).error(), Errno::INVAL);
    EXPECT_EQ(pt.unmap(0x1000, 0).error(), Errno::INVAL);
    EXPECT_EQ(pt.protect(0x1800, kSize4K, Protection::Read).error(), Errno::INVAL);
    EXPECT_EQ(env.live_pages(), 1u);
    // The very top and the very bottom of the canonical halves work.
    ASSERT_FALSE(pt.map(0xffff'ffff'ffff'f000, 0x1000, kSize4K, Protection::Read).is_error());
    ASSERT_FALSE(pt.map(0x0000'7fff'ffff'f000, 0x2000, kSize4K, Protection::Read).is_error());
    ASSERT_FALSE(pt.map(0xffff'8000'0000'0000, 0x3000, kSize4K, Protection::Read).is_error());
    EXPECT_EQ(pt.lookup(0xffff'ffff'ffff'ffff).value().translate(0xffff'ffff'ffff'ffff), 0x1fffu);
    auto all = mappings(pt);
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[0].va, 0x0000'7fff'ffff'f000u); // lower half first
    EXPECT_EQ(all[1].va, 0xffff'8000'0000'0000u);
    EXPECT_EQ(all[2].va, 0xffff'ffff'ffff'f000u);
    check_tree(env, pt);
}

TEST_F(PageTableTest, TablePagesReclaimed)
{
    const size_t baseline = env.live_pages();
    std::vector<std::pair<uint64_t, uint64_t>> ranges = {
        {0x1000, 3 * kSize4K},
        {0x7f'ffe0'0000, 4 * kSize2M}, // crosses a 512 GiB (PML4) boundary
        {0x3fff'f000, kSize2M + 2 * kSize4K},
        {0xffff'8000'4000'0000, kSize1G},
    };
    for (auto [va, size] : ranges)
        ASSERT_FALSE(pt.map(va, va & 0xf'ffff'ffff, size, Protection::ReadWrite).is_error());
    EXPECT_GT(env.live_pages(), baseline + 6);
    // Unmap piecewise and out of order, including holes and partial huge pages.
    ASSERT_FALSE(pt.unmap(0x7f'ffe0'0000 + kSize4K, kSize2M).is_error());
    check_tree(env, pt);
    ASSERT_FALSE(pt.unmap(0, 0x40'0000'0000).is_error());
    check_tree(env, pt);
    ASSERT_FALSE(pt.unmap(0x40'0000'0000, 0x80'0000'0000).is_error());
    ASSERT_FALSE(pt.unmap(0xffff'8000'4000'0000 + kSize1G / 2, kSize1G / 2).is_error());
    ASSERT_FALSE(pt.unmap(0xffff'8000'4000'0000, kSize1G / 2).is_error());
    EXPECT_TRUE(mappings(pt).empty());
    EXPECT_EQ(env.live_pages(), baseline);
    check_tree(env, pt);
    pt.destroy();
    EXPECT_EQ(env.live_pages(), 0u);
}

TEST_F(PageTableTest, DestroyFreesEverything)
{
    ASSERT_FALSE(pt.map(0x1000, 0x1000, kSize1G, Protection::ReadWrite).is_error());
    ASSERT_FALSE(pt.map(0xffff'8000'0000'0000, 0, kSize2M, Protection::ReadWrite).is_error());
    env.flushes = 0;
    pt.destroy();
    EXPECT_EQ(env.live_pages(), 0u);
    EXPECT_EQ(env.flushes, 1u);
    EXPECT_EQ(pt.root(), 0u);
}

// Every allocation failure point of an operation leaves the tree exactly as it was.
TEST_F(PageTableTest, OutOfMemoryIsAllOrNothing)
{
    MapOptions giant;
    giant.allow_1g = true;
    ASSERT_FALSE(pt.map(0x40'0000'0000, 0x4000'0000, kSize1G, Protection::ReadWrite, giant).is_error());
    ASSERT_FALSE(pt.map(0x1000, 0x1000, 3 * kSize4K, Protection::Read).is_error());
    const auto snapshot = mappings(pt);
    auto same = [&] {
        auto now = mappings(pt);
        if (now.size() != snapshot.size())
            return false;
        for (size_t i = 0; i < now.size(); i++) {
            if (now[i].va != snapshot[i].va || now[i].entry != snapshot[i].entry)
                return false;
        }
        return true;
    };
    struct Op {
        const char* name;
        std::function<Result<void>()> run;
    };
    MapOptions replace;
    replace.replace = true;
    std::vector<Op> ops = {
        {"map scattered", [&] { return pt.map(0x7f'ffff'f000, 0x20'0000, 2 * kSize4K + 2 * kSize1G, Protection::Read); }},
        {"map replace into 1G", [&] { return pt.map(0x40'0000'0000 + kSize2M + kSize4K, 0, kSize4K, Protection::Read, replace); }},
        {"unmap splitting 1G", [&] { return pt.unmap(0x40'0000'0000 + 5 * kSize4K, kSize4K); }},
        {"protect splitting 1G twice",
         [&] { return pt.protect(0x40'0000'0000 + kSize4K, 2 * kSize2M, Protection::Read); }},
    };
    for (auto& op : ops) {
        for (long budget = 0;; budget++) {
            size_t pages = env.live_pages();
            env.fail_after = budget;
            auto r = op.run();
            env.fail_after = -1;
            if (!r.is_error()) {
                EXPECT_GT(budget, 0) << op.name;
                check_tree(env, pt);
                break;
            }
            ASSERT_EQ(r.error(), Errno::NOMEM) << op.name;
            ASSERT_TRUE(same()) << op.name << " budget " << budget;
            ASSERT_EQ(env.live_pages(), pages) << op.name;
            check_tree(env, pt);
        }
        // Undo, to start the next operation from the snapshot again.
        ASSERT_FALSE(pt.unmap(0, 0x100'0000'0000).is_error());
        ASSERT_FALSE(pt.map(0x40'0000'0000, 0x4000'0000, kSize1G, Protection::ReadWrite, giant).is_error());
        ASSERT_FALSE(pt.map(0x1000, 0x1000, 3 * kSize4K, Protection::Read).is_error());
        ASSERT_TRUE(same());
    }
}

TEST_F(PageTableTest, LargeInvalidationsFlush)
{
    ASSERT_FALSE(pt.map(0x1000, 0x1000, 100 * kSize4K, Protection::ReadWrite).is_error());
    env.invalidations.clear();
    env.flushes = 0;
    ASSERT_FALSE(pt.protect(0x1000, 10 * kSize4K, Protection::Read).is_error());
    EXPECT_EQ(env.invalidations.size(), 10u);
    EXPECT_EQ(env.flushes, 0u);
    env.invalidations.clear();
    ASSERT_FALSE(pt.unmap(0x1000, 100 * kSize4K).is_error());
    EXPECT_TRUE(env.invalidations.empty());
    EXPECT_EQ(env.flushes, 1u);
    // Changing a non-present (PROT_NONE) entry needs no invalidation.
    ASSERT_FALSE(pt.map(0x1000, 0x1000, kSize4K, Protection::None).is_error());
    env.invalidations.clear();
    env.flushes = 0;
    ASSERT_FALSE(pt.protect(0x1000, kSize4K, Protection::Read).is_error());
    EXPECT_TRUE(env.invalidations.empty());
    EXPECT_EQ(env.flushes, 0u);
}

// Random operations in a 64 MiB window that straddles a 512 GiB boundary, checked after each
// step against a per-4K model, the tree invariants and a simulated TLB.
TEST_F(PageTableTest, RandomAgainstModel)
{
    struct Page {
        uint64_t pa;
        Protection prot;
        bool operator==(const Page&) const = default;
    };
    std::map<uint64_t, Page> model;
    const uint64_t window = 0x80'0000'0000 - 32 * kSize2M;
    const uint64_t window_pages = 64 * kSize2M / kSize4K;
    std::mt19937_64 rng(12345);
    auto effective = [](Protection p) { return p == Protection::None ? p : p | Protection::Read; };
    const Protection prots[] = {Protection::None, Protection::Read, Protection::ReadWrite, Protection::ReadExec,
                                Protection::ReadWriteExec};

    for (int step = 0; step < 600; step++) {
        // Pick a range; half the time 2 MiB-aligned so that huge pages appear.
        uint64_t first, count;
        if (rng() % 2) {
            first = (rng() % 32) * 512;
            count = (1 + rng() % 4) * 512 + (rng() % 3 == 0 ? rng() % 512 : 0);
        } else {
            first = rng() % window_pages;
            count = 1 + rng() % 1500;
        }
        count = std::min(count, window_pages - first);
        uint64_t va = window + first * kSize4K, size = count * kSize4K;

        // Everything present now may be cached in the TLB.
        std::vector<Mapping> tlb;
        for (const Mapping& m : mappings(pt)) {
            if (m.prot != Protection::None)
                tlb.push_back(m);
        }
        env.invalidations.clear();
        env.flushes = 0;

        int kind = rng() % 3;
        Protection prot = prots[rng() % 5];
        if (kind == 0) {
            MapOptions opts;
            opts.replace = rng() % 2;
            uint64_t pa = (rng() % 64) * kSize2M + (rng() % 4 == 0 ? (rng() % 512) * kSize4K : va % kSize2M);
            bool overlap = false;
            for (uint64_t i = 0; i < count; i++)
                overlap |= model.count(va + i * kSize4K) > 0;
            auto r = pt.map(va, pa, size, prot, opts);
            if (overlap && !opts.replace) {
                ASSERT_TRUE(r.is_error());
                ASSERT_EQ(r.error(), Errno::EXIST);
            } else {
                ASSERT_FALSE(r.is_error());
                for (uint64_t i = 0; i < count; i++)
                    model[va + i * kSize4K] = {pa + i * kSize4K, effective(prot)};
            }
        } else if (kind == 1) {
            ASSERT_FALSE(pt.unmap(va, size).is_error());
            model.erase(model.lower_bound(va), model.lower_bound(va + size));
        } else {
            ASSERT_FALSE(pt.protect(va, size, prot).is_error());
            for (auto it = model.lower_bound(va); it != model.end() && it->first < va + size; ++it)
                it->second.prot = effective(prot);
        }

        // The tree equals the model, page by page.
        std::map<uint64_t, Page> actual;
        for (const Mapping& m : mappings(pt)) {
            for (uint64_t off = 0; off < m.bytes(); off += kSize4K)
                actual[m.va + off] = {m.pa + off, m.prot};
        }
        ASSERT_EQ(actual.size(), model.size()) << "step " << step;
        ASSERT_TRUE(actual == model) << "step " << step;
        check_tree(env, pt);

        // A TLB entry that survived the invalidations must still be right.
        if (env.flushes == 0) {
            for (const Mapping& cached : tlb) {
                bool dropped = false;
                for (uint64_t inv : env.invalidations)
                    dropped |= inv >= cached.va && inv < cached.va + cached.bytes();
                if (dropped)
                    continue;
                for (uint64_t off : {uint64_t(0), cached.bytes() - kSize4K, (rng() % (cached.bytes() / kSize4K)) * kSize4K}) {
                    auto it = model.find(cached.va + off);
                    ASSERT_TRUE(it != model.end()) << "stale TLB entry for unmapped page, step " << step;
                    ASSERT_EQ(it->second.pa, cached.pa + off) << "step " << step;
                    ASSERT_EQ(it->second.prot, cached.prot) << "step " << step;
                }
            }
        }
    }
    ASSERT_FALSE(pt.unmap(window, 64 * kSize2M).is_error());
    EXPECT_EQ(env.live_pages(), 1u);
}

} // namespace
