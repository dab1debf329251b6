#!/usr/bin/env bash
# The zero-drop end-to-end test (issue 5): real HAProxy in front of two replicas of the example
# app, replica 1 terminated by the kubelet emulator under load, naive setups beside lastcall's.
# Fails when a lastcall scenario loses a request or the naive app loses none, or when one of issue
# 15's scenarios misses its timing bound (tests/e2e/zero_drop.cc).
# Usage: scripts/test.d/e2e.sh [zero_drop_e2e flags]   (uses build/, building what it needs)
#   E2E_GROUPS  scenario groups run at once (default 2). Each scenario has its own HAProxy, apps
#               and ports, and spends most of its ~10 s waiting (lb_delay, the drain, the grace
#               period), so two groups side by side halve the stage on two cores; the load each
#               generates is a few keep-alive connections. With flags, one run, as before.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v haproxy >/dev/null; then
  echo "e2e: haproxy is not installed (./scripts/bootstrap.sh installs it)" >&2
  exit 1
fi
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build -DLASTCALL_WARNINGS_AS_ERRORS=ON >/dev/null
fi
if ! log=$(cmake --build build --target zero_drop_e2e -j"$(nproc)" 2>&1); then
  echo "$log" >&2
  exit 1
fi
e2e=build/tests/e2e/zero_drop_e2e
groups=${E2E_GROUPS:-2}
if (($#)) || ((groups <= 1)); then
  exec "$e2e" "$@"
fi

# The scenarios CI runs: what the usage message lists, without the opt-in ones (marked *).
mapfile -t scenarios < <("$e2e" --list 2>&1 | sed -n 's/^scenarios: *//p' | tr ' ' '\n' |
  grep -v -e '\*$' -e '^$')
((${#scenarios[@]})) || { echo "e2e: no scenarios listed by $e2e" >&2; exit 1; }
work=$(mktemp -d /tmp/lastcall-e2e-XXXXXX)
trap 'rm -rf "$work"' EXIT
pids=()
for ((g = 0; g < groups; g++)); do
  args=()
  for ((i = g; i < ${#scenarios[@]}; i += groups)); do args+=(--scenario "${scenarios[i]}"); done
  ((${#args[@]})) || continue
  "$e2e" "${args[@]}" >"$work/group-$g.log" 2>&1 &
  pids+=($!)
done
status=0
for g in "${!pids[@]}"; do
  wait "${pids[g]}" || status=1
  echo "--- e2e: group $((g + 1)) of ${#pids[@]}"
  cat "$work/group-$g.log"
done
echo "e2e: ${#scenarios[@]} scenarios in ${#pids[@]} groups side by side: $( ((status)) && echo FAILED || echo ok)"
exit $status
