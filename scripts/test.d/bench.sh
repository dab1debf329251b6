#!/usr/bin/env bash
# The benchmark suite's short form: figures printed, not asserted (timings on shared machines are
# noisy). Fails only when a benchmark cannot run.
set -euo pipefail
# --static: the binary pods run (the static sidecar build, its idle RSS the one PRODUCT.md bounds),
# built by the static stage before this one.
exec "$(dirname "$0")/../../bench/run.sh" --short --static
