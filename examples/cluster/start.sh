#!/usr/bin/env bash
# A hibiki chat cluster on this machine: Redis (examples/cluster/redis.conf), three
# `hibiki chat --redis` nodes and HAProxy in front of them (examples/cluster/haproxy.cfg).
# Prints the URL to open and each process's PID (kill a node to watch the failover); Ctrl-C
# or SIGTERM stops everything it started. See examples/cluster/README.md.
#
# Environment (defaults in brackets):
#   HIBIKI_CLUSTER_HOST        address HAProxy listens on               [127.0.0.1]
#   HIBIKI_CLUSTER_PORT        HAProxy's port: the one to open          [8080]
#   HIBIKI_CLUSTER_STATS_PORT  HAProxy's status page, on 127.0.0.1      [8404]
#   HIBIKI_NODE1_PORT, HIBIKI_NODE2_PORT, HIBIKI_NODE3_PORT
#                              the nodes, on 127.0.0.1                  [8081, 8082, 8083]
#   HIBIKI_REDIS_PORT          Redis, on 127.0.0.1                      [6380]
#   HIBIKI_CLUSTER_DIR         Redis's data (redis/) and logs (logs/)   [data/cluster]
#   HIBIKI_BIN                 the hibiki binary   [build/release/hibiki, built when missing]
set -euo pipefail
# Paths in the environment are relative to where this was started; the rest to the repo root.
if [[ -n "${HIBIKI_BIN:-}" ]]; then HIBIKI_BIN=$(realpath -m -- "$HIBIKI_BIN"); fi
if [[ -n "${HIBIKI_CLUSTER_DIR:-}" ]]; then HIBIKI_CLUSTER_DIR=$(realpath -m -- "$HIBIKI_CLUSTER_DIR"); fi
cd "$(dirname "$0")/../.."

# Exported: haproxy.cfg reads the same variables.
export HIBIKI_CLUSTER_HOST="${HIBIKI_CLUSTER_HOST:-127.0.0.1}"
export HIBIKI_CLUSTER_PORT="${HIBIKI_CLUSTER_PORT:-8080}"
export HIBIKI_CLUSTER_STATS_PORT="${HIBIKI_CLUSTER_STATS_PORT:-8404}"
export HIBIKI_NODE1_PORT="${HIBIKI_NODE1_PORT:-8081}"
export HIBIKI_NODE2_PORT="${HIBIKI_NODE2_PORT:-8082}"
export HIBIKI_NODE3_PORT="${HIBIKI_NODE3_PORT:-8083}"
# Not Redis' usual 6379: installing Debian's redis-server package starts Debian's own Redis there.
redis_port="${HIBIKI_REDIS_PORT:-6380}"
dir="${HIBIKI_CLUSTER_DIR:-data/cluster}"
node_ports=("$HIBIKI_NODE1_PORT" "$HIBIKI_NODE2_PORT" "$HIBIKI_NODE3_PORT")
STARTUP_SECONDS=15

say() { echo "cluster: $*"; }
fail() {
  echo "cluster: $*" >&2
  exit 1
}

for tool in redis-server haproxy; do
  command -v "$tool" >/dev/null ||
    fail "$tool is not installed: run scripts/install-deps.sh --cluster (it installs redis-server and haproxy)"
done

bin="${HIBIKI_BIN:-build/release/hibiki}"
if [[ ! -x "$bin" ]]; then
  [[ -z "${HIBIKI_BIN:-}" ]] || fail "HIBIKI_BIN=$bin is not an executable file"
  say "no $bin yet: building it (scripts/build.sh release, a few minutes)"
  scripts/build.sh release
fi
bin=$(realpath -- "$bin") # the restart command printed for a node works from anywhere

# Where to reach HAProxy from here: a wildcard address is reachable on loopback.
front="$HIBIKI_CLUSTER_HOST"
[[ "$front" == 0.0.0.0 ]] && front=127.0.0.1
[[ "$front" == "::" ]] && front=::1

