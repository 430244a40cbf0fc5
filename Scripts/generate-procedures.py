#!/usr/bin/env python3
"""Generates Sources/CorralProtocol/Generated/Procedures.swift from Protocol/procedures.def.

Run it after editing the table: `python3 Scripts/generate-procedures.py`. The output is committed,
so building Corral never needs Python; `--check` only verifies that the committed output matches
the table (Scripts/test.sh runs it).
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "Protocol" / "procedures.def"
OUTPUT = ROOT / "Sources" / "CorralProtocol" / "Generated" / "Procedures.swift"

STRING_MAX = "RPCLimits.stringMaximum"
PROGRAMS = {"remote": ".remote", "qemu": ".qemu"}


def split_fields(text):
    text = text.strip()
    if not text:
        return []
    fields, depth, current = [], 0, ""
    for ch in text:
        if ch in "[<(":
            depth += 1
        elif ch in "]>)":
            depth -= 1
        if ch == "," and depth == 0:
            fields.append(current)
            current = ""
        else:
            current += ch
    fields.append(current)
    out = []
    for f in fields:
        name, typ = f.split(":", 1)
        out.append((name.strip(), typ.strip()))
    return out


class Type:
    """How one field type is declared, decoded and encoded in Swift."""

    def __init__(self, spec, structs):
        self.spec = spec
        m = re.fullmatch(r"\[(.+)\]<(\d+)>", spec)
        if m:
            self.element = Type(m.group(1), structs)
            self.maximum = m.group(2)
            self.swift = f"[{self.element.swift}]"
            self.kind = "array"
            return
        m = re.fullmatch(r"char\[(\d+)\]", spec)
        if m:
            self.kind, self.count, self.swift = "fixedchars", m.group(1), "String"
            return
        m = re.fullmatch(r"char<(\d+)>", spec)
        if m:
            self.kind, self.maximum, self.swift = "varchars", m.group(1), "String"
            return
        m = re.fullmatch(r"chars<(\d+)>", spec)
        if m:
            self.kind, self.maximum, self.swift = "charbytes", m.group(1), "[UInt8]"
            return
        if spec == "String?":
            self.kind, self.swift = "optstring", "String?"
            return
        if spec.endswith("?"):
            self.inner = Type(spec[:-1], structs)
            self.kind, self.swift = "optional", self.inner.swift + "?"
            return
        simple = {
            "Int32": "readXDRInt32()", "UInt32": "readXDRUInt32()", "Int64": "readXDRInt64()",
            "UInt64": "readXDRUInt64()", "UInt8": "readXDRUInt8()", "UInt16": "readXDRUInt16()",
            "Double": "readXDRDouble()", "String": f"readXDRString(maximumLength: {STRING_MAX})",
        }
        if spec in simple:
            self.kind, self.swift, self.read = "simple", spec, simple[spec]
            return
        if spec == "UUID":
            self.kind, self.swift = "uuid", "RemoteUUID"
            return
        if spec == "TypedParameter":
            # remote_typed_param: a hand-written union (Sources/CorralProtocol/TypedParameter.swift).
            self.kind, self.swift = "struct", "TypedParameter"
            return
        m = re.fullmatch(r"opaque<(\d+)>", spec)
        if m:
            self.kind, self.maximum, self.swift = "opaque", m.group(1), "[UInt8]"
            return
        if spec in structs:
            self.kind, self.swift = "struct", spec
            return
        sys.exit(f"unknown type {spec}")

    def decode(self, buf):
        k = self.kind
        if k == "simple":
            return f"try {buf}.{self.read}"
        if k == "uuid" or k == "struct":
            return f"try {self.swift}(xdr: &{buf})"
        if k == "optstring":
            return f"try {buf}.readXDROptional {{ (b: inout ByteBuffer) throws(XDRDecodingError) in try b.readXDRString(maximumLength: {STRING_MAX}) }}"
        if k == "optional":
            return f"try {buf}.readXDROptional {{ (b: inout ByteBuffer) throws(XDRDecodingError) in {self.inner.decode('b')} }}"
        if k == "opaque":
            return f"Array(try {buf}.readXDRVariableOpaque(maximumLength: {self.maximum}).readableBytesView)"
        if k == "fixedchars":
            return f"try {buf}.readXDRFixedCharString(count: {self.count})"
        if k == "varchars":
            return f"try {buf}.readXDRCharString(maximumCount: {self.maximum})"
        if k == "charbytes":
            return f"try {buf}.readXDRCharBytes(maximumCount: {self.maximum})"
        if k == "array":
            return (f"try {buf}.readXDRArray(maximumCount: {self.maximum}) "
                    f"{{ (b: inout ByteBuffer) throws(XDRDecodingError) in {self.element.decode('b')} }}")
        raise AssertionError(k)

    def encode(self, buf, value):
        k = self.kind
        if k == "simple":
            if self.spec == "String":
                return f"{buf}.writeXDRString({value})"
            return f"{buf}.writeXDR{ {'Int32':'Int32','UInt32':'UInt32','Int64':'Int64','UInt64':'UInt64','UInt8':'UInt8','UInt16':'UInt16','Double':'Double'}[self.spec] }({value})"
        if k in ("uuid", "struct"):
            return f"{value}.encode(into: &{buf})"
        if k == "optstring":
            return f"{buf}.writeXDROptional({value}) {{ $0.writeXDRString($1) }}"
        if k == "optional":
            return f"{buf}.writeXDROptional({value}) {{ {self.inner.encode('$0', '$1')} }}"
        if k == "opaque":
            return f"{buf}.writeXDRVariableOpaque({value})"
        if k == "fixedchars":
            return f"{buf}.writeXDRFixedCharString({value}, count: {self.count})"
        if k == "varchars":
            return f"{buf}.writeXDRCharString({value})"
        if k == "charbytes":
            return f"{buf}.writeXDRCharBytes({value})"
        if k == "array":
            return f"{buf}.writeXDRArray({value}) {{ {self.element.encode('$0', '$1')} }}"
        raise AssertionError(k)


def camel(name):
    return name[0].lower() + name[1:]


def emit_struct(name, fields, structs, indent, doc):
    pad = " " * indent
    lines = [f"{pad}/// {doc}", f"{pad}public struct {name}: XDRCodable, Hashable {{"]
    typed = [(n, Type(t, structs)) for n, t in fields]
    for n, t in typed:
        lines.append(f"{pad}    public var {n}: {t.swift}")
    if typed:
        params = ", ".join(f"{n}: {t.swift}" for n, t in typed)
        lines.append("")
        lines.append(f"{pad}    /// Creates the value from its fields.")
        lines.append(f"{pad}    public init({params}) {{")
        for n, _ in typed:
            lines.append(f"{pad}        self.{n} = {n}")
        lines.append(f"{pad}    }}")
    else:
        lines.append("")
        lines.append(f"{pad}    /// Creates the (empty) value.")
        lines.append(f"{pad}    public init() {{}}")
    lines.append("")
    lines.append(f"{pad}    public init(xdr buffer: inout ByteBuffer) throws(XDRDecodingError) {{")
    for n, t in typed:
        lines.append(f"{pad}        self.{n} = {t.decode('buffer')}")
    lines.append(f"{pad}    }}")
    lines.append("")
    lines.append(f"{pad}    public func encode(into buffer: inout ByteBuffer) {{")
    for n, t in typed:
        lines.append(f"{pad}        {t.encode('buffer', 'self.' + n)}")
    lines.append(f"{pad}    }}")
    lines.append(f"{pad}}}")
    return lines


def main():
    structs, procs, wire_names = {}, [], {}
    for raw in SOURCE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("struct "):
            m = re.fullmatch(r"struct (\w+) = (\w+):(.*)", line)
            structs[m.group(1)] = split_fields(m.group(3))
            wire_names[m.group(1)] = m.group(2)
            continue
        m = re.fullmatch(r"proc (\w+) (\d+) (\w+) (preopen|read|write\((\w+)\)) \((.*)\) -> \((.*)\)", line)
        if not m:
            sys.exit(f"cannot parse: {line}")
        procs.append(dict(program=m.group(1), number=int(m.group(2)), name=m.group(3),
                          access=m.group(4), api=m.group(5), args=split_fields(m.group(6)),
                          ret=split_fields(m.group(7))))

    out = [
        "// Generated by Scripts/generate-procedures.py from Protocol/procedures.def. Do not edit.",
        "",
        "public import NIOCore",
        "public import XDR",
        "",
    ]
    for name, fields in structs.items():
        out += emit_struct(name, fields, structs, 0, f"The `{wire_names[name]}` wire struct.")
        out.append("")
    for program in PROGRAMS:
        ps = [p for p in procs if p["program"] == program]
        if not ps:
            continue
        enum = program.capitalize() + "Procedure"
        out.append(f"/// The procedures of the {program.upper()} program that Corral implements.")
        out.append(f"public enum {enum}: Int32, Sendable, CaseIterable {{")
        for p in ps:
            out.append(f"    /// `{program.upper()}_PROC_{re.sub(r'(?<=[a-z0-9])(?=[A-Z])', '_', p['name']).upper()}`")
            out.append(f"    case {camel(p['name'])} = {p['number']}")
        out.append("")
        out.append("    /// Who may call the procedure.")
        out.append("    public var access: ProcedureAccess {")
        out.append("        switch self {")
        for p in ps:
            acc = p["access"]
            if acc.startswith("write"):
                val = f'.write(api: "{p["api"]}")'
            else:
                val = "." + {"preopen": "beforeOpen", "read": "read"}[acc]
            out.append(f"        case .{camel(p['name'])}: return {val}")
        out.append("        }")
        out.append("    }")
        out.append("")
        out.append("    /// The procedure's argument and reply types, for code that handles any procedure.")
        out.append("    public var procedureType: any RPCProcedure.Type {")
        out.append("        switch self {")
        for p in ps:
            out.append(f"        case .{camel(p['name'])}: return {program.capitalize()}.{p['name']}.self")
        out.append("        }")
        out.append("    }")
        out.append("}")
        out.append("")
        ns = program.capitalize()
        out.append(f"/// Argument and reply types of the {program.upper()} program, one namespace per procedure.")
        out.append(f"public enum {ns} {{")
        for p in ps:
            n = p["name"]
            out.append(f"    /// Procedure {p['number']}, `{n}`.")
            out.append(f"    public enum {n}: RPCProcedure {{")
            out.append(f"        public static let program: RPCProgram = {PROGRAMS[program]}")
            out.append(f"        public static let procedure: Int32 = {p['number']}")
            for kind, fields in (("Arguments", p["args"]), ("Reply", p["ret"])):
                if not fields:
                    out.append(f"        public typealias {kind} = XDRVoid")
                else:
                    out.append("")
                    out += emit_struct(kind, fields, structs, 8, f"The {kind.lower()} of `{n}`.")
            out.append("    }")
            out.append("")
        if out[-1] == "":
            out.pop()
        out.append("}")
        out.append("")
    text = "\n".join(out)
    if "--check" in sys.argv:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            sys.exit(f"{OUTPUT.relative_to(ROOT)} does not match {SOURCE.relative_to(ROOT)}: run python3 Scripts/generate-procedures.py")
        print(f"{OUTPUT.relative_to(ROOT)} matches {SOURCE.relative_to(ROOT)}")
        return
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)}: {len(procs)} procedures, {len(structs)} structs")


if __name__ == "__main__":
    main()
