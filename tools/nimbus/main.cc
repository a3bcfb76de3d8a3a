// `nimbus`: the host-side runner. Boots a Nimbus kernel under QEMU and exits with the guest's
// status, building the root image of a host program first (docs/runner.md). The decisions
// live in the runner library (unit-tested); this file does the I/O: locating QEMU and the
// kernel, the image (image_command.cc), the disks, the tap device, the status file, the
// accelerator notice.
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "runner/accel.h"
#include "runner/devices.h"
#include "image_command.h"
#include "runner/exit_status.h"
#include "runner/guest_command.h"
#include "runner/options.h"
#include "runner/qemu_command.h"
#include "vm_process.h"

namespace {

constexpr const char* kQemuName = "qemu-system-x86_64";

int fail(const std::string& message) {
    std::fprintf(stderr, "nimbus: %s\n", message.c_str());
    return runner::kStatusRunnerError;
}

bool is_executable_file(const std::string& path) {
    std::error_code ec;
    return std::filesystem::is_regular_file(path, ec) && ::access(path.c_str(), X_OK) == 0;
}

// --qemu PATH, else $NIMBUS_QEMU, else qemu-system-x86_64 on $PATH. A name without '/' is
// looked up on $PATH. Returns "" (and sets *problem) when nothing runnable is found.
std::string find_qemu(const runner::RunOptions& opts, std::string* problem) {
    std::string want = kQemuName;
    std::string origin = "on PATH";
    if (opts.qemu) {
        want = *opts.qemu;
        origin = "(--qemu)";
    } else if (const char* env = ::getenv("NIMBUS_QEMU"); env != nullptr && *env != '\0') {
        want = env;
        origin = "($NIMBUS_QEMU)";
    }
    if (want.find('/') != std::string::npos) {
        if (is_executable_file(want)) {
            return want;
        }
        *problem = "QEMU not found or not executable: " + want + " " + origin;
        return {};
    }
    const char* path_env = ::getenv("PATH");
    std::stringstream dirs(path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        std::string candidate = (dir.empty() ? "." : dir) + "/" + want;
        if (is_executable_file(candidate)) {
            return candidate;
        }
    }
    *problem = want + " not found on PATH (install qemu-system-x86, or pass --qemu PATH)";
    return {};
}

// --kernel, else $NIMBUS_KERNEL, else <directory of this executable>/../kernel/kernel.elf.
std::string default_kernel_path(const runner::RunOptions& opts) {
    if (opts.kernel) {
        return *opts.kernel;
    }
    if (const char* env = ::getenv("NIMBUS_KERNEL"); env != nullptr && *env != '\0') {
        return env;
    }
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) {
        return "kernel/kernel.elf";
    }
    return (self.parent_path().parent_path() / "kernel" / "kernel.elf").lexically_normal();
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// Checks each --disk file (it exists, is a regular file or a block device, can be read, and
// written unless ",ro"; the same file is not attached twice unless always read-only) and
// reads its first bytes for the format. Paths become absolute, so that the command (and
// --dry-run's) does not depend on the current directory.
runner::Parsed<std::vector<runner::Disk>> resolve_disks(const std::vector<runner::DiskOption>& options) {
    using Result = runner::Parsed<std::vector<runner::Disk>>;
    struct Seen {
        dev_t dev;
        ino_t ino;
        bool read_only;
        std::string path;
    };
    std::vector<Seen> seen;
    std::vector<runner::Disk> disks;
    for (const auto& option : options) {
        const std::string& path = option.path;
        struct stat st{};
        if (::stat(path.c_str(), &st) != 0) {
            return Result::fail(errno == ENOENT ? "disk not found: " + path
                                                : "cannot access disk " + path + ": " + std::strerror(errno));
        }
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
            return Result::fail("disk " + path + " is not a regular file or a block device");
        }
        for (const auto& other : seen) {
            if (other.dev == st.st_dev && other.ino == st.st_ino && !(other.read_only && option.read_only)) {
                return Result::fail("disk " + path + " is attached twice (also as " + other.path +
                                    "); only read-only disks may be shared");
            }
        }
        seen.push_back({st.st_dev, st.st_ino, option.read_only, path});
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            return Result::fail("cannot read disk " + path + ": " + std::strerror(errno));
        }
        char head[runner::kDiskMagicSize];
        size_t got = 0;
        while (got < sizeof head) {
            ssize_t n = ::read(fd, head + got, sizeof head - got);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0) {
                int e = errno;
                ::close(fd);
                return Result::fail("cannot read disk " + path + ": " + std::strerror(e));
            }
            if (n == 0) {
                break;  // a file shorter than the magic: raw
            }
            got += static_cast<size_t>(n);
        }
        ::close(fd);
        if (!option.read_only && ::access(path.c_str(), W_OK) != 0) {
            return Result::fail("disk " + path + " is not writable: " + std::strerror(errno) +
                                " (attach it read-only with --disk " + path + ",ro)");
        }
        std::error_code ec;
        auto absolute = std::filesystem::absolute(path, ec);
        runner::Disk disk{ec ? path : absolute.string(), option.read_only,
                          runner::detect_disk_format(std::string_view(head, got))};
        disks.push_back(std::move(disk));
    }
    return Result::ok(std::move(disks));
}

