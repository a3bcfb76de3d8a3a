#!/usr/bin/env python3
"""Raw-disk benchmark: the same static program (bench/disk/diskbench.c) on /dev/vda as the
Nimbus application and under the Linux guest's /init, side by side.

Both guests get the QEMU command line of `nimbus run --dry-run` with the same `--disk` (same
machine, memory, vCPUs, TCG, virtio-blk device; only -kernel/-initrd/-append differ), through
bench/boot/boot_bench.py's helpers. The disk is a scratch raw image, filled on the host before
the first run (no holes: every read reaches data in the host's page cache). One warm-up run
each, then --runs interleaved rounds; the median of each figure per guest and the Nimbus/Linux
ratio. Run bench/boot/linux-guest.sh and bench/disk/build.sh first. See README.md.
"""
import argparse
import os
import shlex
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "bench", "boot"))
sys.path.insert(0, os.path.join(REPO, "bench", "sched"))
import boot_bench  # noqa: E402  (Guest, run_once, linux_boot_options)
import pingpong_bench  # noqa: E402  (parse: the same "bench NAME k=v" lines)

TESTS = ["randread_qd1", "randwrite_qd1", "randread_qd32", "randwrite_qd32", "seqread", "seqwrite"]
# Rows of the table per test: (field, label, higher is better).
ROWS = {"rand": [("ops_per_s", "IOPS", True), ("us_per_op", "lat us", False), ("p99_us", "p99 us", False),
                 ("cpu_ns_per_op", "cpu ns/io", False), ("thread_cpu_ns_per_op", "thr ns/io", False)],
        "seq": [("mb_per_s", "MB/s", True), ("us_per_op", "lat us", False), ("p99_us", "p99 us", False),
                ("cpu_ns_per_op", "cpu ns/io", False), ("thread_cpu_ns_per_op", "thr ns/io", False)]}
# The target: at least Linux's IOPS at queue depth 1, with lower latency.
TARGETS = {("randread_qd1", "ops_per_s"), ("randwrite_qd1", "ops_per_s"),
           ("randread_qd1", "us_per_op"), ("randwrite_qd1", "us_per_op")}


