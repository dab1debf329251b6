#!/usr/bin/env bash
# Builds lastcall's container image with no container engine and no daemon: the Dockerfile's
# final stage (FROM scratch; scripts/build-static.sh's sidecar build, lastcall-sidecar.stripped,
# as /lastcall and its full binary, lastcall.stripped, as /lastcall-full, one layer each as the
# two COPY lines make them; USER 65532:65532, ENTRYPOINT ["/lastcall"], CMD ["run"], EXPOSE 9901,
# the org.opencontainers.image.* labels), one image per architecture and an OCI image index
# over them.
# tests/deploy/image_matches_dockerfile.js checks that this and the Dockerfile build the same.
# Usage: scripts/build-image.sh [--arch amd64|arm64|all]     (default: all)
# Writes build-image/:
#   oci/                               OCI layout; tags VERSION-ARCH (one image each) and VERSION
#                                      (the image index: linux/amd64 + linux/arm64)
#   lastcall-VERSION.oci.tar           that layout as an OCI archive (skopeo, crane, podman load)
#   lastcall-VERSION-ARCH.docker.tar   one docker-archive per architecture, tagged
#                                      IMAGE:VERSION (`docker load -i`, `kind load image-archive`)
# and prints the digests and sizes, against the targets: each binary <= 4 MB stripped (PRODUCT.md
# §5) and what a node pulls (compressed) <= 4 MB. Expect about 3.0 MB pulled and 6.3 MB unpacked
# (amd64; arm64 2.8 and 5.9 MB), of which a pod runs only /lastcall (2.9 MB). Reproducible: the times in the image are the commit's
# (or SOURCE_DATE_EPOCH), so the same commit and binary give the same digests.
# Env:   LASTCALL_IMAGE (default ghcr.io/lastcall/lastcall)   the name the docker-archives carry
# REQUIRES: root (umoci unpack/repack keep the file owners), umoci, skopeo, jq.
set -euo pipefail
cd "$(dirname "$0")/.."

image=${LASTCALL_IMAGE:-ghcr.io/lastcall/lastcall}
max_bytes=4000000   # PRODUCT.md §5, for each binary
max_pulled=4000000  # what a node pulls: both binaries compressed (~3.0 MB) and some JSON
arches=(amd64 arm64)
while (($#)); do
  case "$1" in
    --arch) arch=${2:?--arch needs amd64, arm64 or all}; shift 2 ;;
    --arch=*) arch=${1#--arch=}; shift ;;
    *) echo "build-image: unknown argument $1 (usage: build-image.sh [--arch amd64|arm64|all])" >&2
      exit 2 ;;
  esac
  case "$arch" in
    all) arches=(amd64 arm64) ;;
    amd64 | arm64) arches=("$arch") ;;
    *) echo "build-image: unknown architecture ${arch} (amd64, arm64, all)" >&2; exit 2 ;;
  esac
done
for tool in umoci skopeo jq; do
  command -v "$tool" >/dev/null ||
    { echo "build-image: needs ${tool} (apt-get install ${tool})" >&2; exit 1; }
done

