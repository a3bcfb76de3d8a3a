// The application's command line: the words after " -- " on the kernel command line, as the
// runner encodes them (docs/runner.md, "The guest command line"): shell-like words, single
// quotes and backslash escapes; leading NAME=VALUE words are the environment, the next word
// is the program path (argv[0]), the rest its arguments.
#pragma once

#include <cstddef>
#include <lib/string.h>

namespace boot {

struct AppCommand {
    static constexpr size_t kMaxWords = 512;
    // NUL-terminated words in the caller's storage.
    const char* env[kMaxWords];
    size_t env_count = 0;
    const char* argv[kMaxWords];
    size_t argc = 0;
};

// Splits `text` into `out`, writing the unquoted words (each NUL-terminated) into `storage`,
// which needs text.size() + 1 bytes. Returns nullptr, or a message for the first problem:
// an unterminated quote, a backslash at the end, more than kMaxWords words of either kind,
// no program word. Never reads outside `text`.
const char* split_app_command(lib::StringView text, char* storage, size_t storage_size, AppCommand& out);

// Whether `word` has the form NAME=VALUE with NAME = [A-Za-z_][A-Za-z0-9_]*.
bool is_env_word(const char* word);

} // namespace boot
