#!/usr/bin/env bash
# One file of a large BuildStream artifact (issue 17). BuildStream 2.8.1 builds an element that
# installs FILES generated files of KIB KiB each (default 5,000 × 42 KiB = 205 MiB) with
# `cache: storage-service:` and remote execution on one `lazycas serve`, so the content stays on
# the server. Then, each from a fresh client cache (BuildStream's: a fresh cachedir whose
# artifact ref comes from a remote cache hit, content still remote; lazycas's: empty):
#   inspect: `bst artifact checkout` + cat one file  vs  `lazycas mount bst:big.bst` + cat it;
#   (lazycas mount with its default read-ahead, eager, and with --read-ahead cautious);
#   shell:   `bst shell big.bst -- cat FILE`        vs  `lazycas shell bst:big.bst -- cat FILE`;
# the time until the file's bytes are printed, and the bytes the server sent for it (its own
# per-method counters, the same measure for both tools). Medians of REPS runs.
#   scripts/bench/bst-artifact.sh [FILES] [KIB] [REPS]   (default 5000 42 3)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
scripts/setup.sh --with-buildstream
FILES="${1:-5000}"
KIB="${2:-42}"
REPS="${3:-3}"
BST="$ROOT/.tools/bst-venv/bin/bst"
PROBE=/usr/share/big/d4/f4242   # d$((n / 1000))/f$n
[ "$FILES" -gt 4242 ] || PROBE=/usr/share/big/d0/f1

cp -a "$ROOT/examples/hello" "$WORK/project"
cat > "$WORK/project/elements/big.bst" <<BST
kind: manual
description: $FILES generated files of $KIB KiB
build-depends: [base.bst]
runtime-depends: [base.bst]
config:
  install-commands:
  - |
    n=1
    while [ "\$n" -le $FILES ]; do
      d=%{install-root}%{datadir}/big/d\$((n / 1000))
      [ -d "\$d" ] || mkdir -p "\$d"
      head -c $((KIB * 1024)) /dev/urandom > "\$d/f\$n"
      n=\$((n + 1))
    done
BST

STATS="$WORK/stats.json"
start_lazycas_serve server "$STATS"

bst_config() {  # NAME → path of a BuildStream config with its own cachedir
  cat > "$WORK/$1.conf" <<CONF
cachedir: $WORK/$1
logdir: $WORK/$1-logs
sourcedir: $WORK/sources
cache:
  storage-service: {url: "http://127.0.0.1:$PORT"}
remote-execution:
  execution-service: {url: "http://127.0.0.1:$PORT"}
  action-cache-service: {url: "http://127.0.0.1:$PORT"}
CONF
  echo "$WORK/$1.conf"
}
bst_run() {  # CONFIG ARGS…
  local config=$1; shift
  XDG_CACHE_HOME="$WORK/xdg" XDG_CONFIG_HOME="$WORK/xdg" "$BST" --no-interactive --config "$config" --directory "$WORK/project" "$@"
}
sent() {  # → bytes the server has sent so far
  sleep 1.2
  python3 -c "import json; print(sum(m['bytesOut'] for m in json.load(open('$STATS')).values()))"
}

echo "bst builds big.bst ($FILES files × $KIB KiB) on lazycas serve, storage-service…" >&2
t0=$(now)
bst_run "$(bst_config build)" build big.bst >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log" >&2; exit 1; }
echo "built in $(calc "$(now) - $t0") s" >&2

measure() {  # KIND REP → "seconds MiB-sent"
  local config cache out before t0 t1 after
  config=$(bst_config "bst-$1-$2")
  # A fresh BuildStream cache holding the artifact's ref only (a remote cache hit), not its content.
  bst_run "$config" build big.bst >"$WORK/prep.log" 2>&1 || { tail -20 "$WORK/prep.log" >&2; exit 1; }
  cache="$WORK/lazycas-$1-$2"
  before=$(sent)
  t0=$(now)
  case "$1" in
    bst-inspect)
      bst_run "$config" artifact checkout big.bst --directory "$WORK/out-$2" >"$WORK/run.log" 2>&1
      out=$(cat "$WORK/out-$2$PROBE" | wc -c) ;;
    lazycas-inspect|lazycas-inspect-cautious)
      mkdir -p "$WORK/mnt-$2"
      (cd "$WORK/project" && "$LAZYCAS" mount bst:big.bst "$WORK/mnt-$2" --bst "$BST" --bst-config "$config" --cache-dir "$cache" \
        $([ "$1" = lazycas-inspect ] || echo --read-ahead cautious) 2>"$WORK/run.log")
      out=$(cat "$WORK/mnt-$2$PROBE" | wc -c) ;;
    bst-shell)
      out=$(bst_run "$config" shell big.bst -- cat "$PROBE" 2>"$WORK/run.log" | wc -c) ;;
    lazycas-shell)
      out=$(cd "$WORK/project" && "$LAZYCAS" shell bst:big.bst --bst "$BST" --bst-config "$config" --cache-dir "$cache" -- cat "$PROBE" 2>"$WORK/run.log" | wc -c) ;;
  esac
  t1=$(now)
  [ "$out" = $((KIB * 1024)) ] || { echo "$1: read $out bytes, expected $((KIB * 1024))" >&2; tail -20 "$WORK/run.log" >&2; exit 1; }
  after=$(sent)
  [ -d "$WORK/mnt-$2" ] && { fusermount3 -u "$WORK/mnt-$2" 2>/dev/null || true; }
  rm -rf "$WORK/bst-$1-$2" "$WORK/out-$2" "$cache"
  echo "$(calc "$t1 - $t0") $(calc "($after - $before) / 1048576")"
}
median() { python3 -c "import statistics, sys; print('%.2f' % statistics.median(map(float, sys.argv[1:])))" "$@"; }

declare -A TIME BYTES
KINDS=(bst-inspect lazycas-inspect lazycas-inspect-cautious bst-shell lazycas-shell)
for kind in "${KINDS[@]}"; do
  for rep in $(seq "$REPS"); do
    echo "$kind run $rep…" >&2
    read -r t b <<<"$(measure "$kind" "$rep")"
    [ -n "$t" ] || exit 1   # measure said why
    TIME[$kind]+="$t "
    BYTES[$kind]+="$b "
  done
done

printf '\nbig.bst: %d files × %d KiB, one %d KiB file read; medians of %d runs; lazycas serve as storage service\n' "$FILES" "$KIB" "$KIB" "$REPS"
printf '%-52s %9s %8s %10s %8s\n' "" "seconds" "vs bst" "MiB sent" "vs bst"
row() {  # KIND BASELINE LABEL
  # shellcheck disable=SC2086
  local t b t0 b0
  t=$(median ${TIME[$1]}) b=$(median ${BYTES[$1]}) t0=$(median ${TIME[$2]}) b0=$(median ${BYTES[$2]})
  printf '%-52s %9s %7.1fx %10s %7.0fx\n' "$3" "$t" "$(calc "$t0 / $t")" "$b" "$(calc "$b0 / ($b + 0.0001)")"
}
row bst-inspect bst-inspect "bst artifact checkout + cat"
row lazycas-inspect bst-inspect "lazycas mount bst:big.bst + cat"
row lazycas-inspect-cautious bst-inspect "lazycas mount --read-ahead cautious + cat"
row bst-shell bst-shell "bst shell big.bst -- cat"
row lazycas-shell bst-shell "lazycas shell bst:big.bst -- cat"
