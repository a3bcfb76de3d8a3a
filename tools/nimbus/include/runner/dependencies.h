// Which shared libraries a program needs, found the way the host's dynamic linker would find
// them, without running anything (no ldd): the program's PT_INTERP, then breadth-first every
// DT_NEEDED of every loaded object, each library loaded once.
//
// glibc (ld.so(8)), for a name without '/' needed by object O:
//   1. DT_RPATH of O, then of the object that loaded O, and so on up to the program — only
//      while O has no DT_RUNPATH, and skipping objects that have one;
//   2. the --library-path directories (in place of LD_LIBRARY_PATH, which is ignored);
//   3. DT_RUNPATH of O;
//   4. /etc/ld.so.cache, 5. the default directories — both skipped if O has DF_1_NODEFLIB.
// musl (interpreter ld-musl-*.so.1): the --library-path directories, then DT_RUNPATH (else
// DT_RPATH) of O and of its loaders, then /etc/ld-musl-x86_64.path (else /lib,
// /usr/local/lib, /usr/lib); libc.so, libm.so, libpthread.so etc. are the interpreter itself.
// A name containing '/' is a path (relative to the current directory). $ORIGIN, $LIB and
// $PLATFORM are expanded in search paths and names (an unknown $NAME drops that directory).
// A candidate that is not an ELF64 x86-64 file is skipped, as ld.so skips a wrong-class
// library. A needed name already loaded (by an earlier name, its SONAME, or the same file
// under another path) is not loaded again. Not modelled: glibc-hwcaps and legacy hwcap
// subdirectories (tls/, haswell/, x86_64/), LD_PRELOAD, /etc/ld.so.preload, DT_AUDIT.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "runner/elf_file.h"
#include "runner/host_fs.h"
#include "runner/ld_cache.h"

namespace runner {

// Where and how to search; the defaults are Debian's x86-64 glibc and musl.
struct ResolveSettings {
    std::vector<std::string> library_path;  // --library-path, searched like LD_LIBRARY_PATH
    std::vector<std::string> glibc_default_dirs = {"/lib/x86_64-linux-gnu",
                                                   "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib"};
    std::vector<std::string> musl_default_dirs = {"/lib", "/usr/local/lib", "/usr/lib"};
    std::string ld_cache_path = "/etc/ld.so.cache";
    std::string musl_path_file = "/etc/ld-musl-x86_64.path";
    std::string lib_expansion = "lib/x86_64-linux-gnu";  // $LIB (Debian multiarch)
    std::string platform_expansion = "x86_64";           // $PLATFORM
    std::string cwd = "/";  // for relative paths in search paths and DT_NEEDED names
};

// One object of the process image.
struct LoadedObject {
    std::string path;         // host path where it was found (not symlink-resolved)
    std::string needed_name;  // the DT_NEEDED name that brought it in ("" for program, interpreter)
    int loader = -1;          // index of the object whose DT_NEEDED first named it
    ElfInfo elf;
    bool is_module = false;   // added by load_module(), not by a DT_NEEDED
};

class DependencyResolver {
public:
    DependencyResolver(HostFs& fs, ResolveSettings settings);

    // Loads the program (an absolute path): it must be an ELF64 x86-64 program; then its
    // interpreter and every library. Errors are one line, e.g. "not an ELF file: /x",
    // "libfoo.so.1 not found (needed by /usr/bin/app)". Call once, first.
    Status load_program(const std::string& path);

    // Loads what a module opened later with dlopen (a Python extension, a plugin) needs, as
    // if the program opened it. The first missing library is the error; the libraries found
    // stay loaded. Needs load_program() first. A module that is not an x86-64 ELF is an error.
    Status load_module(const std::string& path);

    // Program first, then the interpreter (if any), then libraries in load order; modules
    // appear where load_module() put them.
    const std::vector<LoadedObject>& objects() const { return m_objects; }

    // Notes worth showing the user (an unreadable ld.so.cache, ...).
    const std::vector<std::string>& warnings() const { return m_warnings; }

    bool is_musl() const { return m_musl; }

private:
    struct Identity {
        uint64_t device, inode;
        bool operator<(const Identity& o) const {
            return device != o.device ? device < o.device : inode < o.inode;
        }
    };
    // A candidate file that the loader would accept, or why not (for the error message).
    struct Candidate {
        std::optional<ElfInfo> elf;
        Identity id{};
        std::string rejected;  // e.g. "/x/libfoo.so: 32-bit ELF"
    };

    Candidate examine(const std::string& path);
    Candidate examine_uncached(const std::string& path);
    int add_object(LoadedObject object, Identity id);
    Status load_needed_breadth_first(size_t first);
    Parsed<int> load_library(const std::string& name, int requester);
    std::optional<std::string> search(const std::string& name, int requester, std::string* why);
    std::optional<std::string> search_dirs(const std::vector<std::string>& dirs,
                                           const std::string& name, std::string* why);
    std::vector<std::string> expand_search_path(const std::string& list, int owner);
    std::string origin_of(int index) const;
    const LdCache* ld_cache();
    const std::vector<std::string>& musl_system_dirs();

    HostFs& m_fs;
    ResolveSettings m_settings;
    bool m_musl = false;
    std::vector<LoadedObject> m_objects;
    std::map<std::string, int> m_by_name;  // needed names, sonames and paths -> object
    std::map<Identity, int> m_by_file;
    std::string m_program_origin;
    std::optional<LdCache> m_cache;
    bool m_cache_loaded = false;
    std::optional<std::vector<std::string>> m_musl_dirs;
    std::vector<std::string> m_warnings;
    std::optional<std::pair<std::string, Candidate>> m_last_examined;
};

// Expands $ORIGIN, $LIB and $PLATFORM (also as ${NAME}) in `text`; nullopt when it uses
// another $NAME (ld.so then ignores that search directory or name).
std::optional<std::string> expand_dynamic_tokens(std::string_view text, std::string_view origin,
                                                 const ResolveSettings&);

} // namespace runner
