#!/usr/bin/env bash
# Builds (scripts/build.sh, which also installs what is missing), then runs every test, unit and
# integration, with ctest. Exits non-zero if anything fails to build or any test fails.
# Environment: JOBS (see build.sh). Extra arguments go to ctest, e.g. `-L unit` or `-R state`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

"$root/scripts/build.sh"

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

echo "test: running ctest in $root/build"
status=0
ctest --test-dir build --output-on-failure --no-tests=error "$@" 2>&1 | tee "$log" || status=$?

summary="$(grep -E '[0-9]+% tests passed' "$log" | tail -n 1 || true)"
echo
if [ "$status" -eq 0 ]; then
  echo "test: OK: ${summary:-ctest reported success}"
else
  echo "test: FAILED (ctest exit $status): ${summary:-no summary; see the output above}" >&2
fi
exit "$status"
