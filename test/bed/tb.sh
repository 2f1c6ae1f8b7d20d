#!/bin/bash
# tb.sh - Berth's local multi-server test bed: K fake hosts, each one = its own network
# namespace (eth0 = 10.77.0.(10+N)/24 on a private bridge, no default route) + its own sshd
# (port 22 on its own IP, root login by key only) + its own dockerd (own data-root, own socket,
# own engine ID), all under tini as PID 1 of a private pid/mount/uts namespace.
#
#   tb.sh up                 bring the bed up (idempotent: healthy -> no-op; only some servers dead ->
#                            boot those again, keeping keys + docker data; otherwise half-up -> clean + redo)
#   tb.sh down [--force]     tear it down (idempotent; --force also removes ${TB_NAME}-sw/${TB_NAME}N netns it has no record of)
#   tb.sh crash N            power loss of server N: link down first (peers see no FIN/RST), then SIGKILL all
#   tb.sh restore N          link up + boot server N again (its docker data survives, like a disk)
#   tb.sh status             one line per server; exit 0 only if every server is healthy
#   tb.sh env                shell-sourceable variables:  eval "$(bash test/bed/tb.sh env)"
#   tb.sh load-image IMAGE   docker save IMAGE | ssh tbN docker load, for every server lacking that image id
#
# Env: TB (state dir, default /tmp/berth-tb), K (number of servers, default 3; after `up` the other
# commands use the K recorded in $TB/state), TB_NAME (default tb: netns ${TB_NAME}-sw and ${TB_NAME}1..K,
# server names, cgroup parents, root-ns link ${TB_NAME}-h; lowercase letters, at most 10), TB_NET (default
# 10.77.0: the bed's /24, must be 10.77.X). Several beds can run side by side with different TB, TB_NAME and
# TB_NET, e.g. `TB=/tmp/berth-fb TB_NAME=fb TB_NET=10.77.1 tb.sh up`; after `up`, TB alone is enough (name
# and net are read from $TB/state). The lock is $TB.lock, so each bed serializes only its own commands.
# TB_STORE=tmpfs|disk (where the servers' docker data lives, default tmpfs at $TB/data: RAM-backed, so
# `down` is instant and image loads are faster; the data survives crash/restore, not down),
# TB_TMPFS_SIZE (cap, default 50% of RAM), TB_UP_WAIT_S (60).
# Files: $TB/bed.json (machine-readable), $TB/client/{id_ed25519,known_hosts,ssh_config,bin/ssh},
#        $TB/srvN/{docker.sock,*.log,...}.
# Network: only $TB_NET.0/24 inside namespaces this script creates (root ns end = $TB_NET.1 on ${TB_NAME}-h).
# Links br0, up0 and sN live inside the bed's own switch netns, so they never clash between beds.
# The root namespace's own dockerd (/var/run/docker.sock, /var/lib/docker, docker0) is never touched:
# servers get a private /run (tmpfs), their own data/exec roots, cgroup parent /${TB_NAME}N and no iptables.
# Must run as root. Host files are not modified (except /run/netns, which `ip netns add` creates).
set -euo pipefail
TB=${TB:-/tmp/berth-tb}
TB=${TB%/}
SRV_DOCKER_CLI=/usr/bin/docker  # Debian docker.io CLI; shadows /usr/local/bin/docker inside servers
STATE=$TB/state
UP_WAIT_S=${TB_UP_WAIT_S:-60}   # max seconds to wait for all servers to answer ssh+docker
DATA=$TB/data                   # servers' docker data-roots: $DATA/srvN
STORE=${TB_STORE:-tmpfs}        # tmpfs: $DATA is a tmpfs (fast image loads, instant down); disk: plain dir
TMPFS_SIZE=${TB_TMPFS_SIZE:-50%}  # upper bound only; tmpfs uses RAM for what is stored
case "$STORE" in tmpfs|disk) ;; *) echo "[tb] ERROR: TB_STORE must be tmpfs or disk" >&2; exit 1;; esac

