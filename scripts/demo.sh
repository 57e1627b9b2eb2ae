#!/usr/bin/env bash
# The main job, end to end, on one fresh machine: start the embedded REAPI server (`lazycas
# serve`) on loopback, build the examples project remotely (only Directory nodes and logs come
# back), mount an artifact by element name, list it and read one file (exactly one blob is
# fetched), run the built program from the mount, unmount, stop the server.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh
echo "== building lazycas"
for product in lazycas lazycas-mount lazycas-download; do swift build --product "$product" 2>&1 | tail -1; done
LAZYCAS="$(swift build --show-bin-path)/lazycas"

WORK="$(mktemp -d /tmp/lazycas-demo.XXXXXX)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
REMOTE="grpc://127.0.0.1:$PORT"
SERVER_PID=""
cleanup() {
  fusermount3 -u -z "$WORK/hello-mnt" 2>/dev/null || true
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

start_server
CACHE="$WORK/cache"
cd "$ROOT/examples/hello"
echo "== lazycas build world.bst: 5 elements, 3 remote actions on $REMOTE"
"$LAZYCAS" build --remote-jobs 16 world.bst --remote "$REMOTE" --cache-dir "$CACHE"

echo "== what came back: Directory nodes and logs, no output file"
"$LAZYCAS" artifact list --cache-dir "$CACHE"
python3 - "$CACHE" <<'PY'
import os, sys
objects = os.path.join(sys.argv[1], "objects")
print("  blobs in the local cache:", sum(len(files) for _, _, files in os.walk(objects)),
      "(busybox and the sources, which are local anyway, plus Directory nodes, Actions, Trees and logs)")
PY

echo "== the build log of hello.bst, from the CAS"
"$LAZYCAS" artifact log hello.bst --cache-dir "$CACHE"

echo "== lazycas mount hello.bst: the artifact just built, by element name"
mkdir -p "$WORK/mnt" "$WORK/hello-mnt"
"$LAZYCAS" mount hello.bst "$WORK/hello-mnt" --remote "$REMOTE" --cache-dir "$CACHE"
ls -l "$WORK/hello-mnt/usr/bin"
head -3 "$WORK/hello-mnt/usr/bin/hello"
sleep 0.5
"$LAZYCAS" cas stats --cache-dir "$CACHE"   # fetched 1 blob: the file that was read

echo "== run it, with the busybox of base.bst from another mount"
"$LAZYCAS" mount base.bst "$WORK/mnt" --remote "$REMOTE" --cache-dir "$CACHE"
"$WORK/mnt/bin/busybox" sh "$WORK/hello-mnt/usr/bin/hello" demo
"$LAZYCAS" umount "$WORK/hello-mnt"
"$LAZYCAS" umount "$WORK/mnt"

echo "== lazycas mount greetings.bst: 200 files listed locally; one read brings its siblings in the same round trip"
"$LAZYCAS" mount greetings.bst "$WORK/mnt" --remote "$REMOTE" --cache-dir "$CACHE"
echo "files visible: $(find "$WORK/mnt" -type f | wc -l)"
echo "reading one: $(cat "$WORK/mnt/usr/share/greetings/greeting-42.txt")"
sleep 0.5
"$LAZYCAS" cas stats --cache-dir "$CACHE"
"$LAZYCAS" umount "$WORK/mnt"

echo "== lazycas shell: hello in a sandbox rooted on the lazily mounted closure of world.bst"
"$LAZYCAS" shell world.bst --remote "$REMOTE" --cache-dir "$CACHE" -- sh -c 'hello shell; cat /usr/share/doc/hello/README.lines'

echo "== a second build: all cache hits, nothing executed, nothing uploaded"
"$LAZYCAS" build world.bst --remote "$REMOTE" --cache-dir "$CACHE" 2>&1 | grep -E "Elements|RPCs|Sent"
cd "$ROOT"
sleep 1.1
echo "== what the server saw (per RPC method)"
python3 - "$WORK/server-stats.json" <<'PY'
import json, sys
for method, c in sorted(json.load(open(sys.argv[1])).items()):
    print(f"  {method:18} {c['requests']:5} requests {c['bytesIn']:>10} B in {c['bytesOut']:>10} B out")
PY
echo "== demo done"
