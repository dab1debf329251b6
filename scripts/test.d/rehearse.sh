#!/usr/bin/env bash
# `lastcall rehearse`'s HTML report in a real browser: rehearse the example app, render the report
# in headless Chromium (Debian's `chromium`, installed here when missing), and check that the page
# loads, its script ran without error, and the SVG timeline holds its phase markers.
# Usage: scripts/test.d/rehearse.sh [BUILD_DIR]   (default: build). Leaves the screenshot in
# BUILD_DIR/test-artifacts/rehearse-report.png for people to look at.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
lastcall="$PWD/$build/lastcall"
[ -x "$lastcall" ] || { echo "rehearse.sh: $lastcall is not built" >&2; exit 1; }

if ! command -v chromium >/dev/null; then
  echo "rehearse.sh: installing chromium (Debian package)"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium \
    >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
artifacts="$PWD/$build/test-artifacts"
mkdir -p "$artifacts"

(cd "$work" && timeout 60 "$lastcall" rehearse --report report.html --report report.json \
  >rehearse.out 2>&1) || { cat "$work/rehearse.out"; echo "rehearse.sh: rehearse failed"; exit 1; }

browse() {  # browse OUTPUT_FLAG... : headless Chromium on the report, its log in chromium.log
  timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --enable-logging=stderr --v=0 --user-data-dir="$(mktemp -d -p "$work")" \
    --window-size=1200,800 "$@" "file://$work/report.html" 2>>"$work/chromium.log"
}
browse --dump-dom >"$work/dom.html"
browse --screenshot="$work/report.png" >/dev/null
cp "$work/report.png" "$artifacts/rehearse-report.png"

failures=0
check() {  # check COMMAND...: one line per check, counted when it fails
  if "$@"; then
    echo "  ok: $*"
  else
    echo "  FAILED: $*"
    failures=$((failures + 1))
  fi
}
has() { grep -qF -- "$1" "$work/dom.html"; }
check has 'data-rendered="ok"'  # the page's script ran to its end
check has 'data-verdict="passed"'
check has '<svg id="timeline-chart"'
for phase in deletion unready endpoint-removed draining drained app-exited grace-deadline; do
  check has "data-phase=\"$phase\""
done
for series in ok other_replica failed in_flight; do
  check has "data-series=\"$series\""
done
check test "$(head -c 8 "$work/report.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a
check test "$(stat -c %s "$work/report.png")" -gt 20000
if grep -E 'Uncaught|SyntaxError|TypeError|ReferenceError' "$work/chromium.log"; then
  echo "  FAILED: the page logged a script error"
  failures=$((failures + 1))
fi
echo "rehearse.sh: screenshot in $artifacts/rehearse-report.png"
exit $((failures > 0))
