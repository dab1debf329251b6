#!/usr/bin/env bash
# The webhook under HTTPS load on 127.0.0.1 (BENCHMARKS.md, "Webhook"):
#  1. wrk, closed loop (-t1 -c4, 10 s): the most admissions/s the server gives, and their latency;
#  2. openloop.py at exactly RATE admissions/s (default 500) for DURATION s over 8 kept-alive
#     connections: p50/p99/max measured from each request's scheduled time;
# and the webhook's peak resident memory (VmHWM) and its RSS after the runs.
# Usage: bench/webhook/run.sh [path/to/lastcall] (default build/lastcall). Everything it starts
# it stops; every run is bounded in time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-build/lastcall}
rate=${RATE:-500}
duration=${DURATION:-20}
work=$(mktemp -d)
pid=""
cleanup() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" webhook certs --service lastcall-webhook --namespace lastcall --out "$work/certs" \
  >/dev/null 2>&1
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
name=lastcall-webhook.lastcall.svc
"$bin" webhook --listen "127.0.0.1:$port" --tls-cert "$work/certs/tls.crt" \
  --tls-key "$work/certs/tls.key" >"$work/webhook.log" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q "serving HTTPS" "$work/webhook.log" && break; sleep 0.1; done
grep -q "serving HTTPS" "$work/webhook.log" || { cat "$work/webhook.log"; exit 1; }

status=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$work/certs/ca.crt" \
  --resolve "$name:$port:127.0.0.1" -H 'Content-Type: application/json' \
  --data-binary @"$here/review.json" "https://$name:$port/mutate")
echo "one admission: HTTP $status"
echo "== wrk -t1 -c4 -d10s (closed loop) =="
REVIEW="$here/review.json" timeout 30 wrk -t1 -c4 -d10s --latency -s "$here/post.lua" \
  "https://127.0.0.1:$port/mutate" | sed -n '/Latency Distribution/,$p'
echo "== open loop: $rate/s for ${duration}s =="
timeout $((duration + 30)) python3 "$here/openloop.py" --port "$port" --ca "$work/certs/ca.crt" \
  --name "$name" --body "$here/review.json" --rate "$rate" --duration "$duration"
grep -E 'VmHWM|VmRSS' "/proc/$pid/status"
