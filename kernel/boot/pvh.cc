// PVH start_info parsing and free-memory computation.
#include <boot/pvh.h>

namespace boot {
namespace {

constexpr uint32_t kStartInfoMagic = 0x336ec578;

// [xen-pvh] struct hvm_start_info, version 1.
struct StartInfo {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr;
    uint32_t memmap_entries;
    uint32_t reserved;
};
static_assert(sizeof(StartInfo) == 56);
constexpr size_t kStartInfoV0Size = 40; // up to rsdp_paddr

struct ModlistEntry {
    uint64_t paddr;
    uint64_t size;
    uint64_t cmdline_paddr;
    uint64_t reserved;
};
static_assert(sizeof(ModlistEntry) == 32);

struct MemmapEntry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
    uint32_t reserved;
};
static_assert(sizeof(MemmapEntry) == 24);

constexpr uint64_t kPage = 4096;

// Inserts `range` into the sorted ranges[0, count), which has room for one more. Insertion
// sort: the lists are short (at most kMaxRegions entries).
void insert_sorted(PhysRange* ranges, size_t count, PhysRange range)
{
    size_t pos = count;
    while (pos > 0 && ranges[pos - 1].begin > range.begin) {
        ranges[pos] = ranges[pos - 1];
        --pos;
    }
    ranges[pos] = range;
}

// Merges overlapping and touching ranges of a sorted list in place; returns the new count.
size_t merge_sorted_ranges(PhysRange* ranges, size_t count)
{
    size_t merged = 0;
    for (size_t i = 0; i < count; ++i) {
        if (merged > 0 && ranges[i].begin <= ranges[merged - 1].end) {
            if (ranges[i].end > ranges[merged - 1].end)
                ranges[merged - 1].end = ranges[i].end;
        } else {
            ranges[merged++] = ranges[i];
        }
    }
    return merged;
}

} // namespace

const char* pvh_error_message(PvhError e)
{
    switch (e) {
    case PvhError::None:
        return "ok";
    case PvhError::Unreadable:
        return "PVH start_info is not readable";
    case PvhError::BadMagic:
        return "PVH start_info has a bad magic number";
    case PvhError::NoMemoryMap:
        return "PVH start_info carries no memory map (version 0 or no entries)";
    case PvhError::TooManyRegions:
        return "PVH memory map has too many entries";
    case PvhError::MemoryMapUnreadable:
        return "PVH memory map is not readable";
    case PvhError::RegionOverflow:
        return "PVH memory map entry wraps around the address space";
    case PvhError::TooManyModules:
        return "PVH start_info lists too many modules";
    case PvhError::ModuleListUnreadable:
        return "PVH module list is not readable";
    case PvhError::CmdlineUnreadable:
        return "kernel command line is not readable";
    case PvhError::CmdlineTooLong:
        return "kernel command line is too long";
    }
    return "unknown PVH error";
}

PvhError parse_start_info(const PhysReader& reader, uint64_t paddr, BootInfo& info)
{
    info.region_count = 0;
    info.module_count = 0;
    info.cmdline_length = 0;
    info.cmdline[0] = '\0';
    info.start_info_paddr = paddr;

    StartInfo si {};
    if (!reader.read(paddr, &si, kStartInfoV0Size))
        return PvhError::Unreadable;
    if (si.magic != kStartInfoMagic)
        return PvhError::BadMagic;
    if (si.version < 1 || !reader.read(paddr, &si, sizeof(si)))
        return PvhError::NoMemoryMap;
    if (si.memmap_entries == 0)
        return PvhError::NoMemoryMap;
    if (si.memmap_entries > BootInfo::kMaxRegions)
        return PvhError::TooManyRegions;
    for (uint32_t i = 0; i < si.memmap_entries; ++i) {
        MemmapEntry e;
        if (!reader.read(si.memmap_paddr + uint64_t(i) * sizeof(e), &e, sizeof(e)))
            return PvhError::MemoryMapUnreadable;
        if (e.size == 0)
            continue;
        if (e.addr + e.size < e.addr)
            return PvhError::RegionOverflow;
        info.regions[info.region_count++] = { e.addr, e.size, MemoryType(e.type) };
    }

    if (si.nr_modules > BootInfo::kMaxModules)
        return PvhError::TooManyModules;
    for (uint32_t i = 0; i < si.nr_modules; ++i) {
        ModlistEntry m;
        if (!reader.read(si.modlist_paddr + uint64_t(i) * sizeof(m), &m, sizeof(m)))
            return PvhError::ModuleListUnreadable;
        if (m.paddr + m.size < m.paddr)
            return PvhError::ModuleListUnreadable;
        info.modules[info.module_count++] = { m.paddr, m.size };
    }

    if (si.cmdline_paddr != 0) {
        // Read in small chunks up to the NUL: the string may end right before unreadable memory.
        size_t length = 0;
        for (;;) {
            char chunk[64];
            size_t want = sizeof(chunk);
            if (!reader.read(si.cmdline_paddr + length, chunk, want)) {
                want = 1;
                if (!reader.read(si.cmdline_paddr + length, chunk, 1))
                    return PvhError::CmdlineUnreadable;
            }
            size_t i = 0;
            for (; i < want && chunk[i] != '\0'; ++i) {
                if (length + i >= BootInfo::kMaxCmdline - 1)
                    return PvhError::CmdlineTooLong;
                info.cmdline[length + i] = chunk[i];
            }
            length += i;
            if (i < want)
                break;
        }
        info.cmdline[length] = '\0';
        info.cmdline_length = length;
    }
    info.rsdp_paddr = si.rsdp_paddr;
    return PvhError::None;
}

