#!/usr/bin/env bash
# The main job, end to end, on one fresh machine: start a real REAPI CAS (buildbox-casd) on
# loopback, put a sample tree into it, bring only its Directory nodes into a fresh partial
# cache, list it with the server stopped, then cat one file after restarting the server —
# fetching exactly that one blob; then mount the tree and run a program from it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh
echo "== building lazycas"
swift build --product lazycas 2>&1 | tail -1
LAZYCAS="$(swift build --show-bin-path)/lazycas"
CASD="$ROOT/.tools/buildbox/buildbox-casd"

WORK="$(mktemp -d /tmp/lazycas-demo.XXXXXX)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
REMOTE="grpc://127.0.0.1:$PORT"
CASD_PID=""
cleanup() {
  [ -n "$CASD_PID" ] && kill "$CASD_PID" 2>/dev/null && wait "$CASD_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

start_casd() {
  "$CASD" --bind="127.0.0.1:$PORT" "$WORK/casd" >"$WORK/casd.log" 2>&1 &
  CASD_PID=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "buildbox-casd did not start" >&2
  exit 1
}
stop_casd() { kill "$CASD_PID"; wait "$CASD_PID" 2>/dev/null || true; CASD_PID=""; }

echo "== a sample tree: busybox, licenses, 2,000 generated files"
mkdir -p "$WORK/src/bin" "$WORK/src/share" "$WORK/src/data"
cp /bin/busybox "$WORK/src/bin/"
ln -s busybox "$WORK/src/bin/sh"
cp -r /usr/share/common-licenses "$WORK/src/share/licenses"
for i in $(seq 2000); do head -c $((RANDOM % 16384 + 64)) /dev/urandom > "$WORK/src/data/f$i"; done
echo "hello from lazycas" > "$WORK/src/README"

start_casd
echo "== lazycas cas put (uploads only what $REMOTE lacks)"
ROOT_DIGEST="$("$LAZYCAS" cas put "$WORK/src" --remote "$REMOTE" --cache-dir "$WORK/uploader")"
echo "root: $ROOT_DIGEST"

echo "== lazycas cas get-tree into a fresh cache (Directory nodes only)"
"$LAZYCAS" cas get-tree "$ROOT_DIGEST" --remote "$REMOTE" --cache-dir "$WORK/cache"
echo "blobs in the fresh cache: $(find "$WORK/cache/objects" -type f | wc -l) (the Directory nodes; no file content)"

stop_casd
echo "== server stopped; lazycas cas ls still works"
"$LAZYCAS" cas ls "$ROOT_DIGEST" --cache-dir "$WORK/cache"
"$LAZYCAS" cas ls "$ROOT_DIGEST/bin" --cache-dir "$WORK/cache"

start_casd
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
echo "== demo done"
