import GRPCCore
import LocalCAS
import REAPI

extension RPCError {
    /// The gRPC status for a CAS failure: bad input is INVALID_ARGUMENT, a missing blob
    /// NOT_FOUND, a blob that does not match its digest INVALID_ARGUMENT (the client sent it),
    /// local I/O INTERNAL.
    init(cas error: CASError) {
        let code: RPCError.Code = switch error.code {
        case .invalidArgument, .corrupt: .invalidArgument
        case .notFound: .notFound
        case .remote: .unavailable
        case .io: .internalError
        }
        self.init(code: code, message: error.description)
    }
}

extension Digest {
    /// Validates a digest received in a request.
    /// - Throws: INVALID_ARGUMENT naming `field` and what is wrong.
    static func fromRequest(_ proto: Build_Bazel_Remote_Execution_V2_Digest, field: String) throws(RPCError) -> Digest {
        do {
            return try Digest(proto)
        } catch {
            throw RPCError(code: .invalidArgument, message: "\(field): \(error.message)")
        }
    }
}
