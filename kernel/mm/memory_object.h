// MemoryObject: what an object VMA maps — a reference-counted source of physical pages, such as
// a file (the kernel glue adapts a vnode's page_for_mmap to it).
//
// AddressSpace only stores the pointer and counts references; it never asks for a page. The
// calls that produce or identify pages come from the kernel glue, guided by resolve_fault()
// (see vma.h for the whole protocol).
//
// Design choices
//  * Telling the object's frames from private copies is the glue's job, not the object's. A
//    private mapping's page-table entry maps either the object's own frame (after a read or
//    exec fault) or a private copy (after a write fault); at munmap only copies are freed, at
//    mprotect only copies may become writable. The kernel glue records the copies it makes
//    (core/memory.cc, by virtual address) rather than asking the object, because an object
//    such as a file answers under its own lock, and the glue's callers hold the memory lock —
//    which ranks below a file's (a read of a file faults on the application's buffer with the
//    file's lock held). A software PTE bit would do too; a set keeps PageTable unaware of it.
//  * No size(). Linux lets a mapping extend past the end of its file (touching those pages is
//    SIGBUS), and the end moves with truncate/write, so a size captured at mmap time would be a
//    racy copy of what page() already answers exactly: NXIO at or past the end.
//  * Reference counting is intrusive and left to the implementation (acquire/release), so an
//    adapter can forward to the vnode's own count instead of adding a second one.
//
// Context: page() may block (an object may take its own sleeping lock), so it is called in
// thread context, and without the address space's lock (lock order: object → address space).
// acquire() and release() are called by AddressSpace with that lock held and must not call
// back into the AddressSpace.
#pragma once

#include <lib/result.h>
#include <stdint.h>

namespace mm {

class MemoryObject {
public:
    // The physical address of the object's page at `offset` (a multiple of kSize4K). A hole is
    // materialised (a ramfs file allocates the page), so there is always a page to map or copy.
    // `for_write`: the page will be mapped writable (a shared mapping whose VMA allows Write).
    // The page stays the object's: the caller maps it but never frees it. The object frees it
    // only after telling the glue (core::revoke_object_pages), e.g. when a file shrinks. Errors: NXIO at or
    // past the end of the object (the fault becomes SIGBUS); ACCES for `for_write` on an object
    // that cannot be written (a VMA's max_prot is what normally keeps that from being asked);
    // NOTSUP if the object's pages cannot be mapped at all (it then answers so for every
    // offset, and the glue should have made a copying mapping instead); NOMEM. May block.
    virtual Result<uint64_t> page(uint64_t offset, bool for_write) = 0;

    // One reference per VMA node that names the object; AddressSpace takes and drops them as it
    // creates, splits, merges and frees nodes. release() of the last reference may destroy the
    // object (the glue has unmapped its pages by then).
    virtual void acquire() = 0;
    virtual void release() = 0;

protected:
    ~MemoryObject() = default;
};

} // namespace mm
