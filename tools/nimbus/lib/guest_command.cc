// Guest words, their quoting, the default environment and the memory rule (guest_command.h).
#include "runner/guest_command.h"

namespace runner {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view env_name(std::string_view assignment) {
    return assignment.substr(0, assignment.find('='));
}

} // namespace

std::string quote_guest_word(std::string_view word) {
    bool needs_quotes = word.empty();
    for (char c : word) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f || c == ' ' || c == '\'' || c == '"' || c == '\\') {
            needs_quotes = true;
        }
    }
    if (!needs_quotes) {
        return std::string(word);
    }
    std::string out = "'";
    for (char c : word) {
        if (c == '\'') {
            out += "'\\''";
        } else {
            out += c;
        }
    }
    out += '\'';
    return out;
}

Status check_boot_option(std::string_view option) {
    if (option.empty()) {
        return Status::fail("empty --boot option");
    }
    for (char c : option) {
        if (c == '"' || c == '\n' || c == '\r') {
            return Status::fail("bad --boot '" + std::string(option) +
                                "': boot options cannot contain '\"' or a newline");
        }
    }
    std::string_view key = option.substr(0, option.find('='));
    for (char c : key) {
        if (is_blank(c)) {
            return Status::fail("bad --boot '" + std::string(option) +
                                "': only the value after '=' may contain spaces");
        }
    }
    return Status::ok();
}

std::string quote_boot_option(std::string_view option) {
    size_t eq = option.find('=');
    if (eq == std::string_view::npos) {
        return std::string(option);
    }
    std::string_view value = option.substr(eq + 1);
    for (char c : value) {
        if (is_blank(c)) {
            return std::string(option.substr(0, eq + 1)) + '"' + std::string(value) + '"';
        }
    }
    return std::string(option);
}

bool is_env_assignment(std::string_view word) {
    size_t eq = word.find('=');
    if (eq == std::string_view::npos || eq == 0) {
        return false;
    }
    for (size_t i = 0; i < eq; ++i) {
        char c = word[i];
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        bool digit = c >= '0' && c <= '9';
        if (!letter && !(digit && i > 0)) {
            return false;
        }
    }
    return true;
}

std::vector<std::string> default_guest_environment(bool stdout_is_tty) {
    return {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/",
            stdout_is_tty ? "TERM=xterm" : "TERM=dumb"};
}

std::vector<std::string> merge_environment(std::vector<std::string> base,
                                           const std::vector<std::string>& overrides) {
    for (const auto& assignment : overrides) {
        bool replaced = false;
        for (auto& existing : base) {
            if (env_name(existing) == env_name(assignment)) {
                existing = assignment;
                replaced = true;
                break;
            }
        }
        if (!replaced) {
            base.push_back(assignment);
        }
    }
    return base;
}

std::vector<std::string> guest_words(const std::vector<std::string>& environment,
                                     const std::vector<std::string>& program) {
    std::vector<std::string> words = environment;
    words.insert(words.end(), program.begin(), program.end());
    return words;
}

std::string memory_for_image(uint64_t image_bytes) {
    constexpr uint64_t kMiB = 1024 * 1024;
    uint64_t extra = (2 * image_bytes + kMiB - 1) / kMiB;
    return std::to_string(128 + extra) + "M";
}

} // namespace runner
