#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test suite: unit tests (GoogleTest), the
# integration tests against the real binary (Node ws, Python websockets), the browser test
# (headless Chromium), the conformance suite (raw frames, Autobahn cases 1-10 and 12-13), the
# installed library and the Debian packages (tests/install), then the
# unit, integration and conformance suites again under ASan+UBSan, a few seconds of each
# libFuzzer target (corpus replays run with the unit tests), the server's and the cluster bus'
# unit tests (several loops on several threads) and the cluster integration tests under TSan,
# plus format
# and layering checks. Ends with "N passed, N failed" over the suites.
# I/O backends: the unit tests of src/net and src/server run on both epoll and io_uring in every
# flavour (one ctest entry per backend); the debug flavour's integration, conformance and
# browser suites run on io_uring, the ASan flavour's on epoll (HIBIKI_IO, which every `hibiki`
# the tests start reads like any HIBIKI_* setting).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/install-deps.sh --test || exit 1

passed=0
failed=0
failed_names=()
suite() {
  local name="$1"
  shift
  echo
  echo "=== $name"
  local started=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    echo "=== $name: ok ($((SECONDS - started)) s)"
  else
    failed=$((failed + 1))
    failed_names+=("$name")
    echo "=== $name: FAILED ($((SECONDS - started)) s)"
  fi
}

# The I/O backend each flavour's suites of the real binary run on.
io_of() { [[ $1 == asan ]] && echo epoll || echo io_uring; }
integration_node() {
  HIBIKI_IO=$(io_of "$1") HIBIKI_BIN="$root/build/$1/hibiki" node --test --test-concurrency=2 tests/integration/
}
integration_python() {
  HIBIKI_IO=$(io_of "$1") HIBIKI_BIN="$root/build/$1/hibiki" \
    /usr/bin/python3 -m unittest discover -s tests/integration -p '*_test.py'
}
conformance() {
  HIBIKI_IO=$(io_of "$1") HIBIKI_BIN="$root/build/$1/hibiki" \
    /usr/bin/python3 -m unittest discover -s tests/conformance -p '*_test.py' &&
    HIBIKI_IO=$(io_of "$1") HIBIKI_BIN="$root/build/$1/hibiki" node --test tests/conformance/  # the subset over HTTP/2
}
format_check() {
  git ls-files --cached --others --exclude-standard '*.cpp' '*.hpp' | xargs clang-format --dry-run -Werror
}

suite "layering" scripts/check-layers.sh
suite "clang-format" format_check
suite "build (debug)" scripts/build.sh debug
# The other builds go on in the background at the lowest priority while the debug suites run
# (those wait on sockets and timers more than they compute); each build suite below first waits
# for its flavour there, then finds it built (or builds what is left, and reports a failure).
prebuild_dir=$(mktemp -d)
(
  for flavour in release asan fuzz tsan; do
    if [[ $flavour == fuzz ]]; then
      nice -n 19 fuzz/run.sh --build-only >"$prebuild_dir/$flavour.log" 2>&1
    else
      nice -n 19 scripts/build.sh "$flavour" >"$prebuild_dir/$flavour.log" 2>&1
    fi
    touch "$prebuild_dir/$flavour.done"
  done
) &
prebuild_pid=$!
trap 'kill "$prebuild_pid" 2>/dev/null; rm -rf "$prebuild_dir"' EXIT
await_prebuild() {
  while [[ ! -e "$prebuild_dir/$1.done" ]] && kill -0 "$prebuild_pid" 2>/dev/null; do
    sleep 1
  done
}
suite "unit tests (debug)" ctest --test-dir build/debug --output-on-failure -j2 --timeout 120
suite "integration, Node ws (debug, io_uring)" integration_node debug
suite "integration, Python websockets (debug, io_uring)" integration_python debug
suite "conformance, Autobahn cases 1-10, 12-13 (debug, io_uring)" conformance debug
suite "browser, headless Chromium (debug, io_uring)" env HIBIKI_IO=io_uring \
  HIBIKI_BIN="$root/build/debug/hibiki" node --test tests/browser/
# The release build is what README's run command starts: it must build too (-O3 warns more).
await_prebuild release
suite "build (release)" scripts/build.sh release
# What `cmake --install` and the Debian packages deliver, on that release build.
suite "install: examples against the installed library, find_package and pkg-config (release)" \
  tests/install/library_test.sh
suite "Debian packages: lintian, dpkg -i, echo, systemd-analyze, purge (release)" \
  tests/install/package_test.sh
await_prebuild asan
suite "build (ASan+UBSan)" scripts/build.sh asan
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
suite "unit tests (ASan+UBSan)" ctest --test-dir build/asan --output-on-failure -j2 --timeout 300
await_prebuild fuzz
suite "fuzz smoke, libFuzzer 5 s per target (ASan+UBSan)" env FUZZ_JOBS=2 fuzz/run.sh 5
suite "integration, Node ws (ASan+UBSan, epoll)" integration_node asan
suite "integration, Python websockets (ASan+UBSan, epoll)" integration_python asan
suite "conformance, Autobahn cases 1-10, 12-13 (ASan+UBSan, epoll)" conformance asan
await_prebuild tsan
suite "build (TSan, server and cluster unit tests)" scripts/build.sh tsan
tsan_server_tests() {
  for io in epoll io_uring; do
    echo "server unit tests on $io"
    HIBIKI_IO=$io TSAN_OPTIONS=halt_on_error=1 build/tsan/tests/unit/server/server_tests || return 1
  done
}
suite "unit tests, several loops at once, epoll then io_uring (TSan)" tsan_server_tests
suite "cluster bus unit tests, several loops and a real Redis (TSan)" env TSAN_OPTIONS=halt_on_error=1 \
  build/tsan/tests/unit/cluster/cluster_tests
# The clustered chat and the gateway hand work between loops (Server::dispatch): two loops here.
suite "integration, chat cluster and gateway nodes, several loops (TSan)" env TSAN_OPTIONS=halt_on_error=1 \
  HIBIKI_BIN="$root/build/tsan/hibiki" node --test --test-concurrency=2 tests/integration/cluster*.test.mjs \
  tests/integration/gateway_loops.test.mjs tests/integration/gateway_cluster.test.mjs

echo
if ((failed)); then
  printf 'failed suites:\n'
  printf '  %s\n' "${failed_names[@]}"
fi
echo "suites: $passed passed, $failed failed"
((failed == 0))
