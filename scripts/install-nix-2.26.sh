#!/usr/bin/env bash
# install-nix-2.26.sh: a second, current Nix (Debian trixie's nix-bin 2.26)
# beside the machine's Nix 2.8, so the suite is tested against what its users
# run as well as against what CI's Debian 12 ships (docs/nix-versions.md).
#
# What it leaves behind, under ${VANIXIETS_HOME:-$HOME/.cache/vanixiets}/tools:
#   nix-2.26/root/      a trixie root made by mmdebstrap (--variant=apt, nix-bin
#                       and ca-certificates; about 25 s and 230 MB), never
#                       chrooted into: only its loader, libraries and nix run
#   nix-2.26/bin/nix    the wrapper (and nix-store, nix-daemon, ... as links
#                       to it): runs the root's nix through the root's own
#                       dynamic loader, so bookworm's older glibc is not used
#   nix-2.26/version    the `nix --version` line, written last (the "done" mark)
#   bin/nix-2.26        a link to the wrapper
#
# Why a wrapper and not a chroot: the deployer reads flakes, keys and store
# paths from the machine's own file system; only the program is trixie's.
#
# The store. Nix 2.26 upgrades a store database it opens (2.8 cannot read it
# afterwards), so the wrapper never opens a store it did not create: it
# refuses a /nix/var/nix/db that lacks its mark (/nix/var/vanixiets-nix,
# containing "2.26"), and marks an empty one. A 2.26 store lives at its own
# place, bound over /nix in a private mount namespace: either by the caller
# (a lab host's namespace binds the host's own 2.26 store), or by the
# wrapper itself when VANIXIETS_NIX226_STORE=<dir> names one
# (unshare -m, then a bind of <dir> over /nix).
#
# The trixie sources come from this machine's own apt configuration: its
# Debian mirror (the first deb822 URIs: or sources.list line of a Debian
# suite), with suite trixie. Set NIX226_MIRROR to use another.
# Idempotent: a second run finds the version mark and does nothing.
set -euo pipefail

TOOLS="${VANIXIETS_TOOLS:-${VANIXIETS_HOME:-$HOME/.cache/vanixiets}/tools}"
DEST="$TOOLS/nix-2.26"
WANT="2.26"

say() { printf 'install-nix-2.26: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (mmdebstrap and the store's mount namespace need it); re-run with sudo"

