// Running QEMU as a child: console passthrough, stdin relay, stderr relay, signal forwarding,
// timeout.
#pragma once

#include <string>
#include <vector>

#include "runner/exit_status.h"

namespace runner {

// Runs argv (argv[0] = QEMU executable path) until it ends. QEMU's stdout is the runner's (so
// the console streams live), its stderr is relayed line by line to the runner's stderr and
// inspected for error messages. Its stdin: with `relay_stdin`, a pipe through which the
// runner relays its own stdin in the relay protocol (stdin_relay.h), ending with the end
// marker and kept open until QEMU exits; without, the runner's stdin itself (a terminal,
// whose modes are restored afterwards in case QEMU could not). SIGINT/SIGTERM received by the
// runner are forwarded to QEMU. With timeout_seconds > 0, QEMU is SIGKILLed at the deadline.
// Returns false (with a message in *error) only if QEMU could not be started at all.
bool run_qemu(const std::vector<std::string>& argv, bool relay_stdin, double timeout_seconds,
              QemuOutcome* outcome, std::string* error);

} // namespace runner
