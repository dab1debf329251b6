#!/usr/bin/env bash
# Idle resident memory of `lastcall run`, measured as bench/lastcall_bench.cc's `memory` benchmark
# does (start `run --listen 127.0.0.1:PORT --control unix://...`, wait for 200 on /livez, read
# /proc/PID/status 1 s later), without building the benchmark: for comparing builds quickly.
# Prints, per run: VmRSS, RssAnon, the file-backed part, and how much of the text segment is
# mapped (KiB mapped / KiB in the segment, from /proc/PID/smaps).
# The page cache decides how much of the file is mapped: a file written in large writes (the
# linker's, strip's) sits in large folios, which a fault maps whole, so its whole text segment is
# resident; the same file copied with cp or read back from disk sits in small folios, and only
# what start-up touches (plus the kernel's 64 KiB fault-around) is. Both are printed: "as
# written", then "re-read" (the file's cached pages dropped with POSIX_FADV_DONTNEED first).
# Usage: scripts/idle-rss.sh [--runs N] [--tmpfs] BINARY...
#   --tmpfs  also run a copy from /dev/shm: tmpfs caches files in 4 KiB pages (unless its huge
#            pages are on), so the text mapped there is what start-up touches plus the kernel's
#            fault-around (64 KiB), not whole large folios as on ext4 or XFS (docs/architecture.md,
#            "What the binary carries")
set -euo pipefail
runs=3
tmpfs=0
binaries=()
while (($#)); do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --tmpfs) tmpfs=1; shift ;;
    -*) echo "idle-rss: unknown option $1" >&2; exit 2 ;;
    *) binaries+=("$1"); shift ;;
  esac
done
((${#binaries[@]})) || { echo "usage: idle-rss.sh [--runs N] [--tmpfs] BINARY..." >&2; exit 2; }

work=$(mktemp -d /tmp/lastcall-idle-rss-XXXXXX)
pid=""
cleanup() {
  [ -z "$pid" ] || kill -9 "$pid" 2>/dev/null || true
  rm -rf "$work"
  [ -z "${shm:-}" ] || rm -rf "$shm"
}
trap cleanup EXIT

drop_cache() {  # the file's pages leave the page cache (unless a running process maps them)
  python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.fsync(fd)  # dirty pages stay cached
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
os.close(fd)' "$1"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

livez() {  # HTTP status of GET /livez on 127.0.0.1:$1, or nothing
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 0
  printf 'GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3
  head -1 <&3 | cut -d' ' -f2
  exec 3<&-
}

measure() {  # binary label
  local port status text
  for ((i = 1; i <= runs; i++)); do
    port=$(free_port)
    "$1" run --listen "127.0.0.1:$port" --control "unix://$work/control.sock" \
      >"$work/lastcall.log" 2>&1 &
    pid=$!
    for ((try = 0; try < 500; try++)); do
      status=$(livez "$port")
      [ "$status" = 200 ] && break
      sleep 0.01
    done
    [ "$status" = 200 ] || { echo "idle-rss: $1 did not start:" >&2; cat "$work/lastcall.log" >&2
      exit 1; }
    sleep 1
    text=$(awk '$2 ~ /^r-x/ {x = 1; next} x && /^Size:/ {s = $2} x && /^Rss:/ {print $2 "/" s;
      exit}' "/proc/$pid/smaps")
    awk -v bin="$1 ($2)" -v text="$text" '/^VmRSS/ {r = $2} /^RssAnon/ {a = $2}
      END {printf "%s: VmRSS %d KiB (%.2f MiB), anonymous %d KiB, file-backed %d KiB;" \
        " text mapped %s KiB\n", bin, r, r / 1024, a, r - a, text}' "/proc/$pid/status"
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    pid=""
    rm -f "$work/control.sock"
  done
}

for binary in "${binaries[@]}"; do
  measure "$binary" "as written"
  drop_cache "$binary"
  measure "$binary" "re-read"
  if ((tmpfs)); then
    shm=$(mktemp -d /dev/shm/lastcall-idle-rss-XXXXXX)
    cp "$binary" "$shm/lastcall"
    echo "(a copy on tmpfs, 4 KiB pages:)"
    measure "$shm/lastcall" "tmpfs"
    rm -rf "$shm"
    shm=""
  fi
done
