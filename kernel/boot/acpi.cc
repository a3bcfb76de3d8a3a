// ACPI table discovery: RSDP → RSDT/XSDT → FADT, DSDT (\_S5), MADT, each validated first.
#include <boot/acpi.h>

namespace boot {
namespace {

// Limits that bound the work a hostile table set can cause.
constexpr uint32_t kHeaderSize = 36;               // [acpi-6.5 §5.2.6] System Description Table Header
constexpr uint32_t kMaxTableLength = 8u << 20;     // real DSDTs are < 1 MiB; QEMU's are ~8 KiB
constexpr uint32_t kMaxRsdpLength = 4096;          // 36 in every revision so far
constexpr size_t kMaxRootEntries = 256;            // entries of the RSDT/XSDT looked at
constexpr uint64_t kReadBudget = 64ull << 20;      // bytes read in total by one parse_acpi()
constexpr size_t kChunk = 512;                     // bytes per PhysReader call when streaming

// [acpi-6.5 §5.2.5.3 Table 5.3] RSDP.
constexpr size_t kRsdpV1Size = 20;
constexpr size_t kRsdpV2Size = 36;
constexpr size_t kRsdpRevisionOffset = 15;
constexpr size_t kRsdpRsdtOffset = 16;
constexpr size_t kRsdpLengthOffset = 20;
constexpr size_t kRsdpXsdtOffset = 24;

// [acpi-6.5 §5.2.9 Table 5.9] FADT field offsets (from the start of the table).
constexpr size_t kFadtDsdt = 40;
constexpr size_t kFadtSmiCmd = 48;
constexpr size_t kFadtAcpiEnable = 52;
constexpr size_t kFadtPm1aCntBlk = 64;
constexpr size_t kFadtPm1bCntBlk = 68;
constexpr size_t kFadtPm1CntLen = 89;
constexpr size_t kFadtFlags = 112;
constexpr size_t kFadtResetReg = 116;
constexpr size_t kFadtResetValue = 128;
constexpr size_t kFadtXDsdt = 140;
constexpr size_t kFadtXPm1aCntBlk = 172;
constexpr size_t kFadtXPm1bCntBlk = 184;
constexpr size_t kFadtSleepControlReg = 244;
constexpr size_t kFadtMaxKnown = 276;          // through the Hypervisor Vendor Identity
constexpr size_t kFadtMinLength = 116;         // the ACPI 1.0 FADT, up to Flags
// [acpi-6.5 §5.2.9.1 Table 5.10] Fixed feature flags.
constexpr uint32_t kFadtResetRegSup = 1u << 10;
constexpr uint32_t kFadtHwReducedAcpi = 1u << 20;

// [acpi-6.5 §20.2] AML opcodes and prefixes the \_S5 scan understands.
constexpr uint8_t kAmlZeroOp = 0x00;
constexpr uint8_t kAmlOneOp = 0x01;
constexpr uint8_t kAmlNameOp = 0x08;
constexpr uint8_t kAmlBytePrefix = 0x0a;
constexpr uint8_t kAmlWordPrefix = 0x0b;
constexpr uint8_t kAmlDWordPrefix = 0x0c;
constexpr uint8_t kAmlQWordPrefix = 0x0e;
constexpr uint8_t kAmlPackageOp = 0x12;
constexpr uint8_t kAmlRootChar = 0x5c; // '\'
constexpr uint8_t kAmlOnesOp = 0xff;
// NameOp '\' "_S5_" PackageOp PkgLength(≤4) NumElements + two QWord integers (9 bytes each).
constexpr size_t kS5MaxEncoding = 1 + 1 + 4 + 1 + 4 + 1 + 2 * 9;

uint32_t load32(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }
uint64_t load64(const uint8_t* p) { return uint64_t(load32(p)) | uint64_t(load32(p + 4)) << 32; }

GenericAddress load_gas(const uint8_t* p)
{
    GenericAddress g;
    g.space_id = p[0];
    g.bit_width = p[1];
    g.bit_offset = p[2];
    g.access_size = p[3];
    g.address = load64(p + 4);
    return g;
}

// A register the kernel can drive: present, in system I/O or memory space; else "absent".
GenericAddress usable(GenericAddress g)
{
    if (!g.is_present() || !(g.is_io() || g.is_memory()))
        return {};
    if (g.is_io() && g.address > 0xffff)
        return {};
    return g;
}

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

// Result of decoding one candidate Name(_S5_, Package ...) at a NameOp.
enum class S5Match { NotHere, Found, Malformed };

// Reads an AML integer constant at p[0..end) [acpi-6.5 §20.2.3 ComputationalData].
bool decode_integer(const uint8_t* p, size_t end, size_t& pos, uint64_t& value)
{
    if (pos >= end)
        return false;
    uint8_t op = p[pos++];
    size_t width = 0;
    switch (op) {
    case kAmlZeroOp:
        value = 0;
        return true;
    case kAmlOneOp:
        value = 1;
        return true;
    case kAmlOnesOp:
        value = ~uint64_t(0);
        return true;
    case kAmlBytePrefix:
        width = 1;
        break;
    case kAmlWordPrefix:
        width = 2;
        break;
    case kAmlDWordPrefix:
        width = 4;
        break;
    case kAmlQWordPrefix:
        width = 8;
        break;
    default:
        return false; // a name, a method call, anything not constant: not supported
    }
    if (width > end - pos)
        return false;
    value = 0;
    for (size_t i = 0; i < width; ++i)
        value |= uint64_t(p[pos + i]) << (8 * i);
    pos += width;
    return true;
}

// Decodes the object at p (p[0] == NameOp) if it is Name(_S5_ | \_S5_, Package(){...}).
// `avail` bytes are readable from p.
S5Match decode_s5_at(const uint8_t* p, size_t avail, SleepType& out)
{
    size_t pos = 1;
    if (pos < avail && p[pos] == kAmlRootChar)
        ++pos;
    if (avail - pos < 5 || p[pos] != '_' || p[pos + 1] != 'S' || p[pos + 2] != '5' || p[pos + 3] != '_' ||
        p[pos + 4] != kAmlPackageOp)
        return S5Match::NotHere;
    pos += 5;
    // [acpi-6.5 §20.2.4] PkgLength: bits 7-6 of the lead byte count the bytes that follow;
    // with none, bits 5-0 are the length, else bits 3-0 are its low nibble. The length
    // includes the PkgLength bytes themselves.
    if (pos >= avail)
        return S5Match::Malformed;
    size_t pkg_start = pos;
    uint8_t lead = p[pos++];
    size_t follow = lead >> 6;
    uint32_t pkg_length = follow == 0 ? (lead & 0x3f) : (lead & 0x0f);
    if (follow > avail - pos)
        return S5Match::Malformed;
    for (size_t i = 0; i < follow; ++i)
        pkg_length |= uint32_t(p[pos++]) << (4 + 8 * i);
    if (pkg_length < follow + 2 || pkg_length > avail - pkg_start)
        return S5Match::Malformed; // no room for NumElements, or runs past the data
    size_t end = pkg_start + pkg_length;
    uint8_t count = p[pos++];
    uint64_t a = 0, b = 0;
    if (count == 0 || !decode_integer(p, end, pos, a))
        return S5Match::Malformed;
    if (count == 1) {
        // [acpi-6.5 §7.4.2] allows one integer with both values packed (as ACPICA does).
        b = (a >> 8) & 0xff;
        a &= 0xff;
    } else if (!decode_integer(p, end, pos, b)) {
        return S5Match::Malformed;
    }
    // SLP_TYPx is a 3-bit field [acpi-6.5 §4.8.3.2.1]; anything wider cannot be written.
    if (a > 7 || b > 7)
        return S5Match::Malformed;
    out = { uint8_t(a), uint8_t(b) };
    return S5Match::Found;
}

// Looks for the \_S5 object among NameOps at positions [0, limit) of buf[0..size).
S5Match scan_s5(const uint8_t* buf, size_t size, size_t limit, SleepType& out)
{
    if (limit > size)
        limit = size;
    for (size_t i = 0; i < limit; ++i) {
        if (buf[i] != kAmlNameOp)
            continue;
        S5Match m = decode_s5_at(buf + i, size - i, out);
        if (m != S5Match::NotHere)
            return m;
    }
    return S5Match::NotHere;
}

// One parse: the reader, the read budget and the output.
class Walker {
public:
    Walker(const PhysReader& reader, AcpiInfo& out) : m_reader(reader), m_out(out) {}

