// Builder: the in-memory tree, the layout of an imagefs image and its writing; check_image
// and list_image read images back through the kernel's reader (kernel/imagefs).
//
// Layout decisions (docs/image-format.md): directories get inos 1..D in breadth-first
// order, children in name order, which is what the format's "a subdirectory's ino is
// greater than its parent's" rule asks for; files and symlinks follow in the order of their
// first entry. Names are stored first in the string table (entries address them with 32
// bits), then link targets, each distinct string once. File data follows the metadata in ino
// order, each file starting on a page boundary; gaps are never written, so they are holes
// (zeros) in the output file, as are holes of the host files, which are found with
// SEEK_DATA/SEEK_HOLE.
#include "image/builder.h"

#include <imagefs/crc32c.h>
#include <imagefs/format.h>
#include <imagefs/image.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <optional>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace image {

struct Builder::Node {
    enum class Kind { Directory, File, Symlink };

    Kind kind = Kind::Directory;
    FileMeta meta;
    std::map<std::string, std::shared_ptr<Node>> children; // directories; byte order
    bool from_host = false;                                // files: host_path, else contents
    std::string contents;
    std::string host_path;
    std::string target; // symlinks
};

namespace {

constexpr uint64_t kPage = imagefs::kPageSize;
constexpr size_t kCopyChunk = 1 << 20;

uint64_t align_up(uint64_t v) { return (v + kPage - 1) & ~(kPage - 1); }

Error fail(std::string message) { return Error{std::move(message)}; }

std::string errno_text() { return std::strerror(errno); }

// The components of an absolute guest path, or an error message.
struct SplitPath {
    std::vector<std::string> components;
    std::string error;
};

SplitPath split_path(const std::string& path)
{
    SplitPath out;
    if (path.empty() || path[0] != '/') {
        out.error = "\"" + path + "\" is not an absolute guest path";
        return out;
    }
    size_t pos = 0;
    while (pos < path.size()) {
        size_t end = path.find('/', pos);
        if (end == std::string::npos)
            end = path.size();
        std::string c = path.substr(pos, end - pos);
        pos = end + 1;
        if (c.empty())
            continue;
        if (c == "." || c == "..") {
            out.error = path + ": \".\" and \"..\" are not allowed in guest paths";
            return out;
        }
        if (c.size() > imagefs::kMaxNameLength) {
            out.error = path + ": a component is longer than 255 bytes";
            return out;
        }
        if (c.find('\0') != std::string::npos) {
            out.error = path + ": a component contains a NUL byte";
            return out;
        }
        out.components.push_back(std::move(c));
    }
    return out;
}

std::string join(const std::vector<std::string>& components, size_t count)
{
    if (count == 0)
        return "/";
    std::string s;
    for (size_t i = 0; i < count; i++)
        s += "/" + components[i];
    return s;
}

Error check_meta(const std::string& path, const FileMeta& meta)
{
    if (meta.mode & ~imagefs::kModePermissionMask) {
        char buf[64];
        std::snprintf(buf, sizeof(buf), ": mode 0%o has bits outside 07777", meta.mode);
        return fail(path + buf);
    }
    if (meta.mtime_nsec >= 1'000'000'000)
        return fail(path + ": mtime nanoseconds " + std::to_string(meta.mtime_nsec) + " out of range");
    return {};
}

const char* kind_name(int kind)
{
    static const char* const names[] = {"a directory", "a file", "a symlink"};
    return names[kind];
}

// A read-only mapping of a whole file (empty files map nothing).
class MappedFile {
public:
    ~MappedFile()
    {
        if (m_data && m_data != MAP_FAILED)
            munmap(m_data, m_size);
    }

    std::string open(const std::string& path)
    {
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return "cannot open " + path + ": " + errno_text();
        struct stat st;
        if (fstat(fd, &st) != 0) {
            std::string e = "cannot stat " + path + ": " + errno_text();
            close(fd);
            return e;
        }
        m_size = size_t(st.st_size);
        if (m_size > 0) {
            m_data = mmap(nullptr, m_size, PROT_READ, MAP_PRIVATE, fd, 0);
            if (m_data == MAP_FAILED) {
                std::string e = "cannot map " + path + ": " + errno_text();
                close(fd);
                return e;
            }
        }
        close(fd);
        return {};
    }

    const void* data() const { return m_data == MAP_FAILED ? nullptr : m_data; }
    size_t size() const { return m_size; }

private:
    void* m_data = nullptr;
    size_t m_size = 0;
};

// Opens the image at `path` with the kernel's reader; on failure `error` says why.
struct OpenedImage {
    MappedFile file;
    std::optional<imagefs::Image> image;
    std::string error;
};

void open_image(const std::string& path, OpenedImage& out)
{
    out.error = out.file.open(path);
    if (!out.error.empty())
        return;
    imagefs::ErrorReport why;
    auto image = imagefs::Image::open(out.file.data(), out.file.size(), &why);
    if (image.is_error()) {
        out.error = why.message;
        return;
    }
    out.image = image.release_value();
}

// pwrite all of it, or an error message.
std::string write_all(int fd, const void* data, size_t size, uint64_t offset)
{
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
        ssize_t n = pwrite(fd, p, size, off_t(offset));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno_text();
        }
        p += n;
        size -= size_t(n);
        offset += uint64_t(n);
    }
    return {};
}

