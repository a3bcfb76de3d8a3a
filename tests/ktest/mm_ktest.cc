// In-kernel memory tests: the real page tables, faults and allocators on a real (virtual) CPU.
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/layout.h>
#include <core/ktest.h>
#include <core/memory.h>
#include <mm/types.h>
#include <new>

extern "C" char __kernel_start[], __text_end[];

namespace {

using core::count_leaves;
using mm::MapFlags;
using mm::Protection;

KTEST(mm, direct_map_uses_huge_pages)
{
    // All RAM is direct-mapped, mostly with 2 MiB (or 1 GiB) pages rather than 4 KiB ones.
    auto c = count_leaves(arch::kDirectMap, uint64_t(1) << 46);
    uint64_t huge_bytes = c.pages_2m * mm::kHugePageSize + c.pages_1g * mm::kGiantPageSize;
    KT_EXPECT(huge_bytes >= core::total_memory() / 2);
    KT_EXPECT(c.pages_4k * mm::kPageSize < core::total_memory() / 4);
    // Phys -> virt through the direct map reaches the same bytes as the kernel window.
    uint64_t text_pa = uint64_t(__kernel_start) - arch::kKernelWindow;
    KT_EXPECT_EQ(*static_cast<uint32_t*>(core::phys_to_virt(text_pa)), *reinterpret_cast<uint32_t*>(__kernel_start));
}

KTEST(mm, direct_map_uses_1g_pages_when_offered)
{
    // With 1 GiB pages in the CPU and at least 2 GiB of RAM, some GiB of RAM is 1 GiB-aligned
    // and fully covered: the direct map must use a 1 GiB page there (boot option mm.huge1g).
    bool has_1g = (arch::cpuid(0x80000000).eax >= 0x80000001) && (arch::cpuid(0x80000001).edx & (1u << 26));
    if (!has_1g || core::total_memory() < (uint64_t(2) << 30))
        return;
    KT_EXPECT(count_leaves(arch::kDirectMap, uint64_t(1) << 46).pages_1g >= 1);
    // RAM above the early 1 GiB map reached the page allocator (phase two of its feeding).
    KT_EXPECT(core::phys_allocator().total_pages() * mm::kPageSize > core::total_memory() * 9 / 10);
}

KTEST(mm, kernel_image_is_w_xor_x)
{
    auto& pt = core::kernel_page_table();
    auto text = pt.lookup(uint64_t(__kernel_start));
    KT_ASSERT(!text.is_error());
    KT_EXPECT(mm::has_all(text.value().prot, Protection::ReadExec));
    KT_EXPECT(!mm::has_all(text.value().prot, Protection::Write));
    static int some_data = 1;
    auto data = pt.lookup(uint64_t(&some_data));
    KT_ASSERT(!data.is_error());
    KT_EXPECT(mm::has_all(data.value().prot, Protection::ReadWrite));
    KT_EXPECT(!mm::has_all(data.value().prot, Protection::Exec));
    // The direct-map alias of the text is not writable either.
    uint64_t alias = arch::kDirectMap + (uint64_t(__kernel_start) - arch::kKernelWindow);
    auto a = pt.lookup(alias);
    KT_ASSERT(!a.is_error());
    KT_EXPECT(!mm::has_all(a.value().prot, Protection::Write));
}

KTEST(mm, demand_paging_uses_2m_pages)
{
    constexpr uint64_t size = 8 * mm::kHugePageSize;
    auto addr_or = core::map_anonymous(0, size, Protection::ReadWrite, MapFlags::None);
    KT_ASSERT(!addr_or.is_error());
    uint64_t addr = addr_or.value();
    KT_EXPECT_EQ(addr % mm::kHugePageSize, 0);
    // Nothing is populated before the first touch.
    auto before = count_leaves(addr, size);
    KT_EXPECT_EQ(before.pages_4k + before.pages_2m, 0);
    uint64_t free_before = core::phys_allocator().free_pages();
    auto* p = reinterpret_cast<volatile uint64_t*>(addr);
    p[0] = 42;                                   // first 2 MiB page
    p[(3 * mm::kHugePageSize + 123) / 8] = 7;    // fourth
    KT_EXPECT_EQ(p[0], 42);
    KT_EXPECT_EQ(p[1], 0); // fresh memory is zeroed
    auto after = count_leaves(addr, size);
    KT_EXPECT_EQ(after.pages_2m, 2);
    KT_EXPECT_EQ(after.pages_4k, 0);
    // Two 2 MiB frames, plus at most a few page-table pages for the new region.
    uint64_t used = free_before - core::phys_allocator().free_pages();
    KT_EXPECT(used >= 2 * mm::kHugePageSize / mm::kPageSize && used <= 2 * mm::kHugePageSize / mm::kPageSize + 3);
    KT_EXPECT(!core::unmap(addr, size).is_error());
    KT_EXPECT_EQ(core::phys_allocator().free_pages(), free_before);
    auto gone = count_leaves(addr, size);
    KT_EXPECT_EQ(gone.pages_2m + gone.pages_4k, 0);
}

KTEST(mm, small_mappings_use_4k_pages)
{
    constexpr uint64_t size = 5 * mm::kPageSize;
    auto addr_or = core::map_anonymous(0, size, Protection::ReadWrite, MapFlags::None);
    KT_ASSERT(!addr_or.is_error());
    uint64_t addr = addr_or.value();
    for (uint64_t off = 0; off < size; off += mm::kPageSize)
        *reinterpret_cast<volatile uint8_t*>(addr + off) = 1;
    auto c = count_leaves(addr, size);
    KT_EXPECT_EQ(c.pages_4k, 5);
    KT_EXPECT_EQ(c.pages_2m, 0);
    KT_EXPECT(!core::unmap(addr, size).is_error());
}

KTEST(mm, partial_unmap_splits_huge_page)
{
    constexpr uint64_t size = 2 * mm::kHugePageSize;
    auto addr_or = core::map_anonymous(0, size, Protection::ReadWrite, MapFlags::None);
    KT_ASSERT(!addr_or.is_error());
    uint64_t addr = addr_or.value();
    auto* p = reinterpret_cast<volatile uint64_t*>(addr);
    p[0] = 1;
    p[mm::kPageSize / 8 * 2] = 2; // third 4 KiB page of the same 2 MiB page
    KT_EXPECT_EQ(count_leaves(addr, mm::kHugePageSize).pages_2m, 1);
    // Cut one 4 KiB page out of the middle: the huge page becomes 511 small ones, data kept.
    KT_EXPECT(!core::unmap(addr + mm::kPageSize, mm::kPageSize).is_error());
    auto c = count_leaves(addr, mm::kHugePageSize);
    KT_EXPECT_EQ(c.pages_2m, 0);
    KT_EXPECT_EQ(c.pages_4k, 511);
    KT_EXPECT_EQ(p[0], 1);
    KT_EXPECT_EQ(p[mm::kPageSize / 8 * 2], 2);
    KT_EXPECT(core::app_address_space().find(addr + mm::kPageSize) == nullptr);
    KT_EXPECT(!core::unmap(addr, size).is_error());
}

KTEST(mm, protect_changes_page_tables)
{
    auto addr_or = core::map_anonymous(0, mm::kPageSize, Protection::ReadWrite, MapFlags::None);
    KT_ASSERT(!addr_or.is_error());
    uint64_t addr = addr_or.value();
    *reinterpret_cast<volatile int*>(addr) = 5;
    KT_EXPECT(!core::protect(addr, mm::kPageSize, Protection::Read).is_error());
    auto m = core::kernel_page_table().lookup(addr);
    KT_ASSERT(!m.is_error());
    KT_EXPECT(!mm::has_all(m.value().prot, Protection::Write));
    auto res = core::app_address_space().resolve_fault(addr, mm::Access::Write);
    KT_EXPECT(res.kind == mm::FaultResolution::Kind::ProtectionViolation);
    KT_EXPECT_EQ(*reinterpret_cast<volatile int*>(addr), 5);
    KT_EXPECT(!core::unmap(addr, mm::kPageSize).is_error());
}

KTEST(mm, heap_allocations)
{
    // Small, medium and large allocations; all writable and distinct.
    void* blocks[64];
    for (int i = 0; i < 64; ++i) {
        size_t size = size_t(16) << (i % 14);
        blocks[i] = operator new(size, std::nothrow);
        KT_ASSERT(blocks[i] != nullptr);
        __builtin_memset(blocks[i], i, size);
    }
    for (int i = 0; i < 64; ++i) {
        KT_EXPECT_EQ(*static_cast<uint8_t*>(blocks[i]), uint8_t(i));
        operator delete(blocks[i]);
    }
    // Absurd sizes and alignments fail cleanly.
    KT_EXPECT(operator new(uint64_t(1) << 46, std::nothrow) == nullptr);
    KT_EXPECT(core::kmalloc(~size_t(0)) == nullptr);
    KT_EXPECT(core::kmalloc(64, 3) == nullptr);
    void* aligned = core::kmalloc(100, 4096);
    KT_EXPECT(aligned != nullptr && uint64_t(aligned) % 4096 == 0);
    core::kfree(aligned);
    core::kfree(nullptr);
}

KTEST(mm, page_allocator_exhaustion_is_an_error)
{
    auto& phys = core::phys_allocator();
    uint64_t free_before = phys.free_pages();
    // Take everything in 2 MiB then 4 KiB pieces, chained through the pages themselves.
    uint64_t head = 0;
    uint64_t taken = 0;
    for (size_t pages : { size_t(512), size_t(1) }) {
        for (;;) {
            auto r = phys.alloc(pages);
            if (r.is_error()) {
                KT_EXPECT(r.error() == Errno::NOMEM);
                break;
            }
            uint64_t pa = r.value().value();
            auto* node = static_cast<uint64_t*>(core::phys_to_virt(pa));
            node[0] = head;
            node[1] = pages;
            head = pa;
            taken += pages;
        }
    }
    KT_EXPECT_EQ(phys.free_pages(), 0);
    KT_EXPECT_EQ(taken, free_before);
    while (head) {
        auto* node = static_cast<uint64_t*>(core::phys_to_virt(head));
        uint64_t next = node[0], pages = node[1];
        phys.free(mm::PhysAddr(head), pages);
        head = next;
    }
    KT_EXPECT_EQ(phys.free_pages(), free_before);
}

KTEST(mm, fault_outside_any_vma_is_reported)
{
    auto& as = core::app_address_space();
    KT_EXPECT(as.resolve_fault(0x1000, mm::Access::Read).kind == mm::FaultResolution::Kind::NoVma);
}

} // namespace

