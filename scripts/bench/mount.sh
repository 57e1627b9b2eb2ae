#!/usr/bin/env bash
# Benchmark: the same tree behind buildbox-casd on loopback, read through a lazycas mount,
# a buildbox-fuse mount and the native directory, side by side in one run. Prints one table
# with each figure's ratio to native. Not a test: times are noisy, compare ratios.
#   scripts/bench/mount.sh [FILES] [RTT_MS] [small]
#     default 10,000 files of 1-64 KiB + 10/25/50 MiB + a 10 MiB probe; RTT_MS > 0 puts a
#     delaying proxy in front of casd so loopback has that round-trip time; `small` makes the
#     files 100 B-4 KiB (e.g. `mount.sh 50000 0 small`).
# The first byte is the median over three cold files of 10-50 MiB (open + a 1-byte read, timed
# in one Python process), printed with its difference to the native disk's; below it, the
# protocol's floor: a plain gRPC client's first 64 KiB of the same cold blobs (first_chunk.py).
# Also prints each daemon's CPU time per MiB of the serial cold read (user + system, from
# /proc/PID/stat), its peak RSS (VmHWM) and the peak of its private memory alone (RssAnon, sampled
# every 10 ms: RSS also counts the executable's and libraries' code pages, shared and clean, which
# the kernel maps in 64 KiB windows around each page touched). Everything (the native tree,
# casd's storage, every cache) is on one fresh ext4 filesystem (``fresh_fs``), so each run starts
# from the same disk state.
FILES="${1:-10000}"
RTT_MS="${2:-0}"
SIZES=(1024 65536)
[ "${3:-}" = small ] && SIZES=(100 4096)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
fresh_fs 6G
start_casd run/casd
if [ "$RTT_MS" != 0 ]; then
  CASD_PORT=$PORT; PORT=$(free_port)
  python3 "$ROOT/scripts/bench/delay_proxy.py" "$PORT" "$CASD_PORT" "$(calc "$RTT_MS / 2")" &
  PIDS+=($!)
  wait_port "$PORT"
fi
REMOTE="grpc://127.0.0.1:$PORT"
make_tree "$WORK/run/src" "$FILES" "${SIZES[@]}"
DIGEST=$("$LAZYCAS" cas put "$WORK/run/src" --remote "$REMOTE" --cache-dir "$WORK/run/uploader" 2>/dev/null)
N=$(find "$WORK/run/src" -type f | wc -l)
MIB=$(du -sm --apparent-size "$WORK/run/src" | cut -f1)

