#!/usr/bin/env bash
# install-bazel-remote.sh: build bazel-remote (the shared cache server the
# remote cache backend and its end-to-end tests speak to) from its Go module
# source and cache the binary under ${VANIXIETS_HOME:-$HOME/.cache/vanixiets}/tools.
#
# Why from source: there is no Debian package, and nothing may be fetched from
# outside the Go module proxy. The proxy here lacks v2.6.0 and the checksum
# database entry for the module, hence the pin to v2.6.1 and GONOSUMDB.
# The build is pure Go (CGO_ENABLED=0: bazel-remote then uses its Go zstd), so
# no C compiler is needed.
#
# Idempotent: a second run with the same version finds the binary and its
# version stamp and returns at once. Override the version with
# BAZEL_REMOTE_VERSION=v2.6.2 (it must exist on the module proxy).
set -euo pipefail

version="${BAZEL_REMOTE_VERSION:-v2.6.1}"
module=github.com/buchgr/bazel-remote/v2
tools="${VANIXIETS_HOME:-$HOME/.cache/vanixiets}/tools"
bin="$tools/bazel-remote"
stamp="$tools/bazel-remote.version"

say() { printf 'install-bazel-remote: %s\n' "$*" >&2; }

if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
  say "bazel-remote $version already at $bin"
  exit 0
fi

export PATH="/usr/local/go/bin:$PATH"
command -v go >/dev/null || { say "go is missing: install Go 1.26 at /usr/local/go, then re-run"; exit 1; }

export GONOSUMDB="$module" GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0
work="$(mktemp -d)"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

say "downloading $module@$version from the Go module proxy"
# Outside any module, so the caller's go.mod is neither read nor changed.
json="$(cd "$work" && go mod download -json "$module@$version" 2>&1)" || true
dir="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
if [ -z "$dir" ] || [ ! -f "$dir/go.mod" ]; then
  err="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Error": "\(.*\)",\{0,1\}$/\1/p')"
  say "cannot download $module@$version: ${err:-$json}"
  say "check GOPROXY ($(go env GOPROXY)) or pick a version the proxy has with BAZEL_REMOTE_VERSION"
  exit 1
fi

# The module cache is read-only: build in a writable copy.
cp -r "$dir" "$work/src"
chmod -R u+w "$work/src"
say "building bazel-remote $version (pure Go; takes a minute or two the first time)"
# Compiled without optimisation (-N -l), as sops is (install-sops.sh): only
# the tests start this server, for a handful of blobs each.
(cd "$work/src" && go build -trimpath -gcflags="all=-N -l" -ldflags="-s -w" -o "$work/bazel-remote" .) || {
  say "go build of $module@$version failed (see above); its dependencies must be on the module proxy"
  exit 1
}
"$work/bazel-remote" --help >/dev/null 2>&1 || { say "built binary does not run: $work/bazel-remote --help failed"; exit 1; }

# Atomic install: copy next to the target, then rename over it.
mkdir -p "$tools"
cp "$work/bazel-remote" "$bin.tmp.$$"
chmod 0755 "$bin.tmp.$$"
mv -f "$bin.tmp.$$" "$bin"
printf '%s\n' "$version" > "$stamp.tmp.$$"
mv -f "$stamp.tmp.$$" "$stamp"
say "bazel-remote $version installed at $bin"
