// Unit tests for object (file) VMAs in mm::AddressSpace: map_object placement and errors,
// Fixed over anonymous and object VMAs, offsets through every split and merge, reference
// counts kept exactly balanced, the fault kinds (MapObjectPage / CopyOnWrite), the documented
// glue protocol run against a fake page table, and a randomized comparison with a per-page
// model.
#include <mm/vma.h>
#include "test_vma_allocator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <ostream>
#include <random>
#include <vector>

namespace mm {
// Readable failure messages for the enums the expectations compare.
void PrintTo(Protection p, std::ostream* os)
{
    *os << (has_all(p, Protection::Read) ? 'r' : '-') << (has_all(p, Protection::Write) ? 'w' : '-')
        << (has_all(p, Protection::Exec) ? 'x' : '-');
}
void PrintTo(VmaKind k, std::ostream* os)
{
    const char* names[] = {"Anonymous", "Object", "Guard", "Reserved"};
    *os << names[unsigned(k)];
}
void PrintTo(FaultResolution::Kind k, std::ostream* os)
{
    const char* names[] = {"Populate", "MapObjectPage", "CopyOnWrite", "NoVma", "ProtectionViolation", "GuardHit"};
    *os << names[unsigned(k)];
}
} // namespace mm

namespace {

using mm::Access;
using mm::AddressSpace;
using mm::FaultResolution;
using mm::MapFlags;
using mm::MemoryObject;
using mm::Protection;
using mm::Vma;
using mm::VmaKind;
using mm::kSize2M;
using mm::kSize4K;
using Kind = FaultResolution::Kind;

constexpr auto None = Protection::None;
constexpr auto R = Protection::Read;
constexpr auto W = Protection::Write;
constexpr auto X = Protection::Exec;
constexpr auto RW = Protection::ReadWrite;
constexpr auto RX = Protection::ReadExec;
constexpr auto RWX = Protection::ReadWriteExec;
constexpr bool kShared = true;
constexpr bool kPrivate = false;
constexpr uint64_t P = kSize4K;

using mm_test::TestAllocator;

// A file of `size` bytes whose page at offset o is the "frame" phys_base + o. Counts the
// references AddressSpace holds; a release without a matching acquire, or a reference left at
// destruction, fails the test.
class FakeObject final : public MemoryObject {
public:
    explicit FakeObject(uint64_t phys_base, uint64_t size = uint64_t(1) << 40) : m_phys_base(phys_base), m_size(size) {}
    ~FakeObject() { EXPECT_EQ(refs, 0) << "leaked object references"; }

    Result<uint64_t> page(uint64_t offset, bool) override
    {
        if (offset % kSize4K)
            return Errno::INVAL;
        if (offset >= m_size)
            return Errno::NXIO;
        return m_phys_base + offset;
    }
    // The simulated glue's oracle for "is this entry the object's frame or a copy" (the kernel
    // records its copies instead; see memory_object.h).
    bool is_object_page(uint64_t offset, uint64_t phys)
    {
        return offset < m_size && phys == m_phys_base + offset;
    }
    void acquire() override { refs++; }
    void release() override
    {
        EXPECT_GT(refs, 0) << "released more references than were taken";
        refs--;
    }

    long refs = 0;

private:
    uint64_t m_phys_base;
    uint64_t m_size;
};

// Everything a VMA says, for exact comparisons.
struct Desc {
    uint64_t start, end;
    Protection prot;
    VmaKind kind;
    const MemoryObject* object;
    uint64_t offset;
    bool shared;
    Protection max_prot;
    bool operator==(const Desc&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Desc& d)
{
    os << std::hex << "[" << d.start << ", " << d.end << ") ";
    mm::PrintTo(d.prot, &os);
    os << " ";
    mm::PrintTo(d.kind, &os);
    if (d.object)
        os << " obj=" << d.object << " off=" << d.offset << (d.shared ? " shared" : " private");
    os << " max=";
    mm::PrintTo(d.max_prot, &os);
    return os << std::dec;
}

// Shorthands for expected VMAs.
Desc anon(uint64_t start, uint64_t end, Protection prot)
{
    return {start, end, prot, VmaKind::Anonymous, nullptr, 0, false, RWX};
}
Desc obj(uint64_t start, uint64_t end, Protection prot, const MemoryObject& o, uint64_t offset, bool shared,
         Protection max_prot = RWX)
{
    return {start, end, prot, VmaKind::Object, &o, offset, shared, max_prot};
}

std::vector<Desc> vmas(const AddressSpace& as)
{
    std::vector<Desc> out;
    as.for_each([&](const Vma& v) {
        out.push_back({v.start, v.end, v.prot, v.kind, v.object, v.offset, v.shared, v.max_prot});
    });
    return out;
}

long nodes_naming(const AddressSpace& as, const MemoryObject& o)
{
    long n = 0;
    as.for_each([&](const Vma& v) { n += v.object == &o; });
    return n;
}

class VmaObjectTest : public ::testing::Test {
protected:
    // Declared before the address space, so they outlive it and check the final count.
    FakeObject file_a{0x10'0000'0000};
    FakeObject file_b{0x20'0000'0000};
    TestAllocator alloc;
    std::optional<AddressSpace> as{std::in_place, alloc};

