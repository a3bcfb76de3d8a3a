// Dependency resolution of the image builder: the dynamic linker's library search, replayed
// on the host file system (rules in dependencies.h).
#include "runner/dependencies.h"

namespace runner {

namespace {

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

std::vector<std::string> split_list(std::string_view text, std::string_view separators) {
    std::vector<std::string> out;
    size_t start = 0;
    for (size_t i = 0; i <= text.size(); ++i) {
        if (i == text.size() || separators.find(text[i]) != std::string_view::npos) {
            out.emplace_back(text.substr(start, i - start));
            start = i + 1;
        }
    }
    return out;
}

// musl's libc.so provides these libraries itself; a DT_NEEDED of any of them (libm.so.6,
// libpthread.so, ...) is satisfied by the interpreter.
bool is_musl_builtin(std::string_view name) {
    if (name.substr(0, 3) != "lib") {
        return false;
    }
    std::string_view stem = name.substr(3);
    size_t dot = stem.find(".so");
    if (dot == std::string_view::npos || (dot + 3 != stem.size() && stem[dot + 3] != '.')) {
        return false;
    }
    stem = stem.substr(0, dot);
    for (std::string_view builtin : {"c", "pthread", "rt", "m", "dl", "util", "xnet"}) {
        if (stem == builtin) {
            return true;
        }
    }
    return false;
}

std::string short_elf_problem(const ElfResult& r) {
    switch (r.error) {
    case ElfError::NotElf:
    case ElfError::Script: return "not ELF";
    case ElfError::Elf32: return "32-bit ELF";
    case ElfError::WrongMachine: return r.reason;
    case ElfError::Malformed: return "malformed ELF (" + r.reason + ")";
    }
    return "unusable";
}

} // namespace

std::optional<std::string> expand_dynamic_tokens(std::string_view text, std::string_view origin,
                                                 const ResolveSettings& settings) {
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '$') {
            out += text[i];
            continue;
        }
        std::string_view name;
        if (i + 1 < text.size() && text[i + 1] == '{') {
            size_t close = text.find('}', i + 2);
            if (close == std::string_view::npos) {
                return std::nullopt;
            }
            name = text.substr(i + 2, close - i - 2);
            i = close;
        } else {
            size_t end = i + 1;
            while (end < text.size() && is_name_char(text[end])) {
                ++end;
            }
            name = text.substr(i + 1, end - i - 1);
            i = end - 1;
        }
        if (name == "ORIGIN") {
            out += origin;
        } else if (name == "LIB") {
            out += settings.lib_expansion;
        } else if (name == "PLATFORM") {
            out += settings.platform_expansion;
        } else {
            return std::nullopt;
        }
    }
    return out;
}

DependencyResolver::DependencyResolver(HostFs& fs, ResolveSettings settings)
    : m_fs(fs), m_settings(std::move(settings)) {}

DependencyResolver::Candidate DependencyResolver::examine(const std::string& path) {
    // The search examines the file it then loads: read it once.
    if (m_last_examined && m_last_examined->first == path) {
        return m_last_examined->second;
    }
    Candidate c = examine_uncached(path);
    m_last_examined.emplace(path, c);
    return c;
}

DependencyResolver::Candidate DependencyResolver::examine_uncached(const std::string& path) {
    Candidate c;
    auto real = real_path(m_fs, path);
    if (!real) {
        return c;  // absent: the search goes on quietly
    }
    FileStat st = m_fs.lstat(*real.value);
    if (st.kind != FileKind::Regular) {
        return c;
    }
    auto bytes = m_fs.read_file(*real.value);
    if (!bytes) {
        c.rejected = bytes.error;
        return c;
    }
    ElfResult elf = parse_elf(*bytes.value);
    if (!elf) {
        c.rejected = path + ": " + short_elf_problem(elf);
        return c;
    }
    c.elf = std::move(*elf.info);
    c.id = {st.device, st.inode};
    return c;
}

int DependencyResolver::add_object(LoadedObject object, Identity id) {
    int index = static_cast<int>(m_objects.size());
    m_by_name.emplace(object.path, index);
    if (!object.needed_name.empty()) {
        m_by_name.emplace(object.needed_name, index);
    }
    if (!object.elf.soname.empty()) {
        m_by_name.emplace(object.elf.soname, index);
    }
    m_by_file.emplace(id, index);
    m_objects.push_back(std::move(object));
    return index;
}

std::string DependencyResolver::origin_of(int index) const {
    if (index == 0) {
        return m_program_origin;
    }
    return parent_path(m_objects[static_cast<size_t>(index)].path);
}