namespace {

KTEST(mm, map_fixed_replaces_populated_memory)
{
    constexpr uint64_t size = 4 * mm::kPageSize;
    auto addr_or = core::map_anonymous(0, size, Protection::ReadWrite, MapFlags::None);
    KT_ASSERT(!addr_or.is_error());
    uint64_t addr = addr_or.value();
    for (uint64_t off = 0; off < size; off += mm::kPageSize)
        *reinterpret_cast<volatile uint64_t*>(addr + off) = 0xabcd;
    uint64_t free_before = core::phys_allocator().free_pages();
    // Replace the middle two pages: their old contents and frames are gone, the rest stays.
    auto fixed = core::map_anonymous(addr + mm::kPageSize, 2 * mm::kPageSize, Protection::ReadWrite, MapFlags::Fixed);
    KT_ASSERT(!fixed.is_error());
    KT_EXPECT_EQ(fixed.value(), addr + mm::kPageSize);
    KT_EXPECT_EQ(core::phys_allocator().free_pages(), free_before + 2);
    KT_EXPECT_EQ(*reinterpret_cast<volatile uint64_t*>(addr), 0xabcd);
    KT_EXPECT_EQ(*reinterpret_cast<volatile uint64_t*>(addr + mm::kPageSize), 0);
    KT_EXPECT_EQ(*reinterpret_cast<volatile uint64_t*>(addr + 3 * mm::kPageSize), 0xabcd);
    KT_EXPECT(!core::unmap(addr, size).is_error());
    // Bad arguments are errors, not crashes.
    KT_EXPECT(core::unmap(addr + 1, mm::kPageSize).error() == Errno::INVAL);
    KT_EXPECT(core::unmap(addr, 0).error() == Errno::INVAL);
    KT_EXPECT(core::unmap(~uint64_t(0) & ~(mm::kPageSize - 1), mm::kPageSize).error() == Errno::INVAL);
}

} // namespace

