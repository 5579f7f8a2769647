#!/usr/bin/env bash
# Installs what hibiki needs, idempotently: Debian packages that are missing, then the npm
# packages of the test clients. Safe to run again and again; does nothing when all is there.
#   scripts/install-deps.sh          build + run dependencies
#   scripts/install-deps.sh --test   also what the test suites need (Chromium, Python and Node
#                                    clients, Google Benchmark for bench/micro, PHP for the
#                                    gateway example, dpkg-dev and lintian for the Debian packages)
#   scripts/install-deps.sh --bench  build dependencies and what bench/compare.sh needs: gnuplot
#                                    and the peer servers of bench/peers (Node ws, Bun)
#   scripts/install-deps.sh --cluster  build dependencies and what examples/cluster/start.sh
#                                    runs: redis-server and haproxy
set -euo pipefail
cd "$(dirname "$0")/.."

build_packages=(g++ cmake ninja-build pkg-config libssl-dev libsimdjson-dev libcli11-dev
                zlib1g-dev libsqlite3-dev libcurl4-openssl-dev libtomlplusplus-dev libhiredis-dev
                libnghttp2-dev liburing-dev)
test_packages=(libgtest-dev clang clang-format libclang-rt-14-dev python3 python3-websockets
               chromium nodejs npm curl libbenchmark-dev php-cli php-curl php-sqlite3
               python3-botocore redis-server haproxy iproute2 dpkg-dev lintian openssl nghttp2-client)
bench_packages=(python3 nodejs npm gnuplot-nox openssl)
cluster_packages=(redis-server haproxy)

wanted=("${build_packages[@]}")
with_tests=0
with_bench=0
case "${1:-}" in
  "") ;;
  --test)
    with_tests=1
    wanted+=("${test_packages[@]}")
    ;;
  --bench)
    with_bench=1
    wanted+=("${bench_packages[@]}")
    ;;
  --cluster) wanted+=("${cluster_packages[@]}") ;;
  *) echo "usage: scripts/install-deps.sh [--test|--bench|--cluster]" >&2; exit 2 ;;
esac

missing=()
for package in "${wanted[@]}"; do
  # node and npm may come from elsewhere than Debian; a working binary is enough.
  if [[ "$package" == nodejs ]] && command -v node >/dev/null; then continue; fi
  if [[ "$package" == npm ]] && command -v npm >/dev/null; then continue; fi
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

if ((with_tests)); then
  # npm ci only when the lock file changed since the last install.
  if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    echo "install-deps: npm ci"
    npm ci --no-audit --no-fund --loglevel=error >/dev/null
  fi
fi

if ((with_bench)); then
  # The peers (Node ws, Bun's prebuilt binary) live in their own package so the test install
  # never downloads Bun; npm ci again only when their lock file changed.
  if [[ ! -f bench/peers/node_modules/.package-lock.json ||
        bench/peers/package-lock.json -nt bench/peers/node_modules/.package-lock.json ]]; then
    echo "install-deps: npm ci in bench/peers"
    (cd bench/peers && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
fi
