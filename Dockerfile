# syntax=docker/dockerfile:1
# lastcall's image: two static binaries in an empty root filesystem, running as 65532:65532.
# /lastcall, the entrypoint, is the sidecar build (run, check, prestop, install, version;
# scripts/build-static.sh): what every pod runs, without the laptop tools' code. /lastcall-full
# is the full binary beside it: asked for inject, uninject or rehearse, /lastcall hands the
# command line to it, so `docker run -i IMAGE inject - < app.yaml` works. A pod never runs it, so
# it costs the pull (and the disk), not memory.
#   docker build -t ghcr.io/lastcall/lastcall:0.1.0 --build-arg REVISION=$(git rev-parse --short=12 HEAD) .
#   docker buildx build --platform linux/amd64,linux/arm64 -t ghcr.io/lastcall/lastcall:0.1.0 .
# The same image is the sidecar (`lastcall run`, the default command) and the init container that
# copies the sidecar build into a volume shared with the app (`lastcall install --to DIR`): the
# image has no shell and no cp, so the binary copies itself. deploy/README.md shows both.
# Without a container engine, scripts/build-image.sh builds the same image (both architectures,
# and the image index over them); tests/deploy/image_matches_dockerfile.js keeps the two equal,
# and tests/deploy/check_dockerfile.sh checks this file statically.

# --- build: Debian 12's packages (bootstrap.sh's libraries: what the binaries are built from) --
# On the build machine's platform: for another $TARGETARCH (buildx sets it) the script
# cross-compiles (amd64 -> arm64: cmake/toolchain-aarch64.cmake), much faster than emulation.
FROM --platform=$BUILDPLATFORM debian:12 AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      nlohmann-json3-dev libcli11-dev libfmt-dev libyaml-cpp-dev libre2-dev libbearssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
ARG TARGETARCH
ARG REVISION=unknown
# The context has no .git (.dockerignore): the commit comes in as REVISION.
RUN LASTCALL_REVISION="$REVISION" ./scripts/build-static.sh --arch "$TARGETARCH" \
 && cp build-static*/lastcall-sidecar.stripped /lastcall \
 && cp build-static*/lastcall.stripped /lastcall-full

# --- the image: nothing but the binaries --------------------------------------------------------
FROM scratch
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="lastcall" \
      org.opencontainers.image.description="Sidecar that makes Kubernetes pod shutdown lossless: unready, wait for load balancers, drain, exit" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/lastcall/lastcall" \
      org.opencontainers.image.documentation="https://github.com/lastcall/lastcall/blob/main/deploy/README.md"
COPY --from=build /lastcall /lastcall
# The name and place the sidecar build looks for (src/main.cc): `lastcall-full` beside itself.
COPY --from=build /lastcall-full /lastcall-full
USER 65532:65532
# probes, metrics, status (`listen`); the control socket lives in a volume, not on a port
EXPOSE 9901
ENTRYPOINT ["/lastcall"]
CMD ["run"]
