#!/usr/bin/env bash
# setup.sh: install everything the suite drives, on a bare Debian 12 as root.
#
# Each part is its own idempotent script (a second run finds its work done and
# returns in seconds); this one runs them in order and says which failed.
# Parts: nix (Debian's nix-bin), nix226 (a second Nix, trixie's 2.26, in
# its own root under the tools dir: docs/nix-versions.md), the lab's tools (iproute2, openssh-server),
# age, terraform + the hcloud provider mirror, the google provider (built once
# per machine, the longest part), sops (for the interop tests),
# bazel-remote, Bazel offline, actionlint (for the workflow test), just (for
# the justfile's test: a prebuilt binary, through npm).
# Select parts with SETUP_PARTS="nix lab terraform" (default: all).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export PATH="/usr/local/go/bin:$PATH"

say() { printf 'setup: %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  say "must run as root (it installs Debian packages and the lab needs namespaces); re-run with sudo"
  exit 1
fi
command -v go >/dev/null || { say "go is missing: install Go 1.26 at /usr/local/go"; exit 1; }

parts="${SETUP_PARTS:-nix nix226 lab terraform google-provider sops bazel-remote bazel actionlint just}"

# apt runs once for the Debian packages of the selected parts (a CI job that
# needs only nix does not pay for Bazel's JDK), with a policy that stops any
# service from starting (openssh-server must not start a system sshd). Each
# part's installer still checks its own packages, so this is only the
# batching of what they would install one by one.
apt_packages=(git ca-certificates patch util-linux age posh)
for part in $parts; do
  case "$part" in
    nix) apt_packages+=(nix-bin) ;;
    nix226) apt_packages+=(mmdebstrap) ;;
    lab) apt_packages+=(iproute2 openssh-server openssh-client sudo) ;;
    bazel) apt_packages+=(bazel-bootstrap bazel-skylib) ;;
    just) command -v npm >/dev/null || apt_packages+=(nodejs npm) ;;
  esac
done
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  policy=/usr/sbin/policy-rc.d
  had_policy=0; [ -e "$policy" ] && had_policy=1
  if [ $had_policy = 0 ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; fi
  trap '[ $had_policy = 0 ] && rm -f "$policy"' EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || { say "apt-get update failed: is the Debian package mirror reachable?"; exit 1; }
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || { say "apt-get install ${missing[*]} failed"; exit 1; }
  [ $had_policy = 0 ] && rm -f "$policy"
  trap - EXIT
fi

# The parts run at the same time, each into its own log: most of them are
# `go build`s of large modules (terraform, two providers, sops,
# bazel-remote) whose downloads and links leave the cores idle, so running
# them side by side, sharing Go's module and build caches (both safe for
# concurrent use), takes minutes off a cold set-up. The Debian packages are
# already in place, so no two parts run apt at once. A failed part's log is
# printed whole.
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
pids=()
names=()
for part in $parts; do
  script="$here/install-$part.sh"
  [ "$part" = lab ] && script="$here/install-lab-deps.sh"
  if [ ! -f "$script" ]; then
    say "no installer for '$part' ($script): known parts are the scripts/install-*.sh names"
    exit 1
  fi
  (
    t0=$(date +%s)
    if bash "$script" >"$logs/$part.log" 2>&1; then
      # CPU the part's processes used (user+system, from bash's `times`:
      # its second line is the children's). With the parts side by side on
      # few cores the wall time says little about a part; the CPU does.
      # (`times` into a file: in a pipe or $(...) it would run in a fork,
      # which has no children of its own.)
      times >"$logs/$part.times"
      cpu="$(awk 'NR==2 { n=0; for (i=1; i<=2; i++) { split($i, a, "m"); n += a[1]*60 + a[2] } printf "%d", n }' "$logs/$part.times")"
      say "$part ready ($(( $(date +%s) - t0 )) s, ${cpu} s CPU)"
    else
      exit 1
    fi
  ) &
  pids+=($!)
  names+=("$part")
done
failed=()
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    part="${names[$i]}"
    say "$part FAILED; its log:"
    sed 's/^/  /' "$logs/$part.log" >&2
    failed+=("$part")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  say "failed parts: ${failed[*]}"
  exit 1
fi
# Nix's flake fetcher runs git as root in the checkout, and git refuses a
# checkout owned by another user (a CI clone) unless safe.directory names
# it. Name this checkout only, and only when it is another user's: never
# '*', which lets the owner of any checkout run programs as root through its
# git configuration (core.fsmonitor). A '*' an older setup added goes.
repo="$(cd "$here/.." && pwd)"
if git config --global --get-all safe.directory 2>/dev/null | grep -qx '\*'; then
  git config --global --unset-all safe.directory '^\*$'
  say "removed safe.directory=* from $(id -un)'s git config: it let any checkout's owner run programs as $(id -un)"
fi
if [ "$(stat -c %u "$repo")" != "$(id -u)" ] && ! git config --global --get-all safe.directory 2>/dev/null | grep -qxF "$repo"; then
  git config --global --add safe.directory "$repo"
  say "git: trusting $repo (owned by $(stat -c %U "$repo")) by name"
fi
say "all parts ready"
