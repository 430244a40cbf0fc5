import CorralNetwork
import CorralProtocol

/// Runs the network driver's blocking work — `ip`, `nft`, dnsmasq, files — on threads of its
/// own, so a slow tool never delays the domain driver or blocks an event loop.
enum NetworkWork {
    /// Two threads: network changes are short, and each network's job keeps its own in order.
    static let work = DriverWork<NetworkError>(threads: 2, domain: .network) { RemoteError($0) }

    /// Runs `body` on the network threads.
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws(NetworkError) -> T) async throws(RemoteError) -> T {
        try await work.run(body)
    }
}

extension RemoteError {
    /// libvirt's error for a network model or host error.
    init(_ error: NetworkError) {
        let code: ErrorCode
        switch error.kind {
        case .xml: code = .xmlError
        case .xmlDetail: code = .xmlDetail
        case .noName: code = .noName
        case .configUnsupported: code = .configUnsupported
        case .internalError: code = .internalError
        case .invalidArgument: code = .invalidArgument
        case .operationInvalid: code = .operationInvalid
        case .operationFailed: code = .operationFailed
        case .operationUnsupported: code = .operationUnsupported
        }
        self.init(code: code, domain: .network, detail: error.message)
    }
}
