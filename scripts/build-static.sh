#!/usr/bin/env bash
# Builds the release binaries, linked statically and stripped:
#   DIR/lastcall.stripped          every subcommand: the binary for laptops and CI, and the
#                                  image's /lastcall-full (the sidecar build hands the laptop
#                                  tools to it)
#   DIR/lastcall-sidecar.stripped  the sidecar build (run, check, prestop, install, version): what
#                                  the container image carries as /lastcall, so a pod's resident
#                                  memory holds no code of the laptop tools (docs/architecture.md,
#                                  "What the binary carries")
# Both get the linker map beside them (DIR/lastcall.map, DIR/lastcall-sidecar.map), which
# scripts/size-table.sh turns into the table of what each library costs.
# The container image's build stage (Dockerfile) runs this script, and so do CI and
# scripts/build-image.sh, so the steps the image takes are the steps CI exercises.
# Usage: ./scripts/build-static.sh [--arch ARCH]
#   ARCH: amd64 or arm64 (Debian/OCI names; default: this machine's). This machine's
#   architecture builds into build-static/, another one cross-builds into build-static-ARCH/
#   (cmake/toolchain-aarch64.cmake; scripts/cross-deps.sh installs the cross toolchain and
#   unpacks the arm64 libraries on first use). Either way: the two binaries, sizes printed.
# Env:   LASTCALL_JOBS (default: nproc)   parallel build jobs
#        LASTCALL_REVISION                the commit `lastcall version` reports (default: git's)
#        LASTCALL_WARNINGS_AS_ERRORS      ON: -Werror (CI's static stage: the compile lines then
#                                         match the shipped-flags preset's, whose objects ccache
#                                         hands to this build; default OFF)
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=${LASTCALL_JOBS:-$(nproc)}
max_bytes=4000000  # PRODUCT.md §5: static, <= 4 MB stripped
host_arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
arch=$host_arch
while (($#)); do
  case "$1" in
    # An empty value is this machine's architecture (a docker build without BuildKit has no
    # TARGETARCH).
    --arch) [ $# -ge 2 ] || { echo "build-static: --arch needs amd64 or arm64" >&2; exit 2; }
      arch=${2:-$host_arch}; shift 2 ;;
    --arch=*) arch=${1#--arch=}; arch=${arch:-$host_arch}; shift ;;
    *) echo "build-static: unknown argument $1 (usage: build-static.sh [--arch amd64|arm64])" >&2
      exit 2 ;;
  esac
done

cmake_args=(-DLASTCALL_STATIC=ON -DCMAKE_BUILD_TYPE=MinSizeRel -DLASTCALL_BUILD_TESTS=OFF
  "-DLASTCALL_REVISION=${LASTCALL_REVISION:-}"
  "-DLASTCALL_WARNINGS_AS_ERRORS=${LASTCALL_WARNINGS_AS_ERRORS:-OFF}")
command -v ccache >/dev/null && cmake_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
strip=strip
if [ "$arch" = "$host_arch" ]; then
  dir=build-static
else
  case "$host_arch/$arch" in
    amd64/arm64) triple=aarch64-linux-gnu; toolchain=cmake/toolchain-aarch64.cmake ;;
    *) echo "build-static: cannot build ${arch} on ${host_arch} (supported: amd64 -> arm64)" >&2
      exit 2 ;;
  esac
  dir=build-static-$arch
  ./scripts/cross-deps.sh "$arch" "$PWD/$dir/target-libs"
  cmake_args+=("-DCMAKE_TOOLCHAIN_FILE=$PWD/$toolchain"
    "-DLASTCALL_TARGET_LIBS=$PWD/$dir/target-libs")
  strip=$triple-strip
fi

# MinSizeRel (-Os): lastcall waits on the network, not on the CPU, and -O3 made it 4.39 MB
# (MinSizeRel: 3.16 MB) once rehearse, install and inject joined the binary.
cmake -S . -B "$dir" "${cmake_args[@]}" >/dev/null
cmake --build "$dir" --target lastcall lastcall_sidecar_build -j"$jobs"
"$strip" --strip-all -o "$dir/lastcall.stripped" "$dir/lastcall"
"$strip" --strip-all -o "$dir/lastcall-sidecar.stripped" "$dir/lastcall-sidecar"

for binary in "$dir/lastcall.stripped" "$dir/lastcall-sidecar.stripped"; do
  # FROM scratch has no dynamic loader and no libc: a binary that asks for one cannot start there.
  if readelf -l "$binary" | grep -q "Requesting program interpreter"; then
    echo "build-static: $binary is dynamically linked" >&2
    exit 1
  fi
  machine=$(readelf -h "$binary" | sed -n 's/^ *Machine: *//p')
  size=$(stat -c %s "$binary")
  verdict="within the ${max_bytes}-byte target"
  [ "$size" -le "$max_bytes" ] || verdict="OVER the ${max_bytes}-byte target"
  echo "build-static: $binary is ${size} bytes (${arch}, ${machine};" \
    "static, stripped; ${verdict})"
done