    bool read(uint64_t paddr, void* buf, size_t size)
    {
        if (size > m_budget)
            return false;
        m_budget -= size;
        return m_reader.read(paddr, buf, size);
    }

    void note(const char* problem)
    {
        if (!m_out.problem)
            m_out.problem = problem;
    }

    // Validates the table at paddr: readable header, the expected signature (if any), a sane
    // length that does not wrap, and a zero checksum over all of it [acpi-6.5 §5.2.6].
    bool validate_table(uint64_t paddr, const char* signature, AcpiTableRef& ref)
    {
        uint8_t header[kHeaderSize];
        if (paddr == 0 || !read(paddr, header, sizeof(header)))
            return false;
        if (signature && !signature_is(header, signature))
            return false;
        uint32_t length = load32(header + 4);
        if (length < kHeaderSize || length > kMaxTableLength || uint64_t(length) - 1 > ~uint64_t(0) - paddr)
            return false;
        uint8_t sum = sum_bytes(header, sizeof(header));
        uint8_t chunk[kChunk];
        for (uint32_t off = kHeaderSize; off < length;) {
            size_t n = length - off < kChunk ? length - off : kChunk;
            if (!read(paddr + off, chunk, n))
                return false;
            sum = sum_bytes(chunk, n, sum);
            off += uint32_t(n);
        }
        if (sum != 0)
            return false;
        for (int i = 0; i < 4; ++i)
            ref.signature[i] = char(header[i]);
        ref.paddr = paddr;
        ref.length = length;
        return true;
    }

