import CorralJSON
import Testing

@Suite struct JSONStrictnessTests {
    @Test(arguments: [
        #""\ud800\u0041""#,  // high surrogate, then a letter (the issue's crash)
        #""\ud800""#,  // lone high surrogate at the end
        #""\udc00\ud800""#,  // reversed pair
        #""\udfff""#,  // lone low surrogate
        #""\ud800\ud800""#,  // two highs
        #""\ud800\""#,  // escape cut short
        #""\u12""#,
        #""\u+123""#,
        "\"a\u{01}b\"",  // raw control character
        "01", "+1", "1.", ".5", "1e", "-", "--1", "1e+", "0x10", "NaN", "Infinity",
        "[1,]", "{\"a\":1,}", "{\"a\" 1}", "[1 2]", "tru", "nul", "\"abc", "{", "[", "]",
    ])
    func refusesInvalidText(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }

    @Test func refusesInvalidUTF8() {
        for bytes: [UInt8] in [[0x22, 0xFF, 0x22], [0x22, 0xC3, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xF8, 0x88, 0x80, 0x80, 0x80, 0x22]] {
            #expect(throws: JSONParseError.self) { try JSONValue.parse(bytes) }
        }
    }

    @Test func decodesSurrogatePairs() throws {
        #expect(try JSONValue.parse(#""\ud83d\ude00 \u00e9\u0041""#) == .string("😀 éA"))
        #expect(try JSONValue.parse(#""\uD83D\uDE00""#) == .string("😀"))
    }

    @Test(arguments: ["18446744073709551615", "-9223372036854775808", "9223372036854775808", "1e400", "-0", "0.10", "12345678901234567890123456789"])
    func numbersKeepTheirText(_ text: String) throws {
        let value = try JSONValue.parse("{\"id\":\(text)}")
        #expect(value.description == "{\"id\":\(text)}")
    }

    @Test func unsignedIdsRoundTrip() throws {
        let value = try JSONValue.parse(#"{"execute":"query-status","id":18446744073709551615}"#)
        #expect(value["id"]?.uint64Value == UInt64.max)
        #expect(value["id"]?.intValue == nil)
        #expect(JSONValue.unsigned(.max).description == "18446744073709551615")
    }

    @Test func depthIsBounded() {
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(deep) }
        let fine = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect((try? JSONValue.parse(fine)) != nil)
        let veryDeep = String(repeating: "[", count: 1_000_000)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(veryDeep) }
    }

    @Test func stringLengthIsBounded() {
        let long = "\"" + String(repeating: "a", count: 1000) + "\""
        let limits = JSONLimits(maximumDepth: 8, maximumStringBytes: 999)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(long, limits: limits) }
        let escaped = "\"" + String(repeating: "\\n", count: 1000) + "\""
        #expect(throws: JSONParseError.self) { try JSONValue.parse(escaped, limits: limits) }
        #expect((try? JSONValue.parse(long, limits: JSONLimits(maximumDepth: 8, maximumStringBytes: 1000))) != nil)
    }

    @Test func writerEscapesControlCharacters() throws {
        let value = JSONValue.string("a\u{0}b\u{1f}\"\\\n")
        #expect(value.description == #""a\u0000b\u001f\"\\\n""#)
        #expect(try JSONValue.parse(value.description) == value)
    }
}
