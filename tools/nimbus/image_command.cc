// `nimbus image` and the image cache of `nimbus run PROGRAM` (see image_command.h).
#include "image_command.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include <image/builder.h>
#include <imagefs/format.h>

#include "runner/exit_status.h"
#include "runner/host_fs.h"
#include "runner/image_cache.h"
#include "runner/image_contents.h"

namespace runner {

namespace {

struct Prepared {
    ImageContents contents;
    std::string program;    // absolute
    std::string manifests;  // every manifest's text, for the cache key
};

std::string current_directory() {
    std::error_code ec;
    auto cwd = std::filesystem::current_path(ec);
    return ec ? "/" : cwd.string();
}

void print_warnings(const std::vector<std::string>& warnings) {
    for (const auto& w : warnings) {
        std::fprintf(stderr, "nimbus: warning: %s\n", w.c_str());
    }
}

// Finds the program, reads the manifests and collects the contents.
Parsed<Prepared> prepare(const std::string& program_name, const ImageInputs& inputs) {
    RealHostFs fs;
    std::string cwd = current_directory();
    const char* path_env = std::getenv("PATH");
    auto program = find_program(fs, program_name, path_env != nullptr ? path_env : "/usr/bin:/bin", cwd);
    if (!program) {
        return Parsed<Prepared>::fail(program.error);
    }
    Prepared out;
    out.program = *program.value;

    ImageRequest request;
    request.program = out.program;
    request.resolve.cwd = cwd;
    for (const auto& dir : inputs.library_path) {
        request.resolve.library_path.push_back(join_path(cwd, dir));
    }
    // Manifests first, then --add: an explicit --add wins over a manifest line for a file.
    for (const auto& manifest : inputs.manifests) {
        std::string path = join_path(cwd, manifest);
        auto text = fs.read_file(path);
        if (!text) {
            return Parsed<Prepared>::fail("manifest: " + text.error);
        }
        auto specs = parse_manifest(*text.value, manifest, parent_path(path));
        if (!specs) {
            return Parsed<Prepared>::fail(specs.error);
        }
        out.manifests += path + '\n' + *text.value + '\n';
        request.adds.insert(request.adds.end(), specs.value->begin(), specs.value->end());
    }
    for (const auto& add : inputs.adds) {
        auto spec = parse_add_spec(add, cwd, "--add " + add);
        if (!spec) {
            return Parsed<Prepared>::fail(spec.error);
        }
        request.adds.push_back(std::move(*spec.value));
    }
    auto contents = collect_image_contents(fs, request);
    if (!contents) {
        return Parsed<Prepared>::fail(contents.error);
    }
    out.contents = std::move(*contents.value);
    print_warnings(out.contents.warnings);
    return Parsed<Prepared>::ok(std::move(out));
}

// Regular files with distinct host identities (hard links count once).
size_t distinct_files(const ImagePlan& plan) {
    std::set<std::pair<uint64_t, uint64_t>> seen;
    size_t inline_files = 0;
    for (const auto& [path, e] : plan.entries()) {
        if (e.kind != PlanEntry::Kind::File) {
            continue;
        }
        if (e.host_path.empty()) {
            ++inline_files;
        } else {
            seen.insert({e.stat.device, e.stat.inode});
        }
    }
    return seen.size() + inline_files;
}

// Hands the plan to image::Builder and writes `output`. Files that are one host file under
// several paths become hard links.
Status write_plan(const ImagePlan& plan, const std::string& output) {
    image::Builder builder;
    std::map<std::pair<uint64_t, uint64_t>, std::string> first_path;
    for (const auto& [path, e] : plan.entries()) {
        image::Error err;
        switch (e.kind) {
        case PlanEntry::Kind::Directory:
            err = builder.add_directory(path, image::FileMeta{e.mode, 0, 0, 0, 0});
            break;
        case PlanEntry::Kind::Symlink:
            err = builder.add_symlink(path, e.target);
            break;
        case PlanEntry::Kind::File: {
            if (e.host_path.empty()) {
                err = builder.add_file_contents(path, e.contents, image::FileMeta{e.mode, 0, 0, 0, 0});
                break;
            }
            auto id = std::make_pair(e.stat.device, e.stat.inode);
            if (auto it = first_path.find(id); it != first_path.end()) {
                err = builder.add_hard_link(path, it->second);
                break;
            }
            first_path.emplace(id, path);
            err = builder.add_file_from_host(
                path, e.host_path, image::FileMeta{e.mode, 0, 0, e.stat.mtime_sec, e.stat.mtime_nsec});
            break;
        }
        }
        if (!err.message.empty()) {
            return Status::fail(err.message);
        }
    }
    image::Error err = builder.write(output);
    return err.message.empty() ? Status::ok() : Status::fail(err.message);
}

uint64_t file_size(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// What the cache key must know besides the plan: the image format, and this nimbus binary
// (a rebuilt nimbus may write images differently without the format version changing).
std::string format_tag() {
    std::string tag = "imagefs " + std::to_string(imagefs::kVersion);
    struct stat st {};
    if (::stat("/proc/self/exe", &st) == 0) {
        tag += " nimbus " + std::to_string(st.st_size) + " " + std::to_string(st.st_mtim.tv_sec) +
               "." + std::to_string(st.st_mtim.tv_nsec);
    }
    return tag;
}

Status make_directories(const std::string& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
        return Status::fail("cannot create the cache directory " + dir + ": " + ec.message());
    }
    return Status::ok();
}

} // namespace

std::string image_summary(const BuiltImage& image) {
    char size[32];
    std::snprintf(size, sizeof size, "%.1f", static_cast<double>(image.bytes) / (1024.0 * 1024.0));
    return "image: " + std::to_string(image.files) + " files, " + size + " MiB, " + image.path;
}

Parsed<BuiltImage> prepare_run_image(const std::string& program, const ImageInputs& inputs) {
    auto prepared = prepare(program, inputs);
    if (!prepared) {
        return Parsed<BuiltImage>::fail(prepared.error);
    }
    auto dir = image_cache_dir(std::getenv("NIMBUS_CACHE"), std::getenv("XDG_CACHE_HOME"),
                               std::getenv("HOME"));
    if (!dir) {
        return Parsed<BuiltImage>::fail(dir.error);
    }
    const ImagePlan& plan = prepared.value->contents.plan;
    std::string key = image_cache_key(plan, prepared.value->program, prepared.value->manifests, format_tag());
    BuiltImage out;
    out.path = cached_image_path(*dir.value, key);
    out.program = prepared.value->program;
    out.files = distinct_files(plan);

    // Reuse an image that is there and valid (a damaged one is rebuilt).
    struct stat st {};
    if (::stat(out.path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && image::check_image(out.path).empty()) {
        ::utimensat(AT_FDCWD, out.path.c_str(), nullptr, 0);  // last use, for whoever prunes
        out.bytes = static_cast<uint64_t>(st.st_size);
        out.reused = true;
        return Parsed<BuiltImage>::ok(std::move(out));
    }
    if (Status s = make_directories(parent_path(out.path)); !s) {
        return Parsed<BuiltImage>::fail(s.error);
    }
    // A private temporary name, renamed into place: a concurrent run sees either no image or
    // a complete one, and two concurrent builds of the same key both succeed (same bytes).
    std::random_device random;
    std::string temp = out.path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(random());
    Status written = write_plan(plan, temp);
    if (!written) {
        ::unlink(temp.c_str());
        return Parsed<BuiltImage>::fail("cannot build the image: " + written.error);
    }
    if (::rename(temp.c_str(), out.path.c_str()) != 0) {
        int err = errno;
        ::unlink(temp.c_str());
        return Parsed<BuiltImage>::fail("cannot move the image into the cache: " + out.path + ": " +
                                        std::strerror(err));
    }
    out.bytes = file_size(out.path);
    return Parsed<BuiltImage>::ok(std::move(out));
}

int image_command(const ImageOptions& options) {
    if (options.action == ImageOptions::Action::Check) {
        if (::access(options.image.c_str(), R_OK) != 0) {
            std::fprintf(stderr, "nimbus: cannot read %s: %s\n", options.image.c_str(), std::strerror(errno));
            return kStatusRunnerError;
        }
        std::string problem = image::check_image(options.image);
        if (!problem.empty()) {
            std::fprintf(stderr, "nimbus: invalid image %s: %s\n", options.image.c_str(), problem.c_str());
            return 1;
        }
        std::printf("%s: valid\n", options.image.c_str());
        return 0;
    }
    if (options.action == ImageOptions::Action::List) {
        if (::access(options.image.c_str(), R_OK) != 0) {
            std::fprintf(stderr, "nimbus: cannot read %s: %s\n", options.image.c_str(), std::strerror(errno));
            return kStatusRunnerError;
        }
        std::string problem = image::check_image(options.image);
        if (!problem.empty()) {
            std::fprintf(stderr, "nimbus: invalid image %s: %s\n", options.image.c_str(), problem.c_str());
            return 1;
        }
        std::fputs(image::list_image(options.image).c_str(), stdout);
        return 0;
    }

    auto prepared = prepare(options.program, options.inputs);
    if (!prepared) {
        std::fprintf(stderr, "nimbus: %s\n", prepared.error.c_str());
        return kStatusRunnerError;
    }
    Status written = write_plan(prepared.value->contents.plan, options.output);
    if (!written) {
        std::fprintf(stderr, "nimbus: cannot write the image: %s\n", written.error.c_str());
        return kStatusRunnerError;
    }
    BuiltImage built;
    built.path = options.output;
    built.bytes = file_size(options.output);
    built.files = distinct_files(prepared.value->contents.plan);
    std::printf("%s\n", image_summary(built).c_str());
    return 0;
}

} // namespace runner
