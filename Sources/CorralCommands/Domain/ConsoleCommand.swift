import ArgumentParser
import CorralClient
import CorralProtocol
import Foundation
import NIOCore

extension Corral {
    /// `corral console DOMAIN`: the guest's console on this terminal, as `virsh console`: the
    /// terminal in raw mode, `^]` to leave.
    struct Console: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Connect to the guest's console.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The domain.") var domain: String
        @Option(help: "The console or serial device (its alias).") var devname: String?
        @Flag(help: "Take the console from a client that has it.") var force = false
        @Flag(help: "Only connect if the daemon keeps one client per console.") var safe = false

        /// virsh's escape key, Ctrl + ].
        static let escapeByte: UInt8 = 0x1D

        func run() async throws {
            try await connection.withConnection { connection in
                let handle = try await connection.lookupDomain(domain)
                var flags: ConsoleFlags = []
                if force { flags.insert(.force) }
                if safe { flags.insert(.safe) }
                let stream = try await connection.openConsole(handle, device: devname, flags: flags)
                print("Connected to domain '\(handle.name)'\nEscape character is ^] (Ctrl + ])")
                let terminal = RawTerminal()
                defer { terminal.restore() }
                let keystrokes = Self.keystrokes()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        // The guest's output, as it comes, until the console ends.
                        while let piece = try await stream.receive() {
                            guard case .data(let bytes) = piece else { continue }
                            bytes.withUnsafeReadableBytes { raw in
                                var offset = 0
                                while offset < raw.count {
                                    let written = Glibc.write(1, raw.baseAddress! + offset, raw.count - offset)
                                    if written <= 0 { break }
                                    offset += written
                                }
                            }
                        }
                    }
                    group.addTask {
                        // Keystrokes to the guest, up to the escape key.
                        for await bytes in keystrokes {
                            if let escape = bytes.firstIndex(of: Self.escapeByte) {
                                if escape > 0 { try await stream.send(ByteBuffer(bytes: bytes[..<escape])) }
                                break
                            }
                            try await stream.send(ByteBuffer(bytes: bytes))
                        }
                        if !Task.isCancelled { try? await stream.finish() }
                    }
                    // Whichever ends first (the escape key, or the guest's console) ends both.
                    try await group.next()
                    group.cancelAll()
                }
                terminal.restore()
                print("")
            }
        }

        /// Standard input, read on a thread of its own (a blocking read never holds the
        /// concurrency pool).
        static func keystrokes() -> AsyncStream<[UInt8]> {
            AsyncStream { continuation in
                let thread = Thread {
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    while true {
                        let count = buffer.withUnsafeMutableBytes { Glibc.read(0, $0.baseAddress, $0.count) }
                        if count <= 0 { break }
                        continuation.yield(Array(buffer[..<count]))
                    }
                    continuation.finish()
                }
                thread.start()
            }
        }
    }
}

/// The terminal on standard input in raw mode while a console runs (as virsh sets it), and
/// back as it was afterwards. Nothing happens when standard input is not a terminal.
final class RawTerminal: @unchecked Sendable {  // used from one task
    private var saved: termios?

    init() {
        guard isatty(0) == 1 else { return }
        var attributes = termios()
        guard tcgetattr(0, &attributes) == 0 else { return }
        saved = attributes
        cfmakeraw(&attributes)
        tcsetattr(0, TCSAFLUSH, &attributes)
    }

    func restore() {
        guard var attributes = saved else { return }
        tcsetattr(0, TCSAFLUSH, &attributes)
        saved = nil
    }
}
