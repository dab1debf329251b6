#!/usr/bin/env bash
# What each library and layer of the static binaries costs, in bytes: the table of
# docs/architecture.md, "What the binary carries". Reads the linker maps scripts/build-static.sh
# leaves beside the binaries (CMakeLists.txt asks the linker for them) and attributes every input
# section the link kept to its owner (scripts/lib/size_table.py says how).
# Usage: scripts/size-table.sh [--arch amd64|arm64] [--markdown] [--build]
#   --arch      which build to read (default: this machine's, build-static/; arm64:
#               build-static-arm64/)
#   --markdown  print the tables as Markdown (what docs/architecture.md holds)
#   --build     run scripts/build-static.sh first (otherwise only when a map is missing)
set -euo pipefail
cd "$(dirname "$0")/.."

host_arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
arch=$host_arch
markdown=()
build=0
while (($#)); do
  case "$1" in
    --arch) [ $# -ge 2 ] || { echo "size-table: --arch needs amd64 or arm64" >&2; exit 2; }
      arch=$2; shift 2 ;;
    --arch=*) arch=${1#--arch=}; shift ;;
    --markdown) markdown=(--markdown); shift ;;
    --build) build=1; shift ;;
    *) echo "size-table: unknown argument $1 (usage: size-table.sh [--arch A] [--markdown]" \
      "[--build])" >&2; exit 2 ;;
  esac
done
dir=build-static
[ "$arch" = "$host_arch" ] || dir=build-static-$arch
if ((build)) || [ ! -f "$dir/lastcall.map" ] || [ ! -f "$dir/lastcall-sidecar.map" ]; then
  ./scripts/build-static.sh --arch "$arch" >&2
fi
echo "${arch}: ${dir}/lastcall.stripped $(stat -c %s "$dir/lastcall.stripped") bytes," \
  "${dir}/lastcall-sidecar.stripped $(stat -c %s "$dir/lastcall-sidecar.stripped") bytes"
echo
# Side by side: what each owner costs in the full binary and in the sidecar build.
python3 scripts/lib/size_table.py "$dir/lastcall.map" "$dir/lastcall-sidecar.map" \
  "${markdown[@]+"${markdown[@]}"}"
echo
# The sidecar build alone, by kind of section.
python3 scripts/lib/size_table.py "$dir/lastcall-sidecar.map" "${markdown[@]+"${markdown[@]}"}"
