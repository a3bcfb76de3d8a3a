// The parsed boot hand-off (PVH start_info), for code that runs after kernel_main has read it.
#pragma once

#include <boot/options.h>
#include <boot/pvh.h>

namespace core {

// Records the boot information kernel_main parsed; `info` must live forever (it is
// kernel_main's static). Call once, right after parse_start_info succeeded.
void set_boot_info(const boot::BootInfo& info);

// The boot information recorded by set_boot_info(); calling it earlier is a kernel bug.
const boot::BootInfo& boot_info();

// The boot options kernel_main parsed from the command line (same rules: record once, forever
// alive, read after).
void set_boot_options(const boot::Options& options);
const boot::Options& boot_options();

} // namespace core
