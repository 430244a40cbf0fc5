import Foundation
import Testing

/// The network golden files: inputs `Golden/NAME.in.xml`, outputs beside them.
/// `CORRAL_REGENERATE_GOLDEN=1` rewrites the outputs.
enum NetworkGolden {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    static let cases = ["nat-full", "isolated", "route-dev", "open", "bridge", "hostdev", "private"]

    static func input(_ name: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(name + ".in.xml"), encoding: .utf8)
    }

    static func check(_ text: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let file = directory.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["CORRAL_REGENERATE_GOLDEN"] != nil {
            try text.write(to: file, atomically: true, encoding: .utf8)
        }
        #expect(text == (try String(contentsOf: file, encoding: .utf8)), sourceLocation: sourceLocation)
    }
}