// Copies the `size` bytes of host file `fd` to `out` at `offset`, leaving holes as holes.
std::string copy_file_data(int fd, uint64_t size, int out, uint64_t offset, const std::string& host_path)
{
    std::vector<char> buffer(kCopyChunk);
    uint64_t pos = 0;
    while (pos < size) {
        // The next data region [data, hole); without SEEK_DATA support everything is data.
        off_t data = lseek(fd, off_t(pos), SEEK_DATA);
        if (data < 0) {
            if (errno == ENXIO)
                break; // only a hole remains
            data = off_t(pos);
        }
        if (uint64_t(data) >= size)
            break;
        off_t hole = lseek(fd, data, SEEK_HOLE);
        uint64_t end = hole < 0 ? size : std::min<uint64_t>(uint64_t(hole), size);
        for (uint64_t at = uint64_t(data); at < end;) {
            size_t want = size_t(std::min<uint64_t>(end - at, buffer.size()));
            ssize_t n = pread(fd, buffer.data(), want, off_t(at));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return "cannot read host file " + host_path + ": " + errno_text();
            if (n == 0)
                return "host file " + host_path + " shrank while the image was written";
            std::string e = write_all(out, buffer.data(), size_t(n), offset + at);
            if (!e.empty())
                return e;
            at += uint64_t(n);
        }
        pos = end;
    }
    return {};
}

// A path or link target for list_image: control bytes and backslashes as \xNN, so that
// each entry stays on one line.
std::string escaped(lib::StringView s)
{
    std::string out;
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f || c == '\\') {
            char buf[8];
            std::snprintf(buf, sizeof(buf), "\\x%02x", u);
            out += buf;
        } else {
            out += c;
        }
    }
    return out;
}

} // namespace

Builder::Builder() : m_root(std::make_shared<Node>())
{
    m_root->meta = FileMeta{0755};
}

Builder::~Builder() = default;

// Splits guest_path and finds its parent directory and the node now at the path (null if
// none). Without create_parents nothing changes and `parent` is null when a parent is
// missing; with it, missing parents are created. A non-directory parent is an error.
Error Builder::resolve(const std::string& guest_path, bool create_parents, std::vector<std::string>& components,
                       std::shared_ptr<Node>& parent, std::shared_ptr<Node>& existing)
{
    SplitPath split = split_path(guest_path);
    if (!split.error.empty())
        return fail(split.error);
    components = std::move(split.components);
    existing = nullptr;
    parent = nullptr;
    if (components.empty()) {
        existing = m_root;
        return {};
    }
    std::shared_ptr<Node> dir = m_root;
    for (size_t i = 0; i + 1 < components.size(); i++) {
        auto it = dir->children.find(components[i]);
        if (it == dir->children.end()) {
            if (!create_parents)
                return {}; // the path does not exist; the parent would be created
            auto created = std::make_shared<Node>();
            created->meta = FileMeta{0755};
            it = dir->children.emplace(components[i], std::move(created)).first;
        } else if (it->second->kind != Node::Kind::Directory) {
            return fail(guest_path + ": " + join(components, i + 1) + " is not a directory");
        }
        dir = it->second;
    }
    parent = dir;
    auto it = dir->children.find(components.back());
    if (it != dir->children.end())
        existing = it->second;
    return {};
}

