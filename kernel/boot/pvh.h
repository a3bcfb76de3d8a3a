// Parser for the PVH boot hand-off (struct hvm_start_info and the tables it points to),
// validating everything: the structure comes from the hypervisor and is treated as input.
// [xen-pvh] xen/include/public/arch-x86/hvm/start_info.h layout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <lib/string.h>

namespace boot {

// Reads guest-physical memory for the parser. Returns false when [paddr, paddr + size) is
// not readable (outside RAM the kernel can see yet): the parser then fails cleanly.
class PhysReader {
public:
    virtual bool read(uint64_t paddr, void* out, size_t size) const = 0;

protected:
    ~PhysReader() = default;
};

enum class MemoryType : uint32_t {
    Ram = 1,
    Reserved = 2,
    AcpiReclaimable = 3,
    AcpiNvs = 4,
    Unusable = 5,
    Disabled = 6,
    Persistent = 7,
};

struct MemoryRegion {
    uint64_t base;
    uint64_t size;
    MemoryType type;
};

struct Module {
    uint64_t paddr;
    uint64_t size;
};

struct BootInfo {
    static constexpr size_t kMaxRegions = 128;
    static constexpr size_t kMaxModules = 8;
    static constexpr size_t kMaxCmdline = 4096;

    MemoryRegion regions[kMaxRegions];
    size_t region_count = 0;
    Module modules[kMaxModules];
    size_t module_count = 0;
    char cmdline[kMaxCmdline]; // NUL-terminated copy
    size_t cmdline_length = 0;
    uint64_t rsdp_paddr = 0;
    uint64_t start_info_paddr = 0;

    lib::StringView command_line() const { return { cmdline, cmdline_length }; }
};

// Why parsing failed, for the boot error message.
enum class PvhError {
    None,
    Unreadable,        // start_info itself cannot be read
    BadMagic,          // not 0x336ec578
    NoMemoryMap,       // version 0 (no memory map), or zero entries
    TooManyRegions,    // more than BootInfo::kMaxRegions
    MemoryMapUnreadable,
    RegionOverflow,    // base + size wraps around
    TooManyModules,
    ModuleListUnreadable,
    CmdlineUnreadable,
    CmdlineTooLong,
};
const char* pvh_error_message(PvhError);

// Fills `info` from the start_info at `start_info_paddr`. Rejects anything malformed
// rather than trusting it.
PvhError parse_start_info(const PhysReader& reader, uint64_t start_info_paddr, BootInfo& info);

// A physical range [begin, end).
struct PhysRange {
    uint64_t begin;
    uint64_t end;
};

// Computes the RAM free for allocation: RAM regions, page-aligned inwards, minus the
// `reserved` ranges (kernel image, boot structures, modules, the first MiB), sorted and
// non-overlapping. Returns the number of ranges written (at most `capacity`; the rest is
// dropped and reported through `dropped`).
size_t compute_free_ranges(const BootInfo& info, const PhysRange* reserved, size_t reserved_count,
                           PhysRange* out, size_t capacity, size_t* dropped);

// The ranges the kernel direct-maps: RAM and ACPI regions, page-aligned outwards, clipped
// below `limit`, sorted and merged (the hypervisor's map may be unsorted or overlapping).
// Returns the number written to `out`, which must hold BootInfo::kMaxRegions entries.
size_t compute_mappable_ranges(const BootInfo& info, uint64_t limit, PhysRange* out);

} // namespace boot
