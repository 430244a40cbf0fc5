import FuzzSupport
import QEMUConfig

// Read a configuration file; what reads must write and read back to the same sections, and
// the XML form must convert back to the same sections too.
runFuzzer { bytes in
    guard let text = String(validating: bytes, as: UTF8.self), let file = try? QEMUConfigReader().read(text) else { return }
    guard let written = try? QEMUConfigWriter.write(file) else { return }
    guard let again = try? QEMUConfigReader().read(written), again == file else { fuzzFailure("config round trip changed:\n\(written)") }
    guard let xml = try? QEMUConfigXMLWriter.document(file) else { return }
    guard let fromXML = try? QEMUConfigXMLReader.read(xml), fromXML == file else { fuzzFailure("XML form round trip changed:\n\(xml)") }
}