# write_wrapper writes the wrapper into $DEST/bin (atomically) and its links.
write_wrapper() {
  mkdir -p "$DEST/bin" "$TOOLS/bin"
  cat > "$DEST/bin/.nix.tmp" <<'EOF'
#!/bin/sh
# Nix 2.26 from the trixie root beside this directory (install-nix-2.26.sh).
# Refuses a store it did not create: 2.26 would upgrade a 2.8 store's database.
set -eu
self="$0"
case "$self" in */*) ;; *) self="$(command -v "$self")" ;; esac
name="$(basename "$self")"
[ "$name" = nix-2.26 ] && name=nix
here="$(cd "$(dirname "$(readlink -f "$self")")" && pwd)"
root="$(dirname "$here")/root"
# A lab host binds this wrapper over its /usr/bin/nix and this install's
# directory at /run/vanixiets-nix-2.26 (tasks/lab): find the root there.
[ -x "$root/usr/bin/nix" ] || root=/run/vanixiets-nix-2.26/root
if [ -n "${VANIXIETS_NIX226_STORE:-}" ]; then
  store="$VANIXIETS_NIX226_STORE"
  unset VANIXIETS_NIX226_STORE
  mkdir -p "$store"
  exec unshare -m --propagation private sh -c 'mount --bind "$0" /nix && exec "$@"' "$store" "$self" "$@"
fi
mark=/nix/var/vanixiets-nix
# `nix --version` opens no store: it is allowed anywhere (the suite's step
# keys ask it). The legacy commands (nix-store --version) do open it.
if [ "$name" = nix ] && [ "$*" = --version ]; then
  exec "$root/lib64/ld-linux-x86-64.so.2" --library-path "$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu" \
    --argv0 "$name" "$root/usr/bin/nix" --version
fi
if [ -e /nix/var/nix/db ] && [ "$(cat "$mark" 2>/dev/null)" != 2.26 ]; then
  echo "nix-2.26: refusing the store at /nix: it was not made by Nix 2.26 (no '2.26' in $mark), and 2.26 would upgrade its database so that Nix 2.8 can no longer open it." >&2
  echo "nix-2.26: give it a store of its own: VANIXIETS_NIX226_STORE=<empty dir> $self ..., or run it where a private mount namespace binds a 2.26 store over /nix (a lab host with VANIXIETS_LAB_NIX=2.26)." >&2
  exit 2
fi
if [ ! -e "$mark" ]; then
  mkdir -p /nix/var
  echo 2.26 > "$mark.tmp" && mv -f "$mark.tmp" "$mark"
fi
# The build hook would be started as /proc/self/exe, which is the loader
# here: no remote builders, no hook.
NIX_CONFIG="${NIX_CONFIG:-}
build-hook ="
export NIX_CONFIG
exec "$root/lib64/ld-linux-x86-64.so.2" \
  --library-path "$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu" \
  --argv0 "$name" "$root/usr/bin/nix" "$@"
EOF
  chmod 0755 "$DEST/bin/.nix.tmp"
  mv -f "$DEST/bin/.nix.tmp" "$DEST/bin/nix"
  for l in nix-build nix-store nix-daemon nix-env nix-instantiate nix-hash nix-shell nix-collect-garbage nix-copy-closure; do
    ln -sfn nix "$DEST/bin/$l"
  done
  ln -sfn "$DEST/bin/nix" "$TOOLS/bin/nix-2.26"
}

if [ -x "$DEST/root/usr/bin/nix" ] && grep -q "Nix) $WANT" "$DEST/version" 2>/dev/null; then
  write_wrapper # cheap, and keeps the wrapper current with this script
  exit 0
fi

# The mirror: this machine's own Debian mirror, suite trixie.
mirror="${NIX226_MIRROR:-}"
if [ -z "$mirror" ]; then
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # the first stanza whose Suites name a Debian release (not -security)
    mirror="$(awk '
      /^[[:space:]]*$/ { if (uri != "" && ok) { print uri; exit } uri=""; ok=0; next }
      /^URIs:/ { uri=$2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i ~ /^(bookworm|trixie|bullseye|stable|testing)$/) ok=1 }
      END { if (uri != "" && ok) print uri }' "$f" | head -n1)"
    [ -n "$mirror" ] && break
  done
fi
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  mirror="$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)"
fi
[ -n "$mirror" ] || die "found no Debian mirror in /etc/apt/sources.list*: set NIX226_MIRROR to a Debian mirror's URL (its dists/trixie must exist)"

if ! command -v mmdebstrap >/dev/null 2>&1; then
  say "installing mmdebstrap (bookworm)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null; } \
    || die "apt-get install mmdebstrap failed: is the Debian package mirror reachable?"
fi

say "building a trixie root with nix-bin from $mirror (about 25 s, 230 MB)"
mkdir -p "$DEST"
tmp="$(mktemp -d "$DEST/.root.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mmdebstrap --quiet --variant=apt --include=nix-bin,ca-certificates trixie "$tmp/root" "deb $mirror trixie main" \
  || die "mmdebstrap of trixie with nix-bin failed (mirror $mirror): does that mirror carry trixie? set NIX226_MIRROR otherwise"
rm -rf "$DEST/root.old"
[ -e "$DEST/root" ] && mv "$DEST/root" "$DEST/root.old"
mv "$tmp/root" "$DEST/root"
rm -rf "$DEST/root.old"
write_wrapper
ver="$("$DEST/bin/nix" --version 2>&1)" || die "the 2.26 wrapper does not run: $ver"
case "$ver" in *"Nix) $WANT"*) ;; *) die "trixie's nix-bin reports '$ver', want $WANT.x: update WANT in this script and docs/nix-versions.md";; esac
printf '%s\n' "$ver" > "$DEST/version.tmp" && mv -f "$DEST/version.tmp" "$DEST/version"
say "ok: $ver ($(du -sm "$DEST/root" | cut -f1) MB at $DEST)"
