// Image: the kernel's reader of a root image (format.h), working in place on the bytes the
// boot loader left in memory.
//
// Design
//  * open() validates everything the accessors rely on, once: the header and both
//    checksums, every table, offset and length (with overflow-safe arithmetic), every name,
//    the directory tree (no cycles, every directory named exactly once, parents consistent)
//    and every link count. It reads only the metadata, never file data, and it neither
//    allocates nor writes: O(inodes + entries + name and link-target bytes) with a constant
//    amount of state, so the kernel can mount before it has a heap.
//  * After open() succeeds, no accessor can fail or misbehave because of the image's
//    contents. They fail only for caller mistakes: an ino that is not from this image, or an
//    operation on the wrong type of inode, which are kernel bugs and assert. Lookups of names
//    that are not there are ordinary errors (NOENT, NOTDIR).
//  * Accessors are O(1) except lookup(), a binary search over the directory's sorted
//    entries. Nothing allocates; names and link targets are views into the image.
//  * The image must stay mapped and unchanged while an Image refers to it. An Image is a
//    small value (a few pointers): copy it freely.
//
// Concurrency: immutable after open(), so any number of threads may read it concurrently
// without locks. Nothing here blocks.
#pragma once

#include <imagefs/format.h>
#include <lib/result.h>
#include <lib/string.h>
#include <stddef.h>
#include <stdint.h>

namespace imagefs {

using Ino = uint32_t;

// Why open() rejected an image: one line, NUL-terminated, naming the broken structure and
// where it is ("inode 17: data range 0x5000+0x2000 beyond the image end 0x6000").
struct ErrorReport {
    static constexpr size_t kCapacity = 256;
    char message[kCapacity] = {};
};

// The attributes of one inode, copied out of the image.
struct InodeInfo {
    Ino ino = 0;
    uint32_t mode = 0;        // Linux S_IF* type | permission bits
    uint32_t uid = 0;
    uint32_t gid = 0;
    uint32_t nlink = 0;       // directories: 2 + subdirectories
    uint64_t size = 0;        // file length, link-target length, or a directory's entry count
    int64_t mtime_sec = 0;
    uint32_t mtime_nsec = 0;
    uint64_t data_offset = 0; // regular files: page-aligned image offset of the data (0 if empty)
    Ino parent = 0;           // directories: the containing directory (the root's is itself)

    uint32_t type() const { return mode & kModeTypeMask; }
    uint32_t permissions() const { return mode & kModePermissionMask; }
    bool is_directory() const { return type() == kModeDirectory; }
    bool is_regular() const { return type() == kModeRegular; }
    bool is_symlink() const { return type() == kModeSymlink; }
};

// One directory entry: a name (a view into the image, 1..255 bytes, not NUL-terminated)
// and the inode it names.
struct DirEntry {
    lib::StringView name;
    Ino ino = 0;
};

// A regular file's bytes, in place in the image.
struct FileData {
    const uint8_t* data = nullptr;
    uint64_t size = 0;
};

class Image {
public:
    // Validates the image of `size` bytes at `base` and returns a reader for it. `size` may
    // exceed the image (a boot loader may pad the module); the bytes after the header's
    // image_size are ignored. `base` needs no particular alignment, but the kernel can only
    // map file pages directly when it is page aligned. On any defect returns INVAL and, if
    // `why` is not null, says what and where.
    static lib::Result<Image> open(const void* base, size_t size, ErrorReport* why);

    const uint8_t* base() const { return m_base; }
    uint64_t image_size() const { return m_image_size; }
    // Inode table slots, including the reserved slot 0: valid inos are 1..inode_count()-1.
    uint32_t inode_count() const { return m_inode_count; }
    uint32_t total_entry_count() const { return m_entry_count; }
    bool is_valid_ino(Ino ino) const { return ino != kReservedIno && ino < m_inode_count; }

    Ino root() const { return kRootIno; }

    // The inode's attributes. Precondition: is_valid_ino(ino).
    InodeInfo inode(Ino ino) const;

    // The entry named `name` in directory `dir`: NOTDIR if `dir` is not a directory, NOENT
    // if no entry has that name (including "", "." and "..", which are never stored).
    // O(log entries). Precondition: is_valid_ino(dir).
    lib::Result<Ino> lookup(Ino dir, lib::StringView name) const;

    // Directory iteration in name order; an index is a stable readdir position.
    // Preconditions: `dir` is a valid directory ino; index < entry_count(dir).
    uint32_t entry_count(Ino dir) const;
    DirEntry entry(Ino dir, uint32_t index) const;
    // The directory containing `dir` (the root's parent is the root), for "..".
    Ino parent(Ino dir) const;

    // A symlink's target, 1..4095 bytes without NUL, not NUL-terminated.
    // Precondition: `ino` is a valid symlink ino.
    lib::StringView read_link(Ino ino) const;

    // A regular file's contents in place, and the page-aligned offset of its first byte in
    // the image (so file offset x lives at image offset data_offset(ino) + x; 0 for an
    // empty file). Precondition: `ino` is a valid regular-file ino.
    FileData file_data(Ino ino) const;
    uint64_t data_offset(Ino ino) const;

private:
    class Validator;

    Image() = default;
    const DiskInode& disk_inode(Ino ino) const;
    const DiskInode& disk_inode_of_type(Ino ino, uint32_t type) const;
    lib::StringView entry_name(const DiskEntry& e) const;

    const uint8_t* m_base = nullptr;
    uint64_t m_image_size = 0;
    const DiskInode* m_inodes = nullptr;
    uint32_t m_inode_count = 0;
    const DiskEntry* m_entries = nullptr;
    uint32_t m_entry_count = 0;
    const char* m_strings = nullptr;
    uint64_t m_string_size = 0;
};

} // namespace imagefs
