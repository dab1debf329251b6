#!/usr/bin/env bash
# Socket floods (issue 23, cases 6 and 7): 200k sockets in a private network namespace, on the
# app's port and on others; the connections monitor (count: connections and in_flight) and
# lb_delay auto must end within 50 ms of their deadline with a peak RSS of 16 MiB at most.
# The test (tests/socket_flood_test.cc) builds the flood itself; it needs root for `unshare -n`
# and the namespace's sysctls, which is why it is a stage of its own and not a ctest case (under
# ctest it only says it was skipped). About 30 s.
# Usage: scripts/test.d/flood.sh [BUILD_DIR]   (default: build)
#        LASTCALL_FLOOD_BINARY=/path/to/lastcall scripts/test.d/flood.sh   measures another build
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
# scripts/test.sh builds integration_tests_plain (the flood's and the memory tests only); a
# developer's build/ has integration_tests: whichever of the two was built last.
tests="$PWD/$build/tests/integration_tests_plain"
whole="$PWD/$build/tests/integration_tests"
if [ ! -x "$tests" ] || { [ -x "$whole" ] && [ "$whole" -nt "$tests" ]; }; then
  tests=$whole
fi
[ -x "$tests" ] || { echo "flood.sh: neither ${tests}(_plain) is built" >&2; exit 1; }
if [ "$(id -u)" -ne 0 ]; then
  echo "flood.sh: skipped: needs root (unshare -n and the namespace's sysctls)"
  exit 0
fi
LASTCALL_FLOOD_NETNS=1 timeout 120 unshare -n -- "$tests" -tc='socket flood*'
