@testable import CorralDaemon
import Glibc
import Testing

/// How the daemon reaches a macvtap's tap device when `/dev/tapIFINDEX` is not it.
@Suite("Macvtap tap devices")
struct MacvtapDeviceTests {
    @Test("device numbers split and join as glibc's major(), minor() and makedev() do")
    func deviceNumbersRoundTrip() {
        for (major, minor) in [(1 as UInt32, 3 as UInt32), (246, 1), (511, 1_048_575), (4095, 255), (4096, 256)] {
            let joined = NetworkHost.deviceNumber(major: major, minor: minor)
            #expect(NetworkHost.deviceNumbers(UInt64(joined)) == (major, minor))
        }
        #expect(NetworkHost.deviceNumber(major: 246, minor: 3) == 0xF603)
    }

    @Test("a missing /dev/tapN gives way to a node of the device's numbers, made and removed at once")
    func privateNodeWhenTheNameIsMissing() throws {
        var null = stat()
        try #require(stat("/dev/null", &null) == 0)
        let (major, minor) = NetworkHost.deviceNumbers(UInt64(null.st_rdev))
        // No interface has this index, so /dev/tap2147483000 does not exist: /dev/null's
        // numbers stand in for a macvtap's.
        let descriptor = try NetworkHost.openTapDevice(of: "macvtap-test", index: 2_147_483_000, major: major, minor: minor)
        defer { close(descriptor) }
        var opened = stat()
        #expect(fstat(descriptor, &opened) == 0 && opened.st_rdev == null.st_rdev)
        #expect(access("/dev/.corral-tap-\(major)-\(minor)-\(getpid())", F_OK) != 0)
    }
}
