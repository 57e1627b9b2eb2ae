#!/usr/bin/env bash
# Vendors the Remote Workers API v1test2 (bots.proto, worker.proto) as BuildGrid 0.4.4 compiled
# it. BuildGrid's wheel ships only the compiled descriptors, not the .proto sources, so the
# vendored form is a FileDescriptorSet of exactly those two files, unchanged
# (Protos/google/devtools/remoteworkers/v1test2/remoteworkers.pb); scripts/generate-protos.sh
# generates Swift from it. Run this only to re-vendor; the result is committed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.tools/bgd-venv"
[ -x "$VENV/bin/bgd" ] || "$ROOT/scripts/setup.sh" --with-buildgrid
OUT="$ROOT/Protos/google/devtools/remoteworkers/v1test2/remoteworkers.pb"
"$VENV/bin/python" - "$OUT" <<'PY'
import sys
from google.protobuf import descriptor_pb2
from buildgrid._protos.google.devtools.remoteworkers.v1test2 import bots_pb2, worker_pb2
fds = descriptor_pb2.FileDescriptorSet()
for module in (worker_pb2, bots_pb2):
    module.DESCRIPTOR.CopyToProto(fds.file.add())
with open(sys.argv[1], "wb") as f:
    f.write(fds.SerializeToString(deterministic=True))
PY
echo "vendor-remoteworkers: wrote $OUT"
