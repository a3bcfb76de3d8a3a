// Building root images on the host: `nimbus image` and the image cache of `nimbus run
// PROGRAM`. The decisions (what goes in, the cache key) are in the runner library; this is
// the I/O around them: the real file system, image::Builder, the cache directory.
#pragma once

#include <cstdint>
#include <string>

#include "runner/options.h"

namespace runner {

struct BuiltImage {
    std::string path;     // the image file
    std::string program;  // the program's absolute path (host = guest)
    uint64_t bytes = 0;   // image file size
    size_t files = 0;     // regular files (hard links once)
    bool reused = false;  // found in the cache
};

// For `nimbus run PROGRAM`: finds PROGRAM, collects the image contents, and returns the
// cached image for them, building it first (atomically) when the cache has none. Warnings go
// to stderr. Errors are one line.
Parsed<BuiltImage> prepare_run_image(const std::string& program, const ImageInputs& inputs);

// `nimbus image`: builds, checks or lists; returns the exit status (0, 1 for an invalid image
// with --check, 125 for errors).
int image_command(const ImageOptions& options);

// "image: N files, M MiB, PATH"
std::string image_summary(const BuiltImage&);

} // namespace runner
