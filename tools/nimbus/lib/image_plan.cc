// ImagePlan: guest paths planned from host paths (see image_plan.h).
#include "runner/image_plan.h"

#include <algorithm>

namespace runner {

namespace {

constexpr int kMaxTreeDepth = 256;

std::string_view kind_name(PlanEntry::Kind kind) {
    switch (kind) {
    case PlanEntry::Kind::Directory: return "a directory";
    case PlanEntry::Kind::File: return "a file";
    case PlanEntry::Kind::Symlink: return "a symlink";
    }
    return "an entry";
}

std::string path_of(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& part : parts) {
        out += '/' + part;
    }
    return out.empty() ? "/" : out;
}

} // namespace

Status ImagePlan::ensure_directories(const std::string& guest) {
    std::string path;
    for (const auto& part : split_path(guest)) {
        path += '/' + part;
        auto it = m_entries.find(path);
        if (it == m_entries.end()) {
            m_entries.emplace(path, PlanEntry{});  // a directory, 0755
        } else if (it->second.kind != PlanEntry::Kind::Directory) {
            return Status::fail("cannot add " + guest + ": " + path + " is " +
                                std::string(kind_name(it->second.kind)) + " in the image");
        }
    }
    return Status::ok();
}

Status ImagePlan::put(const std::string& raw_guest, PlanEntry entry) {
    std::string guest = normalize_path(raw_guest);
    if (guest.empty() || guest.front() != '/') {
        return Status::fail("guest path " + raw_guest + " is not absolute");
    }
    if (guest == "/") {
        if (entry.kind == PlanEntry::Kind::Directory) {
            return Status::ok();  // the root always exists
        }
        return Status::fail("cannot put " + std::string(kind_name(entry.kind)) + " at /");
    }
    if (Status s = ensure_directories(parent_path(guest)); !s) {
        return s;
    }
    auto it = m_entries.find(guest);
    if (it == m_entries.end()) {
        m_entries.emplace(guest, std::move(entry));
        return Status::ok();
    }
    if (it->second.kind != entry.kind) {
        return Status::fail("cannot add " + std::string(kind_name(entry.kind)) + " at " + guest +
                            ": it is already " + std::string(kind_name(it->second.kind)) +
                            " in the image");
    }
    if (entry.kind != PlanEntry::Kind::Directory) {
        it->second = std::move(entry);  // files and symlinks: the last one wins
    }
    return Status::ok();
}

Status ImagePlan::add_directory(const std::string& guest, uint32_t mode) {
    PlanEntry e;
    e.mode = mode;
    return put(guest, std::move(e));
}

Status ImagePlan::add_contents(const std::string& guest, std::string contents, uint32_t mode) {
    PlanEntry e;
    e.kind = PlanEntry::Kind::File;
    e.mode = mode;
    e.contents = std::move(contents);
    return put(guest, std::move(e));
}

Parsed<std::string> ImagePlan::add_host_path(HostFs& fs, const std::string& path) {
    std::vector<std::string> resolved;
    std::vector<std::string> pending = split_path(path);
    std::reverse(pending.begin(), pending.end());  // a stack: next component at the back
    int links = 0;
    while (!pending.empty()) {
        std::string name = std::move(pending.back());
        pending.pop_back();
        if (name == ".") {
            continue;
        }
        if (name == "..") {
            if (!resolved.empty()) {
                resolved.pop_back();
            }
            continue;
        }
        resolved.push_back(name);
        std::string current = path_of(resolved);
        FileStat st = fs.lstat(current);
        PlanEntry e;
        e.mode = st.mode;
        switch (st.kind) {
        case FileKind::Missing:
            return Parsed<std::string>::fail(path + ": no such file or directory" +
                                             (current != path ? " (" + current + ")" : ""));
        case FileKind::Symlink: {
            if (++links > kMaxSymlinks) {
                return Parsed<std::string>::fail(path + ": too many levels of symbolic links");
            }
            auto target = fs.read_link(current);
            if (!target) {
                return Parsed<std::string>::fail(target.error);
            }
            e.kind = PlanEntry::Kind::Symlink;
            e.mode = 0777;
            e.target = *target.value;
            if (Status s = put(current, std::move(e)); !s) {
                return Parsed<std::string>::fail(s.error);
            }
            resolved.pop_back();
            if (!target.value->empty() && target.value->front() == '/') {
                resolved.clear();
            }
            auto parts = split_path(*target.value);
            pending.insert(pending.end(), parts.rbegin(), parts.rend());
            continue;
        }
        case FileKind::Directory:
            break;
        case FileKind::Regular:
            if (!pending.empty()) {
                return Parsed<std::string>::fail(path + ": not a directory (" + current + ")");
            }
            e.kind = PlanEntry::Kind::File;
            e.host_path = current;
            e.stat = st;
            break;
        case FileKind::Other:
            return Parsed<std::string>::fail(path + ": not a regular file, directory or symlink");
        }
        if (Status s = put(current, std::move(e)); !s) {
            return Parsed<std::string>::fail(s.error);
        }
    }
    return Parsed<std::string>::ok(path_of(resolved));
}

