#!/usr/bin/env python3
"""Turns an x86 bzImage (vmlinuz) into the uncompressed vmlinux ELF inside it.

The compressed kernel's position is given by the bzImage setup header [linux
Documentation/arch/x86/boot.rst]: setup_sects at 0x1f1, header magic "HdrS" at 0x202,
protocol version at 0x206, payload_offset/payload_length at 0x248/0x24c (protocol >= 2.08),
both relative to the protected-mode code, which starts at (setup_sects + 1) * 512. The payload
format is recognised by its magic bytes; xz/lzma/gzip/bzip2 are decompressed with Python's
standard library, zstd/lz4 with the Debian `zstd`/`lz4` tools. The result must be an ELF64
with a Xen PVH entry note (type 18), which is what QEMU's -kernel needs for PVH boot.

usage: extract_vmlinux.py VMLINUZ VMLINUX
"""
import bz2
import lzma
import shutil
import struct
import subprocess
import sys
import zlib

XEN_ELFNOTE_PHYS32_ENTRY = 18


def payload(image: bytes) -> bytes:
    if image[0x202:0x206] != b"HdrS":
        sys.exit("extract_vmlinux: not a bzImage (no HdrS setup header)")
    version = struct.unpack_from("<H", image, 0x206)[0]
    if version < 0x208:
        sys.exit(f"extract_vmlinux: boot protocol {version:#x} < 2.08 has no payload fields")
    setup_sects = image[0x1f1] or 4
    offset, length = struct.unpack_from("<II", image, 0x248)
    start = (setup_sects + 1) * 512 + offset
    return image[start:start + length]


def decompress(data: bytes) -> bytes:
    # The kernel build appends the 4-byte decompressed size to the stream; each decoder below
    # stops at the end of its stream and ignores what follows.
    if data.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)
    if data.startswith(b"\x1f\x8b"):
        return zlib.decompressobj(wbits=31).decompress(data)
    if data.startswith(b"\x28\xb5\x2f\xfd"):
        return run_tool(["zstd", "-d", "-c", "-q"], data[:-4], "zstd")
    if data.startswith(b"\x02\x21\x4c\x18"):
        return run_tool(["lz4", "-d", "-c", "-l"], data, "lz4")
    if data.startswith(b"BZh"):
        return bz2.BZ2Decompressor().decompress(data)
    if data[:3] == b"\x5d\x00\x00":
        return lzma.LZMADecompressor(format=lzma.FORMAT_ALONE).decompress(data)
    sys.exit(f"extract_vmlinux: unknown payload format (magic {data[:6].hex()})")


def run_tool(cmd, data: bytes, package: str) -> bytes:
    if shutil.which(cmd[0]) is None:
        sys.exit(f"extract_vmlinux: the kernel is {package}-compressed; apt-get install {package}")
    return subprocess.run(cmd, input=data, stdout=subprocess.PIPE, check=True).stdout


def pvh_entry(elf: bytes):
    """Returns the PVH entry address from the PT_NOTE segments, or None."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        return None
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", elf, phoff + i * phentsize)
        if p_type != 4:  # PT_NOTE
            continue
        pos, end = p_offset, p_offset + p_filesz
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", elf, pos)
            name = elf[pos + 12:pos + 12 + namesz].rstrip(b"\0")
            desc = pos + 12 + ((namesz + 3) & ~3)
            if name == b"Xen" and ntype == XEN_ELFNOTE_PHYS32_ENTRY:
                return int.from_bytes(elf[desc:desc + min(descsz, 8)], "little")
            pos = desc + ((descsz + 3) & ~3)
    return None


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    with open(sys.argv[1], "rb") as f:
        image = f.read()
    vmlinux = decompress(payload(image))
    entry = pvh_entry(vmlinux)
    if entry is None:
        sys.exit("extract_vmlinux: decompressed kernel is not an ELF64 with a Xen PVH note")
    with open(sys.argv[2], "wb") as f:
        f.write(vmlinux)
    print(f"extract_vmlinux: {sys.argv[2]}: {len(vmlinux)} bytes, PVH entry {entry:#x}")


if __name__ == "__main__":
    main()
