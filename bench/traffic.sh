#!/usr/bin/env bash
# What watching the kernel saves (docs/monitors.md), each mode beside the one it replaces, with the
# example app (drainable_app) on loopback:
#   lb     fixed lb_delay 5s vs lb_delay auto (min 1s, quiet 1s): a wrk load on the app stops
#          1 s after the trigger (the balancer's endpoint removal); the lb wait is printed.
#   count  count: connections vs count: in_flight: 8 idle keep-alive connections held open and
#          one 800 ms request in flight when draining starts; the drain time is printed.
#   push   polling every 100ms vs the app pushing POST /drained: one 500 ms request in flight;
#          the time from the app's drained moment (its last answer written, stamped inside the
#          app: the "stamps:" line's drained_unix) to the return of the /prestop call is printed,
#          to 0.01 ms (bash's EPOCHREALTIME; it includes curl's exit). lastcall_bench --only push
#          measures the same to lastcall's exit, to the microsecond, over more runs.
# Figures are printed, never asserted.
#
# Usage: bench/traffic.sh [ROUNDS]     (default 5; each round runs every mode once)
#   LASTCALL=path, APP=path   binaries (default build/lastcall, build/examples/drainable_app)
#   MODES="push"              only these modes (default "lb count push")
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
lastcall=${LASTCALL:-build/lastcall}
app=${APP:-build/examples/drainable_app}
modes=" ${MODES:-lb count push} "
for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "traffic: $tool is not installed" >&2; exit 1; }
done
for binary in "$lastcall" "$app"; do
  [ -x "$binary" ] || { echo "traffic: $binary not built" >&2; exit 1; }
done

tmp=$(mktemp -d)
pids=()
stop_all() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$tmp"' EXIT

