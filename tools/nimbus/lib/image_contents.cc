// Collecting the contents of a root image (see image_contents.h).
#include "runner/image_contents.h"

namespace runner {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
        s.remove_suffix(1);
    }
    return s;
}

// Python's own test suite, IDLE, third-party packages and the static-library build kit are
// left out of the Python profile: large, and not needed to run programs.
bool skip_in_python_tree(const std::string& tree, const std::string& host_path) {
    if (parent_path(host_path) != tree) {
        return false;
    }
    std::string_view name = base_name(host_path);
    return name == "test" || name == "idlelib" || name == "site-packages" ||
           name == "dist-packages" || name.substr(0, 7) == "config-";
}

// "/" and the host's kernel file systems: copying them would read device and process state
// (or never end), not files.
bool is_kernel_file_system(const std::string& path) {
    if (path == "/") {
        return true;
    }
    for (std::string_view top : {"/proc", "/sys", "/dev"}) {
        if (path.compare(0, top.size(), top) == 0 && (path.size() == top.size() || path[top.size()] == '/')) {
            return true;
        }
    }
    return false;
}

} // namespace

Parsed<AddSpec> parse_add_spec(std::string_view text, std::string_view base_dir,
                               std::string_view origin) {
    AddSpec spec;
    spec.origin = std::string(origin);
    std::string_view host = text;
    if (auto colon = text.find(':'); colon != std::string_view::npos) {
        host = text.substr(0, colon);
        std::string_view guest = text.substr(colon + 1);
        if (guest.empty() || guest.front() != '/') {
            return Parsed<AddSpec>::fail(std::string(origin) + ": GUEST must be an absolute path: '" +
                                         std::string(guest) + "'");
        }
        spec.guest = normalize_path(guest);
    }
    if (host.empty()) {
        return Parsed<AddSpec>::fail(std::string(origin) + ": empty HOST path");
    }
    spec.host = join_path(base_dir, host);
    return Parsed<AddSpec>::ok(std::move(spec));
}

Parsed<std::vector<AddSpec>> parse_manifest(std::string_view text, std::string_view manifest_name,
                                            std::string_view base_dir) {
    std::vector<AddSpec> specs;
    size_t line_number = 0;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        std::string_view line = trim(text.substr(start, end - start));
        start = end + 1;
        ++line_number;
        if (line.empty() || line.front() == '#') {
            continue;
        }
        std::string where = std::string(manifest_name) + ":" + std::to_string(line_number);
        if (line.find('\0') != std::string_view::npos) {
            return Parsed<std::vector<AddSpec>>::fail(where + ": NUL byte in the line");
        }
        auto spec = parse_add_spec(line, base_dir, where);
        if (!spec) {
            return Parsed<std::vector<AddSpec>>::fail(spec.error);
        }
        specs.push_back(std::move(*spec.value));
    }
    return Parsed<std::vector<AddSpec>>::ok(std::move(specs));
}

Parsed<std::string> find_program(HostFs& fs, std::string_view name, std::string_view path_env,
                                 std::string_view cwd) {
    if (name.empty()) {
        return Parsed<std::string>::fail("empty program name");
    }
    if (name.find('/') != std::string_view::npos) {
        std::string path = join_path(cwd, name);
        auto real = real_path(fs, path);
        if (!real) {
            return Parsed<std::string>::fail("program not found: " + std::string(name));
        }
        FileStat st = fs.lstat(*real.value);
        if (st.kind != FileKind::Regular) {
            return Parsed<std::string>::fail("not a regular file: " + path);
        }
        if ((st.mode & 0111) == 0) {
            return Parsed<std::string>::fail("not executable: " + path + " (no execute permission)");
        }
        return Parsed<std::string>::ok(path);
    }
    size_t start = 0;
    while (start <= path_env.size()) {
        size_t end = path_env.find(':', start);
        if (end == std::string_view::npos) {
            end = path_env.size();
        }
        std::string_view dir = path_env.substr(start, end - start);
        start = end + 1;
        std::string candidate = join_path(join_path(cwd, dir), name);
        auto real = real_path(fs, candidate);
        if (!real) {
            continue;
        }
        FileStat st = fs.lstat(*real.value);
        if (st.kind == FileKind::Regular && (st.mode & 0111) != 0) {
            return Parsed<std::string>::ok(candidate);
        }
    }
    return Parsed<std::string>::fail("program not found on PATH: " + std::string(name));
}

std::optional<std::string> python_library_dir(std::string_view program_real_path) {
    std::string_view name = base_name(program_real_path);
    if (name.substr(0, 6) != "python") {
        return std::nullopt;
    }
    std::string_view version = name.substr(6);
    size_t dot = version.find('.');
    auto all_digits = [](std::string_view s) {
        return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
    };
    if (dot == std::string_view::npos || !all_digits(version.substr(0, dot)) ||
        !all_digits(version.substr(dot + 1))) {
        return std::nullopt;
    }
    std::string prefix = parent_path(parent_path(program_real_path));
    return join_path(prefix, "lib/" + std::string(name));
}

