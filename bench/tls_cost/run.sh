#!/usr/bin/env bash
# Measures what a static TLS client costs with each candidate library that Debian 12 packages
# (docs/architecture.md, "What the binary carries", "Room for what comes"):
#   - the client alone (probe.c), linked -static -Os with section GC, stripped: bytes, and its
#     VmRSS / RssAnon 1 s after it opened one verified TLS connection to `openssl s_server`;
#   - probe.c linked into the sidecar build (kept with -u, never called): bytes and idle RSS
#     (scripts/idle-rss.sh), needs build-static/ (scripts/build-static.sh).
# Usage: bench/tls_cost/run.sh      REQUIRES: libssl-dev libmbedtls-dev libwolfssl-dev libbearssl-dev, openssl
set -euo pipefail
cd "$(dirname "$0")/../.."
here=bench/tls_cost
work=$(mktemp -d /tmp/lastcall-tls-cost-XXXXXX)
server=""
cleanup() {
  [ -z "$server" ] || kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

declare -A libs=([none]="" [openssl]="-lssl -lcrypto" [mbedtls]="-lmbedtls -lmbedx509 -lmbedcrypto"
  [wolfssl]="-lwolfssl -lm" [bearssl]="-lbearssl")
declare -A defs=([none]="" [openssl]=-DUSE_OPENSSL [mbedtls]=-DUSE_MBEDTLS [wolfssl]=-DUSE_WOLFSSL
  [bearssl]=-DUSE_BEARSSL)
flags=(-Os -ffunction-sections -fdata-sections)

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -keyout "$work/key.pem" -out "$work/cert.pem" -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost 2>/dev/null
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
openssl s_server -accept "127.0.0.1:$port" -cert "$work/cert.pem" -key "$work/key.pem" -www \
  -quiet >/dev/null 2>&1 &
server=$!
sleep 0.5

# The sidecar build's link line, from its build directory.
link=$(cd build-static && ninja -t commands lastcall_sidecar_build | tail -1 |
  sed -e 's/^: && //' -e 's/ && :$//' -e 's/ -Wl,-Map=[^ ]*//' -e 's/ -o lastcall-sidecar / /')

for lib in ${TLS_LIBS:-none openssl mbedtls wolfssl bearssl}; do
  # shellcheck disable=SC2086
  gcc "${flags[@]}" ${defs[$lib]} -static -Wl,--gc-sections "$here/probe.c" -o "$work/$lib" \
    ${libs[$lib]} 2>/dev/null
  strip "$work/$lib"
  "$work/$lib" "$work/cert.pem" "$port" >"$work/$lib.out" 2>&1 &
  pid=$!
  sleep 1
  rss=$(awk '/^VmRSS/ {r = $2} /^RssAnon/ {a = $2} END {print r " KiB (anonymous " a ")"}' \
    "/proc/$pid/status")
  kill "$pid"
  echo "${lib}: alone $(stat -c %s "$work/$lib") bytes, idle with one connection ${rss};" \
    "answer: $(head -1 "$work/$lib.out" | tr -d '\r')"
  [ "$lib" = none ] && continue
  gcc "${flags[@]}" ${defs[$lib]} -Dmain=tls_probe_main -c "$here/probe.c" -o "$work/$lib.o"
  # shellcheck disable=SC2086
  (cd build-static && $link -Wl,-u,tls_probe_main "$work/$lib.o" ${libs[$lib]} \
    -o "$work/sidecar-$lib") 2>/dev/null
  strip "$work/sidecar-$lib"
  echo "  in the sidecar build: $(stat -c %s "$work/sidecar-$lib") bytes (without:" \
    "$(stat -c %s build-static/lastcall-sidecar.stripped));" \
    "$(scripts/idle-rss.sh --runs 1 "$work/sidecar-$lib" | sed 's/^[^(]*//' | tr '\n' ' ')"
done
