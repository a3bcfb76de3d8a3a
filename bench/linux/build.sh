#!/bin/bash
# Builds both sides of the Linux-ABI benchmarks (bench/linux/README.md): sysbench.c, static,
# as the Nimbus application (a root image made by `nimbus image`) and as /init of the Linux
# guest's initramfs.
#
# usage: bench/linux/build.sh [BUILD_DIR]     (default <repo>/build; the Linux guest is
# BUILD_DIR/linux-guest, made by bench/boot/linux-guest.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${1:-$repo/build}
out=$build/linux-guest
if [ ! -f "$out/vmlinux" ]; then
    echo "bench/linux: $out/vmlinux missing: run bench/boot/linux-guest.sh first" >&2
    exit 1
fi
gcc -static -O2 -Wall -Wextra -pthread -o "$out/sysbench" "$here/sysbench.c"
python3 "$repo/bench/boot/mkcpio.py" "$out/sysbench-initramfs.cpio" "init=$out/sysbench:0755"
"$build/bin/nimbus" image -o "$out/sysbench.img" "$out/sysbench"
echo "bench/linux: ready: $out/sysbench.img $out/sysbench-initramfs.cpio"