namespace {

KTEST(mm, large_allocation_survives_fragmentation)
{
    // Fragment physical memory: take every page, give back 7 of every 8, so no free run is
    // longer than 7 pages. A 1 MiB heap block must still succeed — page-mapped into the vmap
    // area — and all of it must be usable and come back on free.
    auto& phys = core::phys_allocator();
    auto next_of = [](uint64_t pa) -> uint64_t& { return *static_cast<uint64_t*>(core::phys_to_virt(pa)); };
    uint64_t taken = 0; // chain of every page taken, through the pages themselves
    for (;;) {
        auto r = phys.alloc(1);
        if (r.is_error())
            break;
        uint64_t pa = r.value().value();
        next_of(pa) = taken;
        taken = pa;
    }
    KT_EXPECT_EQ(phys.free_pages(), 0);
    uint64_t head = 0; // the pages kept
    while (taken) {
        uint64_t pa = taken;
        taken = next_of(pa);
        if (pa % (8 * mm::kPageSize) == 0) {
            next_of(pa) = head;
            head = pa;
        } else {
            phys.free(mm::PhysAddr(pa), 1);
        }
    }
    KT_EXPECT(phys.alloc(8).is_error()); // no run of 8 pages left

    constexpr size_t size = 1 << 20;
    auto* block = static_cast<uint8_t*>(operator new(size, std::nothrow));
    KT_ASSERT(block != nullptr);
    KT_EXPECT(uint64_t(block) >= core::kVmapBase && uint64_t(block) < core::kVmapLimit);
    for (size_t i = 0; i < size; i += 512)
        block[i] = uint8_t(i >> 9);
    bool intact = true;
    for (size_t i = 0; i < size; i += 512)
        intact &= block[i] == uint8_t(i >> 9);
    KT_EXPECT(intact);
    uint64_t free_with_block = phys.free_pages();
    operator delete(block);
    KT_EXPECT(phys.free_pages() >= free_with_block + size / mm::kPageSize);

    while (head) {
        uint64_t next = *static_cast<uint64_t*>(core::phys_to_virt(head));
        phys.free(mm::PhysAddr(head), 1);
        head = next;
    }
}

} // namespace