const LdCache* DependencyResolver::ld_cache() {
    if (!m_cache_loaded) {
        m_cache_loaded = true;
        const std::string& path = m_settings.ld_cache_path;
        if (m_fs.lstat(path).kind != FileKind::Missing) {
            auto bytes = m_fs.read_file(path);
            auto cache = bytes ? LdCache::parse(*bytes.value) : Parsed<LdCache>::fail(bytes.error);
            if (cache) {
                m_cache = std::move(*cache.value);
            } else {
                m_warnings.push_back("ignoring " + path + ": " + cache.error);
            }
        }
    }
    return m_cache ? &*m_cache : nullptr;
}

const std::vector<std::string>& DependencyResolver::musl_system_dirs() {
    if (!m_musl_dirs) {
        m_musl_dirs = m_settings.musl_default_dirs;
        const std::string& file = m_settings.musl_path_file;
        if (m_fs.lstat(file).kind != FileKind::Missing) {
            auto text = m_fs.read_file(file);
            if (text) {
                m_musl_dirs->clear();
                for (auto& dir : split_list(*text.value, "\n:")) {
                    if (!dir.empty()) {
                        m_musl_dirs->push_back(dir);
                    }
                }
            } else {
                m_warnings.push_back("ignoring " + text.error);
            }
        }
    }
    return *m_musl_dirs;
}

std::vector<std::string> DependencyResolver::expand_search_path(const std::string& list, int owner) {
    std::vector<std::string> dirs;
    std::string origin = origin_of(owner);
    for (const auto& element : split_list(list, ":")) {
        auto dir = expand_dynamic_tokens(element, origin, m_settings);
        if (!dir) {
            continue;
        }
        dirs.push_back(join_path(m_settings.cwd, *dir));  // "" is the current directory
    }
    return dirs;
}

std::optional<std::string> DependencyResolver::search_dirs(const std::vector<std::string>& dirs,
                                                           const std::string& name, std::string* why) {
    for (const auto& dir : dirs) {
        std::string path = join_path(dir, name);
        Candidate c = examine(path);
        if (c.elf) {
            return path;
        }
        if (!c.rejected.empty()) {
            *why += (why->empty() ? "" : ", ") + c.rejected;
        }
    }
    return std::nullopt;
}

std::optional<std::string> DependencyResolver::search(const std::string& raw_name, int requester,
                                                      std::string* why) {
    auto name = expand_dynamic_tokens(raw_name, origin_of(requester), m_settings);
    if (!name) {
        return std::nullopt;
    }
    if (name->find('/') != std::string::npos) {
        return search_dirs({m_settings.cwd}, *name, why);
    }
    const LoadedObject& obj = m_objects[static_cast<size_t>(requester)];
    std::vector<std::string> library_path;
    for (const auto& dir : m_settings.library_path) {
        auto expanded = expand_search_path(dir, 0);
        library_path.insert(library_path.end(), expanded.begin(), expanded.end());
    }

    if (m_musl) {
        if (auto found = search_dirs(library_path, *name, why)) {
            return found;
        }
        for (int l = requester; l >= 0; l = m_objects[static_cast<size_t>(l)].loader) {
            const ElfInfo& elf = m_objects[static_cast<size_t>(l)].elf;
            const auto& list = elf.runpath ? elf.runpath : elf.rpath;
            if (list) {
                if (auto found = search_dirs(expand_search_path(*list, l), *name, why)) {
                    return found;
                }
            }
        }
        return search_dirs(musl_system_dirs(), *name, why);
    }

    if (!obj.elf.runpath) {
        for (int l = requester; l >= 0; l = m_objects[static_cast<size_t>(l)].loader) {
            const ElfInfo& elf = m_objects[static_cast<size_t>(l)].elf;
            if (elf.rpath && !elf.runpath) {
                if (auto found = search_dirs(expand_search_path(*elf.rpath, l), *name, why)) {
                    return found;
                }
            }
        }
    }
    if (auto found = search_dirs(library_path, *name, why)) {
        return found;
    }
    if (obj.elf.runpath) {
        if (auto found = search_dirs(expand_search_path(*obj.elf.runpath, requester), *name, why)) {
            return found;
        }
    }
    if (obj.elf.nodeflib) {
        return std::nullopt;
    }
    if (const LdCache* cache = ld_cache()) {
        std::string cached = cache->lookup(*name);
        if (!cached.empty() && examine(cached).elf) {
            return cached;
        }
    }
    return search_dirs(m_settings.glibc_default_dirs, *name, why);
}

