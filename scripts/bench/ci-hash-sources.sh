#!/usr/bin/env bash
# ci-hash-sources.sh ROOT JOB GLOB...: the CI key algorithm the suite replaces,
# reproduced for comparison (mage bench:ci runs it beside the suite's own):
# every file matched by the hash-sources globs, found and sorted, hashed one
# `git hash-object` process per file, the digests concatenated, sha256'd and
# cut to 12 hex characters. Prints job-result-<job>-<hash12>.
# Paths and modes are not part of this key: that is one of its weaknesses.
set -euo pipefail
root="$1"; job="$2"; shift 2
cd "$root"
shopt -s globstar nullglob dotglob
files=()
for g in "$@"; do
  for f in $g; do [ -f "$f" ] && files+=("$f"); done
done
hash=$(printf '%s\n' "${files[@]}" | sort -u | while IFS= read -r f; do
  [ -n "$f" ] && git hash-object "$f"
done | sha256sum | cut -c1-12)
echo "job-result-$job-$hash"
