// Test support for the image builder's logic: an in-memory host file system (FakeHostFs)
// with Linux path semantics (symlinks followed in directory components, not at the end of an
// lstat), and a generator of small ELF64 files with chosen headers and dynamic sections.
#pragma once

#include <elf.h>

#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "runner/host_fs.h"

namespace runner::testing {

class FakeHostFs final : public HostFs {
public:
    FakeHostFs() { m_nodes["/"] = Node{FileKind::Directory, {}, 0755, 0, next_inode()}; }

    // Each adder creates missing parent directories (0755). Paths are absolute, symlink-free
    // in their directory part.
    void add_dir(const std::string& path, uint32_t mode = 0755) {
        make_parents(path);
        m_nodes[path] = Node{FileKind::Directory, {}, mode, 0, next_inode()};
    }
    void add_file(const std::string& path, std::string data, uint32_t mode = 0644) {
        make_parents(path);
        m_nodes[path] = Node{FileKind::Regular, std::move(data), mode, 1000, next_inode()};
    }
    void add_symlink(const std::string& path, const std::string& target) {
        make_parents(path);
        m_nodes[path] = Node{FileKind::Symlink, target, 0777, 0, next_inode()};
    }
    void add_other(const std::string& path) {
        make_parents(path);
        m_nodes[path] = Node{FileKind::Other, {}, 0600, 0, next_inode()};
    }
    // A second name for an existing regular file (same inode; contents copied).
    void add_hard_link(const std::string& path, const std::string& existing) {
        make_parents(path);
        m_nodes[path] = m_nodes.at(existing);
    }
    void set_mtime(const std::string& path, int64_t sec) { m_nodes.at(path).mtime = sec; }
    void set_data(const std::string& path, std::string data) { m_nodes.at(path).data = std::move(data); }
    void remove(const std::string& path) { m_nodes.erase(path); }

    FileStat lstat(const std::string& path) override {
        auto resolved = resolve_parent(path);
        FileStat st;
        if (!resolved) {
            return st;
        }
        auto it = m_nodes.find(*resolved);
        if (it == m_nodes.end()) {
            return st;
        }
        st.kind = it->second.kind;
        st.mode = it->second.mode;
        st.size = it->second.kind == FileKind::Directory ? 4096 : it->second.data.size();
        st.mtime_sec = it->second.mtime;
        st.device = 1;
        st.inode = it->second.inode;
        return st;
    }

    Parsed<std::string> read_link(const std::string& path) override {
        auto resolved = resolve_parent(path);
        auto it = resolved ? m_nodes.find(*resolved) : m_nodes.end();
        if (it == m_nodes.end() || it->second.kind != FileKind::Symlink) {
            return Parsed<std::string>::fail("cannot read the symlink " + path);
        }
        return Parsed<std::string>::ok(it->second.data);
    }

    Parsed<std::string> read_file(const std::string& path) override {
        ++m_reads;
        auto real = real_path(*this, path);
        auto it = real ? m_nodes.find(*real.value) : m_nodes.end();
        if (it == m_nodes.end() || it->second.kind != FileKind::Regular) {
            return Parsed<std::string>::fail("cannot read " + path);
        }
        return Parsed<std::string>::ok(it->second.data);
    }

    Parsed<std::vector<std::string>> list_directory(const std::string& path) override {
        auto real = real_path(*this, path);
        if (!real) {
            return Parsed<std::vector<std::string>>::fail("cannot list " + path);
        }
        std::string prefix = *real.value == "/" ? "/" : *real.value + "/";
        std::vector<std::string> names;
        for (auto it = m_nodes.lower_bound(prefix); it != m_nodes.end(); ++it) {
            if (it->first.compare(0, prefix.size(), prefix) != 0) {
                break;
            }
            std::string rest = it->first.substr(prefix.size());
            if (!rest.empty() && rest.find('/') == std::string::npos) {
                names.push_back(rest);
            }
        }
        return Parsed<std::vector<std::string>>::ok(names);
    }

