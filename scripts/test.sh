#!/usr/bin/env bash
# Runs the whole test suite: unit (host, ASan+UBSan), fuzz (short bounded runs),
# and the QEMU-booted integration tests and ktests. Builds first.
# Usage: scripts/test.sh [ctest args...]     e.g. scripts/test.sh -L unit
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f build/build.ninja ] || cmake --preset default
cmake --build --preset default
ctest --preset default "$@"
