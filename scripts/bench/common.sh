# Shared by the benchmarks: installs and builds (scripts/build-release.sh; LAZYCAS_BIN=path uses
# that binary instead), makes a scratch folder, and gives helpers to time things and start servers.
# Source it; it sets ROOT, LAZYCAS, BB, WORK.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
scripts/setup.sh
if [ -n "${LAZYCAS_BIN:-}" ]; then
  LAZYCAS="$(realpath "$LAZYCAS_BIN")"   # a binary built earlier (e.g. to compare two versions)
else
  # lazycas with the helpers it starts (the mount daemon, the download helper) beside it, built
  # for use (release, the daemon's code laid out by what a mount runs).
  LAZYCAS="$(scripts/build-release.sh)/lazycas"
fi
BB="$ROOT/.tools/buildbox"
WORK="$(mktemp -d /tmp/lazycas-bench.XXXXXX)"
PIDS=()
bench_cleanup() {
  for m in "$WORK"/mnt-*; do fusermount3 -u -z "$m" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  mountpoint -q "$WORK/run" && umount -l "$WORK/run"
  rm -rf "$WORK"
}
trap bench_cleanup EXIT

now() { date +%s.%N; }
calc() { awk "BEGIN { print $* }"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# start_casd NAME [ARGS…]: a fresh buildbox-casd with its own cache; sets PORT.
start_casd() {
  local name=$1; shift
  PORT=$(free_port)
  "$BB/buildbox-casd" --bind="127.0.0.1:$PORT" "$@" "$WORK/$name" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  wait_port "$PORT"
}

# make_tree DIR FILES [MIN MAX]: FILES files of MIN-MAX bytes (log-uniform; default 1-64 KiB) in
# nested directories, plus three large files under large/ (10, 25 and 50 MiB) and a 10 MiB
# probe file.
make_tree() {
  echo "generating $2 files…" >&2
  python3 - "$1" "$2" "${3:-1024}" "${4:-65536}" <<'PY'
import math, os, random, sys
root, n, low, high = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(7)
for i in range(n):
    d = os.path.join(root, f"d{i % 20}", f"e{i % 97}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i}"), "wb") as f:
        f.write(rng.randbytes(int(math.exp(rng.uniform(math.log(low), math.log(high))))))
os.makedirs(os.path.join(root, "large"), exist_ok=True)
for i, mib in enumerate([10, 25, 50]):
    with open(os.path.join(root, "large", f"big{i}"), "wb") as f:
        f.write(rng.randbytes(mib << 20))
with open(os.path.join(root, "probe"), "wb") as f:
    f.write(rng.randbytes(10 << 20))
PY
}

# bench_venv: a Python with grpcio and the REAPI/LocalCAS modules generated in the buildstream
# wheel, for clients that are not lazycas; sets BENCH_PY.
bench_venv() {
  local venv="$ROOT/.tools/bench-venv"
  if [ ! -x "$venv/bin/python" ] || [ ! -d "$venv/protos/buildstream" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q grpcio 'protobuf>=5.29,<7'
    local tmp; tmp="$(mktemp -d)"
    python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp" buildstream==2.8.1
    unzip -q -o "$tmp"/buildstream-*.whl 'buildstream/_protos/*' -d "$venv/protos"
    touch "$venv/protos/buildstream/__init__.py"
    rm -rf "$tmp"
  fi
  BENCH_PY="env PYTHONPATH=$venv/protos $venv/bin/python"
}

# start_lazycas_serve NAME [STATS]: a fresh `lazycas serve` with its own storage (and, with
# STATS, its per-method counters written to that JSON file); sets PORT.
start_lazycas_serve() {
  local name=$1
  PORT=$(free_port)
  "$LAZYCAS" serve --listen "grpc://127.0.0.1:$PORT" --storage "$WORK/$name" ${2:+--stats-file "$2"} >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  wait_port "$PORT"
}

# cpu_seconds PID [children]: user + system CPU seconds of PID so far, from /proc/PID/stat; with
# `children`, also those of every child it has waited for (a server's runners and actions).
cpu_seconds() {
  python3 -c "
import os
f = open('/proc/$1/stat').read().rsplit(')', 1)[1].split()
print(sum(int(x) for x in f[11:15 if '${2:-}' == 'children' else 13]) / os.sysconf('SC_CLK_TCK'))"
}

# bst_remote_conf FILE CACHEDIR [storage]: a BuildStream configuration that builds remotely on
# the server at $PORT (execution, storage, action cache), with its local cache in CACHEDIR;
# `storage` also keeps the artifacts on that server (`cache: storage-service:`).
bst_remote_conf() {
  local url="http://127.0.0.1:$PORT" storage=""
  [ "${3:-}" = storage ] && storage="cache:
  storage-service: {url: \"$url\"}"
  cat > "$1" <<CONF
cachedir: $2
logdir: $2-logs
$storage
remote-execution:
  execution-service: {url: "$url"}
  storage-service: {url: "$url"}
  action-cache-service: {url: "$url"}
CONF
}

# fresh_fs SIZE / drop_fs: an empty ext4 filesystem at $WORK/run for one run (inode tables
# written now, not by the kernel in the background while the run is timed), and its removal. A
# run on a filesystem where many files were just deleted pays several times more for every new
# inode (ext4's recently_deleted check), which made runs after a cleanup look slow.
fresh_fs() {
  truncate -s "$1" "$WORK/run.img"
  mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$WORK/run.img"
  mkdir -p "$WORK/run"
  mount -o loop "$WORK/run.img" "$WORK/run"
}
drop_fs() {
  umount "$WORK/run"
  rm -f "$WORK/run.img"
}
