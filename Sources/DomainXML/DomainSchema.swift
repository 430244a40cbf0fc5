import XMLTree

/// The elements and attributes Corral models, by path below `<domain>`. Anything else in a
/// definition is kept and written back, and listed as unmodelled so that starting a domain that
/// relies on it fails with a clear error instead of silently ignoring it.
enum DomainSchema {
    struct Node {
        var attributes: Set<String>
        var children: Set<String>
    }

    /// `path: @attr … | child …`, one line per element. `*` stands for any device.
    static let table: [String: Node] = {
        let text = """
            domain: @type @id | name uuid title description metadata memory currentMemory vcpu os features cpu clock on_poweroff on_reboot on_crash devices
            domain/name:
            domain/uuid:
            domain/title:
            domain/description:
            domain/memory: @unit
            domain/currentMemory: @unit
            domain/vcpu: @placement
            domain/os: | type boot kernel initrd cmdline loader nvram
            domain/os/type: @arch @machine
            domain/os/boot: @dev
            domain/os/kernel:
            domain/os/initrd:
            domain/os/cmdline:
            domain/os/loader: @readonly @type
            domain/os/nvram:
            domain/features: | acpi apic pae
            domain/features/acpi:
            domain/features/apic:
            domain/features/pae:
            domain/cpu: @mode @match @check @migratable | model topology
            domain/cpu/model: @fallback
            domain/cpu/topology: @sockets @dies @cores @threads
            domain/clock: @offset | timer
            domain/clock/timer: @name @tickpolicy @present
            domain/on_poweroff:
            domain/on_reboot:
            domain/on_crash:
            domain/devices: | emulator disk controller interface serial console channel input graphics video sound memballoon rng watchdog
            domain/devices/emulator:
            domain/devices/*/alias: @name
            domain/devices/*/address: @type @domain @bus @slot @function @multifunction @controller @target @unit
            domain/devices/*/boot: @order
            domain/devices/disk: @type @device | driver source target readonly boot alias address
            domain/devices/disk/driver: @name @type
            domain/devices/disk/source: @file @dev
            domain/devices/disk/target: @dev @bus
            domain/devices/disk/readonly:
            domain/devices/controller: @type @index @model | alias address
            domain/devices/interface: @type | source model mac boot alias address
            domain/devices/interface/source: @network @bridge @dev @mode
            domain/devices/interface/model: @type
            domain/devices/interface/mac: @address
            domain/devices/serial: @type | source target alias address
            domain/devices/serial/source: @path @mode @host @service
            domain/devices/serial/target: @type @port | model
            domain/devices/serial/target/model: @name
            domain/devices/console: @type | source target alias
            domain/devices/console/source: @path @mode @host @service
            domain/devices/console/target: @type @port
            domain/devices/channel: @type | source target alias address
            domain/devices/channel/source: @path @mode
            domain/devices/channel/target: @type @name @state
            domain/devices/input: @type @bus | alias address
            domain/devices/graphics: @type @port @autoport @listen | listen
            domain/devices/graphics/listen: @type @address
            domain/devices/video: | model alias address
            domain/devices/video/model: @type @vram @heads @primary
            domain/devices/sound: @model | alias address
            domain/devices/memballoon: @model | alias address
            domain/devices/rng: @model | backend alias address
            domain/devices/rng/backend: @model
            domain/devices/watchdog: @model @action | alias address
            """
        var table: [String: Node] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            let path = String(parts[0])
            let spec = parts.count > 1 ? parts[1].split(separator: "|", maxSplits: 1, omittingEmptySubsequences: false) : []
            let attributes = spec.first.map { $0.split(separator: " ").filter { $0.hasPrefix("@") }.map { String($0.dropFirst()) } } ?? []
            let children = spec.count > 1 ? spec[1].split(separator: " ").map(String.init) : []
            table[path] = Node(attributes: Set(attributes), children: Set(children))
        }
        return table
    }()

    /// Everything under `root` that Corral does not model, as "what (line N)" strings.
    static func unmodelled(in root: XMLElement) -> [String] {
        var found: [String] = []
        walk(root, path: "domain", found: &found)
        return found
    }

    static func node(for path: String) -> Node? {
        if let node = table[path] { return node }
        // domain/devices/<device>/<child> → domain/devices/*/<child>
        let parts = path.split(separator: "/")
        if parts.count == 4, parts[1] == "devices" { return table["domain/devices/*/\(parts[3])"] }
        return nil
    }

    static func walk(_ element: XMLElement, path: String, found: inout [String]) {
        guard let node = node(for: path) else { return }
        let shown = path.dropFirst("domain".count).isEmpty ? "<domain>" : "<\(path.dropFirst("domain/".count))>"
        for attribute in element.attributes where attribute.namespace != nil || !node.attributes.contains(attribute.name) {
            found.append("attribute '\(attribute.name)' of \(shown) (line \(element.line))")
        }
        for child in element.elements {
            if path == "domain" && child.namespace == qemuNamespaceURI { continue }  // the namespace, handled itself
            if path == "domain" && child.name == "metadata" && child.namespace == nil { continue }  // opaque by design
            let childPath = path + "/" + child.name
            if child.namespace != nil || !node.children.contains(child.name) {
                let name = child.prefix.map { "\($0):\(child.name)" } ?? child.name
                found.append("element <\(path == "domain" ? "" : String(path.dropFirst("domain/".count)) + "/")\(name)> (line \(child.line))")
                continue
            }
            walk(child, path: childPath, found: &found)
        }
    }
}
