#!/bin/bash
# base-image.sh - build the local Python base image used by Berth's tests, without any
# registry: debootstrap (Debian bookworm, minbase + python3 + the scientific stack from
# Debian's packages) -> tar -> `docker import`.
#
#   bash test/bed/base-image.sh            # builds (or reuses) berth-base/python:3.11-bookworm
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

TAG=berth-base/python:3.11-bookworm
SUITE=bookworm
VARIANT=minbase
INCLUDE=python3,python3-pip,python3-numpy,python3-sklearn,python3-pandas,python3-joblib,python3-scipy,ca-certificates
IMAGE_SCRIPT=base-image
TARBALL_NAME=python-3.11

# shellcheck source=test/bed/debian-image.sh
source "$(dirname "$0")/debian-image.sh"

# -------- import
log "docker import -> $TAG"
"$DOCKER" import \
  --change 'CMD ["python3"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PYTHONDONTWRITEBYTECODE=1' \
  --change 'ENV PIP_BREAK_SYSTEM_PACKAGES=1' \
  --change 'ENV PIP_DISABLE_PIP_VERSION_CHECK=1' \
  --change 'ENV PIP_ROOT_USER_ACTION=ignore' \
  --change 'WORKDIR /' \
  --change "LABEL org.opencontainers.image.title=berth-base-python org.opencontainers.image.base.name=debian:$SUITE berth.base.cachekey=$KEY" \
  --message "berth base image: debootstrap $SUITE $VARIANT + $INCLUDE" \
  "$TARBALL" "$TAG" >/dev/null

# -------- smoke test (no network): pip works, the scientific stack imports, and
# `pip install numpy==<Debian's version>` is satisfied from the system packages.
NUMPY_VER=$("$DOCKER" run --rm --network none "$TAG" python3 -c 'import numpy; print(numpy.__version__)')
"$DOCKER" run --rm --network none -e NUMPY_VER="$NUMPY_VER" "$TAG" sh -ec '
  python3 -m pip --version
  python3 -c "import numpy, scipy, sklearn, pandas, joblib; print(\"numpy\", numpy.__version__, \"scipy\", scipy.__version__, \"sklearn\", sklearn.__version__, \"pandas\", pandas.__version__, \"joblib\", joblib.__version__)"
  timeout 60 python3 -m pip install --break-system-packages --retries 0 --timeout 3 "numpy==$NUMPY_VER" | tail -n 1
' >&2 || { "$DOCKER" rmi "$TAG" >/dev/null 2>&1 || true; die "smoke test of $TAG failed (image removed)"; }

log "built $TAG ($("$DOCKER" image inspect -f '{{.Id}} {{.Size}}' "$TAG") bytes) in $(elapsed)s"
echo "$TAG"