free_port() {
  local port
  while true; do
    # Below the ephemeral range (32768-60999 by default): a port some client connection is using
    # as its local port answers nothing but cannot be bound.
    port=$((20000 + RANDOM % 12000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}
wait_up() {
  for _ in $(seq 1 200); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "traffic: $1 never answered" >&2
  tail -n 5 "$tmp/app.log" "$tmp/lastcall.log" >&2 2>/dev/null || true
  exit 1
}

# start APP_FLAGS... -- LASTCALL_FLAGS...: starts both; sets app_port, probe_port, control_port.
start() {
  local app_flags=() lc_flags=() seen=0
  for arg in "$@"; do
    if [ "$arg" = "--" ]; then seen=1; elif ((seen)); then lc_flags+=("$arg"); else app_flags+=("$arg"); fi
  done
  app_port=$(free_port)
  probe_port=$(free_port)
  control_port=$(free_port)
  while [ "$probe_port" = "$app_port" ]; do probe_port=$(free_port); done
  while [ "$control_port" = "$app_port" ] || [ "$control_port" = "$probe_port" ]; do
    control_port=$(free_port)
  done
  "$app" --listen "127.0.0.1:$app_port" --threads 32 \
    "${app_flags[@]+"${app_flags[@]//@CONTROL@/$control_port}"}" >"$tmp/app.log" 2>&1 &
  pids+=($!)
  wait_up "http://127.0.0.1:$app_port/healthz"
  "$lastcall" run --listen "127.0.0.1:$probe_port" --control "127.0.0.1:$control_port" \
    --drain-url "http://127.0.0.1:$app_port/drain" --monitor-port "$app_port" --log-level warn \
    --grace-period 60s --drain-timeout 20s "${lc_flags[@]}" >"$tmp/lastcall.log" 2>&1 &
  pids+=($!)
  wait_up "http://127.0.0.1:$probe_port/readyz"
}
prestop() { curl -fsS "http://127.0.0.1:$control_port/prestop"; }
json_ms() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }

# lb MODE LASTCALL_FLAGS...: prints the lb wait (unready -> draining) in ms.
lb_round() {
  start -- "$@"
  prestop >"$tmp/result.json" &
  local hook=$!
  # The balancer keeps sending for 1 s after the trigger, then stops (endpoint removed).
  wrk -t1 -c4 -d1s "http://127.0.0.1:$app_port/work?ms=5" >/dev/null 2>&1
  wait "$hook"
  local unready last
  unready=$(sed -n 's/.*"phase_durations_ms":{"unready":\([0-9]*\).*/\1/p' "$tmp/result.json")
  # lb_delay auto dates the last request it saw ("the last at +1.234s after unready").
  last=$(sed -n 's/.*the last at +\([0-9.]*\)s after unready.*/\1/p' "$tmp/result.json" |
    awk '{printf "%d", $1 * 1000}')
  stop_all
  echo "$unready ${last:--}"
}

# count MODE: prints the drain time in ms with 8 idle keep-alive connections and an 800 ms request.
count_round() {
  start -- --lb-delay 200ms --drain-url "" --monitor connections --monitor-count "$1" --settle 200ms
  local fds=()
  for _ in $(seq 1 8); do
    local fd
    exec {fd}<>"/dev/tcp/127.0.0.1/$app_port"
    printf 'GET /healthz HTTP/1.1\r\nHost: app\r\n\r\n' >&"$fd"
    local line
    while IFS= read -r -t 2 line <&"$fd"; do [ "${line%$'\r'}" = "" ] && break; done
    head -c 1 <&"$fd" >/dev/null 2>&1 || true  # the body is short; read a byte of it
    fds+=("$fd")
  done
  curl -fsS -o /dev/null "http://127.0.0.1:$app_port/work?ms=800" &
  local work=$!
  prestop >"$tmp/result.json"
  wait "$work" || true
  for fd in "${fds[@]}"; do exec {fd}>&-; done
  json_ms draining <"$tmp/result.json"
  stop_all
}

# push MODE: prints ms from the app's drained moment (stamped by the app) to /prestop's return.
push_round() {
  if [ "$1" = push ]; then
    start --push-drained "http://127.0.0.1:@CONTROL@/drained" -- --lb-delay 0s
  else
    start -- --lb-delay 0s
  fi
  curl -fsS -o /dev/null "http://127.0.0.1:$app_port/work?ms=500" &
  local work=$!
  sleep 0.1
  prestop >"$tmp/result.json"
  local end=$EPOCHREALTIME
  wait "$work"
  stop_all  # the app logs its stamps at exit
  local drained
  drained=$(sed -n 's/.*stamps:.* drained_unix=\([0-9.]*\).*/\1/p' "$tmp/app.log")
  awk -v end="$end" -v drained="${drained:-0}" \
    'BEGIN { if (drained == 0) print "-"; else printf "%.2f\n", (end - drained) * 1000 }'
}

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
p95() { sort -n | awk '{a[NR] = $1} END {i = int(NR * 0.95 + 0.999); if (i < 1) i = 1; print a[i]}'; }

echo "machine: $(nproc) CPUs, kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$tmp/lb_fixed"
: >"$tmp/lb_auto"
: >"$tmp/count_connections"
: >"$tmp/count_in_flight"
: >"$tmp/push_poll"
: >"$tmp/push_push"
wants() { [[ $modes == *" $1 "* ]]; }
last() { tail -1 "$tmp/$1" 2>/dev/null | cut -d' ' -f"${2:-1-}"; }
for round in $(seq 1 "$rounds"); do
  if wants lb; then
    lb_round --lb-delay 5s >>"$tmp/lb_fixed"
    lb_round --lb-delay auto --lb-auto-min 1s --lb-auto-quiet 1s >>"$tmp/lb_auto"
  fi
  if wants count; then
    count_round connections >>"$tmp/count_connections"
    count_round in_flight >>"$tmp/count_in_flight"
  fi
  if wants push; then
    push_round poll >>"$tmp/push_poll"
    push_round push >>"$tmp/push_push"
  fi
  line="round $round:"
  wants lb && line+=" lb fixed $(last lb_fixed 1) ms, auto $(last lb_auto) (wait, last request) ms;"
  wants count && line+=" drain connections $(last count_connections) ms, in_flight $(last count_in_flight) ms;"
  wants push && line+=" app drained->prestop returned poll $(last push_poll) ms, push $(last push_push) ms"
  echo "$line"
done
row() {
  [ -s "$2" ] || return 0
  printf '%-58s %8s %8s\n' "$1" "$(cut -d' ' -f1 "$2" | median)" "$(cut -d' ' -f1 "$2" | p95)"
}
printf '%-58s %8s %8s   (ms, %s rounds)\n' "" median p95 "$rounds"
row "lb wait, fixed lb_delay 5s" "$tmp/lb_fixed"
row "lb wait, lb_delay auto (min 1s, quiet 1s), load stops at +1s" "$tmp/lb_auto"
if [ -s "$tmp/lb_auto" ]; then
  printf '%-58s %8s\n' "  (the last request it saw, ms after the trigger)" \
    "$(cut -d' ' -f2 "$tmp/lb_auto" | median)"
fi
row "drain, count: connections (8 idle keep-alive + 800ms)" "$tmp/count_connections"
row "drain, count: in_flight (8 idle keep-alive + 800ms)" "$tmp/count_in_flight"
row "app drained -> /prestop returned, polling 100ms" "$tmp/push_poll"
row "app drained -> /prestop returned, app pushes POST /drained" "$tmp/push_push"
