// Parser of the `nimbus` command line.
#include "runner/options.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace runner {

namespace {

constexpr std::string_view kUsage =
    "usage: nimbus run [OPTIONS] [--] [PROGRAM [ARGS...]]\n"
    "       nimbus --help | nimbus run --help\n"
    "\n"
    "Boots the Nimbus kernel under QEMU, streams its console (COM1) to stdout and exits with\n"
    "the guest's status. See docs/runner.md.\n";

constexpr std::string_view kRunUsage =
    "usage: nimbus run [OPTIONS] [--] [PROGRAM [ARGS...]]\n"
    "\n"
    "  --machine M     q35 | pc | microvm | microvm-noacpi           (default microvm)\n"
    "  --cpus N        virtual CPUs, 1..255                           (default 1)\n"
    "  --memory SIZE   guest RAM: N[K|M|G|T], plain N is MiB          (default 128M)\n"
    "  --accel A       kvm | tcg    (default: kvm if vmx/svm and /dev/kvm usable, else tcg)\n"
    "  --boot OPTION   kernel boot option, repeatable\n"
    "  --kernel PATH   kernel ELF   (default $NIMBUS_KERNEL, else <nimbus dir>/../kernel/kernel.elf)\n"
    "  --initrd PATH   initial ramdisk passed to QEMU -initrd\n"
    "  --timeout SECS  kill QEMU after SECS seconds and exit 124 (default: none)\n"
    "  --icount        deterministic TCG: 1 guest instruction = 1 ns (-icount shift=0,sleep=off)\n"
    "  --dry-run       print the QEMU command line instead of running it\n"
    "  --qemu PATH     QEMU binary  (default $NIMBUS_QEMU, else qemu-system-x86_64 on PATH)\n"
    "  -h, --help      this text\n"
    "\n"
    "PROGRAM and ARGS (everything from the first non-option argument on) are appended to the\n"
    "kernel command line after \" -- \".\n"
    "\n"
    "Exit status: the guest's status 0..255; 120 kernel panic; 121 guest ended without\n"
    "reporting a status; 124 timeout; 125 runner error (bad arguments, QEMU or kernel missing,\n"
    "QEMU failed to start); 128+SIG when interrupted by SIGINT/SIGTERM.\n";

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

Parsed<RunOptions> parse_run(std::span<const std::string> args, bool& wants_help) {
    RunOptions opts;
    size_t i = 0;
    while (i < args.size()) {
        const std::string& arg = args[i];
        if (arg == "--") {
            ++i;
            break;
        }
        if (arg.size() < 2 || arg[0] != '-') {
            break;  // first non-option: the guest program starts here
        }
        if (arg == "-h" || arg == "--help") {
            wants_help = true;
            return Parsed<RunOptions>::ok(opts);
        }
        auto [name, inline_value] = split_option(arg);
        auto flag = [&](bool& field) -> std::string {
            if (inline_value) {
                return "option " + std::string(name) + " takes no value";
            }
            field = true;
            return {};
        };
        // Fetches the option's value (inline or next argument).
        std::optional<std::string> value;
        auto take_value = [&]() -> bool {
            if (inline_value) {
                value = std::string(*inline_value);
                return true;
            }
            if (i + 1 >= args.size()) {
                return false;
            }
            value = args[++i];
            return true;
        };

        std::string error;
        if (name == "--icount") {
            error = flag(opts.icount);
        } else if (name == "--dry-run") {
            error = flag(opts.dry_run);
        } else if (name == "--machine" || name == "--cpus" || name == "--memory" ||
                   name == "--accel" || name == "--boot" || name == "--kernel" ||
                   name == "--initrd" || name == "--timeout" || name == "--qemu") {
            if (!take_value()) {
                return Parsed<RunOptions>::fail("option " + std::string(name) + " needs a value");
            }
            const std::string& v = *value;
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
                if (v.empty()) {
                    error = "empty --boot option";
                } else {
                    opts.boot_options.push_back(v);
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
        ++i;
    }
    opts.program.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
    if (opts.icount && opts.accel == AccelRequest::Kvm) {
        return Parsed<RunOptions>::fail("--icount needs TCG; it cannot be combined with --accel kvm");
    }
    return Parsed<RunOptions>::ok(std::move(opts));
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
    if (first != "run") {
        return Parsed<ParsedCommand>::fail("unknown command '" + first + "' (try nimbus --help)");
    }
    bool wants_help = false;
    auto run = parse_run(args.subspan(1), wants_help);
    if (!run) {
        return Parsed<ParsedCommand>::fail(run.error);
    }
    cmd.command = wants_help ? Command::RunHelp : Command::Run;
    cmd.run = std::move(*run.value);
    return Parsed<ParsedCommand>::ok(std::move(cmd));
}

std::string_view usage_text() { return kUsage; }
std::string_view run_usage_text() { return kRunUsage; }

} // namespace runner