// Binds guest_path to `node` (a file or symlink), replacing an entry of the same kind.
Error Builder::place(const std::string& guest_path, std::shared_ptr<Node> node)
{
    std::vector<std::string> components;
    std::shared_ptr<Node> parent, existing;
    // First without side effects, so that a failing call leaves the tree unchanged.
    if (Error e = resolve(guest_path, false, components, parent, existing); !e.ok())
        return e;
    if (components.empty())
        return fail(guest_path + ": the root is a directory");
    if (existing && existing->kind != node->kind)
        return fail(guest_path + " exists as " + kind_name(int(existing->kind)) + ", cannot add " +
                    kind_name(int(node->kind)));
    if (Error e = resolve(guest_path, true, components, parent, existing); !e.ok())
        return e;
    parent->children[components.back()] = std::move(node);
    return {};
}

Error Builder::add_directory(const std::string& guest_path, FileMeta meta)
{
    if (Error e = check_meta(guest_path, meta); !e.ok())
        return e;
    std::vector<std::string> components;
    std::shared_ptr<Node> parent, existing;
    if (Error e = resolve(guest_path, false, components, parent, existing); !e.ok())
        return e;
    if (existing && existing->kind != Node::Kind::Directory)
        return fail(guest_path + " exists as " + kind_name(int(existing->kind)) + ", cannot add a directory");
    if (Error e = resolve(guest_path, true, components, parent, existing); !e.ok())
        return e;
    if (!existing) {
        existing = std::make_shared<Node>();
        parent->children[components.back()] = existing;
    }
    existing->meta = meta;
    return {};
}

Error Builder::add_file_from_host(const std::string& guest_path, const std::string& host_path, FileMeta meta)
{
    if (Error e = check_meta(guest_path, meta); !e.ok())
        return e;
    if (host_path.empty())
        return fail(guest_path + ": empty host path");
    auto node = std::make_shared<Node>();
    node->kind = Node::Kind::File;
    node->meta = meta;
    node->from_host = true;
    node->host_path = host_path;
    return place(guest_path, std::move(node));
}

Error Builder::add_file_contents(const std::string& guest_path, std::string contents, FileMeta meta)
{
    if (Error e = check_meta(guest_path, meta); !e.ok())
        return e;
    auto node = std::make_shared<Node>();
    node->kind = Node::Kind::File;
    node->meta = meta;
    node->contents = std::move(contents);
    return place(guest_path, std::move(node));
}

Error Builder::add_symlink(const std::string& guest_path, const std::string& target)
{
    if (target.empty() || target.size() > imagefs::kMaxLinkTargetLength)
        return fail(guest_path + ": symlink target length " + std::to_string(target.size()) + ", must be 1..4095");
    if (target.find('\0') != std::string::npos)
        return fail(guest_path + ": symlink target contains a NUL byte");
    auto node = std::make_shared<Node>();
    node->kind = Node::Kind::Symlink;
    node->meta = FileMeta{0777};
    node->target = target;
    return place(guest_path, std::move(node));
}

Error Builder::add_hard_link(const std::string& guest_path, const std::string& existing_guest_path)
{
    std::vector<std::string> components;
    std::shared_ptr<Node> parent, target;
    if (Error e = resolve(existing_guest_path, false, components, parent, target); !e.ok())
        return e;
    if (!target)
        return fail(guest_path + ": hard-link target " + existing_guest_path + " does not exist");
    if (target->kind == Node::Kind::Directory)
        return fail(guest_path + ": hard-link target " + existing_guest_path + " is a directory");
    return place(guest_path, target);
}

