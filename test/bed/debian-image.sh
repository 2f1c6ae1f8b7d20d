#!/bin/bash
# debian-image.sh - shared by base-image.sh and go-builder-image.sh (sourced, not run): build a Debian rootfs with
# debootstrap from this machine's own apt mirror, cache it as a tarball, for the caller to `docker import`.
# The caller sets IMAGE_SCRIPT (log prefix and lock name), TAG, SUITE, VARIANT, INCLUDE, TARBALL_NAME, optionally
# TRIM_DOCS=1 and a customize_rootfs function; afterwards TARBALL, KEY and MIRROR are set.
CACHE=${BERTH_CACHE:-/var/cache/berth}
T0=$(date +%s.%N)

log() { printf '[%s] %s\n' "$IMAGE_SCRIPT" "$*" >&2; }
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

# -------- mirror: first enabled 'deb' source of this machine that serves $SUITE (not -security/-updates)
apt_sources() {   # prints "URI SUITE" pairs for every enabled deb entry (one-line and deb822 formats)
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    # deb [opts] URI suite comps...
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
TARBALL=$CACHE/$TARBALL_NAME-$SUITE-$KEY.rootfs.tar
mkdir -p "$CACHE"
exec 8>"$CACHE/.$IMAGE_SCRIPT.lock"
flock -w 1800 8 || die "could not lock $CACHE/.$IMAGE_SCRIPT.lock within 30 min"

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
  # trim: package caches and lists (the image never talks to a network in the tests)
  rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/cache/apt/*.bin "$R"/var/lib/apt/lists/* \
         "$R"/var/log/*.log "$R"/var/log/apt/* "$R"/tmp/* "$R"/var/tmp/* "$R"/root/.cache
  if [ "${TRIM_DOCS:-0}" = 1 ]; then rm -rf "$R"/usr/share/doc/* "$R"/usr/share/man/*; fi
  echo "deb $MIRROR $SUITE main" > "$R/etc/apt/sources.list"
  : > "$R/etc/hostname"; : > "$R/etc/resolv.conf"
  if declare -F customize_rootfs >/dev/null; then customize_rootfs "$R"; fi
  tar --numeric-owner -C "$R" -cf "$TARBALL.tmp" .
  mv "$TARBALL.tmp" "$TARBALL"
  cleanup; trap - EXIT
  log "rootfs cached at $TARBALL ($(du -h "$TARBALL" | cut -f1))"
fi

