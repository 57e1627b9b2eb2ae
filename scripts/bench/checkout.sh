#!/usr/bin/env bash
# Benchmark for issue 6, side by side in one run against buildbox-casd on loopback:
#  1. checkout of a 10,000-file tree from a cold cache: lazycas `checkout` (copies, and
#     --hardlink) vs buildbox-casd's own staging (a casd proxy: FetchTree with every blob, then
#     StageTree, which hard-links from its cache, then `cp -a` to keep it);
#  2. a shell session on a large closure (the same tree plus busybox as /bin): `lazycas shell`
#     running `ls /usr/bin | wc -l; cat /bin/busybox` from a cold cache vs a full checkout
#     followed by the same command in bubblewrap: time and bytes fetched.
#   scripts/bench/checkout.sh [FILES]
FILES="${1:-10000}"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bench_venv
PY="$BENCH_PY $ROOT/scripts/bench/casd_client.py"

make_tree "$WORK/src" "$FILES"
mkdir -p "$WORK/src/bin" "$WORK/src/usr/bin"
cp /bin/busybox "$WORK/src/bin/busybox"
for a in sh ls wc cat; do ln -s busybox "$WORK/src/bin/$a"; done
for i in $(seq 300); do ln -s ../../bin/busybox "$WORK/src/usr/bin/tool$i"; done
TOTAL_FILES=$(find "$WORK/src" -type f | wc -l)
TOTAL_MIB=$(du -sm --apparent-size "$WORK/src" | cut -f1)

start_casd server
SERVER=$PORT
DIGEST=$("$LAZYCAS" cas put "$WORK/src" --remote "grpc://127.0.0.1:$SERVER" --cache-dir "$WORK/uploader" 2>/dev/null)
sync

timed() { local t0 t1; t0=$(now); "$@" >/dev/null 2>"$WORK/last.err"; t1=$(now); calc "$t1 - $t0"; }

LC=$(timed "$LAZYCAS" checkout "$DIGEST" "$WORK/out-lc" --remote "grpc://127.0.0.1:$SERVER" --cache-dir "$WORK/c1")
LC_LINK=$(timed "$LAZYCAS" checkout "$DIGEST" "$WORK/out-link" --hardlink --remote "grpc://127.0.0.1:$SERVER" --cache-dir "$WORK/c2")
start_casd proxy --cas-remote="http://127.0.0.1:$SERVER"
CASD=$(timed $PY "127.0.0.1:$PORT" stage "$DIGEST" "$WORK/out-casd")
CASD_STAGED=$(grep -oE 'staged [0-9.]+' "$WORK/last.err" | cut -d' ' -f2)
diff -r --no-dereference "$WORK/src" "$WORK/out-lc" >/dev/null && SAME=yes || SAME=NO

CMD='ls /usr/bin | wc -l; cat /bin/busybox >/dev/null'
SHELL_S=$(timed "$LAZYCAS" shell "$DIGEST" --remote "grpc://127.0.0.1:$SERVER" --cache-dir "$WORK/c3" -- sh -c "$CMD")
SHELL_FETCHED=$(grep -oE 'fetched .*' "$WORK/last.err")
FULL_S=$(timed sh -c "'$LAZYCAS' checkout '$DIGEST' '$WORK/out-full' --remote grpc://127.0.0.1:$SERVER --cache-dir '$WORK/c4' && \
  bwrap --bind '$WORK/out-full' / --proc /proc --dev /dev --unshare-all sh -c '$CMD'")

echo
echo "$TOTAL_FILES files, $TOTAL_MIB MiB, buildbox-casd on loopback ($(nproc) cores); checkout identical to source: $SAME"
printf '| %-52s | %8s | %s\n' "checkout, cold cache" "time" "vs casd"
printf '| %-52s | %7.2fs | %.2f×\n' "lazycas checkout (copies)" "$LC" "$(calc "$LC / $CASD")"
printf '| %-52s | %7.2fs | %.2f×\n' "lazycas checkout --hardlink" "$LC_LINK" "$(calc "$LC_LINK / $CASD")"
printf '| %-52s | %7.2fs | 1.00× (staged after %ss)\n' "casd FetchTree + StageTree (hard links) + cp -a" "$CASD" "$CASD_STAGED"
echo
printf '| %-52s | %8s | %s\n' "shell: ls /usr/bin | wc -l; cat /bin/busybox" "time" "content fetched"
printf '| %-52s | %7.2fs | %s\n' "lazycas shell (lazy mount + overlay), cold cache" "$SHELL_S" "$SHELL_FETCHED"
printf '| %-52s | %7.2fs | all %s MiB\n' "full checkout, then the command in bubblewrap" "$FULL_S" "$TOTAL_MIB"
