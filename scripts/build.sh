#!/usr/bin/env bash
# Configures and builds one flavour of hibiki into build/<flavour>. Further arguments go to
# cmake (e.g. -DHIBIKI_BUILD_BENCHMARKS=ON).
#   scripts/build.sh release|debug|asan|tsan [-DOPTION=VALUE...]
#   (tsan: only what runs several loops at once: the server's and the cluster bus' unit tests,
#   and the hibiki program for the cluster integration tests)
set -euo pipefail
cd "$(dirname "$0")/.."
flavour="${1:-debug}"
targets=()
case "$flavour" in
  release) args=(-DCMAKE_BUILD_TYPE=Release -DHIBIKI_BUILD_TESTS=OFF) ;;
  debug) args=(-DCMAKE_BUILD_TYPE=Debug) ;;
  asan) args=(-DCMAKE_BUILD_TYPE=Debug -DHIBIKI_SANITIZE=ON -DHIBIKI_BUILD_EXAMPLES=OFF
              -DCMAKE_CXX_COMPILER=clang++) ;;
  tsan) args=(-DCMAKE_BUILD_TYPE=Debug -DHIBIKI_TSAN=ON -DHIBIKI_BUILD_EXAMPLES=OFF
              -DCMAKE_CXX_COMPILER=clang++)
        targets=(server_tests cluster_tests hibiki_cli) ;;
  *) echo "usage: scripts/build.sh release|debug|asan|tsan [-DOPTION=VALUE...]" >&2; exit 2 ;;
esac
args+=("${@:2}")
cmake -S . -B "build/$flavour" -G Ninja "${args[@]}" >/dev/null
# Progress lines are noise; compiler output and the failure status are not.
set +e
ninja -C "build/$flavour" -j"$(nproc)" "${targets[@]}" | grep -vE "^\[|^ninja: (Entering|no work)"
status=${PIPESTATUS[0]}
set -e
exit "$status"