# True when something accepts connections on $1:$2. bash's /dev/tcp needs no extra tool.
port_busy() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# Every port is checked before anything starts, so a clash never leaves half a cluster behind.
declare -A claimed=()
check_port() {
  local what="$1" host="$2" port="$3"
  if [[ ! "$port" =~ ^[0-9]+$ ]] || ((port == 0 || port > 65535)); then
    fail "$what: '$port' is not a port"
  fi
  [[ -z "${claimed[$port]:-}" ]] || fail "$what and ${claimed[$port]} are both given port $port"
  claimed[$port]="$what"
  if port_busy "$host" "$port"; then
    local hint=""
    [[ "$what" == Redis* ]] && hint=" (another Redis? choose one with HIBIKI_REDIS_PORT)"
    fail "port $port, wanted for $what, is taken by another program$hint. Stop that, or choose" \
      "other ports, e.g. HIBIKI_CLUSTER_PORT=9080 (every variable is listed at the top of $0)"
  fi
}
check_port "HAProxy (HIBIKI_CLUSTER_PORT)" "$front" "$HIBIKI_CLUSTER_PORT"
check_port "HAProxy's status page (HIBIKI_CLUSTER_STATS_PORT)" 127.0.0.1 "$HIBIKI_CLUSTER_STATS_PORT"
check_port "Redis (HIBIKI_REDIS_PORT)" 127.0.0.1 "$redis_port"
for n in 1 2 3; do check_port "node-$n (HIBIKI_NODE${n}_PORT)" 127.0.0.1 "${node_ports[$((n - 1))]}"; done

mkdir -p "$dir/redis" "$dir/logs"
logs="$dir/logs"
redis_dir=$(cd "$dir/redis" && pwd)

# --- processes and stopping them ----------------------------------------------------------

pids=()              # in start order: redis, node-1..3, haproxy
declare -A names=()  # pid -> what it is
declare -A alive=()  # pids not reaped yet: only these may be signalled (a reaped pid can be reused)
stopping=0

# The command line of each program (in `cmd`): to start it, and to say how to start it again.
command_of() {
  case "$1" in
    redis)
      cmd=(redis-server "$PWD/examples/cluster/redis.conf" --port "$redis_port" --bind 127.0.0.1
           --dir "$redis_dir" --logfile "")
      ;;
    node-*)
      # Loopback only: browsers come through HAProxy. Every connection then comes from
      # HAProxy's address, so the per-client limit is HAProxy's (haproxy.cfg), not the node's.
      cmd=("$bin" chat --host 127.0.0.1 --port "${node_ports[${1#node-} - 1]}" --node-id "$1"
           --redis "redis://127.0.0.1:$redis_port" --max-connections-per-ip 0)
      ;;
    haproxy) cmd=(haproxy -f "$PWD/examples/cluster/haproxy.cfg" -db) ;;
  esac
}

# Each runs in a session of its own: Ctrl-C in the terminal reaches only this script, which
# then stops them in order. `setsid` execs in place here (a background job is not a group
# leader), so $! is the program's own pid.
launch() {
  local what="$1"
  command_of "$what"
  setsid "${cmd[@]}" >"$logs/$what.log" 2>&1 </dev/null &
  pids+=("$!")
  names[$!]="$what"
  alive[$!]=1
  say "$what started, pid $!"
}

