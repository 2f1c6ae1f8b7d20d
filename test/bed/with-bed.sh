#!/bin/bash
# with-bed.sh NAME NET [--base-image] -- COMMAND...
# Runs COMMAND against a test bed of its own (TB=/tmp/berth-NAME, netns NAME-sw/NAME1..3, NET.0/24), brought up
# first and always torn down at the end (trap), so benchmarks and fault injection (crashed servers, cut links, full
# disks) neither disturb the shared bed at /tmp/berth-tb nor are disturbed by it. COMMAND sees TB (tests load the bed
# from $TB/bed.json). --base-image loads berth-base/python:3.11-bookworm onto every server first.
# BERTH_KEEP_BED=1 leaves the bed up afterwards (for re-running while developing).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 3 ] || { echo "usage: $0 NAME NET [--base-image] -- COMMAND..." >&2; exit 2; }
export TB_NAME=$1 TB_NET=$2 TB=/tmp/berth-$1
shift 2
BASE=0
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  case "$1" in --base-image) BASE=1 ;; *) echo "unknown option $1" >&2; exit 2 ;; esac
  shift
done
[ "${1:-}" = -- ] && shift
[ $# -gt 0 ] || { echo "no command given" >&2; exit 2; }

down() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "${BERTH_KEEP_BED:-0}" = 1 ]; then echo "[with-bed] leaving the bed at $TB up (BERTH_KEEP_BED=1)" >&2
  else timeout 300 bash test/bed/tb.sh down || echo "[with-bed] warning: tb.sh down failed for $TB" >&2; fi
  exit $rc
}
trap down EXIT
trap 'exit 130' INT TERM
timeout 300 bash test/bed/tb.sh up
[ "$BASE" = 0 ] || timeout 900 bash test/bed/tb.sh load-image berth-base/python:3.11-bookworm
"$@"