log() { printf '[tb] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s.%N; }
dur() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }
ipof() { echo "$NET.$((10 + $1))"; }
ns_exists() { [ -e "/run/netns/$1" ]; }
SSH() { ssh -F "$TB/client/ssh_config" -o BatchMode=yes "$@"; }

# K: from the state file when there is one (so crash/restore/status/down match what `up` made)
state_k() { sed -n 's/^K=//p' "$STATE" 2>/dev/null || true; }
ENV_K=${K:-}
K=$(state_k); K=${K:-${ENV_K:-3}}
case "$K" in ''|*[!0-9]*) die "K must be a number";; esac
[ "$K" -ge 1 ] && [ "$K" -le 50 ] || die "K must be 1..50"

# NAME/NET: from the state file when there is one (a bed keeps the name and subnet it was made with)
NAME=$(sed -n 's/^NAME=//p' "$STATE" 2>/dev/null || true)
NET=$(sed -n 's/^NET=//p' "$STATE" 2>/dev/null || true)
if [ -f "$STATE" ] && [ -z "$NAME" ]; then NAME=tb; fi   # state written before TB_NAME existed
if [ -n "$NAME" ] && [ -n "${TB_NAME:-}" ] && [ "$TB_NAME" != "$NAME" ]; then die "the bed at $TB is named $NAME, not TB_NAME=$TB_NAME"; fi
if [ -n "$NET" ] && [ -n "${TB_NET:-}" ] && [ "$TB_NET" != "$NET" ]; then die "the bed at $TB uses $NET.0/24, not TB_NET=$TB_NET"; fi
NAME=${NAME:-${TB_NAME:-tb}}
NET=${NET:-${TB_NET:-10.77.0}}  # root ns = $NET.1 ; server N = $NET.(10+N)
# letters only: no bed's server netns (NAME + digits) can look like another bed's, and NAME-h stays <= 15 chars
[[ "$NAME" =~ ^[a-z]{1,10}$ ]] || die "TB_NAME must be 1-10 lowercase letters (got '$NAME')"
[[ "$NET" =~ ^10\.77\.([0-9]{1,3})$ ]] && [ "${BASH_REMATCH[1]}" -le 255 ] || die "TB_NET must be 10.77.X with X in 0..255 (got '$NET')"
SW=$NAME-sw                     # the switch netns (bridge br0)
HOSTIF=$NAME-h                  # the root namespace's end of the link to the switch

need_root() { [ "$(id -u)" = 0 ] || die "must run as root"; }
lock() {  # serialize up/down/crash/restore/load-image on the same bed (bounded wait)
  exec 9>"$TB.lock"; flock -w 300 9 || die "another tb.sh holds $TB.lock for > 300 s"
}
check_n() { case "${1:-}" in ''|*[!0-9]*) die "server number required (1..$K)";; esac
            [ "$1" -ge 1 ] && [ "$1" -le "$K" ] || die "no server $1 (K=$K)"; }

# ---------- network: a "switch" netns with a bridge; root ns + every server plug into it
net_up() {
  ip netns add $SW
  ip -n $SW link add br0 type bridge
  ip -n $SW link set br0 up
  ip link add $HOSTIF type veth peer name up0 netns $SW     # root ns <-> switch
  ip -n $SW link set up0 master br0 up
  ip addr add $NET.1/24 dev $HOSTIF
  ip link set $HOSTIF up
}

server_net() {  # N: netns tbN with eth0=$NET.(10+N)/24, no default route (cannot reach anything else)
  local n=$1
  ip netns add $NAME$n
  ip -n $SW link add s$n type veth peer name eth0 netns $NAME$n
  ip -n $SW link set s$n master br0 up
  ip -n $NAME$n addr add "$(ipof $n)/24" dev eth0
  ip -n $NAME$n link set eth0 up
  ip -n $NAME$n link set lo up
}

