#!/usr/bin/env bash
# Installs lastcall's build and test dependencies from Debian 12 packages, then builds into build/.
# Usage: ./scripts/bootstrap.sh [--deps-only]   (idempotent; skips apt when everything is installed)
#   --deps-only  install, do not build (CI: scripts/test.sh builds what each stage needs)
# Installed later, by what needs them, so a machine that only builds natively stays lean: the
# arm64 cross toolchain and libraries (scripts/cross-deps.sh, run by scripts/build-static.sh
# --arch arm64; about a minute, ~250 MB), qemu-user-static (scripts/test.d/arm64.sh, ~380 MB),
# and umoci, runc, skopeo and jq (scripts/test.d/image.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
deps_only=0
case "${1:-}" in
  "") ;;
  --deps-only) deps_only=1 ;;
  *) echo "bootstrap: unknown argument $1 (usage: bootstrap.sh [--deps-only])" >&2; exit 2 ;;
esac

# The libraries the shipped binaries are built from (CMakeLists.txt, cmake/Dependencies.cmake):
# the image's build stage (Dockerfile) installs each of them, and tests/deploy/check_dockerfile.js
# fails when it does not.
libraries=(
  nlohmann-json3-dev libcli11-dev libfmt-dev libyaml-cpp-dev libre2-dev libbearssl-dev
)
packages=(
  # build (Ninja and ccache: the presets and scripts/test.sh use them)
  build-essential cmake pkg-config ninja-build ccache clang clang-format clang-tidy
  libclang-rt-14-dev
  "${libraries[@]}"
  # the tests' libraries: the test framework, and cpp-httplib for the example app and the tests'
  # independent HTTP peers
  doctest-dev libcpp-httplib-dev
  # test tools: a real load balancer, a load generator, promtool, llhttp's C sources (an
  # independent HTTP parser the request parser is checked against)
  haproxy wrk prometheus node-llhttp
  # an HTTP/2 server for the in_flight multiplexed-port test (tests/in_flight_test.cc)
  python3-h2
  # an independent JSON Patch (and YAML) for the webhook's patches (tests/webhook_admission_test.cc)
  python3-jsonpatch python3-yaml
  # independent TLS peers: curl and the openssl CLI against the webhook, OpenSSL's library for
  # the Kubernetes API stand-in (tests/support/kube_api_stand_in.h), the CLI for its certificates
  curl openssl libssl-dev
)
# Node (deploy checks) and kubectl (its built-in kustomize renders deploy/kubernetes): Debian's
# only when the machine has none. A machine image may bring its own: NodeSource's nodejs includes
# npm and conflicts with Debian's npm package, and Google's kubectl package owns /usr/bin/kubectl,
# which Debian's kubernetes-client would overwrite (apt fails on both). Debian 12's kubectl 1.20
# embeds kustomize v2.0.3, too old for the overlays: tests/deploy/validate.sh says so.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi
command -v kubectl >/dev/null 2>&1 || packages+=(kubernetes-client)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "bootstrap: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

. scripts/lib/build-env.sh
if ((deps_only)); then exit 0; fi
# The presets build with Ninja: a build/ that an older tree configured for Make is made afresh.
if grep -qs '^CMAKE_GENERATOR:INTERNAL=Unix Makefiles' build/CMakeCache.txt; then
  rm -rf build/CMakeCache.txt build/CMakeFiles
fi
cmake --preset plain >/dev/null  # CMakePresets.json: RelWithDebInfo, -Werror, Ninja, into build/
# The binary only: scripts/test.sh builds the tests where it needs them (a full run tests in the
# sanitizer builds first, so a failure there is known before build/'s tests compile).
cmake --build build -j"$(nproc)" --target lastcall
echo "bootstrap: built build/lastcall"
