import Foundation

/// Writing to the standard streams.
enum FileHandleOutput {
    static func standardError(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// A table in virsh's layout: a leading space, columns padded to their widest cell and separated
/// by three spaces, and a dashed rule under the header.
struct TextTable {
    var header: [String]
    var rows: [[String]] = []

    func render() -> String {
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            var text = ""
            for (index, cell) in cells.enumerated() {
                text += " " + cell
                if index < cells.count - 1 { text += String(repeating: " ", count: widths[index] - cell.count + 2) }
            }
            return text
        }
        var output = line(header) + "\n"
        output += String(repeating: "-", count: widths.reduce(0, +) + 3 * widths.count) + "\n"
        for row in rows { output += line(row) + "\n" }
        return output
    }
}
