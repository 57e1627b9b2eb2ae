import Foundation
import Glibc
import GRPCCore
import LocalCAS
import REAPI

/// ByteStream over the CAS: Read with `read_offset`/`read_limit`, Write with resumable
/// uploads (`write_offset` continues a broken upload of the same resource name), and
/// QueryWriteStatus.
struct ByteStreamService: Google_Bytestream_ByteStream.SimpleServiceProtocol {
    let storage: ServerStorage
    let limits: ServerLimits
    let stats: ServerStats
    let uploads: UploadSessions

    func read(request: Google_Bytestream_ReadRequest, response: RPCWriter<Google_Bytestream_ReadResponse>, context: ServerContext) async throws {
        let name = try ResourceName.parseRead(request.resourceName)
        let size = name.digest.sizeBytes
        guard request.readOffset >= 0, request.readOffset <= size else {
            throw RPCError(code: .outOfRange, message: "read_offset \(request.readOffset) is outside blob \(name.digest)")
        }
        guard request.readLimit >= 0 else {
            throw RPCError(code: .invalidArgument, message: "read_limit \(request.readLimit) is negative")
        }
        let end = request.readLimit == 0 ? size : request.readOffset + min(size - request.readOffset, request.readLimit)
        let blob: Blob
        do {
            blob = try await storage.content.get(name.digest)
        } catch {
            throw RPCError(cas: error)
        }
        storage.used([name.digest])
        var offset = request.readOffset
        while offset < end {
            let piece: Data
            do {
                piece = try await blob.read(offset..<min(end, offset + Int64(limits.readChunkBytes)))
            } catch {
                throw RPCError(code: .internalError, message: "cannot read blob \(name.digest) at \(offset): \(error)")
            }
            guard !piece.isEmpty else {
                throw RPCError(code: .internalError, message: "cannot read blob \(name.digest) at \(offset): file is short")
            }
            var message = Google_Bytestream_ReadResponse()
            message.data = piece
            try await response.write(message)
            offset += Int64(piece.count)
            stats.record("Read") { $0.bytesOut += Int64(piece.count) }
        }
    }

    func write(request: RPCAsyncSequence<Google_Bytestream_WriteRequest, any Error>, context: ServerContext) async throws -> Google_Bytestream_WriteResponse {
        var resource: String?
        var session: UploadSessions.Session?
        var response = Google_Bytestream_WriteResponse()
        for try await message in request {
            if resource == nil {
                let name = try ResourceName.parseWrite(message.resourceName)
                if storage.cas.contains(name.digest) {
                    // Already stored: the upload is complete before it started (REAPI allows
                    // answering at once with the full size).
                    response.committedSize = name.digest.sizeBytes
                    return response
                }
                resource = message.resourceName
                session = try uploads.session(message.resourceName, digest: name.digest)
            } else if !message.resourceName.isEmpty && message.resourceName != resource {
                throw RPCError(code: .invalidArgument, message: "resource_name changed within one Write stream")
            }
            guard let session, let resource else { break }
            let done = try append(message, to: session, resource: resource)
            response.committedSize = session.committed
            if done {
                response.committedSize = session.digest.sizeBytes
                return response
            }
        }
        guard resource != nil else {
            throw RPCError(code: .invalidArgument, message: "empty Write stream: the first message must name the resource")
        }
        return response
    }

    /// Appends one message's data to an upload; commits it on `finish_write`.
    /// - Returns: whether the blob is now stored.
    private func append(_ message: Google_Bytestream_WriteRequest, to session: UploadSessions.Session,
                        resource: String) throws(RPCError) -> Bool {
        let outcome: Result<Bool, RPCError> = session.writer.withLock { slot in
            guard let writer = slot else {
                return .failure(RPCError(code: .failedPrecondition, message: "upload \(resource) has already ended"))
            }
            session.lastUsed.withLock { $0 = .now }
            guard message.writeOffset == writer.bytesWritten else {
                return .failure(RPCError(code: .invalidArgument, message: "write_offset \(message.writeOffset) of \(resource) does not continue the \(writer.bytesWritten) bytes received"))
            }
            do throws(CASError) {
                try writer.write(message.data)
                guard message.finishWrite else { return .success(false) }
                guard writer.bytesWritten == session.digest.sizeBytes else {
                    throw CASError(.corrupt, "finish_write after \(writer.bytesWritten) bytes of blob \(session.digest)")
                }
                try writer.commit()
                slot = nil
                return .success(true)
            } catch {
                writer.abort()
                slot = nil
                return .failure(RPCError(cas: error))
            }
        }
        stats.record("Write") { $0.bytesIn += Int64(message.data.count) }
        switch outcome {
        case .success(let done):
            if done {
                uploads.end(resource)
                storage.stored(session.digest.sizeBytes)
            }
            return done
        case .failure(let error):
            uploads.end(resource)
            throw error
        }
    }

    func queryWriteStatus(request: Google_Bytestream_QueryWriteStatusRequest, context: ServerContext) async throws -> Google_Bytestream_QueryWriteStatusResponse {
        let name = try ResourceName.parseWrite(request.resourceName)
        var response = Google_Bytestream_QueryWriteStatusResponse()
        if storage.cas.contains(name.digest) {
            response.committedSize = name.digest.sizeBytes
            response.complete = true
        } else if let session = uploads.existing(request.resourceName) {
            response.committedSize = session.committed
        } else {
            throw RPCError(code: .notFound, message: "no upload \(request.resourceName) in progress")
        }
        return response
    }
}
