@testable import CorralDaemon
import Foundation
import Testing

@Suite("Process statistics parsing")
struct ProcessStatisticsTests {
    @Test("stat lines: the command may hold spaces and parentheses; times are ticks turned to nanoseconds")
    func stat() throws {
        let line = "4242 (qemu-system (x) 86) S 1 4242 4242 0 -1 4194624 5000 0 0 0 150 25 0 0 20 0 5 0 100 1000000 9000 "
            + "18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0"
        let times = try #require(ProcessStatistics.parseStat(line))
        #expect(times.user == 150 * ProcessStatistics.nanosecondsPerTick)
        #expect(times.system == 25 * ProcessStatistics.nanosecondsPerTick)
        #expect(times.processor == 1)
        #expect(ProcessStatistics.parseStat("12 (short) S 1 2") == nil)
        // Ticks so large that nanoseconds overflow saturate instead of trapping.
        let huge = line.replacingOccurrences(of: " 150 25 ", with: " 18446744073709551615 25 ")
        #expect(ProcessStatistics.parseStat(huge)?.user == .max)
    }

    @Test("schedstat, the scheduler's wait sum, and resident memory")
    func schedulerAndMemory() {
        #expect(ProcessStatistics.parseSchedulerTimes("123456 789 12\n") == .init(running: 123456, waiting: 789))
        #expect(ProcessStatistics.parseWaitSum("se.exec_start : 1.5\nse.statistics.wait_sum                      :            12.500000\n") == 12_500_000)
        #expect(ProcessStatistics.parseWaitSum("se.statistics.wait_sum : -3\n") == nil)
        #expect(ProcessStatistics.parseResidentKiB("Name:\tqemu\nVmRSS:\t   40360 kB\n") == 40360)
    }

    @Test("a tap's counters are swapped to the guest's view")
    func interfaceCounters() throws {
        let text = """
            Inter-|   Receive                                                |  Transmit
             face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
              tap0:    1000      10    1    2    0     0          0         0     5000      50    3    4    0     0       0          0
            """
        let counters = try #require(ProcessStatistics.parseInterfaceCounters(text, interface: "tap0"))
        #expect(counters.rxBytes == 5000 && counters.rxPackets == 50 && counters.rxErrors == 3 && counters.rxDrops == 4)
        #expect(counters.txBytes == 1000 && counters.txPackets == 10 && counters.txErrors == 1 && counters.txDrops == 2)
        #expect(ProcessStatistics.parseInterfaceCounters(text, interface: "tap1") == nil)
    }

    @Test("block info follows libvirt: a raw image's highest write, else what it takes on disk")
    func blockLimits() {
        let host = (length: UInt64(50 << 20), allocated: UInt64(1 << 20))
        #expect(GuestStatistics.limits(capacity: nil, host: host, highestWritten: 0, isQcow2: false) == .init(capacity: 50 << 20, allocation: 1 << 20, physical: 50 << 20))
        #expect(GuestStatistics.limits(capacity: 60 << 20, host: host, highestWritten: 4096, isQcow2: false).allocation == 4096)
        #expect(GuestStatistics.limits(capacity: 60 << 20, host: host, highestWritten: 4096, isQcow2: true).allocation == 1 << 20)
    }
}
