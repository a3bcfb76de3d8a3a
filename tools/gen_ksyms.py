#!/usr/bin/env python3
"""Generates the kernel's embedded symbol table (.ksyms) as assembly.

Usage: gen_ksyms.py NM KERNEL.ELF OUT.S      (NM: llvm-nm-19)
       gen_ksyms.py --empty OUT.S            (placeholder for the first link pass)
       gen_ksyms.py --check NM PASS1.ELF FINAL.ELF
                                             (fails if any code moved between the passes)

The table holds every defined text symbol, sorted by address, with its size and demangled
name; core/ksyms.cc reads it. The layout must match KsymsHeader/KsymsEntry there.
"""
import subprocess
import sys

MAGIC = 0x4D59534B  # "KSYM"


def emit(out_path, symbols):
    strings = bytearray()
    lines = ['    .section .ksyms, "a"', "    .p2align 3", "    .global g_ksyms", "g_ksyms:",
             f"    .long {MAGIC:#x}", f"    .long {len(symbols)}"]
    for address, size, name in symbols:
        lines.append(f"    .quad {address:#x}")
        lines.append(f"    .long {len(strings)}, {min(size, 0xffffffff)}")
        strings += name.encode("utf-8", "replace") + b"\0"
    for i in range(0, len(strings), 32):
        chunk = strings[i:i + 32]
        lines.append("    .byte " + ",".join(str(b) for b in chunk))
    with open(out_path, "w") as f:
        f.write("\n".join(lines) + "\n")


def text_symbols(nm, elf):
    text = subprocess.run([nm, "-n", "-S", "-C", "--defined-only", elf], check=True,
                          capture_output=True, text=True).stdout
    symbols = []
    for line in text.splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4:
            address, size, kind, name = parts
        elif len(parts) == 3:
            address, kind, name = parts
            size = "0"
        else:
            continue
        if kind not in ("t", "T", "W", "w"):
            continue
        symbols.append((int(address, 16), int(size, 16), name))
    symbols.sort()
    return symbols


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--check":
        nm, first, final = sys.argv[2:]
        if text_symbols(nm, first) != text_symbols(nm, final):
            sys.exit(f"gen_ksyms: text symbols differ between {first} and {final}")
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--empty":
        emit(sys.argv[2], [])
        return
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    nm, elf, out = sys.argv[1:]
    symbols = text_symbols(nm, elf)
    emit(out, symbols)


if __name__ == "__main__":
    main()
