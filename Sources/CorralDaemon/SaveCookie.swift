import DomainXML
import XMLTree

/// The `<cookie>` libvirt writes into a running domain's snapshot and save image
/// (`qemuDomainSaveCookie`): the CPU as QEMU made it, when that differs from the one asked for
/// (which the snapshot's `<domain>` and the image's XML carry), and `<slirpHelper/>` when no
/// interface uses QEMU's built-in user networking.
enum SaveCookie {
    static func of(_ live: ParsedDomain, asked: XMLElement?) -> XMLElement {
        var children: [XMLNode] = []
        if let asked, let made = live.document.element(named: "cpu"), madeOtherThanAsked(made, asked) {
            children.append(.element(made))
        }
        if !live.definition.devices.interfaces.contains(where: { $0.type == .user }) {
            children.append(.element(XMLElement(name: "slirpHelper")))
        }
        return XMLElement(name: "cookie", children: children)
    }

    /// The cookie as a save image holds it, after the domain XML.
    static func text(_ live: ParsedDomain, asked: XMLElement?) -> String {
        XMLTreeWriter().write(of(live, asked: asked))
    }

    /// Whether QEMU made the CPU `made` other than `asked`, beyond marking it fully checked:
    /// libvirt keeps the CPU asked for (its `origCPU`) only then.
    static func madeOtherThanAsked(_ made: XMLElement, _ asked: XMLElement) -> Bool {
        var made = made
        made[attribute: "check"] = asked[attribute: "check"]
        return !sameElement(made, asked)
    }

    /// Equal as XML: names, attributes and element children, whitespace and lines aside.
    static func sameElement(_ a: XMLElement, _ b: XMLElement) -> Bool {
        a.name == b.name && a.namespace == b.namespace && a.attributes == b.attributes && (a.elements.isEmpty ? a.text == b.text : true)
            && a.elements.count == b.elements.count && zip(a.elements, b.elements).allSatisfy(sameElement)
    }
}
