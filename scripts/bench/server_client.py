#!/usr/bin/env python3
"""One REAPI client, pointed at any CAS server, measuring its throughput (for bench/server.sh).

  server_client.py HOST:PORT   -> prints one JSON object of figures

The same code and the same Python gRPC stack drive every server, so the figures compare the
servers, not the clients.
"""
import hashlib
import json
import os
import sys
import time
import uuid

import grpc
from buildstream._protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as re
from buildstream._protos.build.bazel.remote.execution.v2 import remote_execution_pb2_grpc as re_grpc
from buildstream._protos.google.bytestream import bytestream_pb2 as bs
from buildstream._protos.google.bytestream import bytestream_pb2_grpc as bs_grpc

BATCH = 3_500_000


def digest(data):
    return re.Digest(hash=hashlib.sha256(data).hexdigest(), size_bytes=len(data))


def main():
    channel = grpc.insecure_channel(sys.argv[1], options=[("grpc.max_receive_message_length", 64 << 20),
                                                          ("grpc.max_send_message_length", 64 << 20)])
    cas = re_grpc.ContentAddressableStorageStub(channel)
    stream = bs_grpc.ByteStreamStub(channel)
    out = {}

    # FindMissingBlobs: 200,000 digests the server does not have, 10,000 per request.
    digests = [re.Digest(hash=os.urandom(32).hex(), size_bytes=100) for _ in range(200_000)]
    t = time.monotonic()
    for i in range(0, len(digests), 10_000):
        cas.FindMissingBlobs(re.FindMissingBlobsRequest(blob_digests=digests[i:i + 10_000]))
    out["findmissing_digests_per_s"] = len(digests) / (time.monotonic() - t)

    # BatchUpdateBlobs / BatchReadBlobs: 64 MiB of 16 KiB blobs.
    blobs = [os.urandom(16 << 10) for _ in range(4096)]
    ds = [digest(b) for b in blobs]
    per = BATCH // (16 << 10)
    t = time.monotonic()
    for i in range(0, len(blobs), per):
        reqs = [re.BatchUpdateBlobsRequest.Request(digest=d, data=b) for d, b in zip(ds[i:i + per], blobs[i:i + per])]
        r = cas.BatchUpdateBlobs(re.BatchUpdateBlobsRequest(requests=reqs))
        assert all(x.status.code == 0 for x in r.responses)
    out["batch_update_mib_per_s"] = 64 / (time.monotonic() - t)
    t = time.monotonic()
    for i in range(0, len(ds), per):
        r = cas.BatchReadBlobs(re.BatchReadBlobsRequest(digests=ds[i:i + per]))
        assert all(x.status.code == 0 for x in r.responses)
    out["batch_read_mib_per_s"] = 64 / (time.monotonic() - t)

    # ByteStream: one 100 MiB blob, written in 1 MiB messages, then read back.
    big = os.urandom(100 << 20)
    d = digest(big)
    name = f"uploads/{uuid.uuid4()}/blobs/{d.hash}/{d.size_bytes}"

    def chunks():
        for off in range(0, len(big), 1 << 20):
            piece = big[off:off + (1 << 20)]
            yield bs.WriteRequest(resource_name=name if off == 0 else "", write_offset=off, data=piece,
                                  finish_write=off + len(piece) == len(big))
    t = time.monotonic()
    stream.Write(chunks())
    out["bytestream_write_mib_per_s"] = 100 / (time.monotonic() - t)
    t = time.monotonic()
    n = sum(len(m.data) for m in stream.Read(bs.ReadRequest(resource_name=f"blobs/{d.hash}/{d.size_bytes}")))
    assert n == len(big)
    out["bytestream_read_mib_per_s"] = 100 / (time.monotonic() - t)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
