#!/usr/bin/env bash
# The installed library works for a consumer: installs build/release (built or brought up to date
# here) into a temporary prefix, builds examples/ out of tree against that prefix with CMake
# (find_package, tests/install/CMakeLists.txt) and with g++ and pkg-config, then runs each built
# example on a free loopback port and checks it echoes over WebSocket (ws_echo.py). The cluster
# example gets a Redis of its own. Fails on any missing header, library, target or .pc file.
set -euo pipefail
cd "$(dirname "$0")/../.."

tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
step() { echo "install test: $*"; }

step "release build (reused when up to date)"
scripts/build.sh release
prefix="$tmp/prefix"
cmake --install build/release --prefix "$prefix" >/dev/null

step "installed files"
libdir=$(dirname "$(find "$prefix" -name libhibiki.a -print -quit)")
[[ -d "$libdir" ]] || { echo "libhibiki.a not installed"; exit 1; }
expected=(bin/hibiki
          "${libdir#"$prefix"/}"/{libhibiki.a,libhibiki_cluster.a,libhibiki_protocol.a,libhibiki_net.a}
          "${libdir#"$prefix"/}"/cmake/hibiki/{hibikiConfig.cmake,hibikiConfigVersion.cmake,hibikiTargets.cmake}
          "${libdir#"$prefix"/}"/pkgconfig/{hibiki.pc,hibiki-cluster.pc})
for file in "${expected[@]}"; do
  [[ -f "$prefix/$file" ]] || { echo "missing: $file"; exit 1; }
done
# Exactly the public headers: every one of include/hibiki/, nothing from src/.
if ! diff <(cd include/hibiki && ls) <(cd "$prefix/include/hibiki" && ls); then
  echo "installed headers differ from include/hibiki/"
  exit 1
fi
[[ $(ls "$prefix/include") == hibiki ]] || { echo "unexpected in include/: $(ls "$prefix/include")"; exit 1; }
"$prefix/bin/hibiki" --version

step "examples with CMake find_package(hibiki 0.1 CONFIG REQUIRED COMPONENTS cluster)"
# Only the prefix: the source tree's include/ must not be reachable.
cmake -S tests/install -B "$tmp/cmake" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
found=$(sed -n 's/^hibiki_DIR:PATH=//p' "$tmp/cmake/CMakeCache.txt")
[[ "$found" == "$prefix"/* ]] || { echo "find_package found hibiki in $found, not in $prefix"; exit 1; }
ninja -C "$tmp/cmake" >/dev/null

step "examples with g++ \$(pkg-config --cflags --libs hibiki|hibiki-cluster)"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
pkg-config --modversion hibiki
mkdir -p "$tmp/pc"
# shellcheck disable=SC2046 # pkg-config's output is a list of flags
g++ -std=c++20 -O2 -Wall -Wextra -Werror -Wno-missing-field-initializers \
  examples/echo_server.cpp -o "$tmp/pc/echo_server" $(pkg-config --cflags --libs hibiki)
# shellcheck disable=SC2046
g++ -std=c++20 -O2 -Wall -Wextra -Werror -Wno-missing-field-initializers \
  examples/cluster_broadcast.cpp -o "$tmp/pc/cluster_broadcast" $(pkg-config --cflags --libs hibiki-cluster)

step "Redis for the cluster example"
redis_port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$tmp" >"$tmp/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
  redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG && break
  sleep 0.1
done

# run NAME COMMAND...: starts COMMAND (port 0: a free one), checks the echo, stops it by PID.
run() {
  local name="$1" log="$tmp/$1.log"
  shift
  "$@" >"$log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  if ! /usr/bin/python3 tests/install/ws_echo.py "$log" "$pid"; then
    echo "--- $name output:"
    cat "$log"
    return 1
  fi
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}
step "running the built examples"
run cmake-echo "$tmp/cmake/echo_server" 0
run cmake-broadcast "$tmp/cmake/broadcast_server" 0
run cmake-cluster "$tmp/cmake/cluster_broadcast" 0 "redis://127.0.0.1:$redis_port"
run pc-echo "$tmp/pc/echo_server" 0
run pc-cluster "$tmp/pc/cluster_broadcast" 0 "redis://127.0.0.1:$redis_port"
step "ok"
