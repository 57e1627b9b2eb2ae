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

# The Remote Workers API is vendored as a FileDescriptorSet (scripts/vendor-remoteworkers.sh);
# its imports come from the sources above and protoc's well-known types.
RW="google/devtools/remoteworkers/v1test2"
DEPS="$(mktemp)"
trap 'rm -f "$DEPS"' EXIT
(cd Protos && protoc -I . -I /usr/include --include_imports --descriptor_set_out="$DEPS" \
  google/api/annotations.proto google/rpc/status.proto google/protobuf/any.proto \
  google/protobuf/empty.proto google/protobuf/field_mask.proto google/protobuf/timestamp.proto)
protoc --descriptor_set_in="$DEPS:Protos/$RW/remoteworkers.pb" \
  --plugin=protoc-gen-swift="$BIN/protoc-gen-swift" \
  --plugin=protoc-gen-grpc-swift="$BIN/protoc-gen-grpc-swift-2" \
  --swift_out="$ROOT/$OUT" --swift_opt="$OPTS" \
  --grpc-swift_out="$ROOT/$OUT" --grpc-swift_opt="$OPTS" \
  "$RW/worker.proto" "$RW/bots.proto"
echo "generate-protos: $(ls "$OUT"/*.swift | wc -l) files in $OUT"
