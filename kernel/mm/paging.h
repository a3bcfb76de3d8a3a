// x86-64 4-level paging vocabulary: entry bits, table indices and canonical-address checks,
// plus the portable Protection / PageSize / CacheMode types the rest of mm speaks.
//
// Everything here is constexpr and header-only so that boot code, the page-table manager and
// host tests share one definition. Names are chosen not to collide with mm/types.h (which owns
// kPageSize, align_up & co.): page sizes are spelled kSize4K/kSize2M/kSize1G and the hardware
// constants live in namespace mm::x86.
//
// Levels are numbered by how many tables remain below: 3 = PML4, 2 = PDPT, 1 = PD, 0 = PT.
// A leaf at level 2 maps 1 GiB, at level 1 2 MiB, at level 0 4 KiB — PageSize's values are
// exactly those level numbers.
#pragma once

#include <stdint.h>

namespace mm {

inline constexpr uint64_t kSize4K = uint64_t(1) << 12;
inline constexpr uint64_t kSize2M = uint64_t(1) << 21;
inline constexpr uint64_t kSize1G = uint64_t(1) << 30;

// Access rights of a mapping, in the portable mmap sense. x86 cannot express write-only or
// exec-only pages: a present page is always readable, so the page-table manager reports any
// non-None protection with Read added (see PageTable::lookup).
enum class Protection : uint8_t {
    None = 0,
    Read = 1,
    Write = 2,
    Exec = 4,
    ReadWrite = Read | Write,
    ReadExec = Read | Exec,
    ReadWriteExec = Read | Write | Exec,
};

constexpr Protection operator|(Protection a, Protection b) { return Protection(uint8_t(a) | uint8_t(b)); }
constexpr Protection operator&(Protection a, Protection b) { return Protection(uint8_t(a) & uint8_t(b)); }
constexpr Protection operator~(Protection a) { return Protection(~uint8_t(a) & 7); }
// True if every right in `wanted` is in `set`.
constexpr bool has_all(Protection set, Protection wanted) { return (set & wanted) == wanted; }
// True if only the three defined bits are used.
constexpr bool is_valid(Protection p) { return (uint8_t(p) & ~7) == 0; }

// Sizes of a leaf mapping; the value is the paging level that holds such a leaf.
enum class PageSize : uint8_t { Size4K = 0, Size2M = 1, Size1G = 2 };

constexpr uint64_t page_size_bytes(PageSize s) { return uint64_t(1) << (12 + 9 * unsigned(s)); }

// Memory type of a mapping, via PWT/PCD with the power-on PAT (entries 0..3 are WB, WT, UC-,
// UC; [intel-sdm-3a §11.12.4]). Nimbus never sets the PAT bit, so only these three exist.
enum class CacheMode : uint8_t { WriteBack, WriteThrough, Uncached };

namespace x86 {

// A set of paging-entry flag bits; a strong type so that raw addresses and flag sets cannot
// be confused. Raw entries themselves stay plain uint64_t (they are what the MMU reads).
class PteFlags {
public:
    constexpr PteFlags() = default;
    constexpr explicit PteFlags(uint64_t bits) : m_bits(bits) {}
    constexpr uint64_t bits() const { return m_bits; }
    constexpr PteFlags operator|(PteFlags o) const { return PteFlags(m_bits | o.m_bits); }
    constexpr PteFlags operator&(PteFlags o) const { return PteFlags(m_bits & o.m_bits); }
    constexpr PteFlags operator~() const { return PteFlags(~m_bits); }
    constexpr bool operator==(const PteFlags&) const = default;

private:
    uint64_t m_bits = 0;
};

// Entry bits common to PML4E, PDPTE, PDE and PTE [intel-sdm-3a §4.5, Tables 4-15 to 4-20].
inline constexpr PteFlags kPtePresent{uint64_t(1) << 0};  // P: entry is valid
inline constexpr PteFlags kPteWritable{uint64_t(1) << 1}; // R/W: writes allowed
inline constexpr PteFlags kPteUser{uint64_t(1) << 2};     // U/S: user-mode access allowed
inline constexpr PteFlags kPteWriteThrough{uint64_t(1) << 3}; // PWT: PAT index bit 0
inline constexpr PteFlags kPteCacheDisable{uint64_t(1) << 4}; // PCD: PAT index bit 1
inline constexpr PteFlags kPteAccessed{uint64_t(1) << 5};  // A: set by the CPU on access
inline constexpr PteFlags kPteDirty{uint64_t(1) << 6};     // D: set by the CPU on write (leaves)
// PS in a PDPTE/PDE: the entry maps a 1 GiB/2 MiB page instead of pointing to a table. In a
// PTE the same bit is PAT; Nimbus never sets it there.
inline constexpr PteFlags kPteHuge{uint64_t(1) << 7};
inline constexpr PteFlags kPtePat4K{uint64_t(1) << 7};     // PAT in a 4 KiB PTE
inline constexpr PteFlags kPteGlobal{uint64_t(1) << 8};    // G: survives CR3 reloads (leaves)
inline constexpr PteFlags kPtePatHuge{uint64_t(1) << 12};  // PAT in a 2 MiB/1 GiB leaf
inline constexpr PteFlags kPteNoExecute{uint64_t(1) << 63}; // XD: instruction fetch faults

// Nimbus software bit. When P is clear the CPU ignores bits 63:1 of any entry [intel-sdm-3a
// §4.5, "Ignored" in the tables], so a non-present entry with this bit set records a mapping
// that exists but grants no access (mprotect(PROT_NONE)): it keeps the frame, PS and the
// other attribute bits so that a later protect() can make it present again unchanged.
inline constexpr PteFlags kPteSwNoAccess{uint64_t(1) << 9};

// Physical-address fields (MAXPHYADDR is at most 52 [intel-sdm-3a §4.1.4]).
inline constexpr uint64_t kPteAddrMask4K = 0x000f'ffff'ffff'f000; // PTE, or a table pointer
inline constexpr uint64_t kPteAddrMask2M = 0x000f'ffff'ffe0'0000; // PDE with PS=1
inline constexpr uint64_t kPteAddrMask1G = 0x000f'ffff'c000'0000; // PDPTE with PS=1
inline constexpr uint64_t kPhysAddrLimit = uint64_t(1) << 52;

inline constexpr unsigned kEntriesPerTable = 512;
inline constexpr int kRootLevel = 3; // PML4

constexpr bool pte_has(uint64_t entry, PteFlags f) { return (entry & f.bits()) == f.bits(); }

// Bits of a linear address translated by one entry at `level` (4 KiB at level 0 ... 512 GiB
// at level 3).
constexpr unsigned level_shift(int level) { return 12 + 9 * unsigned(level); }
constexpr uint64_t level_span(int level) { return uint64_t(1) << level_shift(level); }

// Index of the entry for `va` in the table at `level` [intel-sdm-3a §4.5, Figure 4-8].
constexpr unsigned table_index(uint64_t va, int level) { return unsigned(va >> level_shift(level)) & 511; }
constexpr unsigned pml4_index(uint64_t va) { return table_index(va, 3); }
constexpr unsigned pdpt_index(uint64_t va) { return table_index(va, 2); }
constexpr unsigned pd_index(uint64_t va) { return table_index(va, 1); }
constexpr unsigned pt_index(uint64_t va) { return table_index(va, 0); }

// Physical-address mask of a leaf at `level`.
constexpr uint64_t leaf_addr_mask(int level)
{
    return level == 0 ? kPteAddrMask4K : level == 1 ? kPteAddrMask2M : kPteAddrMask1G;
}

// 48-bit linear addresses [intel-sdm-3a §3.3.7.1]: bits 63:47 must all be equal. The lower
// half [0, 2^47) is the application's, the upper half [2^64 - 2^47, 2^64) the kernel's.
inline constexpr unsigned kVirtualAddressBits = 48;
inline constexpr uint64_t kLowerHalfEnd = 0x0000'8000'0000'0000;
inline constexpr uint64_t kUpperHalfStart = 0xffff'8000'0000'0000;

constexpr bool is_canonical(uint64_t va) { return va < kLowerHalfEnd || va >= kUpperHalfStart; }
constexpr bool is_lower_half(uint64_t va) { return va < kLowerHalfEnd; }
// Sign-extends bit 47: turns a 48-bit linear address into its canonical form.
constexpr uint64_t make_canonical(uint64_t va48)
{
    return (va48 & (uint64_t(1) << 47)) ? (va48 | ~((uint64_t(1) << 48) - 1)) : (va48 & ((uint64_t(1) << 48) - 1));
}

} // namespace x86
} // namespace mm
