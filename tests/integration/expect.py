#!/usr/bin/env python3
"""Runs a guest through `nimbus run` and checks the outcome.

usage: expect.py --status N [--contains TEXT]... [--absent TEXT]... [STDIN] -- COMMAND [ARGS...]

Pass/fail rests on the exit status, which the kernel reports through the VM exit device;
--contains/--absent check for fixed markers the feature under test must print (for example a
symbolised backtrace line), never free-form text.

Standard input of the command (STDIN), one of:
  (none)                  /dev/null, so that a test never reads the terminal ctest runs in
  --input TEXT            TEXT (backslash escapes such as \\n, \\x04 are decoded) through a pipe
  --input-file PATH       the file
  --input-pattern N       N bytes of a fixed pattern holding every byte value (pattern_bytes)
  --input-held            a pipe that stays open and empty until the command ends (reads of
                          the guest's stdin block, as on a terminal nobody types at)
  --pty                   a pseudo-terminal (stdin, stdout and stderr), driven by --wait TEXT
                          (wait until the output since the last wait holds TEXT) and --send
                          TEXT (type TEXT; escapes decoded) in the order given; then the
                          command runs to its end
"""
import argparse
import codecs
import os
import pty
import select
import subprocess
import sys
import time


def decode(text):
    return codecs.decode(text, "unicode_escape").encode("latin-1")


def pattern_bytes(n):
    """Byte i is (131 i + i / 256) mod 256: every value, DLE, ^C, ^D, CR and NUL included."""
    return bytes(((i * 131) + (i >> 8)) & 0xff for i in range(n))


class Script(argparse.Action):
    """Collects --wait/--send in command-line order."""

    def __call__(self, parser, namespace, values, option_string=None):
        steps = getattr(namespace, "steps", None) or []
        steps.append((option_string.lstrip("-"), values))
        namespace.steps = steps


def run_piped(command, stdin_bytes, input_file, timeout, held=False):
    stdin = subprocess.DEVNULL
    if held:
        read_end, write_end = os.pipe()
        try:
            proc = subprocess.run(command, stdin=read_end, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  timeout=timeout)
        finally:
            os.close(read_end)
            os.close(write_end)
        return proc.returncode, proc.stdout.decode("utf-8", "replace")
    if input_file is not None:
        stdin = open(input_file, "rb")
    elif stdin_bytes is not None:
        stdin = subprocess.PIPE
    try:
        proc = subprocess.run(command, input=stdin_bytes, stdin=None if stdin_bytes is not None else stdin,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    finally:
        if input_file is not None:
            stdin.close()
    return proc.returncode, proc.stdout.decode("utf-8", "replace")


def run_pty(command, steps, timeout):
    """Runs command on a new pseudo-terminal; returns (status, output) or raises TimeoutError."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    deadline = time.monotonic() + timeout
    output = bytearray()
    mark = 0  # --wait looks at the output after the previous wait's match

    def pump(until):
        """Reads output until `until` is in it (then True), the command ends or the deadline."""
        nonlocal mark
        while True:
            if until is not None:
                at = output.find(until, mark)
                if at >= 0:
                    mark = at + len(until)
                    return True
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([master], [], [], min(left, 0.5))
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every slave descriptor closed
                    chunk = b""
                if not chunk:
                    return False
                output.extend(chunk)
            elif proc.poll() is not None and until is None:
                return False

    try:
        for kind, text in steps:
            if kind == "wait":
                if not pump(text.encode()):
                    break
            else:
                os.write(master, decode(text))
        pump(None)
        status = proc.wait(timeout=max(1, deadline - time.monotonic()))
    except (TimeoutError, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait()
        sys.stdout.write(output.decode("utf-8", "replace"))
        raise TimeoutError
    finally:
        os.close(master)
    return status, output.decode("utf-8", "replace")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--status", type=int, required=True)
    parser.add_argument("--contains", action="append", default=[])
    parser.add_argument("--absent", action="append", default=[])
    parser.add_argument("--timeout", type=int, default=300)
    parser.add_argument("--input")
    parser.add_argument("--input-file")
    parser.add_argument("--input-pattern", type=int)
    parser.add_argument("--input-held", action="store_true")
    parser.add_argument("--pty", action="store_true")
    parser.add_argument("--wait", action=Script, dest="steps")
    parser.add_argument("--send", action=Script, dest="steps")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command")
    try:
        if args.pty:
            status, output = run_pty(command, args.steps or [], args.timeout)
        else:
            stdin_bytes = None
            if args.input is not None:
                stdin_bytes = decode(args.input)
            elif args.input_pattern is not None:
                stdin_bytes = pattern_bytes(args.input_pattern)
            status, output = run_piped(command, stdin_bytes, args.input_file, args.timeout, args.input_held)
    except (subprocess.TimeoutExpired, TimeoutError) as e:
        if isinstance(e, subprocess.TimeoutExpired) and e.stdout:
            sys.stdout.write(e.stdout.decode("utf-8", "replace"))
        print(f"expect: timed out after {args.timeout}s: {' '.join(command)}")
        return 1
    sys.stdout.write(output)
    failures = []
    if status != args.status:
        failures.append(f"exit status {status}, expected {args.status}")
    for text in args.contains:
        if text not in output:
            failures.append(f"output lacks {text!r}")
    for text in args.absent:
        if text in output:
            failures.append(f"output has {text!r}")
    for f in failures:
        print(f"expect: FAIL: {f}")
    if not failures:
        print("expect: ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
