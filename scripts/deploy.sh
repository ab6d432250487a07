#!/usr/bin/env bash
# deploy.sh [machine] [mage flags...]: the README's main command. Installs
# what a deployment needs (Nix, the lab's tools, terraform with the hcloud
# provider for cloud machines not yet provisioned), then runs
# `go tool mage deploy:machine <machine>` (default cinnabar) against the lab
# fleet, bringing the lab up first when it is not.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PATH="/usr/local/go/bin:$PATH"
machine="${1:-cinnabar}"
[ $# -gt 0 ] && shift
SETUP_PARTS="${SETUP_PARTS:-nix lab terraform}" bash scripts/setup.sh
exec go tool mage deploy:machine "$machine" "$@"
