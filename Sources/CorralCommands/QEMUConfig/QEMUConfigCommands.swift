import ArgumentParser
import Foundation
import QEMUConfig

extension Corral {
    /// `corral qemu-config-to-xml FILE`: a QEMU configuration file as its XML form.
    struct QEMUConfigToXML: AsyncParsableCommand, PlainOutputCommand {
        static let configuration = CommandConfiguration(
            commandName: "qemu-config-to-xml",
            abstract: "Print a QEMU configuration file (-readconfig format) as XML."
        )
        @Argument(help: "The configuration file, or - for standard input.") var file: String
        @OptionGroup var emulator: EmulatorOption

        func run() async throws {
            let text = try ConfigInput.read(file)
            let reader = QEMUConfigReader(knownGroups: ConfigInput.knownGroups(emulator: emulator.emulator))
            do throws(QEMUConfigError) {
                print(try QEMUConfigXMLWriter.document(try reader.read(text)), terminator: "")
            } catch {
                throw ConfigInput.report(error, file: file)
            }
        }
    }

    /// `corral qemu-config-from-xml FILE`: the configuration file from the XML form or a domain XML.
    struct QEMUConfigFromXML: AsyncParsableCommand, PlainOutputCommand {
        static let configuration = CommandConfiguration(
            commandName: "qemu-config-from-xml",
            abstract: "Print the QEMU configuration file held by a <qemu:config> document or a domain XML."
        )
        @Argument(help: "The XML document, or - for standard input.") var file: String

        func run() async throws {
            let text = try ConfigInput.read(file)
            do throws(QEMUConfigError) {
                print(try QEMUConfigWriter.write(try QEMUConfigXMLReader.read(text)), terminator: "")
            } catch {
                throw ConfigInput.report(error, file: file)
            }
        }
    }

    /// `corral qemu-config-check FILE`: every problem, with its line.
    struct QEMUConfigCheck: AsyncParsableCommand, PlainOutputCommand {
        static let configuration = CommandConfiguration(
            commandName: "qemu-config-check",
            abstract: "Check a QEMU configuration file with QEMU's exact rules, reporting every problem with its line."
        )
        @Argument(help: "The configuration file, or - for standard input.") var file: String
        @OptionGroup var emulator: EmulatorOption

        func run() async throws {
            let text = try ConfigInput.read(file)
            let reader = QEMUConfigReader(knownGroups: ConfigInput.knownGroups(emulator: emulator.emulator))
            let (parsed, diagnostics) = reader.check(text)
            for diagnostic in diagnostics {
                print("\(file):\(diagnostic.line): \(diagnostic.severity.rawValue): \(diagnostic.message)")
            }
            let errors = diagnostics.filter { $0.severity == .error }.count
            if errors > 0 {
                throw CLIError(message: "\(file): \(errors) error\(errors == 1 ? "" : "s")")
            }
            print("\(file): OK, \(parsed.sections.count) section\(parsed.sections.count == 1 ? "" : "s")\(diagnostics.isEmpty ? "" : " (\(diagnostics.count) warning\(diagnostics.count == 1 ? "" : "s"))")")
        }
    }
}
