import CorralDaemon
import Testing

@Suite("Domain status")
struct DomainStatusTests {
    @Test("states and reasons have libvirt's numbers, and read back from them")
    func numbers() {
        let cases: [(DomainStatus, Int32, Int32)] = [
            (.running(.booted), 1, 1), (.running(.unpaused), 1, 5), (.paused(.user), 3, 1), (.paused(.ioError), 3, 5),
            (.shutdown(.user), 4, 1), (.shutoff(.destroyed), 5, 2), (.shutoff(.crashed), 5, 3), (.shutoff(.failed), 5, 6), (.crashed(.panicked), 6, 1),
        ]
        for (status, state, reason) in cases {
            #expect(status.state.rawValue == state && status.reasonCode == reason)
            #expect(DomainStatus(state: status.state, reason: reason) == status)
        }
        #expect(DomainStatus(state: .paused, reason: 99) == .paused(.unknown))
        #expect(DomainStatus(state: .pmSuspended, reason: 0) == nil)
    }
}
