#!/usr/bin/env bash
# lazycas workers on BuildGrid, input roots staged lazily (FUSE mount + overlay) vs by copy
# (every file fetched, then hard-linked): the same action set, each action reading 5% of a large
# input root and writing a few outputs, at 0 ms and 2 ms of added round trip between worker and
# CAS (delay_proxy.py). Each action runs on a worker with an empty cache (a fresh worker per
# action: the cost of an input root the worker has not seen). Prints one table.
#
#   scripts/bench/worker.sh [ACTIONS] [FILES] [RTTS]         defaults: 20 10000 "0 2"
#   scripts/bench/worker.sh shape [RUNS] [FILES] [RTTS]      defaults: 8 10000 "0 2"
#
# The input root is FILES files of 20 KiB (random bytes) in 100 directories, plus busybox;
# action i reads the 5 directories 5i..5i+4 (5% of the files) and writes two outputs. Lazy
# workers run with --no-profile here (the 0 ms run would leave profiles the 2 ms run uses).
#
# `shape`: one action shape (the same Command) run RUNS times, each time on an input root whose
# five read directories have new contents, each on a fresh worker: lazy with the access profile
# an earlier worker shared through BuildGrid's ActionCache (a first, untimed run records it),
# lazy with --no-profile, and copy.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
SHAPE=0
if [ "${1:-}" = shape ]; then SHAPE=1; shift; fi
ACTIONS="${1:-$([ $SHAPE = 1 ] && echo 8 || echo 20)}"
FILES="${2:-10000}"
RTTS="${3:-0 2}"
scripts/setup.sh --with-buildgrid
BG="$WORK/buildgrid"
URL="$(scripts/lib/buildgrid.sh start "$BG" main | tail -1)"
BGPORT="${URL##*:}"
cleanup_grid() { scripts/lib/buildgrid.sh stop "$BG" || true; bench_cleanup; }
trap cleanup_grid EXIT

echo "== the project: a ${FILES}-file sysroot and $ACTIONS actions"
P="$WORK/project"
mkdir -p "$P/elements" "$P/files"
cp -a "$ROOT/examples/hello/files/base" "$P/files/base"
# sysroot FILES SEED [DIRS]: the sysroot's files (all 100 directories, or only d00-d04 with
# DIRS=5), 20 KiB each, random bytes from SEED.
sysroot() {
  python3 - "$P/files/sysroot/sysroot" "$1" "$2" "${3:-100}" <<'PY'
import os, random, sys
root, files, seed, dirs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed)
per = files // 100
for d in range(dirs):
    os.makedirs(f"{root}/d{d:02}", exist_ok=True)
    for f in range(per):
        with open(f"{root}/d{d:02}/f{f:04}", "wb") as out:
            out.write(rng.randbytes(20 * 1024))
PY
}
sysroot "$FILES" 0
cat >"$P/project.conf" <<'YAML'
name: workerbench
min-version: 2.0
element-path: elements
YAML
printf 'kind: import\nsources:\n- kind: local\n  path: files/base\n' >"$P/elements/base.bst"
printf 'kind: import\nsources:\n- kind: local\n  path: files/sysroot\n' >"$P/elements/sysroot.bst"
for i in $(seq 0 $((ACTIONS - 1))); do
  dirs=""
  for k in 0 1 2 3 4; do dirs="$dirs /sysroot/d$(printf %02d $(( (5 * i + k) % 100 )))/*"; done
  cat >"$P/elements/act-$i.bst" <<YAML
kind: manual
build-depends: [base.bst, sysroot.bst]
config:
  install-commands:
  - mkdir -p %{install-root}/out
  - cat $dirs | wc -c > %{install-root}/out/bytes-read
  - echo action $i > %{install-root}/out/id
YAML
done
cp "$P/elements/act-0.bst" "$P/elements/shape.bst"
CACHE="$WORK/client-cache"
echo "== uploading the sources to BuildGrid once (a first build of act-0.bst, not timed)"
"$LAZYCAS" worker --bots-remote "$URL" --instance main --capacity 1 --work-dir "$WORK/w-warmup" --bot-id bench-warmup 2>"$WORK/w-warmup.log" &
WARM=$!
(cd "$P" && "$LAZYCAS" build act-0.bst --exec-remote "$URL" --instance main --cache-dir "$CACHE" 2>&1 | tail -4)
kill -TERM "$WARM"; wait "$WARM" || true

