#!/usr/bin/env bash
# The benchmark suite's short form: figures printed, not asserted (timings on shared machines are
# noisy). Fails only when a benchmark cannot run.
set -euo pipefail
exec "$(dirname "$0")/../../bench/run.sh" --short
