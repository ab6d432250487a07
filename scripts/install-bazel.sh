#!/usr/bin/env bash
# install-bazel.sh: make `bazel test //...` work offline on a bare Debian 12.
#
# What it sets up (see docs/bazel.md for the why of each piece):
#   1. Debian's bazel-bootstrap (Bazel 4.2.3, WORKSPACE mode) and bazel-skylib.
#   2. rules_go v0.34.0 and gazelle v0.26.0 — the last versions that support
#      Bazel 4 — taken from the Go module proxy (both are Go modules), copied
#      to ${VANIXIETS_HOME:-~/.cache/vanixiets}/tools/bazel/<stamp>/ and
#      patched with scripts/bazel/patches/*.patch so that Go 1.26 works as the
#      host SDK. Gazelle's own dependencies are vendored into that copy, so
#      go_repository can build its fetch_repo/gazelle tools without a network.
#   3. The host Go module cache filled with every module go.mod needs, so
#      go_repository (GOPROXY=off, GO_REPOSITORY_USE_HOST_CACHE=1) resolves
#      them offline, plus a host gazelle binary for `mage bazel:gazelle`.
#   4. scripts/bazel/.deps/ (git-ignored): symlinks the WORKSPACE's
#      local_repository paths point at, and disk_cache.bazelrc naming the
#      disk cache under ${VANIXIETS_HOME:-~/.cache/vanixiets}/bazel.
#
# Idempotent and fast when done: the patched copy is keyed by a stamp of the
# versions, the patches and this script; only `go mod download` (a no-op when
# the cache is full) and the symlinks are redone.
set -euo pipefail

say() { printf 'install-bazel: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
home="${VANIXIETS_HOME:-$HOME/.cache/vanixiets}"
rules_go_version=v0.34.0
gazelle_version=v0.26.0

# --- 1. Bazel and skylib from Debian ---------------------------------------
need_apt=()
command -v bazel >/dev/null || need_apt+=(bazel-bootstrap)
[ -f /usr/share/bazel/tools/skylib/WORKSPACE ] || need_apt+=(bazel-skylib)
if [ "${#need_apt[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing ${need_apt[*]}: run this script as root (it apt-get installs them)"
  say "apt-get install ${need_apt[*]}"
  policy=/usr/sbin/policy-rc.d
  had_policy=0; [ -e "$policy" ] && had_policy=1
  if [ "$had_policy" = 0 ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"
    trap '[ "$had_policy" = 0 ] && rm -f "$policy"' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${need_apt[@]}" >/dev/null ||
    { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${need_apt[@]}" >/dev/null; } ||
    die "apt-get could not install ${need_apt[*]}: check /etc/apt/sources.list has Debian 12 main"
fi
skylib=/usr/share/bazel/tools/skylib
[ -f "$skylib/WORKSPACE" ] || die "bazel-skylib is installed but $skylib/WORKSPACE is missing"

export PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null || die "go is missing: install Go 1.26 at /usr/local/go, then re-run"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

# --- 2. rules_go and gazelle, patched ---------------------------------------
stamp="$( {
  echo "$rules_go_version $gazelle_version $(go env GOVERSION)"
  cat "$repo"/scripts/bazel/patches/*.patch "$repo/scripts/install-bazel.sh"
} | sha256sum | cut -c1-16)"
dest="$home/tools/bazel/deps-$stamp"

module_dir() { # module@version -> its directory in the module cache
  local json dir
  json="$(cd / && go mod download -json "$1")" || die "go mod download $1 failed: is the Go module proxy reachable? (GOPROXY=$(go env GOPROXY))"
  dir="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  [ -d "$dir" ] || die "go mod download $1 gave no directory"
  printf '%s\n' "$dir"
}

if [ ! -f "$dest/.done" ]; then
  command -v patch >/dev/null || die "patch is missing: apt-get install patch"
  say "preparing rules_go $rules_go_version and gazelle $gazelle_version in $dest"
  tmp="$dest.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  cp -r "$(module_dir github.com/bazelbuild/rules_go@$rules_go_version)" "$tmp/rules_go"
  cp -r "$(module_dir github.com/bazelbuild/bazel-gazelle@$gazelle_version)" "$tmp/bazel_gazelle"
  chmod -R u+w "$tmp"
  for p in "$repo"/scripts/bazel/patches/rules_go-*.patch; do
    [ -e "$p" ] || continue
    patch -s -p1 -d "$tmp/rules_go" <"$p" || die "patch $p does not apply to rules_go $rules_go_version"
  done
  for p in "$repo"/scripts/bazel/patches/gazelle-*.patch; do
    [ -e "$p" ] || continue
    patch -s -p1 -d "$tmp/bazel_gazelle" <"$p" || die "patch $p does not apply to gazelle $gazelle_version"
  done
  # gazelle v0.26's list of standard packages predates Go 1.21 (slices, maps,
  # cmp, iter, ...): without them it looks those imports up as modules and
  # warns. Rewrite the list from the host Go, which is the SDK Bazel uses.
  { printf 'package golang\n\nvar stdPackages = map[string]bool{\n'
    go list std cmd | sed 's/.*/\t"&": true,/'
    printf '}\n'; } >"$tmp/bazel_gazelle/language/go/std_package_list.go" || die "go list std failed"
  # The module zip carries vendor/modules.txt but not the vendored code;
  # go_repository builds gazelle in GOPATH mode and needs it.
  (cd "$tmp/bazel_gazelle" && go mod vendor) || die "go mod vendor in gazelle failed: the module proxy must serve gazelle's dependencies"
  (cd "$tmp/bazel_gazelle" && CGO_ENABLED=0 go build -mod=vendor -trimpath -o "$tmp/bin/gazelle" ./cmd/gazelle) ||
    die "building gazelle failed"
  touch "$tmp/.done"
  rm -rf "$dest"; mv "$tmp" "$dest"
  # Older stamps are left behind by upgrades; remove them.
  for old in "$home"/tools/bazel/deps-*; do
    [ "$old" = "$dest" ] || { chmod -R u+w "$old" 2>/dev/null || true; rm -rf "$old"; }
  done
fi

# --- 3. the module's dependencies in the host module cache ------------------
# `go mod download` with no arguments fetches every module go.mod lists (a
# no-op when they are cached). Other engineers add dependencies; re-running
# this script (scripts/setup.sh does) fetches theirs.
(cd "$repo" && go mod download) || die "go mod download failed in $repo: the module proxy must serve go.mod's pins"

# --- 4. the checkout's links ----------------------------------------------------
deps="$repo/scripts/bazel/.deps"
mkdir -p "$deps" "$home/bazel"
ln -sfn "$dest/rules_go" "$deps/rules_go"
ln -sfn "$dest/bazel_gazelle" "$deps/bazel_gazelle"
ln -sfn "$dest/bin/gazelle" "$deps/gazelle"
ln -sfn "$skylib" "$deps/bazel_skylib"
want="build --disk_cache=$home/bazel"
[ "$(cat "$deps/disk_cache.bazelrc" 2>/dev/null)" = "$want" ] || printf '%s\n' "$want" >"$deps/disk_cache.bazelrc"
say "ready: bazel $(bazel --version 2>/dev/null | awk '{print $2}') (Debian 4.2.3), rules_go $rules_go_version, gazelle $gazelle_version, disk cache $home/bazel"
