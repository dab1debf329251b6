#!/usr/bin/env bash
# Prepares a cross build of lastcall for ARCH (arm64) on an amd64 Debian 12: installs the cross
# toolchain (Debian packages) when missing, and unpacks the ARCH builds of the libraries lastcall
# links into DIR (cmake/toolchain-aarch64.cmake reads them there). scripts/build-static.sh
# --arch ARCH runs it; scripts/bootstrap.sh does not, so a native-only machine stays lean.
# Unpacked with dpkg-deb -x, not installed: libyaml-cpp-dev is not Multi-Arch: same, and
# installing its arm64 build would remove the amd64 one the native build needs.
# Usage: scripts/cross-deps.sh ARCH DIR      (idempotent: DIR/.complete lists what is in it)
# REQUIRES: root (or sudo) for apt-get, only when something must be installed.
set -euo pipefail

arch=${1:?usage: cross-deps.sh ARCH DIR}
dir=${2:?usage: cross-deps.sh ARCH DIR}
case "$arch" in
  arm64) toolchain=(g++-aarch64-linux-gnu binutils-aarch64-linux-gnu) ;;
  *) echo "cross-deps: no cross toolchain known for ${arch} (supported: arm64)" >&2; exit 2 ;;
esac
# The -dev packages of what lastcall links or finds with find_package (cmake/Dependencies.cmake);
# each comes with the runtime package it pins, whose .so its CMake config names.
dev_packages=(libyaml-cpp-dev libfmt-dev libre2-dev libbearssl-dev)

sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
apt_updated=0
apt_update() {
  ((apt_updated)) && return 0
  DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq
  apt_updated=1
}

missing=()
for p in "${toolchain[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "cross-deps: installing ${missing[*]}"
  apt_update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

stamp="$dir/.complete"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${dev_packages[*]}" ]; then
  exit 0
fi

# apt-get download needs the package lists of ARCH.
if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
  echo "cross-deps: dpkg --add-architecture ${arch}"
  $sudo dpkg --add-architecture "$arch"
  apt_updated=0
fi
apt-cache show "${dev_packages[0]}:${arch}" >/dev/null 2>&1 || apt_update

packages=()
for p in "${dev_packages[@]}"; do
  packages+=("${p}:${arch}")
  # Depends entries pinned to one version: the library the -dev package is the headers of.
  while read -r dep; do
    packages+=("${dep}:${arch}")
  done < <(apt-cache show --no-all-versions "${p}:${arch}" |
    sed -n 's/^Depends: //p' | tr ',' '\n' | sed -n 's/^ *\([^ ]*\) (= .*/\1/p')
done

rm -rf "$dir"
mkdir -p "$dir/debs"
echo "cross-deps: unpacking ${packages[*]} into ${dir}"
# As root, apt drops to the _apt user to download, which cannot write here.
(cd "$dir/debs" && apt-get download -qq -o APT::Sandbox::User=root "${packages[@]}")
for deb in "$dir"/debs/*.deb; do
  dpkg-deb -x "$deb" "$dir"
done
rm -rf "$dir/debs"
echo "${dev_packages[*]}" >"$stamp"
