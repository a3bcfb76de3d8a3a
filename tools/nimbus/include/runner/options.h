// Command-line model of the `nimbus` runner and its parser (pure: no I/O, unit-tested).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runner/network.h"
#include "runner/parsed.h"

namespace runner {

// The QEMU machine models the runner knows how to boot (docs/runner.md, "Machines").
enum class Machine { Q35, Pc, Microvm, MicrovmNoAcpi };

// What the user asked for with --accel; Auto means "KVM when usable, else TCG".
enum class AccelRequest { Auto, Kvm, Tcg };

std::string_view machine_name(Machine);
std::optional<Machine> parse_machine(std::string_view);

// What goes into a root image besides the program (`nimbus run PROGRAM`, `nimbus image`).
struct ImageInputs {
    std::vector<std::string> adds;          // --add HOST[:GUEST], in order, as given
    std::vector<std::string> manifests;     // --manifest FILE, in order
    std::vector<std::string> library_path;  // --library-path DIR, in order

    bool empty() const { return adds.empty() && manifests.empty() && library_path.empty(); }
};

// A --disk FILE[,ro] as given; main.cc checks the file and detects its format (devices.h).
struct DiskOption {
    std::string path;
    bool read_only = false;

    bool operator==(const DiskOption&) const = default;
};

// Options of `nimbus run`. Defaults are the documented ones.
struct RunOptions {
    Machine machine = Machine::Microvm;
    unsigned cpus = 1;
    std::string memory = "128M";           // normalised QEMU -m size (digits + K/M/G/T)
    bool memory_given = false;             // --memory was used (else it grows with the image)
    AccelRequest accel = AccelRequest::Auto;
    std::vector<std::string> boot_options;  // --boot, in order
    std::optional<std::string> kernel;      // --kernel; else $NIMBUS_KERNEL; else next to nimbus
    std::optional<std::string> initrd;      // --initrd
    double timeout_seconds = 0;             // 0 = no timeout
    bool icount = false;
    bool dry_run = false;
    std::optional<std::string> qemu;        // --qemu; else $NIMBUS_QEMU; else PATH lookup
    ImageInputs image;                      // for the image built from PROGRAM
    std::vector<std::string> env;           // --env NAME=VALUE, in order
    std::vector<DiskOption> disks;          // --disk, in order: the guest's vda, vdb, ...
    bool rng = false;                       // --rng: a virtio-rng device
    NetOptions net;                         // --net, -p, --mac: a virtio-net NIC (default user)
    std::vector<std::string> program;       // guest program and its arguments (may be empty)
};

// Options of `nimbus image`.
struct ImageOptions {
    enum class Action { Build, Check, List };
    Action action = Action::Build;
    std::string output;   // Build: -o/--output
    std::string image;    // Check/List: the image file
    ImageInputs inputs;
    std::string program;  // Build: the program, as given
};

enum class Command { Help, RunHelp, Run, ImageHelp, Image };

struct ParsedCommand {
    Command command = Command::Help;
    RunOptions run;
    ImageOptions image;
};

// Parses argv[1..] (argv[0] excluded). Options take their value as the next argument or after
// '='. Option parsing of `run` and `image` stops at "--" or at the first non-option argument:
// everything from there on is the guest program (and, for `run`, its arguments, passed
// through untouched).
Parsed<ParsedCommand> parse_command_line(std::span<const std::string> args);

// The value of --disk: FILE, then optionally ",ro". A ',' inside FILE is written ",," (as in
// QEMU's options), so "a,,b.img,ro" is the file "a,b.img", read-only. Errors on an empty FILE
// and on any option other than "ro".
Parsed<DiskOption> parse_disk_option(std::string_view);

// "128M", "1G", "512" (MiB, as QEMU) -> normalised "128M"; errors on anything else or zero.
Parsed<std::string> parse_memory_size(std::string_view);

// Seconds, possibly fractional ("2.5"); 0 disables the timeout.
Parsed<double> parse_timeout(std::string_view);

std::string_view usage_text();
std::string_view run_usage_text();
std::string_view image_usage_text();

} // namespace runner
