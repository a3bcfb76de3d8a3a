// Lexical path helpers of host_fs.h (no file-system access).
#include "runner/host_fs.h"

#include <algorithm>

namespace runner {

std::vector<std::string> split_path(std::string_view path) {
    std::vector<std::string> parts;
    size_t i = 0;
    while (i < path.size()) {
        while (i < path.size() && path[i] == '/') {
            ++i;
        }
        size_t start = i;
        while (i < path.size() && path[i] != '/') {
            ++i;
        }
        if (i > start) {
            parts.emplace_back(path.substr(start, i - start));
        }
    }
    return parts;
}

std::string normalize_path(std::string_view path) {
    if (path.empty()) {
        return {};
    }
    bool absolute = path.front() == '/';
    std::vector<std::string> out;
    for (auto& part : split_path(path)) {
        if (part == ".") {
            continue;
        }
        if (part == "..") {
            if (!out.empty() && out.back() != "..") {
                out.pop_back();
            } else if (!absolute) {
                out.push_back(part);  // a relative path may climb above its start
            }
            continue;
        }
        out.push_back(std::move(part));
    }
    std::string result = absolute ? "/" : "";
    for (size_t i = 0; i < out.size(); ++i) {
        if (i > 0) {
            result += '/';
        }
        result += out[i];
    }
    return result.empty() ? "." : result;
}

std::string parent_path(std::string_view path) {
    std::string norm = normalize_path(path);
    auto slash = norm.rfind('/');
    if (slash == std::string::npos) {
        return ".";
    }
    return slash == 0 ? "/" : norm.substr(0, slash);
}

std::string_view base_name(std::string_view path) {
    while (path.size() > 1 && path.back() == '/') {
        path.remove_suffix(1);
    }
    if (path == "/") {
        return {};
    }
    auto slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string join_path(std::string_view dir, std::string_view name) {
    if (!name.empty() && name.front() == '/') {
        return normalize_path(name);
    }
    std::string joined(dir);
    joined += '/';
    joined += name;
    return normalize_path(joined);
}

} // namespace runner

namespace runner {

Parsed<std::string> real_path(HostFs& fs, const std::string& path) {
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
        std::string current;
        for (const auto& part : resolved) {
            current += '/' + part;
        }
        current += '/' + name;
        FileStat st = fs.lstat(current);
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
            if (!target.value->empty() && target.value->front() == '/') {
                resolved.clear();
            }
            auto parts = split_path(*target.value);
            pending.insert(pending.end(), parts.rbegin(), parts.rend());
            break;
        }
        case FileKind::Directory:
            resolved.push_back(std::move(name));
            break;
        default:
            if (!pending.empty()) {
                return Parsed<std::string>::fail(path + ": not a directory (" + current + ")");
            }
            resolved.push_back(std::move(name));
            break;
        }
    }
    std::string out;
    for (const auto& part : resolved) {
        out += '/' + part;
    }
    return Parsed<std::string>::ok(out.empty() ? "/" : out);
}

} // namespace runner
