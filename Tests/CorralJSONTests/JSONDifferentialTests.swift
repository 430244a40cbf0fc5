import CorralJSON
import Foundation
import SeededRandom
import Testing

/// Compares `JSONValue.parse` with Foundation's `JSONSerialization` on generated texts: valid
/// documents, then the same documents with bytes changed, inserted or removed. Both must accept
/// or both refuse, and what both accept must mean the same.
@Suite struct JSONDifferentialTests {
    typealias Generator = SeededGenerator

    static let stringPieces = ["a", "é", "😀", "\\n", "\\\"", "\\\\", "\\/", "\\u0041", "\\u00e9", "\\ud83d\\ude00", " ", "\\t", "\\u0000", "中"]
    static let numbers = ["0", "-0", "1", "-1", "42", "3.25", "-0.5", "1e3", "2E-2", "9223372036854775807", "-9223372036854775808", "18446744073709551615", "1.5e10"]

    static func text(depth: Int, using g: inout Generator) -> String {
        let choice = depth >= 6 ? Int.random(in: 0..<4, using: &g) : Int.random(in: 0..<6, using: &g)
        switch choice {
        case 0: return ["null", "true", "false"].randomElement(using: &g)!
        case 1: return numbers.randomElement(using: &g)!
        case 2, 3: return string(using: &g)
        case 4:
            let count = Int.random(in: 0..<4, using: &g)
            return "[" + (0..<count).map { _ in text(depth: depth + 1, using: &g) }.joined(separator: ",") + "]"
        default:
            let count = Int.random(in: 0..<4, using: &g)
            return "{" + (0..<count).map { i in "\"k\(i)\" : " + text(depth: depth + 1, using: &g) }.joined(separator: ", ") + "}"
        }
    }

    static func string(using g: inout Generator) -> String {
        "\"" + (0..<Int.random(in: 0..<4, using: &g)).map { _ in stringPieces.randomElement(using: &g)! }.joined() + "\""
    }

    static let mutationBytes: [UInt8] = Array("\"\\u{}[],:0123456789-+.eEdD8ab ".utf8) + [0x00, 0x01, 0x1F, 0x7F, 0x80, 0xC3, 0xED, 0xFF]

    static func mutate(_ bytes: [UInt8], using g: inout Generator) -> [UInt8] {
        var out = bytes
        for _ in 0..<Int.random(in: 1...3, using: &g) {
            let position = out.isEmpty ? 0 : Int.random(in: 0..<out.count, using: &g)
            switch Int.random(in: 0..<3, using: &g) {
            case 0 where !out.isEmpty: out[position] = mutationBytes.randomElement(using: &g)!
            case 1: out.insert(mutationBytes.randomElement(using: &g)!, at: position)
            default: if !out.isEmpty { out.remove(at: position) }
            }
        }
        return out
    }

    /// Whether a parsed value and Foundation's object mean the same.
    static func same(_ value: JSONValue, _ object: Any) -> Bool {
        switch value {
        case .null: return object is NSNull
        case .bool(let b):
            return (object as? Bool) == b
        case .number(let number):
            guard let n = object as? NSNumber else { return false }
            if let u = number.uint64Value, number.isInteger { return n.uint64Value == u || n.doubleValue == Double(u) }
            if let i = number.int64Value, number.isInteger { return n.int64Value == i || n.doubleValue == Double(i) }
            let d = number.doubleValue
            return n.doubleValue == d || abs(n.doubleValue - d) <= abs(d) * 1e-12
        case .string(let s): return (object as? String) == s
        case .array(let elements):
            guard let array = object as? [Any], array.count == elements.count else { return false }
            return zip(elements, array).allSatisfy { same($0, $1) }
        case .object(let members):
            // Foundation keeps the last of duplicate keys; compare with that member.
            var last: [String: JSONValue] = [:]
            for (key, member) in members { last[key] = member }
            guard let dictionary = object as? [String: Any], dictionary.count == last.count else { return false }
            return last.allSatisfy { key, member in dictionary[key].map { same(member, $0) } ?? false }
        }
    }

    static func hasNumberBeyondDouble(_ value: JSONValue) -> Bool {
        switch value {
        case .number(let n): return !n.doubleValue.isFinite
        case .array(let a): return a.contains(where: hasNumberBeyondDouble)
        case .object(let o): return o.contains { hasNumberBeyondDouble($0.1) }
        default: return false
        }
    }

    /// A `,` followed (after white space) by `]` or `}`, outside strings.
    static func hasTrailingComma(_ bytes: [UInt8]) -> Bool {
        var inString = false, escaped = false, afterComma = false
        for b in bytes {
            if inString {
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch b {
            case UInt8(ascii: "\""): inString = true; afterComma = false
            case UInt8(ascii: ","): afterComma = true
            case 32, 9, 10, 13: break
            case UInt8(ascii: "]"), UInt8(ascii: "}"): if afterComma { return true }
            default: afterComma = false
            }
        }
        return false
    }

    static func foundationParse(_ bytes: [UInt8]) -> Any? {
        try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
    }

    @Test func agreesWithFoundationOnValidDocuments() throws {
        var g = Generator(seed: 20261130)
        for _ in 0..<3000 {
            let text = Self.text(depth: 0, using: &g)
            let ours = try JSONValue.parse(text)
            let theirs = try #require(Self.foundationParse(Array(text.utf8)), "Foundation refused \(text)")
            #expect(Self.same(ours, theirs), "different meaning for \(text)")
            // What the writer prints parses back to the same value.
            #expect(try JSONValue.parse(ours.description) == ours)
        }
    }

    @Test func agreesWithFoundationOnMutatedDocuments() {
        var g = Generator(seed: 7)
        var accepted = 0, refused = 0
        for _ in 0..<20000 {
            let bytes = Self.mutate(Array(Self.text(depth: 0, using: &g).utf8), using: &g)
            let ours = try? JSONValue.parse(bytes)
            let theirs = Self.foundationParse(bytes)
            let shown = String(decoding: bytes, as: UTF8.self).debugDescription
            switch (ours, theirs) {
            case (let value?, let object?):
                accepted += 1
                #expect(Self.same(value, object), "different meaning for \(shown)")
            case (nil, nil): refused += 1
            case (nil, _?) where bytes.contains(0):
                // Foundation stops reading at a NUL byte ("0\u{0}garbage" is 0 to it); RFC 8259
                // allows no NUL outside strings, and neither do we.
                refused += 1
            case (nil, _?) where Self.hasTrailingComma(bytes):
                // Foundation accepts `[1,]` and `{"a":1,}`; RFC 8259 and QEMU do not.
                refused += 1
            case (let value?, nil) where Self.hasNumberBeyondDouble(value):
                // Foundation refuses numbers a Double cannot hold (1e400); the grammar allows
                // them and we keep their text.
                accepted += 1
            case (nil, _?): Issue.record("Foundation accepts what we refuse: \(shown) \(bytes)")
            case (_?, nil): Issue.record("we accept what Foundation refuses: \(shown) \(bytes)")
            }
        }
        #expect(accepted > 1000 && refused > 1000)
    }
}
