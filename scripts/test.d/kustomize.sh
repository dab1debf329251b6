#!/usr/bin/env bash
# The kustomize path (scripts/test.sh runs this as a stage): the real `kubectl kustomize` renders
# a user's own kustomization with the component deploy/kubernetes/components/lastcall (the
# LastcallInject transformer plugin running build/lastcall inject) and the overlays, and
# tests/deploy/kustomize.test.js checks that every workload got lastcall and kept its hook and
# groups, that the build refuses to run without plugins, and the ResourceList protocol.
# Needs node, npm (tests/deploy/node_modules) and kubectl >= 1.24; LASTCALL_BIN (default
# build/lastcall).
set -uo pipefail
cd "$(dirname "$0")/../.."
lastcall=${LASTCALL_BIN:-build/lastcall}
if [ ! -x "$lastcall" ]; then
  echo "kustomize: $lastcall is not built" >&2
  exit 1
fi
if ! command -v kubectl >/dev/null 2>&1; then
  echo "kustomize: kubectl not found (scripts/bootstrap.sh installs it)" >&2
  exit 1
fi
if [ ! -d tests/deploy/node_modules ]; then
  (cd tests/deploy && npm ci --prefer-offline --no-audit --no-fund --loglevel=error) || {
    echo "kustomize: npm ci failed (no network and no npm cache?)" >&2
    exit 1
  }
fi
echo "kustomize: $(kubectl version --client 2>/dev/null | tr '\n' ' ')"
LASTCALL_BIN=$lastcall node --test tests/deploy/kustomize.test.js
