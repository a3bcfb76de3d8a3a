#!/usr/bin/env python3
"""Guest instruction profile of a Nimbus kernel from a QEMU TCG execution trace.

QEMU without plugins can still log every translation block it runs: with
`-d exec,nochain,in_asm -D LOG` each block's code is printed once when translated ("IN:"
followed by one line per instruction) and one "Trace" line is printed every time it runs.
This script counts, per kernel function (from the ELF's symbol table), how many guest
instructions ran, and prints the top ones, optionally divided by a unit count (for example
the number of hand-offs of a benchmark, to get instructions per hand-off).

Use it with --icount runs (the deterministic figures of docs/benchmarks.md):

  build/bin/nimbus run --dry-run --icount --boot bench=pingpong     # prints the QEMU command
  <that command> -d exec,nochain,in_asm -D /tmp/tb.log              # (a few GB of log)
  tools/tcg_profile.py --kernel build/kernel/kernel.elf --per 40000 /tmp/tb.log
  (--calls adds how often each function was entered, per unit)

Counts include the whole run (boot, warm-up); make the measured part dominate.
"""
import argparse
import bisect
import collections
import re
import subprocess

TRACE = re.compile(r"^Trace \d+: \S+ \[[0-9a-f]+/([0-9a-f]+)/")


def read_trace(path):
    """({block pc: instructions}, Counter{block pc: executions})."""
    sizes, runs = {}, collections.Counter()
    first, count = None, 0
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("IN:"):
                first, count = None, 0
            elif line.startswith("0x"):
                pc = int(line.split(":", 1)[0], 16)
                if first is None:
                    first = pc
                count += 1
            elif line.startswith("Trace"):
                m = TRACE.match(line)
                if m:
                    pc = int(m.group(1), 16)
                    if first == pc and count:
                        sizes[pc] = count
                    runs[pc] += 1
                first, count = None, 0
    return sizes, runs


def read_symbols(kernel):
    out = subprocess.run(["nm", "-C", "--defined-only", kernel], capture_output=True, text=True,
                         check=True).stdout
    syms = []
    for line in out.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tTwW":
            syms.append((int(parts[0], 16), parts[2]))
    syms.sort()
    return syms


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("log", help="QEMU log written with -d exec,nochain,in_asm")
    p.add_argument("--kernel", required=True, help="the kernel ELF that ran")
    p.add_argument("--per", type=float, default=1.0, help="divide counts by this (e.g. hand-offs)")
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--calls", action="store_true",
                   help="also show how often each function was entered (runs of the block at its first address)")
    args = p.parse_args()
    sizes, runs = read_trace(args.log)
    syms = read_symbols(args.kernel)
    addrs = [a for a, _ in syms]
    per_function = collections.Counter()
    entries = collections.Counter()
    starts = dict(syms)
    total = 0
    for pc, n in runs.items():
        instructions = sizes.get(pc, 1) * n
        total += instructions
        i = bisect.bisect_right(addrs, pc) - 1
        per_function[syms[i][1] if i >= 0 and pc >= addrs[0] else "(outside the kernel)"] += instructions
        if pc in starts:
            entries[starts[pc]] += n
    print(f"{total / args.per:10.1f} instructions in all")
    for name, instructions in per_function.most_common(args.top):
        calls = f"  ({entries[name] / args.per:.2f} calls)" if args.calls and entries[name] else ""
        print(f"{instructions / args.per:10.1f} {100 * instructions / total:5.1f}%  {name}{calls}")


if __name__ == "__main__":
    main()
