// Image: validation at open() and the in-place accessors.
#include <imagefs/crc32c.h>
#include <imagefs/image.h>
#include <lib/assert.h>
#include <lib/format.h>
#include <stdarg.h>

namespace imagefs {

namespace {

uint64_t align_up_page(uint64_t v) { return (v + kPageSize - 1) & ~(kPageSize - 1); }

// Byte-wise order of names: unsigned bytes, a prefix before the longer name. <0, 0, >0.
int compare_names(lib::StringView a, lib::StringView b)
{
    size_t common = a.size() < b.size() ? a.size() : b.size();
    int c = lib::mem_compare(a.data(), b.data(), common);
    if (c != 0)
        return c;
    if (a.size() == b.size())
        return 0;
    return a.size() < b.size() ? -1 : 1;
}

bool contains_byte(const char* p, uint64_t size, char byte)
{
    for (uint64_t i = 0; i < size; i++) {
        if (p[i] == byte)
            return true;
    }
    return false;
}

// A name made safe for a one-line message: control bytes become '?' and long names are cut.
struct PrintableName {
    char text[48];
};

PrintableName printable(lib::StringView name)
{
    PrintableName p;
    constexpr size_t kKeep = sizeof(p.text) - 4;
    size_t n = 0;
    for (; n < name.size() && n < kKeep; n++) {
        auto c = static_cast<unsigned char>(name[n]);
        p.text[n] = (c < 0x20 || c == 0x7f) ? '?' : char(c);
    }
    if (n < name.size()) {
        for (int i = 0; i < 3; i++)
            p.text[n++] = '.';
    }
    p.text[n] = '\0';
    return p;
}

const char* type_name(uint32_t mode)
{
    switch (mode & kModeTypeMask) {
    case kModeRegular:
        return "file";
    case kModeDirectory:
        return "directory";
    case kModeSymlink:
        return "symlink";
    default:
        return "inode";
    }
}

} // namespace

// The checks of open(), in an order where each step may rely on the ones before it: the
// header, then the table bounds, the checksum, each inode on its own, each directory's
// entries, and last the link chains, which tie entries and inodes together.
class Image::Validator {
public:
    Validator(const uint8_t* base, size_t size, ErrorReport* why) : m_base(base), m_size(size), m_why(why) {}

    Result<Image> run()
    {
        TRY(check_header());
        TRY(check_tables());
        TRY(check_inodes());
        TRY(check_directories());
        TRY(check_link_chains());
        return m_image;
    }

private:
    Result<void> check_header();
    Result<void> check_table(const char* what, uint64_t offset, uint64_t count, uint64_t record_size, uint64_t align,
                             uint64_t& min_offset);
    Result<void> check_tables();
    Result<void> check_inodes();
    Result<void> check_inode(Ino ino, const DiskInode& in, uint64_t& next_entry);
    Result<void> check_directories();
    Result<void> check_entry(Ino dir, uint32_t index, lib::StringView previous, uint32_t& subdirs);
    Result<void> check_link_chains();

    // Records the reason (when the caller wants it) and returns INVAL.
    Errno fail(const char* fmt, ...) __attribute__((format(printf, 2, 3)))
    {
        if (m_why) {
            va_list args;
            va_start(args, fmt);
            lib::vformat_to(m_why->message, sizeof(m_why->message), fmt, args);
            va_end(args);
        }
        return Errno::INVAL;
    }

