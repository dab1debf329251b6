#!/usr/bin/env bash
# Deploy checks (scripts/test.sh runs this as a stage): the Dockerfile's static check against the
# real Dockerfile and deliberately broken ones, the manifest validator's own tests (each broken
# wiring must be caught), and the offline validation of the kustomize overlays and of
# `lastcall inject`'s output (with build/lastcall when it has `inject` and `check`), and the
# alerts (promtool check/test rules, the PrometheusRule generated from the rules file).
# Needs node, npm and promtool; the first run installs tests/deploy/node_modules from package-lock.json.
set -uo pipefail
cd "$(dirname "$0")/../.."

if [ ! -d tests/deploy/node_modules ]; then
  (cd tests/deploy && npm ci --prefer-offline --no-audit --no-fund --loglevel=error) || {
    echo "deploy: npm ci failed (no network and no npm cache?)" >&2
    exit 1
  }
fi

status=0
step() {  # step NAME COMMAND...
  echo "--- deploy: $1"
  shift
  "$@" || status=1
}
step "Dockerfile check" tests/deploy/test_check_dockerfile.sh
step "validator tests" node --test tests/deploy/validate.test.js
step "manifests" tests/deploy/validate.sh
step "alerts" tests/deploy/alerts.sh
exit $status
