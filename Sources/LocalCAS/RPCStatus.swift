import REAPI

/// `google.rpc.Status` with its code named (`Google_Rpc_Code`), never as a bare number.
extension Google_Rpc_Status {
    /// A status with `code` and `message`.
    public init(_ code: Google_Rpc_Code, _ message: String) {
        self.init()
        self.code = Int32(code.rawValue)
        self.message = message
    }

    /// The code as the enum (`.UNRECOGNIZED(n)` for a number outside it).
    public var rpcCode: Google_Rpc_Code { Google_Rpc_Code(rawValue: Int(code)) ?? .UNRECOGNIZED(Int(code)) }

    /// Whether the code is OK.
    public var isOK: Bool { code == Int32(Google_Rpc_Code.ok.rawValue) }
}
