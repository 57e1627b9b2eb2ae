/// A large blob on its way into the local CAS, readable range by range while it arrives: the
/// bytes of a range can be read from ``fd`` once ``wait(offset:count:)`` has returned for it.
/// A range that reaches the end of the blob is released only after the whole blob has been
/// verified, so no reader finishes a corrupt blob without an error.
public protocol IncomingBlob: AnyObject, Sendable {
    var digest: Digest { get }
    /// The bytes so far (a temp file that becomes the stored blob once verified).
    var fd: Int32 { get }
    /// Whether `offset ..< offset + count` (clipped to the blob) can be read now; throws the
    /// transfer's error if it failed.
    func hasArrived(offset: Int64, count: Int64) throws(CASError) -> Bool
    /// Returns once that range can be read (for a range reaching the end: once the blob is
    /// verified); throws the transfer's error if it failed.
    func wait(offset: Int64, count: Int64) async throws(CASError)
    /// Returns once the whole blob is verified and stored; throws why it could not be.
    func complete() async throws(CASError)
}
