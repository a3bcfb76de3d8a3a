// Building the QEMU command line and the guest kernel command line; pure, unit-tested.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "runner/accel.h"
#include "runner/devices.h"
#include "runner/guest_command.h"
#include "runner/options.h"

namespace runner {

// Guest-visible contract (docs/runner.md): COM2 carries the status line, isa-debug-exit the
// (7-bit) status.
inline constexpr std::string_view kStatusChardevId = "nimbus-status";
inline constexpr unsigned kStatusUartPort = 0x2f8;
inline constexpr unsigned kDebugExitPort = 0xf4;

// How the guest's console input is connected (docs/runner.md, "Standard input").
//  Tty:  the runner's stdin is a terminal; QEMU takes it over (raw mode, Ctrl-C goes to the
//        guest) through "-chardev stdio,signal=off"; the kernel's default console.input=tty.
//  Pipe: anything else; the runner relays its stdin to QEMU's through a pipe, framed by the
//        relay protocol (stdin_relay.h), and tells the kernel console.input=pipe.
enum class ConsoleInput { Tty, Pipe };

// The boot option that tells the kernel about ConsoleInput::Pipe.
inline constexpr std::string_view kPipeInputBootOption = "console.input=pipe";

// Everything build_qemu_argv() needs besides the options.
struct QemuInputs {
    std::string qemu;         // executable path (argv[0])
    std::string kernel;       // resolved kernel path
    std::string status_path;  // file receiving the status channel
    AccelChoice accel;
    std::vector<std::string> guest_environment;  // NAME=VALUE words before the program, if any
    ConsoleInput console_input = ConsoleInput::Pipe;
    std::vector<Disk> disks;  // the --disk options, checked and with their format, in order
    bool vhost_net = false;   // a tap NIC may use vhost-net (KVM and a usable /dev/vhost-net)
};

// Kernel command line: the --boot options (quote_boot_option) separated by spaces, then, when
// there are guest words, " -- " and the words (quote_guest_word) separated by spaces.
std::string build_kernel_cmdline(const std::vector<std::string>& boot_options,
                                 const std::vector<std::string>& words);

// The machine-specific "-M ..." value. microvm-noacpi has auto-kernel-cmdline=off: the runner
// announces virtio-mmio devices itself, before " -- " (QEMU would append them after the
// program's arguments).
std::string machine_argument(Machine);

// The complete argv for QEMU, argv[0] included. The devices (opts.rng, in.disks, the NIC of
// opts.net) come last; on microvm their virtio_mmio.device announcements follow the console
// mode on the kernel command line, before the --boot options. Fails only when the devices do
// not fit the machine (check_virtio_device_count).
Parsed<std::vector<std::string>> build_qemu_argv(const RunOptions&, const QemuInputs&);

// argv rendered for a POSIX shell (single quotes where needed), for --dry-run.
std::string shell_quote_command(const std::vector<std::string>& argv);

} // namespace runner
