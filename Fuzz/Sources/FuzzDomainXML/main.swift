import DomainXML
import FuzzSupport
import QEMUCommandLine
import QEMUProbe

/// The document's tags with the text after each, whitespace trimmed, sorted: equal for two
/// documents whose elements are the same but in another order, whether or not each stands on a
/// line of its own (a fuzzed document may keep its devices on one line).
func tags(_ xml: String) -> [Substring] {
    xml.split(separator: "<").map { $0.trimmingPrefix(while: \.isWhitespace) }.map { token in
        var token = token
        while let last = token.last, last.isWhitespace { token.removeLast() }
        return token
    }.sorted()
}

// parse → normalise → format → parse: read back as the daemon reads its own documents (in their
// controller order), the second parse gives the same XML; read as a new definition, only
// libvirt's regrouping of controllers may change it (the same tags), once, and then it is
// stable; the command line builds or fails with an error, never a trap.
runFuzzer { bytes in
    guard let text = String(validating: bytes, as: UTF8.self), let parsed = try? DomainXMLParser.parse(text) else { return }
    var own = DomainXMLOptions()
    own.keepsControllerOrder = true
    guard let kept = try? DomainXMLParser.parse(parsed.xml, options: own) else { fuzzFailure("normalised XML does not parse again:\n\(parsed.xml)") }
    guard kept.xml == parsed.xml else { fuzzFailure("normalisation is not a fixed point:\n\(parsed.xml)\n---\n\(kept.xml)") }
    guard let again = try? DomainXMLParser.parse(parsed.xml) else { fuzzFailure("normalised XML does not parse again as a definition:\n\(parsed.xml)") }
    if again.xml != parsed.xml {
        guard tags(again.xml) == tags(parsed.xml) else {
            fuzzFailure("read again as a definition, more than the controllers' order changed:\n\(parsed.xml)\n---\n\(again.xml)")
        }
        guard (try? DomainXMLParser.parse(again.xml))?.xml == again.xml else { fuzzFailure("the controllers' order does not settle:\n\(again.xml)") }
    }
    let context = CommandLineContext(emulator: "/usr/bin/qemu-system-x86_64", capabilities: Set(QEMUCapability.allCases), kvmUsable: false, id: 1, runDirectory: "/run/corral/domains/x")
    _ = try? QEMUCommandLineBuilder.build(parsed.definition, context: context)
}
