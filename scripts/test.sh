#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test (or those of --filter PATTERN, in
# whichever pass they live). Prints how many passed, failed and were skipped, and names any test
# that started and never ended (its process crashed, or its pass timed out); exits non-zero if
# any failed, if a --filter matched nothing, or (with CI=true) if any was skipped. Tests that
# need FUSE, bubblewrap, root or buildbox-casd fail (not skip) when CI=true and one is missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh --with-buildstream --with-buildgrid --with-bazel
export LAZYCAS_TOOLS="$ROOT/.tools"
swift build --build-tests
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

# The --filter patterns, apart from the other arguments (passed on to every pass).
filters=()
others=()
while [ $# -gt 0 ]; do
  case "$1" in
    --filter) [ $# -ge 2 ] || { echo "test.sh: --filter needs a pattern" >&2; exit 2; }; filters+=("$2"); shift 2 ;;
    --filter=*) filters+=("${1#--filter=}"); shift ;;
    *) others+=("$1"); shift ;;
  esac
done

# Two suites run in passes of their own:
# - buildbox-fuse reading from a server inside the test process: a child that another test
#   spawns meanwhile inherits descriptors of files on that mount, and its pre-exec close waits
#   for buildbox-fuse, which waits for the very process that is spawning;
# - the BuildGrid cluster (PostgreSQL, BuildGrid, worker processes, BuildStream) and Bazel (a
#   JVM per command): their load would stretch the timing bounds of the other suites' fault tests.
# A hang fails a pass at its timeout rather than at CI's limit.
own_passes=(ThirdPartyClientTests WorkerCLITests BazelTests)
status=0
run_pass() {
  local limit=$1
  shift
  set +e
  timeout --kill-after=30 "$limit" swift test --skip-build "$@" ${others[@]+"${others[@]}"} 2>&1 | tee -a "$log"
  local pass=${PIPESTATUS[0]}
  set -e
  [ "$status" -eq 0 ] && status=$pass
  return 0
}

main=()
for suite in "${own_passes[@]}"; do main+=(--skip "$suite"); done
for pattern in ${filters[@]+"${filters[@]}"}; do main+=(--filter "$pattern"); done
run_pass 1800 "${main[@]}"
for suite in "${own_passes[@]}"; do
  if [ ${#filters[@]} -eq 0 ]; then
    run_pass 1200 --filter "$suite"
  else
    # Tests of this suite that a pattern selects: both must match the test's identifier.
    own=()
    for pattern in "${filters[@]}"; do own+=(--filter "^(?=.*$suite)(?=.*(?:$pattern))"); done
    run_pass 1200 "${own[@]}"
  fi
done

# One plain closing line for CI. (XCTest, which we do not use, reports "Executed 0 tests".)
# swift-testing prints one line per test that ends: "✔ Test … passed", "✘ Test … failed",
# "➜ Test … skipped" (each test of a disabled suite too); a parameterized test ends in one line.
# A line may be cut by another test's output (an argument printed raw): each mark starts a line.
marks="$(mktemp)"
trap 'rm -f "$log" "$marks"' EXIT
sed -E 's/(✔|✘|◇|➜) Test /\n\1 Test /g' "$log" > "$marks"
count() { grep -E "$1" "$marks" | grep -cvE '^(✔|✘) Test run with' || true; }
passed=$(count '^✔ Test .* passed after')
failed=$(count '^✘ Test .* failed after')
skipped=$(count '^➜ Test .* skipped')
# A test that started and never ended: its process crashed or its pass timed out.
started=$(grep -E '^◇ Test .* started\.' "$marks" | grep -cvE '^◇ Test (run|case passing) ' || true)
unfinished=$((started - passed - failed))
if [ "$unfinished" -gt 0 ]; then
  echo "tests: $passed passed, $failed failed, $skipped skipped, $unfinished did not finish (a crash or a timeout)"
  names() { sed -nE "s/^$1 Test (.*) $2.*/\1/p" "$marks" | sed -E 's/ with [0-9]+ test cases?$//' | grep -vE '^(run$|case passing )' | sort; }
  comm -23 <(names '◇' 'started') <(cat <(names '✔' 'passed after') <(names '✘' 'failed after') | sort) | sed 's/^/  did not finish: /' >&2
  [ "$status" -eq 0 ] && status=1
else
  echo "tests: $passed passed, $failed failed, $skipped skipped"
fi
if [ ${#filters[@]} -gt 0 ] && [ $((passed + failed + skipped)) -eq 0 ]; then
  echo "test.sh: no test matches ${filters[*]}" >&2
  [ "$status" -eq 0 ] && status=1
fi
if [ "${CI:-}" = "true" ] && [ "$skipped" -gt 0 ]; then
  echo "test.sh: $skipped skipped with CI=true: every test must run here" >&2
  grep -E '^➜ Test .* skipped' "$log" >&2 || true
  [ "$status" -eq 0 ] && status=1
fi
exit "$status"
