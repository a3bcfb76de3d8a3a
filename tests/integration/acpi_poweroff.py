#!/usr/bin/env python3
"""Proves that the kernel can end the VM through ACPI soft-off alone.

usage: acpi_poweroff.py --machine q35|pc|microvm --kernel KERNEL.elf [--timeout SECS] [--qemu PATH]

QEMU is started directly (not through `nimbus run`, which always adds isa-debug-exit) with
neither isa-debug-exit nor -no-reboot. The kernel has nothing to run and calls exit_vm(0):
 - ACPI soft-off works: QEMU shuts down by itself with exit status 0 → pass;
 - it falls back to a reset: the VM reboots in a loop until the timeout → fail.
The verdict rests on QEMU's exit status; the one marker checked is that the kernel booted
exactly once (its banner), which rules out "a reset happened to end QEMU".
"""
import argparse
import os
import subprocess
import sys

MACHINES = {
    "q35": "q35",
    "pc": "pc",
    # As the runner configures microvm (tools/nimbus/lib/qemu_command.cc), with ACPI on.
    "microvm": "microvm,acpi=on,pic=off,pit=on,rtc=on",
}
BANNER = "Nimbus kernel"


def kvm_usable():
    """The runner's rule (tools/nimbus/lib/accel.cc): vmx/svm in the CPU flags and /dev/kvm
    openable read-write. /dev/kvm alone is not enough (nested set-ups without the flag)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = [line.split(":", 1)[1].split() for line in f
                     if line.split(":", 1)[0].strip() == "flags"]
        if not any("vmx" in words or "svm" in words for words in flags):
            return False
        os.close(os.open("/dev/kvm", os.O_RDWR))
        return True
    except OSError:
        return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--machine", choices=sorted(MACHINES), required=True)
    parser.add_argument("--kernel", required=True)
    parser.add_argument("--timeout", type=int, default=60)
    parser.add_argument("--qemu", default=os.environ.get("NIMBUS_QEMU", "qemu-system-x86_64"))
    args = parser.parse_args()

    command = [args.qemu, "-M", MACHINES[args.machine], "-nodefaults", "-no-user-config",
               "-display", "none", "-accel", "kvm" if kvm_usable() else "tcg", "-cpu", "max",
               "-m", "128M", "-kernel", args.kernel, "-serial", "stdio"]
    try:
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=args.timeout, text=True,
                              errors="replace")
        output, status = proc.stdout, proc.returncode
    except subprocess.TimeoutExpired as e:
        output = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        status = None
    # Rebooting kernels print the same lines over and over: show the start only.
    sys.stdout.write(output[:8000])
    boots = output.count(BANNER)
    failures = []
    if status is None:
        failures.append(f"QEMU still running after {args.timeout}s ({boots} boots): "
                        "the kernel did not power the VM off")
    elif status != 0:
        failures.append(f"QEMU exit status {status}, expected 0 (ACPI soft-off)")
    if boots != 1:
        failures.append(f"the kernel booted {boots} times, expected once")
    for f in failures:
        print(f"acpi_poweroff: FAIL: {f}")
    if not failures:
        print("acpi_poweroff: ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
