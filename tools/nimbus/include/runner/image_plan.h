// The planned contents of a root image: every directory, file and symlink by guest path,
// with where its data comes from. Built from host paths by reproducing them exactly —
// including each symlink met on the way — so that paths inside the guest match the host's
// (/lib -> usr/lib on merged-/usr systems, /lib64/ld-linux-x86-64.so.2 -> the real loader).
// Pure (host access through HostFs); the I/O layer hands the finished plan to image::Builder.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "runner/host_fs.h"

namespace runner {

struct PlanEntry {
    enum class Kind { Directory, File, Symlink };
    Kind kind = Kind::Directory;
    uint32_t mode = 0755;   // permission bits
    std::string host_path;  // File: where the data is read from; "" for inline contents
    std::string contents;   // File without host_path: its bytes
    std::string target;     // Symlink: the target text, unchanged
    FileStat stat;          // File from the host: size, mtime, identity (hard links, cache key)
};

// A regular file added from the host: (guest path, host path).
struct AddedFile {
    std::string guest_path;
    std::string host_path;
};

class ImagePlan {
public:
    // True for a host path (absolute) that a tree copy should leave out, with its subtree.
    using Skip = std::function<bool(const std::string& host_path)>;

    // Puts host `path` (absolute) at the same guest path: each directory on the way becomes
    // a directory, each symlink on the way (a component or the last element) the same
    // symlink, which is then followed — at most kMaxSymlinks of them. A final directory is
    // added empty. Returns the symlink-free path of what `path` names.
    Parsed<std::string> add_host_path(HostFs&, const std::string& path);

    // Copies host `host` (a file or a directory tree; a symlink there is followed first) to
    // guest path `guest`. Symlinks inside the tree are copied as symlinks, targets unchanged;
    // sockets, FIFOs and devices are left out (noted in *warnings). The guest path's
    // directories are looked up through the symlinks already planned (so "/lib/x" lands in
    // /usr/lib/x when /lib -> usr/lib), missing ones created. Regular files added are
    // appended to *files.
    Status add_tree(HostFs&, const std::string& host, const std::string& guest, const Skip& skip,
                    std::vector<AddedFile>* files, std::vector<std::string>* warnings);

    // Like add_tree with guest = host, but the host path itself is reproduced with its
    // symlinks as add_host_path() does.
    Status add_host_tree(HostFs&, const std::string& host, const Skip& skip,
                         std::vector<AddedFile>* files, std::vector<std::string>* warnings);

    // A directory (merged with an existing one; parents created 0755).
    Status add_directory(const std::string& guest, uint32_t mode);

    // A file with the given bytes; replaces an earlier file at that path.
    Status add_contents(const std::string& guest, std::string contents, uint32_t mode);

    bool contains(const std::string& guest) const { return m_entries.count(guest) != 0; }
    const std::map<std::string, PlanEntry>& entries() const { return m_entries; }
    size_t file_count() const;
    uint64_t data_bytes() const;

private:
    Status put(const std::string& guest, PlanEntry entry);
    Status ensure_directories(const std::string& guest);
    Parsed<std::string> resolve_guest_parent(const std::string& guest) const;
    Status copy_tree(HostFs&, const std::string& host, const std::string& guest, const Skip& skip,
                     std::vector<AddedFile>* files, std::vector<std::string>* warnings, int depth);

    std::map<std::string, PlanEntry> m_entries;  // by normalised guest path; "/" is implicit
};

} // namespace runner