def make_disk(path, mib):
    """A raw image of MIB MiB, every block written (a repeating non-zero pattern)."""
    block = bytes(range(1, 256)) * ((1 << 20) // 255 + 1)
    block = block[:1 << 20]
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(block)


def qemu_argv(args, guest):
    """boot_bench.qemu_argv plus the disk."""
    # No network card: neither guest uses one, and Linux would spend boot time probing it.
    cmd = [args.nimbus, "run", "--dry-run", "--machine", args.machine, "--memory", args.memory,
           "--cpus", str(args.cpus), "--accel", "tcg", "--net", "none", "--kernel", guest.kernel,
           "--initrd", guest.initrd, "--disk", args.disk]
    if args.icount:
        cmd.append("--icount")
    for opt in guest.boot:
        cmd += ["--boot", opt]
    cmd += ["--"] + guest.program
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    return shlex.split(out.strip())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--machine", default="microvm", choices=["microvm", "q35", "pc"],
                   help="microvm-noacpi is left out: Debian's kernel finds virtio-mmio devices "
                        "only through ACPI (no CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES)")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--memory", default="256M")
    p.add_argument("--cpus", type=int, default=1)
    p.add_argument("--icount", action="store_true", help="deterministic TCG: 1 instruction = 1 ns")
    p.add_argument("--time-ms", type=int, default=2000, help="each test's time limit (guest clock)")
    p.add_argument("--ops", type=int, default=20000, help="each 4 KiB test's operation limit")
    p.add_argument("--disk-mib", type=int, default=256)
    p.add_argument("--disk", help="scratch image (default BUILD/diskbench-disk.img; overwritten)")
    p.add_argument("--tests", default=",".join(TESTS))
    p.add_argument("--build", default=os.path.join(REPO, "build"))
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()
    args.build = os.path.abspath(args.build)
    args.nimbus = os.path.join(args.build, "bin", "nimbus")
    args.disk = os.path.abspath(args.disk or os.path.join(args.build, "diskbench-disk.img"))
    tests = [t for t in args.tests.split(",") if t]
    unknown = [t for t in tests if t not in TESTS]
    if unknown:
        sys.exit(f"diskbench: unknown test {', '.join(unknown)} (known: {', '.join(TESTS)})")
    guest_dir = os.path.join(args.build, "linux-guest")
    need = [os.path.join(guest_dir, f) for f in ("vmlinux", "diskbench", "diskbench.img",
                                                 "diskbench-initramfs.cpio")]
    need.append(os.path.join(args.build, "kernel", "kernel.elf"))
    missing = [f for f in need if not os.path.exists(f)]
    if missing:
        sys.exit(f"diskbench: missing {', '.join(missing)}: build the kernel and nimbus, run "
                 f"bench/boot/linux-guest.sh, then bench/disk/build.sh")
    make_disk(args.disk, args.disk_mib)

    words = ["/dev/vda", "-t", str(args.time_ms), "-n", str(args.ops)] + tests
    nimbus = boot_bench.Guest("nimbus", need[4], need[2], ["boot.times=off"], program=[need[1]] + words)
    boot = boot_bench.linux_boot_options(args)
    # Linux distrusts the TSC under TCG now and then (its watchdog) and falls back to jiffies,
    # 4 ms steps; the vCPUs read the host's TSC (or icount's), which is reliable.
    boot.append("tsc=reliable")
    linux = boot_bench.Guest("linux", need[0], need[3], boot, program=words)
    guests = [nimbus, linux]
    for g in guests:
        g.argv = qemu_argv(args, g)
        g.figures = {t: {} for t in tests}
    mode = "tcg, icount shift=0,sleep=off" if args.icount else "tcg"
    print(f"machine {args.machine}, {args.cpus} cpu, {args.memory}, {mode}, {args.runs} runs, "
          f"disk {args.disk_mib} MiB raw, each test <= {args.time_ms} ms or {args.ops} ops (4 KiB) / one pass (1 MiB)")
    for g in guests:
        print(f"{g.name}: " + " ".join(shlex.quote(a) for a in g.argv))
    for g in guests:
        console = boot_bench.run_once(args, g, record=False)
        if console and g.name == "linux" and "linux clocksource=tsc" not in console:
            print("diskbench: warning: Linux's clocksource is not the TSC: its figures are coarse",
                  file=sys.stderr)
    for i in range(args.runs):
        for g in guests:
            console = boot_bench.run_once(args, g, record=True)
            if console is None:
                continue
            figures, _ = pingpong_bench.parse(console)
            if args.verbose:
                for name in tests:
                    print(f"  run {i + 1} {g.name}: {name} {figures.get(name)}")
            for name in tests:
                for key, value in figures.get(name, {}).items():
                    g.figures[name].setdefault(key, []).append(value)

    print()
    print(f"{'test':15} {'figure':10} {'nimbus':>10} {'linux':>10} {'ratio':>7}  target")
    for name in tests:
        for key, label, higher in ROWS["seq" if name.startswith("seq") else "rand"]:
            n = nimbus.figures[name].get(key)
            l = linux.figures[name].get(key)
            n = statistics.median(n) if n else None
            l = statistics.median(l) if l else None
            ratio = f"{n / l:7.2f}" if n is not None and l else "      -"
            verdict = ""
            if (name, key) in TARGETS and n is not None and l:
                met = n >= l if higher else n < l
                verdict = f"{'>=' if higher else '<'} linux: {'met' if met else 'not met'}"
            show = lambda v: f"{v:>10.0f}" if v is not None else f"{'missing':>10}"
            print(f"{name:15} {label:10} {show(n)} {show(l)} {ratio}  {verdict}")
    print("\nlat us: mean latency of one I/O; thr ns/io: the submitting threads' CPU time "
          "(CLOCK_THREAD_CPUTIME_ID) per I/O;\ncpu ns/io: the whole guest's busy time (/proc/stat) per "
          "I/O - Nimbus's /proc/stat counts no idle time yet, so its figure is wall time, not CPU")
    for g in guests:
        if g.failures:
            print(f"{g.name}: {g.failures} failed runs", file=sys.stderr)


if __name__ == "__main__":
    main()
