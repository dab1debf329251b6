#!/usr/bin/env bash
# The long form of the in_flight proof (src/monitors/in_flight_proof_test.cc): the real sock_diag observer
# and InFlightHistory against 32 loopback keep-alive connections sending each next request with
# zero think time, short, long and longer-than-the-ACK-bound requests mixed, for SECONDS (default
# 120) instead of CI's 6. Prints the counts: "idle while owed" must be 0 for InFlightHistory; the
# old rule's figure is what lastcall before issue 23 would have got wrong in the same looks.
# Usage: bench/in_flight_proof.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
build=${1:-build}
seconds=${2:-120}
LASTCALL_PROOF_SECONDS=$seconds "$build/tests/unit_tests" -tc='in_flight proof*' -s 2>&1 |
  grep -E 'MESSAGE|test cases|assertions'