    int reads() const { return m_reads; }

private:
    struct Node {
        FileKind kind;
        std::string data;  // file contents or symlink target
        uint32_t mode;
        int64_t mtime;
        uint64_t inode;
    };

    uint64_t next_inode() { return ++m_last_inode; }

    void make_parents(const std::string& path) {
        std::string current;
        auto parts = split_path(path);
        for (size_t i = 0; i + 1 < parts.size(); ++i) {
            current += "/" + parts[i];
            if (m_nodes.count(current) == 0) {
                m_nodes[current] = Node{FileKind::Directory, {}, 0755, 0, next_inode()};
            }
        }
    }

    // The path with its directory part resolved (symlinks followed), the last component kept.
    std::optional<std::string> resolve_parent(const std::string& path) {
        std::string norm = normalize_path(path);
        if (norm == "/") {
            return norm;
        }
        auto parent = real_path(*this, parent_path(norm));
        if (!parent) {
            return std::nullopt;
        }
        auto it = m_nodes.find(*parent.value);
        if (it == m_nodes.end() || it->second.kind != FileKind::Directory) {
            return std::nullopt;
        }
        return join_path(*parent.value, base_name(norm));
    }

    std::map<std::string, Node> m_nodes;
    uint64_t m_last_inode = 0;
    int m_reads = 0;
};

// What make_elf() writes.
struct FakeElf {
    uint8_t elf_class = ELFCLASS64;
    uint8_t data = ELFDATA2LSB;
    uint16_t type = ET_DYN;
    uint16_t machine = EM_X86_64;
    uint64_t entry = 0x1000;
    std::string interpreter;  // PT_INTERP when not empty
    bool dynamic = true;      // PT_DYNAMIC
    std::string soname;
    std::vector<std::string> needed;
    std::optional<std::string> rpath, runpath;
    uint64_t flags_1 = 0;
};

// A small ELF file: header, program headers (one PT_LOAD mapping the whole file at address
// 0x400000, PT_INTERP, PT_DYNAMIC), the interpreter string, the dynamic string table, the
// dynamic section. ELFCLASS32 gives just a 32-bit identification and header-sized padding.
inline std::string make_elf(const FakeElf& f) {
    constexpr uint64_t kBase = 0x400000;
    if (f.elf_class != ELFCLASS64) {
        std::string out(52, '\0');
        std::memcpy(out.data(), ELFMAG, SELFMAG);
        out[EI_CLASS] = static_cast<char>(f.elf_class);
        out[EI_DATA] = static_cast<char>(f.data);
        out[EI_VERSION] = EV_CURRENT;
        uint16_t machine = EM_386;
        std::memcpy(out.data() + 18, &machine, 2);
        return out;
    }
    std::string strtab(1, '\0');
    auto add_string = [&](const std::string& s) {
        uint64_t off = strtab.size();
        strtab += s;
        strtab += '\0';
        return off;
    };
    std::vector<Elf64_Dyn> dyn;
    auto add_dyn = [&](int64_t tag, uint64_t value) {
        Elf64_Dyn d{};
        d.d_tag = tag;
        d.d_un.d_val = value;
        dyn.push_back(d);
    };
    for (const auto& n : f.needed) {
        add_dyn(DT_NEEDED, add_string(n));
    }
    if (!f.soname.empty()) {
        add_dyn(DT_SONAME, add_string(f.soname));
    }
    if (f.rpath) {
        add_dyn(DT_RPATH, add_string(*f.rpath));
    }
    if (f.runpath) {
        add_dyn(DT_RUNPATH, add_string(*f.runpath));
    }
    if (f.flags_1 != 0) {
        add_dyn(DT_FLAGS_1, f.flags_1);
    }

    size_t phnum = 1 + (f.interpreter.empty() ? 0 : 1) + (f.dynamic ? 1 : 0);
    uint64_t phoff = sizeof(Elf64_Ehdr);
    uint64_t interp_off = phoff + phnum * sizeof(Elf64_Phdr);
    uint64_t strtab_off = interp_off + (f.interpreter.empty() ? 0 : f.interpreter.size() + 1);
    uint64_t dyn_off = (strtab_off + strtab.size() + 7) & ~uint64_t{7};
    add_dyn(DT_STRTAB, kBase + strtab_off);
    add_dyn(DT_STRSZ, strtab.size());
    add_dyn(DT_NULL, 0);
    uint64_t size = dyn_off + dyn.size() * sizeof(Elf64_Dyn);

    std::string out(size, '\0');
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = f.elf_class;
    eh.e_ident[EI_DATA] = f.data;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = f.type;
    eh.e_machine = f.machine;
    eh.e_version = EV_CURRENT;
    eh.e_entry = f.entry;
    eh.e_phoff = phoff;
    eh.e_ehsize = sizeof(Elf64_Ehdr);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = static_cast<uint16_t>(phnum);
    std::memcpy(out.data(), &eh, sizeof eh);

    std::vector<Elf64_Phdr> ph;
    Elf64_Phdr load{};
    load.p_type = PT_LOAD;
    load.p_vaddr = kBase;
    load.p_filesz = load.p_memsz = size;
    ph.push_back(load);
    if (!f.interpreter.empty()) {
        Elf64_Phdr interp{};
        interp.p_type = PT_INTERP;
        interp.p_offset = interp_off;
        interp.p_vaddr = kBase + interp_off;
        interp.p_filesz = f.interpreter.size() + 1;
        ph.push_back(interp);
        std::memcpy(out.data() + interp_off, f.interpreter.c_str(), f.interpreter.size() + 1);
    }
    if (f.dynamic) {
        Elf64_Phdr d{};
        d.p_type = PT_DYNAMIC;
        d.p_offset = dyn_off;
        d.p_vaddr = kBase + dyn_off;
        d.p_filesz = dyn.size() * sizeof(Elf64_Dyn);
        ph.push_back(d);
    }
    std::memcpy(out.data() + phoff, ph.data(), ph.size() * sizeof(Elf64_Phdr));
    std::memcpy(out.data() + strtab_off, strtab.data(), strtab.size());
    if (f.dynamic) {
        std::memcpy(out.data() + dyn_off, dyn.data(), dyn.size() * sizeof(Elf64_Dyn));
    }
    return out;
}

// A dynamically linked program with the glibc interpreter.
inline std::string make_program(std::vector<std::string> needed,
                                std::string interpreter = "/lib64/ld-linux-x86-64.so.2") {
    FakeElf f;
    f.interpreter = std::move(interpreter);
    f.needed = std::move(needed);
    f.flags_1 = DF_1_PIE;
    return make_elf(f);
}

// A shared library.
inline std::string make_library(std::string soname, std::vector<std::string> needed = {}) {
    FakeElf f;
    f.soname = std::move(soname);
    f.needed = std::move(needed);
    f.entry = 0;
    return make_elf(f);
}

// A Debian-12-like merged-/usr glibc system: /lib -> usr/lib, /lib64 -> usr/lib64,
// /bin -> usr/bin, the loader behind an absolute symlink, libc.so.6 a real file, no
// ld.so.cache (tests add one when they need it).
inline void add_debian_base(FakeHostFs& fs) {
    fs.add_symlink("/lib", "usr/lib");
    fs.add_symlink("/lib64", "usr/lib64");
    fs.add_symlink("/bin", "usr/bin");
    fs.add_file("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", make_library("ld-linux-x86-64.so.2"), 0755);
    fs.add_symlink("/usr/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
    fs.add_file("/usr/lib/x86_64-linux-gnu/libc.so.6", make_library("libc.so.6", {"ld-linux-x86-64.so.2"}), 0755);
}

} // namespace runner::testing