// --net tap:NAME: the device must exist in the runner's network namespace (QEMU, as root,
// would otherwise create an unconfigured one and the guest would talk to nothing), and be
// multi-queue exactly when the NIC has several queues. The flags come from sysfs, which
// `ip netns exec` remounts for the namespace; without them QEMU has the last word.
runner::Status check_tap_device(const runner::RunOptions& opts) {
    const runner::NetOptions& net = opts.net;
    if (net.mode != runner::NetMode::Tap) {
        return runner::Status::ok();
    }
    if (::if_nametoindex(net.tap_name.c_str()) == 0) {
        return runner::Status::fail("tap device " + net.tap_name +
                                    " not found in this network namespace (create it first: ip tuntap add dev " +
                                    net.tap_name + " mode tap; see docs/networking.md)");
    }
    std::string flags = read_file("/sys/class/net/" + net.tap_name + "/tun_flags");
    if (flags.empty()) {
        return runner::Status::ok();
    }
    char* end = nullptr;
    unsigned long value = std::strtoul(flags.c_str(), &end, 16);
    if (end == flags.c_str()) {
        return runner::Status::ok();
    }
    return runner::check_tap_queues(net.tap_name, static_cast<unsigned>(value), runner::nic_queue_pairs(opts));
}

int run(runner::RunOptions opts) {
    std::string kernel = default_kernel_path(opts);
    std::string qemu_problem;
    std::string qemu = find_qemu(opts, &qemu_problem);
    if (!opts.dry_run) {
        // --dry-run only prints, so it works without QEMU or a built kernel.
        if (qemu.empty()) {
            return fail(qemu_problem);
        }
        std::error_code ec;
        if (!std::filesystem::is_regular_file(kernel, ec)) {
            return fail("kernel not found: " + kernel +
                        (opts.kernel ? "" : " (build it, or pass --kernel / set NIMBUS_KERNEL)"));
        }
        if (opts.initrd && !std::filesystem::is_regular_file(*opts.initrd, ec)) {
            return fail("initrd not found: " + *opts.initrd);
        }
        if (runner::Status s = check_tap_device(opts); !s) {
            return fail(s.error);
        }
    } else if (qemu.empty()) {
        qemu = opts.qemu.value_or(kQemuName);
    }
    // Disks are checked even for --dry-run: the command names their format.
    auto disks = resolve_disks(opts.disks);
    if (!disks) {
        return fail(disks.error);
    }

    // A host program without --initrd: run it from its root image (built or cached), under
    // its absolute path. Any image gets guest RAM to hold it unless --memory says otherwise.
    std::vector<std::string> environment;
    if (!opts.program.empty()) {
        if (!opts.initrd) {
            auto image = runner::prepare_run_image(opts.program[0], opts.image);
            if (!image) {
                return fail(image.error);
            }
            std::fprintf(stderr, "nimbus: %s%s\n", runner::image_summary(*image.value).c_str(),
                         image.value->reused ? " (cached)" : "");
            opts.initrd = image.value->path;
            opts.program[0] = image.value->program;
        }
        environment = runner::merge_environment(
            runner::default_guest_environment(::isatty(STDOUT_FILENO) == 1), opts.env);
    }
    if (opts.initrd && !opts.memory_given) {
        std::error_code ec;
        auto size = std::filesystem::file_size(*opts.initrd, ec);
        opts.memory = runner::memory_for_image(ec ? 0 : size);
    }

    auto accel = runner::choose_accel(opts.accel, runner::probe_host_virt(), opts.icount);
    if (!accel) {
        return fail(accel.error);
    }
    std::fprintf(stderr, "nimbus: accel %s (%s)\n",
                 std::string(runner::accel_name(accel.value->accel)).c_str(),
                 accel.value->reason.c_str());

    // A terminal goes to QEMU as it is; anything else is relayed (docs/runner.md).
    bool relay_stdin = ::isatty(STDIN_FILENO) != 1;
    runner::QemuInputs inputs{
        .qemu = qemu,
        .kernel = kernel,
        .status_path = {},
        .accel = *accel.value,
        .guest_environment = environment,
        .console_input = relay_stdin ? runner::ConsoleInput::Pipe : runner::ConsoleInput::Tty,
        .disks = std::move(*disks.value),
        // vhost-net serves KVM guests; under TCG QEMU's own tap path is used.
        .vhost_net = accel.value->accel == runner::Accel::Kvm && ::access("/dev/vhost-net", R_OK | W_OK) == 0,
    };
    if (opts.dry_run) {
        inputs.status_path = "/tmp/nimbus-status-XXXXXX";
        auto argv = runner::build_qemu_argv(opts, inputs);
        if (!argv) {
            return fail(argv.error);
        }
        std::printf("%s\n", runner::shell_quote_command(*argv.value).c_str());
        return 0;
    }

    const char* tmpdir = ::getenv("TMPDIR");
    std::string status_template =
        std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") + "/nimbus-status-XXXXXX";
    std::vector<char> path_buf(status_template.begin(), status_template.end());
    path_buf.push_back('\0');
    int status_fd = ::mkstemp(path_buf.data());
    if (status_fd < 0) {
        return fail("cannot create the status file " + status_template);
    }
    ::close(status_fd);
    inputs.status_path = path_buf.data();
    auto argv = runner::build_qemu_argv(opts, inputs);
    if (!argv) {
        ::unlink(inputs.status_path.c_str());
        return fail(argv.error);
    }

    std::fflush(stderr);
    runner::QemuOutcome outcome;
    std::string error;
    bool started = runner::run_qemu(*argv.value, relay_stdin,
                                    opts.timeout_seconds, &outcome, &error);
    std::string status_text = read_file(inputs.status_path);
    ::unlink(inputs.status_path.c_str());
    if (!started) {
        return fail(error);
    }
    runner::Verdict verdict =
        runner::decide_exit_status(runner::parse_status_record(status_text), outcome);
    if (!verdict.explanation.empty()) {
        std::fprintf(stderr, "nimbus: %s (exit %d)\n", verdict.explanation.c_str(), verdict.status);
    }
    return verdict.status;
}

} // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    auto parsed = runner::parse_command_line(args);
    if (!parsed) {
        return fail(parsed.error);
    }
    switch (parsed.value->command) {
    case runner::Command::Help:
        std::fputs(std::string(runner::usage_text()).c_str(), stdout);
        return 0;
    case runner::Command::RunHelp:
        std::fputs(std::string(runner::run_usage_text()).c_str(), stdout);
        return 0;
    case runner::Command::ImageHelp:
        std::fputs(std::string(runner::image_usage_text()).c_str(), stdout);
        return 0;
    case runner::Command::Image:
        return runner::image_command(parsed.value->image);
    case runner::Command::Run:
        break;
    }
    return run(parsed.value->run);
}
