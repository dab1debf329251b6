#!/bin/sh
# Fails when a test case's name holds a ';': doctest_discover_tests (tests/CMakeLists.txt) reads
# the names as a CMake list, so such a case would become two ctest cases that match nothing and
# pass without running. Usage: check_test_names.sh TEST_BINARY
names=$("$1" --list-test-cases) || exit 1
bad=$(printf '%s\n' "$names" | grep ';')
if [ -n "$bad" ]; then
  printf '%s\n' "test case names with ';' (ctest would never run them; use ',' instead):" "$bad" >&2
  exit 1
fi
