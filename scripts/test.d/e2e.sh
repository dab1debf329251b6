#!/usr/bin/env bash
# The zero-drop end-to-end test (issue 5): real HAProxy in front of two replicas of the example
# app, replica 1 terminated by the kubelet emulator under load, naive setups beside lastcall's.
# Fails when a lastcall scenario loses a request or the naive app loses none, or when one of issue
# 15's scenarios misses its timing bound (tests/e2e/zero_drop.cc).
# Usage: scripts/test.d/e2e.sh [zero_drop_e2e flags]   (uses build/, building what it needs)
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
exec build/tests/e2e/zero_drop_e2e "$@"
