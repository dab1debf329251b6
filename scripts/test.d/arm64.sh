#!/usr/bin/env bash
# The linux/arm64 binary: cross-built (scripts/build-static.sh --arch arm64: static, stripped,
# <= 4 MB) and run on this amd64 machine under qemu-aarch64-static, invoked directly (no binfmt
# registration needed): `version`, `check` on the example configurations, then the whole
# sequence with lastcall and its preStop hook emulated and the example app native: /readyz 200,
# the hook returns once the app drained, /readyz 503, SIGTERM -> exit 0. Timings under emulation
# are not judged, behaviour is.
# The cross toolchain and the arm64 libraries are installed here, on first use (scripts/
# cross-deps.sh), not by scripts/bootstrap.sh; so is qemu-user-static.
# Usage: scripts/test.d/arm64.sh     REQUIRES: an amd64 Debian 12, root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/sequence.sh

work=$(mktemp -d /tmp/lastcall-arm64-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "arm64: FAILED: $*" >&2
  for log in "$work"/*.log; do
    [ -e "$log" ] && { echo "--- $log" >&2; cat "$log" >&2; }
  done
  exit 1
}

if ! command -v qemu-aarch64-static >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "arm64: installing qemu-user-static"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    qemu-user-static >/dev/null
fi

start=$SECONDS
# -Werror, as the amd64 static stage builds: the image stage rebuilds both with the same lines.
LASTCALL_WARNINGS_AS_ERRORS=ON ./scripts/build-static.sh --arch arm64
echo "arm64: cross build took $((SECONDS - start)) s"
# Both binaries fit; the sidecar build (what the arm64 image runs) runs the checks below.
for binary in build-static-arm64/lastcall.stripped build-static-arm64/lastcall-sidecar.stripped; do
  size=$(stat -c %s "$binary")
  [ "$size" -le 4000000 ] || fail "${binary}: ${size} bytes is over the 4 MB target"
  readelf -h "$binary" | grep -q 'AArch64' || fail "$binary is not an AArch64 binary"
done
qemu-aarch64-static build-static-arm64/lastcall.stripped version >/dev/null ||
  fail "the full binary's version exited $?"
lastcall=(qemu-aarch64-static "$binary")

version=$("${lastcall[@]}" version) || fail "lastcall version exited $?"
echo "arm64: ${version}"
[[ "$version" =~ ^lastcall\ [0-9.]+\ \(commit\ ([0-9a-f]+|unknown)\)$ ]] ||
  fail "unexpected version output: ${version}"

# The example configurations; the token file one names a path that exists only in its pod.
echo "dev-token" >"$work/token"
for config in deploy/kubernetes/overlays/*/lastcall.yaml; do
  flags=()
  grep -q '^token_file:' "$config" && flags=(--token-file "$work/token")
  "${lastcall[@]}" check -c "$config" "${flags[@]}" >"$work/check.log" 2>&1 ||
    fail "lastcall check -c $config exited $?"
  grep -q 'budget' "$work/check.log" || fail "lastcall check -c $config printed no budget"
done
echo "arm64: check passes on the example configurations"

start_example_app
pids+=("$app_pid")
"${lastcall[@]}" run --listen 127.0.0.1:0 --control "unix://$work/c.sock" \
  --lb-delay 300ms --drain-url "http://127.0.0.1:${app_port}/drain" --poll-interval 20ms \
  >"$work/lastcall.log" 2>&1 &
lastcall_pid=$!
pids+=("$lastcall_pid")
wait_probe_port
prestop_sequence "${lastcall[@]}" prestop --control "unix://$work/c.sock" --quiet
# qemu-user passes the signal on to the emulated process.
kill -TERM "$lastcall_pid"
code=0
wait "$lastcall_pid" || code=$?
check_drained "$code"
echo "arm64: under qemu-aarch64-static: version, check, /readyz 200, prestop returned after" \
  "${prestop_ms} ms with the app drained, /readyz 503, SIGTERM -> exit 0;" \
  "binary ${size} bytes stripped"
