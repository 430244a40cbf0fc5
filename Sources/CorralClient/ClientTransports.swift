import CorralProtocol
import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import POSIXSupport

/// Opens the byte channel a ``ConnectionURI`` names — a Unix socket, TCP, TLS, or `ssh` running
/// `nc` on the daemon's host — with the RPC handlers `addRPCHandlers` adds at its end.
enum ClientTransports {
    static func open(
        _ uri: ConnectionURI, readOnly: Bool, group: any EventLoopGroup, addRPCHandlers: @escaping @Sendable (any Channel) throws -> Void
    ) async throws(CorralClientError) -> any Channel {
        let path = readOnly ? uri.readOnlySocketPath : uri.socketPath
        func failed(_ target: String, _ error: any Error) -> CorralClientError {
            CorralClientError(code: .connectionFailed, message: "Failed to connect to '\(target)': \(CorralConnection.describe(error))")
        }
        switch uri.transport {
        case .unix:
            do {
                return try await bootstrap(group: group, addRPCHandlers).connect(unixDomainSocketPath: path).get()
            } catch {
                throw CorralClientError(code: .connectionFailed, message: "Failed to connect socket to '\(path)': \(CorralConnection.describe(error))")
            }
        case .tcp(let host, let port):
            do {
                return try await bootstrap(group: group, addRPCHandlers).connect(host: host, port: port).get()
            } catch {
                throw failed("\(host):\(port)", error)
            }
        case .tls(let host, let port, let files, let verifyServer):
            let context = try tlsContext(files: files, verifyServer: verifyServer)
            let confirmed = group.next().makePromise(of: Void.self)
            let channel: any Channel
            do {
                channel = try await bootstrap(group: group) { channel in
                    // SNI and name checks take a name; an address is checked against the
                    // certificate's IP entries by BoringSSL without one.
                    let name = host.contains(":") || host.allSatisfy({ $0.isNumber || $0 == "." }) ? nil : host
                    try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: name))
                    try channel.pipeline.syncOperations.addHandler(TLSConfirmationReader(confirmed: confirmed))
                    try addRPCHandlers(channel)
                }.connect(host: host, port: port).get()
            } catch {
                confirmed.fail(error)
                throw failed("\(host):\(port)", error)
            }
            do {
                try await confirmed.futureResult.get()
            } catch {
                try? await channel.close()
                throw CorralClientError(
                    code: .connectionFailed,
                    message: "TLS to \(host):\(port) failed: \(CorralConnection.describe(error)) (the server refused the certificate '\(files.certificate)', or did not accept it)")
            }
            return channel
        case .ssh(let target):
            return try await openSSH(target, socket: path, group: group, addRPCHandlers: addRPCHandlers)
        }
    }

    private static func bootstrap(group: any EventLoopGroup, _ addHandlers: @escaping @Sendable (any Channel) throws -> Void) -> ClientBootstrap {
        ClientBootstrap(group: group)
            // Reads of up to 1 MiB when the daemon sends much (stream data, large listings).
            .channelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: 1 << 20))
            .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try addHandlers(channel) } }
    }

    private static func tlsContext(files: TLSClientFiles, verifyServer: Bool) throws(CorralClientError) -> NIOSSLContext {
        func read(_ path: String, _ what: String) throws(CorralClientError) -> [UInt8] {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CorralClientError(code: .connectionFailed, message: "Cannot read \(what) '\(path)'")
            }
            return Array(data)
        }
        let authority = try read(files.certificateAuthority, "CA certificate")
        let certificate = try read(files.certificate, "client certificate")
        let key = try read(files.privateKey, "client key")
        do {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.certificateChain = try NIOSSLCertificate.fromPEMBytes(certificate).map { .certificate($0) }
            configuration.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: key, format: .pem))
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(authority))
            configuration.certificateVerification = verifyServer ? .fullVerification : .none
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw CorralClientError(code: .connectionFailed, message: "Cannot set up TLS with '\(files.certificate)': \(error)")
        }
    }

    /// `ssh` to the host running `nc -U SOCKET` there (libvirt's netcat convention), its standard
    /// input and output the channel. ssh is started with an argument vector, never through a
    /// local shell; the command ssh hands to the remote shell quotes every value from the URI.
    private static func openSSH(
        _ target: SSHTarget, socket: String, group: any EventLoopGroup, addRPCHandlers: @escaping @Sendable (any Channel) throws -> Void
    ) async throws(CorralClientError) -> any Channel {
        let arguments = sshArguments(target, socket: socket)
        guard let ssh = executable(named: "ssh") else { throw CorralClientError(code: .connectionFailed, message: "ssh is not installed") }
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(ssh, arguments, standardInput: .pipe, standardOutput: .pipe, standardError: .inherit)
        } catch {
            throw CorralClientError(code: .connectionFailed, message: "cannot start ssh: \(error)")
        }
        guard let input = child.standardOutput, let output = child.standardInput else {
            throw CorralClientError(code: .connectionFailed, message: "cannot start ssh: no pipes")
        }
        // The channel owns copies; the child keeps (and closes) its own.
        let channelInput = dup(input)
        let channelOutput = dup(output)
        child.closeStandardInput()
        let channel: any Channel
        do {
            channel = try await NIOPipeBootstrap(group: group)
                .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try addRPCHandlers(channel) } }
                .takingOwnershipOfDescriptors(input: channelInput, output: channelOutput)
                .get()
        } catch {
            close(channelInput)
            close(channelOutput)
            _ = child.stop(grace: 1)
            throw CorralClientError(code: .connectionFailed, message: "cannot use ssh's pipes: \(error)")
        }
        // ssh ends when the channel closes its end; reap it then.
        channel.closeFuture.whenComplete { _ in
            Thread.detachNewThread { _ = child.stop(grace: 2) }
        }
        return channel
    }

    /// The argument vector: libvirt's options (`-T -e none`, `-p`, `-l`, `-i`, no host key
    /// check with `no_verify`), then the host and the remote command.
    static func sshArguments(_ target: SSHTarget, socket: String) -> [String] {
        var arguments: [String] = []
        if let port = target.port { arguments += ["-p", String(port)] }
        if let user = target.user { arguments += ["-l", user] }
        if let key = target.keyFile { arguments += ["-i", key] }
        arguments += ["-T", "-e", "none", "-o", "BatchMode=yes"]
        if !target.verifyHostKey { arguments += ["-o", "StrictHostKeyChecking=no"] }
        let netcat = shellQuoted(target.netcat)
        // -q0 (quit at end of input) where this nc has it, as libvirt probes for it.
        let script = "ARG=; if \(netcat) -q 2>&1 | grep -q 'requires an argument'; then ARG=-q0; fi; exec \(netcat) $ARG -U \(shellQuoted(socket))"
        arguments += ["--", target.host, "sh -c " + shellQuoted(script)]
        return arguments
    }

    /// `text` in single quotes for a POSIX shell.
    static func shellQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    private static func executable(named name: String) -> String? {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        return directories.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// Reads libvirt's one-byte TLS confirmation (1: the server accepted the client's certificate)
/// before the RPC stream, then leaves the pipeline.
final class TLSConfirmationReader: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let confirmed: EventLoopPromise<Void>
    private var done = false

    init(confirmed: EventLoopPromise<Void>) {
        self.confirmed = confirmed
    }

    struct Refused: Error, CustomStringConvertible {
        var description: String
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        guard !done else {
            context.fireChannelRead(data)
            return
        }
        guard let byte = buffer.readInteger(as: UInt8.self) else { return }
        done = true
        guard byte == 1 else {
            confirmed.fail(Refused(description: "the server sent \(byte) instead of its confirmation"))
            context.close(promise: nil)
            return
        }
        confirmed.succeed(())
        if buffer.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(buffer)) }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done {
            done = true
            confirmed.fail(Refused(description: "the server closed the connection"))
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !done {
            done = true
            confirmed.fail(error)
        }
        context.fireErrorCaught(error)
    }
}
