#!/bin/bash
# Builds both sides of the disk benchmark (bench/disk/README.md): diskbench.c, static, as the
# Nimbus application (a root image made by `nimbus image`) and, with linux_disk_init.c as
# /init and the kernel's virtio modules, as the Linux guest's initramfs.
#
# usage: bench/disk/build.sh [BUILD_DIR]     (default <repo>/build; the Linux guest is
# BUILD_DIR/linux-guest, made by bench/boot/linux-guest.sh, modules/ included)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
out=$build/linux-guest
if [ ! -f "$out/vmlinux" ] || [ ! -f "$out/modules/order" ]; then
    echo "bench/disk: $out/vmlinux or $out/modules missing: run bench/boot/linux-guest.sh${1:+ $out} first" >&2
    exit 1
fi
gcc -static -O2 -Wall -Wextra -pthread -o "$out/diskbench" "$here/diskbench.c"
gcc -static -O2 -Wall -Wextra -o "$out/disk-init" "$here/linux_disk_init.c"
specs=("init=$out/disk-init:0755" "diskbench=$out/diskbench:0755" "modules/order=$out/modules/order:0644")
while read -r ko; do
    specs+=("modules/$ko=$out/modules/$ko:0644")
done < "$out/modules/order"
python3 "$repo/bench/boot/mkcpio.py" "$out/diskbench-initramfs.cpio" "${specs[@]}"
"$build/bin/nimbus" image -o "$out/diskbench.img" "$out/diskbench"
echo "bench/disk: ready: $out/diskbench.img $out/diskbench-initramfs.cpio"
