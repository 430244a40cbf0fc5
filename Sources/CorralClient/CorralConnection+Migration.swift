public import CorralProtocol

/// Live migration as libvirt's client drives it.
extension CorralConnection {
    /// `VIR_MIGRATE_PAUSED`, added when the guest is paused as the migration begins.
    static let migratePausedFlag: UInt32 = 1 << 5
    /// `VIR_MIGRATE_PEER2PEER`.
    public static let migratePeerToPeerFlag: UInt32 = 1 << 1

    /// A client-managed migration (libvirt's `virDomainMigrate3` with parameters): this
    /// connection is the source, `destination` the destination; Begin, Prepare, Perform, Finish
    /// and Confirm in turn, with the same recovery as libvirt's client (a failed Perform or
    /// Finish is confirmed as cancelled, so the guest keeps running on the source).
    ///
    /// - Returns: The domain on the destination.
    public func migrate(
        _ domain: DomainHandle, to destination: CorralConnection, parameters: [TypedParameter], flags: UInt32
    ) async throws(CorralClientError) -> DomainHandle {
        let begun = try await call(Remote.DomainMigrateBegin3Params.self, .init(dom: domain, params: parameters, flags: flags))
        var flags = flags
        if let state = try? await call(Remote.DomainGetState.self, .init(dom: domain, flags: 0)), state.state == 3 {
            flags |= Self.migratePausedFlag
        }
        // Without ABORT_ON_ERROR and AUTO_CONVERGE, which only the source uses.
        let destinationFlags = flags & ~(UInt32(1 << 12) | UInt32(1 << 13))
        var prepareParameters = parameters.filter { $0.field != "destination_xml" }
        prepareParameters.append(TypedParameter("destination_xml", .string(begun.xml)))
        let prepared = try await destination.call(
            Remote.DomainMigratePrepare3Params.self, .init(params: prepareParameters, cookieIn: begun.cookieOut, flags: destinationFlags))
        var performParameters = parameters
        if let uri = prepared.uriOut {
            performParameters = performParameters.filter { $0.field != "migrate_uri" } + [TypedParameter("migrate_uri", .string(uri))]
        }
        var failure: CorralClientError?
        var performCookie: [UInt8] = []
        do throws(CorralClientError) {
            performCookie = try await call(
                Remote.DomainMigratePerform3Params.self,
                .init(dom: domain, dconnuri: nil, params: performParameters, cookieIn: prepared.cookieOut, flags: flags)).cookieOut
        } catch {
            failure = error
        }
        var finishParameters = parameters.filter { $0.field != "destination_xml" }
        if !finishParameters.contains(where: { $0.field == "destination_name" }) {
            finishParameters.append(TypedParameter("destination_name", .string(domain.name)))
        }
        var finished: Remote.DomainMigrateFinish3Params.Reply?
        do throws(CorralClientError) {
            finished = try await destination.call(
                Remote.DomainMigrateFinish3Params.self,
                .init(params: finishParameters, cookieIn: performCookie, flags: destinationFlags, cancelled: failure == nil ? 0 : 1))
        } catch {
            if failure == nil { failure = error }
        }
        if failure == nil || finished != nil {
            // The source learns the outcome (after a failed Perform libvirt's client skips this:
            // the source already knows).
            _ = try? await call(
                Remote.DomainMigrateConfirm3Params.self,
                .init(dom: domain, params: parameters, cookieIn: finished?.cookieOut ?? [], flags: flags, cancelled: finished == nil ? 1 : 0))
        }
        if let failure { throw failure }
        guard let finished else { throw CorralClientError(code: .localFailure, message: "the destination did not report the migrated domain") }
        return finished.dom
    }

    /// A peer-to-peer migration (`virsh migrate --p2p`): the source daemon connects to
    /// `destinationURI` and migrates the guest itself.
    public func migrate(_ domain: DomainHandle, toURI destinationURI: String, parameters: [TypedParameter], flags: UInt32) async throws(CorralClientError) {
        _ = try await call(
            Remote.DomainMigratePerform3Params.self,
            .init(dom: domain, dconnuri: destinationURI, params: parameters, cookieIn: [], flags: flags | Self.migratePeerToPeerFlag))
    }
}
