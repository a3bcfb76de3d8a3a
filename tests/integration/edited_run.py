#!/usr/bin/env python3
"""Runs a VM the runner cannot describe: the QEMU command of `nimbus run --dry-run ARGS`, with
literal replacements applied to its arguments (e.g. a CPU without RDRAND), then checks the
console output and the guest's exit status like expect.py.

usage: edited_run.py --nimbus NIMBUS [--replace OLD=>NEW]... [--contains S]... [--absent S]...
                     [--status N] -- RUN_ARGS...
"""
import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile


def run_edited(nimbus, run_args, replacements, timeout, required=True):
    """Runs the QEMU command of `nimbus run --dry-run RUN_ARGS` with `replacements` ((old, new)
    pairs, applied to the command as one shell-quoted line, so they may span arguments such as
    "-cpu max"). A replacement whose text is absent fails (None, -1) when `required`, else is
    skipped. Returns (console output, guest exit status from the status channel or -1)."""
    dry = subprocess.run([nimbus, "run", "--dry-run"] + run_args, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, check=True)
    argv = shlex.split(dry.stdout.decode().strip().splitlines()[-1])
    with tempfile.TemporaryDirectory(prefix="nimbus-edited-") as work:
        status_file = os.path.join(work, "status")
        line = shlex.join(argv).replace("path=/tmp/nimbus-status-XXXXXX", "path=" + status_file)
        for old, new in replacements:
            if old not in line:
                if required:
                    print(f"edited_run: FAIL {old!r} is not in the command", flush=True)
                    return None, -1
                continue
            line = line.replace(old, new)
        edited = shlex.split(line)
        print("+", shlex.join(edited), flush=True)
        run = subprocess.run(edited, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=timeout)
        status = -1
        try:
            with open(status_file) as f:
                m = re.search(r"exit (\d+)", f.read())
                status = int(m.group(1)) if m else -1
        except OSError:
            pass
    return run.stdout.decode(errors="replace"), status


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nimbus", required=True)
    p.add_argument("--replace", action="append", default=[], help="OLD=>NEW, in the shell-quoted command line")
    p.add_argument("--contains", action="append", default=[])
    p.add_argument("--absent", action="append", default=[])
    p.add_argument("--status", type=int, default=0)
    p.add_argument("--timeout", type=float, default=240)
    p.add_argument("run_args", nargs=argparse.REMAINDER)
    args = p.parse_args()
    run_args = args.run_args[1:] if args.run_args[:1] == ["--"] else args.run_args
    out, status = run_edited(args.nimbus, run_args, [tuple(r.split("=>", 1)) for r in args.replace], args.timeout)
    if out is None:
        return 1
    sys.stdout.write(out)
    failures = [f"exit status {status}, expected {args.status}"] if status != args.status else []
    failures += [f"missing {s!r}" for s in args.contains if s not in out]
    failures += [f"unexpected {s!r}" for s in args.absent if s in out]
    for f in failures:
        print("edited_run: FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
