#!/usr/bin/env bash
# Runs every test lastcall has, and prints each stage's wall and CPU time and the total.
# Usage: ./scripts/test.sh [--quick] [--fail-fast]
#   --quick      the inner loop: the plain build (build/) and its ctest less the cases labelled
#                serial (CPU-bound, run alone; the full run has them), nothing else
#   --fail-fast  stop after the first failed stage (a failure is printed the moment it happens
#                either way: a background stage's result line appears as soon as it ends)
# REQUIRES: ./scripts/bootstrap.sh ran (dependencies installed).
#
# The stages, in order (a "&" stage runs in the background while the next build compiles: the
# tests mostly wait on timers, the build wants the CPU, so the build runs niced beside them):
#   format               clang-format --dry-run on every C++ file
#   build (asan+ubsan)   build-asan/, clang -O0: the tests, lastcall, the example app, the fuzzers
#   tests (asan+ubsan) & unit tests (one process per layer), integration tests (one per case)
#   build (tsan)         build-tsan/, clang -O1
#   tests (tsan)       & the same tests under TSan
#   fuzz               & each libFuzzer target from its corpus (the fuzzers of build-asan/)
#   build (plain)        build/ (GCC, -Werror, the shipped binary's compile flags: MinSizeRel,
#                        function sections, header-only logging; linked dynamically): what the
#                        stages below drive, plus the two test files the sanitizers cannot judge
#                        (memory limits and RSS, the socket flood)
#   tests (plain)        the memory tests
#   static, arm64        the shipped binary (amd64: its compile lines are build/'s, so ccache hands
#                        it every object and the stage links) and its cross build (arm64), each run
#   image                the image from those two binaries, run under runc
#   deploy, rehearse     manifests and Dockerfile checks; rehearse's report in Chromium
#   e2e, flood, bench    timing-bound: run alone, nothing compiles beside them
# Ninja (the presets) and ccache (when installed: `ccache -s` shows what it saved) in every build.
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
quick=0
fail_fast=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    --fail-fast) fail_fast=1 ;;
    *) echo "test.sh: unknown argument ${arg} (usage: test.sh [--quick] [--fail-fast])" >&2
      exit 2 ;;
  esac
done

. scripts/lib/build-env.sh

logs=build-logs
rm -rf "$logs"
mkdir -p "$logs"
exec 3>&1  # the terminal: background stages print their result line here when they end
passed=0
failed=0
failures=()
rows=()           # stage names, in the order they started
declare -A bg_pid
declare -A in_bg  # the stages that ran in the background, marked & in the table
run_start=$EPOCHREALTIME

slug() { tr -c 'a-z0-9\n' '-' <<<"$1"; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }'; }
# cpu_of FILE: user+sys seconds from the output of `times` (the shell's and its children's).
cpu_of() {
  awk '{ for (i = 1; i <= NF; i++) { split($i, t, "m"); sub("s", "", t[2]); s += t[1] * 60 + t[2] } }
       END { printf "%.0f", s }' "$1"
}

# timed NAME CMD...: runs CMD in a subshell and writes NAME's row (status, wall s, CPU s) to
# $logs/NAME.row; the CPU is the whole process tree's (every child waited for is counted).
timed() {
  local name=$1 start=$EPOCHREALTIME
  shift
  local file
  file=$logs/$(slug "$name")
  ("$@"; rc=$?; times >"$file.times"; exit "$rc")
  local rc=$? status=ok
  ((rc == 0)) || status=FAILED
  echo "${status} $(elapsed "$start") $(cpu_of "$file.times")" >"$file.row"
  echo "=== ${name}: ${status} ($(elapsed "$start") s, $(cpu_of "$file.times") s CPU)" >&3
  return "$rc"
}

count() {  # count NAME: adds NAME's result to the totals
  local status
  read -r status _ <"$logs/$(slug "$1").row" 2>/dev/null || status=FAILED
  if [ "$status" = ok ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failures+=("$1")
    if ((fail_fast)); then
      summary
      exit 1
    fi
  fi
}

stage() {  # stage NAME COMMAND...: in the foreground
  local name=$1
  shift
  rows+=("$name")
  echo "=== ${name}"
  timed "$name" "$@"
  count "$name"
}

stage_bg() {  # stage_bg NAME COMMAND...: in the background, its output in $logs/NAME.log
  local name=$1
  shift
  rows+=("$name")
  echo "=== ${name}: running in the background (${logs}/$(slug "$name").log)"
  timed "$name" "$@" >"$logs/$(slug "$name").log" 2>&1 3>&3 &
  bg_pid[$name]=$!
  in_bg[$name]=1
}

join() {  # join NAME: waits for a background stage, then shows its output
  local name=$1
  wait "${bg_pid[$name]}"
  echo "=== ${name} (its output)"
  cat "$logs/$(slug "$name").log"
  count "$name"
}

summary() {
  local name status wall cpu
  for pid in "${bg_pid[@]}"; do kill "$pid" 2>/dev/null; done
  echo
  printf '%-22s %-7s %8s %8s\n' stage result "wall s" "CPU s"
  for name in "${rows[@]}"; do
    local shown=$name
    [ -z "${in_bg[$name]:-}" ] || shown="${name} &"
    if read -r status wall cpu <"$logs/$(slug "$name").row" 2>/dev/null; then
      printf '%-22s %-7s %8s %8s\n' "$shown" "$status" "$wall" "$cpu"
    else
      printf '%-22s %-7s\n' "$shown" "not run"
    fi
  done
  times >"$logs/total.times"
  printf '%-22s %-7s %8s %8s\n' total "" "$(elapsed "$run_start")" "$(cpu_of "$logs/total.times")"
  echo "(& ran in the background beside the next build: the wall times add up to more than the total)"
  if ((failed)); then
    echo "failed stages: ${failures[*]}"
  fi
  echo "stages: ${passed} passed, ${failed} failed"
}

# build PRESET DIR [TARGET...]: configures from CMakePresets.json (DIR is its binaryDir) and builds
# TARGETs (default: all). A build dir made by an older, Makefile-based tree is made afresh.
build() {
  local preset=$1 dir=$2
  shift 2
  local targets=()
  for target in "$@"; do targets+=(--target "$target"); done
  if grep -qs '^CMAKE_GENERATOR:INTERNAL=Unix Makefiles' "$dir/CMakeCache.txt"; then
    rm -rf "$dir/CMakeCache.txt" "$dir/CMakeFiles"
  fi
  cmake --preset "$preset" >"$logs/configure-$preset.log" 2>&1 ||
    { cat "$logs/configure-$preset.log"; return 1; }
  # Niced: a build compiles beside background test stages that wait on timers and must not be
  # starved. Ninja prints a line per step; only what went wrong is worth reading.
  nice -n 10 cmake --build "$dir" -j"$jobs" "${targets[@]}" 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\] '
  ((PIPESTATUS[0] == 0))
}

