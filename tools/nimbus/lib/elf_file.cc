// ELF reader of the image builder: program headers, PT_INTERP and the dynamic section, with
// every offset, size and string bounds-checked against the file.
#include "runner/elf_file.h"

#include <elf.h>

#include <cstring>

namespace runner {

namespace {

// Copies a T out of `bytes` at `offset` if it fits (the data may be unaligned).
template <typename T>
bool read_at(std::string_view bytes, uint64_t offset, T* out) {
    if (offset > bytes.size() || bytes.size() - offset < sizeof(T)) {
        return false;
    }
    std::memcpy(out, bytes.data() + offset, sizeof(T));
    return true;
}

// [offset, offset + size) lies inside the file.
bool in_file(std::string_view bytes, uint64_t offset, uint64_t size) {
    return offset <= bytes.size() && size <= bytes.size() - offset;
}

std::string machine_name(uint16_t machine) {
    switch (machine) {
    case EM_386: return "i386";
    case EM_ARM: return "ARM";
    case EM_AARCH64: return "AArch64";
    case EM_RISCV: return "RISC-V";
    case EM_PPC64: return "PowerPC64";
    case EM_PPC: return "PowerPC";
    case EM_S390: return "s390";
    case EM_MIPS: return "MIPS";
    case EM_SPARCV9: return "SPARC V9";
    case EM_LOONGARCH: return "LoongArch";
    default: return "machine " + std::to_string(machine);
    }
}

ElfResult failure(ElfError error, std::string reason = {}) {
    ElfResult r;
    r.error = error;
    r.reason = std::move(reason);
    return r;
}

// Maps a virtual address to a file offset through the PT_LOAD segments (as the dynamic
// section's DT_STRTAB is an address, not an offset). [gABI ch. 5, "Program Loading"]
std::optional<uint64_t> address_to_offset(const std::vector<Elf64_Phdr>& phdrs, uint64_t addr) {
    for (const auto& ph : phdrs) {
        if (ph.p_type != PT_LOAD) {
            continue;
        }
        if (addr >= ph.p_vaddr && addr - ph.p_vaddr < ph.p_filesz) {
            return ph.p_offset + (addr - ph.p_vaddr);
        }
    }
    return std::nullopt;
}

} // namespace

bool ElfInfo::is_program() const {
    if (entry == 0) {
        return false;
    }
    if (type == ElfType::Executable) {
        return true;
    }
    return type == ElfType::SharedObject && (!interpreter.empty() || pie_flag);
}

ElfResult parse_elf(std::string_view bytes) {
    if (bytes.size() < SELFMAG || std::memcmp(bytes.data(), ELFMAG, SELFMAG) != 0) {
        bool script = bytes.size() >= 2 && bytes[0] == '#' && bytes[1] == '!';
        return failure(script ? ElfError::Script : ElfError::NotElf);
    }
    if (bytes.size() <= EI_DATA) {
        return failure(ElfError::Malformed, "truncated ELF identification");
    }
    if (bytes[EI_CLASS] == ELFCLASS32) {
        return failure(ElfError::Elf32);
    }
    if (bytes[EI_CLASS] != ELFCLASS64) {
        return failure(ElfError::Malformed, "unknown ELF class " + std::to_string(bytes[EI_CLASS]));
    }
    if (bytes[EI_DATA] != ELFDATA2LSB) {
        return failure(ElfError::WrongMachine, "big-endian");
    }
    Elf64_Ehdr eh;
    if (!read_at(bytes, 0, &eh)) {
        return failure(ElfError::Malformed, "truncated ELF header");
    }
    if (eh.e_machine != EM_X86_64) {
        return failure(ElfError::WrongMachine, machine_name(eh.e_machine));
    }

    ElfInfo info;
    switch (eh.e_type) {
    case ET_EXEC: info.type = ElfType::Executable; break;
    case ET_DYN: info.type = ElfType::SharedObject; break;
    case ET_REL: info.type = ElfType::Relocatable; break;
    case ET_CORE: info.type = ElfType::Core; break;
    default: info.type = ElfType::Other; break;
    }
    info.entry = eh.e_entry;

    // Program headers. A relocatable object has none; anything else without them is odd but
    // simply has no interpreter and no dependencies.
    std::vector<Elf64_Phdr> phdrs;
    if (eh.e_phnum != 0) {
        if (eh.e_phentsize != sizeof(Elf64_Phdr)) {
            return failure(ElfError::Malformed, "bad program header size " + std::to_string(eh.e_phentsize));
        }
        if (!in_file(bytes, eh.e_phoff, uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr))) {
            return failure(ElfError::Malformed, "program headers beyond the end of the file");
        }
        phdrs.resize(eh.e_phnum);
        std::memcpy(phdrs.data(), bytes.data() + eh.e_phoff, phdrs.size() * sizeof(Elf64_Phdr));
    }

