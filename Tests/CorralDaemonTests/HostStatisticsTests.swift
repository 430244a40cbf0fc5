@testable import CorralDaemon
import Testing

@Suite("Host statistics parsers")
struct HostStatisticsTests {
    static let procStat = """
        cpu  986724 81874 526591 1395273 12593 7 5773 22858 171 0
        cpu0 444269 42256 288597 725601 1965 0 1979 10838 96 0
        cpu1 542455 39617 237993 669672 10627 7 3794 12020 74 0
        intr 123 0
        """

    @Test("CPU times follow libvirt's sums, in nanoseconds, for all CPUs or one")
    func cpuTimes() throws {
        let all = try #require(HostStatistics.cpuTimes(procStat: Self.procStat, cpu: -1, ticksPerSecond: 100))
        #expect(all.map(\.0) == HostStatistics.cpuFields)
        let tick: UInt64 = 10_000_000
        let expected: [UInt64] = [(526_591 + 7 + 5_773) * tick, (986_724 + 81_874) * tick, 1_395_273 * tick, 12_593 * tick]
        #expect(all.map(\.1) == expected)
        let one = try #require(HostStatistics.cpuTimes(procStat: Self.procStat, cpu: 1, ticksPerSecond: 100))
        #expect(one[1].1 == UInt64(542_455 + 39_617) * tick)
        #expect(HostStatistics.cpuTimes(procStat: Self.procStat, cpu: 2, ticksPerSecond: 100) == nil)
        // Huge counters saturate instead of trapping.
        let huge = try #require(HostStatistics.cpuTimes(procStat: "cpu 18446744073709551615 0 0 0 0 0 0", cpu: -1, ticksPerSecond: 100))
        #expect(huge[1].1 == UInt64.max)
    }

    @Test("meminfo values from the host's file and from a NUMA node's")
    func meminfo() {
        let host = HostStatistics.meminfo("MemTotal:       24683656 kB\nMemFree:        22388736 kB\nBuffers:           43672 kB\nCached:          1806008 kB\n", keys: ["MemTotal", "Cached"])
        #expect(host == ["MemTotal": 24683656, "Cached": 1806008])
        let node = HostStatistics.meminfo("Node 0 MemTotal:       13199136 kB\nNode 0 MemFree:        10735088 kB\n", keys: ["MemTotal", "MemFree"])
        #expect(node == ["MemTotal": 13199136, "MemFree": 10735088])
        #expect(HostStatistics.meminfo("garbage\nMemFree: x kB\n", keys: ["MemFree"]).isEmpty)
    }
}
