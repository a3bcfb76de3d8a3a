// imagefs-check: validates a Nimbus root image with the kernel's reader.
//
//   imagefs-check IMAGE          exit 0 if valid; 1 with the reason on stderr if not
//   imagefs-check --list IMAGE   also prints the tree (image::list_image's format)
#include "image/builder.h"

#include <cstdio>
#include <cstring>
#include <string>

namespace {

int usage(FILE* to, int status)
{
    std::fputs("usage: imagefs-check [--list] IMAGE\n"
                "Validates a Nimbus root image (docs/image-format.md): exit status 0 if valid,\n"
                "1 with the reason on stderr if not. --list also prints the tree.\n",
                to);
    return status;
}

} // namespace

int main(int argc, char** argv)
{
    bool list = false;
    const char* path = nullptr;
    for (int i = 1; i < argc; i++) {
        if (std::strcmp(argv[i], "--list") == 0)
            list = true;
        else if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0)
            return usage(stdout, 0);
        else if (argv[i][0] == '-' || path)
            return usage(stderr, 2);
        else
            path = argv[i];
    }
    if (!path)
        return usage(stderr, 2);

    std::string why = image::check_image(path);
    if (!why.empty()) {
        std::fprintf(stderr, "imagefs-check: %s: %s\n", path, why.c_str());
        return 1;
    }
    if (list)
        std::fputs(image::list_image(path).c_str(), stdout);
    return 0;
}
