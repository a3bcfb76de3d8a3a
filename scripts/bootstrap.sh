#!/usr/bin/env bash
# Installs what Nimbus needs on a fresh Debian 12 machine (Debian packages only), then
# configures and builds everything: kernel, ktest kernel, runner, host tests, fuzzers.
# Usage: scripts/bootstrap.sh            (as root, or with sudo available)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  clang-19 lld-19 llvm-19 libclang-rt-19-dev   # kernel + host compiler, linker, nm, sanitizers, libFuzzer
  cmake ninja-build                            # build
  libgtest-dev libgmock-dev                    # unit tests
  qemu-system-x86                              # the VMM every test boots
  qemu-utils                                   # qemu-img: the qcow2 disk test converts images
  python3                                      # build helpers (symbol table) and test drivers
  gcc g++ libc6-dev musl-tools                 # test applications, built as users build theirs
  sqlite3 golang-go                            # unmodified Debian programs and a Go program in the tests
  redis-server redis-tools nginx memcached     # unmodified network servers in the guest, and their clients
  curl wrk                                     # HTTP clients for the nginx test
  iproute2 iputils-ping dnsmasq-base           # tap tests: namespaces, ping, a real DHCP server
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "bootstrap: installing ${missing[*]}"
  $sudo apt-get update -q
  # The servers are test programs, not services: keep their packages from starting them
  # (a policy-rc.d that refuses, only for the duration of the install).
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" > /dev/null
    $sudo chmod +x "$policy"
    trap '$sudo rm -f "$policy"' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

cmake --preset default
cmake --build --preset default
