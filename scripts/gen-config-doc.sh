#!/usr/bin/env bash
# Rewrites the generated configuration reference in docs/configuration.md from the key table
# (src/config/config_keys.cc): builds tools/config_doc.cc (the lastcall_config_doc target) and runs it.
# The prose around the generated part is kept. The unit test "docs/configuration.md holds the
# reference the key table renders" fails until this has run after a key changed.
# Usage: scripts/gen-config-doc.sh [--check]      --check: exit 1 when the file is stale
# Env:   LASTCALL_BUILD_DIR (default build)   a configured build directory to build the tool in
set -euo pipefail
cd "$(dirname "$0")/.."

mode=--write
case "${1:-}" in
  "") ;;
  --check) mode=--check ;;
  *) echo "gen-config-doc: unknown argument $1 (usage: gen-config-doc.sh [--check])" >&2; exit 2 ;;
esac

build=${LASTCALL_BUILD_DIR:-build}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake --preset plain -B "$build" >/dev/null
fi
cmake --build "$build" --target lastcall_config_doc >/dev/null
"$build/tools/lastcall_config_doc" "$mode" docs/configuration.md