size_t Builder::file_count() const
{
    std::unordered_set<const Node*> seen;
    std::vector<const Node*> stack{m_root.get()};
    while (!stack.empty()) {
        const Node* dir = stack.back();
        stack.pop_back();
        for (const auto& [name, child] : dir->children) {
            if (child->kind == Node::Kind::Directory)
                stack.push_back(child.get());
            else if (child->kind == Node::Kind::File)
                seen.insert(child.get());
        }
    }
    return seen.size();
}

uint64_t Builder::data_bytes() const
{
    std::unordered_set<const Node*> seen;
    std::vector<const Node*> stack{m_root.get()};
    uint64_t total = 0;
    while (!stack.empty()) {
        const Node* dir = stack.back();
        stack.pop_back();
        for (const auto& [name, child] : dir->children) {
            if (child->kind == Node::Kind::Directory) {
                stack.push_back(child.get());
                continue;
            }
            if (child->kind != Node::Kind::File || !seen.insert(child.get()).second)
                continue;
            if (!child->from_host) {
                total += child->contents.size();
                continue;
            }
            struct stat st;
            if (::stat(child->host_path.c_str(), &st) == 0 && S_ISREG(st.st_mode))
                total += uint64_t(st.st_size);
        }
    }
    return total;
}

Error Builder::write(const std::string& output_path)
{
    using imagefs::DiskEntry;
    using imagefs::DiskHeader;
    using imagefs::DiskInode;
    using imagefs::kNoEntry;

    // Inode numbers: directories breadth first (each directory's children in name order),
    // then the rest in the order their first entry appears.
    std::vector<const Node*> inodes{nullptr, m_root.get()};
    std::unordered_map<const Node*, uint32_t> ino_of{{m_root.get(), imagefs::kRootIno}};
    for (size_t i = imagefs::kRootIno; i < inodes.size(); i++) {
        for (const auto& [name, child] : inodes[i]->children) {
            if (child->kind == Node::Kind::Directory) {
                ino_of[child.get()] = uint32_t(inodes.size());
                inodes.push_back(child.get());
            }
        }
    }
    size_t directory_count = inodes.size() - 1;
    struct Entry {
        const std::string* name;
        uint32_t ino;
    };
    std::vector<Entry> entries;
    for (size_t d = imagefs::kRootIno; d <= directory_count; d++) {
        for (const auto& [name, child] : inodes[d]->children) {
            auto [it, inserted] = ino_of.try_emplace(child.get(), uint32_t(inodes.size()));
            if (inserted)
                inodes.push_back(child.get());
            entries.push_back({&name, it->second});
        }
    }
    if (inodes.size() >= kNoEntry || entries.size() >= kNoEntry)
        return fail("too many files for one image (" + std::to_string(inodes.size()) + " inodes, " +
                    std::to_string(entries.size()) + " entries)");

    // Strings: entry names first (addressed with 32 bits), then link targets.
    std::string strings;
    std::unordered_map<std::string, uint64_t> string_at;
    auto intern = [&](const std::string& s) {
        auto [it, inserted] = string_at.try_emplace(s, strings.size());
        if (inserted)
            strings += s;
        return it->second;
    };
    std::vector<DiskEntry> disk_entries(entries.size());
    for (size_t k = 0; k < entries.size(); k++) {
        disk_entries[k].name_offset = uint32_t(intern(*entries[k].name));
        disk_entries[k].name_length = uint16_t(entries[k].name->size());
        disk_entries[k].ino = entries[k].ino;
        disk_entries[k].next_link = kNoEntry;
        if (strings.size() > UINT32_MAX)
            return fail("entry names exceed the 4 GiB the format can address");
    }

    // Inodes, link chains and link counts.
    std::vector<DiskInode> disk_inodes(inodes.size());
    std::vector<uint32_t> last_link(inodes.size(), kNoEntry);
    for (uint32_t ino = imagefs::kRootIno; ino < inodes.size(); ino++)
        disk_inodes[ino].first_link = kNoEntry;
    for (uint32_t k = 0; k < entries.size(); k++) {
        uint32_t ino = entries[k].ino;
        if (last_link[ino] == kNoEntry)
            disk_inodes[ino].first_link = k;
        else
            disk_entries[last_link[ino]].next_link = k;
        last_link[ino] = k;
        disk_inodes[ino].nlink++;
    }

    uint64_t metadata_size = sizeof(DiskHeader) + inodes.size() * sizeof(DiskInode) +
                             entries.size() * sizeof(DiskEntry);
    uint64_t entry_cursor = 0;
    std::vector<uint64_t> host_sizes(inodes.size(), 0);
    for (uint32_t ino = imagefs::kRootIno; ino < inodes.size(); ino++) {
        const Node* n = inodes[ino];
        DiskInode& in = disk_inodes[ino];
        in.uid = n->meta.uid;
        in.gid = n->meta.gid;
        in.mtime_sec = n->meta.mtime_sec;
        in.mtime_nsec = n->meta.mtime_nsec;
        switch (n->kind) {
        case Node::Kind::Directory: {
            in.mode = imagefs::kModeDirectory | n->meta.mode;
            in.offset = entry_cursor;
            in.size = n->children.size();
            entry_cursor += n->children.size();
            uint32_t subdirs = 0;
            for (const auto& [name, child] : n->children) {
                if (child->kind == Node::Kind::Directory) {
                    subdirs++;
                    disk_inodes[ino_of[child.get()]].parent = ino;
                }
            }
            in.nlink = 2 + subdirs;
            break;
        }
        case Node::Kind::Symlink:
            in.mode = imagefs::kModeSymlink | n->meta.mode;
            in.offset = intern(n->target);
            in.size = n->target.size();
            break;
        case Node::Kind::File:
            in.mode = imagefs::kModeRegular | n->meta.mode;
            if (!n->from_host) {
                in.size = n->contents.size();
                break;
            }
            struct stat st;
            if (::stat(n->host_path.c_str(), &st) != 0)
                return fail("cannot read host file " + n->host_path + ": " + errno_text());
            if (!S_ISREG(st.st_mode))
                return fail("host file " + n->host_path + " is not a regular file");
            in.size = host_sizes[ino] = uint64_t(st.st_size);
            break;
        }
    }
    disk_inodes[imagefs::kRootIno].parent = imagefs::kRootIno;
    metadata_size += strings.size();

    // File data, page by page after the metadata.
    uint64_t cursor = align_up(metadata_size);
    for (uint32_t ino = imagefs::kRootIno; ino < inodes.size(); ino++) {
        DiskInode& in = disk_inodes[ino];
        if (inodes[ino]->kind != Node::Kind::File || in.size == 0)
            continue;
        in.offset = cursor;
        cursor = align_up(cursor + in.size);
    }
    uint64_t image_size = cursor;

    DiskHeader header{};
    std::memcpy(header.magic, imagefs::kMagic, sizeof(header.magic));
    header.version = imagefs::kVersion;
    header.image_size = image_size;
    header.metadata_size = metadata_size;
    header.inode_offset = sizeof(DiskHeader);
    header.entry_offset = header.inode_offset + inodes.size() * sizeof(DiskInode);
    header.string_offset = header.entry_offset + entries.size() * sizeof(DiskEntry);
    header.string_size = strings.size();
    header.inode_count = uint32_t(inodes.size());
    header.entry_count = uint32_t(entries.size());

    std::vector<uint8_t> metadata(metadata_size);
    std::memcpy(metadata.data() + header.inode_offset, disk_inodes.data(), inodes.size() * sizeof(DiskInode));
    if (!disk_entries.empty())
        std::memcpy(metadata.data() + header.entry_offset, disk_entries.data(), entries.size() * sizeof(DiskEntry));
    std::memcpy(metadata.data() + header.string_offset, strings.data(), strings.size());
    header.metadata_crc = imagefs::crc32c(metadata.data() + sizeof(DiskHeader), metadata_size - sizeof(DiskHeader));
    header.header_crc = imagefs::crc32c(&header, offsetof(DiskHeader, header_crc));
    std::memcpy(metadata.data(), &header, sizeof(header));

    // Write to a temporary file next to the output, then rename it into place.
    std::string temp_path = output_path + ".tmp";
    int out = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0)
        return fail("cannot create " + temp_path + ": " + errno_text());
    auto abandon = [&](std::string message) {
        close(out);
        unlink(temp_path.c_str());
        return fail(std::move(message));
    };
    if (std::string e = write_all(out, metadata.data(), metadata.size(), 0); !e.empty())
        return abandon("cannot write " + temp_path + ": " + e);
    for (uint32_t ino = imagefs::kRootIno; ino < inodes.size(); ino++) {
        const Node* n = inodes[ino];
        const DiskInode& in = disk_inodes[ino];
        if (n->kind != Node::Kind::File || in.size == 0)
            continue;
        if (!n->from_host) {
            if (std::string e = write_all(out, n->contents.data(), n->contents.size(), in.offset); !e.empty())
                return abandon("cannot write " + temp_path + ": " + e);
            continue;
        }
        int fd = ::open(n->host_path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return abandon("cannot read host file " + n->host_path + ": " + errno_text());
        struct stat st;
        std::string e;
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || uint64_t(st.st_size) != host_sizes[ino])
            e = "host file " + n->host_path + " changed while the image was written";
        else
            e = copy_file_data(fd, host_sizes[ino], out, in.offset, n->host_path);
        close(fd);
        if (!e.empty())
            return abandon(e);
    }
    if (ftruncate(out, off_t(image_size)) != 0)
        return abandon("cannot size " + temp_path + ": " + errno_text());
    if (close(out) != 0) {
        unlink(temp_path.c_str());
        return fail("cannot write " + temp_path + ": " + errno_text());
    }

    // The writer and the reader are separate code: read the result back before publishing it.
    if (std::string why = check_image(temp_path); !why.empty()) {
        unlink(temp_path.c_str());
        return fail("internal error: the written image does not validate: " + why);
    }
    if (rename(temp_path.c_str(), output_path.c_str()) != 0) {
        std::string e = "cannot rename " + temp_path + " to " + output_path + ": " + errno_text();
        unlink(temp_path.c_str());
        return fail(e);
    }
    return {};
}