# ctest_in DIR [ctest args]: every test of DIR, two per core (LASTCALL_TEST_JOBS): most only wait
# on timers; tests/CMakeLists.txt marks the CPU-bound ones RUN_SERIAL. Four per core failed a
# 300 ms deadline slack once on a machine loaded to 6 per core; two per core did not.
ctest_in() {
  local dir=$1
  shift
  ctest --test-dir "$dir" --output-on-failure -j"${LASTCALL_TEST_JOBS:-$((jobs * 2))}" \
    --timeout 180 "$@"
}

ctest_asan() {
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest_in build-asan
}

ctest_tsan() {
  # The example app links Debian's uninstrumented cpp-httplib; races reported inside it are not
  # ours (lastcall itself does not link it).
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp" \
    ctest_in build-tsan
}

format_check() {  # every C++ file but the fixtures (written to break rules, maybe that one too)
  local files
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    files=$(git ls-files '*.cc' '*.h' ':!:tests/fixtures/*')
  else
    files=$(find src tests examples fuzz bench -path tests/fixtures -prune -o \( -name '*.cc' -o -name '*.h' \) -print)
  fi
  # shellcheck disable=SC2086 # one file per word
  clang-format --dry-run --Werror $files
}

extra() {  # extra NAME [ARGS]: scripts/test.d/NAME.sh
  local name=$1
  shift
  bash "scripts/test.d/${name}.sh" "$@"
}

# Every scripts/test.d/*.sh is a stage: a new one that no stage runs fails the run instead of
# never running (the kustomize stage once sat there unrun).
unrun_extras() {
  local script name missing=0 extras_run
  extras_run=" $(grep -oE '^stage(_bg)? "[^"]+" extra [a-z0-9_-]+' scripts/test.sh | awk '{print $NF}' |
    tr '\n' ' ')"
  for script in scripts/test.d/*.sh; do
    name=$(basename "$script" .sh)
    if [[ $extras_run != *" ${name} "* ]]; then
      echo "scripts/test.d/${name}.sh is no stage of scripts/test.sh: add it" >&2
      missing=1
    fi
  done
  ((missing == 0))
}

if ((quick)); then
  stage "build (plain)" build plain build lastcall drainable_app unit_tests integration_tests
  # The inner loop leaves the serial cases (label `serial`: CPU-bound or judging memory and
  # deadlines, run alone: floods, memory limits, 1000 clients, rehearse's load) to the full run.
  stage "tests (plain, no serial cases)" ctest_in build -LE serial
  summary
  ((failed == 0))
  exit
fi

# What the stages after the sanitizers need from build/: the binaries the e2e test, the bench,
# the flood, rehearse, deploy and the image run drive, and integration_tests_plain: the two test
# files only an uninstrumented build can judge (memory limits and RSS; the socket flood), not the
# whole suite a third time.
plain_targets=(lastcall drainable_app integration_tests_plain zero_drop_e2e lastcall_bench
  hostile_monitors_bench)
# The integration tests the sanitizers skip (memory limits: a sanitizer reserves terabytes of
# address space and keeps freed memory on purpose); every other test ran under both sanitizers.
plain_only() {
  build/tests/integration_tests_plain --source-file='*memory_test.cc'
}

stage "format" format_check
stage "build (asan+ubsan)" build dev build-asan
stage_bg "tests (asan+ubsan)" ctest_asan
stage "build (tsan)" build tsan build-tsan
join "tests (asan+ubsan)"
stage_bg "tests (tsan)" ctest_tsan
stage "build (plain)" build shipped-flags build "${plain_targets[@]}"
join "tests (tsan)"
stage_bg "fuzz" extra fuzz
stage "static" extra static
stage "arm64" extra arm64
join "fuzz"
stage "image" extra image
stage "tests (plain)" plain_only
stage "deploy" extra deploy
stage "kustomize" extra kustomize
stage "rehearse" extra rehearse
stage "e2e" extra e2e
stage "flood" extra flood
stage "bench" extra bench
stage "every test.d script ran" unrun_extras

summary
((failed == 0))
