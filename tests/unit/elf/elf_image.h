// Test support for kernel/elf: synthetic ELF files built field by field, a FileReader over
// a byte vector (with short reads and injected errors), host files, and a model that
// executes a LoadPlan page by page so its result can be compared with the segments.
#pragma once

#include <elf/elf.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace elf_test {

using Bytes = std::vector<uint8_t>;

// The byte every synthetic file holds at `offset` (never 0, so a zeroed byte shows).
inline uint8_t pattern(uint64_t offset) { return uint8_t((offset * 131 + 7) % 255 + 1); }

inline elf::Phdr phdr(uint32_t type, uint32_t flags, uint64_t offset, uint64_t vaddr, uint64_t filesz,
                      uint64_t memsz, uint64_t align = 0x1000)
{
    elf::Phdr p {};
    p.p_type = type;
    p.p_flags = flags;
    p.p_offset = offset;
    p.p_vaddr = vaddr;
    p.p_paddr = vaddr;
    p.p_filesz = filesz;
    p.p_memsz = memsz;
    p.p_align = align;
    return p;
}

inline constexpr uint32_t R = elf::kPfR, W = elf::kPfW, X = elf::kPfX;

// An ELF file under construction: header fields and program headers are public so that a
// test can break exactly one rule; bytes() lays them out over a patterned file.
struct ElfImage {
    elf::Ehdr eh {};
    std::vector<elf::Phdr> ph;
    uint64_t file_size = 0x6000;
    std::optional<uint16_t> phnum_override;
    // Extra bytes written last, e.g. the PT_INTERP string: (offset, bytes).
    std::vector<std::pair<uint64_t, std::string>> patches;

    ElfImage()
    {
        static const uint8_t ident[] = { 0x7f, 'E', 'L', 'F', 2, 1, 1, 0 };
        std::memcpy(eh.e_ident, ident, sizeof(ident));
        eh.e_type = elf::kEtExec;
        eh.e_machine = elf::kEmX86_64;
        eh.e_version = 1;
        eh.e_phoff = sizeof(elf::Ehdr);
        eh.e_ehsize = sizeof(elf::Ehdr);
        eh.e_phentsize = sizeof(elf::Phdr);
    }

    Bytes bytes() const
    {
        Bytes b(file_size);
        for (uint64_t i = 0; i < file_size; i++)
            b[i] = pattern(i);
        elf::Ehdr h = eh;
        h.e_phnum = phnum_override ? *phnum_override : uint16_t(ph.size());
        auto put = [&](uint64_t off, const void* src, size_t n) {
            for (size_t i = 0; off < b.size() && i < n && i < b.size() - off; i++)
                b[off + i] = static_cast<const uint8_t*>(src)[i];
        };
        put(0, &h, sizeof(h));
        for (size_t i = 0; i < ph.size(); i++) {
            uint64_t off = eh.e_phoff + i * sizeof(elf::Phdr);
            if (off >= eh.e_phoff) // a table that wraps around is simply not written
                put(off, &ph[i], sizeof(elf::Phdr));
        }
        for (auto& [off, s] : patches)
            put(off, s.data(), s.size());
        return b;
    }
};

// A static ET_EXEC in the classic shape: headers + rodata (R), text (RX), data + bss (RW).
inline ElfImage static_exec()
{
    ElfImage img;
    img.eh.e_entry = 0x401100;
    img.ph.push_back(phdr(elf::kPtLoad, R, 0, 0x400000, 0x1000, 0x1000));
    img.ph.push_back(phdr(elf::kPtLoad, R | X, 0x1000, 0x401000, 0x2345, 0x2345));
    img.ph.push_back(phdr(elf::kPtLoad, R | W, 0x3e10, 0x404e10, 0x1230, 0x5678));
    img.ph.push_back(phdr(elf::kPtGnuStack, R | W, 0, 0, 0, 0, 16));
    return img;
}

inline constexpr const char* kInterp = "/lib/ld-musl-x86_64.so.1";

// A dynamically linked PIE: PHDR, INTERP, four loads, DYNAMIC, TLS, RELRO, GNU_STACK.
inline ElfImage pie()
{
    ElfImage img;
    img.eh.e_type = elf::kEtDyn;
    img.eh.e_entry = 0x1040;
    img.ph.push_back(phdr(elf::kPtPhdr, R, 0x40, 0x40, 9 * 56, 9 * 56, 8));
    img.ph.push_back(phdr(elf::kPtInterp, R, 0x238, 0x238, 25, 25, 1));
    img.ph.push_back(phdr(elf::kPtLoad, R, 0, 0, 0x500, 0x500));
    img.ph.push_back(phdr(elf::kPtLoad, R | X, 0x1000, 0x1000, 0x800, 0x800));
    img.ph.push_back(phdr(elf::kPtLoad, R, 0x2000, 0x2000, 0x300, 0x300));
    img.ph.push_back(phdr(elf::kPtLoad, R | W, 0x2df0, 0x3df0, 0x220, 0x1300));
    img.ph.push_back(phdr(elf::kPtDynamic, R | W, 0x2e00, 0x3e00, 0x100, 0x100, 8));
    img.ph.push_back(phdr(elf::kPtTls, R, 0x2df0, 0x3df0, 0x10, 0x30, 16));
    img.ph.push_back(phdr(elf::kPtGnuRelro, R, 0x2df0, 0x3df0, 0x210, 0x210, 1));
    img.patches.push_back({ 0x238, std::string(kInterp) + '\0' });
    img.file_size = 0x3010;
    return img;
}

