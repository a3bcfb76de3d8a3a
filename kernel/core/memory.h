// Memory bring-up and the kernel's memory objects: the physical page allocator, the kernel
// page table (direct map + W^X kernel image), the kernel heap, and the application address
// space with demand paging.
#pragma once

#include <arch/x86_64/layout.h>
#include <boot/options.h>
#include <boot/pvh.h>
#include <lib/result.h>
#include <mm/page_table.h>
#include <mm/phys_allocator.h>
#include <mm/vma.h>

namespace core {

// Builds the final page tables and the allocators from the boot memory map. Afterwards all
// RAM is direct-mapped at arch::kDirectMap with the largest pages alignment allows.
Result<void> init_memory(const boot::BootInfo& info, const boot::Options& options);

uint64_t total_memory();

// A kernel stack of `size` bytes (page multiple) in the vmap area with an unmapped guard
// below it; returns its lowest address. NOMEM/INVAL on failure.
Result<uint64_t> allocate_kernel_stack(size_t size);
void free_kernel_stack(uint64_t bottom, size_t size);

// Makes [paddr, paddr + size) reachable at its direct-map address with at least `prot`: pages
// already mapped are used as they are (ACCES if without those rights); missing ones are mapped
// 4 KiB at a time, never executable, with `cache`. `page_budget`, when given, bounds the new
// pages (NOMEM when it runs out). INVAL beyond the physical-address limit. For firmware tables
// and device registers, which the RAM direct map does not cover.
Result<void> map_physical(uint64_t paddr, size_t size, mm::Protection prot, mm::CacheMode cache,
                          size_t* page_budget = nullptr);

// Maps device registers [paddr, paddr + size) uncached, read-write, never executable, at
// their direct-map address (reusing an existing mapping), and returns that address; nullptr
// on failure (address beyond the physical limit, or no memory for page tables).
void* map_mmio(uint64_t paddr, size_t size);

// Whether `address` lies in a guard of the vmap area (a kernel stack or heap block overrun).
bool is_vmap_guard(uint64_t address);

// One past the highest physical address the kernel maps: the CPU's physical-address width
// (CPUID 0x80000008), at most what the direct-map window holds (2^46). RAM above is ignored.
uint64_t phys_addr_limit();

// The kernel heap, C style. kmalloc returns nullptr when memory is exhausted (never panics);
// align must be a power of two up to 4096. kfree(nullptr) is a no-op. May be called from the
// page-fault path; not from other interrupt context until the SMP issue adds per-CPU caches.
void* kmalloc(size_t size, size_t align = 16);
void kfree(void* p);
mm::PhysAllocator& phys_allocator();
// One zero-filled 4 KiB page reached through the direct map (file pages of in-memory file
// systems), and its release. nullptr when memory is exhausted.
void* alloc_zeroed_page();
void free_page(void* page);
// `pages` physically contiguous, zero-filled pages reached through the direct map (device
// rings and buffers: virt_to_phys() gives the address the device uses), and their release.
// nullptr when no run that long is free.
void* alloc_contiguous_pages(size_t pages);
void free_contiguous_pages(void* first, size_t pages);
inline uint64_t virt_to_phys(const void* direct_mapped)
{
    return reinterpret_cast<uint64_t>(direct_mapped) - arch::kDirectMap;
}
mm::PageTable& kernel_page_table();
mm::AddressSpace& app_address_space();

// The kernel's vmap area: large heap blocks built from scattered pages.
inline constexpr uint64_t kVmapBase = 0xffffc00000000000ull;
inline constexpr uint64_t kVmapLimit = 0xffffd00000000000ull;

// Virtual address of physical memory in the direct map.
inline void* phys_to_virt(uint64_t pa) { return reinterpret_cast<void*>(pa + arch::kDirectMap); }

// mmap-style operations on the application half that keep VMAs and page tables in step.
Result<uint64_t> map_anonymous(uint64_t hint, uint64_t size, mm::Protection prot, mm::MapFlags flags);
Result<void> unmap(uint64_t addr, uint64_t size);
Result<void> protect(uint64_t addr, uint64_t size, mm::Protection prot);
// madvise(MADV_DONTNEED): frees the pages of [addr, addr + size) and keeps the mappings, so
// the next touch sees zeros (anonymous memory) or the object's bytes (file mappings). NOMEM if part of the range is not mapped, INVAL as unmap.
Result<void> discard(uint64_t addr, uint64_t size);

// File mappings: VMAs of a mm::MemoryObject, demand-faulted from it (mm/vma.h describes the
// protocol). Private mappings map the object's pages read-only and copy a page on its first
// write; shared ones map the object's pages with the VMA's rights. The object's pages are
// asked for (MemoryObject::page) without the memory lock, so an object may take a lock of
// its own that ranks above it. munmap, MADV_DONTNEED and truncation free only the copies.
struct ObjectMapping {
    uint64_t hint = 0;
    uint64_t size = 0;
    mm::Protection prot = mm::Protection::None;
    mm::MapFlags flags = mm::MapFlags::None;
    mm::MemoryObject* object = nullptr; // the caller holds a reference for the call
    uint64_t offset = 0;
    bool shared = false;
    mm::Protection max_prot = mm::Protection::ReadWriteExec;
};
Result<uint64_t> map_object(const ObjectMapping& mapping);

// Prefaulting pages the caller looked up without the memory lock: take object_revocations()
// before the lookups and pass it to prefault_object_pages, which maps page i of `phys` at
// va + i × 4 KiB only if the VMA there still maps `object` at offset + i × 4 KiB, nothing is
// mapped there yet, and no revocation happened since (the page may have been freed then).
uint64_t object_revocations();
void prefault_object_pages(uint64_t va, const mm::MemoryObject& object, uint64_t offset, const uint64_t* phys,
                           size_t count, uint64_t revocations);

// The object is about to free its pages at offsets ≥ from_offset (a file shrinks): every
// mapping of them goes, private copies of them too (Linux: touching them is SIGBUS from now
// on). Never fails. Call with the object's lock held if it has one (ranks above this).
void revoke_object_pages(const mm::MemoryObject& object, uint64_t from_offset);

// mremap. [old_addr, old_addr + old_size) must lie in one VMA of anonymous memory or of a
// file (an object; FAULT otherwise). Shrinking unmaps the tail; growing extends in place when
// the pages after it are free (a file mapping goes on at the next file offsets: past the
// file's end that is SIGBUS, as for mmap). Otherwise, with `may_move`, the mapping moves — its
// pages change address, never content: the page-table entries move, no byte is copied, so
// a private file mapping keeps its copy-on-write copies and its uncopied pages still show the
// file, and a shared one still stores into the file — to `fixed_addr` when `fixed` (whatever
// is there is unmapped first; INVAL if it overlaps the old range), else wherever mmap would
// place it. `dont_unmap` (MREMAP_DONTUNMAP, sizes equal) leaves the old range mapped and
// empty (it reads as zeros, or as the file). old_size 0 makes a second mapping of a shared
// file mapping's pages (INVAL for any other; needs `may_move`). Returns the new address.
// NOMEM when it cannot grow in place and may not move, or when memory runs out (nothing has
// changed then).
struct RemapRequest {
    uint64_t old_addr = 0;
    uint64_t old_size = 0;
    uint64_t new_size = 0;
    bool may_move = false;
    bool fixed = false;
    bool dont_unmap = false;
    uint64_t fixed_addr = 0;
};
Result<uint64_t> remap(const RemapRequest& request);

// mincore: out[i] = 1 if page i of [addr, addr + pages × 4 KiB) is in memory, else 0. NOMEM if
// any page of the range is not mapped (out is then unspecified).
Result<void> resident_pages(uint64_t addr, size_t pages, uint8_t* out);

// Whether every page of [addr, addr + size) is mapped (any VMA, any rights): NOMEM if not.
Result<void> check_mapped(uint64_t addr, uint64_t size);

// Calls fn(vma, ctx) for every VMA of the application half, in address order, under the
// memory lock (fn may allocate; it must not change the address space). For /proc/self/maps.
void for_each_app_vma(void (*fn)(const mm::Vma& vma, void* ctx), void* ctx);

// Counts of leaf mappings by page size in [va, va + size) of the kernel page table.
struct LeafCounts {
    uint64_t pages_4k = 0, pages_2m = 0, pages_1g = 0;
};
LeafCounts count_leaves(uint64_t va, uint64_t size);

void print_memory_state();

// test.fault=oom: allocates until the heap and the page allocator say ENOMEM, reports it,
// gives everything back. Exhaustion is an error, never a panic.
void exhaust_memory_test();

} // namespace core
