// CPU discovery: the MADT's interrupt-controller entries, or the MP floating pointer search
// and the MP configuration table, into one CpuTopology.
#include <boot/cpus.h>

#include <new>

namespace boot {
namespace {

constexpr size_t kChunk = 512; // bytes per PhysReader call when checksumming

// [acpi-6.5 §5.2.12] MADT: the standard 36-byte header, then the Local Interrupt
// Controller Address and the Flags, then the interrupt controller structures.
constexpr uint32_t kMadtLapicOffset = 36;
constexpr uint32_t kMadtFlagsOffset = 40;
constexpr uint32_t kMadtEntriesOffset = 44;
constexpr uint32_t kMadtPcatCompat = 1u << 0;
// Bounds the work: 1024 CPUs as x2APIC entries plus one NMI entry each take ~28 KiB.
constexpr uint32_t kMaxMadtLength = 256u << 10;

// [acpi-6.5 §5.2.12] Interrupt controller structure types used here, with the
// fixed size of each (an entry may be longer — later revisions append fields — never shorter).
enum MadtType : uint8_t {
    kMadtLocalApic = 0,          // §5.2.12.2, 8 bytes
    kMadtIoApic = 1,             // §5.2.12.3, 12 bytes
    kMadtSourceOverride = 2,     // §5.2.12.5, 10 bytes
    kMadtLocalApicNmi = 4,       // §5.2.12.7, 6 bytes
    kMadtLapicAddressOverride = 5, // §5.2.12.8, 12 bytes
    kMadtLocalX2Apic = 9,        // §5.2.12.12, 16 bytes
    kMadtLocalX2ApicNmi = 10,    // §5.2.12.13, 12 bytes
};
// [acpi-6.5 §5.2.12.2] Local APIC flags (the x2APIC structure uses the same).
constexpr uint32_t kLapicEnabled = 1u << 0;
constexpr uint32_t kLapicOnlineCapable = 1u << 1; // meaningful only when Enabled is 0

// [mp-1.4 §4.1 Table 4-1] MP floating pointer structure.
constexpr size_t kMpFloatingSize = 16;
constexpr size_t kMpFloatingTableOffset = 4;   // PHYSICAL ADDRESS POINTER
constexpr size_t kMpFloatingLengthOffset = 8;  // in 16-byte paragraphs: 1
constexpr size_t kMpFloatingRevOffset = 9;     // 1 (MP 1.1) or 4 (MP 1.4)
constexpr size_t kMpFloatingFeature1 = 11;     // 0: a configuration table exists; else a default
constexpr uint8_t kMpMaxDefaultConfig = 7;     // [mp-1.4 §5 Table 5-1] default configurations 1-7

// [mp-1.4 §4 and Figure 4-1] Where the floating pointer may be; BIOS data area words.
constexpr uint64_t kBdaEbdaSegment = 0x40e;
constexpr uint64_t kBdaBaseMemoryKib = 0x413;
constexpr uint64_t kBiosRomBase = 0xf0000;
constexpr uint64_t kBiosRomSize = 0x10000;
constexpr uint64_t kSearchKib = 1024;
constexpr uint16_t kDefaultBaseMemoryKib = 640;

// [mp-1.4 §4.2 Table 4-2] MP configuration table header.
constexpr size_t kMpcHeaderSize = 44;
constexpr size_t kMpcLengthOffset = 4;          // BASE TABLE LENGTH, header included
constexpr size_t kMpcLapicOffset = 36;
// [mp-1.4 §4.3 Table 4-3] Base table entry types and their fixed sizes.
enum MpEntryType : uint8_t {
    kMpProcessor = 0,     // 20 bytes, §4.3.1
    kMpBus = 1,           // 8 bytes, §4.3.2
    kMpIoApic = 2,        // 8 bytes, §4.3.3
    kMpIoInterrupt = 3,   // 8 bytes, §4.3.4
    kMpLocalInterrupt = 4, // 8 bytes, §4.3.5
};
constexpr size_t kMpProcessorSize = 20;
constexpr size_t kMpOtherEntrySize = 8;
constexpr uint8_t kMpCpuEnabled = 1u << 0;      // [mp-1.4 Table 4-5] CPU FLAGS: EN
constexpr uint8_t kMpCpuBootstrap = 1u << 1;    // BP
constexpr uint8_t kMpIoApicEnabled = 1u << 0;   // [mp-1.4 Table 4-7] I/O APIC FLAGS: EN
// [mp-1.4 §5.1] Default configurations: the I/O APIC is at the architectural address.
constexpr uint32_t kDefaultIoApicAddress = 0xfec00000;

uint16_t load16(const uint8_t* p) { return uint16_t(p[0] | p[1] << 8); }
uint32_t load32(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }
uint64_t load64(const uint8_t* p) { return uint64_t(load32(p)) | uint64_t(load32(p + 4)) << 32; }

bool signature_is(const uint8_t* p, const char* sig)
{
    for (int i = 0; i < 4; ++i)
        if (p[i] != uint8_t(sig[i]))
            return false;
    return true;
}

uint8_t sum_bytes(const uint8_t* p, size_t n, uint8_t sum = 0)
{
    for (size_t i = 0; i < n; ++i)
        sum = uint8_t(sum + p[i]);
    return sum;
}

// Sums [paddr, paddr + length) in chunks; false if any of it is unreadable.
bool sum_range(const PhysReader& reader, uint64_t paddr, uint64_t length, uint8_t& sum)
{
    uint8_t chunk[kChunk];
    sum = 0;
    for (uint64_t off = 0; off < length;) {
        size_t n = length - off < kChunk ? size_t(length - off) : kChunk;
        if (!reader.read(paddr + off, chunk, n))
            return false;
        sum = sum_bytes(chunk, n, sum);
        off += n;
    }
    return true;
}

// Constructs a fresh topology in place (it is ~17 KiB: no temporary on a boot stack).
void reset(CpuTopology& t) { new (&t) CpuTopology; }

// Records one processor. Entries that repeat an APIC id are counted, not added: firmware
// may list a CPU both as xAPIC and x2APIC, and two CPUs with one id cannot both be started.
void add_cpu(CpuTopology& t, uint32_t apic_id, uint32_t acpi_uid, bool enabled, bool bootstrap)
{
    if (t.find(apic_id)) {
        ++t.cpus_duplicate;
        return;
    }
    if (t.count == CpuTopology::kMaxCpus) {
        ++t.cpus_dropped;
        return;
    }
    CpuEntry& e = t.cpus[t.count++];
    e.apic_id = apic_id;
    e.acpi_uid = acpi_uid;
    e.enabled = enabled;
    e.is_bootstrap = bootstrap;
}

void add_ioapic(CpuTopology& t, uint8_t id, uint32_t address, uint32_t gsi_base)
{
    if (t.ioapic_count == CpuTopology::kMaxIoApics) {
        ++t.entries_dropped;
        return;
    }
    t.ioapics[t.ioapic_count++] = { id, address, gsi_base };
}

bool has_bootstrap(const CpuTopology& t)
{
    for (size_t i = 0; i < t.count; ++i)
        if (t.cpus[i].is_bootstrap)
            return true;
    return false;
}

// A processor-local APIC or x2APIC entry [acpi-6.5 §5.2.12.2, §5.2.12.12].
void madt_processor(CpuTopology& t, uint32_t apic_id, uint32_t uid, uint32_t flags, uint32_t invalid_id)
{
    bool enabled = (flags & kLapicEnabled) != 0;
    // An id of all ones is the broadcast address, not a CPU (Linux ignores it too).
    if (apic_id == invalid_id || !(enabled || (flags & kLapicOnlineCapable))) {
        ++t.cpus_unusable;
        return;
    }
    // [acpi-6.5 §5.2.12.1] Firmware lists the boot processor first.
    add_cpu(t, apic_id, uid, enabled, enabled && !has_bootstrap(t));
}

// Decodes one validated MADT entry (e[0..len), len >= 2). False if it is shorter than its
// type's fixed size.
bool madt_entry(CpuTopology& t, const uint8_t* e, size_t len, bool& lapic_overridden)
{
    switch (e[0]) {
    case kMadtLocalApic:
        if (len < 8)
            return false;
        madt_processor(t, e[3], e[2], load32(e + 4), 0xff);
        return true;
    case kMadtLocalX2Apic:
        if (len < 16)
            return false;
        madt_processor(t, load32(e + 4), load32(e + 12), load32(e + 8), ~uint32_t(0));
        return true;
    case kMadtIoApic:
        if (len < 12)
            return false;
        add_ioapic(t, e[2], load32(e + 4), load32(e + 8));
        return true;
    case kMadtSourceOverride:
        if (len < 10)
            return false;
        if (t.override_count == CpuTopology::kMaxOverrides) {
            ++t.entries_dropped;
            return true;
        }
        t.overrides[t.override_count++] = { e[2], e[3], load32(e + 4), load16(e + 8) };
        return true;
    case kMadtLocalApicNmi:
    case kMadtLocalX2ApicNmi: {
        bool x2 = e[0] == kMadtLocalX2ApicNmi;
        if (len < (x2 ? 12u : 6u))
            return false;
        LocalNmi nmi;
        if (x2) {
            nmi = { load32(e + 4), load16(e + 2), e[8] };
        } else {
            nmi = { e[2] == 0xff ? LocalNmi::kAllProcessors : e[2], load16(e + 3), e[5] };
        }
        if (t.nmi_count == CpuTopology::kMaxNmis)
            ++t.entries_dropped;
        else
            t.nmis[t.nmi_count++] = nmi;
        return true;
    }
    case kMadtLapicAddressOverride:
        if (len < 12)
            return false;
        // [acpi-6.5 §5.2.12.8] At most one; its 64-bit address replaces the 32-bit one.
        t.lapic_address = load64(e + 4);
        lapic_overridden = true;
        return true;
    default:
        ++t.entries_skipped;
        return true;
    }
}

Result<void> parse_madt_into(const PhysReader& reader, const AcpiTableRef& madt, CpuTopology& t)
{
    uint8_t header[kMadtEntriesOffset];
    if (madt.length < kMadtEntriesOffset || madt.length > kMaxMadtLength ||
        madt.paddr > ~uint64_t(0) - madt.length)
        return Errno::INVAL;
    if (!reader.read(madt.paddr, header, sizeof(header)))
        return Errno::FAULT;
    if (!signature_is(header, "APIC") || load32(header + 4) != madt.length)
        return Errno::INVAL;
    uint8_t sum = 0;
    if (!sum_range(reader, madt.paddr, madt.length, sum))
        return Errno::FAULT;
    if (sum != 0)
        return Errno::INVAL;

    t.source = CpuSource::Madt;
    t.lapic_address = load32(header + kMadtLapicOffset);
    t.pcat_compat = (load32(header + kMadtFlagsOffset) & kMadtPcatCompat) != 0;
    bool lapic_overridden = false;
    // [acpi-6.5 §5.2.12] Each structure starts with Type and Length (which includes both);
    // they fill the table exactly. Reading entry by entry keeps every read inside it.
    for (uint32_t off = kMadtEntriesOffset; off < madt.length;) {
        uint32_t left = madt.length - off;
        uint8_t entry[255];
        if (left < 2 || !reader.read(madt.paddr + off, entry, 2))
            return left < 2 ? Errno::INVAL : Errno::FAULT;
        uint8_t len = entry[1];
        if (len < 2 || len > left)
            return Errno::INVAL; // zero-length would never advance; a long one leaves the table
        if (!reader.read(madt.paddr + off + 2, entry + 2, len - 2u))
            return Errno::FAULT;
        if (!madt_entry(t, entry, len, lapic_overridden))
            return Errno::INVAL;
        off += len;
    }
    if (!lapic_overridden && t.lapic_address == 0)
        t.lapic_address = CpuTopology::kDefaultLapicAddress;
    return {};
}

// True if the 16 bytes at p are a valid MP floating pointer structure [mp-1.4 §4.1].
bool is_floating_pointer(const uint8_t* p)
{
    return signature_is(p, "_MP_") && p[kMpFloatingLengthOffset] == 1 &&
           (p[kMpFloatingRevOffset] == 1 || p[kMpFloatingRevOffset] == 4) && sum_bytes(p, kMpFloatingSize) == 0;
}

// Scans [base, base + size) on 16-byte boundaries, a KiB at a time (unreadable KiBs are
// skipped). Returns the first valid floating pointer's address, or 0.
uint64_t scan_floating_pointer(const PhysReader& reader, uint64_t base, uint64_t size)
{
    uint8_t chunk[kSearchKib];
    for (uint64_t off = 0; off + kSearchKib <= size; off += kSearchKib) {
        if (!reader.read(base + off, chunk, sizeof(chunk)))
            continue;
        for (size_t i = 0; i < sizeof(chunk); i += kMpFloatingSize)
            if (is_floating_pointer(chunk + i))
                return base + off + i;
    }
    return 0;
}

// [mp-1.4 §5] Default configurations 1-7: two processors with local APIC ids 0 (the boot
// processor) and 1, one I/O APIC with id 2, everything at the architectural addresses.
void default_configuration(CpuTopology& t)
{
    add_cpu(t, 0, 0, true, true);
    add_cpu(t, 1, 0, true, false);
    add_ioapic(t, 2, kDefaultIoApicAddress, 0);
}

Result<void> parse_mp_into(const PhysReader& reader, uint64_t fp_paddr, CpuTopology& t)
{
    uint8_t fp[kMpFloatingSize];
    if (fp_paddr > ~uint64_t(0) - kMpFloatingSize || !reader.read(fp_paddr, fp, sizeof(fp)))
        return Errno::FAULT;
    if (!is_floating_pointer(fp))
        return Errno::INVAL;
    t.source = CpuSource::MpTable;
    // [mp-1.4 §4.1] FEATURE BYTE 1: zero means the configuration table is present.
    uint8_t default_config = fp[kMpFloatingFeature1];
    if (default_config != 0) {
        if (default_config > kMpMaxDefaultConfig)
            return Errno::INVAL;
        default_configuration(t);
        return {};
    }
    uint64_t table = load32(fp + kMpFloatingTableOffset);
    uint8_t header[kMpcHeaderSize];
    if (table == 0)
        return Errno::INVAL;
    if (!reader.read(table, header, sizeof(header)))
        return Errno::FAULT;
    // The base table: signature, a length that holds the header, a zero checksum over it
    // [mp-1.4 §4.2]. 16-bit length from a 32-bit address: no wrap-around in 64 bits.
    uint16_t length = load16(header + kMpcLengthOffset);
    if (!signature_is(header, "PCMP") || length < kMpcHeaderSize)
        return Errno::INVAL;
    uint8_t sum = 0;
    if (!sum_range(reader, table, length, sum))
        return Errno::FAULT;
    if (sum != 0)
        return Errno::INVAL;
    uint32_t lapic = load32(header + kMpcLapicOffset);
    t.lapic_address = lapic != 0 ? lapic : CpuTopology::kDefaultLapicAddress;

    // [mp-1.4 §4.3] Entries follow the header up to BASE TABLE LENGTH, each sized by its
    // type. ENTRY COUNT is not used: qboot (QEMU microvm's firmware) leaves it 0, and Linux
    // walks by length too. An entry that does not fit is an error.
    for (size_t off = kMpcHeaderSize; off < length;) {
        uint8_t e[kMpProcessorSize];
        if (!reader.read(table + off, e, 1))
            return Errno::FAULT;
        size_t size = e[0] == kMpProcessor ? kMpProcessorSize : kMpOtherEntrySize;
        if (e[0] > kMpLocalInterrupt || size > length - off)
            return Errno::INVAL; // an unknown type has an unknown size: the walk cannot go on
        if (!reader.read(table + off, e, size))
            return Errno::FAULT;
        off += size;
        switch (e[0]) {
        case kMpProcessor: // [mp-1.4 §4.3.1 Table 4-4]: type, APIC id, version, flags, ...
            if (!(e[3] & kMpCpuEnabled)) {
                ++t.cpus_unusable; // "If zero, this processor is unusable"
                break;
            }
            // One boot CPU: a second BP flag is a firmware error and is ignored.
            add_cpu(t, e[1], 0, true, (e[3] & kMpCpuBootstrap) != 0 && !has_bootstrap(t));
            break;
        case kMpIoApic: // [mp-1.4 §4.3.3 Table 4-6]: type, id, version, flags, address
            if (!(e[3] & kMpIoApicEnabled)) {
                ++t.entries_skipped;
                break;
            }
            add_ioapic(t, e[1], load32(e + 4),
                       t.ioapic_count == 0 ? 0 : IoApicEntry::kGsiBaseUnknown);
            break;
        default: // buses and interrupt assignments: not used yet
            ++t.entries_skipped;
            break;
        }
    }
    return {};
}

} // namespace

const char* cpu_source_name(CpuSource source)
{
    switch (source) {
    case CpuSource::Madt:
        return "madt";
    case CpuSource::MpTable:
        return "mptable";
    case CpuSource::None:
        break;
    }
    return "none";
}

size_t CpuTopology::enabled_count() const
{
    size_t n = 0;
    for (size_t i = 0; i < count; ++i)
        n += cpus[i].enabled ? 1 : 0;
    return n;
}

const CpuEntry* CpuTopology::find(uint32_t apic_id) const
{
    for (size_t i = 0; i < count; ++i)
        if (cpus[i].apic_id == apic_id)
            return &cpus[i];
    return nullptr;
}

Result<void> parse_madt(const PhysReader& reader, const AcpiTableRef& madt, CpuTopology& out)
{
    reset(out);
    auto r = parse_madt_into(reader, madt, out);
    if (r.is_error())
        reset(out);
    return r;
}

Result<uint64_t> find_mp_floating_pointer(const PhysReader& reader)
{
    uint8_t word[2];
    // [mp-1.4 §4] a. The first KiB of the EBDA, whose real-mode segment is at 40:0E.
    if (reader.read(kBdaEbdaSegment, word, 2) && load16(word) != 0)
        if (uint64_t fp = scan_floating_pointer(reader, uint64_t(load16(word)) << 4, kSearchKib))
            return fp;
    // b. The last KiB of base memory, whose size in KiB is at 40:13. The spec searches here
    // only without an EBDA; like Linux we look anyway (Firecracker puts its table at 639 KiB
    // and sets up no BIOS data area at all).
    uint16_t base_kib = kDefaultBaseMemoryKib;
    if (reader.read(kBdaBaseMemoryKib, word, 2) && load16(word) >= 64 && load16(word) <= kDefaultBaseMemoryKib)
        base_kib = load16(word);
    if (uint64_t fp = scan_floating_pointer(reader, (uint64_t(base_kib) - 1) * kSearchKib, kSearchKib))
        return fp;
    // c. The BIOS ROM, 0xF0000-0xFFFFF.
    if (uint64_t fp = scan_floating_pointer(reader, kBiosRomBase, kBiosRomSize))
        return fp;
    return Errno::NOENT;
}

Result<void> parse_mp_table(const PhysReader& reader, uint64_t fp_paddr, CpuTopology& out)
{
    reset(out);
    auto r = parse_mp_into(reader, fp_paddr, out);
    if (r.is_error())
        reset(out);
    return r;
}

Result<void> discover_mp_table(const PhysReader& reader, CpuTopology& out)
{
    auto fp = find_mp_floating_pointer(reader);
    if (fp.is_error()) {
        reset(out);
        return fp.error();
    }
    return parse_mp_table(reader, fp.value(), out);
}

bool mark_bootstrap(CpuTopology& topology, uint32_t apic_id)
{
    if (!topology.find(apic_id))
        return false;
    for (size_t i = 0; i < topology.count; ++i)
        topology.cpus[i].is_bootstrap = topology.cpus[i].apic_id == apic_id;
    return true;
}

} // namespace boot