    const Elf64_Phdr* dynamic = nullptr;
    for (const auto& ph : phdrs) {
        if (ph.p_type == PT_INTERP) {
            if (!in_file(bytes, ph.p_offset, ph.p_filesz) || ph.p_filesz == 0) {
                return failure(ElfError::Malformed, "PT_INTERP outside the file");
            }
            std::string_view text = bytes.substr(ph.p_offset, ph.p_filesz);
            text = text.substr(0, text.find('\0'));
            if (text.empty()) {
                return failure(ElfError::Malformed, "empty PT_INTERP");
            }
            info.interpreter = std::string(text);
        } else if (ph.p_type == PT_DYNAMIC && dynamic == nullptr) {
            dynamic = &ph;
        }
    }
    if (dynamic == nullptr) {
        return ElfResult{std::move(info), {}, {}};
    }
    info.has_dynamic = true;
    if (!in_file(bytes, dynamic->p_offset, dynamic->p_filesz)) {
        return failure(ElfError::Malformed, "PT_DYNAMIC outside the file");
    }

    // First pass: the string table and the string-valued tags (their values are offsets into
    // the string table, which may come later in the section). [gABI ch. 5, "Dynamic Section"]
    uint64_t strtab_addr = 0, strsz = 0;
    bool have_strtab = false;
    std::vector<Elf64_Dyn> strings;  // tags whose d_val is a string offset, in order
    size_t count = dynamic->p_filesz / sizeof(Elf64_Dyn);
    for (size_t i = 0; i < count; ++i) {
        Elf64_Dyn d;
        read_at(bytes, dynamic->p_offset + i * sizeof(Elf64_Dyn), &d);  // in range: checked above
        if (d.d_tag == DT_NULL) {
            break;
        }
        switch (d.d_tag) {
        case DT_STRTAB: strtab_addr = d.d_un.d_ptr; have_strtab = true; break;
        case DT_STRSZ: strsz = d.d_un.d_val; break;
        case DT_NEEDED:
        case DT_SONAME:
        case DT_RPATH:
        case DT_RUNPATH: strings.push_back(d); break;
        case DT_FLAGS_1:
            info.pie_flag = (d.d_un.d_val & DF_1_PIE) != 0;
            info.nodeflib = (d.d_un.d_val & DF_1_NODEFLIB) != 0;
            break;
        default: break;
        }
    }
    if (strings.empty()) {
        return ElfResult{std::move(info), {}, {}};
    }
    if (!have_strtab) {
        return failure(ElfError::Malformed, "dynamic section without DT_STRTAB");
    }
    auto strtab = address_to_offset(phdrs, strtab_addr);
    if (!strtab || !in_file(bytes, *strtab, strsz)) {
        return failure(ElfError::Malformed, "DT_STRTAB outside the file");
    }
    std::string_view table = bytes.substr(*strtab, strsz);
    for (const auto& d : strings) {
        uint64_t off = d.d_un.d_val;
        size_t end = off < table.size() ? table.find('\0', off) : std::string_view::npos;
        if (end == std::string_view::npos) {
            return failure(ElfError::Malformed, "dynamic string outside DT_STRTAB");
        }
        std::string value(table.substr(off, end - off));
        switch (d.d_tag) {
        case DT_NEEDED:
            if (value.empty()) {
                return failure(ElfError::Malformed, "empty DT_NEEDED name");
            }
            info.needed.push_back(std::move(value));
            break;
        case DT_SONAME: info.soname = std::move(value); break;
        case DT_RPATH: info.rpath = std::move(value); break;
        case DT_RUNPATH: info.runpath = std::move(value); break;
        default: break;
        }
    }
    return ElfResult{std::move(info), {}, {}};
}

std::string elf_error_message(const ElfResult& r, std::string_view path) {
    std::string p(path);
    switch (r.error) {
    case ElfError::NotElf:
        return "not an ELF file: " + p;
    case ElfError::Script:
        return "not an ELF file: " + p + " (scripts are not supported; run the interpreter instead)";
    case ElfError::Elf32:
        return "32-bit ELF not supported: " + p;
    case ElfError::WrongMachine:
        return "wrong architecture: " + p + " is " + r.reason + ", not x86-64";
    case ElfError::Malformed:
        return "malformed ELF file " + p + ": " + r.reason;
    }
    return "bad ELF file: " + p;
}

std::string why_not_a_program(const ElfInfo& info) {
    switch (info.type) {
    case ElfType::Relocatable: return "a relocatable object file";
    case ElfType::Core: return "a core dump";
    case ElfType::Other: return "an ELF file of unknown type";
    case ElfType::SharedObject:
        if (info.interpreter.empty() && !info.pie_flag) {
            return "a shared library";
        }
        break;
    case ElfType::Executable: break;
    }
    return info.entry == 0 ? "no entry point" : "";
}

} // namespace runner
