#!/usr/bin/env python3
"""Thread-switch benchmark: Nimbus's in-kernel ping-pong vs the same program on Linux.

  nimbus  build/kernel/kernel.elf booted with `bench=pingpong,yield` (kernel/core/kbench.cc)
  linux   Debian's Linux 6.1 (bench/boot/linux-guest.sh) with /init = bench/sched/pingpong.c
          (bench/sched/linux-pingpong.sh)

Both print `bench NAME ns_per_switch=N switches=N total_ns=N` lines and exit 0. Both run with
the QEMU command line of `nimbus run --dry-run` (same machine, memory, 1 vCPU, TCG, devices;
only -kernel/-initrd/-append differ), through bench/boot/boot_bench.py's helpers. One warm-up
run each, then --runs interleaved rounds. Reports the median ns per switch of each figure and
the Nimbus/Linux ratio. See README.md.
"""
import argparse
import os
import re
import shlex
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "bench", "boot"))
import boot_bench  # noqa: E402  (Guest, qemu_argv, run_once, linux_boot_options)

FIGURES = ("pingpong", "yield")
LINE = re.compile(r"^bench (\w+) ns_per_switch=(\d+) switches=(\d+) total_ns=(\d+)\s*$", re.M)

# The target for the same-CPU switch: Nimbus <= 0.3 x Linux (OSv: 328 vs 905 ns).
TARGET_RATIO = 0.3


def parse(console):
    """{name: (ns_per_switch, switches, total_ns)} from a guest's console."""
    return {m.group(1): tuple(int(g) for g in m.groups()[1:]) for m in LINE.finditer(console)}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--machine", default="microvm",
                   choices=["microvm", "microvm-noacpi", "q35", "pc"])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--memory", default="128M")
    p.add_argument("--icount", action="store_true",
                   help="deterministic TCG (-icount shift=0,sleep=off): 1 instruction = 1 ns")
    p.add_argument("--build", default=os.path.join(REPO, "build"),
                   help="build directory (default: <repo>/build)")
    p.add_argument("--nimbus", help="runner (default: BUILD/bin/nimbus)")
    p.add_argument("--kernel", help="Nimbus kernel (default: BUILD/kernel/kernel.elf)")
    p.add_argument("--linux-dir", help="Linux guest (default: <repo>/build/linux-guest)")
    p.add_argument("--guests", default="nimbus,linux")
    p.add_argument("--bench", default=",".join(FIGURES),
                   help="Nimbus boot option bench= (Linux's /init always runs both)")
    p.add_argument("--timeout", type=float, default=180)
    p.add_argument("--verbose", action="store_true", help="print every run's figures")
    args = p.parse_args()
    args.cpus = 1  # the single-CPU part of the benchmark
    args.nimbus = args.nimbus or os.path.join(args.build, "bin", "nimbus")
    kernel = args.kernel or os.path.join(args.build, "kernel", "kernel.elf")
    linux_dir = args.linux_dir or os.path.join(REPO, "build", "linux-guest")
    if not os.access(args.nimbus, os.X_OK):
        sys.exit(f"pingpong_bench: runner not found: {args.nimbus} (build target nimbus)")

    wanted = args.guests.split(",")
    guests = []
    if "nimbus" in wanted:
        if not os.path.exists(kernel):
            sys.exit(f"pingpong_bench: {kernel} missing (build the kernel)")
        guests.append(boot_bench.Guest("nimbus", kernel,
                                       boot=["boot.times=off", f"bench={args.bench}"]))
    if "linux" in wanted:
        vmlinux = os.path.join(linux_dir, "vmlinux")
        initrd = os.path.join(linux_dir, "pingpong-initramfs.cpio")
        if not (os.path.exists(vmlinux) and os.path.exists(initrd)):
            sys.exit("pingpong_bench: run bench/boot/linux-guest.sh, then "
                     "bench/sched/linux-pingpong.sh")
        guests.append(boot_bench.Guest("linux", vmlinux, initrd,
                                       boot_bench.linux_boot_options(args)))
    if not guests:
        sys.exit("pingpong_bench: nothing to run")

    for g in guests:
        g.argv = boot_bench.qemu_argv(args, g)
        g.figures = {name: [] for name in FIGURES}
    mode = "tcg, icount shift=0,sleep=off" if args.icount else "tcg"
    print(f"machine {args.machine}, 1 cpu, {args.memory}, {mode}, {args.runs} runs")
    for g in guests:
        print(f"{g.name}: " + " ".join(shlex.quote(a) for a in g.argv))
    for g in guests:
        boot_bench.run_once(args, g, record=False)  # warm-up
    for i in range(args.runs):
        for g in guests:
            console = boot_bench.run_once(args, g, record=True)
            if console is None:
                continue  # run_once counted and reported the failure
            figures = parse(console)
            if args.verbose:
                print(f"  run {i + 1} {g.name}: " +
                      ", ".join(f"{k} {v[0]} ns" for k, v in sorted(figures.items())))
            for name, values in figures.items():
                if name in g.figures:
                    g.figures[name].append(values)
            if not figures:
                print(f"  {g.name}: no bench lines in the output", file=sys.stderr)

    print()
    print(f"{'figure':9} {'guest':7} {'runs':>4} {'median ns/switch':>17} {'min':>7} {'max':>7} "
          f"{'switches':>9} {'wall s (median)':>16}")
    medians = {}
    for name in FIGURES:
        for g in guests:
            values = g.figures[name]
            if not values:
                continue
            ns = [v[0] for v in values]
            med = statistics.median(ns)
            medians[(name, g.name)] = med
            switches = statistics.median(v[1] for v in values)
            wall = statistics.median(g.times) / 1000 if g.times else float("nan")
            print(f"{name:9} {g.name:7} {len(ns):4} {med:17.0f} {min(ns):7} {max(ns):7} "
                  f"{switches:9.0f} {wall:16.2f}")
    print()
    for name in FIGURES:
        n, l = medians.get((name, "nimbus")), medians.get((name, "linux"))
        if n and l:
            verdict = "met" if n / l <= TARGET_RATIO else "not met"
            print(f"{name}: nimbus / linux = {n / l:.3f}  (target <= {TARGET_RATIO}: {verdict})")
    failures = sum(g.failures for g in guests)
    if failures:
        print(f"\n{failures} failed runs (see above)")
    print("\nns/switch: guest's own clock (CLOCK_MONOTONIC on Linux, core::monotonic_ns on "
          "Nimbus);\nvirtual ns (= instructions) under --icount. wall s: whole QEMU run incl. boot.")


if __name__ == "__main__":
    main()