bool is_shared_object_name(std::string_view name) {
    size_t at = name.find(".so");
    while (at != std::string_view::npos) {
        size_t after = at + 3;
        if (at > 0 && (after == name.size() || name[after] == '.')) {
            return true;
        }
        at = name.find(".so", at + 1);
    }
    return false;
}

std::vector<std::pair<std::string, std::string>> base_etc_files() {
    // glibc 2.34+ has the "files" NSS service built in: no libnss_*.so is needed for these.
    return {
        {"/etc/passwd",
         "root:x:0:0:root:/root:/bin/sh\n"
         "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"},
        {"/etc/group", "root:x:0:\nnogroup:x:65534:\n"},
        {"/etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"},
        {"/etc/nsswitch.conf",
         "passwd: files\ngroup: files\nshadow: files\nhosts: files\nnetworks: files\n"
         "protocols: files\nservices: files\n"},
        // QEMU's user-mode network answers DNS at 10.0.2.3.
        {"/etc/resolv.conf", "nameserver 10.0.2.3\n"},
    };
}

Parsed<ImageContents> collect_image_contents(HostFs& fs, const ImageRequest& request) {
    using Result = Parsed<ImageContents>;
    ImageContents out;
    DependencyResolver resolver(fs, request.resolve);
    if (Status s = resolver.load_program(request.program); !s) {
        return Result::fail(s.error);
    }
    std::string program_real;
    for (const auto& object : resolver.objects()) {
        auto physical = out.plan.add_host_path(fs, object.path);
        if (!physical) {
            return Result::fail(physical.error);
        }
        if (program_real.empty()) {
            program_real = *physical.value;
        }
    }

    // The kernel mounts ramfs, devfs, procfs and sysfs on these.
    for (auto [dir, mode] : {std::pair{"/tmp", 01777u}, {"/dev", 0755u}, {"/proc", 0555u},
                             {"/sys", 0555u}, {"/etc", 0755u}}) {
        if (Status s = out.plan.add_directory(dir, mode); !s) {
            return Result::fail(s.error);
        }
    }
    for (auto& [path, contents] : base_etc_files()) {
        if (Status s = out.plan.add_contents(path, contents, 0644); !s) {
            return Result::fail(s.error);
        }
    }

    std::vector<AddedFile> files;
    if (auto tree = python_library_dir(program_real)) {
        if (real_path(fs, *tree)) {
            std::string top = *tree;
            auto skip = [top](const std::string& path) { return skip_in_python_tree(top, path); };
            if (Status s = out.plan.add_host_tree(fs, *tree, skip, &files, &out.warnings); !s) {
                return Result::fail("python profile: " + s.error);
            }
        } else {
            out.warnings.push_back("python profile: " + *tree + " not found; adding the program alone");
        }
    }

    for (const auto& spec : request.adds) {
        if (auto real = real_path(fs, spec.host); real && is_kernel_file_system(*real.value)) {
            return Result::fail(spec.origin + ": refusing to copy " + *real.value +
                                " (the host's /, /proc, /sys and /dev are not files to copy)");
        }
        Status s = spec.guest ? out.plan.add_tree(fs, spec.host, *spec.guest, nullptr, &files, &out.warnings)
                              : out.plan.add_host_tree(fs, spec.host, nullptr, &files, &out.warnings);
        if (!s) {
            return Result::fail(spec.origin + ": " + s.error);
        }
    }

    // Shared objects brought in by trees are loaded with dlopen at run time: their libraries
    // go in too. A missing one is a warning: only that module will fail to load.
    size_t first_new = resolver.objects().size();
    for (const auto& file : files) {
        if (!is_shared_object_name(base_name(file.host_path))) {
            continue;
        }
        auto bytes = fs.read_file(file.host_path);
        if (!bytes) {
            continue;
        }
        ElfResult elf = parse_elf(*bytes.value);
        if (!elf || elf.info->needed.empty()) {
            continue;  // data, a linker script, another architecture, or self-contained
        }
        if (Status s = resolver.load_module(file.host_path); !s) {
            out.warnings.push_back(file.guest_path + ": " + s.error + " (that module will fail to load)");
        }
    }
    const auto& objects = resolver.objects();
    for (size_t i = first_new; i < objects.size(); ++i) {
        if (objects[i].is_module) {
            continue;  // already in the image where its tree put it
        }
        auto physical = out.plan.add_host_path(fs, objects[i].path);
        if (!physical) {
            return Result::fail(physical.error);
        }
    }
    // The kernel mounts file systems on these: whatever the image has below them is hidden.
    // (/tmp is a ramfs the kernel fills with the image's /tmp first, so nothing is lost there.)
    for (const char* mount_point : {"/dev", "/proc", "/sys"}) {
        std::string prefix = std::string(mount_point) + "/";
        auto it = out.plan.entries().lower_bound(prefix);
        if (it != out.plan.entries().end() && it->first.compare(0, prefix.size(), prefix) == 0) {
            out.warnings.push_back(it->first + " will be hidden: the kernel mounts a file system on " +
                                   mount_point);
        }
    }
    out.warnings.insert(out.warnings.begin(), resolver.warnings().begin(), resolver.warnings().end());
    out.objects = objects;
    return Result::ok(std::move(out));
}

} // namespace runner
