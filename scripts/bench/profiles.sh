#!/usr/bin/env bash
# Access profiles (issue 19): a shell on a new version of an element, with the profile the last
# shell left, without it (--no-profile), and warm (everything it reads already local), through
# 2 ms of added round trip (delay_proxy.py) to `lazycas serve`. Prints one table.
#
#   scripts/bench/profiles.sh [REPS] [RTT_MS]     defaults: 3 2
#
# data.bst (built remotely on lazycas serve) writes 10,000 files of 1-4 KiB in 100 directories;
# the command reads 300 of them scattered across the directories. The first shell on version 1
# records the profile; then data.bst's seed changes (every file's content changes, the paths do
# not), version 2 is built, and each mode runs the command on it from a copy of that cache, on
# a fresh filesystem per repetition.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
REPS="${1:-3}"
RTT="${2:-2}"

start_lazycas_serve server
SERVER_PORT=$PORT
PROXY_PORT=$(free_port)
python3 "$ROOT/scripts/bench/delay_proxy.py" "$PROXY_PORT" "$SERVER_PORT" "$(calc "$RTT / 2")" &
PIDS+=($!)
wait_port "$PROXY_PORT"
DIRECT="grpc://127.0.0.1:$SERVER_PORT" SLOW="grpc://127.0.0.1:$PROXY_PORT"

P="$WORK/project"
mkdir -p "$P/elements" "$P/files"
cp -a "$ROOT/examples/hello/files/base" "$P/files/base"
cat >"$P/project.conf" <<'YAML'
name: profilebench
min-version: 2.0
element-path: elements
YAML
printf 'kind: import\nsources:\n- kind: local\n  path: files/base\n' >"$P/elements/base.bst"
write_data() {
  cat >"$P/elements/data.bst" <<YAML
kind: manual
depends: [base.bst]
variables:
  seed: "$1"
config:
  install-commands:
  - |
    cd %{install-root}
    for d in \$(seq 0 99); do mkdir -p data/d\$d; done
    awk -v seed=%{seed} 'BEGIN { srand(seed); for (d = 0; d < 100; d++) for (f = 0; f < 100; f++) {
      name = "data/d" d "/f" f; n = 1024 + int(rand() * 3072); line = ""
      while (length(line) < n) line = line seed " " d " " f " " rand() "\\n"
      printf "%s", substr(line, 1, n) > name; close(name) } }'
YAML
}
# 300 files scattered over the 100 directories (the same 300 every time).
READ=$(python3 -c '
import random
r = random.Random(19)
print(" ".join(f"/data/d{d}/f{f}" for d, f in r.sample([(d, f) for d in range(100) for f in range(100)], 300)))')
CMD="cat $READ | wc -c"

CACHE="$WORK/cache"
build() { (cd "$P" && "$LAZYCAS" build data.bst --remote "$DIRECT" --cache-dir "$CACHE" >/dev/null 2>"$WORK/build.log") || { tail -20 "$WORK/build.log"; exit 1; }; }
# shell CACHE [FLAGS…]: runs the command; prints "seconds bytes_read bytes_fetched".
shell() {
  local cache=$1; shift
  local t0 t1 out err
  err="$WORK/shell.err"
  t0=$(now)
  out=$(cd "$P" && "$LAZYCAS" shell data.bst --remote "$SLOW" --cache-dir "$cache" "$@" -- /bin/sh -c "$CMD" 2>"$err") \
    || { cat "$err" >&2; exit 1; }
  t1=$(now)
  local fetched
  fetched=$(python3 - "$err" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"fetched \d+ of \d+ files, ([\d.]+) (B|KiB|MiB|GiB) of", text)
print(int(float(m.group(1)) * {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[m.group(2)]) if m else -1)
PY
)
  echo "$(calc "$t1 - $t0") $(echo "$out" | tr -d ' ') $fetched"
  grep -o 'profile: .*' "$err" >&2 || true
}

echo "== version 1: build, then a shell that records the profile"
write_data 1
build
shell "$CACHE" >/dev/null
echo "== version 2: every file's content changes"
write_data 2
build

declare -A T B
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
trap 'mountpoint -q "$WORK/run" 2>/dev/null && umount -l "$WORK/run"; bench_cleanup' EXIT
for rep in $(seq "$REPS"); do
  # Each repetition's caches on a fresh filesystem (see fresh_fs).
  fresh_fs 2G
  for mode in profile none; do
    cp -a "$CACHE" "$WORK/run/c-$mode"
    flags=()
    [ "$mode" = none ] && flags=(--no-profile)
    echo "== rep $rep: $mode" >&2
    read -r s r f < <(shell "$WORK/run/c-$mode" "${flags[@]}")
    T[$mode]+="$s "; B[$mode]+="$f "; READ_BYTES=$r
  done
  # Warm: the cache the profile run left has every file the command reads.
  read -r s r f < <(shell "$WORK/run/c-profile" --no-profile)
  T[warm]+="$s "; B[warm]+="$f "
  drop_fs
done

echo
echo "shell on version 2 of a 10,000-file element, reading 300 files ($(calc "$READ_BYTES / 1024") KiB), ${RTT} ms RTT, medians of $REPS"
printf "%-14s %10s %10s %16s %16s\n" mode "time (s)" "× warm" "KiB fetched" "fetched/read"
warm=$(median ${T[warm]})
for mode in profile none warm; do
  t=$(median ${T[$mode]}) b=$(median ${B[$mode]})
  label=$mode; [ "$mode" = profile ] && label="with profile"; [ "$mode" = none ] && label="--no-profile"
  printf "%-14s %10.3f %10.2f %16.1f %16.2f\n" "$label" "$t" "$(calc "$t / $warm")" "$(calc "$b / 1024")" "$(calc "$b / $READ_BYTES")"
done
echo "(--no-profile / with profile: $(calc "$(median ${T[none]}) / $(median ${T[profile]})" | xargs printf %.2f)×)"
