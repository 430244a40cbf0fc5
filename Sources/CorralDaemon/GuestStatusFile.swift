import CorralProtocol
import Foundation
import XMLTree

/// `run-dir/domains/NAME/status.xml`: what a restarted daemon needs to find a running guest again.
struct GuestStatus: Sendable {
    var pid: Int32
    var id: Int32
    var state: DomainState
    var reason: Int32
    var persistent: Bool
    var taints: [String]
    var qmpSocket: String
    var passthroughSocket: String
    /// The live domain XML.
    var domainXML: String
    /// A variable clock's adjustment at start (``GuestRuntime/clockAdjustmentAtStart``).
    var clockAdjustmentAtStart: Int64?
    /// ``GuestRuntime/chosenWebsocketPort``.
    var chosenWebsocketPort: Int?
    /// ``GuestRuntime/detectedChains``.
    var detectedChains: [String: BackingChainCheck.Remembered] = [:]
    /// ``GuestRuntime/defaultListenGraphics``.
    var defaultListenGraphics: Set<Int> = []
    /// ``GuestRuntime/askedCPU``, as `<askedcpu><cpu …/></askedcpu>`.
    var askedCPU: XMLElement?

    func xml() -> String {
        var root = XMLElement(name: "domstatus", attributes: [
            XMLAttribute(name: "state", value: String(state.rawValue)), XMLAttribute(name: "reason", value: String(reason)),
            XMLAttribute(name: "pid", value: String(pid)), XMLAttribute(name: "id", value: String(id)),
            XMLAttribute(name: "persistent", value: persistent ? "yes" : "no"),
        ])
        root.children.append(.element(XMLElement(name: "monitor", attributes: [
            XMLAttribute(name: "path", value: qmpSocket), XMLAttribute(name: "passthrough", value: passthroughSocket),
        ])))
        if let clockAdjustmentAtStart {
            root.children.append(.element(XMLElement(name: "clock", attributes: [XMLAttribute(name: "adjustment0", value: String(clockAdjustmentAtStart))])))
        }
        if let chosenWebsocketPort {
            root.children.append(.element(XMLElement(name: "graphics", attributes: [XMLAttribute(name: "websocketGenerated", value: String(chosenWebsocketPort))])))
        }
        for (target, chain) in detectedChains.sorted(by: { $0.key < $1.key }) {
            root.children.append(.element(XMLElement(name: "backingchain", attributes: [
                XMLAttribute(name: "target", value: target), XMLAttribute(name: "detected", value: String(chain.layers)),
            ])))
        }
        for graphics in defaultListenGraphics.sorted() {
            root.children.append(.element(XMLElement(name: "defaultlisten", attributes: [XMLAttribute(name: "graphics", value: String(graphics))])))
        }
        if let askedCPU { root.children.append(.element(XMLElement(name: "askedcpu", children: [.element(askedCPU)]))) }
        for taint in taints { root.children.append(.element(XMLElement(name: "taint", attributes: [XMLAttribute(name: "flag", value: taint)]))) }
        root.children.append(.element(XMLElement(name: "domainxml", children: [.text(domainXML)])))
        return XMLTreeWriter().write(root)
    }

    init(pid: Int32, id: Int32, state: DomainState, reason: Int32, persistent: Bool, taints: [String], qmpSocket: String, passthroughSocket: String, domainXML: String) {
        self.pid = pid
        self.id = id
        self.state = state
        self.reason = reason
        self.persistent = persistent
        self.taints = taints
        self.qmpSocket = qmpSocket
        self.passthroughSocket = passthroughSocket
        self.domainXML = domainXML
    }

    init?(text: String) {
        guard let root = try? XMLTreeParser.parse(text), root.name == "domstatus",
            let pid = root[attribute: "pid"].flatMap({ Int32($0) }), let id = root[attribute: "id"].flatMap({ Int32($0) }),
            let state = root[attribute: "state"].flatMap({ Int32($0) }).flatMap(DomainState.init(rawValue:)),
            let monitor = root.element(named: "monitor"), let qmp = monitor[attribute: "path"],
            let xml = root.element(named: "domainxml")?.text
        else { return nil }
        self.pid = pid
        self.id = id
        self.state = state
        self.reason = root[attribute: "reason"].flatMap { Int32($0) } ?? 0
        self.persistent = root[attribute: "persistent"] == "yes"
        self.taints = root.elements(named: "taint").compactMap { $0[attribute: "flag"] }
        self.qmpSocket = qmp
        self.passthroughSocket = monitor[attribute: "passthrough"] ?? ""
        self.domainXML = xml
        self.clockAdjustmentAtStart = root.element(named: "clock")?[attribute: "adjustment0"].flatMap { Int64($0) }
        self.chosenWebsocketPort = root.element(named: "graphics")?[attribute: "websocketGenerated"].flatMap { Int($0) }.flatMap { (1...65535).contains($0) ? $0 : nil }
        for chain in root.elements(named: "backingchain") {
            guard let target = chain[attribute: "target"], let layers = chain[attribute: "detected"].flatMap({ Int($0) }), (0...BackingChainCheck.maximumDepth).contains(layers) else { continue }
            detectedChains[target] = BackingChainCheck.Remembered(layers: layers)
        }
        for listen in root.elements(named: "defaultlisten") {
            guard let graphics = listen[attribute: "graphics"].flatMap({ Int($0) }), graphics >= 0 else { continue }
            defaultListenGraphics.insert(graphics)
        }
        askedCPU = root.element(named: "askedcpu")?.element(named: "cpu")
    }

    func write(to path: String) throws(StoreError) {
        try DefinitionStore.atomicWrite(path: path, contents: Array(xml().utf8), durable: false)
    }
}
