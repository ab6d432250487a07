#!/usr/bin/env bash
# install-nix226.sh: the installer of setup part "nix226" under the name the
# parts follow (install-<part>.sh; part names carry no dots, see tasks/ci).
# The work is in install-nix-2.26.sh.
exec bash "$(dirname "${BASH_SOURCE[0]}")/install-nix-2.26.sh" "$@"
