#!/usr/bin/env python3
"""Runs a guest through `nimbus run` and checks the outcome.

usage: expect.py --status N [--contains TEXT]... [--absent TEXT]... -- COMMAND [ARGS...]

Pass/fail rests on the exit status, which the kernel reports through the VM exit device;
--contains/--absent check for fixed markers the feature under test must print (for example a
symbolised backtrace line), never free-form text.
"""
import argparse
import subprocess
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--status", type=int, required=True)
    parser.add_argument("--contains", action="append", default=[])
    parser.add_argument("--absent", action="append", default=[])
    parser.add_argument("--timeout", type=int, default=300)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command")
    try:
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=args.timeout, text=True, errors="replace")
    except subprocess.TimeoutExpired as e:
        sys.stdout.write(e.stdout or "")
        print(f"expect: timed out after {args.timeout}s: {' '.join(command)}")
        return 1
    sys.stdout.write(proc.stdout)
    failures = []
    if proc.returncode != args.status:
        failures.append(f"exit status {proc.returncode}, expected {args.status}")
    for text in args.contains:
        if text not in proc.stdout:
            failures.append(f"output lacks {text!r}")
    for text in args.absent:
        if text in proc.stdout:
            failures.append(f"output has {text!r}")
    for f in failures:
        print(f"expect: FAIL: {f}")
    if not failures:
        print("expect: ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
