// MemoryObject: what an object VMA maps — a reference-counted source of physical pages, such as
// a file (the kernel glue adapts a vnode's page_for_mmap to it).
//
// AddressSpace only stores the pointer and counts references; it never asks for a page. The
// calls that produce or identify pages come from the kernel glue, guided by resolve_fault()
// (see vma.h for the whole protocol).
//
// Design choices
//  * Telling the object's frames from private copies. A private mapping's page-table entry maps
//    either the object's own frame (after a read or exec fault) or a private copy (after a write
//    fault). At munmap the glue must free copies and must not free the object's frames; at
//    mprotect it must keep the object's frames read-only. Rather than spend a software PTE bit or
//    a per-VMA bitmap (which every split, merge and Fixed map would have to carry along), the
//    glue asks the object: is_object_page(offset, phys). The answer is exact while the entry
//    exists: a copy is a frame the glue allocated and still holds, so it cannot be the object's
//    frame at that offset too. (A frame the object freed while still mapped — truncation — is a
//    use-after-free the glue must prevent by unmapping first; see kernel/fs/README.md.)
//  * No size(). Linux lets a mapping extend past the end of its file (touching those pages is
//    SIGBUS), and the end moves with truncate/write, so a size captured at mmap time would be a
//    racy copy of what page() already answers exactly: NXIO at or past the end.
//  * Reference counting is intrusive and left to the implementation (acquire/release), so an
//    adapter can forward to the vnode's own count instead of adding a second one.
//
// Context: page() and is_object_page() may block (an object may take its own sleeping lock), so
// they are called in thread context; the kernel glue calls them with the address space's lock
// held (lock order: address space → object). acquire() and release() are called by
// AddressSpace with that lock held and must not call back into the AddressSpace.
#pragma once

#include <lib/result.h>
#include <stdint.h>

namespace mm {

class MemoryObject {
public:
    // The physical address of the object's page at `offset` (a multiple of kSize4K). A hole is
    // materialised (a ramfs file allocates the page), so there is always a page to map or copy.
    // `for_write`: the page will be mapped writable (a shared mapping whose VMA allows Write).
    // The page stays the object's: the caller maps it but never frees it. Errors: NXIO at or
    // past the end of the object (the fault becomes SIGBUS); ACCES for `for_write` on an object
    // that cannot be written (a VMA's max_prot is what normally keeps that from being asked);
    // NOTSUP if the object's pages cannot be mapped at all (it then answers so for every
    // offset, and the glue should have made a copying mapping instead); NOMEM. May block.
    virtual Result<uint64_t> page(uint64_t offset, bool for_write) = 0;

    // Whether `phys` is the object's own page at `offset` (a multiple of kSize4K), i.e. whether
    // a page-table entry mapping `phys` at that object offset borrows the object's frame rather
    // than holding a private copy. Never allocates: a hole answers false. May block.
    virtual bool is_object_page(uint64_t offset, uint64_t phys) = 0;

    // One reference per VMA node that names the object; AddressSpace takes and drops them as it
    // creates, splits, merges and frees nodes. release() of the last reference may destroy the
    // object (the glue has unmapped its pages by then).
    virtual void acquire() = 0;
    virtual void release() = 0;

protected:
    ~MemoryObject() = default;
};

} // namespace mm
