#!/usr/bin/env bash
# The container image, built and run as a pod runs it (no container engine: umoci, runc, skopeo).
# Builds the image with scripts/build-image.sh (linux/amd64 and linux/arm64, the image index over
# them), checks it against the Dockerfile (tests/deploy/image_matches_dockerfile.js), then runs
# the amd64 image with runc from the runtime spec umoci derives from the image's config, made
# as strict as the manifests' securityContext: read-only root filesystem, uid 65532, no
# capabilities, no new privileges. First the laptop tool: `inject -` with a manifest on stdin
# (`docker run -i IMAGE inject -`), which the entrypoint, the sidecar build, hands to the image's
# /lastcall-full. Then like the pod in deploy/kubernetes:
#   1. the init step: `lastcall install --to DIR` into a mounted volume (an emptyDir), which gets
#      the sidecar build and nothing else;
#   2. the sidecar: `lastcall run`, its control socket in a second volume that the example app
#      (build/examples/drainable_app, outside the container, in the host's network namespace
#      that the container shares, as a pod's containers share one) also sees;
#   3. the app's preStop hook: the installed copy, run outside as the app's user (uid 10001,
#      supplementary group 65532 as the manifests set), `prestop` over that socket;
# /readyz 200, then 503 once the sequence started, the app's in-flight request completes, SIGTERM
# to the container -> exit 0. Prints the image's digests and sizes (each binary <= 4 MB, the
# pull <= 4 MB).
# Usage: scripts/test.d/image.sh        REQUIRES: root (runc), umoci, runc, skopeo, jq, node.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib/sequence.sh

