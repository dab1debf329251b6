#!/usr/bin/env bash
# The static binary (PRODUCT.md §5: static, runs in an empty root filesystem, <= 4 MB stripped).
# Builds it with scripts/build-static.sh, copies only the binary into an empty directory and runs
# it there with chroot: `lastcall version`, then a full sequence against the example app on
# loopback (the app runs outside the chroot; lastcall and `lastcall prestop` inside, talking over
# the control socket in the chroot's /tmp), then SIGTERM -> exit 0 with the app's drain observed.
# Usage: scripts/test.d/static.sh     REQUIRES: root, or unprivileged user namespaces (unshare -r).
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() {
  echo "static: FAILED: $*" >&2
  for log in "$work"/*.log; do
    [ -e "$log" ] && { echo "--- $log" >&2; cat "$log" >&2; }
  done
  exit 1
}

./scripts/build-static.sh
size=$(stat -c %s build-static/lastcall.stripped)
[ "$size" -le 4000000 ] || { echo "static: ${size} bytes is over the 4 MB target" >&2; exit 1; }

# The example app comes from the plain build.
if [ ! -x build/examples/drainable_app ]; then
  [ -f build/CMakeCache.txt ] || cmake -S . -B build >/dev/null
  cmake --build build --target drainable_app -j"$(nproc)" >/dev/null
fi

work=$(mktemp -d /tmp/lastcall-static-XXXXXX)
root="$work/root"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# The root filesystem: the binary and an empty /tmp for the control socket, nothing else.
mkdir -p "$root/tmp"
chmod 1777 "$root/tmp"
cp build-static/lastcall.stripped "$root/lastcall"
in_root=(chroot "$root")
[ "$(id -u)" -eq 0 ] || in_root=(unshare -r chroot "$root")
echo "static: root filesystem holds: $(cd "$root" && find . -mindepth 1 | sort | tr '\n' ' ')"

version=$("${in_root[@]}" /lastcall version) || fail "lastcall version exited $?"
echo "static: ${version}"
[[ "$version" == "lastcall "* ]] || fail "unexpected version output: ${version}"

# http_get PORT PATH -> the whole answer to GET PATH (bash's /dev/tcp: no curl needed).
http_get() {
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 0
  printf 'GET %s HTTP/1.0\r\nHost: x\r\n\r\n' "$2" >&3
  timeout 10 cat <&3 || true
  exec 3<&-
}
# http_status PORT PATH -> the status code of GET PATH, or nothing when it failed.
http_status() {
  http_get "$1" "$2" | head -1 | cut -d' ' -f2
}

# wait_for FILE REGEX: until FILE has a line matching REGEX (5 s at most).
wait_for() {
  for _ in $(seq 500); do
    grep -Eq "$2" "$1" 2>/dev/null && return 0
    sleep 0.01
  done
  return 1
}

build/examples/drainable_app --listen 127.0.0.1:0 --name outside >"$work/app.log" 2>&1 &
pids+=($!)
wait_for "$work/app.log" 'listening on' || fail "the example app did not start"
app_port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/app.log")

"${in_root[@]}" /lastcall run --listen 127.0.0.1:0 --control unix:///tmp/c.sock \
  --lb-delay 300ms --drain-url "http://127.0.0.1:${app_port}/drain" --poll-interval 20ms \
  >"$work/lastcall.log" 2>&1 &
lastcall_pid=$!
pids+=("$lastcall_pid")
wait_for "$work/lastcall.log" 'probe_port=[0-9]+' || fail "lastcall did not start in the chroot"
probe_port=$(sed -n 's/.*probe_port=\([0-9]*\).*/\1/p' "$work/lastcall.log" | head -1)
[ "$(http_status "$probe_port" /readyz)" = 200 ] || fail "/readyz is not 200 before the sequence"

# A slow request in flight, then the kubelet's part: the app's preStop hook, run in the chroot.
http_status "$app_port" "/work?ms=1500" >"$work/work.status" &
work_pid=$!
for _ in $(seq 200); do
  [[ "$(http_get "$app_port" /drain/status)" == *'"inflight":1'* ]] && break
  sleep 0.01
done
start=$(date +%s%N)
"${in_root[@]}" /lastcall prestop --control unix:///tmp/c.sock --quiet >"$work/prestop.log" 2>&1 ||
  fail "lastcall prestop exited $?"
prestop_ms=$((($(date +%s%N) - start) / 1000000))
[ "$(http_status "$probe_port" /readyz)" = 503 ] || fail "/readyz is not 503 after the sequence"
wait "$work_pid"
[ "$(cat "$work/work.status")" = 200 ] || fail "the in-flight request got $(cat "$work/work.status")"
# prestop returns once the slow request is done: after lb_delay and about 1.5 s of work.
((prestop_ms >= 1000)) || fail "prestop returned after ${prestop_ms} ms, before the app drained"

kill -TERM "$lastcall_pid"
code=0
wait "$lastcall_pid" || code=$?
[ "$code" -eq 0 ] || fail "lastcall exited ${code} after SIGTERM"
grep -q 'phase drained' "$work/lastcall.log" || fail "no 'phase drained' in lastcall's log"
grep -q 'draining' "$work/app.log" || fail "the app never got the drain trigger"
kill -TERM "${pids[0]}"
wait "${pids[0]}" || fail "the example app exited $? after SIGTERM"
echo "static: in an empty chroot: version ok; prestop returned after ${prestop_ms} ms with the" \
  "app drained; SIGTERM -> exit 0; binary ${size} bytes stripped"

# The init container's step: `lastcall install` copies /proc/self/exe, so it needs /proc, as a
# container runtime provides; as UID 65532, as the image runs.
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
  mkdir -p "$root/proc" "$root/shared"
  chmod 777 "$root/shared"  # an emptyDir
  unshare --mount --pid --fork sh -c \
    'mount -t proc proc "$0/proc" && exec chroot --userspec=65532:65532 "$0" /lastcall install --to /shared/bin' \
    "$root" >"$work/install.log" 2>&1 || fail "lastcall install in the empty root exited $?"
  cmp "$root/shared/bin/lastcall" build-static/lastcall.stripped || fail "install copied something else"
  [ "$(stat -c %a "$root/shared/bin/lastcall")" = 755 ] || fail "install did not make it 0755"
  echo "static: install --to copied the binary (mode 755) as 65532 in the empty root"
fi
