// The guest's side of the kernel command line — the words after " -- ": environment
// assignments, then the program path and its arguments — and its encoding (docs/runner.md,
// "The guest command line"); also the quoting of boot options before the " -- ". Pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runner/parsed.h"

namespace runner {

// One guest word, shell-like: a word that is empty or contains a space, tab, any other
// control character, a quote (' or ") or a backslash is put in single quotes, each ' inside
// written as '\'' (close, escaped quote, reopen). Other words are left as they are.
std::string quote_guest_word(std::string_view word);

// A boot option as the kernel's option parser reads it: unchanged unless its value holds
// whitespace, then key="value". check_boot_option() must have accepted it.
std::string quote_boot_option(std::string_view option);

// The kernel's option parser cannot carry a '"', a newline, or whitespace outside a value.
Status check_boot_option(std::string_view option);

// NAME=VALUE with NAME = [A-Za-z_][A-Za-z0-9_]* (what the kernel takes as an environment
// word before the program).
bool is_env_assignment(std::string_view word);

// The environment a program gets unless --env says otherwise: PATH=/usr/local/bin:/usr/bin:/bin,
// HOME=/, TERM=xterm when the runner's stdout is a terminal, else TERM=dumb.
std::vector<std::string> default_guest_environment(bool stdout_is_tty);

// `base` with each NAME=VALUE of `overrides` replacing the same NAME in place, or appended.
std::vector<std::string> merge_environment(std::vector<std::string> base,
                                           const std::vector<std::string>& overrides);

// Environment words, then the program and its arguments.
std::vector<std::string> guest_words(const std::vector<std::string>& environment,
                                     const std::vector<std::string>& program);

// Guest RAM for an image of `image_bytes`: 128 MiB plus twice the image (the image stays in
// memory and the kernel needs room around it), rounded up to MiB, as a QEMU -m size ("134M").
std::string memory_for_image(uint64_t image_bytes);

} // namespace runner
