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
CACHE=${BERTH_CACHE:-/var/cache/berth}
T0=$(date +%s.%N)

log() { printf '[go-builder-image] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
DOCKER=$(command -v docker || true)
[ -n "$DOCKER" ] || die "docker CLI not found (apt-get install docker.io)"

# -------- fast path: image already there
if [ "${BERTH_REBUILD:-0}" != 1 ] && "$DOCKER" image inspect "$TAG" >/dev/null 2>&1; then
  log "image $TAG already present ($("$DOCKER" image inspect -f '{{.Id}}' "$TAG")); nothing to do ($(elapsed)s)"
  echo "$TAG"; exit 0
fi
[ "$(id -u)" = 0 ] || die "must run as root"

# -------- mirror: first enabled 'deb' source of this machine that serves $SUITE (same rule as base-image.sh)
apt_sources() {   # prints "URI SUITE" pairs for every enabled deb entry (one-line and deb822 formats)
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    sed -e 's/#.*//' "$f" | awk '$1=="deb"{ i=2; if ($2 ~ /^\[/) { while (i<=NF && $i !~ /\]$/) i++; i++ } if (i+1<=NF) print $i, $(i+1) }'
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '
      function flush() { if (types ~ /(^| )deb( |$)/ && enabled !~ /^no$/) { n=split(uris,U," "); m=split(suites,S," "); for(i=1;i<=n;i++) for(j=1;j<=m;j++) print U[i], S[j] } types=uris=suites=""; enabled="yes" }
      BEGIN { enabled="yes" }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      { line=$0; k=line; sub(/:.*/,"",k); v=line; sub(/^[^:]*:[ \t]*/,"",v); k=tolower(k)
        if (k=="types") types=v; else if (k=="uris") uris=v; else if (k=="suites") suites=v; else if (k=="enabled") enabled=tolower(v) }
      END { flush() }' "$f"
  done
}
MIRROR=${BERTH_DEBIAN_MIRROR:-}
if [ -z "$MIRROR" ]; then
  MIRROR=$(apt_sources | awk -v s="$SUITE" '$2==s && $1 ~ /^https?:\/\// {print $1; exit}')
fi
[ -n "$MIRROR" ] || die "no enabled apt source for suite '$SUITE' in /etc/apt/sources.list{,.d}; set BERTH_DEBIAN_MIRROR"
MIRROR=${MIRROR%/}
# apt's proxy (if any) -> wget used by debootstrap
if [ -z "${http_proxy:-}" ] && command -v apt-config >/dev/null; then
  eval "$(apt-config shell APT_HTTP_PROXY Acquire::http::Proxy 2>/dev/null || true)"
  if [ -n "${APT_HTTP_PROXY:-}" ] && [ "$APT_HTTP_PROXY" != DIRECT ]; then export http_proxy=$APT_HTTP_PROXY; fi
fi
log "mirror: $MIRROR (suite $SUITE)"

# -------- cache key: everything that changes the rootfs
KEY=$(printf '%s|%s|%s|%s|v2' "$SUITE" "$VARIANT" "$INCLUDE" "$MIRROR" | sha256sum | cut -c1-16)
TARBALL=$CACHE/go-builder-$SUITE-$KEY.rootfs.tar
mkdir -p "$CACHE"
exec 8>"$CACHE/.go-builder-image.lock"
flock -w 1800 8 || die "could not lock $CACHE/.go-builder-image.lock within 30 min"

if [ "${BERTH_REBUILD:-0}" = 1 ]; then rm -f "$TARBALL"; fi
if [ -s "$TARBALL" ]; then
  log "using cached rootfs $TARBALL"
else
  command -v debootstrap >/dev/null || die "debootstrap not installed (apt-get install debootstrap)"
  WORK=$(mktemp -d "$CACHE/build.XXXXXX")
  cleanup() { local m; for m in proc sys dev/pts dev; do mountpoint -q "$WORK/root/$m" 2>/dev/null && umount -l "$WORK/root/$m" || true; done; rm -rf "$WORK"; }
  trap cleanup EXIT
  log "debootstrap $SUITE ($VARIANT) into $WORK/root ..."
  T1=$(date +%s)
  # bounded: debootstrap has no global timeout of its own
  timeout 1800 debootstrap --variant="$VARIANT" --components=main --include="$INCLUDE" \
    --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
    "$SUITE" "$WORK/root" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 \
    || { tail -n 40 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
  log "debootstrap done in $(( $(date +%s) - T1 ))s"
  R=$WORK/root
  # trim: package caches, lists and docs (the image never talks to a network in the tests)
  rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/cache/apt/*.bin "$R"/var/lib/apt/lists/* \
         "$R"/var/log/*.log "$R"/var/log/apt/* "$R"/tmp/* "$R"/var/tmp/* "$R"/root/.cache \
         "$R"/usr/share/doc/* "$R"/usr/share/man/*
  echo "deb $MIRROR $SUITE main" > "$R/etc/apt/sources.list"
  : > "$R/etc/hostname"; : > "$R/etc/resolv.conf"
  mkdir -p "$R/go" "$R/src"
  # warm the build cache with the standard library as resources/gateway/Dockerfile compiles it (static,
  # -trimpath), so each gateway build compiles only the gateway itself
  log "warming the Go build cache (go build std) ..."
  mount -t proc proc "$R/proc"
  timeout 900 chroot "$R" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root GOPATH=/go GOTOOLCHAIN=local GOPROXY=off \
    CGO_ENABLED=0 GOFLAGS=-trimpath GOCACHE=/root/.cache/go-build go build std >&2 || die "go build std failed"
  umount -l "$R/proc"
  tar --numeric-owner -C "$R" -cf "$TARBALL.tmp" .
  mv "$TARBALL.tmp" "$TARBALL"
  cleanup; trap - EXIT
  log "rootfs cached at $TARBALL ($(du -h "$TARBALL" | cut -f1))"
fi

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
