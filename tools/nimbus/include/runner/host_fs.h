// The host file system as the image builder sees it: an interface, so that dependency
// resolution and image planning are pure code tested against an in-memory fake, and one real
// implementation over POSIX calls (RealHostFs, lib/real_host_fs.cc).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runner/options.h"

namespace runner {

// Linux's limit on symlinks followed in one path resolution (ELOOP beyond it).
inline constexpr int kMaxSymlinks = 40;

enum class FileKind { Missing, Regular, Directory, Symlink, Other };

// What lstat() says about a path; `kind` is Missing when the path does not exist (or cannot
// be examined: a component is not a directory, permission denied).
struct FileStat {
    FileKind kind = FileKind::Missing;
    uint32_t mode = 0;  // permission bits (07777)
    uint64_t size = 0;
    int64_t mtime_sec = 0;
    uint32_t mtime_nsec = 0;
    uint64_t device = 0;  // with `inode`: the file's identity (hard links, one library twice)
    uint64_t inode = 0;
};

class HostFs {
public:
    virtual ~HostFs() = default;

    // Does not follow a final symlink. Paths are absolute.
    virtual FileStat lstat(const std::string& path) = 0;
    // The target text of a symlink, unchanged (relative or absolute).
    virtual Parsed<std::string> read_link(const std::string& path) = 0;
    // A regular file's whole contents (follows symlinks).
    virtual Parsed<std::string> read_file(const std::string& path) = 0;
    // A directory's entry names without "." and "..", sorted bytewise (deterministic images).
    virtual Parsed<std::vector<std::string>> list_directory(const std::string& path) = 0;
};

// The real file system. Error messages are "cannot read PATH: <strerror>".
class RealHostFs final : public HostFs {
public:
    FileStat lstat(const std::string& path) override;
    Parsed<std::string> read_link(const std::string& path) override;
    Parsed<std::string> read_file(const std::string& path) override;
    Parsed<std::vector<std::string>> list_directory(const std::string& path) override;
};

// The symlink-free absolute path of `path` (every symlink followed, at most 40 of them, as
// Linux allows), or an error: "PATH: no such file or directory", "... too many levels of
// symbolic links", "... not a directory".
Parsed<std::string> real_path(HostFs&, const std::string& path);

// Lexical path helpers (no file-system access). Paths use '/' only.

// Removes "." components, duplicate and trailing slashes, and resolves ".." lexically
// ("/a/b/../c" -> "/a/c", ".." at the root stays at the root). "" stays "".
std::string normalize_path(std::string_view path);

// "/a/b/c" -> "/a/b"; "/a" -> "/"; "/" -> "/".
std::string parent_path(std::string_view path);

// "/a/b/c" -> "c"; "/" -> "".
std::string_view base_name(std::string_view path);

// dir + "/" + name, normalised; an absolute `name` replaces `dir`.
std::string join_path(std::string_view dir, std::string_view name);

// The components of a normalised absolute path: "/a/b" -> {"a", "b"}; "/" -> {}.
std::vector<std::string> split_path(std::string_view path);

} // namespace runner