Parsed<std::string> ImagePlan::resolve_guest_parent(const std::string& guest) const {
    std::string norm = normalize_path(guest);
    if (norm.empty() || norm.front() != '/') {
        return Parsed<std::string>::fail("guest path " + guest + " is not absolute");
    }
    if (norm == "/") {
        return Parsed<std::string>::ok(norm);
    }
    std::vector<std::string> resolved;
    std::vector<std::string> pending = split_path(parent_path(norm));
    std::reverse(pending.begin(), pending.end());
    int links = 0;
    while (!pending.empty()) {
        std::string name = std::move(pending.back());
        pending.pop_back();
        if (name == ".") {
            continue;
        }
        if (name == "..") {
            if (!resolved.empty()) {
                resolved.pop_back();
            }
            continue;
        }
        resolved.push_back(name);
        auto it = m_entries.find(path_of(resolved));
        if (it == m_entries.end() || it->second.kind == PlanEntry::Kind::Directory) {
            continue;  // a missing directory is created later
        }
        if (it->second.kind == PlanEntry::Kind::File) {
            return Parsed<std::string>::fail("cannot add " + guest + ": " + path_of(resolved) +
                                             " is a file in the image");
        }
        if (++links > kMaxSymlinks) {
            return Parsed<std::string>::fail(guest + ": too many levels of symbolic links in the image");
        }
        const std::string& target = it->second.target;
        resolved.pop_back();
        if (!target.empty() && target.front() == '/') {
            resolved.clear();
        }
        auto parts = split_path(target);
        pending.insert(pending.end(), parts.rbegin(), parts.rend());
    }
    return Parsed<std::string>::ok(join_path(path_of(resolved), base_name(norm)));
}

Status ImagePlan::copy_tree(HostFs& fs, const std::string& host, const std::string& guest,
                            const Skip& skip, std::vector<AddedFile>* files,
                            std::vector<std::string>* warnings, int depth) {
    if (depth > kMaxTreeDepth) {
        return Status::fail(host + ": directory tree deeper than " + std::to_string(kMaxTreeDepth));
    }
    auto names = fs.list_directory(host);
    if (!names) {
        return Status::fail(names.error);
    }
    for (const auto& name : *names.value) {
        std::string host_child = host + (host == "/" ? "" : "/") + name;
        std::string guest_child = guest + (guest == "/" ? "" : "/") + name;
        if (skip && skip(host_child)) {
            continue;
        }
        FileStat st = fs.lstat(host_child);
        PlanEntry e;
        e.mode = st.mode;
        switch (st.kind) {
        case FileKind::Missing:
            continue;  // vanished while we looked
        case FileKind::Directory:
            if (Status s = put(guest_child, std::move(e)); !s) {
                return s;
            }
            if (Status s = copy_tree(fs, host_child, guest_child, skip, files, warnings, depth + 1); !s) {
                return s;
            }
            continue;
        case FileKind::Regular:
            e.kind = PlanEntry::Kind::File;
            e.host_path = host_child;
            e.stat = st;
            files->push_back({guest_child, host_child});
            break;
        case FileKind::Symlink: {
            auto target = fs.read_link(host_child);
            if (!target) {
                return Status::fail(target.error);
            }
            e.kind = PlanEntry::Kind::Symlink;
            e.mode = 0777;
            e.target = *target.value;
            break;
        }
        case FileKind::Other:
            warnings->push_back("left out " + host_child + " (not a regular file, directory or symlink)");
            continue;
        }
        if (Status s = put(guest_child, std::move(e)); !s) {
            return s;
        }
    }
    return Status::ok();
}

Status ImagePlan::add_tree(HostFs& fs, const std::string& host, const std::string& guest,
                           const Skip& skip, std::vector<AddedFile>* files,
                           std::vector<std::string>* warnings) {
    auto real = real_path(fs, host);
    if (!real) {
        return Status::fail(real.error);
    }
    auto dest = resolve_guest_parent(guest);
    if (!dest) {
        return Status::fail(dest.error);
    }
    FileStat st = fs.lstat(*real.value);
    PlanEntry e;
    e.mode = st.mode;
    if (st.kind == FileKind::Regular) {
        e.kind = PlanEntry::Kind::File;
        e.host_path = *real.value;
        e.stat = st;
        if (Status s = put(*dest.value, std::move(e)); !s) {
            return s;
        }
        files->push_back({*dest.value, *real.value});
        return Status::ok();
    }
    if (st.kind != FileKind::Directory) {
        return Status::fail(host + ": not a regular file or directory");
    }
    if (Status s = put(*dest.value, std::move(e)); !s) {
        return s;
    }
    return copy_tree(fs, *real.value, *dest.value, skip, files, warnings, 0);
}

Status ImagePlan::add_host_tree(HostFs& fs, const std::string& host, const Skip& skip,
                                std::vector<AddedFile>* files, std::vector<std::string>* warnings) {
    auto physical = add_host_path(fs, host);
    if (!physical) {
        return Status::fail(physical.error);
    }
    FileStat st = fs.lstat(*physical.value);
    if (st.kind == FileKind::Regular) {
        files->push_back({*physical.value, *physical.value});
        return Status::ok();
    }
    return copy_tree(fs, *physical.value, *physical.value, skip, files, warnings, 0);
}

size_t ImagePlan::file_count() const {
    return static_cast<size_t>(std::count_if(m_entries.begin(), m_entries.end(), [](const auto& kv) {
        return kv.second.kind == PlanEntry::Kind::File;
    }));
}

uint64_t ImagePlan::data_bytes() const {
    uint64_t total = 0;
    for (const auto& [path, e] : m_entries) {
        if (e.kind == PlanEntry::Kind::File) {
            total += e.host_path.empty() ? e.contents.size() : e.stat.size;
        }
    }
    return total;
}

} // namespace runner
