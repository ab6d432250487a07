#!/usr/bin/env bash
# install-just.sh: put just, the command runner the justfile is for, at
# ${VANIXIETS_HOME:-$HOME/.cache/vanixiets}/tools/bin/just (the justfile's
# test runs it: tasks/cli TestJustfileMirrorsTargets).
#
# just is a Rust program: no Go module, and Debian 12 has none (trixie's
# 1.40 needs trixie's libc). The npm package rust-just ships prebuilt,
# statically linked binaries, one npm package per platform
# (rust-just-<os>-<cpu>); `npm pack` fetches exactly that package from npm's
# configured registry and checks its integrity, with no node_modules and no
# install scripts run. On a Debian without npm, Debian's own nodejs and npm
# come first. A `setup` part (SETUP_PARTS=just); idempotent: a second run
# finds the pinned version in place and does nothing.
set -euo pipefail

JUST_VERSION="${JUST_VERSION:-1.57.0}"
TOOLS="${VANIXIETS_TOOLS:-${VANIXIETS_HOME:-$HOME/.cache/vanixiets}/tools}"
say() { printf 'install-just: %s\n' "$*" >&2; }

bin="$TOOLS/bin/just"
if [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null)" = "just $JUST_VERSION" ]; then
  exit 0
fi

case "$(uname -s)/$(uname -m)" in
  Linux/x86_64) platform=linux-x64 ;;
  Linux/aarch64 | Linux/arm64) platform=linux-arm64 ;;
  Darwin/arm64) platform=darwin-arm64 ;;
  Darwin/x86_64) platform=darwin-x64 ;;
  *) say "no prebuilt just for $(uname -s)/$(uname -m): install just $JUST_VERSION yourself into $TOOLS/bin"; exit 1 ;;
esac

if ! command -v npm >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "npm is missing: installing Debian's nodejs and npm"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || { say "apt-get update failed: is the Debian package mirror reachable?"; exit 1; }
    apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null || { say "apt-get install nodejs npm failed"; exit 1; }
  else
    say "npm is missing: install Node.js and npm (macOS: brew install node), or just $JUST_VERSION itself into $TOOLS/bin"
    exit 1
  fi
fi

mkdir -p "$TOOLS/bin"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
pkg="rust-just-$platform@$JUST_VERSION"
say "fetching $pkg with npm pack"
tarball="$(cd "$work" && npm pack --silent "$pkg" 2>"$work/npm.log" | tail -1)" \
  || { cat "$work/npm.log" >&2; say "npm pack $pkg failed: check that npm reaches its registry (npm config get registry)"; exit 1; }
tar -xzf "$work/$tarball" -C "$work" package/bin/just
got="$("$work/package/bin/just" --version 2>&1 || true)"
[ "$got" = "just $JUST_VERSION" ] || { say "the fetched binary says '$got', want 'just $JUST_VERSION'"; exit 1; }
chmod 0755 "$work/package/bin/just"
mv -f "$work/package/bin/just" "$bin"
