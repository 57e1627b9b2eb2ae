#!/usr/bin/env bash
# Remote builds of the same project by lazycas and by BuildStream 2.8.1, both against one
# `lazycas serve` whose per-method counters count every client RPC. Prints, side by side: RPCs
# per executed action, bytes downloaded, wall time, for a cold build, a rebuild with the same
# local cache, and a rebuild from an empty local cache (remote cache hits).
#   scripts/bench/build.sh [FILES_PER_ELEMENT]   (default 500; examples/hello plus a generated layer)
#   scripts/bench/build.sh image|graph [REPS] [SERVERS] [TOOLS]
#       examples/image or a generated 30-element graph, lazycas vs BuildStream's default and
#       storage-service modes on buildbox-casd and lazycas serve, with the server's CPU time
#       (build-compare.sh)
case "${1:-}" in image|graph) exec "$(dirname "${BASH_SOURCE[0]}")/build-compare.sh" "$@" ;; esac
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
scripts/setup.sh --with-buildstream
FILES="${1:-500}"
BST="$ROOT/.tools/bst-venv/bin/bst"

# The examples project plus elements that each write FILES files and read their dependency's.
cp -a "$ROOT/examples/hello" "$WORK/project"
for i in 1 2 3 4; do
  dep=$([ "$i" = 1 ] && echo hello.bst || echo "layer$((i - 1)).bst")
  cat > "$WORK/project/elements/layer$i.bst" <<BST
kind: manual
build-depends: [$dep]
runtime-depends: [base.bst]
config:
  install-commands:
  - mkdir -p %{install-root}%{datadir}/layer$i
  - |
    n=1
    while [ "\$n" -le $FILES ]; do
      head -c \$((1024 + n * 7 % 7000)) /bin/busybox > %{install-root}%{datadir}/layer$i/f\$n
      n=\$((n + 1))
    done
  - if [ -d %{datadir}/layer$((i - 1)) ]; then cat %{datadir}/layer$((i - 1))/f1 > /dev/null; fi
BST
done
printf 'kind: stack\ndepends: [world.bst, layer4.bst]\n' > "$WORK/project/elements/all.bst"
ACTIONS=7   # hello, greetings, docs, layer1-4

run_server() {
  PORT=$(free_port)
  "$LAZYCAS" serve --listen "grpc://127.0.0.1:$PORT" --storage "$WORK/server-$1" --stats-file "$WORK/stats-$1.json" \
    2>"$WORK/serve-$1.log" &
  PIDS+=($!)
  wait_port "$PORT"
}
# counters NAME: total requests and bytes out of the server so far.
counters() { sleep 1.2; python3 -c "
import json; d = json.load(open('$WORK/stats-$1.json'))
print(sum(m['requests'] for m in d.values()), sum(m['bytesOut'] for m in d.values()), d.get('Execute', {}).get('requests', 0))"; }

lazycas_build() { (cd "$WORK/project" && "$LAZYCAS" build all.bst --remote "grpc://127.0.0.1:$PORT" --cache-dir "$WORK/lc-$1" >/dev/null 2>&1); }
bst_build() {
  bst_remote_conf "$WORK/bst-$1.conf" "$WORK/bst-cache-$1"
  XDG_CACHE_HOME="$WORK/xdg" XDG_CONFIG_HOME="$WORK/xdg" "$BST" --no-interactive --config "$WORK/bst-$1.conf" \
    --directory "$WORK/project" build all.bst >"$WORK/bst-$1.log" 2>&1
}

declare -A RESULT
measure() {  # TOOL SERVER CACHE LABEL
  local t0 t1
  read -r rb bb _ <<<"$(counters "$2")"
  t0=$(now); "$1_build" "$3"; t1=$(now)
  read -r ra ba ea <<<"$(counters "$2")"
  RESULT["$1/$4"]="$(calc "($ra - $rb) / $ACTIONS") $(calc "($ba - $bb) / 1048576") $(calc "$t1 - $t0")"
}

for tool in lazycas bst; do
  run_server "$tool"
  echo '{}' > "$WORK/stats-$tool.json"
  measure "$tool" "$tool" one cold
  measure "$tool" "$tool" one rebuild
  measure "$tool" "$tool" two "empty-cache"
done

printf '\n%-34s %16s %16s\n' "$ACTIONS actions, $FILES files per layer" "lazycas" "BuildStream 2.8.1"
for label in cold rebuild empty-cache; do
  read -r lr lb lt <<<"${RESULT[lazycas/$label]}"
  read -r br bb bt <<<"${RESULT[bst/$label]}"
  printf '%-34s %16s %16s\n' "$label: RPCs per action" "$lr" "$br"
  printf '%-34s %16s %16s\n' "$label: MiB downloaded" "$(printf %.2f "$lb")" "$(printf %.2f "$bb")"
  printf '%-34s %16s %16s\n' "$label: wall time (s)" "$(printf %.2f "$lt")" "$(printf %.2f "$bt")"
done
