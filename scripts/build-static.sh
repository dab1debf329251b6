#!/usr/bin/env bash
# Builds the release binary: lastcall linked statically, stripped, into build-static/.
# The container image's build stage (Dockerfile) runs this script, and so does CI, so the steps the
# image takes are the steps CI exercises.
# Usage: ./scripts/build-static.sh        -> build-static/lastcall.stripped (prints its size)
# Env:   LASTCALL_JOBS (default: nproc)   parallel build jobs
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=${LASTCALL_JOBS:-$(nproc)}
max_bytes=4000000  # PRODUCT.md §5: static, <= 4 MB stripped

# MinSizeRel (-Os): lastcall waits on the network, not on the CPU, and -O3 made it 4.39 MB
# (MinSizeRel: 3.16 MB) once rehearse, install and inject joined the binary.
cmake --preset release-static >/dev/null  # CMakePresets.json: static, MinSizeRel, no tests
cmake --build build-static --target lastcall -j"$jobs"
strip --strip-all -o build-static/lastcall.stripped build-static/lastcall

# FROM scratch has no dynamic loader and no libc: a binary that asks for one cannot start there.
if readelf -l build-static/lastcall.stripped | grep -q "Requesting program interpreter"; then
  echo "build-static: build-static/lastcall.stripped is dynamically linked" >&2
  exit 1
fi
size=$(stat -c %s build-static/lastcall.stripped)
verdict="within the ${max_bytes}-byte target"
[ "$size" -le "$max_bytes" ] || verdict="OVER the ${max_bytes}-byte target"
echo "build-static: build-static/lastcall.stripped is ${size} bytes (static, stripped; ${verdict})"
