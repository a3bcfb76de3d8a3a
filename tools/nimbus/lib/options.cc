// Parser of the `nimbus` command line.
#include "runner/options.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <tuple>

#include "runner/devices.h"
#include "runner/guest_command.h"
#include "runner/image_contents.h"

namespace runner {

namespace {

constexpr std::string_view kUsage =
    "usage: nimbus run [OPTIONS] [--] [PROGRAM [ARGS...]]\n"
    "       nimbus image [OPTIONS] -o IMAGE PROGRAM\n"
    "       nimbus image --check IMAGE | --list IMAGE\n"
    "       nimbus --help | nimbus run --help | nimbus image --help\n"
    "\n"
    "run boots the Nimbus kernel under QEMU, streams its console (COM1) to stdout and exits\n"
    "with the guest's status; given a host PROGRAM, it first builds (or reuses from the cache)\n"
    "a root image holding it. image writes such an image to a file. See docs/runner.md.\n";

constexpr std::string_view kRunUsage =
    "usage: nimbus run [OPTIONS] [--] [PROGRAM [ARGS...]]\n"
    "\n"
    "  --machine M     q35 | pc | microvm | microvm-noacpi           (default microvm)\n"
    "  --cpus N        virtual CPUs, 1..255                           (default 1)\n"
    "  --memory SIZE   guest RAM: N[K|M|G|T], plain N is MiB\n"
    "                  (default 128M; with an image or --initrd 128M + 2 x its size)\n"
    "  --accel A       kvm | tcg    (default: kvm if vmx/svm and /dev/kvm usable, else tcg)\n"
    "  --boot OPTION   kernel boot option, repeatable\n"
    "  --kernel PATH   kernel ELF   (default $NIMBUS_KERNEL, else <nimbus dir>/../kernel/kernel.elf)\n"
    "  --initrd PATH   root image (or any initial ramdisk) for QEMU -initrd; PROGRAM is then a\n"
    "                  path inside it and no image is built\n"
    "  --timeout SECS  kill QEMU after SECS seconds and exit 124 (default: none)\n"
    "  --icount        deterministic TCG: 1 guest instruction = 1 ns (-icount shift=0,sleep=off)\n"
    "  --dry-run       print the QEMU command line instead of running it (still builds the image)\n"
    "  --qemu PATH     QEMU binary  (default $NIMBUS_QEMU, else qemu-system-x86_64 on PATH)\n"
    "  --env NAME=VALUE       environment of the program, repeatable (default PATH, HOME, TERM)\n"
    "  --add HOST[:GUEST]     also put a host file or directory tree in the image, repeatable\n"
    "  --manifest FILE        --add for each HOST[:GUEST] line of FILE, repeatable\n"
    "  --library-path DIR     search DIR for libraries where LD_LIBRARY_PATH would be, repeatable\n"
    "  --disk FILE[,ro]       attach FILE as a virtio disk, repeatable: the guest's /dev/vda,\n"
    "                         /dev/vdb, ... in order; raw or qcow2 (detected from its header);\n"
    "                         ,ro read-only; a ',' in FILE is written ',,'\n"
    "  --rng                  attach a virtio-rng device fed by the host's /dev/urandom\n"
    "  --net user|tap:NAME|none\n"
    "                         the virtio-net card's network: QEMU's user networking (default;\n"
    "                         the guest reaches out through the host), the host's tap device\n"
    "                         NAME, or no network card\n"
    "  -p, --publish [HOSTADDR:]HOSTPORT:GUESTPORT[/udp]\n"
    "                         --net user: forward HOSTADDR:HOSTPORT (default address\n"
    "                         127.0.0.1) to the guest's GUESTPORT, tcp or /udp; repeatable\n"
    "  --mac XX:XX:XX:XX:XX:XX  the card's MAC address (default 52:54:00:12:34:56)\n"
    "  --net-offload all|csum|none\n"
    "                         --net tap: the offloads the card offers (default all: checksums,\n"
    "                         TSO, coalesced receive; csum: checksums only; none: no vnet header)\n"
    "  -h, --help      this text\n"
    "\n"
    "PROGRAM is found like a shell does (a name without '/' on $PATH). Without --initrd it is\n"
    "put in a root image with its interpreter and libraries, cached in $NIMBUS_CACHE (else\n"
    "$XDG_CACHE_HOME/nimbus or ~/.cache/nimbus). The environment, PROGRAM and ARGS go on the\n"
    "kernel command line after \" -- \".\n"
    "\n"
    "Exit status: the guest's status 0..255; 120 kernel panic; 121 guest ended without\n"
    "reporting a status; 124 timeout; 125 runner error (bad arguments, QEMU or kernel missing,\n"
    "image not buildable, QEMU failed to start); 128+SIG when interrupted by SIGINT/SIGTERM.\n";

constexpr std::string_view kImageUsage =
    "usage: nimbus image [OPTIONS] -o IMAGE PROGRAM\n"
    "       nimbus image --check IMAGE\n"
    "       nimbus image --list IMAGE\n"
    "\n"
    "Writes a root image holding PROGRAM at its host path, its interpreter and libraries\n"
    "(found as the host's dynamic linker would), a minimal /etc and empty /tmp /dev /proc /sys.\n"
    "Arguments and environment are not stored: give them to nimbus run at run time.\n"
    "\n"
    "  -o, --output IMAGE     the image file to write (replaced atomically)\n"
    "  --add HOST[:GUEST]     also put a host file or directory tree in the image, repeatable\n"
    "  --manifest FILE        --add for each HOST[:GUEST] line of FILE, repeatable\n"
    "  --library-path DIR     search DIR for libraries where LD_LIBRARY_PATH would be, repeatable\n"
    "  --check IMAGE          validate an image; exit 0 if valid, else 1 with the reason\n"
    "  --list IMAGE           list an image's entries\n"
    "  -h, --help             this text\n";

bool is_digits(std::string_view s) {
    if (s.empty()) {
        return false;
    }
    for (char c : s) {
        if (c < '0' || c > '9') {
            return false;
        }
    }
    return true;
}

// Splits "--name=value" into name and value; value is nullopt without '='.
std::pair<std::string_view, std::optional<std::string_view>> split_option(std::string_view arg) {
    auto eq = arg.find('=');
    if (eq == std::string_view::npos) {
        return {arg, std::nullopt};
    }
    return {arg.substr(0, eq), arg.substr(eq + 1)};
}

// The value of an option: after '=' or the next argument.
struct OptionCursor {
    std::span<const std::string> args;
    size_t i = 0;
    std::string_view name;
    std::optional<std::string_view> inline_value;