# SIGTERM, SIGKILL when still there after $2 seconds; reaps it.
stop_pid() {
  local pid="$1" grace="$2" i
  [[ -n "${alive[$pid]:-}" ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "${names[$pid]} (pid $pid) still running after $grace s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  unset "alive[$pid]"
}

stop_all() {
  ((stopping)) && return
  stopping=1
  trap '' INT TERM
  ((${#alive[@]})) || return 0
  say "stopping"
  # Nodes first: each closes its WebSockets with 1001 (through HAProxy, so the pages see a
  # clean close) and says goodbye to Redis for its members. Then HAProxy; Redis last, which
  # writes its append-only file on the way out.
  local pid
  for pid in "${pids[@]:1:3}"; do stop_pid "$pid" 5; done
  for pid in "${pids[4]:-}" "${pids[0]:-}"; do [[ -z "$pid" ]] || stop_pid "$pid" 10; done
  say "stopped"
}
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap 'stop_all' EXIT

# --- starting -----------------------------------------------------------------------------

# The status line of GET $3 from $1:$2 ("HTTP/1.1 200 OK"), or nothing.
http_status() {
  local line=""
  {
    exec 3<>"/dev/tcp/$1/$2" &&
      printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$3" "$1" >&3 &&
      IFS= read -r -t 2 line <&3
  } 2>/dev/null || true
  exec 3>&- 2>/dev/null || true
  echo "${line%$'\r'}"
}
ready() { [[ "$(http_status "$1" "$2" /readyz)" == "HTTP/1.1 200"* ]]; }

redis_ping() {
  # Redis answers an inline PING with +PONG: no redis-cli needed.
  local reply=""
  {
    exec 3<>"/dev/tcp/127.0.0.1/$redis_port" && printf 'PING\r\n' >&3 &&
      IFS= read -r -t 2 reply <&3
  } 2>/dev/null || true
  exec 3>&- 2>/dev/null || true
  [[ "$reply" == +PONG* ]]
}

# Polls the command in $2.. until it succeeds; fails the start-up (and stops what started)
# when process $1 exits first or STARTUP_SECONDS pass.
wait_until() {
  local pid="$1" i
  shift
  local log="$logs/${names[$pid]}.log"
  for ((i = 0; i < STARTUP_SECONDS * 10; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$log" >&2 || true
      fail "${names[$pid]} exited while starting (its log: $log)"
    fi
    "$@" && return 0
    sleep 0.1
  done
  tail -n 20 "$log" >&2 || true
  fail "${names[$pid]} was not ready within $STARTUP_SECONDS s (its log: $log)"
}

launch redis
wait_until "${pids[0]}" redis_ping
for n in 1 2 3; do launch "node-$n"; done
for n in 1 2 3; do wait_until "${pids[$n]}" ready 127.0.0.1 "${node_ports[$((n - 1))]}"; done

launch haproxy
# Up when a request through it reaches a node.
wait_until "${pids[4]}" ready "$front" "$HIBIKI_CLUSTER_PORT"

url_host="$HIBIKI_CLUSTER_HOST"
[[ "$url_host" == 127.0.0.1 || "$url_host" == 0.0.0.0 || "$url_host" == "::" ]] && url_host=localhost
cat <<EOF

  The chat cluster is up: open http://$url_host:$HIBIKI_CLUSTER_PORT/

  haproxy  pid ${pids[4]}  $HIBIKI_CLUSTER_HOST:$HIBIKI_CLUSTER_PORT, status page http://localhost:$HIBIKI_CLUSTER_STATS_PORT/
  node-1   pid ${pids[1]}  127.0.0.1:$HIBIKI_NODE1_PORT
  node-2   pid ${pids[2]}  127.0.0.1:$HIBIKI_NODE2_PORT
  node-3   pid ${pids[3]}  127.0.0.1:$HIBIKI_NODE3_PORT
  redis    pid ${pids[0]}  127.0.0.1:$redis_port, data in $dir/redis
  logs     $logs/

  Failover: kill a node (kill ${pids[1]}, or kill -9 ${pids[1]} for a crash); its pages
  reconnect through HAProxy to another node. Ctrl-C stops everything.

EOF

# Until Ctrl-C or SIGTERM. A node or Redis that exits is reported and left down, with the
# command that starts it again (that is the failover demo: HAProxy takes a dead node out, and
# every node while Redis is gone); without HAProxy nobody gets in, so then everything stops.
while ((${#alive[@]})); do
  done_pid=""
  status=0
  wait -n -p done_pid || status=$?
  [[ -n "$done_pid" ]] || { ((status != 127)) && continue; exit 1; } # 127: no child left
  unset "alive[$done_pid]"
  what="${names[$done_pid]}"
  say "$what (pid $done_pid) exited with status $status"
  [[ "$what" != haproxy ]] || exit 1
  command_of "$what"
  say "to start it again (in another terminal): $(printf '%q ' "${cmd[@]}")"
done