size_t compute_free_ranges(const BootInfo& info, const PhysRange* reserved, size_t reserved_count,
                           PhysRange* out, size_t capacity, size_t* dropped)
{
    size_t count = 0;
    size_t lost = 0;
    auto emit = [&](uint64_t begin, uint64_t end) {
        if (begin >= end)
            return;
        if (count == capacity) {
            ++lost;
            return;
        }
        insert_sorted(out, count++, { begin, end });
    };

    for (size_t r = 0; r < info.region_count; ++r) {
        const MemoryRegion& region = info.regions[r];
        if (region.type != MemoryType::Ram)
            continue;
        uint64_t begin = (region.base + kPage - 1) & ~(kPage - 1);
        uint64_t end = (region.base + region.size) & ~(kPage - 1);
        if (begin < region.base || begin >= end)
            continue; // rounding overflowed or less than a page
        // RAM regions may overlap reserved ones in a hostile map: carve out every non-RAM
        // region as well as the explicit reservations. Work on one piece at a time.
        struct Piece {
            uint64_t begin, end;
        };
        Piece pieces[64];
        size_t piece_count = 1;
        pieces[0] = { begin, end };
        auto carve = [&](uint64_t rb, uint64_t re) {
            rb &= ~(kPage - 1);
            re = (re + kPage - 1 < re) ? ~uint64_t(0) & ~(kPage - 1) : (re + kPage - 1) & ~(kPage - 1);
            for (size_t p = 0; p < piece_count;) {
                Piece cur = pieces[p];
                if (re <= cur.begin || rb >= cur.end) {
                    ++p;
                    continue;
                }
                // Remove the overlap; possibly split into two.
                bool left = rb > cur.begin, right = re < cur.end;
                if (left && right) {
                    if (piece_count == 64) {
                        ++lost; // cannot split further: drop the right part
                        pieces[p] = { cur.begin, rb };
                        ++p;
                        continue;
                    }
                    pieces[p] = { cur.begin, rb };
                    pieces[piece_count++] = { re, cur.end };
                    ++p;
                } else if (left) {
                    pieces[p++] = { cur.begin, rb };
                } else if (right) {
                    pieces[p++] = { re, cur.end };
                } else {
                    pieces[p] = pieces[--piece_count];
                }
            }
        };
        for (size_t i = 0; i < reserved_count; ++i)
            carve(reserved[i].begin, reserved[i].end);
        for (size_t o = 0; o < info.region_count; ++o) {
            const MemoryRegion& other = info.regions[o];
            if (other.type != MemoryType::Ram)
                carve(other.base, other.base + other.size);
        }
        for (size_t p = 0; p < piece_count; ++p)
            emit(pieces[p].begin, pieces[p].end);
    }

    // Overlapping RAM entries: merge so no page is handed out twice.
    size_t merged = merge_sorted_ranges(out, count);
    if (dropped)
        *dropped = lost;
    return merged;
}

size_t compute_mappable_ranges(const BootInfo& info, uint64_t limit, PhysRange* out)
{
    size_t count = 0;
    for (size_t i = 0; i < info.region_count && i < BootInfo::kMaxRegions; ++i) {
        const MemoryRegion& r = info.regions[i];
        bool mappable = r.type == MemoryType::Ram || r.type == MemoryType::AcpiReclaimable ||
                        r.type == MemoryType::AcpiNvs;
        if (!mappable || r.base >= limit || r.size == 0)
            continue;
        uint64_t end = r.size > limit - r.base ? limit : r.base + r.size;
        uint64_t aligned_end = (end + kPage - 1) & ~(kPage - 1);
        if (aligned_end < end)
            aligned_end = ~uint64_t(0) & ~(kPage - 1);
        PhysRange run { r.base & ~(kPage - 1), aligned_end };
        insert_sorted(out, count++, run);
    }
    return merge_sorted_ranges(out, count);
}

} // namespace boot