# mount TOOL NAME: a fresh mount with an empty cache; sets MNT and MPID.
mount_tool() {
  local tool=$1 name=$2
  MNT="$WORK/mnt-$tool-$name"; mkdir -p "$MNT"
  # Each tool and stage gets a cache of its own: buildbox-fuse's --local uses the same
  # objects/ layout as ours and would otherwise start warm from lazycas's earlier stage.
  local cache="$WORK/run/cache-$tool-$name"; mkdir -p "$cache"
  case $tool in
    native) MPID=""; MNT="$WORK/run/src" ;;
    lazycas)
      "$LAZYCAS" mount "$DIGEST" "$MNT" --foreground --remote "$REMOTE" --cache-dir "$cache" 2>"$WORK/$tool-$name.log" &
      MPID=$! ;;
    buildbox-fuse)
      "$BB/buildbox-fuse" --local="$cache" --remote="http://127.0.0.1:$PORT" --input-digest-value="$DIGEST" "$MNT" >"$WORK/$tool-$name.log" 2>&1 &
      MPID=$! ;;
  esac
  [ -n "$MPID" ] && PIDS+=("$MPID")
  ANON_PEAK="$WORK/anon-$tool-$name"; echo 0 > "$ANON_PEAK"
  [ -n "$MPID" ] && { sample_anon "$MPID" "$ANON_PEAK" & SAMPLER=$!; }
  # Up to 2 minutes (buildbox-fuse fetches a whole 100,000-file tree before it serves it).
  if [ "$tool" != native ]; then
    for _ in $(seq 24000); do ls "$MNT/large" >/dev/null 2>&1 && return 0; sleep 0.005; done
    echo "$tool did not mount the tree within 2 minutes; its log:" >&2
    tail -5 "$WORK/$tool-$name.log" >&2
    exit 1
  fi
}
unmount_tool() {
  [ -z "$MPID" ] && return 0
  RSS_KB=$(awk '/VmHWM/ {print $2}' "/proc/$MPID/status" 2>/dev/null || echo 0)
  kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null || true
  ANON_KB=$(cat "$ANON_PEAK")
  fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT"
  for _ in $(seq 200); do kill -0 "$MPID" 2>/dev/null || break; sleep 0.05; done
  kill "$MPID" 2>/dev/null || true
}
# sample_anon PID FILE: keeps in FILE the largest RssAnon (KiB) PID has had, read every 10 ms with
# shell builtins only (no process per sample: the pause is a timed read of an idle FIFO).
sample_anon() {
  local peak=0 key value _ pause
  mkfifo "$2.pause"; exec {pause}<>"$2.pause"
  while [ -r "/proc/$1/status" ]; do
    while read -r key value _; do
      [ "$key" = RssAnon: ] && [ "$value" -gt "$peak" ] && { peak=$value; echo "$peak" > "$2"; }
    done < "/proc/$1/status" 2>/dev/null
    read -r -t 0.01 -u "$pause" _ || true
  done
}
timed() { local t0; t0=$(now); "$@" >/dev/null 2>&1; calc "$(now) - $t0"; }
# daemon_cpu: user + system seconds of the mount daemon so far (0 for the native disk).
daemon_cpu() { if [ -n "$MPID" ]; then cpu_seconds "$MPID"; else echo 0; fi; }
read_all_serial() { find "$1" -type f -print0 | xargs -0 cat > /dev/null; }
read_all_parallel() { find "$1" -type f -print0 | xargs -0 -P 8 -n 64 cat > /dev/null; }
stat_all() { find "$1" -type f -print0 | xargs -0 stat -c %s > /dev/null; }
# first_byte FILE...: the median time (s) to open each cold file and read its first byte, timed
# inside one Python process (no process start in the figure); each file is then read to its end,
# so the next one's first byte does not share the remote with the last one's stream.
first_byte() {
  python3 - "$@" <<'PY'
import os, statistics, sys, time
times = []
for path in sys.argv[1:]:
    t0 = time.perf_counter(); fd = os.open(path, os.O_RDONLY); os.read(fd, 1); times.append(time.perf_counter() - t0)
    while os.read(fd, 1 << 20): pass
    os.close(fd)
print(f"{statistics.median(times):.6f}")
PY
}