Parsed<int> DependencyResolver::load_library(const std::string& name, int requester) {
    if (m_musl && is_musl_builtin(name)) {
        return Parsed<int>::ok(1);  // the interpreter
    }
    if (auto it = m_by_name.find(name); it != m_by_name.end()) {
        return Parsed<int>::ok(it->second);
    }
    std::string why;
    auto path = search(name, requester, &why);
    if (!path) {
        std::string message =
            name + " not found (needed by " + m_objects[static_cast<size_t>(requester)].path + ")";
        if (!why.empty()) {
            message += "; skipped " + why;
        }
        return Parsed<int>::fail(message);
    }
    Candidate c = examine(*path);  // found above, so acceptable
    if (auto it = m_by_file.find(c.id); it != m_by_file.end()) {
        m_by_name.emplace(name, it->second);  // the same file under another name or path
        return Parsed<int>::ok(it->second);
    }
    LoadedObject object{*path, name, requester, std::move(*c.elf)};
    return Parsed<int>::ok(add_object(std::move(object), c.id));
}

Status DependencyResolver::load_needed_breadth_first(size_t first) {
    std::string errors;
    for (size_t i = first; i < m_objects.size(); ++i) {
        std::vector<std::string> needed = m_objects[i].elf.needed;  // m_objects may grow
        for (const auto& name : needed) {
            auto loaded = load_library(name, static_cast<int>(i));
            if (!loaded) {
                errors += (errors.empty() ? "" : "; ") + loaded.error;
            }
        }
    }
    return errors.empty() ? Status::ok() : Status::fail(errors);
}

Status DependencyResolver::load_program(const std::string& path) {
    auto real = real_path(m_fs, path);
    if (!real) {
        return Status::fail("program not found: " + real.error);
    }
    auto bytes = m_fs.read_file(*real.value);
    if (!bytes) {
        return Status::fail(bytes.error);
    }
    ElfResult elf = parse_elf(*bytes.value);
    if (!elf) {
        return Status::fail(elf_error_message(elf, path));
    }
    if (std::string why = why_not_a_program(*elf.info); !why.empty()) {
        return Status::fail("not executable: " + path + " (" + why + ")");
    }
    FileStat st = m_fs.lstat(*real.value);
    m_program_origin = parent_path(*real.value);
    std::string interpreter = elf.info->interpreter;
    bool needs_libraries = !elf.info->needed.empty();
    add_object(LoadedObject{path, "", -1, std::move(*elf.info)}, {st.device, st.inode});

    if (interpreter.empty()) {
        if (needs_libraries) {
            return Status::fail(path + " needs shared libraries but names no interpreter (PT_INTERP)");
        }
        return Status::ok();  // static or static-pie: nothing else to load
    }
    m_musl = std::string(base_name(interpreter)).rfind("ld-musl-", 0) == 0;
    if (interpreter.front() != '/') {
        return Status::fail("interpreter " + interpreter + " of " + path + " is not an absolute path");
    }
    if (!real_path(m_fs, interpreter)) {
        return Status::fail("interpreter " + interpreter + " of " + path + " not found" +
                            (m_musl ? " (install musl)" : ""));
    }
    Candidate interp = examine(interpreter);
    if (!interp.elf) {
        return Status::fail("interpreter " + interpreter + " of " + path + " is not usable: " +
                            (interp.rejected.empty() ? "not a regular file" : interp.rejected));
    }
    add_object(LoadedObject{interpreter, "", 0, std::move(*interp.elf)}, interp.id);
    return load_needed_breadth_first(0);
}

Status DependencyResolver::load_module(const std::string& path) {
    if (m_objects.empty()) {
        return Status::fail("load_module before load_program");
    }
    auto real = real_path(m_fs, path);
    if (!real) {
        return Status::fail(real.error);
    }
    auto bytes = m_fs.read_file(*real.value);
    if (!bytes) {
        return Status::fail(bytes.error);
    }
    ElfResult elf = parse_elf(*bytes.value);
    if (!elf) {
        return Status::fail(elf_error_message(elf, path));
    }
    FileStat st = m_fs.lstat(*real.value);
    if (m_by_file.count({st.device, st.inode}) != 0) {
        return Status::ok();  // already loaded (a library the program needs)
    }
    size_t index = m_objects.size();
    add_object(LoadedObject{path, "", 0, std::move(*elf.info), true}, {st.device, st.inode});
    return load_needed_breadth_first(index);
}

} // namespace runner
