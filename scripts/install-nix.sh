#!/usr/bin/env bash
# install-nix.sh: make sure the `nix` command the suite drives is present.
#
# Installs Debian's nix-bin (Nix 2.8 on Debian 12) when `nix` is missing, and
# git when it is missing (a flake inside a git checkout is read through git).
# No daemon is set up: the suite runs nix as root in single-user mode with
#   NIX_CONFIG='experimental-features = nix-command flakes
#               substituters =
#               sandbox = false
#               build-users-group ='
# (tasks/nix sets it for every command). Idempotent: when nix already works
# it only says so. Runs as root on Debian 12.
set -euo pipefail

say() { printf 'install-nix: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

export NIX_CONFIG=$'experimental-features = nix-command flakes\nsubstituters =\nsandbox = false\nbuild-users-group ='

need=()
command -v nix >/dev/null 2>&1 || need+=(nix-bin)
command -v git >/dev/null 2>&1 || need+=(git)

if [ "${#need[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing ${need[*]}: run as root (apt-get install ${need[*]})"
  command -v apt-get >/dev/null 2>&1 || die "missing ${need[*]} and no apt-get: install Nix >= 2.8 by hand"
  export DEBIAN_FRONTEND=noninteractive
  # no service may start during the install
  policy=/usr/sbin/policy-rc.d
  restore=""
  if [ -e "$policy" ]; then restore="$(mktemp)"; cp -p "$policy" "$restore"; fi
  cleanup() {
    if [ -n "$restore" ]; then mv -f "$restore" "$policy"; else rm -f "$policy"; fi
  }
  trap cleanup EXIT
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 0755 "$policy"
  if ! apt-cache show "${need[@]}" >/dev/null 2>&1; then
    say "apt-get update"
    apt-get update -qq || die "apt-get update failed: the Debian mirror is unreachable"
  fi
  say "installing ${need[*]}"
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
    || die "apt-get install ${need[*]} failed"
fi

command -v nix >/dev/null 2>&1 || die "nix still missing after installing nix-bin: is /usr/bin on PATH?"
# a single-user store as root: the first command creates /nix/store
mkdir -p /nix/var/nix 2>/dev/null || true
ver="$(nix --version 2>&1)" || die "nix --version failed: $ver"
out="$(nix eval --expr '1 + 1' 2>&1)" || die "nix cannot evaluate ($out): the store under /nix must be writable by $(id -un)"
[ "$out" = 2 ] || die "nix eval printed '$out', want 2"
say "ok: $ver"
