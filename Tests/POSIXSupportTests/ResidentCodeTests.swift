import Foundation
@testable import POSIXSupport
import Testing

@Suite("The executable's resident pages")
struct ResidentCodeTests {
    @Test("maps lines: file mappings with their bounds, permissions and path; the rest skipped")
    func parsesMaps() {
        let maps = """
            55d0c0a00000-55d0c0a21000 r--p 00000000 fd:01 1234                       /usr/sbin/corrald
            55d0c0a21000-55d0c1a00000 r-xp 00021000 fd:01 1234                       /usr/sbin/corrald
            55d0c1c00000-55d0c1c10000 rw-p 01200000 fd:01 1234                       /usr/sbin/corrald
            55d0c2000000-55d0c2100000 rw-p 00000000 00:00 0                          [heap]
            7f0000000000-7f0000001000 rw-p 00000000 00:00 0
            ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
            zz-yy r--p 00000000 fd:01 1 /bad
            7f0000002000-7f0000001000 r--p 00000000 fd:01 1 /reversed
            7f0000003000-7f0000004000 r--p 00000000 fd:01 99                         /tmp/a file (deleted)
            """
        let mappings = ExecutableMapping.parse(maps)
        #expect(mappings == [
            ExecutableMapping(start: 0x55d0c0a00000, length: 0x21000, isWritable: false, path: "/usr/sbin/corrald"),
            ExecutableMapping(start: 0x55d0c0a21000, length: 0x55d0c1a00000 - 0x55d0c0a21000, isWritable: false, path: "/usr/sbin/corrald"),
            ExecutableMapping(start: 0x55d0c1c00000, length: 0x10000, isWritable: true, path: "/usr/sbin/corrald"),
            ExecutableMapping(start: 0x7f0000003000, length: 0x1000, isWritable: false, path: "/tmp/a file (deleted)"),
        ])
    }

    @Test("releasing the executable's pages lowers the process's resident file pages")
    func releasesPages() throws {
        let before = try residentFileKiB()
        let advised = ResidentCode.releaseExecutablePages()
        let after = try residentFileKiB()
        #expect(advised > 1 << 20)
        #expect(after < before, "RssFile \(before) → \(after) KiB")
    }

    private func residentFileKiB() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("RssFile:") })
        return try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
    }
}
