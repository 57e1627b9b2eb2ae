#!/usr/bin/env bash
# A private BuildGrid 0.4.4 on loopback: its own PostgreSQL 15 cluster, the schema migrated, and
# `bgd server start` with one instance (execution, CAS, ByteStream, ActionCache, Bots) backed
# by disk storage. Everything lives under DIR; nothing system-wide is touched.
#
#   buildgrid.sh start DIR [INSTANCE]   start both; prints the gRPC URL (also in DIR/url)
#   buildgrid.sh restart DIR            stop and start bgd only (the database keeps its jobs)
#   buildgrid.sh stop DIR               stop both (DIR stays, for its logs)
#
# BGD_KEEPALIVE: seconds a bot may stay silent before BuildGrid re-queues its leases (20).
#
# Needs root (PostgreSQL runs as user postgres) and scripts/setup.sh --with-buildgrid.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PG=/usr/lib/postgresql/15/bin
BGD="$ROOT/.tools/bgd-venv/bin/bgd"
KEEPALIVE="${BGD_KEEPALIVE:-20}"
cmd="${1:?usage: buildgrid.sh start|restart|stop DIR [INSTANCE]}"
DIR="$(mkdir -p "${2:?usage: buildgrid.sh start|restart|stop DIR [INSTANCE]}" && cd "$2" && pwd)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_for_port() {
  local port=$1 what=$2 log=$3
  for _ in $(seq 1 200); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "buildgrid.sh: $what did not listen on port $port; its log ($log):" >&2
  tail -20 "$log" >&2
  return 1
}

# Until BuildGrid answers a real call (GetCapabilities on the instance): a listening socket
# alone may still belong to a server on its way out.
wait_for_answer() {
  local port=$1 instance=$2
  for _ in $(seq 1 100); do
    if "$ROOT/.tools/bgd-venv/bin/python" -c "
import sys, grpc
from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as re, remote_execution_pb2_grpc as rg
channel = grpc.insecure_channel('127.0.0.1:$port')
rg.CapabilitiesStub(channel).GetCapabilities(re.GetCapabilitiesRequest(instance_name='$instance'), timeout=2)
" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "buildgrid.sh: BuildGrid listens on port $port but does not answer; its log ($DIR/bgd.log):" >&2
  tail -20 "$DIR/bgd.log" >&2
  return 1
}

# bgd runs in a session of its own, so that stopping it stops every process it started.
start_bgd() {
  setsid "$BGD" server start "$DIR/bgd.yml" >"$DIR/bgd.log" 2>&1 &
  echo $! >"$DIR/bgd.pid"
  wait_for_port "$(cat "$DIR/bgd.port")" BuildGrid "$DIR/bgd.log"
  wait_for_answer "$(cat "$DIR/bgd.port")" "$(cat "$DIR/instance")"
}

# Stops bgd's whole process group, then waits until nothing accepts on its port any more, so a
# restart's new server is the only one there.
stop_bgd() {
  [ -f "$DIR/bgd.pid" ] || return 0
  local pid; pid="$(cat "$DIR/bgd.pid")"
  kill -TERM -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 -- "-$pid" 2>/dev/null || true
  local port; port="$(cat "$DIR/bgd.port")"
  for _ in $(seq 1 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null || break
    sleep 0.1
  done
  rm -f "$DIR/bgd.pid"
}

case "$cmd" in
  start)
    [ -x "$BGD" ] || "$ROOT/scripts/setup.sh" --with-buildgrid
    instance="${3:-main}"
    echo "$instance" >"$DIR/instance"
    pg_port="$(free_port)"
    mkdir -p "$DIR/cas"
    # The database lives where user postgres can reach it (DIR may be under a private home).
    pg="$(mktemp -d /tmp/lazycas-pg.XXXXXX)"
    echo "$pg" >"$DIR/pg.dir"
    chown postgres "$pg"
    trap 'echo "buildgrid.sh: start failed; $DIR/pg.log:" >&2; tail -20 "$DIR/pg.log" >&2' ERR
    runuser -u postgres -- "$PG/initdb" -D "$pg/data" --auth=trust -U bgd >"$DIR/pg.log" 2>&1
    runuser -u postgres -- "$PG/pg_ctl" -D "$pg/data" -l "$pg/server.log" -w \
      -o "-p $pg_port -k $pg -c listen_addresses=127.0.0.1 -c fsync=off" start >>"$DIR/pg.log" 2>&1
    echo "$pg_port" >"$DIR/pg.port"
    db="postgresql+psycopg2://bgd@127.0.0.1:$pg_port/postgres"
    "$BGD" migrate apply "$db" >>"$DIR/pg.log" 2>&1
    trap - ERR
    port="$(free_port)"
    echo "$port" >"$DIR/bgd.port"
    cat >"$DIR/bgd.yml" <<YAML
server:
  - !channel
    address: "127.0.0.1:$port"
    insecure-mode: true
# gRPC threads: each long-polling bot and each Execute stream holds one, and clients upload
# many blobs at once (the default, 5 per CPU, refuses them with RESOURCE_EXHAUSTED).
thread-pool-size: 64
authorization:
  method: none
connections:
  - !sql-connection &sql
    connection-string: $db
storages:
  - !disk-storage &cas
    path: $DIR/cas
caches:
  - !lru-action-cache &ac
    storage: *cas
    max-cached-refs: 10000
    allow-updates: true
    cache-failed-actions: false
schedulers:
  - !sql-scheduler &scheduler
    sql: *sql
    action-cache: *ac
    storage: *cas
    bot-session-keepalive-timeout: $KEEPALIVE
    property-set: !dynamic-property-set
      match-property-keys: [OSFamily]
      wildcard-property-keys: [ISA, lazycas.host-tools]
instances:
  - name: "$instance"
    services:
      - !action-cache
        cache: *ac
      - !execution
        scheduler: *scheduler
      - !cas
        storage: *cas
      - !bytestream
        storage: *cas
YAML
    start_bgd
    echo "grpc://127.0.0.1:$port" | tee "$DIR/url"
    ;;
  restart)
    stop_bgd
    start_bgd
    ;;
  stop)
    stop_bgd
    if [ -f "$DIR/pg.dir" ]; then
      pg="$(cat "$DIR/pg.dir")"
      runuser -u postgres -- "$PG/pg_ctl" -D "$pg/data" -m fast -w stop >>"$DIR/pg.log" 2>&1 || true
      rm -rf "$pg" "$DIR/pg.dir"
    fi
    ;;
  *) echo "buildgrid.sh: unknown command $cmd (start, restart, stop)" >&2; exit 1 ;;
esac
