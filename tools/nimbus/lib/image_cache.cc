// Image cache keys and locations (see image_cache.h).
#include "runner/image_cache.h"

#include "runner/sha256.h"

namespace runner {

namespace {

// Length-prefixed so that no two different field sequences hash the same text.
void field(Sha256& h, std::string_view value) {
    std::string prefix = std::to_string(value.size()) + ":";
    h.update(prefix);
    h.update(value);
}

void field(Sha256& h, uint64_t value) { field(h, std::to_string(value)); }

bool usable(const char* value) { return value != nullptr && value[0] == '/'; }

} // namespace

std::string image_cache_key(const ImagePlan& plan, std::string_view program, std::string_view manifests,
                            std::string_view format_tag) {
    Sha256 h;
    field(h, "nimbus-image-cache");
    field(h, static_cast<uint64_t>(kImageCacheVersion));
    field(h, format_tag);
    field(h, program);
    field(h, manifests);
    for (const auto& [path, e] : plan.entries()) {
        field(h, path);
        field(h, static_cast<uint64_t>(e.kind));
        field(h, e.mode);
        switch (e.kind) {
        case PlanEntry::Kind::Directory:
            break;
        case PlanEntry::Kind::File:
            field(h, e.host_path);
            if (e.host_path.empty()) {
                field(h, e.contents);
            } else {
                field(h, e.stat.size);
                field(h, static_cast<uint64_t>(e.stat.mtime_sec));
                field(h, e.stat.mtime_nsec);
            }
            break;
        case PlanEntry::Kind::Symlink:
            field(h, e.target);
            break;
        }
    }
    return Sha256::to_hex(h.finish());
}

Parsed<std::string> image_cache_dir(const char* nimbus_cache, const char* xdg_cache_home,
                                    const char* home) {
    if (nimbus_cache != nullptr && nimbus_cache[0] != '\0') {
        if (!usable(nimbus_cache)) {
            return Parsed<std::string>::fail("NIMBUS_CACHE must be an absolute path: '" +
                                             std::string(nimbus_cache) + "'");
        }
        return Parsed<std::string>::ok(normalize_path(nimbus_cache));
    }
    if (usable(xdg_cache_home)) {
        return Parsed<std::string>::ok(join_path(xdg_cache_home, "nimbus"));
    }
    if (usable(home)) {
        return Parsed<std::string>::ok(join_path(home, ".cache/nimbus"));
    }
    return Parsed<std::string>::fail("no cache directory: set NIMBUS_CACHE, XDG_CACHE_HOME or HOME");
}

std::string cached_image_path(std::string_view cache_dir, std::string_view key) {
    return join_path(cache_dir, "images/" + std::string(key.substr(0, 32)) + ".img");
}

} // namespace runner