    void add_table(const AcpiTableRef& ref)
    {
        if (m_out.table_count == AcpiInfo::kMaxTables) {
            ++m_out.tables_dropped;
            return;
        }
        m_out.tables[m_out.table_count++] = ref;
    }

    // Validates the RSDT/XSDT and every table it lists.
    Result<void> walk_root(uint64_t paddr, bool xsdt)
    {
        AcpiTableRef root;
        if (!validate_table(paddr, xsdt ? "XSDT" : "RSDT", root))
            return Errno::INVAL;
        m_out.root_paddr = paddr;
        m_out.root_is_xsdt = xsdt;
        size_t entry_size = xsdt ? 8 : 4;
        size_t entries = (root.length - kHeaderSize) / entry_size;
        if (entries > kMaxRootEntries) {
            m_out.tables_dropped += entries - kMaxRootEntries;
            entries = kMaxRootEntries;
        }
        for (size_t i = 0; i < entries; ++i) {
            uint8_t raw[8] = {};
            if (!read(paddr + kHeaderSize + i * entry_size, raw, entry_size)) {
                ++m_out.tables_invalid;
                continue;
            }
            uint64_t table_paddr = xsdt ? load64(raw) : load32(raw);
            AcpiTableRef ref;
            if (!validate_table(table_paddr, nullptr, ref)) {
                ++m_out.tables_invalid;
                note("an ACPI table listed in the root table is invalid (skipped)");
                continue;
            }
            add_table(ref);
        }
        return {};
    }

    void parse_fadt(const AcpiTableRef& fadt)
    {
        if (fadt.length < kFadtMinLength) {
            note("the FADT is too short (ignored)");
            return;
        }
        // Fields beyond the table's length read as zero ("not present").
        uint8_t f[kFadtMaxKnown] = {};
        size_t n = fadt.length < kFadtMaxKnown ? fadt.length : kFadtMaxKnown;
        if (!read(fadt.paddr, f, n))
            return;
        AcpiInfo& o = m_out;
        o.has_fadt = true;
        o.fadt_revision = f[8];
        o.fadt_flags = load32(f + kFadtFlags);
        o.hardware_reduced = (o.fadt_flags & kFadtHwReducedAcpi) != 0;
        o.smi_command = load32(f + kFadtSmiCmd);
        o.acpi_enable = f[kFadtAcpiEnable];
        // The X_ fields supersede the 32-bit ones when non-zero [acpi-6.5 §5.2.9 Table 5.9].
        auto control_block = [&](size_t x_offset, size_t legacy_offset) {
            GenericAddress x = load_gas(f + x_offset);
            if (x.is_present())
                return usable(x);
            uint32_t port = load32(f + legacy_offset);
            if (port == 0 || f[kFadtPm1CntLen] < 2)
                return GenericAddress {};
            GenericAddress g;
            g.space_id = uint8_t(GenericAddress::Space::SystemIo);
            g.bit_width = 16;
            g.access_size = 2;
            g.address = port;
            return usable(g);
        };
        o.pm1a_control = control_block(kFadtXPm1aCntBlk, kFadtPm1aCntBlk);
        o.pm1b_control = control_block(kFadtXPm1bCntBlk, kFadtPm1bCntBlk);
        o.sleep_control = usable(load_gas(f + kFadtSleepControlReg));
        if (fadt.length > kFadtResetValue && (o.fadt_flags & kFadtResetRegSup)) {
            o.reset_register = usable(load_gas(f + kFadtResetReg));
            o.reset_value = f[kFadtResetValue];
            o.reset_supported = o.reset_register.is_present();
        }
        uint64_t x_dsdt = load64(f + kFadtXDsdt);
        o.dsdt_paddr = x_dsdt != 0 ? x_dsdt : load32(f + kFadtDsdt);
    }

