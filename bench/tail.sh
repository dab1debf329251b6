#!/usr/bin/env bash
# Readiness endpoint under a probe storm, lastcall beside Lightship (the Node peer), in one run:
# wrk -t2 -c32 against lastcall's /readyz and Lightship's /ready, alternating, ROUNDS times each;
# prints requests/s and the latency percentiles wrk reports (p50, p90, p99) of every round, then
# the median of each figure. Figures are printed, never asserted.
#
# Then the comparison the target is about, at the SAME offered load: paced_probe sends RATE
# requests/s over the same connections to each (latency from each request's scheduled time), and
# lastcall_bench measures SIGTERM -> first 503 under that load (20 runs).
#
# Usage: bench/tail.sh [ROUNDS] [SECONDS]        (default 3 rounds of 5 s)
#   LASTCALL=path   the binary to measure (default build/lastcall)
#   CONNECTIONS=N   the storm's connections (default 32)
#   RATE=N          the paced load, req/s (default: 80% of Lightship's median wrk throughput)
#   BUILD=dir       where paced_probe and lastcall_bench are built (default build)
# Needs wrk and node; installs Lightship into bench/peers/node_modules (npm ci) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
seconds=${2:-5}
connections=${CONNECTIONS:-32}
lastcall=${LASTCALL:-build/lastcall}
build=${BUILD:-build}

command -v wrk >/dev/null || { echo "tail: wrk is not installed (scripts/bootstrap.sh)" >&2; exit 1; }
command -v node >/dev/null || { echo "tail: node is not installed" >&2; exit 1; }
[ -x "$lastcall" ] || { echo "tail: $lastcall not built (cmake --build build --target lastcall)" >&2; exit 1; }
cmake --build "$build" --target paced_probe lastcall_bench >/dev/null || {
  echo "tail: cannot build paced_probe and lastcall_bench in $build" >&2
  exit 1
}
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

# The same offered load on both: a rate both sustain, below Lightship's saturation.
rate=${RATE:-$(cut -d' ' -f1 "$tmp/lightship" | median | awk '{printf "%d", $1 * 0.8}')}
echo
echo "paced_probe at $rate req/s over $connections connections, ${seconds} s, $rounds rounds each, alternating"
echo "(latency counted from each request's scheduled send time, in microseconds)"
paced() {  # paced NAME PORT PATH
  local out
  out=$("$build/bench/paced_probe" --port "$2" --path "$3" --rate "$rate" \
    --connections "$connections" --seconds "$seconds")
  printf '  %-10s %s\n' "$1" "$out"
  awk '{for (i = 1; i < NF; i++) if ($i == "p99") print $(i + 1)}' <<<"$out" >>"$tmp/$1.paced"
}
for _ in $(seq 1 "$rounds"); do
  paced lastcall "$lc_port" /readyz
  paced lightship "$ls_port" /ready
done
for name in lastcall lightship; do
  printf '%-10s p99 median of %s rounds: %s us\n' "$name" "$rounds" "$(median <"$tmp/$name.paced")"
done

echo
echo "SIGTERM -> first 503 on /readyz under $rate req/s (lastcall_bench --only storm --storm-rate $rate)"
"$build/bench/lastcall_bench" --lastcall "$lastcall" --only storm --storm-rate "$rate" |
  grep -E "SIGTERM|round trip|minus"
