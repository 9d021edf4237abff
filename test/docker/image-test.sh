#!/usr/bin/env bash
# The drop-in image, proven with a real Docker engine and real --link.
#
#   sudo bash test/docker/image-test.sh          (from anywhere; needs root, as CI and dev machines have)
#
# What it does, from nothing:
#   1. installs what is missing from Debian (docker.io, debootstrap, docker-compose, iptables, curl),
#      with --no-install-recommends and services kept from starting;
#   2. starts its own dockerd: own --data-root/--exec-root/unix socket/pidfile under a temp dir,
#      its own bridge, --iptables=false --ip-forward=false --ip-masq=false, so the host's firewall
#      and sysctls are left as found (links on one bridge need neither);
#   3. builds stand-ins for the base images no registry can give us here: a Debian bookworm minbase
#      rootfs (debootstrap from the mirror apt uses; cached as a tarball under /var/cache) imported,
#      plus this machine's node + npm + CA bundle as node:20-bookworm-slim, plus Debian's
#      redis-server/redis-tools as redis:7-bookworm (the server and the base of docker/redis-cli);
#   4. builds the ambassador exactly as documented: `docker build -f docker/Dockerfile .` from the
#      repository root (--network host, so that npm ci reaches the registry), and docker/redis-cli
#      tagged relateiq/redis-cli;
#   5. runs the seed's three `docker run` lines with real --link, two ambassadors chained,
#      drives start.sh (args form and stdin form), checks both /metrics, /healthz, /readyz,
#      JSON logs, the HEALTHCHECK, exit code 2 on bad config, a port below 1024 as non-root,
#      `docker stop` (exit 0 within a second); then the same topology secured: the remote side
#      dials the server side over mutual TLS (certificates made with openssl), start.sh unchanged,
#      peers without a client certificate refused and counted, the server certificate rotated
#      with `docker kill -s HUP` and no restart;
#   6. validates docker/compose.yaml with Debian's docker-compose and brings its core services up
#      (redis, both ambassadors, the load generator) to see live counts through the chain;
#   7. cleans up (trap): containers, networks, dockerd, containerd, mounts, the bridge, temp dirs,
#      and checks that no iptables rule or sysctl changed.
#
# Traffic goes only to loopback and to the containers this script made (and, for the builds, to
# the package registries the host already uses).
#
# Environment knobs:
#   RA_IMAGE_TEST_CACHE   where the minbase tarball is cached (default /var/cache/redis-ambassador-image-test;
#                         empty: no cache)
#   RA_IMAGE_TEST_SUBNET  /24 prefix of the test bridge (default 172.30.213)
#
# Prints PASS:/FAIL: lines and a closing "image: N passed, N failed"; exits non-zero on any failure.

set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
T_START=$(date +%s%N)
PASSED=0
FAILED=0
CACHE_DIR=${RA_IMAGE_TEST_CACHE-/var/cache/redis-ambassador-image-test}
SUBNET=${RA_IMAGE_TEST_SUBNET:-172.30.213}
IMG=redis-ambassador:image-test
CLI_IMG=relateiq/redis-cli
COMPOSE_PROJECT=raimgtest
D=/usr/bin/docker # the Debian client that matches the Debian daemon (not whatever docker is first on PATH)

WORK=""
DOCKERD_PID=""
BR=""
BR_CREATED=0
COMPOSE_UP=0
POLICY_RC_ADDED=0
ETC_DOCKER_KEY_EXISTED=1
RUN_DOCKER_EXISTED=1
FW_BEFORE=""

export NO_PROXY='*' no_proxy='*'

# ---------------------------------------------------------------- output helpers
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
secs() { awk -v ms="$1" 'BEGIN { printf "%.1f", ms / 1000 }'; }
step() { echo "== $* (t=$(secs "$(ms_since "$T_START")")s)"; }
pass() { PASSED=$((PASSED + 1)); echo "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*"; }
info() { echo "      $*"; }
# fatal: the rest cannot run; the EXIT trap cleans up and prints the summary
fatal() { fail "$*"; exit 1; }
show_tail() { [ -f "$1" ] && tail -n "${2:-40}" "$1" | sed 's/^/      | /'; }
# check DESC CMD...: PASS/FAIL on CMD's exit status
check() {
  local desc=$1
  shift
  if "$@"; then pass "$desc"; else fail "$desc"; fi
}

dk() { "$D" "$@"; }

# ---------------------------------------------------------------- host state (to leave as found)
firewall_state() {
  local t
  for t in iptables-save ip6tables-save; do
    command -v "$t" > /dev/null 2>&1 || continue
    echo "## $t"
    "$t" 2> /dev/null | grep -v '^#' | sed -E 's/\[[0-9]+:[0-9]+\]//g'
  done
  echo "## sysctl"
  for f in /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/forwarding \
    /proc/sys/net/bridge/bridge-nf-call-iptables /proc/sys/net/bridge/bridge-nf-call-ip6tables; do
    [ -r "$f" ] && echo "$f=$(cat "$f")"
  done
}

