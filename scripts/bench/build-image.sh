#!/usr/bin/env bash
# examples/image (issue 16: Debian sysroot, autotools, cmake, meson, make, pip, setuptools,
# compose, filter, script, a junction) built cold and then rebuilt with the same local cache,
# by lazycas and by BuildStream 2.8.1 in its default mode (outputs come into its local cache)
# and in storage-service mode (`cache: storage-service:`), on buildbox-casd --buildbox-run and
# on lazycas serve. Each cell is the median of REPS runs, each on a fresh server and a fresh
# client cache:
#   wall time;
#   MiB received from the server (lazycas's own counters; on lazycas serve the server's, for
#   every client; BuildStream on buildbox-casd has no counter: "-");
#   RPCs per executed action (same sources).
#   scripts/bench/build.sh image [REPS]   (default 3)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
scripts/setup.sh --with-buildstream
REPS="${1:-3}"
BST="$ROOT/.tools/bst-venv/bin/bst"
ACTIONS=7   # hello, calc, image, and the meson, make, pip and setuptools elements

cp -a "$ROOT/examples/image" "$WORK/project"
rm -rf "$WORK/project/upstream"
LAZYCAS_TOOLS="$ROOT/.tools" bash "$WORK/project/prepare.sh" >/dev/null

start_server() {  # KIND RUN → PORT, STATS ("" on casd)
  rm -rf "$WORK/server-$2" "$WORK/stats-$2.json"
  if [ "$1" = casd ]; then
    start_casd "server-$2" --buildbox-run="$BB/buildbox-run"
    STATS=""
  else
    STATS="$WORK/stats-$2.json"
    start_lazycas_serve "server-$2" "$STATS"
  fi
  SERVER_PID=${PIDS[-1]}
}
server_counters() {  # → "requests bytesOut" so far, or "- -"
  [ -n "$STATS" ] || { echo "- -"; return; }
  sleep 1.2
  python3 -c "
import json; d = json.load(open('$STATS'))
print(sum(m['requests'] for m in d.values()), sum(m['bytesOut'] for m in d.values()))"
}

lazycas_build() {  # CACHE → "rpcs bytes" from its summary
  (cd "$WORK/project" && "$LAZYCAS" build all.bst --remote "grpc://127.0.0.1:$PORT" --cache-dir "$WORK/$1" 2>"$WORK/lazycas.log" >/dev/null) \
    || { tail -20 "$WORK/lazycas.log" >&2; exit 1; }
  python3 - "$WORK/lazycas.log" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rpcs = int(re.search(r"RPCs:\s+(\d+)", text).group(1))
m = re.search(r"Received:\s+\d+ blobs, ([\d.]+) (B|KiB|MiB|GiB)", text)
scale = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[m.group(2)]
print(rpcs, int(float(m.group(1)) * scale))
PY
}
bst_build() {  # CACHE MODE → "- -"
  local storage=""
  [ "$2" = storage ] && storage="cache:
  storage-service: {url: \"http://127.0.0.1:$PORT\"}"
  cat > "$WORK/$1.conf" <<CONF
cachedir: $WORK/$1
logdir: $WORK/$1-logs
$storage
remote-execution:
  execution-service: {url: "http://127.0.0.1:$PORT"}
  storage-service: {url: "http://127.0.0.1:$PORT"}
  action-cache-service: {url: "http://127.0.0.1:$PORT"}
CONF
  XDG_CACHE_HOME="$WORK/xdg" XDG_CONFIG_HOME="$WORK/xdg" "$BST" --no-interactive --config "$WORK/$1.conf" \
    --directory "$WORK/project" build all.bst >"$WORK/bst.log" 2>&1 || { tail -30 "$WORK/bst.log" >&2; exit 1; }
  echo "- -"
}
build() {  # TOOL CACHE → "seconds rpcs bytes"
  local t0 t1 own before after
  read -r rb bb <<<"$(server_counters)"
  t0=$(now)
  case "$1" in
    lazycas) own=$(lazycas_build "$2") ;;
    bst) own=$(bst_build "$2" default) ;;
    bst-storage) own=$(bst_build "$2" storage) ;;
  esac
  t1=$(now)
  read -r ra ba <<<"$(server_counters)"
  read -r orpc obytes <<<"$own"
  if [ "$ra" != "-" ]; then echo "$(calc "$t1 - $t0") $(calc "($ra - $rb) / $ACTIONS") $(calc "($ba - $bb) / 1048576")"
  elif [ "$orpc" != "-" ]; then echo "$(calc "$t1 - $t0") $(calc "$orpc / $ACTIONS") $(calc "$obytes / 1048576")"
  else echo "$(calc "$t1 - $t0") - -"; fi
}
median() { python3 -c "
import statistics, sys
v = [x for x in sys.argv[1:] if x != '-']
print('-' if not v else '%.2f' % statistics.median(map(float, v)))" "$@"; }

declare -A CELLS
for server in casd serve; do
  for tool in lazycas bst bst-storage; do
    for rep in $(seq "$REPS"); do
      start_server "$server" "$tool-$rep"
      echo "$server $tool run $rep…" >&2
      CELLS["$server/$tool/cold"]+="$(build "$tool" "cache-$server-$tool-$rep")|"
      CELLS["$server/$tool/rebuild"]+="$(build "$tool" "cache-$server-$tool-$rep")|"
      kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null || true
      rm -rf "$WORK/server-$tool-$rep" "$WORK/cache-$server-$tool-$rep"
    done
  done
done

column() {  # CELL FIELD → median of that field over the runs
  local values=()
  IFS='|' read -ra runs <<<"${CELLS[$1]}"
  for r in "${runs[@]}"; do [ -n "$r" ] && values+=("$(echo "$r" | cut -d' ' -f"$2")"); done
  median "${values[@]}"
}
printf '\nexamples/image: %d actions, medians of %d runs\n' "$ACTIONS" "$REPS"
for server in casd serve; do
  label=$([ "$server" = casd ] && echo "buildbox-casd --buildbox-run" || echo "lazycas serve")
  printf '\n%-34s %12s %14s %18s\n' "$label" "lazycas" "bst (default)" "bst (storage-svc)"
  for phase in cold rebuild; do
    for field in 1:"wall time (s)" 2:"RPCs per action" 3:"MiB received"; do
      n=${field%%:*}; name=${field#*:}
      printf '%-34s %12s %14s %18s\n' "$phase: $name" "$(column "$server/lazycas/$phase" "$n")" \
        "$(column "$server/bst/$phase" "$n")" "$(column "$server/bst-storage/$phase" "$n")"
    done
  done
done
