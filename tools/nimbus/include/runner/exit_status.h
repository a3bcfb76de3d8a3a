// How the runner turns "what the guest reported" + "how QEMU ended" into its exit status.
// Pure and unit-tested; the table is in docs/runner.md.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace runner {

inline constexpr int kStatusPanic = 120;          // guest reported "panic"
inline constexpr int kStatusNoReport = 121;       // guest ended without reporting a status
inline constexpr int kStatusTimeout = 124;        // --timeout expired, QEMU killed
inline constexpr int kStatusRunnerError = 125;    // bad arguments, QEMU/kernel missing, QEMU failed

// The one line the guest writes on the status channel before exiting.
struct StatusRecord {
    enum class Kind { None, Exit, Panic, Malformed };
    Kind kind = Kind::None;
    int code = 0;         // for Exit: 0..255
    std::string text;     // for Malformed: the offending line (trimmed), for the warning
};

// Parses the status channel contents: empty -> None; "exit N" (0 <= N <= 255) or "panic",
// optionally followed by "\n" / "\r\n" -> Exit / Panic; anything else -> Malformed.
StatusRecord parse_status_record(std::string_view contents);

// How the QEMU process ended, as observed by the runner.
struct QemuOutcome {
    bool exited = false;          // normal exit (else killed by a signal)
    int exit_code = 0;            // when exited
    int term_signal = 0;          // when killed by a signal
    bool timed_out = false;       // the runner killed it because --timeout expired
    int forwarded_signal = 0;     // SIGINT/SIGTERM the runner got and forwarded, or 0
    bool qemu_printed_error = false;  // QEMU wrote a non-warning line to stderr
};

struct Verdict {
    int status = 0;
    std::string explanation;  // empty when the guest reported normally
};

// isa-debug-exit: QEMU exits with ((v << 1) | 1) & 0xff; returns v's low 7 bits for odd codes.
std::optional<int> decode_debug_exit_code(int qemu_exit_code);

Verdict decide_exit_status(const StatusRecord&, const QemuOutcome&);

// True for a QEMU stderr line that reports an error (not a warning, not the notice QEMU prints
// when it terminates on a signal).
bool is_qemu_error_line(std::string_view line);

} // namespace runner
