#!/usr/bin/env bash
# Scale out on BuildGrid: a private PostgreSQL + BuildGrid 0.4.4 and two lazycas workers on this
# machine, all on loopback. Builds the examples project with BuildGrid as the execution remote,
# shows which worker ran which action and what each fetched of its input root, rebuilds (all
# cache hits), then stops the workers with SIGTERM and the cluster. Run as root.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh --with-buildgrid
echo "== building lazycas"
for product in lazycas lazycas-mount lazycas-download; do swift build --product "$product" 2>&1 | tail -1; done
LAZYCAS="$(swift build --show-bin-path)/lazycas"

WORK="$(mktemp -d /tmp/lazycas-cluster.XXXXXX)"
WORKERS=()
cleanup() {
  for pid in "${WORKERS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${WORKERS[@]}"; do wait "$pid" 2>/dev/null || true; done
  "$ROOT/scripts/lib/buildgrid.sh" stop "$WORK/buildgrid" || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== PostgreSQL + BuildGrid (instance 'main')"
URL="$("$ROOT/scripts/lib/buildgrid.sh" start "$WORK/buildgrid" main | tail -1)"
echo "   BuildGrid at $URL (log: $WORK/buildgrid/bgd.log)"

for name in worker-1 worker-2; do
  echo "== lazycas worker $name"
  "$LAZYCAS" worker --bots-remote "$URL" --cas-remote "$URL" \
      --instance main --capacity 4 --platform OSFamily=linux --work-dir "$WORK/$name" \
      --bot-id "$name" --stats-file "$WORK/$name.json" 2>"$WORK/$name.log" &
  WORKERS+=($!)
done
for name in worker-1 worker-2; do
  for _ in $(seq 100); do grep -q "bot session" "$WORK/$name.log" && break; sleep 0.1; done
  head -2 "$WORK/$name.log" | sed 's/^/   /'
done

CACHE="$WORK/cache"
cd "$ROOT/examples/hello"
echo "== lazycas build hello.bst --exec-remote $URL --instance main: BuildGrid schedules, lazycas workers run"
"$LAZYCAS" build hello.bst --exec-remote "$URL" --instance main --cache-dir "$CACHE"
echo "== lazycas build world.bst: the rest of the project"
"$LAZYCAS" build --remote-jobs 16 world.bst --exec-remote "$URL" --instance main --cache-dir "$CACHE"

echo "== who ran what (from each worker's --stats-file)"
python3 - "$WORK" worker-1 worker-2 <<'PY'
import json, os, sys
work = sys.argv[1]
print(f"   {'worker':9} {'action':18} {'exit':>4} {'input root':>22} {'fetched':>22} {'uploaded':>10}")
for name in sys.argv[2:]:
    path = os.path.join(work, name + ".json")
    stats = json.load(open(path)) if os.path.exists(path) else {"actions": []}
    for a in stats["actions"]:
        print(f"   {name:9} {a['action'][:16]+'…':18} {a['exitCode']:>4} "
              f"{a['inputFiles']:>6} files {a['inputBytes']/2**20:6.2f} MiB "
              f"{a['filesFetched']:>6} files {a['bytesFetched']/2**20:6.2f} MiB {a['blobsUploaded']:>4} blobs")
PY
echo "== lazycas shell hello.bst: run what the workers built, from a lazy mount of BuildGrid's CAS"
"$LAZYCAS" shell hello.bst --remote "$URL" --instance main --cache-dir "$CACHE" -- hello --version

echo "== a second build: all cache hits, no lease given out"
"$LAZYCAS" build world.bst --exec-remote "$URL" --instance main --cache-dir "$CACHE" 2>&1 | tail -4

echo "== SIGTERM: the workers stop taking leases and leave"
for pid in "${WORKERS[@]}"; do kill -TERM "$pid"; done
for pid in "${WORKERS[@]}"; do wait "$pid" || true; done
WORKERS=()
for name in worker-1 worker-2; do tail -1 "$WORK/$name.log" | sed 's/^/   /'; done
