#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test. Tests that need FUSE,
# bubblewrap or buildbox-casd fail (not skip) when CI=true and one is missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh
export LAZYCAS_TOOLS="$ROOT/.tools"
swift build --build-tests
swift test --skip-build "$@"