fail() {
  echo "image: FAILED: $*" >&2
  for log in "$work"/*.log; do
    [ -e "$log" ] && { echo "--- $log" >&2; cat "$log" >&2; }
  done
  exit 1
}
work=$(mktemp -d /tmp/lastcall-image-run-XXXXXX)
id=lastcall-ci-$$
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for c in "$id-version" "$id-inject" "$id-install" "$id"; do
    runc delete --force "$c" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
[ "$(id -u)" -eq 0 ] || { echo "image: needs root (runc, umoci unpack)" >&2; exit 1; }
tools=(umoci runc skopeo jq)
missing=()
for tool in "${tools[@]}"; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
  echo "image: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# -Werror as the static and arm64 stages built them: the same compile lines, so build-image.sh's
# builds find both binaries up to date instead of compiling both again.
LASTCALL_WARNINGS_AS_ERRORS=ON ./scripts/build-image.sh >"$work/build-image.log" 2>&1 ||
  fail "scripts/build-image.sh exited $?"
grep -E '^build-(image|static):' "$work/build-image.log"
version=$(sed -n 's/^project(lastcall VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
revision=$(skopeo inspect "oci:build-image/oci:$version-amd64" |
  jq -r '.Labels["org.opencontainers.image.revision"]')

# --- the image is the Dockerfile's ----------------------------------------------------------
# /lastcall is the sidecar build, /lastcall-full the full binary.
builds() {  # builds ARCH SIDECAR FULL -> the --file flags: /lastcall holds SIDECAR, ...
  local dir=build-static
  [ "$1" = amd64 ] || dir=build-static-$1
  echo "--file /lastcall=$dir/$2 --file /lastcall-full=$dir/$3"
}
for arch in amd64 arm64; do
  # shellcheck disable=SC2046  # builds prints flags without spaces in them
  node tests/deploy/image_matches_dockerfile.js --dockerfile Dockerfile --layout build-image/oci \
    --tag "$version-$arch" --arg "REVISION=$revision" \
    $(builds "$arch" lastcall-sidecar.stripped lastcall.stripped) ||
    fail "the ${arch} image differs from the Dockerfile's final stage"
done
# ... and the comparison can fail: the binaries swapped must not match,
# shellcheck disable=SC2046
if node tests/deploy/image_matches_dockerfile.js --dockerfile Dockerfile --layout build-image/oci \
  --tag "$version-amd64" --arg "REVISION=$revision" \
  $(builds amd64 lastcall.stripped lastcall-sidecar.stripped) >/dev/null; then
  fail "image_matches_dockerfile.js missed /lastcall and /lastcall-full swapped"
fi
# ... nor the Dockerfile changed in one place.
for change in 's|^USER .*|USER 65533:65533|' 's|^CMD .*|CMD ["check"]|' \
  's|org.opencontainers.image.title="lastcall"|org.opencontainers.image.title="lastcal"|' \
  's|^COPY --from=build /lastcall /lastcall|COPY --from=build /lastcall /bin/lastcall|' \
  '/^COPY --from=build \/lastcall-full /d'; do
  sed "$change" Dockerfile >"$work/Dockerfile.changed"
  ! cmp -s Dockerfile "$work/Dockerfile.changed" || fail "sed '$change' changed nothing"
  if node tests/deploy/image_matches_dockerfile.js --dockerfile "$work/Dockerfile.changed" \
    --layout build-image/oci --tag "$version-amd64" --arg "REVISION=$revision" >/dev/null; then
    fail "image_matches_dockerfile.js missed a change of the Dockerfile: sed '$change'"
  fi
done
platforms=$(skopeo inspect --raw "oci:build-image/oci:$version" |
  jq -r '[.manifests[].platform | .os + "/" + .architecture] | sort | join(" ")')
[ "$platforms" = "linux/amd64 linux/arm64" ] || fail "the image index lists '${platforms}'"
for arch in amd64 arm64; do
  tar=build-image/lastcall-$version-$arch.docker.tar
  held=$(skopeo inspect "docker-archive:$tar" | jq -r .Architecture)
  [ "$held" = "$arch" ] || fail "$tar holds a linux/${held} image"
done
archived=$(skopeo inspect --raw "oci-archive:build-image/lastcall-$version.oci.tar:$version" |
  jq -r '[.manifests[].platform | .os + "/" + .architecture] | sort | join(" ")')
[ "$archived" = "$platforms" ] || fail "the OCI archive's index lists '${archived}'"
echo "image: both images match the Dockerfile; the index lists ${platforms}; the archives load"

# --- run it as a pod would --------------------------------------------------------------------


# The two volumes: emptyDirs are mode 0777. The app's user must reach them through $work too.
mkdir -p "$work/lastcall-bin" "$work/lastcall-run"
chmod 0777 "$work/lastcall-bin" "$work/lastcall-run"
chmod 0711 "$work"

# bundle NAME MOUNT_JSON ARG...: a runc bundle of the amd64 image whose process runs the image's
# entrypoint with ARGs (a pod's `args:` replace the image's CMD), made as strict as the pod spec.
bundle() {
  local dir=$work/$1 mounts=$2
  shift 2
  umoci unpack --image "build-image/oci:$version-amd64" "$dir" >/dev/null
  local args
  args=$(printf '%s\n' "$@" | jq -R . | jq -cs .)
  jq --argjson mounts "$mounts" --argjson args "$args" '
      .process.args = [.process.args[0]] + $args
    | .process.terminal = false
    | .process.noNewPrivileges = true
    | .process.capabilities =
        {bounding: [], effective: [], inheritable: [], permitted: [], ambient: []}
    | .root.readonly = true
    | .linux.namespaces |= map(select(.type != "network"))
    | .mounts += $mounts' <"$dir/config.json" >"$dir/config.json.new"
  mv "$dir/config.json.new" "$dir/config.json"
}
volume() {  # volume HOST_DIR CONTAINER_PATH -> a mount entry
  jq -cn --arg src "$1" --arg dst "$2" \
    '{destination: $dst, type: "bind", source: $src, options: ["rbind", "rw"]}'
}

# What the image reports is what its labels say.
bundle version "[]" version
runc run --bundle "$work/version" "$id-version" >"$work/version.log" 2>&1 ||
  fail "lastcall version exited $?"
[ "$(cat "$work/version.log")" = "lastcall ${version} (commit ${revision})" ] ||
  fail "the image's binary says '$(cat "$work/version.log")', its labels ${version} and ${revision}"

# The laptop tool through the image, as `docker run -i IMAGE inject - < app.yaml` runs it: the
# entrypoint (the sidecar build) hands the command line to /lastcall-full, stdin and all.
bundle inject "[]" inject -
runc run --bundle "$work/inject" "$id-inject" <tests/fixtures/inject/deployment.yaml \
  >"$work/inject.out" 2>"$work/inject.log" || fail "inject - in the image exited $?"
cmp -s "$work/inject.out" tests/fixtures/inject/deployment.injected.yaml ||
  fail "inject - in the image wrote something else than deployment.injected.yaml:" \
    "$(diff tests/fixtures/inject/deployment.injected.yaml "$work/inject.out" | head -20)"
echo "image: inject - under runc: the entrypoint handed it to /lastcall-full, which wrote" \
  "deployment.injected.yaml ($(wc -l <"$work/inject.out") lines) from stdin"

# The spec the image gave (umoci reads its config) runs /lastcall as 65532:65532.
# The init step as `lastcall inject` writes it (its reviewed output: where it mounts the volume,
# where to; the kustomize component and overlays render through inject).
component=tests/fixtures/inject/deployment.injected.yaml
install_dir=$(grep -A1 -- '^ *- --to$' "$component" | sed -n 's|^ *- \(/[^ ]*\)$|\1|p' | head -n1)
[ -n "$install_dir" ] || fail "no install step in ${component}"
grep -q "mountPath: ${install_dir}\$" "$component" ||
  fail "inject's install step does not mount its volume at ${install_dir}"
bundle install "[$(volume "$work/lastcall-bin" "$install_dir")]" install --to "$install_dir"
spec_user=$(jq -c '[.process.user.uid, .process.user.gid, .process.args[0]]' \
  "$work/install/config.json")
[ "$spec_user" = '[65532,65532,"/lastcall"]' ] ||
  fail "the image runs ${spec_user}, not 65532:65532 /lastcall"
runc run --bundle "$work/install" "$id-install" >"$work/install.log" 2>&1 ||
  fail "the init step (lastcall install --to ${install_dir}, a volume mounted there) exited $?"
installed=$work/lastcall-bin/lastcall
cmp "$installed" build-static/lastcall-sidecar.stripped || fail "install copied something else"
# Only the sidecar build: the full binary stays in the image, out of the app's container.
in_volume=$(cd "$work/lastcall-bin" && find . -mindepth 1 | sort | tr '\n' ' ')
[ "$in_volume" = "./lastcall " ] || fail "install left ${in_volume}in the volume, not ./lastcall alone"
owner_mode=$(stat -c '%a %u' "$installed")
[ "$owner_mode" = "755 65532" ] || fail "the installed copy has mode and owner ${owner_mode}"
echo "image: init step: install --to ${install_dir}, a volume, as 65532 on a read-only root:" \
  "$(stat -c %s "$installed") bytes, mode 755"

start_example_app
pids+=("$app_pid")
bundle sidecar "[$(volume "$work/lastcall-run" /var/run/lastcall)]" run --listen 127.0.0.1:0 \
  --lb-delay 300ms --drain-url "http://127.0.0.1:${app_port}/drain" --poll-interval 20ms
runc run --bundle "$work/sidecar" "$id" >"$work/lastcall.log" 2>&1 &
runc_pid=$!
pids+=("$runc_pid")
wait_probe_port
[ -S "$work/lastcall-run/control.sock" ] || fail "no control socket in the shared volume"
[ "$(runc state "$id" | jq -r .status)" = running ] || fail "the container is not running"
proc_status=$(cat "/proc/$(runc state "$id" | jq -r .pid)/status")
grep -Eq '^Uid:\s+65532\s' <<<"$proc_status" || fail "lastcall does not run as uid 65532"
grep -Eq '^CapEff:\s+0+$' <<<"$proc_status" || fail "lastcall has capabilities"
grep -Eq '^NoNewPrivs:\s+1$' <<<"$proc_status" || fail "lastcall may gain privileges"

# The app's preStop hook: the installed copy, as the app's user in lastcall's group.
prestop_sequence setpriv --reuid 10001 --regid 10001 --groups 65532 -- "$installed" prestop \
  --control "unix://$work/lastcall-run/control.sock" --quiet

# The kubelet's SIGTERM goes to the container's PID 1: lastcall itself.
runc kill "$id" TERM
code=0
wait "$runc_pid" || code=$?
check_drained "$code"
echo "image: under runc (read-only root, uid 65532, no capabilities, no new privileges, host" \
  "network): /readyz 200; prestop as the app's user returned after ${prestop_ms} ms with the app" \
  "drained; /readyz 503; SIGTERM -> exit 0"
