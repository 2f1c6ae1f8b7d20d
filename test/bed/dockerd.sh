#!/bin/bash
# dockerd.sh - make sure the machine's own docker daemon answers on /var/run/docker.sock.
#   start   if nothing answers there, start `dockerd` in the background (logs: /tmp/berth-dockerd.log,
#           pid file: /run/berth-dockerd.pid) and wait (<= 30 s) until it answers. No-op if one answers.
#   stop    stop the dockerd that `start` started (only that one: found through the pid file).
#   status  exit 0 if the daemon answers.
# Must run as root. Talks only to the local unix socket.
set -euo pipefail
SOCK=/var/run/docker.sock
LOG=${BERTH_DOCKERD_LOG:-/tmp/berth-dockerd.log}
PIDFILE=/run/berth-dockerd.pid
WAIT_S=30

log() { printf '[dockerd] %s\n' "$*" >&2; }
cli() { local c; for c in /usr/bin/docker docker; do command -v "$c" >/dev/null && { echo "$c"; return; }; done; return 1; }
answers() {   # the daemon on $SOCK replies to the API ping
  if command -v curl >/dev/null; then
    [ "$(curl -s -m 3 --unix-socket "$SOCK" http://localhost/_ping 2>/dev/null)" = OK ]
  else
    DOCKER_HOST=unix://$SOCK timeout 5 "$(cli)" version --format '{{.Server.Version}}' >/dev/null 2>&1
  fi
}
our_pid() {   # pid from our pid file if that process is still a dockerd
  local p; p=$(cat "$PIDFILE" 2>/dev/null || true)
  [ -n "$p" ] && [ -d "/proc/$p" ] && [ "$(cat /proc/$p/comm 2>/dev/null)" = dockerd ] && echo "$p"
}

case "${1:-}" in
  start)
    if answers; then log "a dockerd already answers on $SOCK"; exit 0; fi
    [ "$(id -u)" = 0 ] || { log "must run as root"; exit 1; }
    command -v dockerd >/dev/null || { log "dockerd not installed (apt-get install docker.io)"; exit 1; }
    if p=$(our_pid); then
      log "our dockerd (pid $p) is running but does not answer yet; waiting"
    else
      log "starting dockerd (log: $LOG)"
      setsid dockerd -H "unix://$SOCK" < /dev/null >> "$LOG" 2>&1 &
      echo $! > "$PIDFILE"
    fi
    for _ in $(seq 1 $((WAIT_S * 5))); do
      if answers; then log "dockerd answers on $SOCK (pid $(cat "$PIDFILE"), ${SECONDS}s)"; exit 0; fi
      if ! our_pid >/dev/null; then log "dockerd exited; last log lines:"; tail -n 20 "$LOG" >&2; rm -f "$PIDFILE"; exit 1; fi
      sleep 0.2
    done
    log "dockerd did not answer within ${WAIT_S}s; last log lines:"; tail -n 20 "$LOG" >&2; exit 1 ;;
  stop)
    if ! p=$(our_pid); then log "no dockerd started by this script is running"; rm -f "$PIDFILE"; exit 0; fi
    log "stopping dockerd pid $p"
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 1 100); do [ -d "/proc/$p" ] || break; sleep 0.2; done   # <= 20 s
    if [ -d "/proc/$p" ]; then log "still running after 20 s; SIGKILL"; kill -KILL "$p" 2>/dev/null || true; sleep 0.5; fi
    rm -f "$PIDFILE" ;;
  status)
    if answers; then log "dockerd answers on $SOCK"; exit 0; else log "no dockerd answers on $SOCK"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
