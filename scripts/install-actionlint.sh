#!/usr/bin/env bash
# install-actionlint.sh: build actionlint, the GitHub Actions workflow linter
# the suite's workflow test runs (tasks/ci TestWorkflowActionlint), into
# ${VANIXIETS_HOME:-$HOME/.cache/vanixiets}/tools/bin/actionlint.
#
# Built as a tool rather than imported as a library: importing it would add
# its modules (doublestar, cron, go-runewidth, go-shellwords, yaml/v4, ...)
# to go.mod and a go_repository for each to the Bazel workspace, for one
# test. A `setup` part (SETUP_PARTS=actionlint); idempotent: a second run
# finds the pinned version in place and does nothing.
set -euo pipefail

ACTIONLINT_VERSION="${ACTIONLINT_VERSION:-1.7.12}"
TOOLS="${VANIXIETS_TOOLS:-${VANIXIETS_HOME:-$HOME/.cache/vanixiets}/tools}"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
say() { printf 'install-actionlint: %s\n' "$*" >&2; }

[ -x "$GO" ] || { say "go is missing: install Go 1.26 at /usr/local/go"; exit 1; }
bin="$TOOLS/bin/actionlint"
if [ -x "$bin" ] && [ "$("$bin" -version 2>/dev/null | head -1)" = "v$ACTIONLINT_VERSION" ]; then
  exit 0
fi
mkdir -p "$TOOLS/bin"
say "building actionlint v$ACTIONLINT_VERSION with go install"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && GOBIN="$work" GOFLAGS=-mod=mod "$GO" install -ldflags="-s -w" "github.com/rhysd/actionlint/cmd/actionlint@v$ACTIONLINT_VERSION") \
  || { say "go install github.com/rhysd/actionlint/cmd/actionlint@v$ACTIONLINT_VERSION failed: check GOPROXY reaches a module proxy"; exit 1; }
mv -f "$work/actionlint" "$bin"
