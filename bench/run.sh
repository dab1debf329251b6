#!/usr/bin/env bash
# Runs lastcall's benchmark suite: each figure as median and p95 with its PRODUCT.md §5 target.
# Figures are printed, never asserted (timings on shared machines are noisy); the exit code is
# non-zero only when a benchmark could not run. Results and commands: BENCHMARKS.md.
# Usage: bench/run.sh [--short] [--static] [--only NAME]...
#   --short   fewer runs and shorter loads, for CI (about a minute)
#   --static  measure the binary pods run, build-static/lastcall-sidecar.stripped (the image's
#             sidecar build; built when missing)
#   --only    startup memory unready storm overhead push timeout baseline hostile (repeatable)
# `hostile` is bench/hostile_monitors_bench.cc: peak RSS and drain-deadline overshoot while the
# monitor polls hostile answers (huge, nested, endless, trickling, never answered).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v wrk >/dev/null || { echo "bench: wrk is not installed (scripts/bootstrap.sh)" >&2; exit 1; }
args=()          # for lastcall_bench
hostile_args=()  # for hostile_monitors_bench
binary=""
want_main=1
want_hostile=1
only_given=0
while (($#)); do
  arg=$1
  shift
  case "$arg" in
    --static)
      [ -x build-static/lastcall-sidecar.stripped ] || ./scripts/build-static.sh >&2
      args+=(--lastcall "$PWD/build-static/lastcall-sidecar.stripped")
      hostile_args+=(--lastcall "$PWD/build-static/lastcall-sidecar.stripped")
      binary="build-static/lastcall-sidecar.stripped (static sidecar build, scripts/build-static.sh)"
      ;;
    --short)
      args+=(--short)
      hostile_args+=(--short)
      ;;
    --only)
      name=${1:-}
      shift || true
      ((only_given)) || { want_main=0; want_hostile=0; only_given=1; }
      if [ "$name" = "hostile" ]; then
        want_hostile=1
      else
        want_main=1
        args+=(--only "$name")
      fi
      ;;
    *) args+=("$arg") ;;
  esac
done
[ -f build/CMakeCache.txt ] || cmake -S . -B build -DLASTCALL_WARNINGS_AS_ERRORS=ON >/dev/null
if ! log=$(cmake --build build --target lastcall_bench hostile_monitors_bench -j"$(nproc)" 2>&1); then
  echo "$log" >&2
  exit 1
fi
if [ -z "$binary" ]; then
  binary="build/lastcall (dynamic, $(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' build/CMakeCache.txt))"
fi
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
  "kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg); measuring ${binary}"
if ((want_main)); then
  build/bench/lastcall_bench "${args[@]+"${args[@]}"}"
fi
if ((want_hostile)); then
  echo
  build/bench/hostile_monitors_bench "${hostile_args[@]+"${hostile_args[@]}"}"
fi