namespace {

// A memory object of four kernel pages, each filled with its index + 1. Pages at or past
// `end` answer NXIO (a file that shrank).
class PagesObject final : public mm::MemoryObject {
public:
    static constexpr size_t kPages = 4;

    bool init()
    {
        for (size_t i = 0; i < kPages; ++i) {
            m_pages[i] = core::alloc_zeroed_page();
            if (!m_pages[i])
                return false;
            __builtin_memset(m_pages[i], int(i + 1), mm::kPageSize);
        }
        return true;
    }
    ~PagesObject()
    {
        for (void* p : m_pages)
            core::free_page(p);
    }
    lib::Result<uint64_t> page(uint64_t offset, bool) override
    {
        if (offset >= end)
            return Errno::NXIO;
        return phys(offset / mm::kPageSize);
    }
    void acquire() override { ++refs; }
    void release() override { --refs; }

    uint64_t phys(size_t i) const { return core::virt_to_phys(m_pages[i]); }
    uint8_t byte(size_t i) const { return *static_cast<const uint8_t*>(m_pages[i]); }

    int refs = 1; // the test's own
    uint64_t end = kPages * mm::kPageSize;

private:
    void* m_pages[kPages] = {};
};

uint8_t read_byte(uint64_t va) { return *reinterpret_cast<volatile uint8_t*>(va); }

lib::Result<mm::Mapping> entry_at(uint64_t va) { return core::kernel_page_table().lookup(va); }

// One round of private and shared mappings of `object`: what every page-table entry maps, and
// that the object's pages are never written through a private mapping nor freed.
void exercise_object(core::ktest::Context& kt, PagesObject& object)
{
    constexpr uint64_t P = mm::kPageSize;
    core::ObjectMapping m;
    m.size = PagesObject::kPages * P;
    m.prot = Protection::ReadWrite;
    m.object = &object;
    auto mapped = core::map_object(m);
    KT_ASSERT(!mapped.is_error());
    uint64_t a = mapped.value();
    KT_EXPECT_EQ(object.refs, 2);
    // Reads map the object's pages, read-only.
    for (size_t i = 0; i < PagesObject::kPages; ++i)
        KT_EXPECT_EQ(read_byte(a + i * P), i + 1);
    auto e = entry_at(a + P);
    KT_ASSERT(!e.is_error());
    KT_EXPECT_EQ(e.value().pa, object.phys(1));
    KT_EXPECT(!mm::has_all(e.value().prot, Protection::Write));
    // A write copies.
    *reinterpret_cast<volatile uint8_t*>(a + P) = 0x77;
    KT_EXPECT_EQ(object.byte(1), 2);
    e = entry_at(a + P);
    KT_ASSERT(!e.is_error());
    KT_EXPECT(e.value().pa != object.phys(1));
    KT_EXPECT(mm::has_all(e.value().prot, Protection::Write));
    // mprotect: read-only and back; the copy regains Write, the object's page never gets it.
    KT_EXPECT(!core::protect(a, m.size, Protection::Read).is_error());
    KT_EXPECT(!mm::has_all(entry_at(a + P).value().prot, Protection::Write));
    KT_EXPECT(!core::protect(a, m.size, Protection::ReadWrite).is_error());
    KT_EXPECT(mm::has_all(entry_at(a + P).value().prot, Protection::Write));
    KT_EXPECT(!mm::has_all(entry_at(a).value().prot, Protection::Write));
    KT_EXPECT_EQ(read_byte(a + P), 0x77);
    // MADV_DONTNEED: the copy goes, the object's byte comes back.
    KT_EXPECT(!core::discard(a + P, P).is_error());
    KT_EXPECT_EQ(read_byte(a + P), 2);
    KT_EXPECT_EQ(object.refs, 2);
    *reinterpret_cast<volatile uint8_t*>(a + 2 * P) = 0x55; // a copy left for munmap to free
    KT_EXPECT(!core::unmap(a, m.size).is_error());
    KT_EXPECT_EQ(object.refs, 1);

    // Shared: stores reach the object; a revocation takes the pages past the new end away.
    m.shared = true;
    mapped = core::map_object(m);
    KT_ASSERT(!mapped.is_error());
    a = mapped.value();
    *reinterpret_cast<volatile uint8_t*>(a + 3 * P) = 0x44;
    KT_EXPECT_EQ(object.byte(3), 0x44);
    KT_EXPECT_EQ(entry_at(a + 3 * P).value().pa, object.phys(3));
    KT_EXPECT_EQ(read_byte(a), 1);
    object.end = 2 * P;
    core::revoke_object_pages(object, 2 * P);
    KT_EXPECT(entry_at(a + 3 * P).is_error());
    KT_EXPECT(!entry_at(a).is_error());
    object.end = PagesObject::kPages * P;
    __builtin_memset(reinterpret_cast<void*>(core::phys_to_virt(object.phys(3))), 4, 1);
    KT_EXPECT_EQ(read_byte(a + 3 * P), 4); // faulted in again
    KT_EXPECT(!core::unmap(a, m.size).is_error());
    KT_EXPECT_EQ(object.refs, 1);
}

KTEST(mm, object_mappings_map_in_place_and_free_only_copies)
{
    auto* object = new (std::nothrow) PagesObject;
    KT_ASSERT(object && object->init());
    exercise_object(kt, *object); // warms up the heap's slabs for VMA and copy nodes
    uint64_t free_before = core::phys_allocator().free_pages();
    exercise_object(kt, *object);
    // Every copy was freed, no object page was.
    KT_EXPECT_EQ(core::phys_allocator().free_pages(), free_before);
    KT_EXPECT_EQ(object->byte(0), 1);
    delete object;
}

// mremap of a private mapping of `object`: the entries move — the object's page still the
// object's and read-only, the copy the same frame, writable, and still known as a copy (so
// that munmap frees it and nothing else).
void exercise_remap(core::ktest::Context& kt, PagesObject& object)
{
    constexpr uint64_t P = mm::kPageSize;
    core::ObjectMapping m;
    m.size = 2 * P;
    m.prot = Protection::ReadWrite;
    m.object = &object;
    m.offset = P;
    auto mapped = core::map_object(m);
    KT_ASSERT(!mapped.is_error());
    uint64_t a = mapped.value();
    KT_EXPECT_EQ(read_byte(a), 2);                  // the object's page 1
    *reinterpret_cast<volatile uint8_t*>(a + P) = 0x66; // a copy of page 2
    uint64_t copy = entry_at(a + P).value().pa;
    // Grow (wherever it goes): the new page is the object's page 3.
    core::RemapRequest r;
    r.old_addr = a;
    r.old_size = 2 * P;
    r.new_size = 3 * P;
    r.may_move = true;
    auto moved = core::remap(r);
    KT_ASSERT(!moved.is_error());
    uint64_t b = moved.value();
    KT_EXPECT_EQ(object.refs, 2);
    KT_EXPECT_EQ(read_byte(b + 2 * P), 4);
    // Move for sure: to an explicit destination (inside a range of our own, which it replaces).
    auto room = core::map_anonymous(0, 4 * P, Protection::ReadWrite, mm::MapFlags::None);
    KT_ASSERT(!room.is_error());
    uint64_t dest = room.value();
    r.old_addr = b;
    r.old_size = 3 * P;
    r.fixed = true;
    r.fixed_addr = dest;
    moved = core::remap(r);
    KT_ASSERT(!moved.is_error());
    KT_EXPECT_EQ(moved.value(), dest);
    KT_EXPECT(entry_at(b).is_error() && entry_at(b + P).is_error());
    auto e = entry_at(dest);
    KT_ASSERT(!e.is_error());
    KT_EXPECT_EQ(e.value().pa, object.phys(1));
    KT_EXPECT(!mm::has_all(e.value().prot, Protection::Write));
    e = entry_at(dest + P);
    KT_ASSERT(!e.is_error());
    KT_EXPECT_EQ(e.value().pa, copy);
    KT_EXPECT(mm::has_all(e.value().prot, Protection::Write));
    KT_EXPECT_EQ(read_byte(dest + P), 0x66);
    KT_EXPECT_EQ(object.byte(2), 3);
    // A store to the object's page still copies; the object keeps its byte.
    *reinterpret_cast<volatile uint8_t*>(dest) = 0x11;
    KT_EXPECT_EQ(object.byte(1), 2);
    // MREMAP_DONTUNMAP: the old range stays, empty, and shows the object again.
    core::RemapRequest d;
    d.old_addr = dest;
    d.old_size = d.new_size = 3 * P;
    d.may_move = d.dont_unmap = true;
    moved = core::remap(d);
    KT_ASSERT(!moved.is_error());
    uint64_t c = moved.value();
    KT_EXPECT(entry_at(dest + P).is_error());
    KT_EXPECT_EQ(read_byte(dest + P), 3);
    KT_EXPECT_EQ(read_byte(c + P), 0x66);
    KT_EXPECT_EQ(read_byte(c), 0x11);
    KT_EXPECT_EQ(object.refs, 3);
    KT_EXPECT(!core::unmap(c, 3 * P).is_error());
    KT_EXPECT(!core::unmap(dest, 4 * P).is_error());
    KT_EXPECT_EQ(object.refs, 1);
}

KTEST(mm, remap_moves_object_mappings_with_their_copies)
{
    auto* object = new (std::nothrow) PagesObject;
    KT_ASSERT(object && object->init());
    exercise_remap(kt, *object); // warms up the heap's slabs
    uint64_t free_before = core::phys_allocator().free_pages();
    exercise_remap(kt, *object);
    // The moved copies were freed by munmap (they stayed known as copies), no object page was.
    KT_EXPECT_EQ(core::phys_allocator().free_pages(), free_before);
    KT_EXPECT_EQ(object->byte(1), 2);
    delete object;
}

} // namespace
