// The image cache of `nimbus run PROGRAM`: images are kept under a key that hashes every
// input, so an unchanged program reuses its image and any change (a library upgraded, a
// manifest edited, a new nimbus) builds a new one. Pure: the I/O is in image_command.cc.
#pragma once

#include <string>
#include <string_view>

#include "runner/image_plan.h"
#include "runner/parsed.h"

namespace runner {

// Bump when the way plans become images changes without the plan itself changing.
inline constexpr int kImageCacheVersion = 1;

// Hex SHA-256 over, in order and length-prefixed: the cache version, `format_tag` (the image
// format and builder identity), the program path, the contents of every manifest, and each
// planned entry — guest path, kind, mode, host path with size and mtime (s, ns), inline
// contents, symlink target.
std::string image_cache_key(const ImagePlan&, std::string_view program, std::string_view manifests,
                            std::string_view format_tag);

// The cache directory: $NIMBUS_CACHE, else $XDG_CACHE_HOME/nimbus, else $HOME/.cache/nimbus
// (arguments are the variables' values, null or empty when unset). Relative values are
// ignored, as the XDG base-directory specification asks.
Parsed<std::string> image_cache_dir(const char* nimbus_cache, const char* xdg_cache_home,
                                    const char* home);

// <dir>/images/<first 32 hex digits of the key>.img
std::string cached_image_path(std::string_view cache_dir, std::string_view key);

} // namespace runner