    // Invariants hold and each object has exactly one reference per node naming it.
    void expect_consistent()
    {
        EXPECT_TRUE(as->check_invariants());
        EXPECT_EQ(file_a.refs, nodes_naming(*as, file_a));
        EXPECT_EQ(file_b.refs, nodes_naming(*as, file_b));
        EXPECT_EQ(alloc.live, long(as->vma_count()));
    }
    void TearDown() override
    {
        expect_consistent();
        as.reset();
        EXPECT_EQ(file_a.refs, 0);
        EXPECT_EQ(file_b.refs, 0);
    }
};

const uint64_t kBase = 0x4000'0000;

TEST_F(VmaObjectTest, MapsWithPlacementLikeAnonymous)
{
    // Top-down, size rounded up, every field recorded, one reference.
    uint64_t a = as->map_object(0, 3 * P - 100, R, MapFlags::None, file_a, 0x7000, kPrivate).value();
    EXPECT_EQ(a, AddressSpace::kDefaultLimit - 3 * P);
    EXPECT_EQ(vmas(*as), (std::vector<Desc>{obj(a, a + 3 * P, R, file_a, 0x7000, kPrivate)}));
    EXPECT_EQ(file_a.refs, 1);
    // ≥ 2 MiB: 2 MiB aligned (the placement rule does not depend on the kind).
    uint64_t b = as->map_object(0, kSize2M + P, RW, MapFlags::None, file_b, 0, kShared).value();
    EXPECT_EQ(b % kSize2M, 0u);
    // A free hint is honoured; an occupied one is not.
    uint64_t c = as->map_object(0x1234'5678, P, R, MapFlags::None, file_a, 0, kPrivate).value();
    EXPECT_EQ(c, 0x1234'5000u);
    uint64_t d = as->map_object(0x1234'5000, P, R, MapFlags::None, file_a, 0, kPrivate).value();
    EXPECT_NE(d, 0x1234'5000u);
    const Vma* v = as->find(b + kSize2M);
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v->kind, VmaKind::Object);
    EXPECT_EQ(v->object, &file_b);
    EXPECT_TRUE(v->shared);
    EXPECT_FALSE(v->is_private_object());
    EXPECT_EQ(v->object_offset(b + kSize2M + 123), kSize2M);
    EXPECT_TRUE(as->find(a)->is_private_object());
    EXPECT_EQ(file_a.refs, 3);
    EXPECT_EQ(file_b.refs, 1);
    expect_consistent();
}

TEST_F(VmaObjectTest, BadArgumentsAreErrorsAndTakeNoReference)
{
    ASSERT_FALSE(as->map_anonymous(kBase, 4 * P, RW, MapFlags::Fixed).is_error());
    auto before = vmas(*as);
    EXPECT_EQ(as->map_object(kBase, P, R, MapFlags::Fixed, file_a, 0x123, kPrivate).error(), Errno::INVAL);
    EXPECT_EQ(as->map_object(kBase + 1, P, R, MapFlags::Fixed, file_a, 0, kPrivate).error(), Errno::INVAL);
    EXPECT_EQ(as->map_object(0, 0, R, MapFlags::None, file_a, 0, kPrivate).error(), Errno::INVAL);
    EXPECT_EQ(as->map_object(0, P, Protection(8), MapFlags::None, file_a, 0, kPrivate).error(), Errno::INVAL);
    EXPECT_EQ(as->map_object(0, P, R, MapFlags::None, file_a, 0, kPrivate, Protection(9)).error(), Errno::INVAL);
    // The last page's offset would wrap past 2^64.
    const uint64_t top = ~uint64_t(0) - (P - 1); // 2^64 − 4 KiB
    EXPECT_EQ(as->map_object(0, P, R, MapFlags::None, file_a, top, kPrivate).error(), Errno::INVAL);
    EXPECT_EQ(as->map_object(0, 2 * P, R, MapFlags::None, file_a, top - P, kPrivate).error(), Errno::INVAL);
    EXPECT_EQ(as->map_object(0, ~uint64_t(0), R, MapFlags::None, file_a, 0, kPrivate).error(), Errno::INVAL);
    // Rights beyond max_prot (a shared mapping of a read-only file asking for Write).
    EXPECT_EQ(as->map_object(0, P, RW, MapFlags::None, file_a, 0, kShared, RX).error(), Errno::ACCES);
    // Overlap with FixedNoReplace; out of the address space with Fixed.
    EXPECT_EQ(as->map_object(kBase + P, P, R, MapFlags::FixedNoReplace, file_a, 0, kPrivate).error(), Errno::EXIST);
    EXPECT_EQ(as->map_object(0x1000, P, R, MapFlags::Fixed, file_a, 0, kPrivate).error(), Errno::NOMEM);
    // Only Guard and Reserved can be reserved.
    EXPECT_EQ(as->reserve(0, P, VmaKind::Object).error(), Errno::INVAL);
    EXPECT_EQ(vmas(*as), before);
    EXPECT_EQ(file_a.refs, 0);
    // The highest offset that does fit.
    uint64_t at = as->map_object(0, P, R, MapFlags::None, file_a, top - P, kPrivate).value();
    EXPECT_EQ(as->find(at)->offset, top - P);
    expect_consistent();
}

TEST_F(VmaObjectTest, FixedOverAnonymousAndObjects)
{
    ASSERT_FALSE(as->map_anonymous(kBase, 16 * P, RW, MapFlags::Fixed).is_error());
    // Strictly inside an anonymous VMA: three pieces.
    ASSERT_EQ(as->map_object(kBase + 4 * P, 8 * P, RW, MapFlags::Fixed, file_a, 0x10'0000, kPrivate).value(),
              kBase + 4 * P);
    EXPECT_EQ(vmas(*as), (std::vector<Desc>{anon(kBase, kBase + 4 * P, RW),
                                            obj(kBase + 4 * P, kBase + 12 * P, RW, file_a, 0x10'0000, kPrivate),
                                            anon(kBase + 12 * P, kBase + 16 * P, RW)}));
    expect_consistent();
    // Strictly inside the object VMA: it splits, the upper part's offset moves on.
    ASSERT_FALSE(as->map_object(kBase + 6 * P, 2 * P, R, MapFlags::Fixed, file_b, 0, kShared).is_error());
    EXPECT_EQ(vmas(*as), (std::vector<Desc>{anon(kBase, kBase + 4 * P, RW),
                                            obj(kBase + 4 * P, kBase + 6 * P, RW, file_a, 0x10'0000, kPrivate),
                                            obj(kBase + 6 * P, kBase + 8 * P, R, file_b, 0, kShared),
                                            obj(kBase + 8 * P, kBase + 12 * P, RW, file_a, 0x10'0000 + 4 * P, kPrivate),
                                            anon(kBase + 12 * P, kBase + 16 * P, RW)}));
    EXPECT_EQ(file_a.refs, 2);
    EXPECT_EQ(file_b.refs, 1);
    expect_consistent();
    // Over the low end of an object VMA and the high end of another: both trimmed, the upper
    // one's offset advanced.
    ASSERT_FALSE(as->map_anonymous(kBase + 7 * P, 3 * P, None, MapFlags::Fixed).is_error());
    EXPECT_EQ(vmas(*as), (std::vector<Desc>{anon(kBase, kBase + 4 * P, RW),
                                            obj(kBase + 4 * P, kBase + 6 * P, RW, file_a, 0x10'0000, kPrivate),
                                            obj(kBase + 6 * P, kBase + 7 * P, R, file_b, 0, kShared),
                                            anon(kBase + 7 * P, kBase + 10 * P, None),
                                            obj(kBase + 10 * P, kBase + 12 * P, RW, file_a, 0x10'0000 + 6 * P,
                                                kPrivate),
                                            anon(kBase + 12 * P, kBase + 16 * P, RW)}));
    expect_consistent();
    // Over everything: every object reference is given back.
    ASSERT_FALSE(as->map_anonymous(kBase, 16 * P, R, MapFlags::Fixed).is_error());
    EXPECT_EQ(vmas(*as), (std::vector<Desc>{anon(kBase, kBase + 16 * P, R)}));
    EXPECT_EQ(file_a.refs, 0);
    EXPECT_EQ(file_b.refs, 0);
    // A mapping replacing a whole VMA of the same object (the last reference is released by
    // the carve only after the new node took its own).
    ASSERT_FALSE(as->map_object(kBase, 4 * P, R, MapFlags::Fixed, file_a, 0, kPrivate).is_error());
    ASSERT_FALSE(as->map_object(kBase, 4 * P, R, MapFlags::Fixed, file_a, 8 * P, kPrivate).is_error());
    EXPECT_EQ(vmas(*as)[0], obj(kBase, kBase + 4 * P, R, file_a, 8 * P, kPrivate));
    EXPECT_EQ(file_a.refs, 1);
    expect_consistent();
}

TEST_F(VmaObjectTest, UnmapSplitsKeepOffsets)
{
    ASSERT_FALSE(as->map_object(kBase, 10 * P, RX, MapFlags::Fixed, file_a, 5 * P, kPrivate).is_error());
    // Middle: two pieces, two references.
    ASSERT_FALSE(as->unmap(kBase + 3 * P, 2 * P).is_error());
    EXPECT_EQ(vmas(*as), (std::vector<Desc>{obj(kBase, kBase + 3 * P, RX, file_a, 5 * P, kPrivate),
                                            obj(kBase + 5 * P, kBase + 10 * P, RX, file_a, 10 * P, kPrivate)}));
    EXPECT_EQ(file_a.refs, 2);
    expect_consistent();
    // The low page of the upper piece: its offset advances.
    ASSERT_FALSE(as->unmap(kBase + 5 * P, P).is_error());
    EXPECT_EQ(vmas(*as)[1], obj(kBase + 6 * P, kBase + 10 * P, RX, file_a, 11 * P, kPrivate));
    // The high page of the lower piece: offset unchanged.
    ASSERT_FALSE(as->unmap(kBase + 2 * P, P).is_error());
    EXPECT_EQ(vmas(*as)[0], obj(kBase, kBase + 2 * P, RX, file_a, 5 * P, kPrivate));
    // Mapping the holes back with the right offsets makes one VMA again.
    ASSERT_FALSE(
        as->map_object(kBase + 2 * P, 4 * P, RX, MapFlags::FixedNoReplace, file_a, 7 * P, kPrivate).is_error());
    EXPECT_EQ(vmas(*as), (std::vector<Desc>{obj(kBase, kBase + 10 * P, RX, file_a, 5 * P, kPrivate)}));
    EXPECT_EQ(file_a.refs, 1);
    expect_consistent();
    // Whole VMA: the reference goes.
    ASSERT_FALSE(as->unmap(kBase, 10 * P).is_error());
    EXPECT_EQ(as->vma_count(), 0u);
    EXPECT_EQ(file_a.refs, 0);
}

TEST_F(VmaObjectTest, ProtectSplitsKeepOffsetsAndRemerges)
{
    const uint64_t kOff = 0x40'0000;
    ASSERT_FALSE(as->map_object(kBase, 10 * P, R, MapFlags::Fixed, file_a, kOff, kPrivate).is_error());
    ASSERT_FALSE(as->protect(kBase + 2 * P, 3 * P, RW).is_error());
    EXPECT_EQ(vmas(*as), (std::vector<Desc>{obj(kBase, kBase + 2 * P, R, file_a, kOff, kPrivate),
                                            obj(kBase + 2 * P, kBase + 5 * P, RW, file_a, kOff + 2 * P, kPrivate),
                                            obj(kBase + 5 * P, kBase + 10 * P, R, file_a, kOff + 5 * P, kPrivate)}));
    EXPECT_EQ(file_a.refs, 3);
    expect_consistent();
    // Overlapping the edge of two pieces.
    ASSERT_FALSE(as->protect(kBase + 4 * P, 2 * P, None).is_error());
    EXPECT_EQ(vmas(*as), (std::vector<Desc>{obj(kBase, kBase + 2 * P, R, file_a, kOff, kPrivate),
                                            obj(kBase + 2 * P, kBase + 4 * P, RW, file_a, kOff + 2 * P, kPrivate),
                                            obj(kBase + 4 * P, kBase + 6 * P, None, file_a, kOff + 4 * P, kPrivate),
                                            obj(kBase + 6 * P, kBase + 10 * P, R, file_a, kOff + 6 * P, kPrivate)}));
    EXPECT_EQ(file_a.refs, 4);
    expect_consistent();
    // Back to one protection: one VMA, one reference.
    ASSERT_FALSE(as->protect(kBase, 10 * P, R).is_error());
    EXPECT_EQ(vmas(*as), (std::vector<Desc>{obj(kBase, kBase + 10 * P, R, file_a, kOff, kPrivate)}));
    EXPECT_EQ(file_a.refs, 1);
    expect_consistent();
}

TEST_F(VmaObjectTest, ProtectRespectsMaxProtAndKinds)
{
    // A shared mapping of a read-only file: Write can never be granted.
    ASSERT_FALSE(as->map_object(kBase, 4 * P, R, MapFlags::Fixed, file_a, 0, kShared, RX).is_error());
    ASSERT_FALSE(as->map_anonymous(kBase + 4 * P, 4 * P, RW, MapFlags::Fixed).is_error());
    auto before = vmas(*as);
    EXPECT_EQ(as->protect(kBase, 8 * P, RW).error(), Errno::ACCES);
    EXPECT_EQ(as->protect(kBase + P, P, W).error(), Errno::ACCES);
    EXPECT_EQ(vmas(*as), before);
    // Within max_prot it works, and the anonymous neighbour accepts Write.
    ASSERT_FALSE(as->protect(kBase, 8 * P, RX).is_error());
    ASSERT_FALSE(as->protect(kBase + 4 * P, 4 * P, RWX).is_error());
    EXPECT_EQ(vmas(*as), (std::vector<Desc>{obj(kBase, kBase + 4 * P, RX, file_a, 0, kShared, RX),
                                            anon(kBase + 4 * P, kBase + 8 * P, RWX)}));
    // First problem in address order: a hole before the object VMA is NOMEM.
    EXPECT_EQ(as->protect(kBase - P, 2 * P, RW).error(), Errno::NOMEM);
    // Guard next to an object VMA.
    ASSERT_FALSE(as->reserve(kBase - P, P, VmaKind::Guard, MapFlags::Fixed).is_error());
    EXPECT_EQ(as->protect(kBase - P, 2 * P, R).error(), Errno::ACCES);
    EXPECT_EQ(file_a.refs, 1);
    expect_consistent();
}

TEST_F(VmaObjectTest, MergeOnlyWhatOneVmaCanDescribe)
{
    // Same object, contiguous offsets, same everything: one VMA, one reference. Filling a gap
    // merges with both sides.
    ASSERT_FALSE(as->map_object(kBase, 2 * P, R, MapFlags::Fixed, file_a, 0, kPrivate).is_error());
    ASSERT_FALSE(as->map_object(kBase + 4 * P, 2 * P, R, MapFlags::Fixed, file_a, 4 * P, kPrivate).is_error());
    EXPECT_EQ(file_a.refs, 2);
    ASSERT_FALSE(as->map_object(kBase + 2 * P, 2 * P, R, MapFlags::Fixed, file_a, 2 * P, kPrivate).is_error());
    EXPECT_EQ(vmas(*as), (std::vector<Desc>{obj(kBase, kBase + 6 * P, R, file_a, 0, kPrivate)}));
    EXPECT_EQ(file_a.refs, 1);
    expect_consistent();

    // Each of these neighbours differs in exactly one respect and must stay separate.
    const uint64_t at = kBase + 6 * P;
    struct Case {
        const char* what;
        MemoryObject* object; // nullptr: anonymous
        uint64_t offset;
        bool shared;
        Protection max_prot;
    } cases[] = {
        {"offset not contiguous", &file_a, 7 * P, kPrivate, RWX},
        {"offset before", &file_a, 5 * P, kPrivate, RWX},
        {"other object", &file_b, 6 * P, kPrivate, RWX},
        {"shared", &file_a, 6 * P, kShared, RWX},
        {"max_prot", &file_a, 6 * P, kPrivate, R},
        {"anonymous", nullptr, 0, false, RWX},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.what);
        if (c.object)
            ASSERT_FALSE(
                as->map_object(at, 2 * P, R, MapFlags::Fixed, *c.object, c.offset, c.shared, c.max_prot).is_error());
        else
            ASSERT_FALSE(as->map_anonymous(at, 2 * P, R, MapFlags::Fixed).is_error());
        EXPECT_EQ(as->vma_count(), 2u);
        EXPECT_EQ(vmas(*as)[0], obj(kBase, kBase + 6 * P, R, file_a, 0, kPrivate));
        expect_consistent();
        ASSERT_FALSE(as->unmap(at, 2 * P).is_error());
    }
    // An anonymous VMA between two pieces of the object: unmapping it and mapping the right
    // offsets back merges all three into one.
    ASSERT_FALSE(as->map_object(at, 2 * P, R, MapFlags::Fixed, file_a, 6 * P, kPrivate).is_error());
    ASSERT_FALSE(as->map_anonymous(kBase + 3 * P, P, R, MapFlags::Fixed).is_error());
    EXPECT_EQ(as->vma_count(), 3u);
    ASSERT_FALSE(as->map_object(kBase + 3 * P, P, R, MapFlags::Fixed, file_a, 3 * P, kPrivate).is_error());
    EXPECT_EQ(vmas(*as), (std::vector<Desc>{obj(kBase, kBase + 8 * P, R, file_a, 0, kPrivate)}));
    EXPECT_EQ(file_a.refs, 1);
    expect_consistent();
}

// Every protection × private/shared × access, against the rules in vma.h.
TEST_F(VmaObjectTest, FaultKinds)
{
    for (bool shared : {kPrivate, kShared}) {
        for (uint8_t bits = 0; bits < 8; bits++) {
            Protection prot = Protection(bits);
            ASSERT_FALSE(as->map_object(kBase, 4 * P, prot, MapFlags::Fixed, file_a, 0x30'0000, shared).is_error());
            for (Access access : {Access::Read, Access::Write, Access::Exec}) {
                SCOPED_TRACE(testing::Message() << "shared=" << shared << " prot=" << unsigned(bits)
                                                << " access=" << unsigned(access));
                FaultResolution r = as->resolve_fault(kBase + 2 * P + 0x123, access);
                bool allowed = access == Access::Read    ? prot != None
                               : access == Access::Write ? mm::has_all(prot, W)
                                                         : mm::has_all(prot, X);
                ASSERT_NE(r.vma, nullptr);
                if (!allowed) {
                    EXPECT_EQ(r.kind, Kind::ProtectionViolation);
                    continue;
                }
                EXPECT_EQ(r.base, kBase + 2 * P);
                EXPECT_EQ(r.size, kSize4K);
                EXPECT_EQ(r.object, &file_a);
                EXPECT_EQ(r.object_offset, 0x30'0000 + 2 * P);
                if (shared) {
                    EXPECT_EQ(r.kind, Kind::MapObjectPage);
                    EXPECT_EQ(r.prot, prot);
                } else if (access == Access::Write) {
                    EXPECT_EQ(r.kind, Kind::CopyOnWrite);
                    EXPECT_EQ(r.prot, prot);
                } else {
                    // Never a writable mapping of the object's page; still the access's right.
                    EXPECT_EQ(r.kind, Kind::MapObjectPage);
                    EXPECT_FALSE(mm::has_all(r.prot, W));
                    EXPECT_NE(r.prot, None);
                    EXPECT_EQ(r.prot, mm::has_all(prot, W) && (prot & ~W) == None ? R : prot & ~W);
                    if (access == Access::Exec)
                        EXPECT_TRUE(mm::has_all(r.prot, X));
                }
            }
        }
    }
    // Object pages are 4 KiB even where a VMA covers a whole 2 MiB region.
    ASSERT_FALSE(as->map_object(kBase, 2 * kSize2M, RW, MapFlags::Fixed, file_b, 0, kShared).is_error());
    FaultResolution r = as->resolve_fault(kBase + kSize2M + 5 * P + 7, Access::Read);
    EXPECT_EQ(r.kind, Kind::MapObjectPage);
    EXPECT_EQ(r.size, kSize4K);
    EXPECT_EQ(r.base, kBase + kSize2M + 5 * P);
    EXPECT_EQ(r.object_offset, kSize2M + 5 * P);
    // The anonymous decisions are unchanged next to it.
    ASSERT_FALSE(as->map_anonymous(kBase + 2 * kSize2M, kSize2M, RW, MapFlags::Fixed).is_error());
    r = as->resolve_fault(kBase + 2 * kSize2M + 1, Access::Write);
    EXPECT_EQ(r.kind, Kind::Populate);
    EXPECT_EQ(r.size, kSize2M);
    EXPECT_EQ(r.object, nullptr);
    EXPECT_EQ(as->resolve_fault(kBase - 1, Access::Read).kind, Kind::NoVma);
    expect_consistent();
}

TEST_F(VmaObjectTest, PteProtection)
{
    ASSERT_FALSE(as->map_object(kBase, P, RWX, MapFlags::Fixed, file_a, 0, kPrivate).is_error());
    ASSERT_FALSE(as->map_object(kBase + P, P, W, MapFlags::Fixed, file_a, 0, kPrivate).is_error());
    ASSERT_FALSE(as->map_object(kBase + 2 * P, P, RW, MapFlags::Fixed, file_a, 0, kShared).is_error());
    ASSERT_FALSE(as->map_anonymous(kBase + 3 * P, P, RW, MapFlags::Fixed).is_error());
    ASSERT_FALSE(as->map_object(kBase + 4 * P, P, None, MapFlags::Fixed, file_a, 0, kPrivate).is_error());
    const Vma& private_rwx = *as->find(kBase);
    const Vma& private_w = *as->find(kBase + P);
    const Vma& shared_rw = *as->find(kBase + 2 * P);
    const Vma& anon_rw = *as->find(kBase + 3 * P);
    const Vma& private_none = *as->find(kBase + 4 * P);
    EXPECT_EQ(private_rwx.pte_protection(true), RX); // the object's page: never writable
    EXPECT_EQ(private_rwx.pte_protection(false), RWX); // a private copy: the VMA's rights
    EXPECT_EQ(private_w.pte_protection(true), R);
    EXPECT_EQ(private_w.pte_protection(false), W);
    EXPECT_EQ(private_none.pte_protection(true), None);
    EXPECT_EQ(shared_rw.pte_protection(true), RW);
    EXPECT_EQ(anon_rw.pte_protection(true), RW);
    EXPECT_EQ(anon_rw.pte_protection(false), RW);
    EXPECT_FALSE(shared_rw.is_private_object());
    EXPECT_FALSE(anon_rw.is_private_object());
    EXPECT_TRUE(private_w.is_private_object());
}

TEST_F(VmaObjectTest, ForEachIn)
{
    ASSERT_FALSE(as->map_object(kBase, 2 * P, R, MapFlags::Fixed, file_a, 0, kPrivate).is_error());
    ASSERT_FALSE(as->map_anonymous(kBase + 4 * P, 2 * P, RW, MapFlags::Fixed).is_error());
    ASSERT_FALSE(as->map_object(kBase + 6 * P, 2 * P, R, MapFlags::Fixed, file_b, 0, kShared).is_error());
    auto starts = [&](uint64_t from, uint64_t to) {
        std::vector<uint64_t> out;
        as->for_each_in(from, to, [&](const Vma& v) { out.push_back(v.start); });
        return out;
    };
    EXPECT_EQ(starts(kBase + P, kBase + 5 * P), (std::vector<uint64_t>{kBase, kBase + 4 * P}));
    EXPECT_EQ(starts(kBase + 2 * P, kBase + 4 * P), std::vector<uint64_t>{});
    EXPECT_EQ(starts(kBase + 3 * P, kBase + 7 * P), (std::vector<uint64_t>{kBase + 4 * P, kBase + 6 * P}));
    EXPECT_EQ(starts(0, ~uint64_t(0)), (std::vector<uint64_t>{kBase, kBase + 4 * P, kBase + 6 * P}));
    EXPECT_EQ(starts(kBase + 8 * P, ~uint64_t(0)), std::vector<uint64_t>{});
}

TEST_F(VmaObjectTest, AllocationFailureChangesNothing)
{
    ASSERT_FALSE(as->map_anonymous(kBase, 10 * P, RW, MapFlags::Fixed).is_error());
    ASSERT_FALSE(as->map_object(kBase + 10 * P, 10 * P, R, MapFlags::Fixed, file_a, 0, kPrivate).is_error());
    auto before = vmas(*as);
    alloc.fail = true;
    EXPECT_EQ(as->map_object(kBase + P, P, R, MapFlags::Fixed, file_b, 0, kPrivate).error(), Errno::NOMEM);
    EXPECT_EQ(as->map_object(0, P, R, MapFlags::None, file_b, 0, kPrivate).error(), Errno::NOMEM);
    EXPECT_EQ(as->unmap(kBase + 12 * P, P).error(), Errno::NOMEM);
    EXPECT_EQ(as->protect(kBase + 12 * P, P, None).error(), Errno::NOMEM);
    EXPECT_EQ(vmas(*as), before);
    EXPECT_EQ(file_a.refs, 1);
    EXPECT_EQ(file_b.refs, 0);
    // Operations that need no new node still work, and keep the count right.
    EXPECT_FALSE(as->unmap(kBase + 10 * P, P).is_error());
    EXPECT_EQ(as->find(kBase + 11 * P)->offset, P);
    EXPECT_FALSE(as->protect(kBase + 11 * P, 9 * P, None).is_error());
    alloc.fail = false;
    expect_consistent();
}

// The glue protocol documented in vma.h, run against a fake page table and frame allocator:
// private pages are copied on the first write and only copies are freed; the object's pages
// are never made writable through a private mapping, not even by mprotect.
class GlueSim {
public:
    explicit GlueSim(AddressSpace& as) : m_as(as) {}
    ~GlueSim() { EXPECT_TRUE(m_ptes.empty()); }

    struct Pte {
        uint64_t phys;
        Protection prot;
    };

    // The page-fault handler. False where the application would get a signal.
    bool fault(uint64_t addr, Access access)
    {
        FaultResolution r = m_as.resolve_fault(addr, access);
        auto it = m_ptes.find(r.base);
        switch (r.kind) {
        case Kind::Populate:
            for (uint64_t va = r.base; va < r.base + r.size; va += P)
                m_ptes[va] = {new_frame(), r.prot};
            return true;
        case Kind::MapObjectPage: {
            if (it != m_ptes.end()) { // rights lag the VMA
                it->second.prot = r.vma->pte_protection(is_object_page(*r.vma, r.base, it->second.phys));
                return true;
            }
            auto phys = r.object->page(r.object_offset, mm::has_all(r.prot, W));
            if (phys.is_error())
                return false; // SIGBUS
            m_ptes[r.base] = {phys.value(), r.prot};
            return true;
        }
        case Kind::CopyOnWrite: {
            if (it != m_ptes.end() && !static_cast<FakeObject*>(r.object)->is_object_page(r.object_offset, it->second.phys)) {
                it->second.prot = r.prot; // already a copy: rights lag the VMA
                return true;
            }
            auto source = r.object->page(r.object_offset, false);
            if (source.is_error())
                return false; // SIGBUS
            uint64_t copy = new_frame();
            m_copied_from[copy] = source.value();
            m_ptes[r.base] = {copy, r.prot};
            return true;
        }
        default:
            return false;
        }
    }

    void protect(uint64_t addr, uint64_t size, Protection prot)
    {
        ASSERT_FALSE(m_as.protect(addr, size, prot).is_error());
        m_as.for_each_in(addr, addr + size, [&](const Vma& v) {
            uint64_t end = std::min(addr + size, v.end);
            for (auto it = m_ptes.lower_bound(std::max(addr, v.start)); it != m_ptes.end() && it->first < end; ++it)
                it->second.prot = v.pte_protection(is_object_page(v, it->first, it->second.phys));
        });
    }

    void unmap(uint64_t addr, uint64_t size)
    {
        // Decide what to free while the VMAs (and their object references) still exist.
        m_as.for_each_in(addr, addr + size, [&](const Vma& v) {
            uint64_t end = std::min(addr + size, v.end);
            for (auto it = m_ptes.lower_bound(std::max(addr, v.start)); it != m_ptes.end() && it->first < end;) {
                const Pte& pte = it->second;
                bool borrowed = v.kind == VmaKind::Object && (v.shared || is_object_page(v, it->first, pte.phys));
                if (!borrowed)
                    free_frame(pte.phys);
                it = m_ptes.erase(it);
            }
        });
        ASSERT_FALSE(m_as.unmap(addr, size).is_error());
    }

    const Pte* pte(uint64_t va) const
    {
        auto it = m_ptes.find(va);
        return it == m_ptes.end() ? nullptr : &it->second;
    }
    uint64_t copied_from(uint64_t frame) const { return m_copied_from.at(frame); }
    long live_frames() const { return long(m_live.size()); }
    bool is_own_frame(uint64_t phys) const { return m_live.count(phys) != 0; }

private:
    static bool is_object_page(const Vma& v, uint64_t va, uint64_t phys)
    {
        return v.kind == VmaKind::Object && static_cast<FakeObject*>(v.object)->is_object_page(v.object_offset(va), phys);
    }
    uint64_t new_frame()
    {
        uint64_t f = m_next_frame += P;
        m_live[f] = true;
        return f;
    }
    void free_frame(uint64_t f)
    {
        EXPECT_EQ(m_live.erase(f), 1u) << "freed a frame that was not allocated: " << std::hex << f;
        m_copied_from.erase(f);
    }

    AddressSpace& m_as;
    std::map<uint64_t, Pte> m_ptes;
    std::map<uint64_t, bool> m_live;
    std::map<uint64_t, uint64_t> m_copied_from;
    uint64_t m_next_frame = 0x1'0000'0000;
};

TEST_F(VmaObjectTest, GlueProtocolCopiesOnWriteAndFreesOnlyCopies)
{
    FakeObject small{0x30'0000'0000, 6 * P}; // a 6-page file
    {
        GlueSim glue(*as);
        const uint64_t priv = kBase, shared = kBase + 0x10'0000;
        ASSERT_FALSE(as->map_object(priv, 8 * P, RW, MapFlags::Fixed, small, 0, kPrivate).is_error());
        ASSERT_FALSE(as->map_object(shared, 4 * P, RW, MapFlags::Fixed, file_b, 4 * P, kShared).is_error());

        // Read, then write, a private page: the object's page read-only, then a copy.
        ASSERT_TRUE(glue.fault(priv, Access::Read));
        EXPECT_EQ(glue.pte(priv)->phys, 0x30'0000'0000u);
        EXPECT_EQ(glue.pte(priv)->prot, R);
        ASSERT_TRUE(glue.fault(priv, Access::Write));
        EXPECT_TRUE(glue.is_own_frame(glue.pte(priv)->phys));
        EXPECT_EQ(glue.copied_from(glue.pte(priv)->phys), 0x30'0000'0000u);
        EXPECT_EQ(glue.pte(priv)->prot, RW);
        // A first write copies straight away; a read leaves the object's page mapped.
        ASSERT_TRUE(glue.fault(priv + P, Access::Write));
        EXPECT_EQ(glue.copied_from(glue.pte(priv + P)->phys), 0x30'0000'0000u + P);
        ASSERT_TRUE(glue.fault(priv + 2 * P, Access::Read));
        // Past the end of the file: SIGBUS, nothing mapped.
        EXPECT_FALSE(glue.fault(priv + 6 * P, Access::Read));
        EXPECT_FALSE(glue.fault(priv + 7 * P, Access::Write));
        EXPECT_EQ(glue.pte(priv + 6 * P), nullptr);

        // mprotect(R) then (RW): copies get the VMA's rights back, the object's page stays
        // read-only, and its next write is a copy-on-write.
        glue.protect(priv, 8 * P, R);
        EXPECT_EQ(glue.pte(priv)->prot, R);
        EXPECT_EQ(glue.pte(priv + 2 * P)->prot, R);
        EXPECT_FALSE(glue.fault(priv + 2 * P, Access::Write)); // SIGSEGV
        glue.protect(priv, 8 * P, RW);
        EXPECT_EQ(glue.pte(priv)->prot, RW);
        EXPECT_EQ(glue.pte(priv + P)->prot, RW);
        EXPECT_EQ(glue.pte(priv + 2 * P)->prot, R);
        EXPECT_EQ(glue.pte(priv + 2 * P)->phys, 0x30'0000'0000u + 2 * P);
        ASSERT_TRUE(glue.fault(priv + 2 * P, Access::Write));
        EXPECT_EQ(glue.pte(priv + 2 * P)->prot, RW);
        EXPECT_TRUE(glue.is_own_frame(glue.pte(priv + 2 * P)->phys));
        EXPECT_EQ(glue.live_frames(), 3);

        // A shared page is the object's, writable, and never copied.
        ASSERT_TRUE(glue.fault(shared + P, Access::Write));
        EXPECT_EQ(glue.pte(shared + P)->phys, 0x20'0000'0000u + 5 * P);
        EXPECT_EQ(glue.pte(shared + P)->prot, RW);
        ASSERT_TRUE(glue.fault(shared, Access::Read));
        EXPECT_EQ(glue.pte(shared)->prot, RW);
        EXPECT_EQ(glue.live_frames(), 3);

        // A page read after the object's page was mapped, then the VMA split by mprotect in
        // the middle: offsets of the pieces still identify the object's pages.
        ASSERT_TRUE(glue.fault(priv + 4 * P, Access::Read));
        glue.protect(priv + 3 * P, P, None);
        ASSERT_TRUE(glue.fault(priv + 5 * P, Access::Read));
        EXPECT_EQ(glue.pte(priv + 5 * P)->phys, 0x30'0000'0000u + 5 * P);
        EXPECT_EQ(small.refs, 3);

        // munmap frees exactly the three copies and none of the object's pages.
        glue.unmap(priv, 8 * P);
        glue.unmap(shared, 4 * P);
        EXPECT_EQ(glue.live_frames(), 0);
        EXPECT_EQ(small.refs, 0);
        EXPECT_EQ(file_b.refs, 0);
    }
    expect_consistent();
}

// Random operations on a 64 MiB space with anonymous, object (two objects, private and
// shared, two max_prots), guard and reserved mappings, compared after every step with a
// per-page model: the VMA list must be exactly the model's run-length encoding (where a run
// continues only with the next object offset), every object's reference count must equal the
// number of nodes naming it, and fault decisions must follow the model's page. Allocation
// failures are injected now and then: an operation then either succeeds as modelled or fails
// with NOMEM and changes nothing.
TEST_F(VmaObjectTest, RandomAgainstModel)
{
    struct Page {
        bool mapped = false;
        VmaKind kind = VmaKind::Anonymous;
        Protection prot = None;
        Protection max_prot = None;
        int object = -1; // index into objects
        uint64_t offset = 0;
        bool shared = false;
    };
    // Whether page b continues page a's VMA.
    auto continues = [](const Page& a, const Page& b) {
        if (!a.mapped || !b.mapped || a.kind != b.kind || a.prot != b.prot || a.max_prot != b.max_prot)
            return false;
        if (a.kind != VmaKind::Object)
            return true;
        return a.object == b.object && a.shared == b.shared && a.offset + P == b.offset;
    };
    const uint64_t base = 0x10000, pages = 16384, limit = base + pages * P;
    TestAllocator a2;
    FakeObject o0{0x100'0000'0000}, o1{0x200'0000'0000};
    MemoryObject* objects[] = {&o0, &o1};
    FakeObject* fakes[] = {&o0, &o1};
    {
        AddressSpace space(a2, base, limit);
        std::vector<Page> model(pages);
        std::mt19937_64 rng(4);
        const Protection prots[] = {None, R, RW, RX, W, RWX};
        auto set = [&](uint64_t start, uint64_t count, Page p) {
            for (uint64_t i = 0; i < count; i++) {
                Page& m = model[(start - base) / P + i];
                m = p;
                if (p.kind == VmaKind::Object)
                    m.offset = p.offset + i * P;
            }
        };
        auto expected_vmas = [&] {
            std::vector<Desc> out;
            for (uint64_t i = 0; i < pages;) {
                if (!model[i].mapped) {
                    i++;
                    continue;
                }
                uint64_t j = i + 1;
                while (j < pages && continues(model[j - 1], model[j]))
                    j++;
                const Page& p = model[i];
                out.push_back({base + i * P, base + j * P, p.prot, p.kind, p.object >= 0 ? objects[p.object] : nullptr,
                               p.offset, p.shared, p.max_prot});
                i = j;
            }
            return out;
        };
        int injected = 0, injected_failures = 0;
        for (int step = 0; step < 4000; step++) {
            uint64_t first = rng() % pages;
            uint64_t count = 1 + (rng() % 4 == 0 ? rng() % 2048 : rng() % 64);
            count = std::min(count, pages - first);
            uint64_t addr = base + first * P, size = count * P;
            Protection prot = prots[rng() % 6];
            bool inject = rng() % 16 == 0;
            a2.fail = inject;
            injected += inject;
            auto before = vmas(space);
            // True if the operation failed only because of the injected allocation failure.
            auto failed_by_injection = [&](Errno e) {
                if (!inject || e != Errno::NOMEM)
                    return false;
                injected_failures++;
                EXPECT_EQ(vmas(space), before) << "step " << step;
                return true;
            };
            switch (rng() % 8) {
            case 0: { // anonymous, Fixed or not
                bool fixed = rng() % 2;
                auto r = space.map_anonymous(fixed || rng() % 2 ? addr : 0, size, prot,
                                             fixed ? MapFlags::Fixed : MapFlags::None);
                if (r.is_error()) {
                    ASSERT_TRUE(failed_by_injection(r.error()) || (!fixed && r.error() == Errno::NOMEM)) << step;
                    break;
                }
                Page p{true, VmaKind::Anonymous, prot, RWX};
                set(r.value(), count, p);
                break;
            }
            case 1:
            case 2: { // object, Fixed or not
                bool fixed = rng() % 3 != 0;
                int o = int(rng() % 2);
                bool shared = rng() % 2;
                Protection max_prot = rng() % 4 == 0 ? RX : RWX;
                // Offsets that follow the address make neighbours contiguous, so merges happen.
                uint64_t offset = rng() % 2 ? addr - base : (rng() % (uint64_t(1) << 20)) * P;
                uint64_t hint = fixed || rng() % 2 ? addr : 0;
                if (!fixed && rng() % 2 == 0)
                    offset = rng() % (uint64_t(1) << 20) * P; // the address is only a hint here
                auto r = space.map_object(hint, size, prot, fixed ? MapFlags::Fixed : MapFlags::None, *objects[o],
                                          offset, shared, max_prot);
                if (!has_all(max_prot, prot)) {
                    ASSERT_TRUE(r.is_error());
                    ASSERT_EQ(r.error(), Errno::ACCES);
                    ASSERT_EQ(vmas(space), before);
                    break;
                }
                if (r.is_error()) {
                    ASSERT_TRUE(failed_by_injection(r.error()) || (!fixed && r.error() == Errno::NOMEM)) << step;
                    break;
                }
                uint64_t at = r.value();
                ASSERT_GE(at, base);
                ASSERT_LE(at + size, limit);
                if (fixed)
                    ASSERT_EQ(at, addr);
                else
                    for (uint64_t i = 0; i < count; i++)
                        ASSERT_FALSE(model[(at - base) / P + i].mapped) << "placed over a mapping";
                Page p{true, VmaKind::Object, prot, max_prot, o, offset, shared};
                set(at, count, p);
                break;
            }
            case 3: {
                auto r = space.unmap(addr, size);
                if (r.is_error()) {
                    ASSERT_TRUE(failed_by_injection(r.error())) << step;
                    break;
                }
                set(addr, count, {});
                break;
            }
            case 4:
            case 5: {
                Errno expected = Errno(0);
                for (uint64_t i = 0; i < count && expected == Errno(0); i++) {
                    const Page& p = model[first + i];
                    if (!p.mapped)
                        expected = Errno::NOMEM;
                    else if (p.kind != VmaKind::Anonymous && p.kind != VmaKind::Object)
                        expected = Errno::ACCES;
                    else if (!has_all(p.max_prot, prot))
                        expected = Errno::ACCES;
                }
                auto r = space.protect(addr, size, prot);
                if (r.is_error() && failed_by_injection(r.error()))
                    break;
                if (expected == Errno(0)) {
                    ASSERT_FALSE(r.is_error()) << step;
                    for (uint64_t i = 0; i < count; i++)
                        model[first + i].prot = prot;
                } else {
                    ASSERT_TRUE(r.is_error()) << step;
                    ASSERT_EQ(r.error(), expected) << step;
                    ASSERT_EQ(vmas(space), before);
                }
                break;
            }
            case 6: {
                VmaKind kind = rng() % 2 ? VmaKind::Guard : VmaKind::Reserved;
                auto r = space.reserve(addr, size, kind, MapFlags::Fixed);
                if (r.is_error()) {
                    ASSERT_TRUE(failed_by_injection(r.error())) << step;
                    break;
                }
                set(addr, count, {true, kind, None, None});
                break;
            }
            case 7: { // fault decisions at random addresses
                for (int i = 0; i < 8; i++) {
                    uint64_t at = base + rng() % (pages * P);
                    Access access = Access(rng() % 3);
                    const Page& p = model[(at - base) / P];
                    FaultResolution r = space.resolve_fault(at, access);
                    bool allowed = access == Access::Read    ? p.prot != None
                                   : access == Access::Write ? has_all(p.prot, W)
                                                             : has_all(p.prot, X);
                    if (!p.mapped) {
                        ASSERT_EQ(r.kind, Kind::NoVma);
                    } else if (p.kind == VmaKind::Guard) {
                        ASSERT_EQ(r.kind, Kind::GuardHit);
                    } else if (p.kind == VmaKind::Reserved || !allowed) {
                        ASSERT_EQ(r.kind, Kind::ProtectionViolation);
                    } else if (p.kind == VmaKind::Anonymous) {
                        ASSERT_EQ(r.kind, Kind::Populate);
                        ASSERT_EQ(r.prot, p.prot);
                    } else {
                        bool cow = !p.shared && access == Access::Write;
                        ASSERT_EQ(r.kind, cow ? Kind::CopyOnWrite : Kind::MapObjectPage);
                        ASSERT_EQ(r.object, objects[p.object]);
                        ASSERT_EQ(r.object_offset, p.offset);
                        ASSERT_EQ(r.base, at & ~(P - 1));
                        ASSERT_EQ(r.size, P);
                        if (!p.shared && !cow)
                            ASSERT_FALSE(has_all(r.prot, W));
                        else
                            ASSERT_EQ(r.prot, p.prot);
                    }
                }
                break;
            }
            }
            a2.fail = false;
            ASSERT_EQ(vmas(space), expected_vmas()) << "step " << step;
            ASSERT_TRUE(space.check_invariants()) << "step " << step;
            ASSERT_EQ(a2.live, long(space.vma_count()));
            for (int o = 0; o < 2; o++)
                ASSERT_EQ(fakes[o]->refs, nodes_naming(space, *objects[o])) << "object " << o << " step " << step;
        }
        EXPECT_GT(injected_failures, 20);
        EXPECT_GT(injected, injected_failures); // some operations need no node
        EXPECT_GT(o0.refs + o1.refs, 0);
    }
}

} // namespace