    // Scans the AML of a validated DSDT/SSDT for \_S5, streaming it in windows: every NameOp
    // is examined in the window where it lies in the first kChunk bytes, and the window
    // extends kS5MaxEncoding further so a whole \_S5 encoding fits.
    S5Match scan_table_for_s5(const AcpiTableRef& table, SleepType& out)
    {
        uint8_t window[kChunk + kS5MaxEncoding];
        uint64_t end = table.length;
        for (uint64_t off = kHeaderSize; off < end; off += kChunk) {
            size_t n = end - off < sizeof(window) ? size_t(end - off) : sizeof(window);
            if (!read(table.paddr + off, window, n))
                return S5Match::NotHere;
            S5Match m = scan_s5(window, n, kChunk, out);
            if (m != S5Match::NotHere)
                return m;
        }
        return S5Match::NotHere;
    }

    void find_s5()
    {
        AcpiTableRef dsdt;
        if (m_out.dsdt_paddr == 0 || !validate_table(m_out.dsdt_paddr, "DSDT", dsdt)) {
            ++m_out.tables_invalid;
            note("the DSDT is missing or invalid");
        } else {
            add_table(dsdt);
        }
        SleepType s5;
        S5Match m = dsdt.paddr ? scan_table_for_s5(dsdt, s5) : S5Match::NotHere;
        // Some firmware keeps \_S5 in a secondary table.
        for (size_t i = 0; m == S5Match::NotHere && i < m_out.table_count; ++i)
            if (m_out.tables[i].name() == "SSDT")
                m = scan_table_for_s5(m_out.tables[i], s5);
        if (m == S5Match::Found) {
            m_out.has_s5 = true;
            m_out.slp_typ_a = s5.a;
            m_out.slp_typ_b = s5.b;
        } else if (m == S5Match::Malformed) {
            note("\\_S5 is not a package of small integer constants");
        } else {
            note("no \\_S5 object in the DSDT/SSDTs: no ACPI soft-off");
        }
    }

private:
    const PhysReader& m_reader;
    AcpiInfo& m_out;
    uint64_t m_budget = kReadBudget;
};

} // namespace

uint8_t GenericAddress::access_bytes(uint8_t fallback) const
{
    if (access_size >= 1 && access_size <= 4)
        return uint8_t(1u << (access_size - 1));
    if (bit_width == 0)
        return fallback;
    if (bit_width <= 8)
        return 1;
    if (bit_width <= 16)
        return 2;
    if (bit_width <= 32)
        return 4;
    return 8;
}

const AcpiTableRef* AcpiInfo::find(lib::StringView signature) const
{
    for (size_t i = 0; i < table_count; ++i)
        if (tables[i].name() == signature)
            return &tables[i];
    return nullptr;
}

Result<SleepType> find_s5_in_aml(const uint8_t* aml, size_t size)
{
    SleepType s5;
    switch (scan_s5(aml, size, size, s5)) {
    case S5Match::Found:
        return s5;
    case S5Match::Malformed:
        return Errno::INVAL;
    case S5Match::NotHere:
        break;
    }
    return Errno::NOENT;
}

Result<void> parse_acpi(const PhysReader& reader, uint64_t rsdp_paddr, AcpiInfo& out)
{
    out = AcpiInfo {};
    if (rsdp_paddr == 0) {
        out.problem = "no RSDP: the hypervisor offers no ACPI";
        return Errno::NOENT;
    }
    Walker walker(reader, out);

    // [acpi-6.5 §5.2.5.3] The first 20 bytes (ACPI 1.0) have their own checksum; revision 2+
    // adds Length, XsdtAddress and an extended checksum over Length bytes.
    uint8_t rsdp[kRsdpV2Size] = {};
    if (rsdp_paddr > ~uint64_t(0) - kRsdpV2Size || !walker.read(rsdp_paddr, rsdp, kRsdpV1Size)) {
        out.problem = "the RSDP is not readable";
        return Errno::FAULT;
    }
    if (!signature_is(rsdp, "RSD ") || !signature_is(rsdp + 4, "PTR ")) {
        out.problem = "bad RSDP signature";
        return Errno::INVAL;
    }
    if (sum_bytes(rsdp, kRsdpV1Size) != 0) {
        out.problem = "bad RSDP checksum";
        return Errno::INVAL;
    }
    out.rsdp_revision = rsdp[kRsdpRevisionOffset];
    uint32_t rsdt = load32(rsdp + kRsdpRsdtOffset);
    uint64_t xsdt = 0;
    if (out.rsdp_revision >= 2) {
        if (!walker.read(rsdp_paddr, rsdp, kRsdpV2Size)) {
            out.problem = "the RSDP is not readable";
            return Errno::FAULT;
        }
        uint32_t length = load32(rsdp + kRsdpLengthOffset);
        if (length < kRsdpV2Size || length > kMaxRsdpLength || rsdp_paddr > ~uint64_t(0) - length) {
            out.problem = "bad RSDP length";
            return Errno::INVAL;
        }
        uint8_t sum = 0;
        uint8_t chunk[kChunk];
        for (uint32_t off = 0; off < length;) {
            size_t n = length - off < kChunk ? length - off : kChunk;
            if (!walker.read(rsdp_paddr + off, chunk, n)) {
                out.problem = "the RSDP is not readable";
                return Errno::FAULT;
            }
            sum = sum_bytes(chunk, n, sum);
            off += uint32_t(n);
        }
        if (sum != 0) {
            out.problem = "bad RSDP extended checksum";
            return Errno::INVAL;
        }
        xsdt = load64(rsdp + kRsdpXsdtOffset);
    }

    // ACPI 2.0+ OSPM uses the XSDT [acpi-6.5 §5.2.8]; fall back to the RSDT if the XSDT is
    // unusable but an RSDT exists (what Linux does too).
    bool ok = false;
    if (xsdt != 0) {
        ok = !walker.walk_root(xsdt, true).is_error();
        if (!ok)
            walker.note("the XSDT is invalid; using the RSDT");
    }
    if (!ok && rsdt != 0)
        ok = !walker.walk_root(rsdt, false).is_error();
    if (!ok) {
        out.problem = "no valid RSDT/XSDT";
        return Errno::INVAL;
    }

    if (const AcpiTableRef* fadt = out.find("FACP")) {
        walker.parse_fadt(*fadt);
        if (out.has_fadt)
            walker.find_s5();
    } else {
        walker.note("no FADT");
    }
    if (const AcpiTableRef* madt = out.find("APIC"))
        out.madt = *madt;
    return {};
}

AcpiPowerOff acpi_poweroff(const AcpiInfo& info)
{
    AcpiPowerOff p;
    if (info.reset_supported) {
        p.reset_register = info.reset_register;
        p.reset_value = info.reset_value;
    }
    if (!info.has_fadt || !info.has_s5)
        return p;
    if (info.hardware_reduced) {
        // [acpi-6.5 §4.8.3.7] Hardware-reduced ACPI has no PM1 blocks: the sleep control
        // register takes SLP_TYPa in bits 2-4 and SLP_EN in bit 5, written in one go.
        if (info.sleep_control.is_present()) {
            p.method = AcpiPowerOff::Method::SleepControl;
            p.sleep_control = info.sleep_control;
            p.sleep_value = uint8_t(info.slp_typ_a << AcpiPowerOff::kSleepTypeShift) | AcpiPowerOff::kSleepEnable;
        }
        return p;
    }
    // [acpi-6.5 §4.8.3.2.1] Fixed hardware: SLP_TYPx in bits 10-12 of PM1x_CNT,
    // then SLP_EN (bit 13); PM1a and PM1b each get their own SLP_TYP.
    if (info.pm1a_control.is_present()) {
        p.method = AcpiPowerOff::Method::Pm1Control;
        p.pm1a_control = info.pm1a_control;
        p.pm1b_control = info.pm1b_control;
        p.pm1a_slp_value = uint16_t(info.slp_typ_a << AcpiPowerOff::kPm1SleepTypeShift);
        p.pm1b_slp_value = uint16_t(info.slp_typ_b << AcpiPowerOff::kPm1SleepTypeShift);
        p.smi_command = info.smi_command;
        p.acpi_enable = info.acpi_enable;
    }
    return p;
}

} // namespace boot
