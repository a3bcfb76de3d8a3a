// Starting the application: load its ELF executable (and its PT_INTERP interpreter) from the
// file system, build the initial stack as Linux's execve does, and run its main thread.
#pragma once

#include <boot/app_command.h>
#include <fs/path.h>
#include <lib/result.h>

namespace lx {

// Loads argv[0] of `cmd` through `ctx` and starts its main thread (tid = pid). On an error
// nothing is left running and `why` holds a one-line reason ("/bin/x: not an ELF file").
lib::Result<void> start_application(const fs::PathContext& ctx, const boot::AppCommand& cmd, char* why,
                                    size_t why_size);

// The auxiliary vector the program started with (its bytes, for /proc/self/auxv).
size_t initial_auxv(const void** data);

// The main thread's stack [bottom, top) as exec mapped it (zeros before), for the
// "[stack]" of /proc/self/maps.
struct StackRange {
    uint64_t bottom = 0;
    uint64_t top = 0;
};
StackRange main_stack_range();

} // namespace lx
