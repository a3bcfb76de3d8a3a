// Host-side writer of Nimbus root images (the imagefs format, docs/image-format.md), and the
// checker and lister that read an image back with the kernel's own reader.
//
// Host tools only: C++20 with the standard library. Nothing here throws; every failure is
// returned as a value carrying a one-line message.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace image {

// The outcome of a builder operation: an empty message means success.
struct Error {
    std::string message;

    bool ok() const { return message.empty(); }
};

// Metadata of a file or directory. `mode` holds only the permission bits (07777); the type
// bits come from the kind of node. Timestamps are stored verbatim, so images are
// reproducible.
struct FileMeta {
    uint32_t mode = 0644;
    uint32_t uid = 0, gid = 0;
    int64_t mtime_sec = 0;
    uint32_t mtime_nsec = 0; // < 1'000'000'000
};

// Collects a tree in memory and writes it as one image file.
//
// Paths are absolute guest paths ("/usr/bin/python3"); repeated slashes and a trailing slash
// are accepted, "." and ".." components are not. Missing parent directories are created with
// mode 0755, owner 0:0 and mtime 0; a parent component that exists but is not a directory
// is an error (symbolic links are never followed while building). Adding the same path
// twice: the same kind -> the last file or symlink wins (the new node replaces the entry, so
// other hard links keep the old one), directories merge and take the newest metadata; a
// different kind -> error.
class Builder {
public:
    Builder();
    ~Builder();
    Builder(const Builder&) = delete;
    Builder& operator=(const Builder&) = delete;

    Error add_directory(const std::string& guest_path, FileMeta meta = {0755});
    // The host file is opened, sized and copied at write() time, not now.
    Error add_file_from_host(const std::string& guest_path, const std::string& host_path, FileMeta meta);
    Error add_file_contents(const std::string& guest_path, std::string contents, FileMeta meta);
    // Symbolic links get mode 0777, owner 0:0, mtime 0. The target is stored as given
    // (1..4095 bytes, no NUL) and may dangle.
    Error add_symlink(const std::string& guest_path, const std::string& target);
    // A second name for an existing file or symlink (directories cannot be hard-linked).
    Error add_hard_link(const std::string& guest_path, const std::string& existing_guest_path);

    // Writes the image to output_path (through a temporary file renamed into place) and
    // reads it back with the kernel's reader. Deterministic: the same calls give the same
    // bytes. Holes in host files stay holes in the output.
    Error write(const std::string& output_path);

    // Regular-file inodes (hard links count once).
    size_t file_count() const;
    // Sum of their sizes; files from the host are sized now (0 if they cannot be).
    uint64_t data_bytes() const;

private:
    struct Node; // the in-memory tree, defined in builder.cc

    Error resolve(const std::string& guest_path, bool create_parents, std::vector<std::string>& components,
                  std::shared_ptr<Node>& parent, std::shared_ptr<Node>& existing);
    Error place(const std::string& guest_path, std::shared_ptr<Node> node);

    std::shared_ptr<Node> m_root;
};

// Validates an image file with the same reader the kernel uses; returns "" if valid or the
// reason (one line).
std::string check_image(const std::string& path);

// Lists an image's tree for tests and debugging, depth first in name order, one line per
// directory entry (the root first as "/"):
//   <path> <dir|file|symlink> <mode, 4 octal digits> <uid>:<gid> <size>[ -> <target>][ links=<n>]
// where size is the byte size for files and link targets and the entry count for
// directories, and links= appears for files and symlinks with more than one name. Control
// bytes and backslashes in names and targets are written as \xNN. An invalid image gives
// "error: <reason>\n".
std::string list_image(const std::string& path);

} // namespace image
