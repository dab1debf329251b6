#!/usr/bin/env bash
# The release build, as the container image makes it: scripts/build-static.sh (the Dockerfile's
# build stage runs the same script), then the binary in an empty root filesystem, as in the
# FROM scratch image: `lastcall version`, and `lastcall install --to DIR` (the init container's
# step: it copies /proc/self/exe, so /proc is mounted, as a container runtime does) run as
# 65532:65532. The empty-root part needs root (chroot, a private mount namespace); it is skipped
# with a message otherwise.
set -euo pipefail
cd "$(dirname "$0")/../.."

./scripts/build-static.sh
binary=build-static/lastcall.stripped
size=$(stat -c %s "$binary")
if [ "$size" -gt 4000000 ]; then
  echo "static: $binary is $size bytes, over the 4 MB target" >&2
  exit 1
fi

if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null || ! command -v chroot >/dev/null; then
  echo "skip: the empty-root run needs root, unshare and chroot"
  exit 0
fi
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
chmod 755 "$root"
cp "$binary" "$root/lastcall"
mkdir "$root/proc" "$root/shared"
chmod 777 "$root/shared"  # an emptyDir
in_empty_root() {  # in_empty_root ARGS...: runs /lastcall ARGS in $root as 65532:65532
  unshare --mount --pid --fork sh -c 'mount -t proc proc "$0/proc" && exec chroot --userspec=65532:65532 "$0" /lastcall "$@"' "$root" "$@"
}
version=$(in_empty_root version)
expected=$(sed -n 's/^project(lastcall VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
if [ "$version" != "lastcall $expected" ]; then
  echo "static: 'lastcall version' in an empty root printed '$version', expected 'lastcall $expected'" >&2
  exit 1
fi
if in_empty_root --help 2>&1 | grep -q "install"; then
  in_empty_root install --to /shared/bin
  cmp "$root/shared/bin/lastcall" "$binary"
  [ "$(stat -c %a "$root/shared/bin/lastcall")" = 755 ]
  echo "static: runs in an empty root; install copied itself (mode 755)"
else
  echo "skip: this lastcall has no install subcommand yet"
fi
