@testable import CorralDaemon
import DomainXML
import Testing

@Suite("Guest lifecycle state machine")
struct GuestLifecycleTests {
    typealias Machine = GuestLifecycle

    @Test("a client's pause and resume give one event each, whichever of QEMU's events and the replies comes first")
    func pauseAndResumeReportOnce() {
        for eventFirst in [true, false] {
            var machine = Machine(policy: .init(), status: .running(.booted))
            #expect(machine.handle(.pauseRequested(.user)) == [])
            let first = machine.handle(eventFirst ? .stopped : .pausedByRequest)
            let second = machine.handle(eventFirst ? .pausedByRequest : .stopped)
            #expect(first == [.setStatus(.paused(.user)), .report(.suspended(ioError: false))])
            #expect(second == [])
            let resumed = machine.handle(eventFirst ? .resumed : .resumedByRequest)
            #expect(resumed == [.setStatus(.running(.unpaused)), .report(.resumed)])
            #expect(machine.handle(eventFirst ? .resumedByRequest : .resumed) == [])
        }
    }

    @Test("a saved guest's run ends as saved, a crash-dumped one as crashed, though their QEMUs are then destroyed")
    func savedOutcome() {
        var machine = Machine(policy: .init(), status: .running(.booted))
        #expect(machine.handle(.pauseRequested(.save)) == [])
        #expect(machine.handle(.stopped) == [.setStatus(.paused(.save)), .report(.suspended(ioError: false))])
        #expect(machine.handle(.saved) == [])
        #expect(machine.handle(.destroyRequested) == [])
        #expect(machine.exitOutcome == (.saved, .saved))
        var destroyed = Machine(policy: .init(), status: .running(.booted))
        _ = destroyed.handle(.destroyRequested)
        #expect(destroyed.exitOutcome == (.destroyed, .destroyed))
        var dumped = Machine(policy: .init(), status: .running(.booted))
        _ = dumped.handle(.dumpedForCrash)
        _ = dumped.handle(.destroyRequested)
        #expect(dumped.exitOutcome == (.crashed, .crashed))
    }

    @Test("a STOP nobody asked for pauses with reason unknown; the start's own cont is not a resume")
    func unrequestedStop() {
        var machine = Machine(policy: .init(), status: .running(.booted))
        #expect(machine.handle(.resumed) == [])
        #expect(machine.handle(.stopped) == [.setStatus(.paused(.unknown)), .report(.suspended(ioError: false))])
        var startedPaused = Machine(policy: .init(), status: .paused(.user))
        #expect(startedPaused.handle(.resumed) == [.setStatus(.running(.unpaused)), .report(.resumed)])
    }

