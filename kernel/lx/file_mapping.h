// Files as memory objects: what mmap of a file (and exec) maps.
//
// A FileObject adapts one file to mm::MemoryObject: page() is the file's page_for_mmap, so a
// mapping of the root image maps the image's own pages in place and a mapping of a ramfs
// file maps the file's pages (shared mappings write straight into them). There is one object
// per file, whatever the number of its mappings, so adjacent mappings of consecutive parts of
// one file merge into one VMA and a file that shrinks finds every mapping of it.
//
// Lifetime: the object holds the file (its location: the vnode and the mount, so neither the
// file nor its filesystem goes while mapped) and counts references — one per VMA node plus
// the callers' transient ones (core::memory takes those). The last release unregisters it
// and drops the file.
//
// Locking: g_objects_lock protects the registry and the decision to destroy. It ranks below
// the memory lock (release() runs under it), so nothing that may take the memory lock —
// allocating or freeing kernel memory, a file, the memory layer — happens while it is held.
#pragma once

#include <fs/mount.h>
#include <fs/open_file.h>
#include <lib/result.h>
#include <mm/memory_object.h>

namespace lx {

// The memory object for the open regular file `file`, with one reference for the caller to
// release(). NOTSUP if the file's pages cannot be mapped in place (its filesystem answers
// NOTSUP to find_page; the caller copies the file instead); NOMEM.
lib::Result<mm::MemoryObject*> file_object(const fs::OpenFile& file);

// For /proc/self/maps: if `object` is a file's, copies the path it was first mapped through
// (as opened; NUL-terminated, truncated to `size`) into `path` and returns its length, and sets
// `ino`; else returns 0. Takes only the registry's lock: callable under the memory lock.
size_t file_object_name(const mm::MemoryObject* object, char* path, size_t size, uint64_t& ino);

// Called by the filesystem (through its PageProvider) before `file` frees its pages at
// offsets ≥ from_offset: unmaps them from every mapping (core::revoke_object_pages).
void revoke_file_mappings(const fs::Vnode& file, uint64_t from_offset);

} // namespace lx
