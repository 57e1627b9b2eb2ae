#!/usr/bin/env bash
# The main job, end to end, on one fresh machine: start the embedded REAPI server (`lazycas
# serve`) on loopback, put a sample tree into it, bring only its Directory nodes into a fresh partial
# cache, list it with the server stopped, then cat one file after restarting the server —
# fetching exactly that one blob; then mount the tree and run a program from it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh
echo "== building lazycas"
swift build --product lazycas 2>&1 | tail -1
LAZYCAS="$(swift build --show-bin-path)/lazycas"

WORK="$(mktemp -d /tmp/lazycas-demo.XXXXXX)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
REMOTE="grpc://127.0.0.1:$PORT"
SERVER_PID=""
cleanup() {
  fusermount3 -u -z "$WORK/mnt" 2>/dev/null || true
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

start_server() {
  "$LAZYCAS" serve --listen "$REMOTE" --storage "$WORK/server" --stats-file "$WORK/server-stats.json" 2>>"$WORK/server.log" &
  SERVER_PID=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "lazycas serve did not start:" >&2
  cat "$WORK/server.log" >&2
  exit 1
}
stop_server() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; }

echo "== a sample tree: busybox, licenses, 2,000 generated files"
mkdir -p "$WORK/src/bin" "$WORK/src/share" "$WORK/src/data"
cp /bin/busybox "$WORK/src/bin/"
ln -s busybox "$WORK/src/bin/sh"
cp -r /usr/share/common-licenses "$WORK/src/share/licenses"
for i in $(seq 2000); do head -c $((RANDOM % 16384 + 64)) /dev/urandom > "$WORK/src/data/f$i"; done
echo "hello from lazycas" > "$WORK/src/README"

start_server
echo "== lazycas cas put (uploads only what $REMOTE lacks)"
ROOT_DIGEST="$("$LAZYCAS" cas put "$WORK/src" --remote "$REMOTE" --cache-dir "$WORK/uploader")"
echo "root: $ROOT_DIGEST"

echo "== lazycas cas get-tree into a fresh cache (Directory nodes only)"
"$LAZYCAS" cas get-tree "$ROOT_DIGEST" --remote "$REMOTE" --cache-dir "$WORK/cache"
echo "blobs in the fresh cache: $(find "$WORK/cache/objects" -type f | wc -l) (the Directory nodes; no file content)"

stop_server
echo "== server stopped; lazycas cas ls still works"
"$LAZYCAS" cas ls "$ROOT_DIGEST" --cache-dir "$WORK/cache"
"$LAZYCAS" cas ls "$ROOT_DIGEST/bin" --cache-dir "$WORK/cache"

start_server
echo "== server back; lazycas cas cat fetches exactly one blob"
before=$(find "$WORK/cache/objects" -type f | wc -l)
"$LAZYCAS" cas cat "$ROOT_DIGEST" README --remote "$REMOTE" --cache-dir "$WORK/cache"
after=$(find "$WORK/cache/objects" -type f | wc -l)
echo "blobs fetched by cat: $((after - before))"
"$LAZYCAS" ref set demo/sample "$ROOT_DIGEST" --cache-dir "$WORK/cache"
"$LAZYCAS" ref list --cache-dir "$WORK/cache"

echo "== lazycas mount: the tree as a read-only filesystem; content fetched on first read"
mkdir -p "$WORK/mnt"
"$LAZYCAS" mount demo/sample "$WORK/mnt" --remote "$REMOTE" --cache-dir "$WORK/cache"
echo "files visible: $(find "$WORK/mnt" -type f | wc -l)"
ls -l "$WORK/mnt/bin"
"$WORK/mnt/bin/busybox" echo "busybox runs straight from the mount"
getfattr -n user.reapi.digest "$WORK/mnt/README" 2>/dev/null | grep digest || true
sleep 0.5
"$LAZYCAS" cas stats --cache-dir "$WORK/cache"
"$LAZYCAS" umount "$WORK/mnt"
sleep 1.1
echo "== what the server saw since its restart (per RPC method)"
python3 - "$WORK/server-stats.json" <<'PY'
import json, sys
for method, c in sorted(json.load(open(sys.argv[1])).items()):
    print(f"  {method:18} {c['requests']:5} requests {c['bytesIn']:>10} B in {c['bytesOut']:>10} B out")
PY
echo "== demo done"
