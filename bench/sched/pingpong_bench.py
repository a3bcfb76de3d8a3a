#!/usr/bin/env python3
"""Scheduler benchmarks: Nimbus's in-kernel workloads vs the same program on Linux.

  nimbus  build/kernel/kernel.elf booted with `bench=LIST` (kernel/core/kbench.cc)
  linux   Debian's Linux 6.1 (bench/boot/linux-guest.sh) with /init = bench/sched/pingpong.c
          + smp.c (bench/sched/linux-pingpong.sh), also booted with `bench=LIST`

Both print `bench NAME key=value ...` lines (the figure is ns_per_switch= or ns_per_op=) or
`bench-skip NAME needs N cpus`, and exit 0. Both run with the QEMU command line of
`nimbus run --dry-run` (same machine, memory, vCPUs, TCG, devices; only
-kernel/-initrd/-append differ), through bench/boot/boot_bench.py's helpers. One warm-up run
each, then --runs interleaved rounds. Reports the median of each figure per guest and the
Nimbus/Linux ratio. See README.md.
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

# Every workload, in the order `bench=all` runs them, and the vCPUs it needs.
WORKLOADS = {"pingpong": 1, "yield": 1, "pingpong2": 2, "wakeup": 2, "mutex": 2, "spinlock": 2}
DEFAULT_BENCH = "pingpong,yield"
LINE = re.compile(r"^bench (\w+)((?: \w+=\d+)+)\s*$", re.M)
SKIP = re.compile(r"^bench-skip (\w+) (.*?)\s*$", re.M)
CLOCKSOURCE = re.compile(r"^linux clocksource=(\S+)", re.M)
PRIMARY = ("ns_per_switch", "ns_per_op")  # the figure of a line, whichever it has
COUNT = ("switches", "ops")

# The targets, Nimbus / Linux of the medians. pingpong's is for the same-CPU switch
# (OSv: 328 vs 905 ns), so it applies with 1 vCPU only; the others are informational.
TARGETS = {("pingpong", 1): 0.3, ("pingpong2", None): 0.15}


def target(name, cpus):
    return TARGETS.get((name, cpus), TARGETS.get((name, None)))


def figure_names(bench):
    names = []
    for name in bench.split(","):
        for n in (WORKLOADS if name == "all" else [name] if name else []):
            if n not in names:
                names.append(n)
    return names


def parse(console):
    """{name: {key: int}} of the `bench NAME key=value ...` lines that carry a figure (first
    line per name wins), and {name: reason} of the `bench-skip NAME reason` lines."""
    figures = {}
    for m in LINE.finditer(console):
        fields = dict(kv.split("=") for kv in m.group(2).split())
        fields = {k: int(v) for k, v in fields.items()}
        if any(k in fields for k in PRIMARY):
            figures.setdefault(m.group(1), fields)
    skips = {m.group(1): m.group(2) for m in SKIP.finditer(console)}
    return figures, skips


def primary(fields):
    return next(fields[k] for k in PRIMARY if k in fields)


def count(fields):
    return next((fields[k] for k in COUNT if k in fields), None)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--machine", default="microvm",
                   choices=["microvm", "microvm-noacpi", "q35", "pc"])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--memory", default="128M")
    p.add_argument("--cpus", type=int, default=1, help="vCPUs of both guests (default 1)")
    p.add_argument("--icount", action="store_true",
                   help="deterministic TCG (-icount shift=0,sleep=off): 1 instruction = 1 ns")
    p.add_argument("--build", default=os.path.join(REPO, "build"),
                   help="build directory (default: <repo>/build)")
    p.add_argument("--nimbus", help="runner (default: BUILD/bin/nimbus)")
    p.add_argument("--kernel", help="Nimbus kernel (default: BUILD/kernel/kernel.elf)")
    p.add_argument("--linux-dir", help="Linux guest (default: <repo>/build/linux-guest)")
    p.add_argument("--guests", default="nimbus,linux")
    p.add_argument("--bench", default=DEFAULT_BENCH,
                   help="workloads, comma-separated (boot option bench= of both guests; "
                        f"default {DEFAULT_BENCH}; all = {','.join(WORKLOADS)})")
    p.add_argument("--timeout", type=float, default=180)
    p.add_argument("--verbose", action="store_true", help="print every run's figures")
    args = p.parse_args()
    figure_list = figure_names(args.bench)
    unknown = [n for n in figure_list if n not in WORKLOADS]
    if unknown or not figure_list:
        sys.exit(f"pingpong_bench: unknown workload(s) {','.join(unknown) or '(none)'}; known: "
                 f"all,{','.join(WORKLOADS)}")
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
        boot = boot_bench.linux_boot_options(args)
        if args.cpus > 1:
            # -cpu max under TCG is an AMD model without constant_tsc, and Linux takes a
            # multi-CPU non-Intel TSC for unsynchronised: it would fall back to jiffies (4 ms
            # resolution; microvm has no HPET or PM timer). The vCPUs all read the host's
            # TSC, so it is in sync; say so.
            boot.append("tsc=reliable")
        boot.append(f"bench={args.bench}")
        guests.append(boot_bench.Guest("linux", vmlinux, initrd, boot))
    if not guests:
        sys.exit("pingpong_bench: nothing to run")

    if args.icount and args.cpus > 1 and "linux" in wanted:
        print("pingpong_bench: warning: Linux hangs bringing up its second CPU under --icount "
              "(single-threaded round-robin TCG); expect timeouts", file=sys.stderr)
    for g in guests:
        g.argv = boot_bench.qemu_argv(args, g)
        g.figures = {name: [] for name in figure_list}
        g.skips = {}
        g.clocksources = set()
    mode = "tcg, icount shift=0,sleep=off" if args.icount else "tcg"
    print(f"machine {args.machine}, {args.cpus} cpu, {args.memory}, {mode}, {args.runs} runs, "
          f"bench={args.bench}")
    for g in guests:
        print(f"{g.name}: " + " ".join(shlex.quote(a) for a in g.argv))
    for g in guests:
        boot_bench.run_once(args, g, record=False)  # warm-up
    for i in range(args.runs):
        for g in guests:
            console = boot_bench.run_once(args, g, record=True)
            if console is None:
                continue  # run_once counted and reported the failure
            figures, skips = parse(console)
            g.skips.update(skips)
            g.clocksources.update(CLOCKSOURCE.findall(console))
            if args.verbose:
                print(f"  run {i + 1} {g.name}: " +
                      ", ".join([f"{k} {primary(v)} ns" for k, v in sorted(figures.items())] +
                                [f"{k} skipped" for k in sorted(skips)]))
            for name, fields in figures.items():
                if name in g.figures:
                    g.figures[name].append(fields)
            if not figures and not skips:
                print(f"  {g.name}: no bench lines in the output", file=sys.stderr)

    print()
    print(f"{'figure':9} {'guest':7} {'runs':>4} {'median ns':>10} {'min':>8} {'max':>8} "
          f"{'count':>7} {'wall s':>7}  other (medians)")
    medians = {}
    for name in figure_list:
        for g in guests:
            values = g.figures[name]
            if not values:
                why = g.skips.get(name, "no figure printed" +
                                  (f"; {g.failures} failed runs" if g.failures else ""))
                print(f"{name:9} {g.name:7} {0:4} {'missing':>10}  ({why})")
                continue
            ns = [primary(v) for v in values]
            med = statistics.median(ns)
            medians[(name, g.name)] = med
            counts = [c for c in (count(v) for v in values) if c is not None]
            n = f"{statistics.median(counts):7.0f}" if counts else f"{'-':>7}"
            wall = statistics.median(g.times) if g.times else float("nan")
            others = sorted({k for v in values for k in v} - set(PRIMARY) - set(COUNT) -
                            {"total_ns"})
            other = " ".join(f"{k}={statistics.median(v[k] for v in values if k in v):.0f}"
                             for k in others)
            print(f"{name:9} {g.name:7} {len(ns):4} {med:10.0f} {min(ns):8} {max(ns):8} {n} "
                  f"{wall / 1000:7.2f}  {other}".rstrip())
    print()
    for name in figure_list:
        n, l = medians.get((name, "nimbus")), medians.get((name, "linux"))
        goal = target(name, args.cpus)
        if n and l:
            verdict = (f"target <= {goal}: {'met' if n / l <= goal else 'not met'}"
                       if goal else "no target")
            print(f"{name}: nimbus / linux = {n / l:.3f}  ({verdict})")
        elif len(guests) > 1:
            print(f"{name}: no ratio (missing on "
                  f"{' and '.join(g.name for g in guests if (name, g.name) not in medians)})")
    for g in guests:
        odd = {c for c in g.clocksources if not c.startswith("tsc")}
        if odd:
            print(f"warning: {g.name} clocksource {', '.join(sorted(odd))}: coarse figures")
    failures = sum(g.failures for g in guests)
    if failures:
        print(f"\n{failures} failed runs (see above)")
    print("\nns: the guest's own clock (CLOCK_MONOTONIC on Linux, core::monotonic_ns on Nimbus), "
          "per hand-off\n(ns_per_switch) or per operation (ns_per_op; wakeup: the median "
          "latency); virtual ns\n(= instructions) under --icount. wall s: whole QEMU run incl. "
          "boot.")


if __name__ == "__main__":
    main()
