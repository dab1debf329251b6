#!/usr/bin/env bash
# Runs every test lastcall has: unit + integration tests (plain, ASan+UBSan, TSan), the format
# check, and the suites later sections add (fuzz smoke, e2e zero-drop, deploy checks).
# Usage: ./scripts/test.sh [--quick]     --quick: the plain build's ctest only.
# REQUIRES: ./scripts/bootstrap.sh ran (dependencies installed).
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
quick=0
[ "${1:-}" = "--quick" ] && quick=1

passed=0
failed=0
failures=()
stage() {  # stage NAME COMMAND...
  local name=$1
  shift
  echo "=== ${name}"
  local start=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    echo "=== ${name}: ok ($((SECONDS - start))s)"
  else
    failed=$((failed + 1))
    failures+=("${name}")
    echo "=== ${name}: FAILED ($((SECONDS - start))s)"
  fi
}

build() {  # build PRESET DIR (CMakePresets.json; DIR is the preset's binaryDir)
  local preset=$1 dir=$2
  cmake --preset "$preset" >/dev/null &&
    cmake --build "$dir" -j"$jobs" 2>&1 | grep -Ev '^\[ *[0-9]+%\]|^-- ' || true
  [ -x "$dir/lastcall" ] && [ -x "$dir/tests/unit_tests" ] && [ -x "$dir/tests/integration_tests" ]
}

run_ctest() {  # run_ctest DIR
  ctest --test-dir "$1" --output-on-failure -j"$jobs" --timeout 180
}

ctest_asan() {
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_ctest build-asan
}

ctest_tsan() {
  # The example app links Debian's uninstrumented cpp-httplib; races reported inside it are not
  # ours (lastcall itself does not link it).
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp" \
    run_ctest build-tsan
}

format_check() {
  clang-format --dry-run --Werror src/*.cc src/*.h src/*/*.cc src/*/*.h tests/*.cc tests/support/*.h tests/support/*.cc examples/*.cc \
    $(ls fuzz/*.cc bench/*.cc tests/e2e/*.cc tests/e2e/*.h 2>/dev/null)
}

stage "build (plain)" build plain build
stage "tests (plain)" run_ctest build
if [ "$quick" -eq 0 ]; then
  stage "format" format_check
  stage "build (asan+ubsan)" build dev build-asan
  stage "tests (asan+ubsan)" ctest_asan
  # tsan builds at -O1: TSan wants some optimisation to run at a sane speed, -O2 only costs
  # compile time. The sanitizer presets skip the benchmark driver (the bench stage uses build/).
  stage "build (tsan)" build tsan build-tsan
  stage "tests (tsan)" ctest_tsan
  for extra in scripts/test.d/*.sh; do
    [ -e "$extra" ] || continue
    stage "$(basename "$extra" .sh)" bash "$extra"
  done
fi

echo
if ((failed)); then
  echo "failed stages: ${failures[*]}"
fi
echo "stages: ${passed} passed, ${failed} failed"
((failed == 0))
