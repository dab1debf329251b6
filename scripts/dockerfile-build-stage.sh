#!/usr/bin/env bash
# Runs the Dockerfile's build stage for real, without a container engine: a Debian 12 root
# filesystem (mmdebstrap) holding exactly the packages the stage's `apt-get install` names, the
# build context copied in as `COPY . .` would (the files git tracks or would track, less
# .dockerignore's), then the stage's build, `scripts/build-static.sh --arch ARCH`, under chroot.
# CI builds the image with scripts/build-image.sh and checks the Dockerfile statically
# (tests/deploy/check_dockerfile.js); only this shows that `docker build` would get past CMake
# with the packages the Dockerfile installs. Run it after changing the Dockerfile's packages or
# the build's dependencies (CONTRIBUTING.md).
# Usage: scripts/dockerfile-build-stage.sh [--arch amd64|arm64] [--keep DIR]
#   --arch  the stage's TARGETARCH (default: this machine's); arm64 cross-compiles, as buildx does
#   --keep  build the root filesystem in DIR and leave it there (default: a temporary one,
#           removed at the end)
# Prints the binaries' sizes; exits 0 when both were built, 1 when the stage failed, 2 on a
# usage error.
# REQUIRES: root (chroot, mount), mmdebstrap (installed from Debian when missing), and Debian's
# package mirror: it downloads about 150 MB and takes about 2 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: dockerfile-build-stage.sh [--arch amd64|arm64] [--keep DIR]" >&2; exit 2; }
arch=$(dpkg --print-architecture)
keep=""
while (($#)); do
  case "$1" in
    --arch) [ $# -ge 2 ] || usage; arch=$2; shift 2 ;;
    --keep) [ $# -ge 2 ] || usage; keep=$2; shift 2 ;;
    *) echo "dockerfile-build-stage: unknown argument $1" >&2; usage ;;
  esac
done
case "$arch" in amd64 | arm64) ;; *) echo "dockerfile-build-stage: --arch $arch: amd64 or arm64" >&2; exit 2 ;; esac
[ "$(id -u)" -eq 0 ] || { echo "dockerfile-build-stage: needs root (chroot)" >&2; exit 2; }

# The build stage: its base image, and the words after `apt-get install` up to the next `&&`,
# continuation lines joined and options dropped.
stage=$(sed -n '/^FROM .* AS build$/,/^FROM /p' Dockerfile | sed -e ':a' -e '/\\$/N; s/\\\n//; ta')
base=$(printf '%s\n' "$stage" | sed -n 's/^FROM \(--platform=[^ ]* \)\{0,1\}\([^ ]*\) AS build$/\2/p')
[ "$base" = "debian:12" ] || {
  echo "dockerfile-build-stage: the build stage is FROM ${base:-?}; this script knows debian:12" >&2
  exit 1
}
packages=$(printf '%s\n' "$stage" | grep -o 'apt-get install[^&]*' | head -1 |
  sed 's/apt-get install//' | tr -s ' ' '\n' | grep -v '^-' | grep -v '^$' | paste -sd, -)
[ -n "$packages" ] || { echo "dockerfile-build-stage: no apt-get install in the build stage" >&2; exit 1; }

if ! command -v mmdebstrap >/dev/null; then
  echo "dockerfile-build-stage: installing mmdebstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
fi

root=${keep:-$(mktemp -d /tmp/lastcall-build-stage-XXXXXX)}
cleanup() {
  mountpoint -q "$root/proc" && umount "$root/proc"
  [ -n "$keep" ] || rm -rf "$root"
}
trap cleanup EXIT
rm -rf "$root"

echo "dockerfile-build-stage: $base with $packages"
mirror=http://deb.debian.org/debian
mmdebstrap --quiet --variant=apt --components=main --include="$packages" bookworm "$root" \
  "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
  "deb http://deb.debian.org/debian-security bookworm-security main"
# The Dockerfile's `rm -rf /var/lib/apt/lists/*`: what the stage's later steps start from.
rm -rf "$root"/var/lib/apt/lists/*

# COPY . . : the build context, less .dockerignore's patterns (.git, build*/ and the like, which
# git ignores or does not list anyway).
mkdir -p "$root/src"
git ls-files -z --cached --others --exclude-standard --exclude-from=.dockerignore |
  tar --null -T - -c | tar -x -C "$root/src"

mount -t proc proc "$root/proc"
revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
status=0
chroot "$root" /bin/sh -c "cd /src && LASTCALL_REVISION=$revision ./scripts/build-static.sh --arch $arch" ||
  status=$?
if [ "$status" -ne 0 ]; then
  echo "dockerfile-build-stage: FAILED: the build stage's build exited $status" >&2
  exit 1
fi
dir=build-static
[ "$arch" = "$(dpkg --print-architecture)" ] || dir=build-static-$arch
for binary in lastcall.stripped lastcall-sidecar.stripped; do
  [ -f "$root/src/$dir/$binary" ] || { echo "dockerfile-build-stage: FAILED: no $dir/$binary" >&2; exit 1; }
done
echo "dockerfile-build-stage: ok: the Dockerfile's build stage builds both binaries for $arch"
