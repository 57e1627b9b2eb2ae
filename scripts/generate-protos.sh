#!/usr/bin/env bash
# Regenerates Sources/REAPI from the vendored Protos/ with the system protoc and the
# swift-protobuf / grpc-swift 2 plugins built from this package's own dependencies.
# The output is committed; run this only when Protos/ changes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
command -v protoc >/dev/null || { echo "generate-protos: protoc missing (run scripts/setup.sh)" >&2; exit 1; }

swift build --product protoc-gen-swift
swift build --product protoc-gen-grpc-swift-2
BIN="$(swift build --show-bin-path)"

OUT="Sources/REAPI"
find "$OUT" \( -name '*.pb.swift' -o -name '*.grpc.swift' \) -delete
FILES=$(cd Protos && find . -name '*.proto' | sed 's|^\./||' | sort)
OPTS="Visibility=Public,FileNaming=PathToUnderscores"
(cd Protos && protoc -I . -I /usr/include \
  --plugin=protoc-gen-swift="$BIN/protoc-gen-swift" \
  --plugin=protoc-gen-grpc-swift="$BIN/protoc-gen-grpc-swift-2" \
  --swift_out="$ROOT/$OUT" --swift_opt="$OPTS" \
  --grpc-swift_out="$ROOT/$OUT" --grpc-swift_opt="$OPTS" \
  $FILES)
echo "generate-protos: $(ls "$OUT"/*.swift | wc -l) files in $OUT"
