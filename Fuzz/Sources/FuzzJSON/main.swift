import CorralJSON
import FuzzSupport

// Parse; whatever parses must print as text that parses back to the same value.
runFuzzer { bytes in
    guard let value = try? JSONValue.parse(Array(bytes)) else { return }
    let text = value.description
    guard let again = try? JSONValue.parse(text), again == value else { fuzzFailure("JSON round trip changed \(text)") }
}
