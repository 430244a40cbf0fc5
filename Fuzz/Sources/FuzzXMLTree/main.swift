import FuzzSupport
import XMLTree

// Parse; whatever parses must be written as text that parses back, and writing that again
// gives the same text (the writer's output is a fixed point).
runFuzzer { bytes in
    guard let text = String(validating: bytes, as: UTF8.self), let root = try? XMLTreeParser.parse(text) else { return }
    let written = XMLTreeWriter().write(root)
    guard let again = try? XMLTreeParser.parse(written) else { fuzzFailure("the writer's output does not parse:\n\(written)") }
    guard XMLTreeWriter().write(again) == written else { fuzzFailure("write is not a fixed point:\n\(written)") }
}
