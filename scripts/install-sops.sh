#!/usr/bin/env bash
# install-sops.sh: build the real `sops` command for vanixiets' interop tests.
#
# What it leaves behind, under ${VANIXIETS_HOME:-$HOME/.cache/vanixiets}/tools:
#   bin/sops          built with `go install` from github.com/getsops/sops/v3 at a
#                     pinned version (the module proxy serves v3.13.3)
#   sops.version      the version bin/sops was built from
#
# The suite reads and writes sops files itself (tasks/sops); this binary is the
# reference it is tested against: sops must decrypt what the suite writes, and
# the suite must decrypt and edit what sops writes (tasks/sops interop tests,
# which find it through $VANIXIETS_SOPS, else <tools>/bin/sops, else PATH).
# Idempotent: a second run finds the binary at the pinned version and does nothing.
set -euo pipefail

SOPS_VERSION="${SOPS_VERSION:-3.13.3}"
TOOLS="${VANIXIETS_TOOLS:-${VANIXIETS_HOME:-$HOME/.cache/vanixiets}/tools}"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"

say() { printf 'install-sops: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

[ -x "$GO" ] || die "go is missing: install Go 1.26 at /usr/local/go (needed to build sops)"
mkdir -p "$TOOLS/bin"

if [ -x "$TOOLS/bin/sops" ] && [ "$(cat "$TOOLS/sops.version" 2>/dev/null)" = "$SOPS_VERSION" ]; then
  exit 0
fi

say "building sops v$SOPS_VERSION with go install (1-3 minutes on 2 cores)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# Build into a scratch GOBIN and move into place, so an interrupted build never
# leaves a half-written bin/sops that the version check would accept.
# Compiled without optimisation (-N -l): only the interop tests run this sops,
# on a few small files, and its cold build then takes 314 CPU-s instead of
# 394 (measured on 2 cores, empty build cache).
(cd "$tmp" && GOBIN="$tmp/bin" GOFLAGS=-mod=mod "$GO" install -gcflags="all=-N -l" -ldflags="-s -w" "github.com/getsops/sops/v3/cmd/sops@v$SOPS_VERSION") \
  || die "go install github.com/getsops/sops/v3/cmd/sops@v$SOPS_VERSION failed: check that GOPROXY reaches a Go module proxy"
"$tmp/bin/sops" --version --disable-version-check >/dev/null 2>&1 || "$tmp/bin/sops" --version >/dev/null \
  || die "the built sops does not run"
mv -f "$tmp/bin/sops" "$TOOLS/bin/sops"
printf '%s\n' "$SOPS_VERSION" > "$TOOLS/sops.version.tmp" && mv -f "$TOOLS/sops.version.tmp" "$TOOLS/sops.version"
say "sops v$SOPS_VERSION ready: $TOOLS/bin/sops"
