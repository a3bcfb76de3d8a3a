// The QEMU command line of a Nimbus VM. Every flag here is part of the runner's documented
// contract (docs/runner.md); the boot benchmark reuses it through --dry-run.
#include "runner/qemu_command.h"

#include <cstdio>

namespace runner {

std::string build_kernel_cmdline(const std::vector<std::string>& boot_options,
                                 const std::vector<std::string>& words) {
    std::string out;
    for (const auto& opt : boot_options) {
        if (!out.empty()) {
            out += ' ';
        }
        out += quote_boot_option(opt);
    }
    if (!words.empty()) {
        out += out.empty() ? "--" : " --";
        for (const auto& word : words) {
            out += ' ';
            out += quote_guest_word(word);
        }
    }
    return out;
}

std::string machine_argument(Machine m) {
    // microvm: no PIC (the kernel uses the IOAPIC), PIT kept as a calibration reference (the
    // Firecracker machine has one too), RTC kept. "acpi=off" is the Firecracker-like case:
    // devices are found through the MP table and the command line.
    switch (m) {
    case Machine::Q35:
        return "q35";
    case Machine::Pc:
        return "pc";
    case Machine::Microvm:
        return "microvm,acpi=on,pic=off,pit=on,rtc=on";
    case Machine::MicrovmNoAcpi:
        return "microvm,acpi=off,pic=off,pit=on,rtc=on,auto-kernel-cmdline=off";
    }
    return "microvm";
}

Parsed<std::vector<std::string>> build_qemu_argv(const RunOptions& opts, const QemuInputs& in) {
    auto devices = build_device_args(opts, in.disks, in.vhost_net);
    if (!devices) {
        return Parsed<std::vector<std::string>>::fail(devices.error);
    }
    std::vector<std::string> argv = {in.qemu, "-M", machine_argument(opts.machine)};
    // No default devices, no config files, no display: the VM has exactly what is listed here.
    // Option ROMs stay: PVH boot on pc/q35 goes through QEMU's pvh.bin option ROM.
    argv.insert(argv.end(), {"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"});
    if (opts.machine == Machine::Microvm || opts.machine == Machine::MicrovmNoAcpi) {
        // Modern (virtio 1.x) virtio-mmio transports, as Firecracker offers.
        argv.insert(argv.end(), {"-global", "virtio-mmio.force-legacy=false"});
    }
    if (in.accel.accel == Accel::Kvm) {
        argv.insert(argv.end(), {"-accel", "kvm", "-cpu", "host"});
    } else {
        // Multi-threaded TCG for SMP guests; icount requires single-threaded TCG.
        std::string tcg = "tcg";
        if (opts.icount) {
            tcg += ",thread=single";
        } else if (opts.cpus > 1) {
            tcg += ",thread=multi";
        }
        argv.insert(argv.end(), {"-accel", tcg, "-cpu", "max"});
        if (opts.icount) {
            argv.insert(argv.end(), {"-icount", "shift=0,sleep=off"});
        }
    }
    argv.insert(argv.end(), {"-smp", std::to_string(opts.cpus), "-m", opts.memory});
    argv.insert(argv.end(), {"-kernel", in.kernel});
    if (opts.initrd) {
        argv.insert(argv.end(), {"-initrd", *opts.initrd});
    }
    std::vector<std::string> words;
    if (!opts.program.empty()) {
        words = guest_words(in.guest_environment, opts.program);
    }
    // The console mode goes first, so that an explicit --boot console.input=... wins; then
    // the runner's device announcements; the user's options last.
    std::vector<std::string> boot_options;
    if (in.console_input == ConsoleInput::Pipe) {
        boot_options.emplace_back(kPipeInputBootOption);
    }
    boot_options.insert(boot_options.end(), devices.value->boot_options.begin(),
                        devices.value->boot_options.end());
    boot_options.insert(boot_options.end(), opts.boot_options.begin(), opts.boot_options.end());
    std::string cmdline = build_kernel_cmdline(boot_options, words);
    if (!cmdline.empty()) {
        argv.insert(argv.end(), {"-append", cmdline});
    }
    // COM1: the console, written straight to the runner's stdout (QEMU inherits it); input
    // from the terminal (QEMU puts it in raw mode; signal=off: Ctrl-C is a byte for the
    // guest) or from the runner's relay pipe.
    if (in.console_input == ConsoleInput::Tty) {
        argv.insert(argv.end(), {"-chardev", "stdio,id=con,signal=off", "-serial", "chardev:con"});
    } else {
        argv.insert(argv.end(), {"-serial", "stdio"});
    }
    // COM2: the status channel, one line "exit N" / "panic" into a file the runner reads.
    char port[16];
    std::snprintf(port, sizeof port, "0x%x", kStatusUartPort);
    argv.insert(argv.end(), {"-chardev", "file,id=" + std::string(kStatusChardevId) + ",path=" +
                                             in.status_path});
    argv.insert(argv.end(), {"-device", "isa-serial,chardev=" + std::string(kStatusChardevId) +
                                            ",iobase=" + port + ",irq=3"});
    std::snprintf(port, sizeof port, "0x%x", kDebugExitPort);
    argv.insert(argv.end(),
                {"-device", std::string("isa-debug-exit,iobase=") + port + ",iosize=0x04"});
    argv.insert(argv.end(), devices.value->qemu_args.begin(), devices.value->qemu_args.end());
    return Parsed<std::vector<std::string>>::ok(std::move(argv));
}

std::string shell_quote_command(const std::vector<std::string>& argv) {
    std::string out;
    for (const auto& arg : argv) {
        if (!out.empty()) {
            out += ' ';
        }
        bool plain = !arg.empty();
        for (char c : arg) {
            bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        c == '-' || c == '_' || c == '.' || c == '/' || c == ',' || c == '=' ||
                        c == ':' || c == '+' || c == '@';
            plain = plain && safe;
        }
        if (plain) {
            out += arg;
            continue;
        }
        out += '\'';
        for (char c : arg) {
            if (c == '\'') {
                out += "'\\''";
            } else {
                out += c;
            }
        }
        out += '\'';
    }
    return out;
}

} // namespace runner
