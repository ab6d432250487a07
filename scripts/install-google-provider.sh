#!/usr/bin/env bash
# install-google-provider.sh: build terraform's Google provider into the suite's mirror.
#
# What it leaves behind, under ${VANIXIETS_HOME:-$HOME/.cache/vanixiets}/tools:
#   terraform-mirror/registry.terraform.io/hashicorp/google/<ver>/<os_arch>/terraform-provider-google_v<ver>
#   google-provider.source        (the module version it was built from)
# terraform.rc (written by install-terraform.sh) already names hashicorp/google in its mirror.
#
# Why from source: no registry but the Go module proxy can be reached, and the provider is a
# Go module. Why a pinned commit and not a tag: the module path has no /vN suffix, so the
# proxy serves none of its v2+ release tags; it serves commits as pseudo-versions of v1.20.x.
# GOOGLE_SOURCE pins one such commit (the main branch two days after the 8.0.0 release, the
# newest the proxy here serves); the mirror calls it GOOGLE_VERSION.
#
# Which services: the provider registers each Google product (google/services/<name>) from an
# init function, and one generated file, google/provider/provider_register_services.go, imports
# all 176 of them. The fleet's terranix module declares only google_compute_instance, so the
# build copy gets that file rewritten to import only GOOGLE_SERVICES (default: compute); the
# compiler pulls in what those import (iambeta, resourcemanager/client). Every line of the
# provider that the fleet's resources run is the provider's own, unchanged. A resource of
# another product then fails `terraform validate` with "The provider hashicorp/google does not
# support resource type ...": add its service to GOOGLE_SERVICES (space separated) and rerun.
# The provider's own allservices package says why this matters: all services "greatly
# increases build time". Measured on 2 cores (docs/ci.md): 191 CPU-s and 39 MB for compute,
# against 943-1033 CPU-s and 126 MB for all.
#
# It runs once per machine: a second run finds the binary built from the same source and
# services and returns at once, and CI reuses it from the tools cache.
set -euo pipefail
set -f  # GOOGLE_SERVICES is split into words below, never globbed

GOOGLE_VERSION="${GOOGLE_VERSION:-8.0.0}"
GOOGLE_SOURCE="${GOOGLE_SOURCE:-v1.20.1-0.20260828184646-f3721fb45fa3}"
GOOGLE_SERVICES="${GOOGLE_SERVICES:-compute}"
MODULE="github.com/hashicorp/terraform-provider-google"
TOOLS="${VANIXIETS_HOME:-$HOME/.cache/vanixiets}/tools"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
ARCH="linux_amd64"
case "$(uname -m)" in
  aarch64|arm64) ARCH="linux_arm64" ;;
esac
case "$(uname -s)" in
  Darwin) ARCH="darwin_${ARCH#linux_}" ;;
esac

say() { printf 'install-google-provider: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

[ -x "$GO" ] || die "go is missing: install Go 1.26 at /usr/local/go (needed to build the google provider)"

PDIR="$TOOLS/terraform-mirror/registry.terraform.io/hashicorp/google/$GOOGLE_VERSION/$ARCH"
PBIN="$PDIR/terraform-provider-google_v$GOOGLE_VERSION"
STAMP="$TOOLS/google-provider.source"
# One word per service, sorted, so "compute dns" and "dns  compute" are one build.
services="$(printf '%s\n' $GOOGLE_SERVICES | sort -u | tr '\n' ' ' | sed 's/ $//')"
[ -n "$services" ] || die "GOOGLE_SERVICES is empty: name at least one service of google/services (the fleet needs compute)"
want="$MODULE@$GOOGLE_SOURCE services: $services"
if [ -x "$PBIN" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
  say "ready: google $GOOGLE_VERSION ($want), $(du -m "$PBIN" | cut -f1) MB"
  exit 0
fi

say "building terraform-provider-google $GOOGLE_VERSION from module source $GOOGLE_SOURCE with services: $services (about 2 minutes of two cores, once per machine)"
t0=$(date +%s)
export GONOSUMDB="$MODULE${GONOSUMDB:+,$GONOSUMDB}"
export GOFLAGS=-mod=mod
src="$(cd /tmp && "$GO" mod download -json "$MODULE@$GOOGLE_SOURCE" \
      | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -n "$src" ] && [ -d "$src" ] || die "go mod download $MODULE@$GOOGLE_SOURCE failed: check GOPROXY reaches a module proxy that serves this commit"
work="$(mktemp -d)"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
# The module cache is read-only, and go build wants to write go.sum entries: build a copy.
cp -r "$src" "$work/src"
chmod -R u+w "$work/src"
reg="$work/src/google/provider/provider_register_services.go"
[ -f "$reg" ] || die "$MODULE@$GOOGLE_SOURCE has no google/provider/provider_register_services.go: pin GOOGLE_SOURCE to a commit whose services register themselves through that file"
{
  printf '// Written by vanixiets scripts/install-google-provider.sh: registers only the services\n'
  printf '// named in GOOGLE_SERVICES instead of all of them.\n'
  printf 'package provider\n\nimport (\n'
  for s in $services; do
    case "$s" in *[!a-z0-9]*) die "GOOGLE_SERVICES names '$s': a service is a directory name of google/services, lower-case letters and digits" ;; esac
    [ -d "$work/src/google/services/$s" ] || die "GOOGLE_SERVICES names '$s', which is not a service of $MODULE@$GOOGLE_SOURCE (see google/services/ in its source)"
    printf '\t_ "%s/google/services/%s"\n' "$MODULE" "$s"
  done
  printf ')\n'
} > "$reg"
(cd "$work/src" && CGO_ENABLED=0 "$GO" build -trimpath \
    -ldflags "-s -w -X $MODULE/version.ProviderVersion=$GOOGLE_VERSION" -o "$work/provider" .) \
  || die "building terraform-provider-google failed (see the go output above)"
mkdir -p "$PDIR"
# Rename within one file system is atomic: a killed build never leaves a half binary in the mirror.
mv "$work/provider" "$PBIN.tmp"
mv "$PBIN.tmp" "$PBIN"
printf '%s' "$want" > "$STAMP.tmp" && mv "$STAMP.tmp" "$STAMP"
say "built google $GOOGLE_VERSION in $(( $(date +%s) - t0 )) s, $(du -m "$PBIN" | cut -f1) MB"