std::string check_image(const std::string& path)
{
    OpenedImage opened;
    open_image(path, opened);
    return opened.error;
}

std::string list_image(const std::string& path)
{
    OpenedImage opened;
    open_image(path, opened);
    if (!opened.error.empty())
        return "error: " + opened.error + "\n";
    const imagefs::Image& image = *opened.image;

    std::string out;
    auto line = [&](const std::string& p, imagefs::Ino ino) {
        imagefs::InodeInfo info = image.inode(ino);
        const char* type = info.is_directory() ? "dir" : info.is_regular() ? "file" : "symlink";
        char buf[96];
        std::snprintf(buf, sizeof(buf), " %s %04o %u:%u %llu", type, info.permissions(), info.uid, info.gid,
                      (unsigned long long)info.size);
        out += p + buf;
        if (info.is_symlink()) {
            out += " -> " + escaped(image.read_link(ino));
        }
        if (!info.is_directory() && info.nlink > 1)
            out += " links=" + std::to_string(info.nlink);
        out += "\n";
    };

    // Depth first with an explicit stack (image trees may be deeper than the host stack).
    struct Frame {
        imagefs::Ino dir;
        uint32_t next;
        std::string path; // with a trailing '/'
    };
    line("/", image.root());
    std::vector<Frame> stack{{image.root(), 0, "/"}};
    while (!stack.empty()) {
        Frame& f = stack.back();
        if (f.next == image.entry_count(f.dir)) {
            stack.pop_back();
            continue;
        }
        imagefs::DirEntry e = image.entry(f.dir, f.next++);
        std::string child = f.path + escaped(e.name);
        line(child, e.ino);
        if (image.inode(e.ino).is_directory())
            stack.push_back({e.ino, 0, child + "/"});
    }
    return out;
}

} // namespace image