client_key() {   # client key pair + ssh_config/known_hosts + an `ssh` wrapper so DOCKER_HOST=ssh://tbN works
  mkdir -p "$TB/client/bin"
  chmod 700 "$TB/client"
  printf '#!/bin/sh\nexec /usr/bin/ssh -F %s/client/ssh_config "$@"\n' "$TB" > "$TB/client/bin/ssh"
  chmod +x "$TB/client/bin/ssh"
  ssh-keygen -q -t ed25519 -N '' -C berth-$NAME-client -f "$TB/client/id_ed25519"
  : > "$TB/client/known_hosts"
  : > "$TB/client/ssh_config"
}

server_files() {  # N: host key, sshd_config, /root, /etc/docker and PID-1 script of server N
  local n=$1; local d=$TB/srv$n ip; ip=$(ipof $n)
  mkdir -p "$d/root/.ssh" "$d/etc-docker" "$d/var-lib-berth" "$d/usr-local-lib-berth" "$DATA/srv$n"
  chmod 700 "$d/root" "$d/root/.ssh"
  install -m 600 "$TB/client/id_ed25519.pub" "$d/root/.ssh/authorized_keys"
  ssh-keygen -q -t ed25519 -N '' -C $NAME$n -f "$d/ssh_host_ed25519_key"
  echo "$NAME$n,$ip $(cut -d' ' -f1,2 "$d/ssh_host_ed25519_key.pub")" >> "$TB/client/known_hosts"
  printf 'Host %s%s %s\n  HostName %s\n  Port 22\n  User root\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  BatchMode yes\n  ConnectTimeout 3\n  LogLevel ERROR\n\n' \
    "$NAME" $n "$ip" "$ip" "$TB/client/id_ed25519" "$TB/client/known_hosts" >> "$TB/client/ssh_config"
  echo '{}' > "$d/etc-docker/daemon.json"
  cat > "$d/sshd_config" <<EOF
ListenAddress $ip:22
HostKey $d/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PrintMotd no
PrintLastLog no
UseDNS no
MaxSessions 64
MaxStartups 64:30:128
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
  cat > "$d/init.sh" <<EOF
#!/bin/bash
# Runs as PID 1's child (tini is PID 1) inside: netns $NAME$n + private mount/uts/pid namespaces.
set -e
hostname $NAME$n
mount -t tmpfs -o mode=755 tmpfs /run               # fresh /run per boot: hides host docker.sock, holds sshd/docker runtime state
mkdir -p /run/sshd
mount --bind $d/root /root                          # own root home (authorized_keys, ~/.docker)
mount --bind $d/etc-docker /etc/docker              # own daemon.json + key.json (=> own engine ID)
mkdir -p /var/lib/berth /usr/local/lib/berth        # mount points (empty dirs on the host)
mount --bind $d/var-lib-berth /var/lib/berth        # own Berth state (gateway routes, locks, audit, logs) like a real server
mount --bind $d/usr-local-lib-berth /usr/local/lib/berth   # own Berth helper scripts
if [ -e /usr/local/bin/docker ]; then mount --bind $SRV_DOCKER_CLI /usr/local/bin/docker; fi   # 'docker' = Debian CLI
/usr/sbin/dockerd --data-root $DATA/srv$n --exec-root /run/docker --pidfile /run/docker.pid \\
  -H unix:///run/docker.sock -H unix://$d/docker.sock \\
  --bridge=none --iptables=false --ip6tables=false --ip-masq=false --cgroup-parent=/$NAME$n \\
  >> $d/dockerd.log 2>&1 &
/usr/sbin/sshd -D -e -f $d/sshd_config >> $d/sshd.log 2>&1 &
exec sleep infinity
EOF
  chmod +x "$d/init.sh"
}

launcher_pid() {  # N: pid of server N's launcher (unshare) if it is alive
  local p; p=$(cat "$TB/srv$1/launcher.pid" 2>/dev/null || true)
  [ -n "$p" ] && [ "$(cat /proc/$p/comm 2>/dev/null)" = unshare ] && echo "$p"
}