# ---------------------------------------------------------------- cleanup (EXIT trap)
cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  echo "== cleanup (t=$(secs "$(ms_since "$T_START")")s)"
  if [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2> /dev/null; then
    if [ "$COMPOSE_UP" = 1 ]; then
      (cd "$ROOT" && docker-compose -p "$COMPOSE_PROJECT" -f docker/compose.yaml down -t 3 > "$WORK/compose-down.log" 2>&1)
    fi
    local ids
    ids=$(dk ps -aq 2> /dev/null)
    [ -n "$ids" ] && dk rm -f $ids > /dev/null 2>&1
    ids=$(dk network ls -q --filter type=custom 2> /dev/null)
    [ -n "$ids" ] && dk network rm $ids > /dev/null 2>&1
    info "containers and networks removed (t=$(secs "$(ms_since "$T_START")")s)"
    kill -TERM "$DOCKERD_PID" 2> /dev/null
    local i
    for i in $(seq 1 150); do kill -0 "$DOCKERD_PID" 2> /dev/null || break; sleep 0.2; done
    kill -0 "$DOCKERD_PID" 2> /dev/null && kill -KILL "$DOCKERD_PID" 2> /dev/null
    wait "$DOCKERD_PID" 2> /dev/null
    info "dockerd stopped (t=$(secs "$(ms_since "$T_START")")s)"
  fi
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    # containerd / shims started by our dockerd carry our temp dir in their command line: end those, by pid
    local pids
    pids=$(pgrep -f -- "$WORK" | grep -vx "$$" | tr '\n' ' ')
    if [ -n "$pids" ]; then
      info "ending leftover processes of this run: $(echo $pids)"
      kill -TERM $pids 2> /dev/null; sleep 1; kill -KILL $pids 2> /dev/null
    fi
    # unmount anything left under the temp dir, deepest first, then remove it
    awk -v w="$WORK" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2> /dev/null; done
  fi
  if [ "$BR_CREATED" = 1 ] && ip link show "$BR" > /dev/null 2>&1; then ip link del "$BR"; fi
  [ "$ETC_DOCKER_KEY_EXISTED" = 0 ] && rm -f /etc/docker/key.json
  [ "$RUN_DOCKER_EXISTED" = 0 ] && rm -rf /run/docker
  [ "$POLICY_RC_ADDED" = 1 ] && rm -f /usr/sbin/policy-rc.d

  # what must be left behind: nothing
  if [ -n "$DOCKERD_PID" ]; then
    if kill -0 "$DOCKERD_PID" 2> /dev/null; then fail "cleanup: dockerd ($DOCKERD_PID) still running"; else pass "cleanup: our dockerd is stopped"; fi
  fi
  if [ -n "$BR" ]; then
    if ip link show "$BR" > /dev/null 2>&1; then fail "cleanup: bridge $BR still exists"; else pass "cleanup: bridge $BR removed"; fi
    local leftovers
    leftovers=$(ip -o link show type bridge 2> /dev/null | awk -F': ' '{print $2}' | grep -E '^(br-[0-9a-f]{12}|docker0)$' | grep -vxF -f "$WORK/links-before" 2> /dev/null)
    if [ -n "$leftovers" ]; then fail "cleanup: docker bridges left behind: $leftovers"; else pass "cleanup: no docker bridge (docker0/br-*) left behind"; fi
  fi
  if [ -n "$FW_BEFORE" ]; then
    local fw_after
    fw_after=$(firewall_state)
    if [ "$fw_after" = "$FW_BEFORE" ]; then
      pass "cleanup: iptables rules and forwarding sysctls are as found"
    else
      fail "cleanup: firewall/sysctl state changed:"
      diff <(echo "$FW_BEFORE") <(echo "$fw_after") | sed 's/^/      | /'
    fi
  fi
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    if awk -v w="$WORK" 'index($2, w) == 1 { f = 1 } END { exit !f }' /proc/mounts; then
      fail "cleanup: mounts still under $WORK; not removing it"
    else
      rm -rf --one-file-system "$WORK"
      info "temp dir removed (t=$(secs "$(ms_since "$T_START")")s)"
      if [ -d "$WORK" ]; then fail "cleanup: could not remove $WORK"; else pass "cleanup: temp dir removed"; fi
    fi
  fi

  local total_ms
  total_ms=$(ms_since "$T_START")
  echo "image test took $(secs "$total_ms")s"
  echo "image: $PASSED passed, $FAILED failed"
  if [ "$FAILED" -gt 0 ] || [ "$rc" -ne 0 ]; then exit 1; fi
  exit 0
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 130' INT
trap 'echo "terminated"; exit 143' TERM

# ================================================================= 1. packages
step "packages"
[ "$(id -u)" = 0 ] || fatal "must run as root (it installs packages and starts dockerd)"
need=()
{ command -v dockerd > /dev/null && [ -x /usr/bin/docker ] && command -v containerd > /dev/null && command -v runc > /dev/null; } || need+=(docker.io)
command -v debootstrap > /dev/null || need+=(debootstrap)
[ -r /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)
command -v docker-compose > /dev/null || need+=(docker-compose)
command -v iptables-save > /dev/null || need+=(iptables)
command -v curl > /dev/null || need+=(curl)
command -v openssl > /dev/null || need+=(openssl)
command -v ip > /dev/null || need+=(iproute2)
command -v pgrep > /dev/null || need+=(procps)
command -v node > /dev/null || fatal "node is not on PATH (it is copied into the node:20-bookworm-slim stand-in)"
if [ "${#need[@]}" -gt 0 ]; then
  info "installing: ${need[*]}"
  # keep the packages' init scripts from starting a system dockerd (with its own iptables rules)
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && POLICY_RC_ADDED=1
  fi
  t=$(date +%s%N)
  apt-get update -qq > /tmp/ra-image-test-apt.log 2>&1 &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >> /tmp/ra-image-test-apt.log 2>&1 ||
    { show_tail /tmp/ra-image-test-apt.log; fatal "apt-get install ${need[*]}"; }
  rm -f /tmp/ra-image-test-apt.log
  [ "$POLICY_RC_ADDED" = 1 ] && rm -f /usr/sbin/policy-rc.d && POLICY_RC_ADDED=0
  pass "installed ${need[*]} in $(secs "$(ms_since "$t")")s"
else
  pass "docker.io, debootstrap, docker-compose, iptables, curl already installed"
fi
info "$("$D" --version 2> /dev/null); $(docker-compose --version 2> /dev/null); node $(node --version)"
case "$(node --version)" in v20.*) ;; *) info "note: host node is $(node --version), the stand-in for node:20-bookworm-slim carries it anyway" ;; esac

# ================================================================= 2. our own dockerd
step "dockerd"
WORK=$(mktemp -d /tmp/ra-image-test.XXXXXX)
ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' > "$WORK/links-before"
FW_BEFORE=$(firewall_state)
[ -e /etc/docker/key.json ] || ETC_DOCKER_KEY_EXISTED=0
[ -e /run/docker ] || RUN_DOCKER_EXISTED=0

