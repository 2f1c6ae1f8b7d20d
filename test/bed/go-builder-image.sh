#!/bin/bash
# go-builder-image.sh - build the local Go builder image used to compile Berth's gateway in tests, without any
# registry: debootstrap (Debian bookworm, minbase + golang-go) -> tar -> `docker import`.
# resources/gateway/Dockerfile takes it as BUILDER_IMAGE (real users get golang:1.22-bookworm).
#
#   bash test/bed/go-builder-image.sh      # builds (or reuses) berth-base/go-builder:bookworm
#
# Env:
#   BERTH_CACHE          cache dir for the finished rootfs tarball (default /var/cache/berth)
#   BERTH_DEBIAN_MIRROR  override the Debian mirror (default: read from the apt sources of this machine)
#   BERTH_REBUILD=1      ignore an existing image and the cached tarball
#   DOCKER_HOST          optional; the docker CLI honours it (default: local /var/run/docker.sock)
#
# Prints the image tag on stdout (last line); progress goes to stderr.
# Must run as root (debootstrap).
set -euo pipefail

TAG=berth-base/go-builder:bookworm
SUITE=bookworm
VARIANT=minbase
INCLUDE=golang-go,ca-certificates
IMAGE_SCRIPT=go-builder-image
TARBALL_NAME=go-builder
TRIM_DOCS=1

# Warm the build cache with the standard library as resources/gateway/Dockerfile compiles it (static, -trimpath),
# so each gateway build compiles only the gateway itself.
customize_rootfs() {
  local R=$1
  mkdir -p "$R/go" "$R/src"
  log "warming the Go build cache (go build std) ..."
  mount -t proc proc "$R/proc"
  timeout 900 chroot "$R" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root GOPATH=/go GOTOOLCHAIN=local GOPROXY=off \
    CGO_ENABLED=0 GOFLAGS=-trimpath GOCACHE=/root/.cache/go-build go build std >&2 || die "go build std failed"
  umount -l "$R/proc"
}

# shellcheck source=test/bed/debian-image.sh
source "$(dirname "$0")/debian-image.sh"

# -------- import
log "docker import -> $TAG"
"$DOCKER" import \
  --change 'CMD ["go", "version"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV GOPATH=/go' \
  --change 'ENV GOTOOLCHAIN=local' \
  --change 'ENV GOPROXY=off' \
  --change 'WORKDIR /src' \
  --change "LABEL org.opencontainers.image.title=berth-base-go-builder org.opencontainers.image.base.name=debian:$SUITE berth.base.cachekey=$KEY" \
  --message "berth go builder image: debootstrap $SUITE $VARIANT + $INCLUDE" \
  "$TARBALL" "$TAG" >/dev/null

# -------- smoke test (no network): a static binary compiles and runs
"$DOCKER" run --rm --network none "$TAG" sh -ec '
  go version
  mkdir -p /tmp/hello && cd /tmp/hello
  printf "module hello\n\ngo 1.19\n" > go.mod
  printf "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello from go\") }\n" > main.go
  CGO_ENABLED=0 GOCACHE=/tmp/gocache go build -o /tmp/hello/hello . && /tmp/hello/hello
' >&2 || { "$DOCKER" rmi "$TAG" >/dev/null 2>&1 || true; die "smoke test of $TAG failed (image removed)"; }

log "built $TAG ($("$DOCKER" image inspect -f '{{.Id}} {{.Size}}' "$TAG") bytes) in $(elapsed)s"
echo "$TAG"