server_launch() {  # N: boot server N (does not wait)
  local n=$1; local d=$TB/srv$n
  setsid nsenter --net=/run/netns/$NAME$n -- \
    unshare --mount --uts --pid --fork --mount-proc --kill-child --propagation private -- \
    /usr/bin/tini -- "$d/init.sh" < /dev/null >> "$d/init.log" 2>&1 9>&- &
  local pid=$!; disown $pid 2>/dev/null || true
  echo $pid > "$d/launcher.pid"
  for _ in $(seq 1 40); do   # <= 2 s: until setsid/nsenter have exec'd into unshare (what launcher_pid checks)
    [ "$(cat /proc/$pid/comm 2>/dev/null || echo gone)" = unshare ] && break
    [ -d /proc/$pid ] || break
    sleep 0.05
  done
}

server_ok() {  # N: launcher alive and ssh + docker answer
  launcher_pid "$1" >/dev/null &&
    timeout 8 ssh -F "$TB/client/ssh_config" -o BatchMode=yes -o ConnectTimeout=2 $NAME$1 \
      docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

wait_servers() {  # N...: bounded wait (UP_WAIT_S) until every listed server answers ssh+docker
  local pending=("$@") still n t0=$SECONDS
  for _ in $(seq 1 $((UP_WAIT_S * 4))); do
    still=()
    for n in "${pending[@]}"; do server_ok "$n" || still+=("$n"); done
    pending=("${still[@]+"${still[@]}"}")
    [ ${#pending[@]} -eq 0 ] && return 0
    [ $((SECONDS - t0)) -ge "$UP_WAIT_S" ] && break
    for n in "${pending[@]}"; do launcher_pid "$n" >/dev/null || { log "$NAME$n launcher died; see $TB/srv$n/*.log"; tail -n 5 "$TB/srv$n"/*.log >&2 || true; return 1; }; done
    sleep 0.25
  done
  for n in "${pending[@]}"; do log "server $NAME$n did not come up within ${UP_WAIT_S}s; see $TB/srv$n/*.log"; tail -n 5 "$TB/srv$n"/*.log >&2 || true; done
  return 1
}

server_kill() {  # N: abrupt crash: SIGKILL the launcher -> tini (pid-ns init) dies -> kernel kills everything in it
  local n=$1; local d=$TB/srv$n pid
  pid=$(launcher_pid $n || true)
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  if ns_exists $NAME$n; then
    for _ in $(seq 1 50); do   # <= 5 s: wait until no process is left in the server's netns
      [ -z "$(ip netns pids $NAME$n 2>/dev/null)" ] && break; sleep 0.1
    done
    # launcher record lost? every process in netns tbN belongs to this server: SIGKILL them
    pid=$(ip netns pids $NAME$n 2>/dev/null | tr '\n' ' ')
    if [ -n "${pid// }" ]; then
      kill -9 $pid 2>/dev/null || true
      for _ in $(seq 1 100); do [ -z "$(ip netns pids $NAME$n 2>/dev/null)" ] && break; sleep 0.1; done
    fi
  fi
  rm -f "$d/launcher.pid"
}

cgroups_rm() {  # N: remove the (empty) container cgroups that server N's dockerd created under /tbN
  local n=$1 c
  for c in /sys/fs/cgroup/*/$NAME$n /sys/fs/cgroup/$NAME$n; do
    [ -d "$c" ] || continue
    find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

fingerprint() { ssh-keygen -lf "$1" | awk '{print $2}'; }

write_bed_json() {
  local n ip d sep='' out
  out="{\"servers\":["
  for n in $(seq 1 $K); do
    ip=$(ipof $n); d=$TB/srv$n
    out+="$sep{\"name\":\"$NAME$n\",\"host\":\"$ip\",\"port\":22,\"user\":\"root\""
    out+=",\"hostKeyFingerprint\":\"$(fingerprint "$d/ssh_host_ed25519_key.pub")\""
    out+=",\"hostKeyLine\":\"$(cut -d' ' -f1,2 "$d/ssh_host_ed25519_key.pub")\""
    out+=",\"dockerSocket\":\"$d/docker.sock\"}"
    sep=','
  done
  out+="],\"clientKey\":\"$TB/client/id_ed25519\",\"clientPublicKey\":\"$(cut -d' ' -f1,2 "$TB/client/id_ed25519.pub")\""
  out+=",\"knownHosts\":\"$TB/client/known_hosts\",\"sshConfig\":\"$TB/client/ssh_config\""
  out+=",\"sshWrapperDir\":\"$TB/client/bin\",\"rootNsIp\":\"$NET.1\",\"subnet\":\"$NET.0/24\",\"tb\":\"$TB\",\"k\":$K}"
  printf '%s\n' "$out" > "$TB/bed.json.tmp" && mv "$TB/bed.json.tmp" "$TB/bed.json"
}

print_env() {
  local n ips='' names=''
  printf 'export TB=%q\n' "$TB"
  printf 'export TB_K=%q\n' "$K"
  printf 'export TB_BED_JSON=%q\n' "$TB/bed.json"
  printf 'export TB_CLIENT_KEY=%q\n' "$TB/client/id_ed25519"
  printf 'export TB_KNOWN_HOSTS=%q\n' "$TB/client/known_hosts"
  printf 'export TB_SSH_CONFIG=%q\n' "$TB/client/ssh_config"
  printf 'export TB_SSH_BIN=%q\n' "$TB/client/bin"
  printf 'export TB_ROOT_IP=%q\n' "$NET.1"
  printf 'export TB_NAME=%q\n' "$NAME"
  printf 'export TB_NET=%q\n' "$NET"
  for n in $(seq 1 $K); do
    printf 'export TB%s_IP=%q\n' $n "$(ipof $n)"
    printf 'export TB%s_DOCKER_SOCK=%q\n' $n "$TB/srv$n/docker.sock"
    names+="${names:+ }$NAME$n"; ips+="${ips:+ }$(ipof $n)"
  done
  printf 'export TB_SERVERS=%q\n' "$names"
  printf 'export TB_IPS=%q\n' "$ips"
}

# Health of the whole bed as `up` made it: 0 = fully up, 1 = something missing/broken.
bed_healthy() {
  local n
  [ -f "$STATE" ] && [ -f "$TB/bed.json" ] || return 1
  [ "$(state_k)" = "$K" ] || return 1
  [ "$(sed -n 's/^STORE=//p' "$STATE")" = "$STORE" ] || return 1
  [ "$STORE" = disk ] || mountpoint -q "$DATA" || return 1
  ns_exists $SW && ip link show $HOSTIF >/dev/null 2>&1 || return 1
  local pids=() p bad=0
  for n in $(seq 1 $K); do
    ns_exists $NAME$n || return 1
    ip -n $SW link show s$n 2>/dev/null | grep -q 'state UP' || return 1
  done
  for n in $(seq 1 $K); do server_ok $n & pids+=($!); done   # in parallel
  for p in "${pids[@]}"; do wait "$p" || bad=1; done
  return $bad
}

# The bed's skeleton (state, namespaces, links, keys, data store) is intact, so dead servers can just
# be booted again (keeps keys, bed.json and docker data valid for whoever is using the bed).
bed_repairable() {
  local n
  [ -f "$STATE" ] && [ -f "$TB/bed.json" ] && [ -f "$TB/client/id_ed25519" ] && [ -f "$TB/client/ssh_config" ] || return 1
  [ "$(state_k)" = "$K" ] || return 1
  [ "$(sed -n 's/^STORE=//p' "$STATE")" = "$STORE" ] || return 1
  [ "$STORE" = disk ] || mountpoint -q "$DATA" || return 1
  ns_exists $SW && ip link show $HOSTIF >/dev/null 2>&1 || return 1
  for n in $(seq 1 $K); do
    ns_exists $NAME$n && ip -n $SW link show s$n >/dev/null 2>&1 && [ -x "$TB/srv$n/init.sh" ] || return 1
  done
}

server_dead() {  # N: 0 if server N is really down (a live launcher gets 3 chances: it may just be busy)
  for _ in 1 2 3; do
    launcher_pid "$1" >/dev/null || return 0
    ip -n $SW link show s$1 2>/dev/null | grep -q 'state UP' || return 0
    server_ok "$1" && return 1
    sleep 1
  done
  return 0
}

repair() {  # boot again every server that is down; 1 if that did not work
  local n dead=()
  for n in $(seq 1 $K); do server_dead $n && dead+=("$n"); done
  [ ${#dead[@]} -gt 0 ] || return 0
  log "servers down: ${dead[*]/#/$NAME}; booting them again (keys and docker data kept)"
  for n in "${dead[@]}"; do
    server_kill $n; cgroups_rm $n
    ip -n $SW link set s$n up
    server_launch $n
  done
  wait_servers "${dead[@]}"
}

# Anything of a bed at this TB left around?
bed_traces() {
  local n
  [ -f "$STATE" ] && return 0
  compgen -G "$TB/srv*" >/dev/null && return 0
  [ -d "$TB/client" ] && return 0
  [ -d "$DATA" ] && return 0
  return 1
}

do_down() {  # $1 = force (also reap $SW/${NAME}N netns without a state record)
  local force=${1:-0} kmax=$K n m
  [ -n "$ENV_K" ] && [ "$ENV_K" -gt "$kmax" ] && kmax=$ENV_K
  for d in "$TB"/srv*; do [ -d "$d" ] || continue; n=${d##*/srv}; case "$n" in *[!0-9]*|'') ;; *) [ "$n" -gt "$kmax" ] && kmax=$n;; esac; done
  local owned=0; [ -f "$STATE" ] && owned=1
  if [ "$owned" = 0 ] && [ "$force" = 0 ] && ns_exists $SW; then
    log "netns $SW exists but $STATE does not: not touching namespaces (another bed? use 'down --force')"
  fi
  local nsl=()
  if [ "$owned" = 1 ] || [ "$force" = 1 ]; then
    for n in $(seq 1 $kmax); do nsl+=("$n"); done
    if [ "$force" = 1 ]; then   # any tbN netns at all
      for m in $(ip netns list 2>/dev/null | awk '{print $1}' | sed -n "s/^$NAME\([0-9][0-9]*\)\$/\1/p"); do
        [ "$m" -gt "$kmax" ] && nsl+=("$m"); done
    fi
    local t1; t1=$(now)
    for n in "${nsl[@]}"; do
      server_kill $n; cgroups_rm $n
      ! ns_exists $NAME$n || ip netns del $NAME$n 2>/dev/null || log "could not delete netns $NAME$n"
    done
    ! ns_exists $SW || ip netns del $SW 2>/dev/null || log "could not delete netns $SW"   # also destroys $HOSTIF
    ! ip link show $HOSTIF >/dev/null 2>&1 || ip link del $HOSTIF 2>/dev/null || true
    log "stopped servers and removed namespaces in $(dur "$t1")s"
  else
    for n in $(seq 1 $kmax); do [ -d "$TB/srv$n" ] && { server_kill $n; cgroups_rm $n; }; done
  fi
  if [ -e "$TB/.made-run-netns" ] && [ -d /run/netns ] && [ -z "$(ls -A /run/netns)" ]; then
    umount /run/netns 2>/dev/null || true; rmdir /run/netns 2>/dev/null || true
  fi
  rm -f "$TB/.made-run-netns"
  # the tmpfs of the docker data (servers are dead by now), then any mount leaked out of a
  # server's private mount namespace (would make rm fail)
  if [ -d "$TB" ]; then
    if mountpoint -q "$DATA"; then umount "$DATA" 2>/dev/null || umount -l "$DATA" || true; fi
    awk -v p="$TB/" 'index($5, p) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    local t1; t1=$(now)
    rm -rf "$TB"/srv* "$DATA" "$TB/client" "$TB/bed.json" "$TB/bed.json.tmp" "$TB"/.image.*.tar "$STATE"
    log "removed server files in $(dur "$t1")s"
  fi
}

do_up() {
  local n
  mkdir -p "$TB"
  for n in $SW $(seq -f "$NAME%g" 1 $K); do
    ns_exists $n && die "netns $n already exists and is not this bed's ($TB); is another test bed up? ('tb.sh down --force' removes it)"
  done
  ip link show $HOSTIF >/dev/null 2>&1 && die "link $HOSTIF already exists in the root namespace (another test bed?)"
  ip -4 -o addr show | awk '{print $4}' | grep -q "^${NET//./\\.}\\." && die "$NET.0/24 is already used by an interface in the root namespace (another test bed? choose another TB_NET)"
  for c in ip ssh sshd ssh-keygen dockerd nsenter unshare setsid flock; do command -v $c >/dev/null || die "missing command: $c"; done
  [ -x /usr/bin/tini ] || die "missing /usr/bin/tini (apt-get install tini)"
  [ -x $SRV_DOCKER_CLI ] || die "missing $SRV_DOCKER_CLI (apt-get install docker.io)"
  [ -d /etc/docker ] || mkdir -p /etc/docker   # bind-mount target inside the servers
  printf 'K=%s\nNAME=%s\nNET=%s\nSTORE=%s\nCREATED=%s\n' "$K" "$NAME" "$NET" "$STORE" "$(date -u +%FT%TZ)" > "$STATE"   # written first: from now on, `down` owns what exists
  mkdir -p "$DATA"; chmod 700 "$DATA"
  if [ "$STORE" = tmpfs ] && ! mountpoint -q "$DATA"; then mount -t tmpfs -o "size=$TMPFS_SIZE,mode=700" berth-$NAME "$DATA"; fi
  [ -d /run/netns ] || touch "$TB/.made-run-netns"   # `ip netns add` creates /run/netns as a bind mount
  net_up
  client_key
  for n in $(seq 1 $K); do server_net $n; server_files $n; done
  for n in $(seq 1 $K); do server_launch $n; done
  wait_servers $(seq 1 $K)
  write_bed_json
}

cmd=${1:-}
case "$cmd" in
  up)
    need_root; t0=$(now); lock
    [ -n "$ENV_K" ] && K=$ENV_K
    if bed_healthy; then
      log "bed at $TB already up and healthy (K=$K); nothing to do"
    elif bed_repairable && repair; then
      log "bed at $TB repaired (K=$K)"
    else
      if bed_traces; then log "bed at $TB is half-up or stale: cleaning first"; do_down 0; fi
      # (not `if ! do_up`: that would switch off `set -e` inside do_up)
      trap 'rc=$?; if [ $rc != 0 ]; then log "up failed (rc=$rc); cleaning"; do_down 0; fi' EXIT
      do_up
      trap - EXIT
      log "bed up: $(seq -f "$NAME%g" 1 $K | tr '\n' ' ')at $(for n in $(seq 1 $K); do printf '%s ' "$(ipof $n)"; done)"
      log "  ssh -F $TB/client/ssh_config ${NAME}1 docker version   |   eval \"\$(bash $0 env)\"   |   $TB/bed.json"
    fi
    log "up took $(dur "$t0")s" ;;
  down)
    need_root; t0=$(now); lock
    force=0; [ "${2:-}" = --force ] && force=1
    if ! bed_traces && ! { [ $force = 1 ] && { ns_exists $SW || ip netns list 2>/dev/null | grep -qE "^$NAME[0-9]+( |\$)"; }; }; then
      log "bed at $TB is already down"
    else
      do_down $force
      log "bed at $TB is down"
    fi
    log "down took $(dur "$t0")s" ;;
  crash)   # power loss: pull the cable first (peers get no FIN/RST, new connects time out), then kill everything
    need_root; check_n "${2:-}"; lock; [ -f "$STATE" ] || die "bed is not up"
    ip -n $SW link set s$2 down; server_kill $2; log "$NAME$2 crashed (link down, all processes killed)" ;;
  restore)
    need_root; check_n "${2:-}"; lock; [ -f "$STATE" ] || die "bed is not up"
    t0=$(now)
    if ip -n $SW link show s$2 2>/dev/null | grep -q 'state UP' && server_ok $2; then
      log "$NAME$2 is already running"
    else
      server_kill $2; cgroups_rm $2
      ip -n $SW link set s$2 up
      server_launch $2
      wait_servers $2 || die "$NAME$2 did not come back"
      log "$NAME$2 restored in $(dur "$t0")s"
    fi ;;
  status)
    if [ ! -f "$STATE" ]; then echo "bed $TB: down"; exit 1; fi
    bad=0
    for n in $(seq 1 $K); do
      link=$(ip -n $SW link show s$n 2>/dev/null | grep -q 'state UP' && echo up || echo down)
      lp=$(launcher_pid $n || echo -)
      if server_ok $n; then h=healthy; else h=DOWN; bad=1; fi
      [ "$link" = up ] || { h=DOWN; bad=1; }
      printf '%s%s %s link=%s launcher=%s pids=%s %s\n' "$NAME" $n "$(ipof $n)" "$link" "$lp" \
        "$( (ip netns pids $NAME$n 2>/dev/null || true) | wc -l)" "$h"
    done
    if [ $bad = 0 ]; then echo "bed $TB: up (K=$K)"; else echo "bed $TB: degraded (K=$K)"; exit 1; fi ;;
  env)
    [ -f "$STATE" ] || log "note: bed at $TB is not up (paths printed anyway)"
    print_env ;;
  load-image)
    need_root; img=${2:-}; [ -n "$img" ] || die "usage: $0 load-image IMAGE"
    [ -f "$STATE" ] || die "bed is not up"; lock; t0=$(now)
    id=$(docker image inspect -f '{{.Id}}' "$img" 2>/dev/null) || die "image $img not found in the local docker"
    todo=()
    for n in $(seq 1 $K); do
      sid=$(SSH $NAME$n docker image inspect -f '{{.Id}}' "$img" 2>/dev/null || true)
      if [ "$sid" = "$id" ]; then log "$NAME$n already has $img ($id)"; else todo+=("$n"); fi
    done
    if [ ${#todo[@]} -gt 0 ]; then
      tmpdir=$TB; mountpoint -q "$DATA" && tmpdir=$DATA   # on the tmpfs when there is one
      tmp=$(mktemp "$tmpdir/.image.XXXXXX.tar"); trap 'rm -f "$tmp"' EXIT
      docker save "$img" > "$tmp"
      log "saved $img ($(du -h "$tmp" | cut -f1)); loading into: ${todo[*]/#/$NAME}"
      pids=()
      for n in "${todo[@]}"; do ( timeout 900 ssh -F "$TB/client/ssh_config" -o BatchMode=yes $NAME$n docker load < "$tmp" >/dev/null ) & pids+=($!); done
      rc=0; for p in "${pids[@]}"; do wait "$p" || rc=1; done
      for n in "${todo[@]}"; do
        sid=$(SSH $NAME$n docker image inspect -f '{{.Id}}' "$img" 2>/dev/null || true)
        [ "$sid" = "$id" ] || { log "$NAME$n: load of $img failed (got '${sid:-nothing}')"; rc=1; }
      done
      [ $rc = 0 ] || die "load-image failed"
    fi
    log "load-image $img done in $(dur "$t0")s" ;;
  *) echo "usage: $0 up | down [--force] | crash N | restore N | status | env | load-image IMAGE" >&2; exit 2 ;;
esac
