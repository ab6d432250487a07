#!/usr/bin/env bash
# with-nix-2.26.sh CMD [ARGS...]: run CMD as a deployer on Nix 2.26.
#
# The deployer reads the store paths it copies from /nix/store itself (it
# speaks the daemon protocol to hosts), so a Nix 2.26 deployer needs a
# /nix that is a 2.26 store, and this machine's /nix belongs to its Nix
# 2.8 (2.26 would upgrade its database). This runs CMD in a private mount
# namespace where ${VANIXIETS_NIX226_STORE:-<tools>/nix-2.26/store} is bound
# over /nix, with VANIXIETS_NIX=2.26 and 2.26's nix, nix-store, nix-daemon
# first on PATH. Nothing outside the namespace changes. Lab hosts started
# inside bind their own stores as usual (VANIXIETS_LAB_NIX picks their
# Nix). Needs root and scripts/install-nix-2.26.sh. See docs/nix-versions.md.
set -euo pipefail
TOOLS="${VANIXIETS_TOOLS:-${VANIXIETS_HOME:-$HOME/.cache/vanixiets}/tools}"
bin="$TOOLS/nix-2.26/bin"
store="${VANIXIETS_NIX226_STORE:-$TOOLS/nix-2.26/store}"
[ $# -gt 0 ] || { echo "usage: $0 CMD [ARGS...] (e.g. $0 go test -tags e2e ./tasks/deploy)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "with-nix-2.26: must run as root (it binds a store over /nix in a private mount namespace)" >&2; exit 1; }
[ -x "$bin/nix" ] || { echo "with-nix-2.26: Nix 2.26 is not installed at $bin/nix: run scripts/install-nix-2.26.sh" >&2; exit 1; }
mkdir -p "$store" /nix
if [ -e "$store/var/nix/db" ] && [ "$(cat "$store/var/vanixiets-nix" 2>/dev/null)" != 2.26 ]; then
  echo "with-nix-2.26: $store holds a store that Nix 2.26 did not make; set VANIXIETS_NIX226_STORE to an empty directory" >&2
  exit 1
fi
unset VANIXIETS_NIX226_STORE
export VANIXIETS_NIX=2.26 PATH="$bin:$PATH"
exec unshare --mount --propagation private sh -c 'mount --bind "$0" /nix && exec "$@"' "$store" "$@"
