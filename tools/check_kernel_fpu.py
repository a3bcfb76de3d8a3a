#!/usr/bin/env python3
"""Checks that kernel code never touches the floating-point or SIMD registers.

The kernel is built without SSE (cmake/nimbus.cmake) so that a system call leaves the
application's extended state in the registers, untouched: nothing saves it on the way in. A
`float` or `double` in kernel C++ would still compile — to x87 code — and silently corrupt the
application's x87 state; an intrinsic or inline assembly could touch xmm registers. This
script disassembles the kernel ELF and lists every function whose instructions name an x87,
MMX, SSE or AVX register or use an x87 instruction; only the assembly routines that save and
restore the application's state on purpose may.

Usage: check_kernel_fpu.py KERNEL_ELF [--objdump PROGRAM]
Exit status 0 when clean, 1 with the offending functions listed, 2 on a usage problem.
"""
import argparse
import re
import shutil
import subprocess
import sys

# The assembly that handles the application's extended state on purpose: the context switch
# (MXCSR and x87 control word), a new thread's first entry to the application, clone's copy
# of the parent's xmm registers and MXCSR and the child's first return.
ALLOWED = {
    "arch_context_switch",
    "arch_enter_app",
    "arch_save_sse",
    "arch_syscall_return_to",
}

FUNCTION = re.compile(r"^[0-9a-f]+ <(?P<name>[^>]+)>:$")
REGISTER = re.compile(r"%(?:[xyz]mm\d+|mm\d|st(?:\(\d\))?)\b")
# x87 mnemonics all start with f; fxsave/fxrstor only move state (used by the switch).
X87 = re.compile(r"^\s*[0-9a-f]+:\s+(?P<mnemonic>f(?!xsave|xrstor)[a-z0-9]+)\b")


def offenders(disassembly):
    found = {}
    function = "?"
    for line in disassembly.splitlines():
        m = FUNCTION.match(line)
        if m:
            function = m.group("name")
            continue
        if ":" not in line:
            continue
        if REGISTER.search(line) or X87.match(line):
            found.setdefault(function, []).append(line.strip())
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kernel")
    parser.add_argument("--objdump", default=shutil.which("llvm-objdump-19") or shutil.which("objdump"))
    args = parser.parse_args()
    if not args.objdump:
        print("check_kernel_fpu: no objdump found (install llvm-19 or binutils)", file=sys.stderr)
        return 2
    try:
        out = subprocess.run([args.objdump, "-d", "--no-show-raw-insn", args.kernel], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"check_kernel_fpu: cannot disassemble {args.kernel}: {e}", file=sys.stderr)
        return 2
    if "<kernel_main>:" not in out:
        print(f"check_kernel_fpu: {args.kernel} does not look like the kernel (no kernel_main)", file=sys.stderr)
        return 2
    bad = {f: lines for f, lines in offenders(out).items() if f not in ALLOWED}
    if not bad:
        print(f"check_kernel_fpu: no floating-point or SIMD code outside {', '.join(sorted(ALLOWED))}")
        return 0
    for function, lines in sorted(bad.items()):
        print(f"{function}: {len(lines)} floating-point/SIMD instruction(s), e.g. {lines[0]}")
    print("check_kernel_fpu: kernel code must not use float, double or SIMD (see cmake/nimbus.cmake)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
