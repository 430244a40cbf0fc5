public import ArgumentParser

/// A command whose output is meant for pipes (a file format), printed without virsh's trailing blank line.
protocol PlainOutputCommand {}

/// `corral`: Corral's command-line client, shaped like virsh.
public struct Corral: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "corral",
        abstract: "Manage QEMU guests through corrald (or libvirtd), with virsh's command names.",
        subcommands: [
            Version.self, URI.self, Hostname.self, Capabilities.self, NodeInfo.self, List.self,
            Start.self, Create.self, Destroy.self, Shutdown.self, Reboot.self, Reset.self, Suspend.self, Resume.self, Event.self,
            DomXMLToNative.self, QEMUMonitorCommand.self, QEMUMonitorEventCommand.self, QEMUAgentCommand.self, QMPProxyCommand.self,
            Define.self, Undefine.self, DumpXML.self, DomInfo.self, DomState.self, DomUUID.self, DomName.self, DomID.self, Autostart.self,
            QEMUConfigToXML.self, QEMUConfigFromXML.self, QEMUConfigCheck.self, DefineFromQEMUConfig.self,
            PoolList.self, VolList.self, VolUpload.self, VolDownload.self, VolClone.self, Console.self,
            Save.self, Restore.self, ManagedSave.self, Dump.self, ManagedSaveRemove.self, DomJobInfo.self, DomJobAbort.self,
            SnapshotCreateAs.self, SnapshotList.self, SnapshotRevert.self, SnapshotDelete.self, SnapshotDumpXML.self,
            Migrate.self,
        ]
    )

    public init() {}

    /// Moves virsh-style global options written before the subcommand (`corral -c URI -r list`)
    /// to just after it, where the subcommand's ``ConnectionOptions`` parse them.
    static func movingGlobalOptions(_ arguments: [String]) -> [String] {
        var global: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "-c" || argument == "--connect" {
                guard index + 1 < arguments.count else { break }
                global += [argument, arguments[index + 1]]
                index += 2
            } else if argument.hasPrefix("--connect=") || argument == "-r" || argument == "--readonly" {
                global.append(argument)
                index += 1
            } else {
                break
            }
        }
        guard index < arguments.count, !global.isEmpty else { return arguments }
        return [arguments[index]] + global + arguments[(index + 1)...]
    }

    /// Runs the command line, printing errors as virsh does (`error: …`, exit status 1).
    public static func runMain() async {
        do {
            var command = try parseAsRoot(Self.movingGlobalOptions(Array(CommandLine.arguments.dropFirst())))
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            // virsh ends every command's output with an empty line; Corral's own filters do not.
            if !(command is any PlainOutputCommand) { print("") }
        } catch let error as CLIError {
            FileHandleOutput.standardError("error: \(error)\n")
            exit(withError: ExitCode.failure)
        } catch {
            exit(withError: error)
        }
    }
}
