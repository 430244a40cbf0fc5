import DomainXML

/// The lifecycle of one running guest as a pure state machine: an event in (from QEMU's monitor or
/// from a client's request), the actions to take out. It holds the guest's status and what the
/// `on_*` elements say; it performs nothing itself, so every transition is unit-tested.
struct GuestLifecycle: Sendable, Equatable {
    /// What `<on_poweroff>`, `<on_reboot>` and `<on_crash>` ask for.
    struct Policy: Sendable, Equatable {
        var onPoweroff: LifecycleAction
        var onReboot: LifecycleAction
        var onCrash: LifecycleAction

        /// The policy of a definition.
        init(_ definition: DomainDefinition) {
            onPoweroff = definition.onPoweroff
            onReboot = definition.onReboot
            onCrash = definition.onCrash
        }

        init(onPoweroff: LifecycleAction = .destroy, onReboot: LifecycleAction = .restart, onCrash: LifecycleAction = .destroy) {
            self.onPoweroff = onPoweroff
            self.onReboot = onReboot
            self.onCrash = onCrash
        }
    }

    /// What happened.
    enum Event: Sendable, Equatable {
        /// QMP `STOP`: the vCPUs stopped.
        case stopped
        /// QMP `RESUME`: the vCPUs run again.
        case resumed
        /// QMP `SHUTDOWN`; `byGuest` is its `guest` member when QEMU sent one.
        case shutdown(byGuest: Bool?)
        /// QMP `RESET`.
        case reset
        /// QMP `GUEST_PANICKED`.
        case panicked
        /// A client is about to stop the vCPUs, for `reason`.
        case pauseRequested(DomainStatus.PausedReason)
        /// A client's `stop` succeeded.
        case pausedByRequest
        /// A client's `cont` succeeded.
        case resumedByRequest
        /// A client asked for a reboot: the next power-off is turned into a reset.
        case rebootRequested
        /// A client asked for the guest to be destroyed.
        case destroyRequested
        /// The guest's state is in a save image: its QEMU is being stopped.
        case saved
        /// A core dump asked for the guest to end as crashed (`virsh dump --crash`).
        case dumpedForCrash
        /// The guest stops for a snapshot: a revert (it starts again from the snapshot) or a
        /// snapshot taken with `--halt`.
        case stoppingForSnapshot
        /// An outgoing migration did not stop the vCPUs after all (it failed or was cancelled).
        case pauseAbandoned
        /// The daemon is about to resume the vCPUs after a migration: on the destination, or on
        /// the source when the migration was cancelled.
        case migrationResumeRequested(cancelled: Bool)
        /// The destination is about to resume the vCPUs while a post-copy migration still
        /// brings memory in.
        case postcopyResumeRequested
        /// That `cont` succeeded.
        case resumedAfterMigration
        /// The outgoing migration switched to post-copy: the vCPUs here stopped for good.
        case postcopyStarted
        /// The incoming post-copy migration brought the last of the memory.
        case postcopyCompleted
        /// A post-copy migration failed after the switch.
        case postcopyFailed
        /// The guest now runs on another host: its QEMU here is being stopped.
        case migratedAway
    }

    /// What the driver must do, in order.
    enum Action: Sendable, Equatable {
        /// Record the new status (and write the status file).
        case setStatus(DomainStatus)
        /// Send a lifecycle event to the clients that asked for them.
        case report(LifecycleEvent)
        /// Send a reboot event.
        case reportReboot
        /// `system_reset` then `cont` on the daemon's monitor.
        case resetAndContinue
        /// `quit` on the daemon's monitor: QEMU exits.
        case quit
    }

    let policy: Policy
    private(set) var status: DomainStatus
    /// A reboot was asked for and its power-off has not come yet.
    private(set) var rebootPending = false
    private(set) var destroyRequested = false
    /// The run ends because its state was saved.
    private(set) var savedToImage = false
    /// The run ends as crashed after a core dump.
    private(set) var endsAsCrashed = false
    /// The run ends for a snapshot (a revert, or `--halt`).
    private(set) var endsForSnapshot = false
    /// The run ends because the guest migrated to another host.
    private(set) var migratedAway = false
    /// The guest has shut down (QEMU is about to exit, or is kept for `preserve`).
    private(set) var shutdownSeen = false
    /// Why the next `STOP` happens, when a client asked for it.
    private var pauseReason: DomainStatus.PausedReason?
    /// The next `RESUME` ends a migration (cancelled on this source, or not).
    private var migrationResume: Bool?
    /// The next `RESUME` starts the guest on this destination while post-copy runs.
    private var postcopyResume = false

    /// A guest that has just started, running or paused.
    init(policy: Policy, status: DomainStatus) {
        self.policy = policy
        self.status = status
        if case .paused(let reason) = status { pauseReason = reason == .unknown ? nil : reason }
    }

