#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test. Tests that need FUSE,
# bubblewrap or buildbox-casd fail (not skip) when CI=true and one is missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh --with-buildstream
export LAZYCAS_TOOLS="$ROOT/.tools"
swift build --build-tests
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
swift test --skip-build "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One plain closing line for CI. (XCTest, which we do not use, reports "Executed 0 tests".)
total=$(grep -oE 'Test run with [0-9]+ test' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
failed=$(grep -cE '✘ Test .* failed after' "$log" || true)
echo "tests: $((total - failed)) passed, $failed failed"
exit "$status"
