#!/usr/bin/env bash
# test.sh: the README's test command. Installs what the tests need
# (scripts/setup.sh), then runs every CI job of ci/jobs.toml through the
# suite's own cached CI runner: Go unit tests, the lab end-to-end tests,
# Bazel, and the fleet, overlay, vars and terraform checks.
#
# Extra arguments go to `mage ci:run` (job names, --force).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PATH="/usr/local/go/bin:$PATH"
bash scripts/setup.sh
exec go tool mage ci:run "$@"