declare -A R
for tool in native lazycas buildbox-fuse; do
  echo "measuring $tool…" >&2
  drop_caches
  t0=$(now); mount_tool $tool a; ls "$MNT" >/dev/null; R[$tool,listable]=$(calc "$(now) - $t0")
  R[$tool,find_cold]=$(timed sh -c "find '$MNT' | wc -l")
  R[$tool,find_warm]=$(timed sh -c "find '$MNT' | wc -l")
  unmount_tool; drop_caches
  R[$tool,rss_listed]=$(calc "${RSS_KB:-0} / 1024"); R[$tool,anon_listed]=$(calc "${ANON_KB:-0} / 1024")
  mount_tool $tool b
  R[$tool,stat]=$(timed stat_all "$MNT")
  c0=$(daemon_cpu)
  R[$tool,read_serial]=$(timed read_all_serial "$MNT")
  R[$tool,cpu_per_mib]=$(calc "($(daemon_cpu) - $c0) * 1000 / $MIB")
  R[$tool,reread]=$(timed read_all_serial "$MNT")
  unmount_tool; drop_caches
  mount_tool $tool c
  R[$tool,read_parallel]=$(timed read_all_parallel "$MNT")
  unmount_tool; drop_caches
  R[$tool,rss_parallel]=$(calc "${RSS_KB:-0} / 1024"); R[$tool,anon_parallel]=$(calc "${ANON_KB:-0} / 1024")
  mount_tool $tool d
  R[$tool,probe_whole]=$(timed cat "$MNT/probe")
  R[$tool,first_byte]=$(first_byte "$MNT"/large/*)
  find "$MNT" -type f -print0 | xargs -0 cat > /dev/null
  unmount_tool
  R[$tool,rss]=$(calc "${RSS_KB:-0} / 1024"); R[$tool,anon]=$(calc "${ANON_KB:-0} / 1024")
done

# The protocol's floor for the first byte: a plain gRPC client asking the same server (through
# the same delaying proxy) for the first 64 KiB of the same cold blobs, after the same probe read.
bench_venv
drop_caches
FLOOR_MS=$(calc "$($BENCH_PY "$ROOT/scripts/bench/first_chunk.py" "127.0.0.1:$PORT" "$WORK/run/src/probe" "$WORK/run/src"/large/*) * 1000")

echo
echo "$N files, $MIB MiB, buildbox-casd on loopback (added RTT ${RTT_MS} ms), $(nproc) cores, a fresh ext4 (native: page cache dropped if permitted)"
printf "| %-30s | %9s | %9s | %9s | %8s | %8s |\n" "measure" "native" "lazycas" "bb-fuse" "lazy/nat" "bb/nat"
printf "|%s|\n" "--------------------------------|-----------|-----------|-----------|----------|---------"
for m in listable find_cold find_warm stat read_serial read_parallel reread probe_whole; do
  n=${R[native,$m]}; l=${R[lazycas,$m]}; b=${R[buildbox-fuse,$m]}
  printf "| %-30s | %8.3fs | %8.3fs | %8.3fs | %7.1f× | %7.1f× |\n" "$m" "$n" "$l" "$b" "$(calc "$l / ($n + 0.0005)")" "$(calc "$b / ($n + 0.0005)")"
done
fb() { calc "${R[$1,first_byte]} * 1000"; }
printf "| %-30s | %7.1fms | %7.1fms | %7.1fms | %+5.1fms | %+5.1fms |\n" "first byte, cold (median of 3)" "$(fb native)" "$(fb lazycas)" "$(fb buildbox-fuse)" "$(calc "$(fb lazycas) - $(fb native)")" "$(calc "$(fb buildbox-fuse) - $(fb native)")"
printf "| %-30s | %9s | %7.1fms | %9s |          |          |\n" "first 64 KiB, plain client" "-" "$FLOOR_MS" "-"
printf "| %-30s | %9s | %8.1fms | %8.1fms |          |          |\n" "daemon CPU per MiB, serial" "-" "${R[lazycas,cpu_per_mib]}" "${R[buildbox-fuse,cpu_per_mib]}"
printf "| %-30s | %9s | %8.0fMB | %8.0fMB |          |          |\n" "peak RSS, everything listed" "-" "${R[lazycas,rss_listed]}" "${R[buildbox-fuse,rss_listed]}"
printf "| %-30s | %9s | %8.0fMB | %8.0fMB |          |          |\n" "peak RSS after reading all" "-" "${R[lazycas,rss]}" "${R[buildbox-fuse,rss]}"
printf "| %-30s | %9s | %8.0fMB | %8.0fMB |          |          |\n" "peak RSS, 8 parallel cold read" "-" "${R[lazycas,rss_parallel]}" "${R[buildbox-fuse,rss_parallel]}"
printf "| %-30s | %9s | %8.0fMB | %8.0fMB |          |          |\n" "peak private, all listed" "-" "${R[lazycas,anon_listed]}" "${R[buildbox-fuse,anon_listed]}"
printf "| %-30s | %9s | %8.0fMB | %8.0fMB |          |          |\n" "peak private, serial read" "-" "${R[lazycas,anon]}" "${R[buildbox-fuse,anon]}"
printf "| %-30s | %9s | %8.0fMB | %8.0fMB |          |          |\n" "peak private, 8 parallel read" "-" "${R[lazycas,anon_parallel]}" "${R[buildbox-fuse,anon_parallel]}"
