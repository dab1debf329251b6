#!/usr/bin/env bash
# The Dockerfile check must pass the repository's Dockerfile and fail each deliberately broken one
# under fixtures/dockerfile/, whose first line names the problem it must report ("# expect: ...";
# empty for a fixture that must pass).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
passed=0
failed=0
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

if output=$("$here/check_dockerfile.sh" 2>&1); then
  passed=$((passed + 1))
else
  fail "the repository's Dockerfile: $output"
fi

for fixture in "$here"/fixtures/dockerfile/*.Dockerfile; do
  name=$(basename "$fixture")
  expect=$(head -1 "$fixture" | sed -n 's/^# expect: *//p')
  output=$("$here/check_dockerfile.sh" "$fixture" 2>&1)
  status=$?
  if [ -z "$expect" ]; then
    if [ $status -eq 0 ]; then passed=$((passed + 1)); else fail "$name should pass: $output"; fi
  elif [ $status -ne 1 ]; then
    fail "$name: exit $status, expected 1 (problem: $expect)"
  elif ! grep -qF -- "$expect" <<<"$output"; then
    fail "$name: output lacks \"$expect\": $output"
  else
    passed=$((passed + 1))
  fi
done
echo "dockerfile checks: $passed passed, $failed failed"
[ $failed -eq 0 ]