    /// Applies `event`; returns the actions to take.
    mutating func handle(_ event: Event) -> [Action] {
        switch event {
        case .stopped:
            // Events report transitions: a STOP while already paused (or shutting down) is none.
            guard !shutdownSeen, status.state != .paused else { return [] }
            let reason = pauseReason ?? .unknown
            pauseReason = nil
            return transition(to: .paused(reason), report: Self.suspendedEvent(reason))
        case .resumed:
            // The `cont` that starts a guest is not a resume.
            guard !shutdownSeen, status.state == .paused else { return [] }
            if postcopyResume {
                postcopyResume = false
                return transition(to: .running(.postcopy), report: .resumedPostcopy)
            }
            if let cancelled = migrationResume {
                migrationResume = nil
                return transition(to: .running(cancelled ? .migrationCanceled : .migrated), report: .resumedMigrated)
            }
            return transition(to: .running(.unpaused), report: .resumed)
        case .pauseRequested(let reason):
            pauseReason = reason
            return []
        case .pausedByRequest:
            guard status.state != .paused else { return [] }
            let reason = pauseReason ?? .user
            pauseReason = nil
            return transition(to: .paused(reason), report: Self.suspendedEvent(reason))
        case .resumedByRequest:
            guard status.state == .paused else { return [] }
            return transition(to: .running(.unpaused), report: .resumed)
        case .shutdown(let byGuest):
            // The `quit` that follows a guest's power-off brings a second SHUTDOWN: already told.
            guard !shutdownSeen, !destroyRequested else { return [] }
            if rebootPending {
                rebootPending = false
                status = .running(.booted)
                return [.resetAndContinue, .setStatus(status), .reportReboot]
            }
            shutdownSeen = true
            status = .shutdown(.user)
            var actions: [Action] = [.setStatus(status), .report(.shutdown(byGuest == true ? .guest : byGuest == false ? .host : .finished))]
            switch policy.onPoweroff {
            case .restart, .renameRestart:
                shutdownSeen = false
                status = .running(.booted)
                actions += [.resetAndContinue, .setStatus(status)]
            case .preserve:
                break
            case .destroy, .coredumpDestroy, .coredumpRestart:
                actions.append(.quit)
            }
            return actions
        case .reset:
            guard policy.onReboot == .destroy, !shutdownSeen else { return [.reportReboot] }
            shutdownSeen = true
            return [.reportReboot, .quit]
        case .panicked:
            guard !shutdownSeen, !destroyRequested else { return [] }
            status = .crashed(.panicked)
            var actions: [Action] = [.setStatus(status), .report(.stopped(.crashed))]
            switch policy.onCrash {
            case .restart, .renameRestart, .coredumpRestart:
                status = .running(.crashed)
                actions += [.resetAndContinue, .setStatus(status), .report(.started())]
            case .preserve:
                break
            case .destroy, .coredumpDestroy:
                shutdownSeen = true
                actions.append(.quit)
            }
            return actions
        case .rebootRequested:
            rebootPending = true
            return []
        case .destroyRequested:
            destroyRequested = true
            return []
        case .saved:
            savedToImage = true
            return []
        case .dumpedForCrash:
            endsAsCrashed = true
            return []
        case .stoppingForSnapshot:
            endsForSnapshot = true
            return []
        case .pauseAbandoned:
            pauseReason = nil
            return []
        case .migrationResumeRequested(let cancelled):
            migrationResume = cancelled
            return []
        case .postcopyResumeRequested:
            postcopyResume = true
            return []
        case .resumedAfterMigration:
            if postcopyResume {
                postcopyResume = false
                guard status.state == .paused else { return [] }
                return transition(to: .running(.postcopy), report: .resumedPostcopy)
            }
            let cancelled = migrationResume ?? false
            migrationResume = nil
            guard status.state == .paused else { return [] }
            return transition(to: .running(cancelled ? .migrationCanceled : .migrated), report: .resumedMigrated)
        case .postcopyStarted:
            // libvirt corrects the reason once QEMU reports post-copy; a STOP not seen yet
            // will carry it.
            if status == .paused(.migration) { return transition(to: .paused(.postcopy), report: .suspendedPostcopy) }
            if status.state != .paused { pauseReason = .postcopy }
            return []
        case .postcopyCompleted:
            // libvirt's second RESUMED event, at the very end of the migration.
            guard status == .running(.postcopy) else { return [] }
            return transition(to: .running(.migrated), report: .resumedMigrated)
        case .postcopyFailed:
            switch status {
            case .paused(.postcopy), .paused(.migration):
                return transition(to: .paused(.postcopyFailed), report: .suspendedPostcopyFailed)
            case .running(.postcopy):
                status = .running(.postcopyFailed)
                return [.setStatus(status), .report(.resumedPostcopyFailed)]
            default:
                return []
            }
        case .migratedAway:
            migratedAway = true
            return []
        }
    }

    /// How the run ended, once QEMU has exited: the stopped event's detail and the shut-off reason.
    var exitOutcome: (detail: LifecycleEvent.StoppedDetail, reason: DomainStatus.ShutoffReason) {
        if savedToImage { return (.saved, .saved) }
        if migratedAway { return (.migrated, .migrated) }
        if endsForSnapshot { return (.fromSnapshot, .fromSnapshot) }
        if endsAsCrashed { return (.crashed, .crashed) }
        if destroyRequested { return (.destroyed, .destroyed) }
        if shutdownSeen { return (.shutdown, .shutdown) }
        if case .crashed = status { return (.crashed, .crashed) }
        return (.failed, .crashed)  // QEMU went away by itself
    }

    /// The suspended event's detail for a pause `reason` (libvirt's mapping).
    static func suspendedEvent(_ reason: DomainStatus.PausedReason) -> LifecycleEvent {
        switch reason {
        case .migration: return .suspendedMigrated
        case .postcopy: return .suspendedPostcopy
        case .postcopyFailed: return .suspendedPostcopyFailed
        case .watchdog: return .suspendedWatchdog
        default: return .suspended(ioError: reason == .ioError)
        }
    }

    private mutating func transition(to new: DomainStatus, report event: LifecycleEvent) -> [Action] {
        status = new
        return [.setStatus(new), .report(event)]
    }
}