BR="ra${WORK##*.}" # e.g. raAb12Cd: one per run, ours to delete
BR=${BR:0:15}
# a bridge left by an earlier run of this script that was killed outright (named ra + 6 characters,
# holding our subnet, nothing attached) is ours to remove
stale=$(ip -o -4 addr show | awk -v p=" ${SUBNET}." 'index($0, p) { print $2 }' | sort -u)
for b in $stale; do
  if [[ "$b" =~ ^ra[A-Za-z0-9]{6}$ ]] && ip -d link show "$b" 2> /dev/null | grep -q 'bridge ' &&
    [ -z "$(ip -o link show master "$b" 2> /dev/null)" ]; then
    info "removing bridge $b left by an earlier, killed run"
    ip link del "$b"
  fi
done
if ip -4 addr show | grep -qF " ${SUBNET}." || ip -4 route show | grep -qF "${SUBNET}."; then
  fatal "subnet ${SUBNET}.0/24 is already in use on this host; set RA_IMAGE_TEST_SUBNET to a free /24 prefix"
fi
ip link add "$BR" type bridge && BR_CREATED=1 &&
  ip addr add "${SUBNET}.1/24" dev "$BR" && ip link set "$BR" up || fatal "creating bridge $BR"
echo '{}' > "$WORK/daemon.json"
export DOCKER_HOST="unix://$WORK/docker.sock"
dockerd \
  --config-file "$WORK/daemon.json" \
  --data-root "$WORK/data" \
  --exec-root "$WORK/exec" \
  --pidfile "$WORK/dockerd.pid" \
  -H "$DOCKER_HOST" \
  --bridge "$BR" \
  --iptables=false --ip-forward=false --ip-masq=false \
  --storage-driver overlay2 \
  > "$WORK/dockerd.log" 2>&1 &
DOCKERD_PID=$!
t=$(date +%s%N)
for _ in $(seq 1 120); do
  dk version > /dev/null 2>&1 && break
  kill -0 "$DOCKERD_PID" 2> /dev/null || break
  sleep 0.5
done
dk version > /dev/null 2>&1 || { show_tail "$WORK/dockerd.log"; fatal "dockerd did not come up"; }
pass "dockerd $(dk version -f '{{.Server.Version}}') up in $(secs "$(ms_since "$t")")s (pid $DOCKERD_PID, bridge $BR ${SUBNET}.0/24, iptables off)"

