import DomainXML
import FuzzSupport
import QEMUCommandLine
import QEMUProbe

// parse → normalise → format → parse: the second parse gives the same XML; the command line
// builds or fails with an error, never a trap.
runFuzzer { bytes in
    guard let text = String(validating: bytes, as: UTF8.self), let parsed = try? DomainXMLParser.parse(text) else { return }
    guard let again = try? DomainXMLParser.parse(parsed.xml) else { fuzzFailure("normalised XML does not parse again:\n\(parsed.xml)") }
    guard again.xml == parsed.xml else { fuzzFailure("normalisation is not a fixed point:\n\(parsed.xml)\n---\n\(again.xml)") }
    let context = CommandLineContext(emulator: "/usr/bin/qemu-system-x86_64", capabilities: Set(QEMUCapability.allCases), kvmUsable: false, id: 1, runDirectory: "/run/corral/domains/x")
    _ = try? QEMUCommandLineBuilder.build(parsed.definition, context: context)
}
