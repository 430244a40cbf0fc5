/// `<bandwidth>` as Linux traffic control, as libvirt's `virNetDevBandwidthSet` sets it: on a
/// guest's tap (or a network's bridge), `inbound` — traffic towards the guests — is shaped on the
/// device's egress (an HTB class taking all traffic, SFQ under it for fairness), `outbound` —
/// traffic from them — is policed on its ingress (a u32 match-all with a police action). Rates
/// are kilobytes per second and bursts kibibytes, as in the XML; `tc`'s `kbps` and `kb` mean the
/// same units. Pure: the daemon runs the lines with `tc -batch -`.
public enum TrafficShaping {
    /// The `tc` lines that shape `inbound` on `device` (empty without an average).
    public static func inboundCommands(device: String, _ inbound: NetworkDefinition.Rate?) -> [String] {
        guard let inbound, inbound.average > 0 else { return [] }
        var rate = "class add dev \(device) parent 1: classid 1:1 htb rate \(inbound.average)kbps"
        if inbound.peak > 0 { rate += " ceil \(inbound.peak)kbps" }
        if inbound.burst > 0 { rate += " burst \(inbound.burst)kb" }
        return ["qdisc add dev \(device) root handle 1: htb default 1", rate]
    }

    /// The fair queue under the inbound class (a kernel without `sch_sfq` does without it).
    public static func fairQueueCommand(device: String) -> String {
        "qdisc add dev \(device) parent 1:1 handle 2: sfq perturb 10"
    }

    /// The `tc` lines that police `outbound` on `device` (empty without an average).
    public static func outboundCommands(device: String, _ outbound: NetworkDefinition.Rate?) -> [String] {
        guard let outbound, outbound.average > 0 else { return [] }
        let burst = outbound.burst > 0 ? outbound.burst : outbound.average
        return [
            "qdisc add dev \(device) ingress",
            "filter add dev \(device) parent ffff: protocol all u32 match u32 0 0 police rate \(outbound.average)kbps burst \(burst)kb mtu 64kb drop flowid :1",
        ]
    }

    /// The lines that remove any shaping from `device`.
    public static func clearCommands(device: String) -> [String] {
        ["qdisc del dev \(device) root", "qdisc del dev \(device) ingress"]
    }
}
