// Unit tests for mm::AddressSpace: placement, MAP_FIXED, unmap/protect splits and merges,
// fault decisions (2 MiB, guard, protection), exhaustion, allocation failure and a randomized
// comparison against a per-page model.
#include <mm/vma.h>
#include "test_vma_allocator.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <algorithm>
#include <optional>
#include <random>
#include <tuple>
#include <vector>

namespace {

using mm::Access;
using mm::AddressSpace;
using mm::FaultResolution;
using mm::MapFlags;
using mm::Protection;
using mm::Vma;
using mm::VmaKind;
using mm::kSize2M;
using mm::kSize4K;

using mm_test::TestAllocator;

using Triple = std::tuple<uint64_t, uint64_t, Protection, VmaKind>;

std::vector<Triple> vmas(const AddressSpace& as)
{
    std::vector<Triple> out;
    as.for_each([&](const Vma& v) { out.emplace_back(v.start, v.end, v.prot, v.kind); });
    return out;
}

constexpr auto RW = Protection::ReadWrite;
constexpr auto R = Protection::Read;
constexpr auto None = Protection::None;
constexpr auto Anon = VmaKind::Anonymous;

class VmaTest : public ::testing::Test {
protected:
    TestAllocator alloc;
    std::optional<AddressSpace> as{std::in_place, alloc};
    void TearDown() override
    {
        EXPECT_TRUE(as->check_invariants());
        as.reset();
    }
};

TEST_F(VmaTest, PlacementTopDownAndHugeAligned)
{
    uint64_t a = as->map_anonymous(0, 3 * kSize4K, RW).value();
    EXPECT_EQ(a, AddressSpace::kDefaultLimit - 3 * kSize4K);
    // ≥ 2 MiB: 2 MiB aligned, below the first one.
    uint64_t b = as->map_anonymous(0, kSize2M + kSize4K, RW).value();
    EXPECT_EQ(b % kSize2M, 0u);
    EXPECT_LT(b + kSize2M + kSize4K, a + 1);
    // Size is rounded up to pages.
    uint64_t c = as->map_anonymous(0, 100, R).value();
    EXPECT_EQ(as->find(c)->size(), kSize4K);
    // A free hint is honoured (page-aligned down); an occupied one is not.
    uint64_t d = as->map_anonymous(0x1234'5678, kSize4K, RW).value();
    EXPECT_EQ(d, 0x1234'5000u);
    uint64_t e = as->map_anonymous(0x1234'5000, kSize4K, R).value();
    EXPECT_NE(e, 0x1234'5000u);
    EXPECT_TRUE(as->check_invariants());
}

TEST_F(VmaTest, FixedReplacesAndSplits)
{
    const uint64_t base = 0x100'0000;
    ASSERT_EQ(as->map_anonymous(base, 16 * kSize4K, RW, MapFlags::Fixed).value(), base);
    // Strictly inside: three pieces.
    ASSERT_EQ(as->map_anonymous(base + 4 * kSize4K, 2 * kSize4K, R, MapFlags::Fixed).value(), base + 4 * kSize4K);
    EXPECT_EQ(vmas(*as), (std::vector<Triple>{{base, base + 4 * kSize4K, RW, Anon},
                                              {base + 4 * kSize4K, base + 6 * kSize4K, R, Anon},
                                              {base + 6 * kSize4K, base + 16 * kSize4K, RW, Anon}}));
    // Across several VMAs and beyond the end.
    ASSERT_FALSE(as->map_anonymous(base + 2 * kSize4K, 20 * kSize4K, R, MapFlags::Fixed).is_error());
    EXPECT_EQ(vmas(*as), (std::vector<Triple>{{base, base + 2 * kSize4K, RW, Anon},
                                              {base + 2 * kSize4K, base + 22 * kSize4K, R, Anon}}));
    // Same protection next to an existing VMA: merged.
    ASSERT_FALSE(as->map_anonymous(base + 22 * kSize4K, kSize4K, R, MapFlags::Fixed).is_error());
    EXPECT_EQ(vmas(*as).size(), 2u);
    // FixedNoReplace refuses an overlap, accepts a free range.
    EXPECT_EQ(as->map_anonymous(base + kSize4K, kSize4K, R, MapFlags::FixedNoReplace).error(), Errno::EXIST);
    EXPECT_FALSE(as->map_anonymous(base - kSize4K, kSize4K, R, MapFlags::FixedNoReplace).is_error());
    // Unaligned / out of range.
    EXPECT_EQ(as->map_anonymous(base + 1, kSize4K, R, MapFlags::Fixed).error(), Errno::INVAL);
    EXPECT_EQ(as->map_anonymous(0x1000, kSize4K, R, MapFlags::Fixed).error(), Errno::NOMEM);
    EXPECT_EQ(as->map_anonymous(AddressSpace::kDefaultLimit, kSize4K, R, MapFlags::Fixed).error(), Errno::NOMEM);
    EXPECT_EQ(as->map_anonymous(0, 0, R).error(), Errno::INVAL);
}

TEST_F(VmaTest, UnmapSplitsAndIgnoresHoles)
{
    const uint64_t base = 0x4000'0000;
    ASSERT_FALSE(as->map_anonymous(base, 10 * kSize4K, RW, MapFlags::Fixed).is_error());
    ASSERT_FALSE(as->unmap(base + 3 * kSize4K, 2 * kSize4K).is_error());
    EXPECT_EQ(vmas(*as), (std::vector<Triple>{{base, base + 3 * kSize4K, RW, Anon},
                                              {base + 5 * kSize4K, base + 10 * kSize4K, RW, Anon}}));
    EXPECT_EQ(as->find(base + 3 * kSize4K), nullptr);
    EXPECT_EQ(as->find(base + 2 * kSize4K)->start, base);
    // Hole + edges: trims both sides.
    ASSERT_FALSE(as->unmap(base + 2 * kSize4K, 5 * kSize4K).is_error());
    EXPECT_EQ(vmas(*as), (std::vector<Triple>{{base, base + 2 * kSize4K, RW, Anon},
                                              {base + 7 * kSize4K, base + 10 * kSize4K, RW, Anon}}));
    // Pure hole.
    EXPECT_FALSE(as->unmap(0x10'0000, kSize4K).is_error());
    // Partial page length is rounded up.
    ASSERT_FALSE(as->unmap(base, 1).is_error());
    EXPECT_EQ(as->find(base), nullptr);
    EXPECT_EQ(as->find(base + kSize4K)->start, base + kSize4K);
    EXPECT_EQ(as->unmap(base + 1, kSize4K).error(), Errno::INVAL);
    EXPECT_EQ(as->unmap(base, 0).error(), Errno::INVAL);
    EXPECT_EQ(as->unmap(AddressSpace::kDefaultLimit - kSize4K, 2 * kSize4K).error(), Errno::INVAL);
    ASSERT_FALSE(as->unmap(0, AddressSpace::kDefaultLimit).is_error());
    EXPECT_EQ(as->vma_count(), 0u);
}

TEST_F(VmaTest, ProtectSplitsAndMerges)
{
    const uint64_t base = 0x4000'0000;
    ASSERT_FALSE(as->map_anonymous(base, 10 * kSize4K, RW, MapFlags::Fixed).is_error());
    ASSERT_FALSE(as->protect(base + 2 * kSize4K, 3 * kSize4K, R).is_error());
    EXPECT_EQ(vmas(*as), (std::vector<Triple>{{base, base + 2 * kSize4K, RW, Anon},
                                              {base + 2 * kSize4K, base + 5 * kSize4K, R, Anon},
                                              {base + 5 * kSize4K, base + 10 * kSize4K, RW, Anon}}));
    // Back to RW: everything merges into one VMA again.
    ASSERT_FALSE(as->protect(base + 2 * kSize4K, 3 * kSize4K, RW).is_error());
    EXPECT_EQ(vmas(*as), (std::vector<Triple>{{base, base + 10 * kSize4K, RW, Anon}}));
    // Not fully mapped: ENOMEM and nothing changes.
    ASSERT_FALSE(as->unmap(base + 6 * kSize4K, kSize4K).is_error());
    auto before = vmas(*as);
    EXPECT_EQ(as->protect(base, 10 * kSize4K, R).error(), Errno::NOMEM);
    EXPECT_EQ(as->protect(base - kSize4K, 2 * kSize4K, R).error(), Errno::NOMEM);
    EXPECT_EQ(vmas(*as), before);
    // Across two VMAs with a change in each.
    ASSERT_FALSE(as->map_anonymous(base + 6 * kSize4K, kSize4K, R, MapFlags::Fixed).is_error());
    ASSERT_FALSE(as->protect(base + 5 * kSize4K, 3 * kSize4K, None).is_error());
    EXPECT_EQ(vmas(*as), (std::vector<Triple>{{base, base + 5 * kSize4K, RW, Anon},
                                              {base + 5 * kSize4K, base + 8 * kSize4K, None, Anon},
                                              {base + 8 * kSize4K, base + 10 * kSize4K, RW, Anon}}));
    // Guard and reserved ranges cannot be protected.
    ASSERT_FALSE(as->reserve(base + 10 * kSize4K, kSize4K, VmaKind::Guard, MapFlags::Fixed).is_error());
    EXPECT_EQ(as->protect(base + 9 * kSize4K, 2 * kSize4K, R).error(), Errno::ACCES);
    EXPECT_EQ(as->protect(base + 1, kSize4K, R).error(), Errno::INVAL);
}

TEST_F(VmaTest, FaultResolution)
{
    // [2M-4K, 6M+4K): 2 MiB regions [2M,4M) and [4M,6M) are fully inside.
    const uint64_t lo = 0x4000'0000 + kSize2M - kSize4K, hi = 0x4000'0000 + 3 * kSize2M + kSize4K;
    ASSERT_FALSE(as->map_anonymous(lo, hi - lo, RW, MapFlags::Fixed).is_error());
    FaultResolution r = as->resolve_fault(lo + 5, Access::Write);
    EXPECT_EQ(r.kind, FaultResolution::Kind::Populate);
    EXPECT_EQ(r.base, lo);
    EXPECT_EQ(r.size, kSize4K);
    EXPECT_EQ(r.prot, RW);
    r = as->resolve_fault(0x4000'0000 + kSize2M + 0x12345, Access::Read);
    EXPECT_EQ(r.kind, FaultResolution::Kind::Populate);
    EXPECT_EQ(r.base, 0x4000'0000 + kSize2M);
    EXPECT_EQ(r.size, kSize2M);
    r = as->resolve_fault(0x4000'0000 + 3 * kSize2M - 1, Access::Read);
    EXPECT_EQ(r.base, 0x4000'0000 + 2 * kSize2M);
    EXPECT_EQ(r.size, kSize2M);
    r = as->resolve_fault(hi - 1, Access::Read);
    EXPECT_EQ(r.base, hi - kSize4K);
    EXPECT_EQ(r.size, kSize4K);
    // Access checks.
    EXPECT_EQ(as->resolve_fault(lo, Access::Exec).kind, FaultResolution::Kind::ProtectionViolation);
    ASSERT_FALSE(as->protect(lo, kSize4K, R).is_error());
    EXPECT_EQ(as->resolve_fault(lo, Access::Write).kind, FaultResolution::Kind::ProtectionViolation);
    EXPECT_EQ(as->resolve_fault(lo, Access::Read).kind, FaultResolution::Kind::Populate);
    ASSERT_FALSE(as->protect(lo, kSize4K, None).is_error());
    EXPECT_EQ(as->resolve_fault(lo, Access::Read).kind, FaultResolution::Kind::ProtectionViolation);
    ASSERT_FALSE(as->protect(lo, kSize4K, Protection::Exec).is_error());
    EXPECT_EQ(as->resolve_fault(lo, Access::Read).kind, FaultResolution::Kind::Populate);
    EXPECT_EQ(as->resolve_fault(lo, Access::Exec).kind, FaultResolution::Kind::Populate);
    // Splitting by protect makes a 2 MiB region no longer fully covered by one VMA.
    ASSERT_FALSE(as->protect(0x4000'0000 + 2 * kSize2M, kSize4K, R).is_error());
    r = as->resolve_fault(0x4000'0000 + 2 * kSize2M + kSize4K, Access::Read);
    EXPECT_EQ(r.size, kSize4K);
    // Unmapped.
    r = as->resolve_fault(lo - 1, Access::Read);
    EXPECT_EQ(r.kind, FaultResolution::Kind::NoVma);
    EXPECT_EQ(r.vma, nullptr);
    EXPECT_EQ(as->resolve_fault(0, Access::Read).kind, FaultResolution::Kind::NoVma);
    // Guard and reserved.
    uint64_t g = as->reserve(0, kSize4K, VmaKind::Guard).value();
    r = as->resolve_fault(g + 8, Access::Write);
    EXPECT_EQ(r.kind, FaultResolution::Kind::GuardHit);
    ASSERT_NE(r.vma, nullptr);
    EXPECT_EQ(r.vma->kind, VmaKind::Guard);
    uint64_t res = as->reserve(0, 4 * kSize2M, VmaKind::Reserved).value();
    EXPECT_EQ(res % kSize2M, 0u);
    EXPECT_EQ(as->resolve_fault(res + kSize2M, Access::Read).kind, FaultResolution::Kind::ProtectionViolation);
    // Mapping over a reservation with Fixed turns it into memory.
    ASSERT_FALSE(as->map_anonymous(res, 2 * kSize2M, RW, MapFlags::Fixed).is_error());
    r = as->resolve_fault(res + kSize2M, Access::Write);
    EXPECT_EQ(r.kind, FaultResolution::Kind::Populate);
    EXPECT_EQ(r.size, kSize2M);
    EXPECT_EQ(as->find(res + 2 * kSize2M)->kind, VmaKind::Reserved);
    EXPECT_EQ(as->reserve(0, kSize4K, VmaKind::Anonymous).error(), Errno::INVAL);
}

TEST_F(VmaTest, ExhaustionIsNomem)
{
    TestAllocator small_alloc;
    {
        AddressSpace small(small_alloc, 0x10000, 0x10000 + 64 * kSize4K);
        EXPECT_EQ(small.map_anonymous(0, 65 * kSize4K, RW).error(), Errno::NOMEM);
        ASSERT_FALSE(small.map_anonymous(0, 30 * kSize4K, RW).is_error());
        ASSERT_FALSE(small.map_anonymous(0, 30 * kSize4K, R).is_error());
        EXPECT_EQ(small.map_anonymous(0, 5 * kSize4K, RW).error(), Errno::NOMEM);
        ASSERT_FALSE(small.map_anonymous(0, 4 * kSize4K, None).is_error());
        EXPECT_EQ(small.map_anonymous(0, kSize4K, RW).error(), Errno::NOMEM);
        // Free a hole in the middle; a fitting request lands exactly there.
        ASSERT_FALSE(small.unmap(0x10000 + 10 * kSize4K, 3 * kSize4K).is_error());
        EXPECT_EQ(small.map_anonymous(0, 4 * kSize4K, RW).error(), Errno::NOMEM);
        EXPECT_EQ(small.map_anonymous(0, 3 * kSize4K, RW).value(), 0x10000 + 10 * kSize4K);
        EXPECT_EQ(small.vma_count(), 5u); // None, R, RW (new), R, RW
    }
    EXPECT_EQ(small_alloc.live, 0);
}

TEST_F(VmaTest, AllocationFailureChangesNothing)
{
    const uint64_t base = 0x4000'0000;
    ASSERT_FALSE(as->map_anonymous(base, 10 * kSize4K, RW, MapFlags::Fixed).is_error());
    auto before = vmas(*as);
    alloc.fail = true;
    EXPECT_EQ(as->map_anonymous(base + kSize4K, kSize4K, R, MapFlags::Fixed).error(), Errno::NOMEM);
    EXPECT_EQ(as->map_anonymous(0, kSize4K, R).error(), Errno::NOMEM);
    EXPECT_EQ(as->unmap(base + kSize4K, kSize4K).error(), Errno::NOMEM);
    EXPECT_EQ(as->protect(base + kSize4K, kSize4K, R).error(), Errno::NOMEM);
    EXPECT_EQ(vmas(*as), before);
    // Operations that need no new node still work.
    EXPECT_FALSE(as->unmap(base, kSize4K).is_error());
    EXPECT_FALSE(as->protect(base + kSize4K, 9 * kSize4K, RW).is_error());
    EXPECT_FALSE(as->protect(base + kSize4K, 9 * kSize4K, R).is_error());
    EXPECT_EQ(as->protect(base + 9 * kSize4K, kSize4K, RW).error(), Errno::NOMEM); // needs a split
    alloc.fail = false;
}

// Random operations on a 64 MiB space, compared after every step with a per-page model. As
// VMAs are always merged, the VMA list must equal the model's run-length encoding exactly.
TEST_F(VmaTest, RandomAgainstModel)
{
    struct Page {
        bool mapped = false;
        VmaKind kind = Anon;
        Protection prot = None;
        bool operator==(const Page&) const = default;
    };
    const uint64_t base = 0x10000, pages = 16384, limit = base + pages * kSize4K;
    TestAllocator a2;
    {
        AddressSpace space(a2, base, limit);
        std::vector<Page> model(pages);
        std::mt19937_64 rng(99);
        const Protection prots[] = {None, R, RW, Protection::ReadExec};
        auto set = [&](uint64_t start, uint64_t count, Page p) {
            for (uint64_t i = 0; i < count; i++)
                model[(start - base) / kSize4K + i] = p;
        };
        for (int step = 0; step < 3000; step++) {
            uint64_t first = rng() % pages;
            uint64_t count = 1 + (rng() % 4 == 0 ? rng() % 2048 : rng() % 64);
            count = std::min(count, pages - first);
            uint64_t addr = base + first * kSize4K, size = count * kSize4K;
            Protection prot = prots[rng() % 4];
            switch (rng() % 6) {
            case 0: { // non-fixed map
                auto r = space.map_anonymous(rng() % 2 ? addr : 0, size, prot);
                if (r.is_error()) {
                    ASSERT_EQ(r.error(), Errno::NOMEM);
                    break;
                }
                uint64_t at = r.value();
                ASSERT_GE(at, base);
                ASSERT_LE(at + size, limit);
                for (uint64_t i = 0; i < count; i++)
                    ASSERT_FALSE(model[(at - base) / kSize4K + i].mapped) << "placed over a mapping";
                set(at, count, {true, Anon, prot});
                break;
            }
            case 1:
                ASSERT_EQ(space.map_anonymous(addr, size, prot, MapFlags::Fixed).value(), addr);
                set(addr, count, {true, Anon, prot});
                break;
            case 2:
                ASSERT_FALSE(space.unmap(addr, size).is_error());
                set(addr, count, {});
                break;
            case 3: {
                Errno expected = Errno(0);
                for (uint64_t i = 0; i < count && expected == Errno(0); i++) {
                    const Page& p = model[first + i];
                    if (!p.mapped)
                        expected = Errno::NOMEM;
                    else if (p.kind != Anon)
                        expected = Errno::ACCES;
                }
                auto r = space.protect(addr, size, prot);
                if (expected == Errno(0)) {
                    ASSERT_FALSE(r.is_error());
                    set(addr, count, {true, Anon, prot});
                } else {
                    ASSERT_TRUE(r.is_error());
                    ASSERT_EQ(r.error(), expected);
                }
                break;
            }
            case 4: {
                VmaKind kind = rng() % 2 ? VmaKind::Guard : VmaKind::Reserved;
                ASSERT_FALSE(space.reserve(addr, size, kind, MapFlags::Fixed).is_error());
                set(addr, count, {true, kind, None});
                break;
            }
            case 5: { // fault decisions at random addresses
                for (int i = 0; i < 8; i++) {
                    uint64_t at = base + rng() % (pages * kSize4K);
                    const Page& p = model[(at - base) / kSize4K];
                    FaultResolution r = space.resolve_fault(at, Access::Write);
                    if (!p.mapped) {
                        ASSERT_EQ(r.kind, FaultResolution::Kind::NoVma);
                    } else if (p.kind == VmaKind::Guard) {
                        ASSERT_EQ(r.kind, FaultResolution::Kind::GuardHit);
                    } else if (p.kind == VmaKind::Reserved || !mm::has_all(p.prot, Protection::Write)) {
                        ASSERT_EQ(r.kind, FaultResolution::Kind::ProtectionViolation);
                    } else {
                        ASSERT_EQ(r.kind, FaultResolution::Kind::Populate);
                        ASSERT_EQ(r.prot, p.prot);
                        // 2 MiB exactly when every page of the aligned region is in this
                        // (maximal, hence same-run) VMA.
                        uint64_t huge = at & ~(kSize2M - 1);
                        bool whole = huge >= base && huge + kSize2M <= limit;
                        for (uint64_t q = huge; whole && q < huge + kSize2M; q += kSize4K)
                            whole = model[(q - base) / kSize4K] == p;
                        ASSERT_EQ(r.size, whole ? kSize2M : kSize4K) << std::hex << at;
                        ASSERT_EQ(r.base, at & ~(r.size - 1));
                    }
                }
                break;
            }
            }
            // Compare with the run-length encoding of the model.
            std::vector<Triple> expected;
            for (uint64_t i = 0; i < pages;) {
                if (!model[i].mapped) {
                    i++;
                    continue;
                }
                uint64_t j = i;
                while (j < pages && model[j] == model[i])
                    j++;
                expected.emplace_back(base + i * kSize4K, base + j * kSize4K, model[i].prot, model[i].kind);
                i = j;
            }
            ASSERT_EQ(vmas(space), expected) << "step " << step;
            ASSERT_TRUE(space.check_invariants()) << "step " << step;
            ASSERT_EQ(a2.live, long(space.vma_count()));
        }
    }
}

} // namespace
