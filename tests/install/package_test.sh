#!/usr/bin/env bash
# The Debian packages: builds them (scripts/package-deb.sh, on the release build), runs lintian
# (fails on errors and warnings), installs both with dpkg -i, checks where the files are, runs
# /usr/bin/hibiki --version and `hibiki echo` on a free loopback port (WebSocket echo), checks the
# shipped /etc/hibiki/chat.toml and its examples with --print-config, starts `hibiki chat` as
# hibiki-chat.service does (on a free loopback port) and asks it for /healthz, builds
# the echo example on libhibiki-dev alone (find_package and pkg-config), verifies
# hibiki-chat.service with systemd-analyze, then purges both and checks that nothing of them is
# left. Needs root (dpkg -i); scripts/test.sh runs it as root.
set -euo pipefail
cd "$(dirname "$0")/../.."

if (($(id -u) != 0)); then
  echo "package test: needs root for dpkg -i"
  exit 1
fi
packages=(hibiki libhibiki-dev)
# hibiki reads HIBIKI_<OPTION> from the environment: none inherited from the caller here, so the
# checks of chat.toml see the file alone.
while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep '^HIBIKI_' || true)
tmp=$(mktemp -d)
pid=
cleanup() {
  [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  # Never leave the packages behind, even when a check failed half-way.
  dpkg --purge "${packages[@]}" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
step() { echo "package test: $*"; }
fail() {
  echo "package test: $*" >&2
  exit 1
}

step "building the packages"
scripts/package-deb.sh "$tmp/deb"
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' build/release/CMakeCache.txt)
lib=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)
debs=("$tmp"/deb/*.deb)
((${#debs[@]} == 2)) || fail "expected 2 packages, got: ${debs[*]}"

step "lintian"
# -I --pedantic: show every tag down to the pedantic ones; only errors and warnings fail.
lintian -I -E --pedantic --fail-on error,warning --tag-display-limit 0 "${debs[@]}" ||
  fail "lintian reported errors or warnings"

step "dpkg -i"
dpkg --purge "${packages[@]}" >/dev/null 2>&1 || true # a run that was killed may have left them
dpkg -i "${debs[@]}" >/dev/null
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}\n' "$package" | grep -q "install ok installed" || fail "$package not installed"
  dpkg -L "$package" >>"$tmp/files"
done

step "installed files"
for file in /usr/bin/hibiki /lib/systemd/system/hibiki-chat.service /etc/hibiki/chat.toml \
  /usr/share/doc/hibiki/copyright /usr/share/doc/hibiki/changelog.gz \
  /usr/include/hibiki/hibiki.hpp /usr/include/hibiki/cluster.hpp \
  "$lib"/{libhibiki.a,libhibiki_cluster.a,libhibiki_protocol.a,libhibiki_net.a} \
  "$lib"/cmake/hibiki/hibikiConfig.cmake "$lib"/pkgconfig/{hibiki.pc,hibiki-cluster.pc} \
  /usr/share/doc/libhibiki-dev/copyright; do
  [[ -f "$file" ]] || fail "missing $file"
done
[[ -x /usr/bin/hibiki ]] || fail "/usr/bin/hibiki is not executable"
conffiles=$(dpkg-query -W -f='${Conffiles}\n' hibiki | awk 'NF {print $1}')
[[ "$conffiles" == /etc/hibiki/chat.toml ]] ||
  fail "conffiles: expected /etc/hibiki/chat.toml alone, got: $conffiles"
[[ $(stat -c %a /etc/hibiki/chat.toml) == 644 ]] ||
  fail "/etc/hibiki/chat.toml must be readable by the service's dynamic user (644)"
[[ -L /etc/systemd/system/multi-user.target.wants/hibiki-chat.service ]] ||
  fail "hibiki-chat.service was not enabled"
[[ $(pkg-config --modversion hibiki) == "$version" ]] || fail "pkg-config --modversion hibiki"

step "/usr/bin/hibiki --version"
[[ $(/usr/bin/hibiki --version) == "hibiki $version" ]] || fail "--version says $(/usr/bin/hibiki --version)"

step "hibiki echo on loopback"
/usr/bin/hibiki echo --host 127.0.0.1 --port 0 >"$tmp/echo.log" 2>&1 &
pid=$!
/usr/bin/python3 tests/install/ws_echo.py "$tmp/echo.log" "$pid" || {
  cat "$tmp/echo.log"
  fail "no echo"
}
kill "$pid"
wait "$pid" || fail "hibiki echo did not exit 0 on SIGTERM"
pid=

step "/etc/hibiki/chat.toml: valid as shipped, and with its examples uncommented"
/usr/bin/hibiki chat --config /etc/hibiki/chat.toml --print-config >"$tmp/print-config" ||
  fail "hibiki chat --config /etc/hibiki/chat.toml --print-config failed"
grep -qE '^port = 8080 +# /etc/hibiki/chat.toml:[0-9]+$' "$tmp/print-config" || {
  cat "$tmp/print-config"
  fail "--print-config does not show port = 8080 from /etc/hibiki/chat.toml"
}
# Every commented `#key = value` line uncommented at once (the examples use distinct keys), the
# TLS files pointed at files that exist: each example names real options with valid values.
touch "$tmp/cert.pem" "$tmp/key.pem"
sed -E 's/^#([a-z-]+ = )/\1/; s|/run/credentials/hibiki-chat.service/|'"$tmp"'/|' \
  /etc/hibiki/chat.toml >"$tmp/examples.toml"
(($(grep -cE '^[a-z-]+ = ' "$tmp/examples.toml") > 10)) || fail "no examples found in chat.toml"
/usr/bin/hibiki chat --config "$tmp/examples.toml" --print-config >/dev/null ||
  fail "the examples of /etc/hibiki/chat.toml are not a valid config"

step "hibiki chat as hibiki-chat.service starts it (/etc/hibiki/chat.toml, on port 0 of loopback)"
# The unit's ExecStart line as it is, with the history in a temporary directory; the shipped file
# listens on 0.0.0.0:8080, so the environment moves it to a free loopback port (HIBIKI_* wins over
# the file, as a drop-in's Environment= would): /healthz answers.
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/hibiki-chat.service)
[[ "$exec_start" == "/usr/bin/hibiki chat --config /etc/hibiki/chat.toml "* ]] ||
  fail "ExecStart does not run hibiki chat --config /etc/hibiki/chat.toml: $exec_start"
exec_start=${exec_start//\/var\/lib\/hibiki/$tmp/state}
mkdir -p "$tmp/state"
echo "package test: HIBIKI_HOST=127.0.0.1 HIBIKI_PORT=0 $exec_start"
# shellcheck disable=SC2086 # split at spaces, as systemd splits ExecStart
HIBIKI_HOST=127.0.0.1 HIBIKI_PORT=0 $exec_start >"$tmp/chat.log" 2>&1 &
pid=$!
port=
for _ in $(seq 100); do
  port=$(grep -oE 'http://[^ /]+:[0-9]+' "$tmp/chat.log" | grep -oE '[0-9]+$' | head -1) || true
  [[ -n "$port" ]] && break
  sleep 0.1
done
[[ -n "$port" ]] || { cat "$tmp/chat.log"; fail "hibiki chat did not start"; }
grep -q "listening on http://127.0.0.1:$port" "$tmp/chat.log" ||
  fail "hibiki chat is not on loopback: $(cat "$tmp/chat.log")"
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || fail "no /healthz from hibiki chat"
[[ -f "$tmp/state/chat.db" ]] || fail "hibiki chat did not create its history in the state directory"
kill "$pid"
wait "$pid" || fail "hibiki chat did not exit 0 on SIGTERM"
pid=

step "libhibiki-dev: the echo example with find_package and with pkg-config, from /usr"
cmake -S tests/install -B "$tmp/consumer" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
[[ $(sed -n 's/^hibiki_DIR:PATH=//p' "$tmp/consumer/CMakeCache.txt") == "$lib/cmake/hibiki" ]] ||
  fail "find_package did not find $lib/cmake/hibiki"
ninja -C "$tmp/consumer" echo_server >/dev/null
# shellcheck disable=SC2046 # pkg-config's output is a list of flags
g++ -std=c++20 -O2 examples/echo_server.cpp -o "$tmp/echo_server" $(pkg-config --cflags --libs hibiki)
"$tmp/echo_server" 0 >"$tmp/example.log" 2>&1 &
pid=$!
/usr/bin/python3 tests/install/ws_echo.py "$tmp/example.log" "$pid" || fail "no echo from the example"
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=

step "systemd-analyze verify and security"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify /lib/systemd/system/hibiki-chat.service || fail "systemd-analyze verify"
  # The sandbox as systemd scores it (0 best, 10 worst; 1.8 today): fails past 2.5, i.e. when a
  # hardening line is lost.
  systemd-analyze security --offline=true --threshold=25 /lib/systemd/system/hibiki-chat.service |
    tail -1 || fail "systemd-analyze security: exposure above 2.5"
else
  echo "package test: skipped systemd-analyze verify and security: systemd-analyze is not installed"
fi

step "dpkg --purge"
dpkg --purge "${packages[@]}" >/dev/null
for package in "${packages[@]}"; do
  if dpkg-query -W -f='${Status}\n' "$package" 2>/dev/null | grep -q installed; then
    fail "$package still installed"
  fi
done
left=()
while IFS= read -r path; do
  # Directories the packages share with the system (/usr, /lib/systemd/system…) stay.
  [[ -e "$path" && ! -d "$path" ]] && left+=("$path")
done <"$tmp/files"
for path in /etc/hibiki /var/lib/hibiki /var/lib/private/hibiki /usr/include/hibiki \
  "$lib"/cmake/hibiki /usr/share/doc/hibiki /usr/share/doc/libhibiki-dev \
  /etc/systemd/system/multi-user.target.wants/hibiki-chat.service; do
  [[ -e "$path" || -L "$path" ]] && left+=("$path")
done
if compgen -G "/var/lib/systemd/deb-systemd-helper-enabled/*hibiki*" >/dev/null ||
  compgen -G "/var/lib/systemd/deb-systemd-helper-enabled/*/hibiki*" >/dev/null; then
  left+=(/var/lib/systemd/deb-systemd-helper-enabled/…hibiki…)
fi
((${#left[@]} == 0)) || fail "left after purge: ${left[*]}"
step "ok"
