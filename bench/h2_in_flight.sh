#!/usr/bin/env bash
# What `count: in_flight` sees of HTTP/2: one h2c connection (bench/h2c_server.py's client mode;
# curl 7.88 --parallel failed its second stream with a framing error here) carrying GET /slow
# (answered after 3 s) and GET /fast (answered after FAST_MS, default 0), against
# bench/h2c_server.py. lastcall gets SIGTERM once /fast is answered; prints when it reported
# drained (SIGTERM 500 ms after the requests) and when /slow was answered, without and with
# shutdown.drain.monitor.multiplexed_ports.
# Usage: [FAST_MS=20] bench/h2_in_flight.sh [BUILD_DIR] [RUNS]. Needs python3-h2 and curl.
set -euo pipefail
build=${1:-build}
runs=${2:-3}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'kill $server_pid 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
/usr/bin/python3 "$here/h2c_server.py" "$port" 3000 "${FAST_MS:-0}" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 50); do grep -q listening "$work/server.log" 2>/dev/null && break; sleep 0.1; done

now_ms() { date +%s%3N; }
one_run() {
  local extra=$1 probe
  probe=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$build/lastcall" run --listen "127.0.0.1:$probe" --control "unix://$work/control.sock" \
    --monitor connections --monitor-count in_flight --monitor-port "$port" $extra \
    --drain-url= --lb-delay 0s --settle 0s --poll-interval 50ms --drain-timeout 10s \
    >"$work/lastcall.log" 2>&1 &
  local lastcall_pid=$!
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$probe/livez" >/dev/null && break; sleep 0.1; done
  sleep 0.3  # a few looks while serving
  local start
  start=$(now_ms)
  /usr/bin/python3 "$here/h2c_server.py" client "$port" >"$work/client.out" &
  local curl_pid=$!
  sleep 0.5  # /fast is answered within FAST_MS
  local connections
  connections=$(ss -tnH state established "( sport = :$port )" | wc -l)
  kill -TERM "$lastcall_pid"
  local term
  term=$(now_ms)
  wait "$lastcall_pid" || true
  local drained
  drained=$(now_ms)
  wait "$curl_pid" || true
  [ -n "${SHOW_LOG:-}" ] && grep -i "poll\|drain" "$work/lastcall.log" | head -${SHOW_LOG}
  local slow
  slow=$(awk '/slow/ {print $2}' "$work/client.out")
  local fast
  fast=$(awk '/fast/ {print $2}' "$work/client.out")
  echo "  connections on the port at SIGTERM: $connections; SIGTERM at +$((term - start)) ms," \
    "lastcall exited at +$((drained - start)) ms, /fast answered at +$fast ms, /slow at +$slow ms" \
    "($(grep -o 'phase [a-z_]*' "$work/lastcall.log" | tail -1))"
}
echo "count: in_flight, port $port not declared multiplexed:"
for _ in $(seq "$runs"); do one_run ""; done
echo "count: in_flight, --multiplexed-port $port:"
for _ in $(seq "$runs"); do one_run "--multiplexed-port $port"; done
