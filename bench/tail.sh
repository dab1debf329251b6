#!/usr/bin/env bash
# Readiness endpoint under a probe storm, lastcall beside Lightship (the Node peer), in one run:
# wrk -t2 -c32 against lastcall's /readyz and Lightship's /ready, alternating, ROUNDS times each;
# prints requests/s and the latency percentiles wrk reports (p50, p90, p99) of every round, then
# the median of each figure. Figures are printed, never asserted.
#
# Usage: bench/tail.sh [ROUNDS] [SECONDS]        (default 3 rounds of 5 s)
#   LASTCALL=path   the binary to measure (default build/lastcall)
#   CONNECTIONS=N   the storm's connections (default 32)
# Needs wrk and node; installs Lightship into bench/peers/node_modules (npm ci) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
seconds=${2:-5}
connections=${CONNECTIONS:-32}
lastcall=${LASTCALL:-build/lastcall}

command -v wrk >/dev/null || { echo "tail: wrk is not installed (scripts/bootstrap.sh)" >&2; exit 1; }
command -v node >/dev/null || { echo "tail: node is not installed" >&2; exit 1; }
[ -x "$lastcall" ] || { echo "tail: $lastcall not built (cmake --build build --target lastcall)" >&2; exit 1; }
if [ ! -d bench/peers/node_modules/lightship ]; then
  (cd bench/peers && npm ci --no-audit --no-fund >/dev/null 2>&1) || {
    echo "tail: npm ci in bench/peers failed" >&2
    exit 1
  }
fi

# free_port: a random port nothing answers on.
free_port() {
  local port
  while true; do
    port=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}
tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

lc_port=$(free_port)
"$lastcall" run --listen "127.0.0.1:$lc_port" --control "unix://$tmp/control.sock" \
  --log-level warn >"$tmp/lastcall.log" 2>&1 &
pids+=($!)
ls_port=$(free_port)
node bench/peers/lightship_server.mjs "$ls_port" >"$tmp/lightship.log" 2>&1 &
pids+=($!)

wait_ready() {
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "tail: $1 never answered" >&2
  exit 1
}
wait_ready "http://127.0.0.1:$lc_port/readyz"
wait_ready "http://127.0.0.1:$ls_port/ready"

# to_ms VALUE: wrk prints 812.00us, 1.20ms or 2.01s.
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else printf "%s", v }'
}

# one NAME URL: one wrk round; appends "rps p50 p90 p99" to $tmp/NAME.
one() {
  local out
  out=$(wrk -t2 -c"$connections" -d"${seconds}s" --latency "$2")
  local rps p50 p90 p99
  rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  p90=$(to_ms "$(awk '$1 == "90%" {print $2}' <<<"$out")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  echo "$rps $p50 $p90 $p99" >>"$tmp/$1"
  printf '  %-10s round: %8s req/s  p50 %7s ms  p90 %7s ms  p99 %7s ms\n' "$1" "$rps" "$p50" "$p90" "$p99"
}

echo "machine: $(nproc) CPUs, kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wrk -t2 -c$connections -d${seconds}s --latency, $rounds rounds each, alternating"
for _ in $(seq 1 "$rounds"); do
  one lastcall "http://127.0.0.1:$lc_port/readyz"
  one lightship "http://127.0.0.1:$ls_port/ready"
done

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
printf '%-10s %10s %9s %9s %9s   (medians of %s rounds)\n' "" "req/s" "p50 ms" "p90 ms" "p99 ms" "$rounds"
for name in lastcall lightship; do
  printf '%-10s %10s %9s %9s %9s\n' "$name" \
    "$(cut -d' ' -f1 "$tmp/$name" | median)" "$(cut -d' ' -f2 "$tmp/$name" | median)" \
    "$(cut -d' ' -f3 "$tmp/$name" | median)" "$(cut -d' ' -f4 "$tmp/$name" | median)"
done
