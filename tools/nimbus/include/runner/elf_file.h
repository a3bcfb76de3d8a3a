// What the image builder needs from an ELF file: class and machine checks, the interpreter
// (PT_INTERP) and the dynamic section's DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH and
// DT_FLAGS_1. Pure: parses bytes, bounds-checks everything (the file may be hostile or
// truncated) and never crashes on bad input. [ELF gABI, ch. 4 and 5; x86-64 psABI §4, §5]
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace runner {

enum class ElfType { Executable, SharedObject, Relocatable, Core, Other };

struct ElfInfo {
    ElfType type = ElfType::Other;
    uint64_t entry = 0;
    std::string interpreter;            // PT_INTERP, "" if none
    bool has_dynamic = false;           // PT_DYNAMIC present
    std::string soname;                 // DT_SONAME, "" if none
    std::vector<std::string> needed;    // DT_NEEDED in file order
    std::optional<std::string> rpath;   // DT_RPATH (colon-separated, unexpanded)
    std::optional<std::string> runpath; // DT_RUNPATH
    bool pie_flag = false;              // DF_1_PIE in DT_FLAGS_1
    bool nodeflib = false;              // DF_1_NODEFLIB: skip ld.so.cache and default dirs

    // Can the kernel start it as a program: ET_EXEC, or ET_DYN that is a PIE (has PT_INTERP
    // or DF_1_PIE: static-pie); and an entry point.
    bool is_program() const;
};

enum class ElfError {
    NotElf,        // no ELF magic
    Script,        // starts with "#!"
    Elf32,         // ELFCLASS32
    WrongMachine,  // not x86-64 little-endian
    Malformed,     // truncated or inconsistent headers, tables or strings
};

struct ElfResult {
    std::optional<ElfInfo> info;
    ElfError error = ElfError::NotElf;
    std::string reason;  // for WrongMachine and Malformed: what is wrong, e.g. "AArch64"

    explicit operator bool() const { return info.has_value(); }
};

// Parses a whole ELF file's bytes. Only an ELF64 little-endian x86-64 file succeeds.
ElfResult parse_elf(std::string_view bytes);

// A one-line message about `path` for a failed parse, as the user sees it, e.g.
// "not an ELF file: /x (scripts are not supported; run the interpreter instead)".
std::string elf_error_message(const ElfResult&, std::string_view path);

// Why `info` is not a program, e.g. "a shared library"; "" when it is one.
std::string why_not_a_program(const ElfInfo&);

} // namespace runner
