// What goes into the root image of `nimbus image` / `nimbus run PROGRAM`: the program at its
// host path, its interpreter and libraries (dependencies.h), a minimal /etc, empty /tmp /dev
// /proc /sys, the tree of a known interpreter (Python), the user's --add and --manifest
// entries, and the libraries needed by every shared object those bring in. Pure: host
// access through HostFs.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runner/dependencies.h"
#include "runner/image_plan.h"

namespace runner {

// One --add or manifest line: host file or directory, and where it goes (default: the same
// path, reproduced with its symlinks).
struct AddSpec {
    std::string host;                  // absolute
    std::optional<std::string> guest;  // absolute, normalised
    std::string origin;                // for messages: "--add X" or "FILE:LINE"
};

// "HOST[:GUEST]" (split at the first ':'). A relative HOST is taken from `base_dir`; GUEST
// must be absolute. Errors name the problem ("GUEST must be an absolute path: ...").
Parsed<AddSpec> parse_add_spec(std::string_view text, std::string_view base_dir,
                               std::string_view origin);

// A manifest: one HOST[:GUEST] per line; blank lines and lines starting with '#' ignored,
// surrounding blanks trimmed. Relative HOSTs are relative to `base_dir` (the manifest's
// directory). Errors are "MANIFEST:LINE: message".
Parsed<std::vector<AddSpec>> parse_manifest(std::string_view text, std::string_view manifest_name,
                                            std::string_view base_dir);

// Finds PROGRAM as a shell does: a name with '/' is taken relative to `cwd`; a bare name is
// looked up in the ':'-separated `path_env` (an empty element is `cwd`) for an executable
// regular file. Returns the absolute path (symlinks not resolved).
Parsed<std::string> find_program(HostFs&, std::string_view name, std::string_view path_env,
                                 std::string_view cwd);

// For a program whose real file is named pythonX.Y: the library tree to add
// (<prefix>/lib/pythonX.Y, <prefix> being the parent of the program's directory).
std::optional<std::string> python_library_dir(std::string_view program_real_path);

// True for a file name that looks like a shared object ("x.so", "libx.so.1.2").
bool is_shared_object_name(std::string_view name);

// The generated /etc files: (guest path, contents).
std::vector<std::pair<std::string, std::string>> base_etc_files();

struct ImageRequest {
    std::string program;  // absolute host path
    std::vector<AddSpec> adds;
    ResolveSettings resolve;
};

struct ImageContents {
    ImagePlan plan;
    std::vector<LoadedObject> objects;  // program, interpreter, libraries, modules
    std::vector<std::string> warnings;  // one line each, for "nimbus: warning: ..."
};

// Collects everything; errors are one line (a missing library names who needs it).
Parsed<ImageContents> collect_image_contents(HostFs&, const ImageRequest&);

} // namespace runner