# run MODE RTT [FIRST]: each action on a fresh worker; prints "seconds bytes_fetched_total
# cas_rpcs_total", seconds being the worker's own time per action (lease received to result
# ready), summed. MODE: lazy, copy, or (shape) profile / noprofile. With `shape`, run i builds
# shape.bst on the sysroot of seed i (FIRST: the first i, default 1).
run() {
  local mode=$1 rtt=$2 cas="$URL" total=0 bytes=0 rpcs=0 proxy="" first=${3:-1}
  local stage=$mode flags=()
  case $mode in
    lazy) flags=(--no-profile) ;;   # staging alone: no profile of an earlier run's action helps
    profile) stage=lazy ;;
    noprofile) stage=lazy; flags=(--no-profile) ;;
  esac
  if [ "$rtt" != 0 ]; then
    local port; port=$(free_port)
    python3 "$ROOT/scripts/bench/delay_proxy.py" "$port" "$BGPORT" "$(calc "$rtt / 2")" &
    proxy=$!
    wait_port "$port"
    cas="grpc://127.0.0.1:$port"
  fi
  local runs=$ACTIONS
  [ $SHAPE = 1 ] && [ "$first" = 0 ] && runs=1
  for i in $(seq 0 $((runs - 1))); do
    local w="$WORK/w-$mode-$rtt-$i-$first" element="act-$i.bst"
    if [ $SHAPE = 1 ]; then element=shape.bst; sysroot "$FILES" $((i + first)) 5; fi
    "$LAZYCAS" worker --bots-remote "$URL" --cas-remote "$cas" --instance main --capacity 1 \
        --work-dir "$w" --stage "$stage" ${flags[@]+"${flags[@]}"} --bot-id "bench-$mode" --stats-file "$w.json" 2>"$w.log" &
    local wpid=$!
    for _ in $(seq 200); do grep -q "bot session" "$w.log" 2>/dev/null && break; sleep 0.05; done
    (cd "$P" && "$LAZYCAS" build "$element" --no-cache --exec-remote "$URL" --instance main --cache-dir "$CACHE" >/dev/null 2>"$w.build.log") \
      || { echo "build of act-$i.bst failed:" >&2; tail -5 "$w.build.log" >&2; tail -5 "$w.log" >&2; exit 1; }
    kill -TERM "$wpid"; wait "$wpid" || true
    read -r t b r < <(python3 - "$w.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
a = s["actions"][-1]
cas = sum(v for k, v in s["rpcs"].items() if "BotSession" not in k)
print(a["seconds"], a["bytesFetched"], cas)
if a.get("profileSource"):
    print(f"  profile from {a['profileSource']}: {a.get('profile')}", file=sys.stderr)
PY
)
    total=$(calc "$total + $t"); bytes=$((bytes + b)); rpcs=$((rpcs + r))
  done
  [ -n "$proxy" ] && kill "$proxy" 2>/dev/null
  echo "$total $bytes $rpcs"
}

MODES="lazy copy"
if [ $SHAPE = 1 ]; then
  MODES="profile noprofile copy"
  echo "== the first run of the shape, on a fresh worker: records the profile and shares it (not timed)"
  run profile 0 0 >/dev/null
fi
declare -A SECONDS_ BYTES_ RPCS_
for rtt in $RTTS; do
  for mode in $MODES; do
    echo "== $ACTIONS actions, --stage $mode, ${rtt} ms RTT"
    read -r s b r < <(run "$mode" "$rtt")
    SECONDS_[$mode-$rtt]=$s; BYTES_[$mode-$rtt]=$b; RPCS_[$mode-$rtt]=$r
  done
done

echo
if [ $SHAPE = 1 ]; then
  echo "one action shape run $ACTIONS times, each on an input root with new contents in the 5% it reads ($FILES files), a fresh worker each time"
else
  echo "$ACTIONS actions, each reading 5% of a $FILES-file input root ($(du -sh "$P/files/sysroot" | cut -f1)), a fresh worker per action"
fi
printf "%-8s %-9s %12s %16s %14s %10s %10s\n" RTT stage "action (s)" "MiB fetched/act" "CAS RPCs/act" "time ×" "bytes ×"
for rtt in $RTTS; do
  for mode in $MODES; do
    s=${SECONDS_[$mode-$rtt]} b=${BYTES_[$mode-$rtt]} r=${RPCS_[$mode-$rtt]}
    printf "%-8s %-9s %12.2f %16.2f %14.1f %10s %10s\n" "${rtt} ms" "$mode" "$s" "$(calc "$b / $ACTIONS / 1048576")" "$(calc "$r / $ACTIONS")" \
      "$(calc "${SECONDS_[copy-$rtt]} / $s" | xargs printf %.2f)" "$(calc "${BYTES_[copy-$rtt]} / ($b > 0 ? $b : 1)" | xargs printf %.1f)"
  done
done
echo "(action: the worker's time from lease to result, summed over the actions; time × and bytes ×: copy divided by this row)"
