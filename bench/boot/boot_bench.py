#!/usr/bin/env python3
"""Boot benchmark: wall time from QEMU start to VM exit for three guests on the same machine.

  trivial  bench/boot/trivial: two port writes at the PVH entry - QEMU's floor
  nimbus   build/kernel/kernel.elf (skipped while it does not exist)
  linux    Debian's kernel + a one-file initramfs whose /init exits at once
           (set up by bench/boot/linux-guest.sh)

Every guest runs with the QEMU command line of `nimbus run --dry-run` (same machine, memory,
CPUs, accelerator, devices), only -kernel/-initrd/-append differ. Runs are interleaved
(trivial, nimbus, linux, trivial, ...) after one unmeasured warm-up each. See README.md.
"""
import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
STATUS_PLACEHOLDER = "/tmp/nimbus-status-XXXXXX"


def host_tsc_khz():
    """TSC frequency the guest sees under TCG without icount (QEMU passes the host's TSC
    through), from the host's /proc/cpuinfo; None if unknown."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return int(float(line.split(":")[1]) * 1000)
    except OSError:
        pass
    return None


def linux_boot_options(args):
    opts = ["console=ttyS0", "quiet", "panic=-1"]
    # Linux calibrates its TSC against the PIT; under TCG that fails now and then (timing
    # jitter) and microvm has no HPET/PM timer to fall back on, so the boot hangs. Tell it the
    # frequency instead: 1 GHz under icount (shift=0), the host's otherwise.
    khz = 1000000 if args.icount else host_tsc_khz()
    if khz:
        opts.append(f"tsc_early_khz={khz}")
    return opts


def nimbus_boot_options(args):
    return ["boot.times"] if args.nimbus_boot_times else []


def parse_linux_guest_time(console):
    """Guest-side figure: TSC at the start of /init (virtual ns under --icount)."""
    m = re.search(r"linux-init: tsc=(\d+)", console)
    return int(m.group(1)) if m else None


def make_nimbus_guest_time(icount):
    """Parser of the kernel's own report (boot option `boot.times`), lines like
    `  ready            +        18  =      87591 ticks  (87 us)`: the last stamp's cumulative
    count, from the kernel's first instruction (not from reset, unlike linux's figure). Ticks
    are TSC ticks: ns under --icount; otherwise only usable when the kernel adds "(N us)"."""
    stamp = re.compile(r"^\s+\S.*?\+\s*\d+\s+=\s+(\d+) ticks(?:\s+\((\d+) us\))?\s*$", re.M)

    def parse(console):
        stamps = stamp.findall(console)
        if not stamps:
            return None
        ticks, us = stamps[-1]
        if us:
            return int(us) * 1000
        return int(ticks) if icount else None
    return parse


class Guest:
    def __init__(self, name, kernel, initrd=None, boot=(), guest_time=None, program=()):
        self.name, self.kernel, self.initrd, self.boot = name, kernel, initrd, list(boot)
        self.program = list(program)  # the application's words (after " -- "), if any
        self.guest_time = guest_time
        self.times, self.guest_times, self.failures = [], [], 0
        self.argv = None


def qemu_argv(args, guest):
    # No network card: neither guest uses one, and Linux would spend boot time probing it.
    cmd = [args.nimbus, "run", "--dry-run", "--machine", args.machine, "--memory", args.memory,
           "--cpus", str(args.cpus), "--accel", "tcg", "--net", "none", "--kernel", guest.kernel]
    if guest.initrd:
        cmd += ["--initrd", guest.initrd]
    if args.icount:
        cmd.append("--icount")
    for opt in guest.boot:
        cmd += ["--boot", opt]
    if guest.program:
        cmd += ["--"] + guest.program
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True).stdout
    return shlex.split(out.strip())


def run_once(args, guest, record):
    """Runs the guest once; returns its console output if it exited 0, else None."""
    with tempfile.NamedTemporaryFile(prefix="nimbus-bench-status-") as status:
        argv = [a.replace(STATUS_PLACEHOLDER, status.name) for a in guest.argv]
        start = time.perf_counter_ns()
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            guest.failures += record
            print(f"  {guest.name}: timeout after {args.timeout}s", file=sys.stderr)
            return
        elapsed = time.perf_counter_ns() - start
        record_line = open(status.name).read().strip()
    console = proc.stdout.decode(errors="replace")
    # isa-debug-exit status 0 -> QEMU exit code 1; the status channel must say "exit 0".
    if proc.returncode != 1 or record_line != "exit 0":
        guest.failures += record
        print(f"  {guest.name}: bad exit (qemu rc {proc.returncode}, status '{record_line}')\n"
              f"  {proc.stderr.decode(errors='replace').strip()[:500]}", file=sys.stderr)
        return
    if record:
        guest.times.append(elapsed / 1e6)
        if guest.guest_time:
            t = guest.guest_time(console)
            if t is not None:
                guest.guest_times.append(t / 1e6)
    return console


def fmt(v):
    return f"{v:9.1f}"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--machine", default="microvm",
                   choices=["microvm", "microvm-noacpi", "q35", "pc"])
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--memory", default="128M")
    p.add_argument("--cpus", type=int, default=1)
    p.add_argument("--icount", action="store_true",
                   help="deterministic TCG (-icount shift=0,sleep=off)")
    p.add_argument("--build", default=os.path.join(REPO, "build"),
                   help="build directory (default: <repo>/build)")
    p.add_argument("--nimbus", help="runner (default: BUILD/bin/nimbus)")
    p.add_argument("--kernel", help="Nimbus kernel (default: BUILD/kernel/kernel.elf)")
    p.add_argument("--linux-dir", help="Linux guest (default: <repo>/build/linux-guest)")
    p.add_argument("--guests", default="trivial,nimbus,linux")
    p.add_argument("--nimbus-boot-times", action="store_true",
                   help="boot Nimbus with boot.times and report its own figure")
    p.add_argument("--timeout", type=float, default=120)
    args = p.parse_args()
    args.nimbus = args.nimbus or os.path.join(args.build, "bin", "nimbus")
    kernel = args.kernel or os.path.join(args.build, "kernel", "kernel.elf")
    linux_dir = args.linux_dir or os.path.join(REPO, "build", "linux-guest")
    trivial = os.path.join(args.build, "bench", "boot", "trivial", "trivial.elf")
    if not os.access(args.nimbus, os.X_OK):
        sys.exit(f"boot_bench: runner not found: {args.nimbus} (build target nimbus)")

    wanted = args.guests.split(",")
    guests = []
    if "trivial" in wanted:
        if not os.path.exists(trivial):
            sys.exit(f"boot_bench: {trivial} missing (build target boot_trivial)")
        guests.append(Guest("trivial", trivial))
    if "nimbus" in wanted:
        if os.path.exists(kernel):
            guests.append(Guest("nimbus", kernel, boot=nimbus_boot_options(args),
                                guest_time=make_nimbus_guest_time(args.icount)))
        else:
            print(f"boot_bench: skipping nimbus: {kernel} does not exist yet", file=sys.stderr)
    if "linux" in wanted:
        vmlinux = os.path.join(linux_dir, "vmlinux")
        initrd = os.path.join(linux_dir, "initramfs.cpio")
        if os.path.exists(vmlinux) and os.path.exists(initrd):
            # The TSC counts virtual ns only under icount; otherwise it is the host's.
            guests.append(Guest("linux", vmlinux, initrd, linux_boot_options(args),
                                guest_time=parse_linux_guest_time if args.icount else None))
        else:
            print(f"boot_bench: skipping linux: run bench/boot/linux-guest.sh first",
                  file=sys.stderr)
    if not guests:
        sys.exit("boot_bench: nothing to run")

    for g in guests:
        g.argv = qemu_argv(args, g)
    mode = "tcg, icount shift=0,sleep=off" if args.icount else "tcg"
    print(f"machine {args.machine}, {args.cpus} cpu, {args.memory}, {mode}, {args.runs} runs")
    print("qemu: " + " ".join(shlex.quote(a) for a in guests[0].argv))
    for g in guests:
        run_once(args, g, record=False)  # warm-up: page cache, QEMU's first-run costs
    for _ in range(args.runs):
        for g in guests:
            run_once(args, g, record=True)

    print()
    print(f"{'guest':8} {'runs':>4} {'median ms':>10} {'min ms':>9} {'max ms':>9} "
          f"{'x trivial':>9} {'guest ms':>9}")
    floor = None
    medians = {}
    for g in guests:
        if not g.times:
            print(f"{g.name:8} {0:4}  (all {g.failures} runs failed)")
            continue
        med = statistics.median(g.times)
        medians[g.name] = med
        floor = floor or (med if g.name == "trivial" else None)
        ratio = f"{med / floor:9.2f}" if floor else f"{'-':>9}"
        guest_ms = f"{'-':>9}"
        if g.guest_times:
            lo, hi = min(g.guest_times), max(g.guest_times)
            guest_ms = f"{statistics.median(g.guest_times):9.3f}"
            guest_ms += f" ({lo:.3f}..{hi:.3f})" if hi > lo else " (all equal)"
        fails = f"  ({g.failures} failed)" if g.failures else ""
        print(f"{g.name:8} {len(g.times):4} {med:10.1f} {fmt(min(g.times))} {fmt(max(g.times))} "
              f"{ratio} {guest_ms}{fails}")
    if "nimbus" in medians and "linux" in medians:
        print(f"\nlinux / nimbus = {medians['linux'] / medians['nimbus']:.2f}")
        if floor:
            print(f"above the floor: nimbus {medians['nimbus'] - floor:.1f} ms, "
                  f"linux {medians['linux'] - floor:.1f} ms")
    print("\nguest ms: the guest's own figure - linux (--icount only): virtual time from reset to "
          "/init;\n          nimbus (--nimbus-boot-times): kernel entry to ready")


if __name__ == "__main__":
    main()
