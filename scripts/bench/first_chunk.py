#!/usr/bin/env python3
"""The protocol's floor for mount.sh's first byte: a plain gRPC client (grpcio) asks the server
for the first 64 KiB of each of some blobs, as a mount's first read of a cold large file does,
and prints the median time from the request to the first message, in seconds.

  first_chunk.py HOST:PORT WARMUP_FILE FILE...

The blobs are the files' contents (their digests are computed here, before anything is timed).
The channel is connected first, and WARMUP_FILE's blob read whole, as mount.sh reads its probe
file before timing first bytes. The protobuf modules come from the buildstream wheel
(common.sh's bench_venv).
"""
import hashlib
import statistics
import sys
import time

import grpc
from buildstream._protos.build.bazel.remote.execution.v2 import remote_execution_pb2, remote_execution_pb2_grpc
from buildstream._protos.google.bytestream import bytestream_pb2, bytestream_pb2_grpc


def resource(path):
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return f"blobs/{digest.hexdigest()}/{size}"


def main():
    target, warmup, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    names = [resource(path) for path in [warmup] + files]
    channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 64 << 20)])
    remote_execution_pb2_grpc.CapabilitiesStub(channel).GetCapabilities(remote_execution_pb2.GetCapabilitiesRequest())
    stream = bytestream_pb2_grpc.ByteStreamStub(channel)
    for _ in stream.Read(bytestream_pb2.ReadRequest(resource_name=names[0])):
        pass
    times = []
    for name in names[1:]:
        started = time.perf_counter()
        for _ in stream.Read(bytestream_pb2.ReadRequest(resource_name=name, read_limit=65536)):
            times.append(time.perf_counter() - started)
            break
    print(f"{statistics.median(times):.6f}")


if __name__ == "__main__":
    main()
