// The stdin relay protocol: how the runner passes a non-terminal stdin to the guest's console
// through QEMU's (docs/runner.md, "Standard input"). Pure, unit-tested.
//
// The console is a byte stream with no start or end, so both are marked in band: the stream
// opens with padding and DLE 'S' (the guest's UART may lose the first bytes while the kernel
// sets it up; the kernel discards everything before DLE 'S'), then bytes pass unchanged
// except DLE (0x10), which is doubled, and DLE 'E' marks the end of the input. The kernel's
// decoder is kernel/tty/pipe_input.h.
#pragma once

#include <cstddef>
#include <string>

namespace runner {

inline constexpr char kRelayEscape = 0x10;  // DLE
inline constexpr char kRelayStart = 'S';
inline constexpr char kRelayEnd = 'E';
// Padding bytes before the start marker (the UART loses at most two).
inline constexpr size_t kRelayPadding = 4;

// Appends the opening: kRelayPadding NUL bytes and the start marker.
void relay_encode_start(std::string* out);
// Appends the encoding of [data, data + size) to *out.
void relay_encode(const char* data, size_t size, std::string* out);
// Appends the end-of-input marker to *out.
void relay_encode_end(std::string* out);

} // namespace runner
