extension DefinitionChecks {
    /// libvirt's checks of PCI controllers (`qemuDomainControllerDefPostParse`,
    /// `qemuValidateDomainDeviceDefControllerPCI`), with its messages: the machine types the
    /// expander buses belong to and their NUMA nodes, the index each model may have, its
    /// `<model name>`, and which `<target>` options apply to it.
    static func checkPCIControllers(_ definition: DomainDefinition) throws(DomainXMLError) {
        let chipset = X86Chipset(machine: definition.os.machine ?? "")
        let numaCells = definition.cpu?.numaCells.count ?? 0
        for controller in definition.devices.controllers {
            guard let model = controller.pciModel else { continue }
            if model == .pciExpanderBus && chipset != .i440fx {
                throw DomainXMLError(.unsupported, "pci-expander-bus controllers are only supported on 440fx-based machinetypes")
            }
            if model == .pcieExpanderBus && chipset != .q35 {
                throw DomainXMLError(.unsupported, "pcie-expander-bus controllers are not supported with this machine type")
            }
            if let node = controller.numaNode, model.isExpanderBus, node >= numaCells {
                throw DomainXMLError(.invalid,
                    "\(model.rawValue) with index \(controller.index) is configured for a NUMA node (\(node)) not present in the domain's <cpu><numa> array (\(numaCells))")
            }
            let modelName = controller.modelName ?? model.defaultModelName ?? "none"
            func invalidOption(_ option: String) -> DomainXMLError {
                DomainXMLError(.unsupported, "Option '\(option)' is not valid for PCI controller with index '\(controller.index)', model '\(model.rawValue)' and modelName '\(modelName)'")
            }
            if model.isRootBus {
                if controller.modelName != nil { throw invalidOption("modelName") }
            } else if let given = controller.modelName, !model.acceptedModelNames.contains(given) {
                throw DomainXMLError(.unsupported,
                    "Option 'modelName' has invalid value for PCI controller with index '\(controller.index)', model '\(model.rawValue)' and modelName '\(given)'")
            }
            if !model.isRootBus && controller.index == 0 {
                throw DomainXMLError(.unsupported, "Index for '\(model.rawValue)' controllers must be > 0")
            }
            if controller.busNumber != nil && !model.isExpanderBus { throw invalidOption("busNr") }
            if controller.numaNode != nil && !model.isExpanderBus { throw invalidOption("numaNode") }
            if !model.isPCIePort {
                if controller.chassis != nil { throw invalidOption("chassis") }
                if controller.port != nil { throw invalidOption("port") }
            }
        }
    }
}