    // Fetches the option's value; false when there is none.
    bool take_value(std::string* out) {
        if (inline_value) {
            *out = std::string(*inline_value);
            return true;
        }
        if (i + 1 >= args.size()) {
            return false;
        }
        *out = args[++i];
        return true;
    }
};

// The options shared by `run` and `image` that describe the image's contents. Returns true
// if `name` was one of them (with *error set when its value is bad).
bool parse_image_input(OptionCursor& c, ImageInputs& inputs, std::string* error) {
    if (c.name != "--add" && c.name != "--manifest" && c.name != "--library-path") {
        return false;
    }
    std::string v;
    if (!c.take_value(&v)) {
        *error = "option " + std::string(c.name) + " needs a value";
        return true;
    }
    if (v.empty()) {
        *error = "empty value for " + std::string(c.name);
    } else if (c.name == "--add") {
        auto spec = parse_add_spec(v, "/", "--add " + v);
        if (!spec) {
            *error = spec.error;
        } else {
            inputs.adds.push_back(v);
        }
    } else if (c.name == "--manifest") {
        inputs.manifests.push_back(v);
    } else {
        inputs.library_path.push_back(v);
    }
    return true;
}

Parsed<RunOptions> parse_run(std::span<const std::string> args, bool& wants_help) {
    RunOptions opts;
    OptionCursor c{args, 0, {}, std::nullopt};
    for (; c.i < args.size(); ++c.i) {
        const std::string& arg = args[c.i];
        if (arg == "--") {
            ++c.i;
            break;
        }
        if (arg.size() < 2 || arg[0] != '-') {
            break;  // first non-option: the guest program starts here
        }
        if (arg == "-h" || arg == "--help") {
            wants_help = true;
            return Parsed<RunOptions>::ok(opts);
        }
        std::tie(c.name, c.inline_value) = split_option(arg);
        std::string_view name = c.name;
        auto flag = [&](bool& field) -> std::string {
            if (c.inline_value) {
                return "option " + std::string(name) + " takes no value";
            }
            field = true;
            return {};
        };

        std::string error;
        if (name == "--icount") {
            error = flag(opts.icount);
        } else if (name == "--dry-run") {
            error = flag(opts.dry_run);
        } else if (name == "--rng") {
            error = flag(opts.rng);
        } else if (parse_image_input(c, opts.image, &error)) {
            // done
        } else if (name == "--machine" || name == "--cpus" || name == "--memory" ||
                   name == "--accel" || name == "--boot" || name == "--kernel" ||
                   name == "--initrd" || name == "--timeout" || name == "--qemu" ||
                   name == "--env" || name == "--disk" || name == "--net" || name == "-p" ||
                   name == "--publish" || name == "--mac" || name == "--net-offload") {
            std::string v;
            if (!c.take_value(&v)) {
                return Parsed<RunOptions>::fail("option " + std::string(name) + " needs a value");
            }
            if (name == "--machine") {
                auto m = parse_machine(v);
                if (!m) {
                    error = "unknown machine '" + v + "' (expected q35, pc, microvm or microvm-noacpi)";
                } else {
                    opts.machine = *m;
                }
            } else if (name == "--cpus") {
                unsigned n = 0;
                auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
                if (!is_digits(v) || ec != std::errc{} || ptr != v.data() + v.size() || n < 1 ||
                    n > 255) {
                    error = "bad --cpus '" + v + "' (expected 1..255)";
                } else {
                    opts.cpus = n;
                }
            } else if (name == "--memory") {
                auto size = parse_memory_size(v);
                if (!size) {
                    error = size.error;
                } else {
                    opts.memory = *size.value;
                    opts.memory_given = true;
                }
            } else if (name == "--accel") {
                if (v == "kvm") {
                    opts.accel = AccelRequest::Kvm;
                } else if (v == "tcg") {
                    opts.accel = AccelRequest::Tcg;
                } else {
                    error = "unknown accelerator '" + v + "' (expected kvm or tcg)";
                }
            } else if (name == "--boot") {
                if (Status s = check_boot_option(v); !s) {
                    error = s.error;
                } else {
                    opts.boot_options.push_back(v);
                }
            } else if (name == "--disk") {
                auto disk = parse_disk_option(v);
                if (!disk) {
                    error = disk.error;
                } else {
                    opts.disks.push_back(std::move(*disk.value));
                }
            } else if (name == "--net") {
                auto net = parse_net_option(v);
                if (!net) {
                    error = net.error;
                } else {
                    opts.net.mode = net.value->mode;
                    opts.net.tap_name = net.value->tap_name;
                }
            } else if (name == "-p" || name == "--publish") {
                auto forward = parse_port_forward(v);
                if (!forward) {
                    error = forward.error;
                } else {
                    opts.net.forwards.push_back(std::move(*forward.value));
                }
            } else if (name == "--net-offload") {
                auto offload = parse_net_offload(v);
                if (!offload) {
                    error = "unknown --net-offload '" + v + "' (expected all, csum or none)";
                } else {
                    opts.net.offload = *offload;
                }
            } else if (name == "--mac") {
                auto mac = parse_mac_address(v);
                if (!mac) {
                    error = mac.error;
                } else {
                    opts.net.mac = std::move(*mac.value);
                }
            } else if (name == "--env") {
                if (!is_env_assignment(v)) {
                    error = "bad --env '" + v + "' (expected NAME=VALUE)";
                } else {
                    opts.env.push_back(v);
                }
            } else if (name == "--kernel" || name == "--initrd" || name == "--qemu") {
                if (v.empty()) {
                    error = "empty path for " + std::string(name);
                } else if (name == "--kernel") {
                    opts.kernel = v;
                } else if (name == "--initrd") {
                    opts.initrd = v;
                } else {
                    opts.qemu = v;
                }
            } else if (name == "--timeout") {
                auto t = parse_timeout(v);
                if (!t) {
                    error = t.error;
                } else {
                    opts.timeout_seconds = *t.value;
                }
            }
        } else {
            error = "unknown option '" + arg + "' (see nimbus run --help)";
        }
        if (!error.empty()) {
            return Parsed<RunOptions>::fail(error);
        }
    }
    opts.program.assign(args.begin() + static_cast<std::ptrdiff_t>(c.i), args.end());
    if (opts.icount && opts.accel == AccelRequest::Kvm) {
        return Parsed<RunOptions>::fail("--icount needs TCG; it cannot be combined with --accel kvm");
    }
    if (opts.program.empty() && (!opts.image.empty() || !opts.env.empty())) {
        return Parsed<RunOptions>::fail(
            "--add, --manifest, --library-path and --env need a PROGRAM to run");
    }
    if (Status s = check_net_options(opts.net); !s) {
        return Parsed<RunOptions>::fail(s.error);
    }
    // Checked here too (build_device_args checks again) to fail before an image is built.
    if (Status s = check_virtio_device_count(opts.machine, virtio_device_count(opts), opts.net.has_nic()); !s) {
        return Parsed<RunOptions>::fail(s.error);
    }
    if (opts.initrd && !opts.image.empty()) {
        return Parsed<RunOptions>::fail(
            "--add, --manifest and --library-path build an image; they cannot be combined with --initrd");
    }
    return Parsed<RunOptions>::ok(std::move(opts));
}

Parsed<ImageOptions> parse_image(std::span<const std::string> args, bool& wants_help) {
    ImageOptions opts;
    bool have_output = false;
    std::optional<ImageOptions::Action> inspect;
    OptionCursor c{args, 0, {}, std::nullopt};
    for (; c.i < args.size(); ++c.i) {
        const std::string& arg = args[c.i];
        if (arg == "--") {
            ++c.i;
            break;
        }
        if (arg.size() < 2 || arg[0] != '-') {
            break;
        }
        if (arg == "-h" || arg == "--help") {
            wants_help = true;
            return Parsed<ImageOptions>::ok(opts);
        }
        std::tie(c.name, c.inline_value) = split_option(arg);
        std::string_view name = c.name;
        std::string error;
        if (parse_image_input(c, opts.inputs, &error)) {
            // done
        } else if (name == "-o" || name == "--output" || name == "--check" || name == "--list") {
            std::string v;
            if (!c.take_value(&v) || v.empty()) {
                return Parsed<ImageOptions>::fail("option " + std::string(name) + " needs a value");
            }
            if (name == "-o" || name == "--output") {
                opts.output = v;
                have_output = true;
            } else {
                if (inspect) {
                    return Parsed<ImageOptions>::fail("give only one of --check and --list");
                }
                inspect = name == "--check" ? ImageOptions::Action::Check : ImageOptions::Action::List;
                opts.image = v;
            }
        } else if (name == "--env") {
            error = "--env is a run-time setting, not stored in the image; give it to nimbus run";
        } else {
            error = "unknown option '" + arg + "' (see nimbus image --help)";
        }
        if (!error.empty()) {
            return Parsed<ImageOptions>::fail(error);
        }
    }
    std::span<const std::string> rest = args.subspan(c.i);
    if (inspect) {
        if (have_output || !opts.inputs.empty() || !rest.empty()) {
            return Parsed<ImageOptions>::fail("--check and --list take only the image file");
        }
        opts.action = *inspect;
        return Parsed<ImageOptions>::ok(std::move(opts));
    }
    if (rest.empty()) {
        return Parsed<ImageOptions>::fail("nimbus image needs a PROGRAM (see nimbus image --help)");
    }
    if (rest.size() > 1) {
        return Parsed<ImageOptions>::fail(
            "nimbus image takes no program arguments ('" + rest[1] +
            "'): arguments are not stored in the image; give them to nimbus run");
    }
    if (!have_output) {
        return Parsed<ImageOptions>::fail("nimbus image needs -o IMAGE, the file to write");
    }
    opts.program = rest[0];
    return Parsed<ImageOptions>::ok(std::move(opts));
}

} // namespace

std::string_view machine_name(Machine m) {
    switch (m) {
    case Machine::Q35:
        return "q35";
    case Machine::Pc:
        return "pc";
    case Machine::Microvm:
        return "microvm";
    case Machine::MicrovmNoAcpi:
        return "microvm-noacpi";
    }
    return "?";
}

std::optional<Machine> parse_machine(std::string_view s) {
    for (Machine m : {Machine::Q35, Machine::Pc, Machine::Microvm, Machine::MicrovmNoAcpi}) {
        if (s == machine_name(m)) {
            return m;
        }
    }
    return std::nullopt;
}

Parsed<DiskOption> parse_disk_option(std::string_view value) {
    DiskOption disk;
    size_t i = 0;
    for (; i < value.size(); ++i) {
        if (value[i] != ',') {
            disk.path += value[i];
        } else if (i + 1 < value.size() && value[i + 1] == ',') {
            disk.path += ',';
            ++i;
        } else {
            break;  // a single ',' ends FILE
        }
    }
    if (disk.path.empty()) {
        return Parsed<DiskOption>::fail("empty FILE in --disk '" + std::string(value) + "'");
    }
    while (i < value.size()) {
        size_t start = i + 1;  // after the ','
        size_t end = value.find(',', start);
        std::string_view option = value.substr(start, end == std::string_view::npos ? end : end - start);
        if (option != "ro") {
            return Parsed<DiskOption>::fail("bad option '" + std::string(option) + "' in --disk '" +
                                            std::string(value) +
                                            "' (expected FILE or FILE,ro; write a ',' in FILE as ',,')");
        }
        disk.read_only = true;
        i = end == std::string_view::npos ? value.size() : end;
    }
    return Parsed<DiskOption>::ok(std::move(disk));
}

Parsed<std::string> parse_memory_size(std::string_view s) {
    auto bad = [&] {
        return Parsed<std::string>::fail("bad --memory '" + std::string(s) +
                                         "' (expected e.g. 128M, 1G; plain numbers are MiB)");
    };
    if (s.empty()) {
        return bad();
    }
    char suffix = 'M';
    std::string_view digits = s;
    char last = s.back();
    if (last < '0' || last > '9') {
        switch (last) {
        case 'k': case 'K': suffix = 'K'; break;
        case 'm': case 'M': suffix = 'M'; break;
        case 'g': case 'G': suffix = 'G'; break;
        case 't': case 'T': suffix = 'T'; break;
        default: return bad();
        }
        digits = s.substr(0, s.size() - 1);
    }
    unsigned long long n = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (!is_digits(digits) || ec != std::errc{} || ptr != digits.data() + digits.size() || n == 0) {
        return bad();
    }
    return Parsed<std::string>::ok(std::to_string(n) + suffix);
}

Parsed<double> parse_timeout(std::string_view s) {
    std::string copy(s);
    char* end = nullptr;
    double t = copy.empty() ? -1 : std::strtod(copy.c_str(), &end);
    if (copy.empty() || end != copy.c_str() + copy.size() || !std::isfinite(t) || t < 0 ||
        copy.find_first_not_of("0123456789.") != std::string::npos) {
        return Parsed<double>::fail("bad --timeout '" + copy + "' (expected seconds, e.g. 30 or 2.5)");
    }
    return Parsed<double>::ok(t);
}

Parsed<ParsedCommand> parse_command_line(std::span<const std::string> args) {
    ParsedCommand cmd;
    if (args.empty()) {
        return Parsed<ParsedCommand>::fail("no command given (try nimbus --help)");
    }
    const std::string& first = args[0];
    if (first == "-h" || first == "--help" || first == "help") {
        cmd.command = Command::Help;
        return Parsed<ParsedCommand>::ok(cmd);
    }
    bool wants_help = false;
    if (first == "run") {
        auto run = parse_run(args.subspan(1), wants_help);
        if (!run) {
            return Parsed<ParsedCommand>::fail(run.error);
        }
        cmd.command = wants_help ? Command::RunHelp : Command::Run;
        cmd.run = std::move(*run.value);
        return Parsed<ParsedCommand>::ok(std::move(cmd));
    }
    if (first == "image") {
        auto image = parse_image(args.subspan(1), wants_help);
        if (!image) {
            return Parsed<ParsedCommand>::fail(image.error);
        }
        cmd.command = wants_help ? Command::ImageHelp : Command::Image;
        cmd.image = std::move(*image.value);
        return Parsed<ParsedCommand>::ok(std::move(cmd));
    }
    return Parsed<ParsedCommand>::fail("unknown command '" + first + "' (try nimbus --help)");
}

std::string_view usage_text() { return kUsage; }
std::string_view run_usage_text() { return kRunUsage; }
std::string_view image_usage_text() { return kImageUsage; }

} // namespace runner
