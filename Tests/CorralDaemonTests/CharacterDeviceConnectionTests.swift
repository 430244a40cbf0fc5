@testable import CorralDaemon
import Foundation
import Glibc
import NIOCore
import NIOPosix
import POSIXSupport
import Testing

/// The daemon's end of a pseudo-terminal, driven through a real pty pair.
@Suite("Character device connection")
struct CharacterDeviceConnectionTests {
    /// A pty pair: the master (QEMU's side) and the slave's path (the daemon's side).
    static func pseudoTerminal() throws -> (master: Int32, path: String) {
        let (controller, path) = try PseudoTerminal.open()
        return (controller, path)
    }

    @Test("bytes written one at a time arrive whole, gathered into far fewer reads than writes")
    func smallWritesAreGathered() async throws {
        let (master, path) = try Self.pseudoTerminal()
        defer { close(master) }
        let connection = try await CharacterDeviceConnection.openPseudoTerminal(path, group: MultiThreadedEventLoopGroup.singleton)
        defer { connection.close() }
        let count = 400
        let writer = Task.detached {
            for index in 0..<count {
                var byte = UInt8(ascii: "a") + UInt8(index % 26)
                _ = Glibc.write(master, &byte, 1)
                usleep(50)
            }
        }
        var received: [UInt8] = []
        var reads = 0
        while received.count < count {
            let buffers = try await connection.read(maximum: 262_144, count: 1)
            try #require(!buffers.isEmpty)
            reads += 1
            for buffer in buffers { received += buffer.readableBytesView }
        }
        await writer.value
        #expect(received == (0..<count).map { UInt8(ascii: "a") + UInt8($0 % 26) })
        // Each write alone would be a read; the rest after a small read gathers them.
        #expect(reads < count / 4, "\(reads) reads for \(count) one-byte writes")
    }

    @Test("what the client types reaches the guest's side")
    func writesReachTheDevice() async throws {
        let (master, path) = try Self.pseudoTerminal()
        defer { close(master) }
        let connection = try await CharacterDeviceConnection.openPseudoTerminal(path, group: MultiThreadedEventLoopGroup.singleton)
        defer { connection.close() }
        try await connection.write([ByteBuffer(string: "ls\r")])
        var bytes = [UInt8](repeating: 0, count: 16)
        var poller = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
        try #require(poll(&poller, 1, 2000) == 1)
        let count = Glibc.read(master, &bytes, bytes.count)
        // Raw mode: no translation of the carriage return, no echo back.
        #expect(Array(bytes[..<max(count, 0)]) == Array("ls\r".utf8))
    }
}