class BufferReader final : public elf::FileReader {
public:
    explicit BufferReader(Bytes bytes) : m_bytes(std::move(bytes)), m_size(m_bytes.size()) {}

    lib::Result<size_t> read_at(uint64_t offset, void* buf, size_t n) override
    {
        reads++;
        if (fail_at && offset <= *fail_at && *fail_at < offset + n)
            return Errno::IO;
        if (offset >= m_bytes.size())
            return size_t(0);
        size_t k = std::min<uint64_t>(n, m_bytes.size() - offset);
        k = std::min(k, max_chunk);
        std::memcpy(buf, m_bytes.data() + offset, k);
        return k;
    }
    uint64_t size() const override { return m_size; }

    size_t max_chunk = SIZE_MAX;        // cap on one read (short reads)
    std::optional<uint64_t> fail_at;    // a read covering this offset fails with IO
    size_t reads = 0;
    void claim_size(uint64_t size) { m_size = size; } // lie about the size
    const Bytes& bytes() const { return m_bytes; }

private:
    Bytes m_bytes;
    uint64_t m_size;
};

// Host file contents, or nullopt if it does not exist.
inline std::optional<Bytes> read_host_file(const char* path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return std::nullopt;
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The memory a plan builds, modelled page by page: what the kernel would do with the steps.
struct MemoryModel {
    struct Page {
        uint8_t bytes[elf::kPageSize];
        elf::Prot prot;
    };
    std::map<uint64_t, Page> pages;

    // Executes the plan over `file`. Returns an empty string or what went wrong (a step
    // mapping over a mapped page, a ZeroTail on an unmapped page).
    std::string run(const elf::LoadPlan& plan, const Bytes& file)
    {
        for (size_t i = 0; i < plan.step_count; i++) {
            const elf::LoadStep& s = plan.steps[i];
            if (s.kind == elf::LoadStep::Kind::ZeroTail) {
                for (uint64_t a = s.vaddr; a < s.vaddr + s.length; a++) {
                    auto it = pages.find(a & ~(elf::kPageSize - 1));
                    if (it == pages.end())
                        return "ZeroTail on an unmapped page";
                    it->second.bytes[a % elf::kPageSize] = 0;
                }
                continue;
            }
            for (uint64_t off = 0; off < s.length; off += elf::kPageSize) {
                if (pages.count(s.vaddr + off))
                    return "page mapped twice";
                Page& p = pages[s.vaddr + off];
                p.prot = s.prot;
                for (uint64_t k = 0; k < elf::kPageSize; k++) {
                    uint64_t f = s.file_offset + off + k;
                    p.bytes[k] = s.kind == elf::LoadStep::Kind::MapFile && f < file.size() ? file[f] : 0;
                }
            }
        }
        return "";
    }

    const Page* page_at(uint64_t addr) const
    {
        auto it = pages.find(addr & ~(elf::kPageSize - 1));
        return it == pages.end() ? nullptr : &it->second;
    }

    // Compares every byte of every segment with what the ELF rules say it must hold: the
    // file's byte in [vaddr, vaddr + filesz), zero up to memsz; and the page's protection.
    std::string verify(const elf::Executable& exe, uint64_t bias, const Bytes& file) const
    {
        for (size_t i = 0; i < exe.segment_count; i++) {
            const elf::LoadSegment& s = exe.segments[i];
            for (uint64_t k = 0; k < s.memsz; k++) {
                uint64_t addr = s.vaddr + bias + k;
                const Page* p = page_at(addr);
                if (!p)
                    return "unmapped byte at 0x" + hex(addr);
                uint8_t want = k < s.filesz ? file[s.offset + k] : 0;
                if (p->bytes[addr % elf::kPageSize] != want)
                    return "wrong byte at 0x" + hex(addr);
                if (!elf::has_all(p->prot, s.prot))
                    return "weak protection at 0x" + hex(addr);
            }
        }
        return "";
    }

    static std::string hex(uint64_t v)
    {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%llx", static_cast<unsigned long long>(v));
        return buf;
    }
};

} // namespace elf_test
