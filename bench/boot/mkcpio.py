#!/usr/bin/env python3
"""Writes a newc ("070701") cpio archive for an initramfs [linux
Documentation/driver-api/early-userspace/buffer-format.rst].

usage: mkcpio.py OUTPUT ARCHIVE_PATH=HOST_FILE[:MODE] ...
Directories leading to each ARCHIVE_PATH are created (mode 0755); MODE is octal (default 0755).
"""
import sys


def header(ino, mode, nlink, size, name):
    fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, len(name) + 1, 0]
    return b"070701" + b"".join(b"%08X" % v for v in fields)


def pad4(n):
    return b"\0" * (-n % 4)


def entry(ino, mode, nlink, name, data=b""):
    raw = header(ino, mode, nlink, len(data), name) + name.encode() + b"\0"
    return raw + pad4(len(raw)) + data + pad4(len(data))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip().splitlines()[-2])
    out, specs = sys.argv[1], sys.argv[2:]
    archive, dirs, ino = b"", set(), 1
    for spec in specs:
        path, host = spec.split("=", 1)
        mode = 0o755
        if ":" in host:
            host, m = host.rsplit(":", 1)
            mode = int(m, 8)
        path = path.strip("/")
        parts = path.split("/")
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            if d not in dirs:
                dirs.add(d)
                archive += entry(ino, 0o040755, 2, d)
                ino += 1
        with open(host, "rb") as f:
            archive += entry(ino, 0o100000 | mode, 1, path, f.read())
        ino += 1
    archive += entry(0, 0, 1, "TRAILER!!!")
    with open(out, "wb") as f:
        f.write(archive + pad4(len(archive)))


if __name__ == "__main__":
    main()