version=$(sed -n 's/^project(lastcall VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
# The commit cmake/Version.cmake puts into `lastcall version`, by the same rules.
revision=${LASTCALL_REVISION:-}
if [ -z "$revision" ]; then
  if [ "$(git rev-parse --show-toplevel 2>/dev/null)" = "$PWD" ]; then
    revision=$(git rev-parse --short=12 HEAD)
  else
    revision=unknown
  fi
fi
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
created=$(date -u -d "@${epoch}" +%Y-%m-%dT%H:%M:%SZ)

out=build-image
layout=$out/oci
work=$(mktemp -d /tmp/lastcall-image-XXXXXX)
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
mkdir -p "$out"
umoci init --layout "$layout"

# The Dockerfile's final stage, field by field (LABEL, COPY, USER, EXPOSE, ENTRYPOINT, CMD), and
# the PATH BuildKit gives every image that sets none.
labels=(
  "org.opencontainers.image.title=lastcall"
  "org.opencontainers.image.description=Sidecar that makes Kubernetes pod shutdown lossless: unready, wait for load balancers, drain, exit"
  "org.opencontainers.image.version=${version}"
  "org.opencontainers.image.revision=${revision}"
  "org.opencontainers.image.source=https://github.com/lastcall/lastcall"
  "org.opencontainers.image.documentation=https://github.com/lastcall/lastcall/blob/main/deploy/README.md"
)
label_flags=()
for label in "${labels[@]}"; do label_flags+=(--config.label "$label"); done

index_entries=()
for arch in "${arches[@]}"; do
  LASTCALL_REVISION=$revision ./scripts/build-static.sh --arch "$arch"
  dir=build-static
  [ "$arch" = "$(dpkg --print-architecture)" ] || dir=build-static-$arch
  tag=${version}-${arch}
  umoci new --image "$layout:$tag"
  # unpack + repack, not `umoci insert`: umoci 0.4.7's insert writes a tar layer without its
  # end-of-archive blocks (GNU tar and Python reject it). One repack per COPY line, each a layer
  # holding only its file (--refresh-bundle: the next repack diffs against this one).
  bundle=$work/bundle-$arch
  umoci unpack --image "$layout:$tag" "$bundle" >/dev/null
  for file in lastcall:lastcall-sidecar.stripped lastcall-full:lastcall.stripped; do
    install -m 0755 -o 0 -g 0 "$dir/${file#*:}" "$bundle/rootfs/${file%%:*}"
    touch -h -d "@${epoch}" "$bundle/rootfs/${file%%:*}" "$bundle/rootfs"
    umoci repack --image "$layout:$tag" --refresh-bundle --history.created "$created" \
      --history.created_by "COPY --from=build /${file%%:*} /${file%%:*}" "$bundle"
  done
  umoci config --image "$layout:$tag" --no-history --created "$created" \
    --os linux --architecture "$arch" \
    --config.env "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --config.user 65532:65532 --config.exposedports 9901/tcp \
    --config.entrypoint /lastcall --config.cmd run "${label_flags[@]}"
  manifest=$(jq -c --arg tag "$tag" \
    '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $tag)' \
    "$layout/index.json")
  index_entries+=("$(jq -c --arg arch "$arch" \
    '{mediaType, digest, size, platform: {architecture: $arch, os: "linux"}}' <<<"$manifest")")
done

# The image index (what `docker buildx build --platform linux/amd64,linux/arm64` pushes): a blob
# listing each architecture's manifest, tagged VERSION. umoci makes single images only.
index=$(printf '%s\n' "${index_entries[@]}" | jq -cs \
  '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: .}')
printf '%s' "$index" >"$work/index.json"
index_digest=sha256:$(sha256sum "$work/index.json" | cut -d' ' -f1)
index_size=$(stat -c %s "$work/index.json")
cp "$work/index.json" "$layout/blobs/sha256/${index_digest#sha256:}"
jq --arg digest "$index_digest" --argjson size "$index_size" --arg tag "$version" \
  '.manifests += [{mediaType: "application/vnd.oci.image.index.v1+json", digest: $digest,
     size: $size, annotations: {"org.opencontainers.image.ref.name": $tag}}]' \
  "$layout/index.json" >"$work/layout-index.json"
mv "$work/layout-index.json" "$layout/index.json"
umoci gc --layout "$layout"

skopeo --insecure-policy copy -q --all "oci:$layout:$version" \
  "oci-archive:$out/lastcall-$version.oci.tar:$version"
for arch in "${arches[@]}"; do
  skopeo --insecure-policy copy -q "oci:$layout:$version-$arch" \
    "docker-archive:$out/lastcall-$version-$arch.docker.tar:$image:$version"
done

# blob_size DIGEST -> the size of that blob in the layout
blob_size() { stat -c %s "$layout/blobs/sha256/${1#sha256:}"; }
status=0
echo "build-image: ${image}:${version} (revision ${revision}, created ${created})"
platforms=$(jq -r '[.manifests[].platform | .os + "/" + .architecture] | join(", ")' <<<"$index")
echo "build-image:   index ${index_digest} (oci:${layout}:${version}) ${platforms}"
for arch in "${arches[@]}"; do
  manifest_digest=$(jq -r --arg arch "$arch" \
    '.manifests[] | select(.platform.architecture == $arch) | .digest' <<<"$index")
  manifest=$layout/blobs/sha256/${manifest_digest#sha256:}
  config_digest=$(jq -r .config.digest "$manifest")
  layer_bytes=$(jq -r '[.layers[].size] | add' "$manifest")
  # What a node pulls: manifest + config + compressed layers; what it unpacks: the two binaries.
  pulled=$(($(blob_size "$manifest_digest") + $(blob_size "$config_digest") + layer_bytes))
  sidecar=$(stat -c %s "$work/bundle-$arch/rootfs/lastcall")
  full=$(stat -c %s "$work/bundle-$arch/rootfs/lastcall-full")
  over=()
  [ "$pulled" -le "$max_pulled" ] || over+=("pulled over ${max_pulled}")
  [ "$sidecar" -le "$max_bytes" ] || over+=("/lastcall over ${max_bytes}")
  [ "$full" -le "$max_bytes" ] || over+=("/lastcall-full over ${max_bytes}")
  verdict=ok
  if ((${#over[@]})); then
    verdict="OVER ($(IFS=';'; echo "${over[*]}"))"
    status=1
  fi
  docker_tar=$out/lastcall-$version-$arch.docker.tar
  echo "build-image:   linux/${arch} ${manifest_digest}: ${pulled} bytes compressed" \
    "(<= ${max_pulled}); unpacked /lastcall ${sidecar} + /lastcall-full ${full} =" \
    "$((sidecar + full)) bytes (each <= ${max_bytes}): ${verdict};" \
    "${docker_tar} $(stat -c %s "$docker_tar") bytes"
done
archive=$out/lastcall-$version.oci.tar
echo "build-image:   ${archive} $(stat -c %s "$archive") bytes"
exit $status