    @Test("power-off follows on_poweroff: destroy quits, restart resets, preserve keeps the shut-down guest")
    func powerOffPolicies() {
        var destroy = Machine(policy: .init(onPoweroff: .destroy), status: .running(.booted))
        #expect(destroy.handle(.shutdown(byGuest: true)) == [.setStatus(.shutdown(.user)), .report(.shutdown(.guest)), .quit])
        // The quit brings a second SHUTDOWN: no second report.
        #expect(destroy.handle(.shutdown(byGuest: false)) == [])
        #expect(destroy.exitOutcome == (.shutdown, .shutdown))

        var restart = Machine(policy: .init(onPoweroff: .restart), status: .running(.booted))
        #expect(restart.handle(.shutdown(byGuest: false)) == [
            .setStatus(.shutdown(.user)), .report(.shutdown(.host)), .resetAndContinue, .setStatus(.running(.booted)),
        ])
        #expect(restart.status == .running(.booted) && !restart.shutdownSeen)

        var preserve = Machine(policy: .init(onPoweroff: .preserve), status: .running(.booted))
        #expect(preserve.handle(.shutdown(byGuest: nil)) == [.setStatus(.shutdown(.user)), .report(.shutdown(.finished))])
        #expect(preserve.status == .shutdown(.user))
    }

    @Test("a requested reboot turns the next power-off into a reset, once")
    func rebootRequest() {
        var machine = Machine(policy: .init(onPoweroff: .destroy), status: .running(.booted))
        #expect(machine.handle(.rebootRequested) == [])
        #expect(machine.handle(.shutdown(byGuest: false)) == [.resetAndContinue, .setStatus(.running(.booted)), .reportReboot])
        #expect(machine.handle(.shutdown(byGuest: true)) == [.setStatus(.shutdown(.user)), .report(.shutdown(.guest)), .quit])
    }

    @Test("a reset is a reboot event; with on_reboot destroy QEMU quits and the run ends as a shutdown")
    func resetPolicies() {
        var restart = Machine(policy: .init(onReboot: .restart), status: .running(.booted))
        #expect(restart.handle(.reset) == [.reportReboot])
        var destroy = Machine(policy: .init(onReboot: .destroy), status: .running(.booted))
        #expect(destroy.handle(.reset) == [.reportReboot, .quit])
        #expect(destroy.exitOutcome == (.shutdown, .shutdown))
    }

    @Test("a panic follows on_crash, and a restarted guest is running again")
    func panicPolicies() {
        var destroy = Machine(policy: .init(onCrash: .destroy), status: .running(.booted))
        #expect(destroy.handle(.panicked) == [.setStatus(.crashed(.panicked)), .report(.stopped(.crashed)), .quit])
        #expect(destroy.exitOutcome == (.shutdown, .shutdown))
        var restart = Machine(policy: .init(onCrash: .restart), status: .running(.booted))
        #expect(restart.handle(.panicked) == [
            .setStatus(.crashed(.panicked)), .report(.stopped(.crashed)), .resetAndContinue, .setStatus(.running(.crashed)), .report(.started()),
        ])
        var preserve = Machine(policy: .init(onCrash: .preserve), status: .running(.booted))
        _ = preserve.handle(.panicked)
        #expect(preserve.status == .crashed(.panicked))
        #expect(preserve.exitOutcome == (.crashed, .crashed))
    }

    @Test("how a run ends: destroyed, shut down, or QEMU gone by itself")
    func exitOutcomes() {
        var destroyed = Machine(policy: .init(), status: .running(.booted))
        _ = destroyed.handle(.destroyRequested)
        #expect(destroyed.handle(.shutdown(byGuest: false)) == [])
        #expect(destroyed.exitOutcome == (.destroyed, .destroyed))
        let vanished = Machine(policy: .init(), status: .running(.booted))
        #expect(vanished.exitOutcome == (.failed, .crashed))
    }

    @Test("post-copy on the source: paused for the migration, then for post-copy (whether QEMU's STOP or the switch is seen first); a failure after the switch keeps it paused")
    func postcopySource() {
        for stopFirst in [true, false] {
            var machine = Machine(policy: .init(), status: .running(.booted))
            _ = machine.handle(.pauseRequested(.migration))
            if stopFirst {
                #expect(machine.handle(.stopped) == [.setStatus(.paused(.migration)), .report(.suspendedMigrated)])
                #expect(machine.handle(.postcopyStarted) == [.setStatus(.paused(.postcopy)), .report(.suspendedPostcopy)])
            } else {
                #expect(machine.handle(.postcopyStarted) == [])
                #expect(machine.handle(.stopped) == [.setStatus(.paused(.postcopy)), .report(.suspendedPostcopy)])
            }
            #expect(machine.handle(.postcopyFailed) == [.setStatus(.paused(.postcopyFailed)), .report(.suspendedPostcopyFailed)])
        }
    }

    @Test("post-copy on the destination: running for post-copy, then migrated at the end with libvirt's second resumed event")
    func postcopyDestination() {
        for eventFirst in [true, false] {
            var machine = Machine(policy: .init(), status: .paused(.migration))
            _ = machine.handle(.postcopyResumeRequested)
            let first = machine.handle(eventFirst ? .resumed : .resumedAfterMigration)
            #expect(first == [.setStatus(.running(.postcopy)), .report(.resumedPostcopy)])
            #expect(machine.handle(eventFirst ? .resumedAfterMigration : .resumed) == [])
            #expect(machine.handle(.postcopyCompleted) == [.setStatus(.running(.migrated)), .report(.resumedMigrated)])
            #expect(machine.handle(.postcopyCompleted) == [])
        }
        var failed = Machine(policy: .init(), status: .paused(.migration))
        _ = failed.handle(.postcopyResumeRequested)
        _ = failed.handle(.resumed)
        #expect(failed.handle(.postcopyFailed) == [.setStatus(.running(.postcopyFailed)), .report(.resumedPostcopyFailed)])
    }

    @Test("a suspend while the guest migrates away pauses it for the migration, reported once")
    func suspendDuringMigration() {
        var machine = Machine(policy: .init(), status: .running(.booted))
        _ = machine.handle(.pauseRequested(.migration))
        _ = machine.handle(.pauseRequested(.migration))
        #expect(machine.handle(.pausedByRequest) == [.setStatus(.paused(.migration)), .report(.suspendedMigrated)])
        #expect(machine.handle(.stopped) == [])
    }

    @Test("the policy comes from the definition's on_* elements")
    func policyFromDefinition() throws {
        let xml = "<domain type='qemu'><name>p</name><memory>65536</memory><on_poweroff>preserve</on_poweroff><on_reboot>destroy</on_reboot><on_crash>restart</on_crash><os><type>hvm</type></os></domain>"
        let parsed = try DomainXMLParser.parse(xml, options: DomainXMLOptions())
        #expect(GuestLifecycle.Policy(parsed.definition) == .init(onPoweroff: .preserve, onReboot: .destroy, onCrash: .restart))
    }
}
