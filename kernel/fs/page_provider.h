// PageProvider: where in-memory filesystems get whole 4 KiB pages (the kernel passes its page
// allocator, host tests malloc'd aligned pages), and PageHandle, what mmap receives.
//
// Context: the calls may block and are made with the calling file's lock held, so an
// implementation must be thread-safe and must never call back into the fs. Pages are owned by
// the filesystem from alloc_page() to free_page().
#pragma once

#include <lib/result.h>

#include <stddef.h>
#include <stdint.h>

namespace fs {

class Vnode;

inline constexpr size_t kPageSize = 4096;

// A page of file data as mmap needs it: the physical address to map and the kernel's view of
// the same bytes.
struct PageHandle {
    uint64_t phys = 0;
    void* data = nullptr;
};

class PageProvider {
public:
    // One zero-filled, writable, kPageSize-aligned page. NOMEM when none is left.
    virtual Result<void*> alloc_page() = 0;
    // Returns a page from alloc_page().
    virtual void free_page(void* page) = 0;
    // The physical address of a page from alloc_page() (the host: the pointer's value).
    virtual uint64_t physical_address(void* page) = 0;
    // Called before a file frees its pages at offsets ≥ `from_offset` (it shrinks), with the
    // file's lock held: whoever maps them (the kernel's mmap glue) must stop doing so now.
    // May block; must not call back into the fs. `file` names the file by identity only.
    virtual void revoke_mappings(const Vnode& file, uint64_t from_offset)
    {
        (void)file;
        (void)from_offset;
    }

protected:
    ~PageProvider() = default;
};

} // namespace fs