# ================================================================= 3. stand-in base images
step "stand-in base images"
apt_mirror() {
  local m=""
  m=$(awk '
    /^[[:space:]]*$/ { u = ""; s = 0 }
    /^URIs:/ { u = $2 }
    /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") s = 1 }
    u != "" && s { print u; exit }' /etc/apt/sources.list.d/*.sources 2> /dev/null)
  if [ -z "$m" ]; then
    m=$(grep -hE '^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+[[:space:]]+bookworm[[:space:]]' \
      /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2> /dev/null | head -n 1 |
      sed -E 's/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/')
  fi
  echo "${m:-http://deb.debian.org/debian}"
}
BASE_TAR=""
if [ -n "$CACHE_DIR" ] && [ -s "$CACHE_DIR/debian-bookworm-minbase.tar" ]; then
  BASE_TAR="$CACHE_DIR/debian-bookworm-minbase.tar"
  info "minbase rootfs from cache: $BASE_TAR"
else
  MIRROR=$(apt_mirror)
  t=$(date +%s%N)
  debootstrap --variant=minbase bookworm "$WORK/rootfs" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 ||
    { show_tail "$WORK/debootstrap.log"; fatal "debootstrap --variant=minbase bookworm from $MIRROR"; }
  rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"*
  # as in Debian's official images: packages installed in a build never start services
  printf '#!/bin/sh\nexit 101\n' > "$WORK/rootfs/usr/sbin/policy-rc.d"
  chmod 755 "$WORK/rootfs/usr/sbin/policy-rc.d"
  tar -C "$WORK/rootfs" -cf "$WORK/base.tar" . || fatal "tar of the minbase rootfs"
  rm -rf --one-file-system "$WORK/rootfs"
  BASE_TAR="$WORK/base.tar"
  pass "debootstrap --variant=minbase bookworm from $MIRROR in $(secs "$(ms_since "$t")")s"
  if [ -n "$CACHE_DIR" ] && mkdir -p "$CACHE_DIR" && cp "$BASE_TAR" "$CACHE_DIR/debian-bookworm-minbase.tar.tmp.$$"; then
    mv "$CACHE_DIR/debian-bookworm-minbase.tar.tmp.$$" "$CACHE_DIR/debian-bookworm-minbase.tar"
    info "cached as $CACHE_DIR/debian-bookworm-minbase.tar"
  fi
fi
dk import \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'CMD ["bash"]' \
  "$BASE_TAR" ra-standin/debian:bookworm-minbase > /dev/null || fatal "docker import of the minbase rootfs"

# node:20-bookworm-slim stand-in: this machine's node, npm, CA bundle and registry setting
NODE_BIN=$(readlink -f "$(command -v node)")
NPM_ROOT=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
CAFILE=$(npm config get cafile 2> /dev/null)
{ [ -n "$CAFILE" ] && [ "$CAFILE" != null ] && [ -r "$CAFILE" ]; } || CAFILE=/etc/ssl/certs/ca-certificates.crt
ctx="$WORK/standin-node"
mkdir -p "$ctx"
cp "$NODE_BIN" "$ctx/node" && cp -a "$NPM_ROOT" "$ctx/npm" && cp "$CAFILE" "$ctx/ca-certificates.crt" ||
  fatal "collecting node/npm/CA bundle for the node stand-in"
{
  echo "cafile=/etc/ssl/certs/ca-certificates.crt"
  echo "registry=$(npm config get registry)"
  for k in proxy https-proxy noproxy; do
    v=$(npm config get "$k" 2> /dev/null)
    [ -n "$v" ] && [ "$v" != null ] && echo "$k=$v"
  done
} > "$ctx/npmrc"
cp "$ROOT/test/docker/standins/node.Dockerfile" "$ctx/Dockerfile"
t=$(date +%s%N)
DOCKER_BUILDKIT=1 dk build --progress=plain --network host -t node:20-bookworm-slim "$ctx" > "$WORK/build-node.log" 2>&1 ||
  { show_tail "$WORK/build-node.log"; fatal "building the node:20-bookworm-slim stand-in"; }
rm -rf "$ctx"
pass "stand-in node:20-bookworm-slim (host node $(node --version), npm $(npm --version)) in $(secs "$(ms_since "$t")")s"

ctx="$WORK/standin-redis"
mkdir -p "$ctx"
cp "$ROOT/test/docker/standins/redis.Dockerfile" "$ctx/Dockerfile"
t=$(date +%s%N)
DOCKER_BUILDKIT=1 dk build --progress=plain --network host -t redis:7-bookworm "$ctx" > "$WORK/build-redis.log" 2>&1 ||
  { show_tail "$WORK/build-redis.log"; fatal "building the redis:7-bookworm stand-in"; }
pass "stand-in redis:7-bookworm (Debian redis-server/redis-tools) in $(secs "$(ms_since "$t")")s"

# ================================================================= 4. the images under test
step "docker build -f docker/Dockerfile ."
t=$(date +%s%N)
(cd "$ROOT" && DOCKER_BUILDKIT=1 dk build --progress=plain --network host \
  --build-arg REVISION="$(git -C "$ROOT" rev-parse HEAD 2> /dev/null || echo unknown)" \
  --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  -f docker/Dockerfile -t "$IMG" .) > "$WORK/build-ambassador.log" 2>&1 ||
  { show_tail "$WORK/build-ambassador.log" 60; fatal "docker build -f docker/Dockerfile ."; }
pass "docker build -f docker/Dockerfile . in $(secs "$(ms_since "$t")")s ($(dk image inspect -f '{{.Size}}' "$IMG" | awk '{printf "%.0f MB", $1/1e6}'))"

t=$(date +%s%N)
DOCKER_BUILDKIT=1 dk build --progress=plain -t "$CLI_IMG" "$ROOT/docker/redis-cli" > "$WORK/build-cli.log" 2>&1 ||
  { show_tail "$WORK/build-cli.log"; fatal "docker build docker/redis-cli"; }
pass "docker build -t relateiq/redis-cli docker/redis-cli in $(secs "$(ms_since "$t")")s"

step "image metadata"
icfg() { dk image inspect -f "$1" "$IMG"; }
check "image runs as a non-root user ($(icfg '{{.Config.User}}'))" \
  bash -c '[ -n "$1" ] && [ "$1" != root ] && [ "$1" != 0 ]' _ "$(icfg '{{.Config.User}}')"
check "image EXPOSEs 6379 and 9736 ($(icfg '{{range $p, $_ := .Config.ExposedPorts}}{{$p}} {{end}}'))" \
  bash -c '[[ "$1" == *"6379/tcp"* && "$1" == *"9736/tcp"* ]]' _ "$(icfg '{{range $p, $_ := .Config.ExposedPorts}}{{$p}} {{end}}')"
check "image has a HEALTHCHECK ($(icfg '{{if .Config.Healthcheck}}{{json .Config.Healthcheck.Test}}{{end}}'))" \
  bash -c '[[ "$1" == *healthcheck* ]]' _ "$(icfg '{{if .Config.Healthcheck}}{{json .Config.Healthcheck.Test}}{{end}}')"
check "entrypoint is exec-form node, PID 1 ($(icfg '{{json .Config.Entrypoint}} {{json .Config.Cmd}}'))" \
  bash -c '[[ "$1" == "[\"node\","* && "$1" != *"/bin/sh"* && "$1" != *npm* ]]' _ "$(icfg '{{json .Config.Entrypoint}} {{json .Config.Cmd}}')"
check "OCI labels (title, version, revision)" \
  bash -c '[[ "$1" == *org.opencontainers.image.title* && "$1" == *org.opencontainers.image.version* && "$1" == *org.opencontainers.image.revision* ]]' _ "$(icfg '{{json .Config.Labels}}')"
DEPS=$(cd "$ROOT" && node -p "Object.keys(require('./package.json').dependencies||{}).join(' ')")
DEVDEPS=$(cd "$ROOT" && node -p "Object.keys(require('./package.json').devDependencies||{}).join(' ')")
check "runtime has dist/cli.js and the dependencies ($DEPS), none of the devDependencies, no src/" \
  dk run --rm --network none --entrypoint /bin/sh "$IMG" -c '
    cd /app && test -f dist/cli.js && test ! -e src || exit 1
    for d in $1; do test -d "node_modules/$d" || { echo "missing $d"; exit 1; }; done
    for d in $2; do test ! -e "node_modules/$d" || { echo "dev dependency in image: $d"; exit 1; }; done' _ "$DEPS" "$DEVDEPS"

# ================================================================= 5. the seed's docker run lines
step "seed topology with --link: consumer -> remote ambassador -> server ambassador -> redis"
cip() { dk inspect -f '{{.NetworkSettings.IPAddress}}' "$1"; }
http() { curl -sS --noproxy '*' --max-time 5 "$@"; }
# wait_http URL: until it answers 200 (30 s)
wait_http() {
  local i
  for i in $(seq 1 60); do
    [ "$(http -o /dev/null -w '%{http_code}' "$1" 2> /dev/null)" = 200 ] && return 0
    sleep 0.5
  done
  return 1
}
# metric URL LISTENER CMD: sum of redis_ambassador_commands_total{listener=LISTENER,cmd=CMD}
metric() {
  http "$1" 2> /dev/null | awk -v l="listener=\"$2\"" -v c="cmd=\"$3\"" '
    /^redis_ambassador_commands_total\{/ && index($0, l) && index($0, c) { s += $NF }
    END { print s + 0 }'
}
ge() { [ "$1" -ge "$2" ] 2> /dev/null; }

dk run -d --name redis redis:7-bookworm > /dev/null 2> "$WORK/run.err" || { cat "$WORK/run.err"; fatal "docker run redis"; }
REDIS_IP=$(cip redis)

# server side, as in the seed: docker run -d --link redis:redis --name redis_ambassador -p 6379:6379 IMAGE
# (one engine plays both hosts here, so this one is named redis_ambassador_server; it is published on
#  a free loopback port rather than the host's 0.0.0.0:6379)
dk run -d --link redis:redis --name redis_ambassador_server -p 127.0.0.1::6379 "$IMG" > /dev/null 2> "$WORK/run.err" ||
  { cat "$WORK/run.err"; fatal "docker run (server side)"; }
SERVER_IP=$(cip redis_ambassador_server)
HOST_PORT=$(dk port redis_ambassador_server 6379/tcp | head -n 1 | sed 's/.*://')
info "redis $REDIS_IP, server-side ambassador $SERVER_IP (published 127.0.0.1:$HOST_PORT)"
check "server-side ambassador (--link redis:redis) serves /healthz" wait_http "http://$SERVER_IP:9736/healthz"

# remote side, as in the seed, pointed at the server side's address
dk run -d --name redis_ambassador --expose 6379 -e REDIS_PORT_6379_TCP="tcp://$SERVER_IP:6379" "$IMG" > /dev/null 2> "$WORK/run.err" ||
  { cat "$WORK/run.err"; fatal "docker run (remote side)"; }
REMOTE_IP=$(cip redis_ambassador)
info "remote-side ambassador $REMOTE_IP -> tcp://$SERVER_IP:6379"
check "remote-side ambassador (-e REDIS_PORT_6379_TCP=tcp://$SERVER_IP:6379) serves /healthz" wait_http "http://$REMOTE_IP:9736/healthz"
check "/healthz body is ok" bash -c '[ "$(curl -sS --noproxy "*" --max-time 5 "$1")" = ok ]' _ "http://$REMOTE_IP:9736/healthz"

# consumer: docker run -i -t --rm --link redis_ambassador:redis relateiq/redis-cli
# (no -t: there is no terminal here; -i feeds start.sh's REPL from stdin)
consumer() { dk run -i --rm --link redis_ambassador:redis "$CLI_IMG" "$@" 2> "$WORK/consumer.err"; }
out=$(consumer -h redis -p 6379 SET k v < /dev/null)
check "start.sh SET k v through both ambassadors -> OK (got: $out)" [ "$out" = OK ]
out=$(consumer -h redis GET k < /dev/null)
check "start.sh GET k -> v (got: $out)" [ "$out" = v ]
out=$(printf 'SET k2 v2\nGET k2\nGET k\nPING\n' | consumer | tr '\n' ' ')
check "start.sh without arguments (REDIS_PORT_6379_TCP_ADDR/_PORT from the link, commands on stdin) -> OK v2 v PONG (got: $out)" \
  [ "$out" = "OK v2 v PONG " ]
out=$(dk exec redis redis-cli GET k2 2> /dev/null)
check "the value landed in the real redis behind the chain (GET k2 on redis -> $out)" [ "$out" = v2 ]
out=$(dk run --rm --network host "$CLI_IMG" -h 127.0.0.1 -p "$HOST_PORT" GET k 2> /dev/null < /dev/null)
check "server side's published port (-p) from the host's loopback: GET k -> $out" [ "$out" = v ]

step "metrics, readiness, logs"
R_SET=$(metric "http://$REMOTE_IP:9736/metrics" redis:6379 set)
R_GET=$(metric "http://$REMOTE_IP:9736/metrics" redis:6379 get)
S_SET=$(metric "http://$SERVER_IP:9736/metrics" redis:6379 set)
S_GET=$(metric "http://$SERVER_IP:9736/metrics" redis:6379 get)
check "remote ambassador /metrics counted the consumer's commands: set=$R_SET (>=2) get=$R_GET (>=3) on listener redis:6379" \
  bash -c '[ "$1" -ge 2 ] && [ "$2" -ge 3 ]' _ "$R_SET" "$R_GET"
check "server ambassador /metrics counted them too: set=$S_SET (>=2) get=$S_GET (>=4, incl. the published-port GET)" \
  bash -c '[ "$1" -ge 2 ] && [ "$2" -ge 4 ]' _ "$S_SET" "$S_GET"
if [ "$R_SET" = 0 ] || [ "$S_SET" = 0 ]; then
  info "remote /metrics, lines with redis_ambassador_commands_total:"
  http "http://$REMOTE_IP:9736/metrics" | grep redis_ambassador_commands_total | head -n 10 | sed 's/^/      | /'
fi
check "server ambassador /readyz is 200 while redis answers" \
  bash -c '[ "$(curl -sS --noproxy "*" --max-time 5 -o /dev/null -w "%{http_code}" "$1")" = 200 ]' _ "http://$SERVER_IP:9736/readyz"
check "remote ambassador /readyz is 200 through the chain" \
  bash -c '[ "$(curl -sS --noproxy "*" --max-time 5 -o /dev/null -w "%{http_code}" "$1")" = 200 ]' _ "http://$REMOTE_IP:9736/readyz"
dk logs redis_ambassador_server > "$WORK/server.stdout" 2> "$WORK/server.stderr"
check "ambassador logs JSON lines on stdout ($(grep -c . "$WORK/server.stdout") lines)" \
  node -e '
    const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean);
    if (lines.length === 0) process.exit(1);
    for (const l of lines) { try { JSON.parse(l); } catch { console.log("      not JSON: " + l); process.exit(1); } }' "$WORK/server.stdout"

step "HEALTHCHECK"
wait_healthy() {
  local i s=""
  for i in $(seq 1 60); do
    s=$(dk inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$1")
    [ "$s" = healthy ] && return 0
    [ "$s" = unhealthy ] && break
    sleep 1
  done
  dk inspect -f '{{json .State.Health}}' "$1" | sed 's/^/      | /'
  return 1
}
t=$(date +%s%N)
check "server-side ambassador's HEALTHCHECK turns healthy" wait_healthy redis_ambassador_server
check "remote-side ambassador's HEALTHCHECK turns healthy ($(secs "$(ms_since "$t")")s)" wait_healthy redis_ambassador

step "configuration errors, privileged ports"
dk run --rm "$IMG" > "$WORK/noenv.out" 2>&1
rc=$?
check "no *_PORT_*_TCP variable at all -> exit code 2 (got $rc)" [ "$rc" = 2 ]
dk run --rm -e REDIS_PORT_6379_TCP=tcp://:6379 "$IMG" > "$WORK/badenv.out" 2>&1
rc=$?
check "REDIS_PORT_6379_TCP=tcp://:6379 (empty host) -> exit code 2 naming the variable (got $rc)" \
  bash -c '[ "$1" = 2 ] && grep -q REDIS_PORT_6379_TCP "$2"' _ "$rc" "$WORK/badenv.out"
[ "$rc" = 2 ] || show_tail "$WORK/badenv.out" 5
dk run -d --name ra_lowport -e WEB_PORT_80_TCP="tcp://$REDIS_IP:6379" "$IMG" > /dev/null 2>&1
wait_http "http://$(cip ra_lowport):9736/healthz"
out=$(dk run --rm --link ra_lowport:web "$CLI_IMG" -h web -p 80 PING 2> /dev/null < /dev/null)
check "a listener on port 80 works as the non-root user (WEB_PORT_80_TCP, PING -> $out)" [ "$out" = PONG ]
dk rm -f ra_lowport > /dev/null 2>&1

step "docker stop"
# stop_check NAME WHAT: `docker stop NAME` (10 s grace, so a missed SIGTERM shows as ~10 s and exit 137);
# passes when the container exited with code 0 within 1 s of the stop (its own exit time, from the
# engine's State.FinishedAt); the wall time of the whole `docker stop` call is shown beside it
stop_check() {
  local t0 wall fin exit_ms code
  t0=$(date +%s%N)
  dk stop "$1" > /dev/null 2>&1
  wall=$(ms_since "$t0")
  code=$(dk inspect -f '{{.State.ExitCode}}' "$1")
  fin=$(date -d "$(dk inspect -f '{{.State.FinishedAt}}' "$1")" +%s%N 2> /dev/null || echo 0)
  exit_ms=$(((fin - t0) / 1000000))
  if [ "$code" = 0 ] && [ "$fin" -gt 0 ] && [ "$exit_ms" -le 1000 ]; then
    pass "docker stop of $2: exit code 0, exited ${exit_ms} ms after the stop (docker stop took ${wall} ms)"
  else
    fail "docker stop of $2: exit code $code (want 0), exited ${exit_ms} ms after the stop (want <= 1000; docker stop took ${wall} ms)"
    dk logs "$1" 2>&1 | tail -n 3 | sed 's/^/      | /'
  fi
}
# a consumer holding an idle connection to the remote ambassador while it stops
dk run -d -i --name ra_idle_client --link redis_ambassador:redis "$CLI_IMG" > /dev/null 2>&1
sleep 1
stop_check redis_ambassador "the remote ambassador with an idle client connected"
dk rm -f ra_idle_client > /dev/null 2>&1

dk stop -t 2 redis > /dev/null 2>&1
ok=1
for _ in $(seq 1 30); do
  [ "$(http -o /dev/null -w '%{http_code}' "http://$SERVER_IP:9736/readyz" 2> /dev/null)" = 503 ] && { ok=0; break; }
  sleep 0.5
done
check "server ambassador /readyz turns 503 when redis is gone" [ "$ok" = 0 ]
check "... while /healthz stays 200" \
  bash -c '[ "$(curl -sS --noproxy "*" --max-time 5 -o /dev/null -w "%{http_code}" "$1")" = 200 ]' _ "http://$SERVER_IP:9736/healthz"
stop_check redis_ambassador_server "the server ambassador (upstream gone, no client)"
dk rm -f redis redis_ambassador redis_ambassador_server > /dev/null 2>&1

# ================================================================= 5b. the seed topology, secured
step "seed topology over mutual TLS: the remote side dials the server side with its client certificate"
# certificates made here with openssl, as the README shows; the image runs as uid 1000, which must read the keys
TLS_DIR="$WORK/tls"
mkdir -p "$TLS_DIR/ca" "$TLS_DIR/server" "$TLS_DIR/remote"
ossl() { openssl "$@" > "$WORK/openssl.log" 2>&1 || { show_tail "$WORK/openssl.log"; fatal "openssl $1"; }; }
EC=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
ossl req -x509 "${EC[@]}" -days 2 -keyout "$TLS_DIR/ca/ca.key" -out "$TLS_DIR/ca/ca.crt" -subj '/CN=image-test CA' \
  -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign'
# issue NAME DIR SERIAL EXTENSIONS: a key and a certificate signed by the CA
issue() {
  ossl req "${EC[@]}" -keyout "$2/$1.key" -out "$WORK/$1.csr" -subj "/CN=$1"
  printf '%b' "$4" > "$WORK/$1.ext"
  ossl x509 -req -in "$WORK/$1.csr" -CA "$TLS_DIR/ca/ca.crt" -CAkey "$TLS_DIR/ca/ca.key" -set_serial "$3" -days 2 -out "$2/$1.crt" -extfile "$WORK/$1.ext"
}
issue redis-ambassador-server "$TLS_DIR/server" 101 'subjectAltName=DNS:redis-ambassador-server\nextendedKeyUsage=serverAuth\n'
issue redis-ambassador-remote "$TLS_DIR/remote" 102 'extendedKeyUsage=clientAuth\n'
cp "$TLS_DIR/ca/ca.crt" "$TLS_DIR/server/ca.crt"
cp "$TLS_DIR/ca/ca.crt" "$TLS_DIR/remote/ca.crt"
chown 1000:1000 "$TLS_DIR"/server/* "$TLS_DIR"/remote/*
chmod 0600 "$TLS_DIR"/server/*.key "$TLS_DIR"/remote/*.key
pass "CA, server and client certificates made with openssl"

dk run -d --name redis_s redis:7-bookworm > /dev/null 2> "$WORK/run.err" || { cat "$WORK/run.err"; fatal "docker run redis_s"; }
# server side: the seed's line plus the certificate volume and the TLS variables (debug: it logs the peer's identity)
dk run -d --link redis_s:redis --name redis_ambassador_tls_server -v "$TLS_DIR/server:/tls:ro" \
  -e AMBASSADOR_TLS_LISTEN_CERT_FILE=/tls/redis-ambassador-server.crt -e AMBASSADOR_TLS_LISTEN_KEY_FILE=/tls/redis-ambassador-server.key \
  -e AMBASSADOR_TLS_LISTEN_CA_FILE=/tls/ca.crt -e AMBASSADOR_LOG_LEVEL=debug "$IMG" > /dev/null 2> "$WORK/run.err" ||
  { cat "$WORK/run.err"; fatal "docker run (server side, TLS)"; }
S_IP=$(cip redis_ambassador_tls_server)
check "server-side ambassador with a TLS listener serves /healthz" wait_http "http://$S_IP:9736/healthz"
# remote side: the seed's line with tls:// and its client certificate (the server is dialed by address, verified by name)
remote_tls() {
  dk run -d --name "$1" --expose 6379 -v "$TLS_DIR/remote:/tls:ro" -e REDIS_PORT_6379_TCP="tls://$S_IP:6379" \
    -e AMBASSADOR_TLS_SERVERNAME=redis-ambassador-server -e AMBASSADOR_TLS_CA_FILE=/tls/ca.crt "${@:2}" "$IMG" > /dev/null 2> "$WORK/run.err" ||
    { cat "$WORK/run.err"; fatal "docker run $1"; }
}
remote_tls redis_ambassador_tls -e AMBASSADOR_TLS_CERT_FILE=/tls/redis-ambassador-remote.crt -e AMBASSADOR_TLS_KEY_FILE=/tls/redis-ambassador-remote.key
R_IP=$(cip redis_ambassador_tls)
check "remote-side ambassador (REDIS_PORT_6379_TCP=tls://$S_IP:6379, client certificate) serves /healthz" wait_http "http://$R_IP:9736/healthz"

# the consumer, unchanged: --link to the remote side, start.sh as it is
tls_consumer() { dk run -i --rm --link "$1":redis "$CLI_IMG" "${@:2}" 2> "$WORK/consumer.err"; }
out=$(tls_consumer redis_ambassador_tls -h redis -p 6379 SET tk tv < /dev/null)
check "start.sh SET through the mTLS link -> OK (got: $out)" [ "$out" = OK ]
out=$(printf 'GET tk\nPING\n' | tls_consumer redis_ambassador_tls | tr '\n' ' ')
check "start.sh without arguments, commands on stdin -> tv PONG (got: $out)" [ "$out" = "tv PONG " ]
out=$(dk exec redis_s redis-cli GET tk 2> /dev/null)
check "the value landed in the redis behind the server side (GET tk -> $out)" [ "$out" = tv ]
check "the server side verified the remote side's certificate (debug log: identity CN=redis-ambassador-remote)" \
  bash -c '"$1" logs redis_ambassador_tls_server 2>&1 | grep "\"tls client verified\"" | grep -q "CN=redis-ambassador-remote"' _ "$D"
check "remote ambassador /readyz is 200 over the mTLS link" \
  bash -c '[ "$(curl -sS --noproxy "*" --max-time 5 -o /dev/null -w "%{http_code}" "$1")" = 200 ]' _ "http://$R_IP:9736/readyz"

# peers without a client certificate: refused at the handshake, nothing reaches redis
# (the engine's own warning about IPv4 forwarding, off here on purpose, is not the reply)
out=$(dk run --rm -v "$TLS_DIR/remote:/tls:ro" "$CLI_IMG" --tls --cacert /tls/ca.crt --sni redis-ambassador-server -h "$S_IP" -p 6379 SET intruder x 2>&1 < /dev/null | grep -v '^WARNING: IPv4 forwarding')
check "a container with redis-cli --tls but no client certificate is refused (got: $out)" bash -c '[[ "$1" == *"requires a client certificate"* ]]' _ "$out"
out=$(dk run --rm "$CLI_IMG" -h "$S_IP" -p 6379 SET intruder x 2>&1 < /dev/null | grep -v '^WARNING: IPv4 forwarding')
check "a container speaking plain RESP to the TLS port is told and closed (got: $out)" bash -c '[[ "$1" == *"this port speaks TLS"* ]]' _ "$out"
remote_tls redis_ambassador_nocert
wait_http "http://$(cip redis_ambassador_nocert):9736/healthz"
out=$(tls_consumer redis_ambassador_nocert -h redis -p 6379 SET intruder x < /dev/null)
check "a remote-side ambassador without a client certificate: its consumer gets the refusal, not OK (got: $out)" \
  bash -c '[[ "$1" == *"requires a client certificate"* && "$1" != OK ]]' _ "$out"
out=$(dk exec redis_s redis-cli EXISTS intruder 2> /dev/null)
check "none of the refused peers wrote to redis (EXISTS intruder -> $out)" [ "$out" = 0 ]
NOCERT=$(http "http://$S_IP:9736/metrics" | awk '/^redis_ambassador_tls_handshake_failures_total\{/ && /reason="no_certificate"/ { s += $NF } END { print s + 0 }')
PLAIN=$(http "http://$S_IP:9736/metrics" | awk '/^redis_ambassador_tls_handshake_failures_total\{/ && /reason="plaintext"/ { s += $NF } END { print s + 0 }')
check "server side counted the refusals: no_certificate=$NOCERT (>=2), plaintext=$PLAIN (>=1)" bash -c '[ "$1" -ge 2 ] && [ "$2" -ge 1 ]' _ "$NOCERT" "$PLAIN"

# rotation: a new server certificate written over the old one, then SIGHUP; no restart
issue redis-ambassador-server-2 "$WORK" 103 'subjectAltName=DNS:redis-ambassador-server\nextendedKeyUsage=serverAuth\n'
cat "$WORK/redis-ambassador-server-2.crt" > "$TLS_DIR/server/redis-ambassador-server.crt"
cat "$WORK/redis-ambassador-server-2.key" > "$TLS_DIR/server/redis-ambassador-server.key"
dk kill -s HUP redis_ambassador_tls_server > /dev/null
ok=1
for _ in $(seq 1 20); do
  dk logs redis_ambassador_tls_server 2>&1 | grep -q '"secrets reloaded".*"trigger":"SIGHUP"' && { ok=0; break; }
  sleep 0.5
done
check "docker kill -s HUP: the server side reloaded its certificate without a restart" [ "$ok" = 0 ]
serial=$(openssl s_client -connect "$S_IP:6379" -servername redis-ambassador-server -CAfile "$TLS_DIR/ca/ca.crt" \
  -cert "$TLS_DIR/remote/redis-ambassador-remote.crt" -key "$TLS_DIR/remote/redis-ambassador-remote.key" < /dev/null 2> /dev/null |
  openssl x509 -noout -serial 2> /dev/null)
check "new handshakes present the new certificate (serial 103 = 0x67; got: $serial)" [ "$serial" = "serial=67" ]
out=$(tls_consumer redis_ambassador_tls -h redis -p 6379 GET tk < /dev/null)
check "the consumer still gets through after the rotation (GET tk -> $out)" [ "$out" = tv ]
check "the server-side container never restarted ($(dk inspect -f '{{.RestartCount}} restarts, running={{.State.Running}}' redis_ambassador_tls_server))" \
  bash -c '[ "$("$1" inspect -f "{{.RestartCount}} {{.State.Running}}" redis_ambassador_tls_server)" = "0 true" ]' _ "$D"
dk rm -f redis_s redis_ambassador_tls_server redis_ambassador_tls redis_ambassador_nocert > /dev/null 2>&1

# ================================================================= 6. compose
step "docker/compose.yaml"
cd "$ROOT" || fatal "cd $ROOT"
check "docker-compose -f docker/compose.yaml config" \
  bash -c 'docker-compose -f docker/compose.yaml config > "$1" 2>&1 || { cat "$1"; exit 1; }' _ "$WORK/compose-config.out"
check "docker/prometheus.yml scrapes both ambassadors' admin ports, grafana provisioning points at prometheus:9090 and the mounted dashboards" \
  /usr/bin/python3 - "$ROOT" << 'EOF'
import os, sys
import yaml  # python3-yaml: a dependency of Debian's docker-compose
root = sys.argv[1]
def load(p):
    with open(os.path.join(root, p)) as f:
        return yaml.safe_load(f)
compose = load("docker/compose.yaml")
prom = load("docker/prometheus.yml")
targets = [t for sc in prom["scrape_configs"] for c in sc.get("static_configs", []) for t in c["targets"]]
for svc in ("ambassador-server", "ambassador-remote"):
    assert f"{svc}:9736" in targets, f"{svc}:9736 not scraped"
    assert svc in compose["services"], svc
ds = load("grafana/provisioning/datasources/prometheus.yaml")["datasources"][0]
assert ds["type"] == "prometheus" and ds["url"] == "http://prometheus:9090", ds
prov = load("grafana/provisioning/dashboards/redis-ambassador.yaml")["providers"][0]
mounts = compose["services"]["grafana"]["volumes"]
assert any(m.startswith("../grafana/dashboards:" + prov["options"]["path"]) for m in mounts), mounts
assert any(m.startswith("../grafana/provisioning:/etc/grafana/provisioning") for m in mounts), mounts
EOF
check "grafana/dashboards/redis-ambassador.json (mounted by compose) exists and is JSON" \
  node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$ROOT/grafana/dashboards/redis-ambassador.json"

# bring the core of the compose topology up with the images built above (prometheus and grafana
# cannot be had here); the server side is published on a free loopback port
dk tag "$IMG" redis-ambassador:latest
dk tag "$CLI_IMG" redis-ambassador-example/redis-cli:latest
t=$(date +%s%N)
COMPOSE_UP=1
if REDIS_AMBASSADOR_PUBLISH=127.0.0.1: docker-compose -p "$COMPOSE_PROJECT" -f docker/compose.yaml \
  up -d --no-build redis ambassador-server ambassador-remote load > "$WORK/compose-up.log" 2>&1; then
  pass "docker-compose up redis ambassador-server ambassador-remote load (healthy dependencies) in $(secs "$(ms_since "$t")")s"
  cid() { docker-compose -p "$COMPOSE_PROJECT" -f docker/compose.yaml ps -q "$1" 2> /dev/null; }
  cip_any() { dk inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }
  C_REMOTE=$(cip_any "$(cid ambassador-remote)")
  C_SERVER=$(cip_any "$(cid ambassador-server)")
  ok=1
  for _ in $(seq 1 40); do
    a=$(metric "http://$C_REMOTE:9736/metrics" redis:6379 incr)
    b=$(metric "http://$C_SERVER:9736/metrics" redis:6379 incr)
    if ge "$a" 2 && ge "$b" 2; then ok=0; break; fi
    sleep 0.5
  done
  check "compose: the load service's commands are counted live on both ambassadors (incr: remote=$a server=$b)" [ "$ok" = 0 ]
else
  show_tail "$WORK/compose-up.log"
  fail "docker-compose up redis ambassador-server ambassador-remote load"
fi
t=$(date +%s%N)
docker-compose -p "$COMPOSE_PROJECT" -f docker/compose.yaml down -t 3 > "$WORK/compose-down.log" 2>&1
rc=$?
COMPOSE_UP=0
check "docker-compose down in $(secs "$(ms_since "$t")")s" [ "$rc" = 0 ]

# ================================================================= 7. cleanup runs from the EXIT trap
exit 0
