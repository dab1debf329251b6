#!/usr/bin/env bash
# Runs each libFuzzer target for a bounded time from its seed corpus (fuzz/corpus/<target>/). The
# targets are part of the ASan+UBSan build (build-asan/, CMakePresets.json "dev": clang, the
# libraries compiled with libFuzzer's coverage), which scripts/test.sh builds first; run alone,
# this script builds them there. Fails on any crash, leak, timeout or out-of-memory; prints the
# executions run per target.
#
# Usage: scripts/test.d/fuzz.sh [TARGET...]     (default: every target)
#   FUZZ_SECONDS  time per target (default 15)
#   FUZZ_JOBS     targets run at once (default: the number of cores)
#   FUZZ_MAX_LEN  largest input tried, in bytes (default 8192: the largest seed fits)
# New inputs a run finds go to build-asan/fuzz/corpus/<target>/, never into the checked-in corpus;
# a crashing input is kept as build-asan/fuzz/artifacts/<target>/crash-* (replay: build-asan/fuzz/
# fuzz_<target> <file>).
set -uo pipefail
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-15}
jobs=${FUZZ_JOBS:-$(nproc)}
max_len=${FUZZ_MAX_LEN:-8192}
all_targets=(duration config prometheus proc_net_tcp json_field http_request url state_file
  prestop_answer response_reader inet_diag admission_review)
targets=("$@")
((${#targets[@]})) || targets=("${all_targets[@]}")

if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ not found (scripts/bootstrap.sh installs clang and libclang-rt-14-dev)"
  exit 1
fi
start=$SECONDS
build=build-asan
out=$build/fuzz
cmake --preset dev >/dev/null || exit 1  # CMakePresets.json: clang, ASan+UBSan, -Werror
mkdir -p "$out"
if ! cmake --build "$build" -j"$(nproc)" --target fuzzers >"$out/build.log" 2>&1; then
  grep -E 'error|undefined reference' "$out/build.log" | head -40
  echo "fuzz: build failed (full log: $out/build.log)"
  exit 1
fi
echo "fuzz: built in $((SECONDS - start))s; ${seconds}s per target, ${jobs} at a time"

# run_one TARGET: fuzzes one target; its log goes to $out/logs/TARGET.log.
run_one() {
  local target=$1
  local corpus=$out/corpus/$target artifacts=$out/artifacts/$target
  mkdir -p "$corpus" "$artifacts" "$out/logs"
  # -timeout: one input taking 5 s is a hang; -rss_limit_mb: an input that balloons memory is a
  # bug (the monitors read untrusted answers). Leak detection is on (libFuzzer's default).
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$out/fuzz_$target" -max_total_time="$seconds" -max_len="$max_len" -timeout=5 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "$corpus" "fuzz/corpus/$target" >"$out/logs/$target.log" 2>&1
}

declare -A pids
for target in "${targets[@]}"; do
  if [ ! -x "$out/fuzz_$target" ]; then
    echo "fuzz: no target $target (known: ${all_targets[*]})"
    exit 1
  fi
  while (($(jobs -rp | wc -l) >= jobs)); do wait -n; done
  run_one "$target" &
  pids[$target]=$!
done

failed=()
for target in "${targets[@]}"; do
  wait "${pids[$target]}"
  rc=$?
  log=$out/logs/$target.log
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  if ((rc == 0)); then
    printf 'fuzz: %-13s ok      %10s executions  %s\n' "$target" "${runs:-?}" "${cov:-}"
  else
    printf 'fuzz: %-13s FAILED  %10s executions  (exit %d, log %s)\n' "$target" "${runs:-?}" \
      "$rc" "$log"
    grep -E '^==[0-9]+==|ERROR|SUMMARY|runtime error|fuzz property|^    #[0-9] ' "$log" | head -30
    ls "$out/artifacts/$target"/* 2>/dev/null | sed 's/^/  input: /'
    failed+=("$target")
  fi
done
echo "fuzz: $((SECONDS - start))s in all"
if ((${#failed[@]})); then
  echo "fuzz: failed: ${failed[*]}"
  exit 1
fi
