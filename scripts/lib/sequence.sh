# Sourced by the test stages that run a built lastcall somewhere unusual (an empty chroot, a
# container under runc, an arm64 binary under qemu) through the whole shutdown sequence against
# the example app, which runs natively on loopback:
#   start_example_app                  app_pid, app_port; the app's log is $work/app.log
#   (the stage starts `lastcall run --listen 127.0.0.1:0 --lb-delay 300ms
#    --drain-url http://127.0.0.1:$app_port/drain --poll-interval 20ms`, its log in
#    $work/lastcall.log)
#   wait_probe_port                    probe_port, once lastcall listens
#   prestop_sequence PRESTOP_CMD...    /readyz 200, a 1.5 s request in flight, the preStop hook
#                                      (PRESTOP_CMD) returns only once it is done, /readyz 503;
#                                      sets prestop_ms
#   (the stage sends SIGTERM its way and collects the exit code)
#   check_drained CODE                 exit 0, the phases logged, the app drained; stops the app
# REQUIRES: $work (a scratch directory) and a fail() that prints the logs and exits.

# http_get PORT PATH -> the whole answer to GET PATH (bash's /dev/tcp: no curl needed).
http_get() {
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 0
  printf 'GET %s HTTP/1.0\r\nHost: x\r\n\r\n' "$2" >&3
  timeout 10 cat <&3 || true
  exec 3<&-
}
# http_status PORT PATH -> the status code of GET PATH, or nothing when it failed.
http_status() {
  http_get "$1" "$2" | head -1 | cut -d' ' -f2
}

# wait_for FILE REGEX [SECONDS]: until FILE has a line matching REGEX (default 10 s at most).
wait_for() {
  local deadline=$((SECONDS + ${3:-10}))
  while ((SECONDS < deadline)); do
    grep -Eq "$2" "$1" 2>/dev/null && return 0
    sleep 0.01
  done
  return 1
}

start_example_app() {
  local app=build/examples/drainable_app
  if [ ! -x "$app" ]; then
    [ -f build/CMakeCache.txt ] || cmake -S . -B build >/dev/null
    cmake --build build --target drainable_app -j"$(nproc)" >/dev/null
  fi
  "$app" --listen 127.0.0.1:0 --name app >"$work/app.log" 2>&1 &
  app_pid=$!
  wait_for "$work/app.log" 'listening on' || fail "the example app did not start"
  app_port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/app.log")
}

wait_probe_port() {
  wait_for "$work/lastcall.log" 'probe_port=[0-9]+' 30 || fail "lastcall did not start"
  probe_port=$(sed -n 's/.*probe_port=\([0-9]*\).*/\1/p' "$work/lastcall.log" | head -1)
}

prestop_sequence() {
  [ "$(http_status "$probe_port" /readyz)" = 200 ] || fail "/readyz is not 200 before the sequence"
  # A slow request in flight, then the kubelet's part: the app's preStop hook.
  http_status "$app_port" "/work?ms=1500" >"$work/work.status" &
  local work_pid=$!
  for _ in $(seq 200); do
    [[ "$(http_get "$app_port" /drain/status)" == *'"inflight":1'* ]] && break
    sleep 0.01
  done
  local start
  start=$(date +%s%N)
  "$@" >"$work/prestop.log" 2>&1 || fail "the preStop hook ($*) exited $?"
  prestop_ms=$((($(date +%s%N) - start) / 1000000))
  [ "$(http_status "$probe_port" /readyz)" = 503 ] || fail "/readyz is not 503 after the sequence"
  wait "$work_pid"
  [ "$(cat "$work/work.status")" = 200 ] || fail "the in-flight request got $(cat "$work/work.status")"
  # The hook returns once the slow request is done: after lb_delay and about 1.5 s of work.
  ((prestop_ms >= 1000)) || fail "prestop returned after ${prestop_ms} ms, before the app drained"
}

check_drained() {
  [ "$1" -eq 0 ] || fail "lastcall exited $1 after SIGTERM"
  grep -q 'phase drained' "$work/lastcall.log" || fail "no 'phase drained' in lastcall's log"
  grep -q 'draining' "$work/app.log" || fail "the app never got the drain trigger"
  kill -TERM "$app_pid"
  wait "$app_pid" || fail "the example app exited $? after SIGTERM"
}