    const uint8_t* m_base;
    size_t m_size;
    ErrorReport* m_why;
    DiskHeader m_header{};
    uint64_t m_metadata_size = 0;
    uint64_t m_data_start = 0;
    Image m_image;
};

Result<void> Image::Validator::check_header()
{
    if (m_base == nullptr || m_size < sizeof(DiskHeader))
        return fail("image is %zu bytes, smaller than the %zu-byte header", m_base ? m_size : 0, sizeof(DiskHeader));
    lib::mem_copy(&m_header, m_base, sizeof(m_header));
    const DiskHeader& h = m_header;
    if (lib::mem_compare(h.magic, kMagic, sizeof(kMagic)) != 0)
        return fail("header: bad magic (not a Nimbus root image)");
    if (h.version != kVersion)
        return fail("header: version %u, this reader understands version %u", h.version, kVersion);
    uint32_t crc = crc32c(m_base, __builtin_offsetof(DiskHeader, header_crc));
    if (crc != h.header_crc)
        return fail("header: checksum 0x%08x, expected 0x%08x (corrupt header)", crc, h.header_crc);
    if (h.flags != 0)
        return fail("header: unknown flags 0x%x", h.flags);
    if (h.image_size % kPageSize != 0)
        return fail("header: image size 0x%llx is not a multiple of 4096", (unsigned long long)h.image_size);
    if (h.image_size > m_size)
        return fail("header: image size 0x%llx but only 0x%zx bytes are present (truncated?)",
                    (unsigned long long)h.image_size, m_size);
    if (h.metadata_size < sizeof(DiskHeader) || h.metadata_size > h.image_size)
        return fail("header: metadata size 0x%llx outside [0x%zx, image size 0x%llx]",
                    (unsigned long long)h.metadata_size, sizeof(DiskHeader), (unsigned long long)h.image_size);
    m_metadata_size = h.metadata_size;
    m_data_start = align_up_page(m_metadata_size); // <= image_size: both bounds are page multiples
    return {};
}

// One table: starts at or after min_offset, aligned, and ends inside the metadata. On
// success min_offset becomes the table's end, where the next table may start.
Result<void> Image::Validator::check_table(const char* what, uint64_t offset, uint64_t count, uint64_t record_size,
                                           uint64_t align, uint64_t& min_offset)
{
    // count < 2^32 and record_size <= 56, so count * record_size cannot overflow.
    uint64_t bytes = count * record_size;
    if (offset % align != 0)
        return fail("%s: offset 0x%llx is not %llu-byte aligned", what, (unsigned long long)offset,
                    (unsigned long long)align);
    if (offset < min_offset || offset > m_metadata_size || bytes > m_metadata_size - offset)
        return fail("%s: 0x%llx+0x%llx is outside [0x%llx, metadata end 0x%llx)", what, (unsigned long long)offset,
                    (unsigned long long)bytes, (unsigned long long)min_offset, (unsigned long long)m_metadata_size);
    min_offset = offset + bytes;
    return {};
}

Result<void> Image::Validator::check_tables()
{
    const DiskHeader& h = m_header;
    uint64_t next = sizeof(DiskHeader);
    TRY(check_table("inode table", h.inode_offset, h.inode_count, sizeof(DiskInode), 8, next));
    TRY(check_table("entry table", h.entry_offset, h.entry_count, sizeof(DiskEntry), 4, next));
    TRY(check_table("string table", h.string_offset, h.string_size, 1, 1, next));

    uint32_t crc = crc32c(m_base + sizeof(DiskHeader), m_metadata_size - sizeof(DiskHeader));
    if (crc != h.metadata_crc)
        return fail("metadata: checksum 0x%08x, expected 0x%08x (corrupt tables)", crc, h.metadata_crc);

    if (h.inode_count < 2)
        return fail("inode table: %u slots, need at least 2 (reserved 0 and the root)", h.inode_count);
    if (h.entry_count == kNoEntry)
        return fail("entry table: %u entries, at most %u allowed", h.entry_count, kNoEntry - 1);

    m_image.m_base = m_base;
    m_image.m_image_size = h.image_size;
    m_image.m_inodes = reinterpret_cast<const DiskInode*>(m_base + h.inode_offset);
    m_image.m_inode_count = h.inode_count;
    m_image.m_entries = reinterpret_cast<const DiskEntry*>(m_base + h.entry_offset);
    m_image.m_entry_count = h.entry_count;
    m_image.m_strings = reinterpret_cast<const char*>(m_base + h.string_offset);
    m_image.m_string_size = h.string_size;
    return {};
}

Result<void> Image::Validator::check_inodes()
{
    const uint8_t* slot0 = reinterpret_cast<const uint8_t*>(&m_image.m_inodes[kReservedIno]);
    for (size_t i = 0; i < sizeof(DiskInode); i++) {
        if (slot0[i] != 0)
            return fail("inode 0: reserved slot is not all zero (byte %zu)", i);
    }

    const DiskInode& root = m_image.m_inodes[kRootIno];
    if ((root.mode & kModeTypeMask) != kModeDirectory)
        return fail("inode 1: the root is not a directory (mode 0%o)", root.mode);
    if (root.parent != kRootIno)
        return fail("inode 1: the root's parent is %u, must be itself", root.parent);
    if (root.first_link != kNoEntry)
        return fail("inode 1: the root is named by entry %u (the root has no name)", root.first_link);

    // Directories own consecutive runs of the entry table in ino order; next_entry is where
    // the next directory's run must begin.
    uint64_t next_entry = 0;
    for (Ino ino = kRootIno; ino < m_image.m_inode_count; ino++)
        TRY(check_inode(ino, m_image.m_inodes[ino], next_entry));
    if (next_entry != m_image.m_entry_count)
        return fail("entry table: entries %llu..%u belong to no directory", (unsigned long long)next_entry,
                    m_image.m_entry_count - 1);
    return {};
}

Result<void> Image::Validator::check_inode(Ino ino, const DiskInode& in, uint64_t& next_entry)
{
    uint32_t type = in.mode & kModeTypeMask;
    if ((type != kModeRegular && type != kModeDirectory && type != kModeSymlink) ||
        (in.mode & ~(kModeTypeMask | kModePermissionMask)) != 0)
        return fail("inode %u: mode 0%o is not a regular file, directory or symlink", ino, in.mode);
    if (in.mtime_nsec >= 1'000'000'000)
        return fail("inode %u: mtime nanoseconds %u out of range", ino, in.mtime_nsec);
    if (in.reserved != 0)
        return fail("inode %u: reserved field is 0x%x, must be 0", ino, in.reserved);
    if (type != kModeDirectory && in.parent != 0)
        return fail("inode %u: a %s with parent %u (only directories have one)", ino, type_name(in.mode), in.parent);
    if (type != kModeDirectory && in.nlink == 0)
        return fail("inode %u: %s with nlink 0", ino, type_name(in.mode));

    uint64_t offset = in.offset;
    uint64_t size = in.size;
    switch (type) {
    case kModeRegular:
        if (size == 0) {
            if (offset != 0)
                return fail("inode %u: empty file with data offset 0x%llx, must be 0", ino, (unsigned long long)offset);
            break;
        }
        if (offset % kPageSize != 0)
            return fail("inode %u: data offset 0x%llx is not page aligned", ino, (unsigned long long)offset);
        if (offset < m_data_start)
            return fail("inode %u: data offset 0x%llx inside the metadata (data starts at 0x%llx)", ino,
                        (unsigned long long)offset, (unsigned long long)m_data_start);
        if (offset > m_image.m_image_size || size > m_image.m_image_size - offset)
            return fail("inode %u: data range 0x%llx+0x%llx beyond the image end 0x%llx", ino,
                        (unsigned long long)offset, (unsigned long long)size,
                        (unsigned long long)m_image.m_image_size);
        break;
    case kModeDirectory:
        if (ino != kRootIno && (in.parent == kReservedIno || in.parent >= ino))
            // The precise rule (parent names this directory) is checked with the entries;
            // this early check gives the clearer message for an out-of-range parent.
            return fail("inode %u: directory's parent %u is not a smaller ino", ino, in.parent);
        if (offset != next_entry)
            return fail("inode %u: entries start at %llu, expected %llu (directories' entries must be "
                        "consecutive in ino order)", ino, (unsigned long long)offset, (unsigned long long)next_entry);
        if (size > m_image.m_entry_count - offset)
            return fail("inode %u: entries %llu+%llu beyond the entry table (%u entries)", ino,
                        (unsigned long long)offset, (unsigned long long)size, m_image.m_entry_count);
        next_entry = offset + size;
        break;
    case kModeSymlink:
        if (size == 0 || size > kMaxLinkTargetLength)
            return fail("inode %u: symlink target length %llu, must be 1..%zu", ino, (unsigned long long)size,
                        kMaxLinkTargetLength);
        if (offset > m_image.m_string_size || size > m_image.m_string_size - offset)
            return fail("inode %u: symlink target 0x%llx+0x%llx beyond the string table (0x%llx bytes)", ino,
                        (unsigned long long)offset, (unsigned long long)size,
                        (unsigned long long)m_image.m_string_size);
        if (contains_byte(m_image.m_strings + offset, size, '\0'))
            return fail("inode %u: symlink target contains a NUL byte", ino);
        break;
    }
    return {};
}

Result<void> Image::Validator::check_directories()
{
    for (Ino dir = kRootIno; dir < m_image.m_inode_count; dir++) {
        const DiskInode& d = m_image.m_inodes[dir];
        if ((d.mode & kModeTypeMask) != kModeDirectory)
            continue;
        uint32_t subdirs = 0;
        lib::StringView previous;
        for (uint32_t i = 0; i < d.size; i++) {
            TRY(check_entry(dir, i, previous, subdirs));
            previous = m_image.entry_name(m_image.m_entries[d.offset + i]);
        }
        if (d.nlink != 2 + uint64_t(subdirs))
            return fail("inode %u: directory nlink %u, expected %llu (2 + %u subdirectories)", dir, d.nlink,
                        2 + (unsigned long long)subdirs, subdirs);
    }
    return {};
}

// Entry `index` of directory `dir`; `previous` is the name before it (empty for the first).
Result<void> Image::Validator::check_entry(Ino dir, uint32_t index, lib::StringView previous, uint32_t& subdirs)
{
    const DiskInode& d = m_image.m_inodes[dir];
    uint64_t at = d.offset + index;
    const DiskEntry& e = m_image.m_entries[at];
    if (e.reserved != 0)
        return fail("directory %u, entry %llu: reserved field is 0x%x, must be 0", dir, (unsigned long long)at,
                    e.reserved);
    if (e.name_length == 0 || e.name_length > kMaxNameLength)
        return fail("directory %u, entry %llu: name length %u, must be 1..%zu", dir, (unsigned long long)at,
                    e.name_length, kMaxNameLength);
    if (e.name_offset > m_image.m_string_size || e.name_length > m_image.m_string_size - e.name_offset)
        return fail("directory %u, entry %llu: name 0x%x+0x%x beyond the string table (0x%llx bytes)", dir,
                    (unsigned long long)at, e.name_offset, e.name_length, (unsigned long long)m_image.m_string_size);
    lib::StringView name = m_image.entry_name(e);
    if (contains_byte(name.data(), name.size(), '/') || contains_byte(name.data(), name.size(), '\0'))
        return fail("directory %u, entry %llu: name contains '/' or NUL", dir, (unsigned long long)at);
    if (name == lib::StringView(".") || name == lib::StringView(".."))
        return fail("directory %u, entry %llu: \"%s\" is never stored", dir, (unsigned long long)at,
                    printable(name).text);
    if (index > 0 && compare_names(previous, name) >= 0)
        return fail("directory %u, entry %llu: \"%s\" is not after \"%s\" (entries must be sorted, names unique)",
                    dir, (unsigned long long)at, printable(name).text, printable(previous).text);

    if (e.ino == kReservedIno || e.ino == kRootIno || e.ino >= m_image.m_inode_count)
        return fail("directory %u, entry %llu \"%s\": names inode %u, not one of 2..%u", dir,
                    (unsigned long long)at, printable(name).text, e.ino, m_image.m_inode_count - 1);
    const DiskInode& child = m_image.m_inodes[e.ino];
    if ((child.mode & kModeTypeMask) == kModeDirectory) {
        // With "each directory is named once" (the link chains) this makes the directories a
        // tree: parents strictly decrease along any path, ending at the unnamed root.
        if (child.parent != dir || e.ino <= dir)
            return fail("directory %u, entry %llu \"%s\": subdirectory %u records parent %u (must be %u, with a "
                        "smaller ino)", dir, (unsigned long long)at, printable(name).text, e.ino,
                        child.parent, dir);
        subdirs++;
    }
    return {};
}

// Each non-root inode's chain must list exactly the entries naming it, so its length is the
// number of names: 1 for a directory, nlink for anything else. Chains only hold entries that
// name their inode and strictly increase, so they are disjoint and each walk ends; when
// their lengths add up to the entry count, every entry is on one, and no inode has a name
// its chain missed.
Result<void> Image::Validator::check_link_chains()
{
    uint64_t covered = 0;
    for (Ino ino = kRootIno + 1; ino < m_image.m_inode_count; ino++) {
        const DiskInode& in = m_image.m_inodes[ino];
        bool is_dir = (in.mode & kModeTypeMask) == kModeDirectory;
        uint64_t expected = is_dir ? 1 : in.nlink;
        uint64_t count = 0;
        uint32_t previous = 0;
        for (uint32_t k = in.first_link; k != kNoEntry; k = m_image.m_entries[k].next_link) {
            if (k >= m_image.m_entry_count)
                return fail("inode %u: link chain reaches entry %u beyond the table (%u entries)", ino, k,
                            m_image.m_entry_count);
            if (count > 0 && k <= previous)
                return fail("inode %u: link chain goes from entry %u back to %u (must increase)", ino, previous, k);
            if (m_image.m_entries[k].ino != ino)
                return fail("inode %u: link chain holds entry %u, which names inode %u", ino, k,
                            m_image.m_entries[k].ino);
            if (++count > expected)
                break;
            previous = k;
        }
        if (count != expected) {
            if (is_dir)
                return fail("inode %u: directory named by %s entries, must be exactly 1", ino,
                            count > expected ? "several" : "no");
            return fail("inode %u: nlink %u but its link chain has %s%llu entries", ino, in.nlink,
                        count > expected ? "more than " : "", (unsigned long long)(count > expected ? expected : count));
        }
        covered += count;
    }
    if (covered != m_image.m_entry_count)
        return fail("entry table: %u entries but the inodes' link chains hold %llu (an entry is missing from "
                    "its inode's chain, or a link count is too low)", m_image.m_entry_count,
                    (unsigned long long)covered);
    return {};
}

Result<Image> Image::open(const void* base, size_t size, ErrorReport* why)
{
    if (why)
        why->message[0] = '\0';
    return Validator(static_cast<const uint8_t*>(base), size, why).run();
}

const DiskInode& Image::disk_inode(Ino ino) const
{
    NIMBUS_ASSERT(is_valid_ino(ino));
    return m_inodes[ino];
}

const DiskInode& Image::disk_inode_of_type(Ino ino, uint32_t type) const
{
    const DiskInode& in = disk_inode(ino);
    NIMBUS_ASSERT((in.mode & kModeTypeMask) == type);
    return in;
}

lib::StringView Image::entry_name(const DiskEntry& e) const
{
    return {m_strings + e.name_offset, e.name_length};
}

InodeInfo Image::inode(Ino ino) const
{
    const DiskInode& in = disk_inode(ino);
    InodeInfo info;
    info.ino = ino;
    info.mode = in.mode;
    info.uid = in.uid;
    info.gid = in.gid;
    info.nlink = in.nlink;
    info.size = in.size;
    info.mtime_sec = in.mtime_sec;
    info.mtime_nsec = in.mtime_nsec;
    info.data_offset = info.is_regular() ? in.offset : 0;
    info.parent = in.parent;
    return info;
}

Result<Ino> Image::lookup(Ino dir, lib::StringView name) const
{
    const DiskInode& d = disk_inode(dir);
    if ((d.mode & kModeTypeMask) != kModeDirectory)
        return Errno::NOTDIR;
    // Binary search over [lo, hi) of the directory's sorted run.
    uint64_t lo = d.offset;
    uint64_t hi = d.offset + d.size;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        const DiskEntry& e = m_entries[mid];
        int c = compare_names(name, entry_name(e));
        if (c == 0)
            return Ino(e.ino);
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return Errno::NOENT;
}

uint32_t Image::entry_count(Ino dir) const
{
    return uint32_t(disk_inode_of_type(dir, kModeDirectory).size);
}

DirEntry Image::entry(Ino dir, uint32_t index) const
{
    const DiskInode& d = disk_inode_of_type(dir, kModeDirectory);
    NIMBUS_ASSERT(index < d.size);
    const DiskEntry& e = m_entries[d.offset + index];
    return {entry_name(e), e.ino};
}

Ino Image::parent(Ino dir) const
{
    return disk_inode_of_type(dir, kModeDirectory).parent;
}

lib::StringView Image::read_link(Ino ino) const
{
    const DiskInode& in = disk_inode_of_type(ino, kModeSymlink);
    return {m_strings + in.offset, size_t(in.size)};
}

FileData Image::file_data(Ino ino) const
{
    const DiskInode& in = disk_inode_of_type(ino, kModeRegular);
    return {m_base + in.offset, in.size};
}

uint64_t Image::data_offset(Ino ino) const
{
    return disk_inode_of_type(ino, kModeRegular).offset;
}

} // namespace imagefs
