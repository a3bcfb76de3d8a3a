#!/usr/bin/env python3
"""Linux-ABI micro-benchmarks: the same static program (bench/linux/sysbench.c) as the
Nimbus application and as /init of a Linux guest, side by side.

Both guests get the QEMU command line of `nimbus run --dry-run` (same machine, memory,
vCPUs, TCG; only -kernel/-initrd/-append differ), through bench/boot/boot_bench.py. One
warm-up run each, then --runs interleaved rounds; the median of each figure per guest and
the Nimbus/Linux ratio. Run bench/boot/linux-guest.sh and bench/linux/build.sh first.
"""
import argparse
import os
import shlex
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "bench", "boot"))
sys.path.insert(0, os.path.join(REPO, "bench", "sched"))
import boot_bench  # noqa: E402
import pingpong_bench  # noqa: E402  (parse, primary: the same "bench NAME k=v" lines)

FIGURES = ["null_syscall", "clock_gettime", "open_read_close", "page_fault", "file_map", "file_cow", "thread",
           "pingpong"]
# The target: the null syscall at most half of Linux's; the rest faster than Linux.
TARGETS = {"null_syscall": 0.5}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--machine", default="microvm", choices=["microvm", "microvm-noacpi", "q35", "pc"])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--memory", default="256M")
    p.add_argument("--cpus", type=int, default=1)
    p.add_argument("--icount", action="store_true", help="deterministic TCG: 1 instruction = 1 ns")
    p.add_argument("--build", default=os.path.join(REPO, "build"))
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--guests", default="nimbus,linux",
                   help="comma-separated subset of nimbus,linux to run (e.g. only nimbus while iterating)")
    args = p.parse_args()
    wanted = set(args.guests.split(","))
    if not wanted or not wanted <= {"nimbus", "linux"}:
        p.error("--guests: a comma-separated subset of nimbus,linux")
    args.nimbus = os.path.join(args.build, "bin", "nimbus")
    guest_dir = os.path.join(args.build, "linux-guest")
    need = [os.path.join(guest_dir, f) for f in ("vmlinux", "sysbench", "sysbench.img", "sysbench-initramfs.cpio")]
    if "linux" not in wanted:
        need = need[1:3]  # no Linux guest needed
    missing = [f for f in need if not os.path.exists(f)]
    if missing:
        sys.exit(f"sysbench: missing {', '.join(missing)}: run bench/boot/linux-guest.sh, then bench/linux/build.sh")

    nimbus = boot_bench.Guest("nimbus", os.path.join(args.build, "kernel", "kernel.elf"),
                              os.path.join(guest_dir, "sysbench.img"), ["boot.times=off"],
                              program=[os.path.join(guest_dir, "sysbench")])
    boot = boot_bench.linux_boot_options(args)
    if args.cpus > 1:
        boot.append("tsc=reliable")
    linux = boot_bench.Guest("linux", os.path.join(guest_dir, "vmlinux"),
                             os.path.join(guest_dir, "sysbench-initramfs.cpio"), boot)
    guests = [g for g in (nimbus, linux) if g.name in wanted]
    for g in (nimbus, linux):
        g.figures = {name: [] for name in FIGURES}
    for g in guests:
        g.argv = boot_bench.qemu_argv(args, g)
    mode = "tcg, icount shift=0,sleep=off" if args.icount else "tcg"
    print(f"machine {args.machine}, {args.cpus} cpu, {args.memory}, {mode}, {args.runs} runs")
    for g in guests:
        print(f"{g.name}: " + " ".join(shlex.quote(a) for a in g.argv))
    for g in guests:
        boot_bench.run_once(args, g, record=False)
    for i in range(args.runs):
        for g in guests:
            console = boot_bench.run_once(args, g, record=True)
            if console is None:
                continue
            figures, _ = pingpong_bench.parse(console)
            if args.verbose:
                print(f"  run {i + 1} {g.name}: " +
                      ", ".join(f"{k} {pingpong_bench.primary(v)}" for k, v in sorted(figures.items())))
            for name, fields in figures.items():
                if name in g.figures:
                    g.figures[name].append(pingpong_bench.primary(fields))
    print()
    print(f"{'figure':16} {'nimbus ns':>10} {'linux ns':>10} {'ratio':>7}  target")
    for name in FIGURES:
        n = statistics.median(nimbus.figures[name]) if nimbus.figures[name] else None
        l = statistics.median(linux.figures[name]) if linux.figures[name] else None
        ratio = f"{n / l:7.3f}" if n and l else "      -"
        goal = TARGETS.get(name)
        verdict = ""
        if n and l:
            limit = goal if goal else 1.0
            verdict = f"<= {limit}: {'met' if n / l <= limit else 'not met'}"
        print(f"{name:16} {n if n else 'missing':>10} {l if l else 'missing':>10} {ratio}  {verdict}")
    for g in guests:
        if g.failures:
            print(f"{g.name}: {g.failures} failed runs", file=sys.stderr)


if __name__ == "__main__":
    main()
