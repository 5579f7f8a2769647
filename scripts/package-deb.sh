#!/usr/bin/env bash
# Builds the Debian packages from the release build (scripts/build.sh release, reused when up to
# date; -O3 with _FORTIFY_SOURCE=2 and full RELRO, as CMakeLists.txt sets for Release) into
# build/deb/ (or the directory given):
#   hibiki_<version>_<arch>.deb         /usr/bin/hibiki, hibiki-chat.service, /etc/hibiki/chat.toml
#   libhibiki-dev_<version>_<arch>.deb  headers, static libraries, CMake and pkg-config files
#   scripts/package-deb.sh [OUT_DIR]
# dpkg-deb over staging directories filled by `cmake --install --component`, rather than CPack:
# the files under packaging/deb/ are the packages' control files as they ship, so conffiles,
# maintainer scripts, the Debian changelog and copyright are plain files, Depends comes from
# dpkg-shlibdeps, and lintian checks exactly what is written here.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-build/deb}"
mkdir -p "$out"
out=$(cd "$out" && pwd)
umask 022

# Debian's multiarch library directory (/usr/lib/x86_64-linux-gnu): only the install rules
# change, nothing is recompiled.
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
scripts/build.sh release -DCMAKE_INSTALL_LIBDIR="lib/$multiarch"
build=build/release
# The version lives in project(VERSION); the Debian changelog must name it first.
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
changelog_version=$(sed -nE '1s/^hibiki \(([^)]+)\).*/\1/p' packaging/deb/changelog)
if [[ "$version" != "$changelog_version" ]]; then
  echo "package-deb: project version $version, but packaging/deb/changelog starts at $changelog_version" >&2
  exit 1
fi
arch=$(dpkg --print-architecture)
maintainer=$(sed -n 's/^ -- \(.*>\)  .*/\1/p' packaging/deb/changelog | head -1)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# doc PACKAGE: copyright and changelog, as every package needs them.
doc() {
  local dir="$stage/$1/usr/share/doc/$1"
  install -d "$dir"
  install -m 644 packaging/deb/copyright "$dir/copyright"
  gzip -9n <packaging/deb/changelog >"$dir/changelog.gz"
  chmod 644 "$dir/changelog.gz"
}

# finish PACKAGE: md5sums, then the .deb.
finish() {
  local dir="$stage/$1"
  (cd "$dir" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
     xargs -0r md5sum >DEBIAN/md5sums)
  chmod 644 "$dir/DEBIAN/md5sums"
  find "$dir" -type d -exec chmod 755 {} +
  dpkg-deb --root-owner-group -Zxz --build "$dir" "$out/${1}_${version}_${arch}.deb" >/dev/null
  echo "package-deb: $out/${1}_${version}_${arch}.deb"
}

installed_size() { du -sk --exclude=DEBIAN "$stage/$1" | cut -f1; }

# --- hibiki: the program and the chat service
pkg="$stage/hibiki"
DESTDIR="$pkg" cmake --install "$build" --prefix /usr --component runtime >/dev/null
# What dh_strip does: no symbol table, no .comment/.note in the shipped binary.
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$pkg/usr/bin/hibiki"
gzip -9n "$pkg/usr/share/man/man1/hibiki.1"
# The unit runs `hibiki chat --config /etc/hibiki/chat.toml --db /var/lib/hibiki/chat.db`.
install -D -m 644 packaging/deb/hibiki-chat.service "$pkg/lib/systemd/system/hibiki-chat.service"
# The service's settings (hibiki chat --config): a conffile, so upgrades keep the edits.
install -D -m 644 packaging/deb/chat.toml "$pkg/etc/hibiki/chat.toml"
doc hibiki
install -m 644 README.md "$pkg/usr/share/doc/hibiki/README.md"
install -d "$pkg/DEBIAN"
for script in postinst prerm postrm; do
  install -m 755 "packaging/deb/hibiki.$script" "$pkg/DEBIAN/$script"
done
echo /etc/hibiki/chat.toml >"$pkg/DEBIAN/conffiles"
# The shared libraries the binary needs, with the versions its symbols require.
mkdir -p "$stage/shlibdeps/debian"
printf 'Source: hibiki\n\nPackage: hibiki\nArchitecture: any\n' >"$stage/shlibdeps/debian/control"
depends=$(cd "$stage/shlibdeps" && dpkg-shlibdeps -O -e"$pkg/usr/bin/hibiki" 2>/dev/null |
            sed -n 's/^shlibs:Depends=//p')
[[ -n "$depends" ]] || { echo "package-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: hibiki
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(installed_size hibiki)
Depends: $depends
Section: net
Priority: optional
Description: WebSocket server: chat room, echo server, API Gateway emulator
 hibiki is a WebSocket server (RFC 6455, with permessage-deflate and TLS)
 written in C++20. This package holds the hibiki program:
  - hibiki chat: a chat room with rooms, names, presence and durable
    history in SQLite; several nodes can act as one through Redis;
  - hibiki echo: an echo server for conformance and load tests;
  - hibiki gateway: API Gateway's WebSocket model for local development,
    with events sent to HTTP backends and the @connections API.
 .
 The hibiki-chat.service unit runs the chat room as a dynamic user with
 its history in /var/lib/hibiki; its settings are in /etc/hibiki/chat.toml.
CONTROL
finish hibiki

# --- libhibiki-dev: build programs on the library
pkg="$stage/libhibiki-dev"
DESTDIR="$pkg" cmake --install "$build" --prefix /usr --component dev >/dev/null
# What dh_strip does to static libraries: no debug sections, no .comment, deterministic.
strip --strip-debug --remove-section=.comment --remove-section=.note \
  --enable-deterministic-archives "$pkg/usr/lib/$multiarch"/*.a
doc libhibiki-dev
install -d "$pkg/DEBIAN"
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: libhibiki-dev
Source: hibiki
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(installed_size libhibiki-dev)
Depends: libssl-dev, zlib1g-dev, libsimdjson-dev, libnghttp2-dev, liburing-dev, libhiredis-dev, pkg-config
Section: libdevel
Priority: optional
Description: WebSocket server library for C++20 (development files)
 hibiki is a WebSocket server library (RFC 6455, with permessage-deflate,
 TLS, topics and backpressure) on its own epoll event loop, and a cluster
 bus that carries topics across servers through Redis.
 .
 This package holds the public headers, the static libraries, the CMake
 package (find_package(hibiki): hibiki::hibiki, hibiki::cluster) and the
 pkg-config files (hibiki, hibiki-cluster).
CONTROL
finish libhibiki-dev
