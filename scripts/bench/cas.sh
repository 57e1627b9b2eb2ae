#!/usr/bin/env bash
# Benchmark: upload and download of a 10,000-file tree (1-64 KiB log-uniform, plus 10, 25,
# 50 MiB and a 10 MiB probe) against buildbox-casd on loopback. Side by side in one run:
#   lazycas   `cas put` (cold server) and `cas get-tree --files` (cold cache)
#   casd      buildbox-casd's own client path: a casd proxy (--cas-remote) doing
#             CaptureTree (upload) and FetchTree with file blobs (download)
# Prints one table with files/s, MiB/s, and lazycas's RPC counts. Not a test: numbers vary.
#   scripts/bench/cas.sh [FILES]
FILES="${1:-10000}"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

bench_venv
PY="$BENCH_PY $ROOT/scripts/bench/casd_client.py"

make_tree "$WORK/src" "$FILES"
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
