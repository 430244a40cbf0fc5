import ArgumentParser
import CorralClient
import CorralProtocol

extension Corral {
    /// `corral list`: domains with their ids and states, as `virsh list` prints them.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List domains (running ones unless --all or --inactive).")
        @OptionGroup var connection: ConnectionOptions
        @Flag(help: "List inactive and active domains.") var all = false
        @Flag(help: "List inactive domains only.") var inactive = false
        @Flag(help: "Print only the names.") var name = false
        @Flag(help: "Print only the UUIDs.") var uuid = false

        func run() async throws {
            let flags: UInt32 = all ? 3 : inactive ? 2 : 1
            try await connection.withConnection { connection in
                var domains = try await connection.listAllDomains(flags: flags)
                // virsh sorts running domains by id first, then inactive ones by name.
                domains.sort { a, b in
                    switch (a.id >= 0, b.id >= 0) {
                    case (true, true): return a.id < b.id
                    case (true, false): return true
                    case (false, true): return false
                    case (false, false): return a.name < b.name
                    }
                }
                if name || uuid {
                    for domain in domains { print(uuid ? "\(domain.uuid)" : domain.name) }
                    return
                }
                var table = TextTable(header: ["Id", "Name", "State"])
                for domain in domains {
                    let state = try await connection.call(Remote.DomainGetState.self, .init(dom: domain, flags: 0))
                    table.rows.append([domain.id >= 0 ? "\(domain.id)" : "-", domain.name, DomainStateNames.state(state.state)])
                }
                print(table.render(), terminator: "")
            }
        }
    }
}
