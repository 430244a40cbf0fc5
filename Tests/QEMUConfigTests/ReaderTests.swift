import QEMUConfig
import Testing

@Suite("Configuration file reader: QEMU's exact rules")
struct ReaderTests {
    let reader = QEMUConfigReader()

    @Test("a canonical file with and without ids, comments and empty values reads as written")
    func canonical() throws {
        let text = """
            # qemu config file

            [drive "disk"]
              file = "guest.qcow2"
              format = "qcow2"
              if = "none"

            [device "sata-disk"]
              driver = "ide-hd"
              bus = "ide.0"
              drive = "disk"   # CHANGE ME

            [machine]
            \ttype = "q35"
            empty = ""
            """
        let file = try reader.read(text)
        #expect(file.sections.map(\.group) == ["drive", "device", "machine"])
        #expect(file.sections.map(\.id) == ["disk", "sata-disk", nil])
        #expect(file.sections[0].entries == [.init(key: "file", value: "guest.qcow2"), .init(key: "format", value: "qcow2"), .init(key: "if", value: "none")])
        #expect(file.sections[1]["drive"] == "disk")
        #expect(file.sections[2]["type"] == "q35")
        #expect(file.sections[2]["empty"] == "")
    }

    @Test("values are UTF-8 passed through, backslashes kept, and = or # inside quotes are plain text")
    func valueContents() throws {
        let file = try reader.read("[name]\n  guest = \"vm-é\\\\x = #1\"\n")
        #expect(file.sections[0]["guest"] == "vm-é\\\\x = #1")
    }

    @Test("a missing final newline is fine")
    func noFinalNewline() throws {
        #expect(try reader.read("[name]\n  guest = \"a\"").sections[0]["guest"] == "a")
    }

    /// Each malformed input the reference lists, with the line it must be reported on and a word
    /// the message must contain.
    static let malformed: [(String, Int, String)] = [
        ("[name]\n  \n", 2, "only spaces or tabs"),
        ("[name]\r\n\r\n  guest = \"x\"\r\n", 2, "carriage return"),
        ("[name]\n  # indented\n", 2, "first column"),
        ("; comment\n", 1, "';'"),
        ("[name]\n  guest = vm1\n", 2, "silently read vm1 as an empty value"),
        ("[name]\n  guest = 'vm1'\n", 2, "double quotes"),
        ("[name]\n  guest=\"vm1\"\n", 2, "space between the key and '='"),
        ("[name]\n  guest = \"a\\\"b\"\n", 2, "silently ignore"),
        ("[name]\n  guest = \"unterminated\n", 2, "no closing double quote"),
        ("  guest = \"x\"\n", 1, "no group defined"),
        ("[name]\n  guest =\n", 2, "has no value"),
        ("[ name ]\n", 1, "group named ' name '"),
        ("[bogus]\n", 1, "There is no option group 'bogus'"),
        ("[audiodev \"a\"]\n", 1, "There is no option group 'audiodev'"),
        ("[name \"x\"]\n", 1, "take no id"),
        ("[machine \"m\"]\n", 1, "take no id"),
        ("[vnc]\n", 1, "needs an id"),
        ("[chardev \"c 1\"]\n", 1, "space"),
        ("[chardev \"1c\"]\n", 1, "not an identifier"),
        ("[chardev\"c\"]\n", 1, "space between the group"),
        ("[device\n", 1, "no closing ']'"),
        ("[chardev \"c1]\n", 1, "no closing double quote"),
        ("[name]\n  include = \"x\" junk\n", 2, "silently ignore"),
        ("[name]\n  " + String(repeating: "k", count: 64) + " = \"v\"\n", 2, "63-byte"),
        ("[name]\n  guest = \"" + String(repeating: "v", count: 1024) + "\"\n", 2, "1022"),
        ("[object \"" + String(repeating: "i", count: 64) + "\"]\n", 1, "63-byte"),
        ("[name]\n= \"x\"\n", 2, "no key"),
        ("[name]\n  guest \"x\"\n", 2, "expected '= \"value\"'"),
        ("[name]\n  guest = \"a\u{0}b\"\n", 2, "NUL"),
    ]

    @Test("every malformed input gets its own clear error with its line", arguments: malformed)
    func errors(text: String, line: Int, words: String) {
        let (_, diagnostics) = reader.check(text)
        let errors = diagnostics.filter { $0.severity == .error }
        #expect(errors.contains { $0.line == line && $0.message.contains(words) }, "\(diagnostics)")
        #expect(throws: QEMUConfigError.self) { try reader.read(text) }
    }

    @Test("a value of exactly 1023 bytes is accepted, 1024 is not (on a line QEMU can read)")
    func valueLimit() {
        // "k = \"…\"" is 6 bytes plus the value; keep the line within 1022.
        let fits = "[name]\nk = \"" + String(repeating: "v", count: 1016) + "\"\n"
        #expect((try? reader.read(fits)) != nil)
        let long = QEMUConfigFile(sections: [.init(group: "name", entries: [.init(key: "k", value: String(repeating: "v", count: 1024))])])
        #expect(long.problems(knownGroups: nil).contains { $0.contains("1023") })
    }

    @Test("a repeated key is kept, with a warning that QEMU uses the last")
    func repeatedKey() throws {
        let (file, diagnostics) = reader.check("[name]\n  guest = \"a\"\n  guest = \"b\"\n")
        #expect(file.sections[0].entries.count == 2)
        #expect(file.sections[0]["guest"] == "b")
        #expect(diagnostics == [QEMUConfigDiagnostic(line: 3, severity: .warning, message: "the key 'guest' repeats in this section; QEMU keeps only the last value")])
    }

    @Test("a header id without ']' is read (QEMU does not check) with a warning")
    func headerWithoutBracket() throws {
        let (file, diagnostics) = reader.check("[chardev \"c1\"\n  backend = \"null\"\n")
        #expect(file.sections.first?.id == "c1")
        #expect(diagnostics.map(\.severity) == [.warning])
    }

    @Test("all problems of a file are reported at once, in line order")
    func allAtOnce() {
        let (_, diagnostics) = reader.check("[bogus]\n  a = b\n  # x\n[name \"n\"]\n")
        #expect(diagnostics.map(\.line) == [1, 2, 3, 4])
    }

    @Test("groups come from the emulator when given")
    func emulatorGroups() {
        let custom = QEMUConfigReader(knownGroups: ["device"])
        #expect((try? custom.read("[device]\n")) != nil)
        #expect((try? custom.read("[object \"o\"]\n")) == nil)
        let any = QEMUConfigReader(knownGroups: nil)
        #expect((try? any.read("[audiodev \"a\"]\n")) != nil)
    }
}
