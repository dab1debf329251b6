#!/usr/bin/env bash
# Checks a Dockerfile statically (no docker engine here): hadolint when it is installed (Debian 12
# does not package it), and always the scripted rules in check_dockerfile.js (multi-stage, final
# FROM scratch, numeric non-root USER, exec-form ENTRYPOINT, no ADD, pinned bases, apt hygiene,
# one binary per COPY: the sidecar build as the ENTRYPOINT and the full binary beside it as
# lastcall-full, OCI labels, the build stage runs scripts/build-static.sh).
# Usage: tests/deploy/check_dockerfile.sh [DOCKERFILE]     (default: the repository's Dockerfile)
# Exit: 0 clean, 1 problems found (one line each), 2 usage.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
dockerfile=${1:-$repo/Dockerfile}
[ -f "$dockerfile" ] || { echo "check_dockerfile: no such file: $dockerfile" >&2; exit 2; }

status=0
if command -v hadolint >/dev/null 2>&1; then
  # DL3008 (pin apt package versions): the build pins the release (debian:12) instead; Debian
  # stable only takes security fixes, and pinned versions vanish from its mirrors.
  hadolint --ignore DL3008 "$dockerfile" || status=1
fi
node "$here/check_dockerfile.js" --repo "$repo" "$dockerfile" || status=1
exit $status
