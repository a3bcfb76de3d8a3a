// Exit-status decisions of the runner (table in docs/runner.md).
#include "runner/exit_status.h"

#include <charconv>

namespace runner {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' ||
                          s.front() == '\n')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' ||
                          s.back() == '\n')) {
        s.remove_suffix(1);
    }
    return s;
}

} // namespace

StatusRecord parse_status_record(std::string_view contents) {
    StatusRecord rec;
    std::string_view line = trim(contents);
    if (line.empty()) {
        return rec;
    }
    if (line == "panic") {
        rec.kind = StatusRecord::Kind::Panic;
        return rec;
    }
    constexpr std::string_view kExit = "exit ";
    if (line.substr(0, kExit.size()) == kExit) {
        std::string_view num = line.substr(kExit.size());
        int n = -1;
        auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), n);
        bool canonical = !num.empty() && num.size() <= 3 && (num.front() != '0' || num.size() == 1);
        if (canonical && ec == std::errc{} && ptr == num.data() + num.size() && n >= 0 &&
            n <= 255) {
            rec.kind = StatusRecord::Kind::Exit;
            rec.code = n;
            return rec;
        }
    }
    rec.kind = StatusRecord::Kind::Malformed;
    rec.text = std::string(line.substr(0, 80));
    return rec;
}

std::optional<int> decode_debug_exit_code(int qemu_exit_code) {
    if (qemu_exit_code < 0 || qemu_exit_code > 255 || (qemu_exit_code & 1) == 0) {
        return std::nullopt;
    }
    return (qemu_exit_code - 1) / 2;
}

Verdict decide_exit_status(const StatusRecord& rec, const QemuOutcome& q) {
    if (q.timed_out) {
        return {kStatusTimeout, "timeout: the VM did not exit in time, QEMU killed"};
    }
    if (q.forwarded_signal != 0) {
        return {128 + q.forwarded_signal, "interrupted: signal forwarded to QEMU"};
    }
    switch (rec.kind) {
    case StatusRecord::Kind::Exit:
        return {rec.code, {}};
    case StatusRecord::Kind::Panic:
        return {kStatusPanic, "kernel panic"};
    case StatusRecord::Kind::Malformed:
    case StatusRecord::Kind::None:
        break;
    }
    std::string prefix = rec.kind == StatusRecord::Kind::Malformed
                             ? "malformed status line '" + rec.text + "'; "
                             : std::string("no status line; ");
    if (!q.exited) {
        return {kStatusNoReport, prefix + "QEMU killed by signal " + std::to_string(q.term_signal) +
                                     ": guest ended without reporting a status"};
    }
    // QEMU's own fatal errors exit with 1, which is also isa-debug-exit's code for status 0;
    // only an error message on QEMU's stderr tells them apart.
    if (q.exit_code == 1 && q.qemu_printed_error) {
        return {kStatusRunnerError, prefix + "QEMU failed (see its message above)"};
    }
    if (auto v = decode_debug_exit_code(q.exit_code)) {
        if (rec.kind == StatusRecord::Kind::None) {
            return {*v, {}};  // a guest that only uses isa-debug-exit: a normal outcome
        }
        return {*v, prefix + "status decoded from QEMU's exit code (7 bits)"};
    }
    return {kStatusNoReport, prefix + "QEMU exited with " + std::to_string(q.exit_code) +
                                 ": guest ended without reporting a status"};
}

bool is_qemu_error_line(std::string_view line) {
    line = trim(line);
    if (line.empty()) {
        return false;
    }
    if (line.find("warning:") != std::string_view::npos ||
        line.find("terminating on signal") != std::string_view::npos) {
        return false;
    }
    return true;
}

} // namespace runner
