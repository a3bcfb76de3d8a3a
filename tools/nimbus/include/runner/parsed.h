// Errors as values for the runner's host code: a result or a one-line message (no "nimbus:"
// prefix; the caller prints "nimbus: MESSAGE" and exits 125).
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace runner {

// Either a value or a one-line error message.
template <typename T>
struct [[nodiscard]] Parsed {
    std::optional<T> value;
    std::string error;

    static Parsed ok(T v) { return Parsed{std::move(v), {}}; }
    static Parsed fail(std::string message) { return Parsed{std::nullopt, std::move(message)}; }
    explicit operator bool() const { return value.has_value(); }
};

// Success, or a one-line error message.
struct [[nodiscard]] Status {
    std::string error;

    static Status ok() { return {}; }
    static Status fail(std::string message) { return Status{std::move(message)}; }
    explicit operator bool() const { return error.empty(); }
};

} // namespace runner
