#!/usr/bin/env bash
# Benchmark: the same Python REAPI client against `lazycas serve` and buildbox-casd, side by
# side in one run: FindMissingBlobs (digests/s), BatchUpdate/BatchRead of 16 KiB blobs (MiB/s),
# ByteStream Write/Read of a 100 MiB blob (MiB/s). Prints one table with the ratio ours/casd.
# Not a test: numbers vary; compare the ratio.
#   scripts/bench/server.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bench_venv
CLIENT="$BENCH_PY $ROOT/scripts/bench/server_client.py"

start_lazycas_serve ours
OURS=$($CLIENT "127.0.0.1:$PORT")
kill -USR1 "${PIDS[-1]}"; sleep 0.2
start_casd casd
CASD=$($CLIENT "127.0.0.1:$PORT")

echo
echo "same client (Python grpcio), loopback, $(nproc) cores"
python3 - "$OURS" "$CASD" <<'PY'
import json, sys
ours, casd = json.loads(sys.argv[1]), json.loads(sys.argv[2])
rows = [("FindMissingBlobs", "findmissing_digests_per_s", "digests/s"),
        ("BatchUpdateBlobs (16 KiB)", "batch_update_mib_per_s", "MiB/s"),
        ("BatchReadBlobs (16 KiB)", "batch_read_mib_per_s", "MiB/s"),
        ("ByteStream Write (100 MiB)", "bytestream_write_mib_per_s", "MiB/s"),
        ("ByteStream Read (100 MiB)", "bytestream_read_mib_per_s", "MiB/s")]
print(f"| {'measure':28} | {'lazycas serve':>14} | {'buildbox-casd':>14} | {'ours/casd':>9} |")
print(f"|{'-'*30}|{'-'*16}|{'-'*16}|{'-'*11}|")
for label, key, unit in rows:
    print(f"| {label:28} | {ours[key]:>8.0f} {unit:>5} | {casd[key]:>8.0f} {unit:>5} | {ours[key] / casd[key]:>8.2f}× |")
PY
echo
echo "lazycas serve's own counters for that run (SIGUSR1):"
grep '^stats:' "$WORK/ours.log" | tail -1 | sed 's/^stats: //; s/; /\n/g' | sed 's/^/  /'
