// The on-disk layout of a Nimbus root image ("imagefs", version 1): a read-only file tree
// that the kernel reads in place and whose regular files it can map page by page.
//
// Layout (all integers little-endian; offsets are from the start of the image):
//
//   0                DiskHeader (80 bytes)
//   inode_offset     DiskInode[inode_count]     8-byte aligned; ino = index
//   entry_offset     DiskEntry[entry_count]     4-byte aligned, after the inode table
//   string_offset    string bytes               after the entry table, no terminators
//   ...              (zero padding up to the next 4096-byte boundary)
//   data_start       file data                  each regular file starts on a page boundary
//   image_size       end (a multiple of 4096)
//
// Bytes [0, metadata_size) are the metadata: the header and the three tables (gaps between
// the tables are allowed and covered by the checksum). data_start = metadata_size rounded up
// to 4096. Everything the kernel reads at mount time lies in the metadata; it never reads a
// file's data to validate the image, so mounting costs O(metadata), not O(image).
//
// Checksums are CRC32C (crc32c.h): header_crc covers the header bytes before the header_crc
// field; metadata_crc covers [sizeof(DiskHeader), metadata_size), i.e. the tables and
// strings. File data is not checksummed.
//
// Inodes. Slot 0 is reserved and all zero, so that no entry ever reports inode number 0
// (glibc's readdir skips d_ino == 0). The root directory is ino 1 (kRootIno). `mode` is a
// Linux mode: one of S_IFREG, S_IFDIR, S_IFLNK plus permission bits 07777. The meaning of
// `offset` and `size` depends on the type:
//   regular file  offset = image offset of the data (page aligned, >= data_start; 0 when
//                 size is 0), size = file length; the data lies inside the image. The writer
//                 zero-fills the rest of the last page (the reader does not check data).
//   directory     offset = index of its first DiskEntry, size = number of entries.
//                 parent = ino of the directory containing it (the root's is itself).
//                 nlink = 2 + number of subdirectories, as on Linux.
//   symlink       offset = string-table offset of the target, size = its length (1..4095,
//                 no NUL byte).
// `parent` is 0 for non-directories. `first_link` starts the inode's link chain (below).
//
// Directory entries. "." and ".." are not stored (the VFS synthesises them from the inode
// and its parent). Each directory's entries are contiguous and sorted by name bytes
// (unsigned, a shorter name before any longer name it prefixes), so lookup is a binary
// search and names are unique. The directories' entry ranges appear in the table in
// increasing ino order with no gaps, so every entry belongs to exactly one directory. A name
// is 1..255 bytes from the string table, contains neither '/' nor NUL, and is not "." or
// "..". An entry names inode `ino` (never 0 or the root). An entry naming a directory D sits
// in directory D.parent, and D's ino is greater than its parent's: following parents always
// descends in ino, so the tree has no cycles and reaches the root.
//
// Link chains (hard links). Every inode but the root lists the entries that name it:
// first_link is the index of the first, each entry's next_link the next one, kNoEntry ends
// the chain; indices strictly increase along a chain. A directory's chain has exactly one
// entry, a file's or symlink's exactly nlink entries, and together the chains cover every
// entry once. This lets the reader check link counts and "every directory is named exactly
// once" in one pass without allocating a counter per inode.
//
// docs/image-format.md describes the format for newcomers, byte by byte.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace imagefs {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "imagefs structs are read in place as little-endian");

constexpr char kMagic[8] = {'N', 'I', 'M', 'B', 'U', 'S', 'F', 'S'};
constexpr uint32_t kVersion = 1;

constexpr uint64_t kPageSize = 4096;
constexpr uint32_t kReservedIno = 0;
constexpr uint32_t kRootIno = 1;
constexpr uint32_t kNoEntry = 0xffff'ffff; // end of a link chain; never a valid entry index
constexpr size_t kMaxNameLength = 255;
constexpr size_t kMaxLinkTargetLength = 4095;

// Linux mode bits (stat(2) S_IF*), as stored in DiskInode::mode.
constexpr uint32_t kModeTypeMask = 0170000;
constexpr uint32_t kModeRegular = 0100000;
constexpr uint32_t kModeDirectory = 0040000;
constexpr uint32_t kModeSymlink = 0120000;
constexpr uint32_t kModePermissionMask = 07777;

// Offset 0 of the image.
struct [[gnu::packed]] DiskHeader {
    char magic[8];                // kMagic
    uint32_t version;             // kVersion
    uint32_t flags;               // 0: no optional features are defined
    uint64_t image_size;          // bytes in the image, a multiple of kPageSize
    uint64_t metadata_size;       // [0, metadata_size) is header + tables + strings
    uint64_t inode_offset;        // DiskInode[inode_count], 8-byte aligned
    uint64_t entry_offset;        // DiskEntry[entry_count], 4-byte aligned
    uint64_t string_offset;       // string bytes
    uint64_t string_size;
    uint32_t inode_count;         // table slots including reserved slot 0 (so >= 2)
    uint32_t entry_count;
    uint32_t metadata_crc;        // CRC32C of [sizeof(DiskHeader), metadata_size)
    uint32_t header_crc;          // CRC32C of [0, offsetof(DiskHeader, header_crc))
};
static_assert(sizeof(DiskHeader) == 80);
static_assert(__builtin_offsetof(DiskHeader, image_size) == 16);
static_assert(__builtin_offsetof(DiskHeader, inode_count) == 64);
static_assert(__builtin_offsetof(DiskHeader, header_crc) == 76);

struct [[gnu::packed]] DiskInode {
    uint32_t mode;                // S_IFREG/S_IFDIR/S_IFLNK | permissions
    uint32_t nlink;
    uint32_t uid;
    uint32_t gid;
    int64_t mtime_sec;
    uint32_t mtime_nsec;          // < 1'000'000'000
    uint32_t parent;              // directories: containing directory's ino; others: 0
    uint64_t offset;              // data offset / first entry index / target string offset
    uint64_t size;                // file length / entry count / target length
    uint32_t first_link;          // first entry naming this inode, or kNoEntry
    uint32_t reserved;            // 0
};
static_assert(sizeof(DiskInode) == 56);
static_assert(__builtin_offsetof(DiskInode, mtime_sec) == 16);
static_assert(__builtin_offsetof(DiskInode, offset) == 32);
static_assert(__builtin_offsetof(DiskInode, first_link) == 48);

struct [[gnu::packed]] DiskEntry {
    uint32_t name_offset;         // into the string table
    uint16_t name_length;         // 1..kMaxNameLength
    uint16_t reserved;            // 0
    uint32_t ino;                 // the inode this entry names
    uint32_t next_link;           // next entry naming the same inode, or kNoEntry
};
static_assert(sizeof(DiskEntry) == 16);
static_assert(__builtin_offsetof(DiskEntry, ino) == 8);

} // namespace imagefs
