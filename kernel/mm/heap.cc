// Heap: size-class slabs plus page runs (design and invariants in heap.h).
#include <mm/heap.h>

#include <lib/assert.h>

namespace mm {

// ---- DirectMapPageSource -------------------------------------------------------------------

Result<void*> DirectMapPageSource::alloc_pages(size_t pages, size_t align_pages)
{
    PhysAddr phys = TRY(m_phys.alloc(pages, align_pages));
    return reinterpret_cast<void*>(m_direct_map_base + phys.value());
}

void DirectMapPageSource::free_pages(void* start, size_t pages)
{
    m_phys.free(PhysAddr(reinterpret_cast<uintptr_t>(start) - m_direct_map_base), pages);
}

// ---- Block headers and size classes ----------------------------------------------------------

namespace {

constexpr uint32_t kSlabMagic = 0x534c4142;  // "SLAB"
constexpr uint32_t kLargeMagic = 0x4c524745; // "LRGE"
constexpr size_t kHeaderSize = 64;
constexpr size_t kGranule = 16;

constexpr size_t kClassSizes[kHeapClassCount] = {
    16,  32,  48,  64,  80,  96,   112,  128,  // steps of 16
    160, 192, 224, 256, 320, 384,  448,  512,  // then four classes per power of two
    640, 768, 896, 1024, 1280, 1536, 1792, 2048,
};

// Class index for each request size rounded up to the granule: by_granule[(size + 15) / 16].
struct ClassTable {
    uint8_t by_granule[kHeapMaxSmallSize / kGranule + 1];
};

constexpr ClassTable make_class_table()
{
    ClassTable t{};
    size_t c = 0;
    for (size_t g = 0; g <= kHeapMaxSmallSize / kGranule; g++) {
        while (kClassSizes[c] < g * kGranule)
            c++;
        t.by_granule[g] = uint8_t(c);
    }
    return t;
}

constexpr ClassTable kClassTable = make_class_table();

static_assert(kClassSizes[kHeapClassCount - 1] == kHeapMaxSmallSize);
static_assert(kClassTable.by_granule[1] == 0 && kClassTable.by_granule[128] == kHeapClassCount - 1);

// A freed small object; the link lives in the object's first bytes.
struct FreeObject {
    FreeObject* next;
};

} // namespace

// First kHeaderSize bytes of every block.
struct Heap::BlockHeader {
    uint32_t magic;      // kSlabMagic or kLargeMagic; zeroed when the block is given back
    uint16_t size_class; // slab only
    uint16_t cpu;        // owning HeapCpuCache (always 0 for now)
    uint32_t object_size;
    uint32_t capacity;   // slab: objects that fit
    uint32_t in_use;     // slab: live objects
    uint32_t bumped;     // slab: objects [0, bumped) have been handed out at least once
    FreeObject* free_list;
    BlockHeader* next;   // slab: links on the class's partial list
    BlockHeader* prev;
    size_t pages;        // large: pages in the run
    size_t offset;       // large: object start relative to the block
};
static_assert(sizeof(Heap::BlockHeader) <= kHeaderSize);

size_t Heap::class_size(size_t index)
{
    NIMBUS_ASSERT(index < kHeapClassCount);
    return kClassSizes[index];
}

int Heap::class_for(size_t size, size_t align)
{
    if (size > kHeapMaxSmallSize || align > kHeapMaxSmallSize)
        return -1;
    size_t c = kClassTable.by_granule[(size + kGranule - 1) / kGranule]; // size 0 -> class 0
    if (align <= kGranule)
        return int(c); // every class size is a multiple of 16
    for (; c < kHeapClassCount; c++) {
        if (kClassSizes[c] % align == 0)
            return int(c);
    }
    return -1;
}

Heap::BlockHeader* Heap::header_of(const void* p)
{
    uintptr_t addr = reinterpret_cast<uintptr_t>(p);
    return reinterpret_cast<BlockHeader*>((addr - 1) & ~uintptr_t(kHeapSlabSize - 1));
}

// ---- Slab lists ------------------------------------------------------------------------------

void Heap::partial_push(ClassState& cs, BlockHeader* slab)
{
    slab->prev = nullptr;
    slab->next = cs.partial;
    if (cs.partial)
        cs.partial->prev = slab;
    cs.partial = slab;
}

void Heap::partial_remove(ClassState& cs, BlockHeader* slab)
{
    if (slab->prev)
        slab->prev->next = slab->next;
    else
        cs.partial = slab->next;
    if (slab->next)
        slab->next->prev = slab->prev;
    slab->next = slab->prev = nullptr;
}

Heap::BlockHeader* Heap::new_slab(size_t cls)
{
    auto pages = m_source.alloc_pages(kHeapSlabPages, kHeapSlabPages);
    if (pages.is_error())
        return nullptr;
    auto* slab = static_cast<BlockHeader*>(pages.value());
    NIMBUS_ASSERT((reinterpret_cast<uintptr_t>(slab) & (kHeapSlabSize - 1)) == 0);
    *slab = BlockHeader{};
    slab->magic = kSlabMagic;
    slab->size_class = uint16_t(cls);
    slab->cpu = 0;
    slab->object_size = uint32_t(kClassSizes[cls]);
    slab->capacity = uint32_t((kHeapSlabSize - kHeaderSize) / kClassSizes[cls]);
    m_stats.pages_held += kHeapSlabPages;
    m_stats.slabs++;
    return slab;
}

void Heap::release_slab(BlockHeader* slab)
{
    slab->magic = 0;
    m_source.free_pages(slab, kHeapSlabPages);
    m_stats.pages_held -= kHeapSlabPages;
    m_stats.slabs--;
}

// ---- Allocation ------------------------------------------------------------------------------

void* Heap::allocate_small(size_t cls)
{
    ClassState& cs = m_cpu.classes[cls];
    BlockHeader* slab = cs.partial;
    if (!slab) {
        slab = new_slab(cls);
        if (!slab)
            return nullptr;
        partial_push(cs, slab);
        cs.empty_slabs++;
    }
    if (slab->in_use == 0)
        cs.empty_slabs--;

    void* obj;
    if (slab->free_list) {
        obj = slab->free_list;
        slab->free_list = slab->free_list->next;
    } else {
        NIMBUS_ASSERT(slab->bumped < slab->capacity);
        uintptr_t end = reinterpret_cast<uintptr_t>(slab) + kHeapSlabSize;
        obj = reinterpret_cast<void*>(end - uintptr_t(slab->bumped + 1) * slab->object_size);
        slab->bumped++;
    }
    slab->in_use++;
    if (slab->in_use == slab->capacity)
        partial_remove(cs, slab); // full slabs are on no list

    m_stats.bytes_in_use += slab->object_size;
    m_stats.allocations++;
    return obj;
}

void* Heap::allocate_large(size_t size, size_t align)
{
    size_t offset = align > kHeaderSize ? align : kHeaderSize;
    // Reject sizes whose page count would overflow (or that no machine could hold).
    if (size > (~size_t(0) >> 1) - offset)
        return nullptr;
    size_t pages = (offset + size + kPageSize - 1) / kPageSize;
    auto run = m_source.alloc_pages(pages, kHeapSlabPages);
    if (run.is_error())
        return nullptr;
    auto* block = static_cast<BlockHeader*>(run.value());
    NIMBUS_ASSERT((reinterpret_cast<uintptr_t>(block) & (kHeapSlabSize - 1)) == 0);
    *block = BlockHeader{};
    block->magic = kLargeMagic;
    block->pages = pages;
    block->offset = offset;

    m_stats.pages_held += pages;
    m_stats.bytes_in_use += pages * kPageSize - offset;
    m_stats.allocations++;
    m_stats.large_blocks++;
    return reinterpret_cast<char*>(block) + offset;
}

void* Heap::allocate(size_t size, size_t align)
{
    if (align == 0)
        align = 1;
    if (!is_power_of_two(align) || align > kHeapMaxAlign)
        return nullptr;
    int cls = class_for(size, align);
    if (cls >= 0)
        return allocate_small(size_t(cls));
    return allocate_large(size, align);
}

// ---- Deallocation ----------------------------------------------------------------------------

void Heap::deallocate_small(BlockHeader* slab, void* p)
{
    // p must be an object boundary inside the slab, past the header.
    uintptr_t end = reinterpret_cast<uintptr_t>(slab) + kHeapSlabSize;
    uintptr_t addr = reinterpret_cast<uintptr_t>(p);
    NIMBUS_ASSERT(addr < end);
    NIMBUS_ASSERT((end - addr) % slab->object_size == 0);
    NIMBUS_ASSERT((end - addr) / slab->object_size <= slab->bumped);
    NIMBUS_ASSERT(slab->in_use > 0);

    ClassState& cs = m_cpu.classes[slab->size_class];
    bool was_full = slab->in_use == slab->capacity;
    auto* obj = static_cast<FreeObject*>(p);
    obj->next = slab->free_list;
    slab->free_list = obj;
    slab->in_use--;
    m_stats.bytes_in_use -= slab->object_size;
    m_stats.allocations--;
    if (was_full)
        partial_push(cs, slab);
    if (slab->in_use == 0) {
        if (cs.empty_slabs >= 1) {
            partial_remove(cs, slab);
            release_slab(slab);
        } else {
            cs.empty_slabs++;
        }
    }
}

void Heap::deallocate_large(BlockHeader* block, void* p)
{
    NIMBUS_ASSERT(reinterpret_cast<char*>(block) + block->offset == p);
    size_t pages = block->pages;
    m_stats.pages_held -= pages;
    m_stats.bytes_in_use -= pages * kPageSize - block->offset;
    m_stats.allocations--;
    m_stats.large_blocks--;
    block->magic = 0;
    m_source.free_pages(block, pages);
}

void Heap::deallocate(void* p)
{
    if (!p)
        return;
    BlockHeader* block = header_of(p);
    if (block->magic == kSlabMagic) {
        deallocate_small(block, p);
        return;
    }
    NIMBUS_ASSERT(block->magic == kLargeMagic);
    deallocate_large(block, p);
}

size_t Heap::usable_size(const void* p) const
{
    const BlockHeader* block = header_of(p);
    if (block->magic == kSlabMagic)
        return block->object_size;
    NIMBUS_ASSERT(block->magic == kLargeMagic);
    return block->pages * kPageSize - block->offset;
}

void* Heap::reallocate(void* p, size_t size)
{
    if (!p)
        return allocate(size);
    if (size == 0) {
        deallocate(p);
        return nullptr;
    }
    size_t old_usable = usable_size(p);
    // Keep the block when it is big enough and not more than twice too big (so shrinking a
    // large block eventually gives memory back).
    if (size <= old_usable && (size > old_usable / 2 || old_usable <= kGranule))
        return p;
    void* fresh = allocate(size);
    if (!fresh)
        return nullptr;
    __builtin_memcpy(fresh, p, size < old_usable ? size : old_usable);
    deallocate(p);
    return fresh;
}

void Heap::trim()
{
    for (ClassState& cs : m_cpu.classes) {
        BlockHeader* slab = cs.partial;
        while (slab) {
            BlockHeader* next = slab->next;
            if (slab->in_use == 0) {
                partial_remove(cs, slab);
                release_slab(slab);
            }
            slab = next;
        }
        cs.empty_slabs = 0;
    }
}

} // namespace mm
