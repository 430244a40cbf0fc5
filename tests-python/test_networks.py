"""Virtual networks, end to end, inside network namespaces these tests make: corrald runs in a
namespace of its own ("the host"), a second namespace plays the outside world behind a veth pair,
and nothing is added to the machine's own network. Covers the default NAT network, a guest's DHCP
lease seen by net-dhcp-leases and domifaddr, NAT to the outside, each forward mode's bridge,
dnsmasq and nftables table, net-update, ports, events, the procedures from libvirt-python, a
daemon killed and restarted, and clean-up after destroy."""
import base64
import json
import os
import re
import signal
import socket
import struct
import subprocess
import shutil
import tempfile
import threading
import time

import libvirt
import pytest

from conftest import binary, run, seed_probe_cache
from guest import domain_xml, qemu_pid, wait_for
from rawrpc import ERROR, OK, REMOTE, RawClient, parse_error, xdr_string

AGENT = "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"
WORLD_HOST, WORLD_PEER = "10.99.0.1", "10.99.0.2"


def in_ns(ns, *args, check=True):
    return run("ip", "netns", "exec", ns, *args, check=check)


class NamespacedDaemon:
    """corrald in a fresh network namespace, with a second namespace as the outside world."""

    def __init__(self, tmp_path, default_network=True):
        self.ns = f"corral-net-{os.getpid()}-{int(time.time() * 1000) % 100000}"
        self.world = self.ns + "-w"
        # A short directory: socket paths in it must stay under 108 bytes.
        self.dir = tempfile.mkdtemp(prefix="cn", dir="/tmp")
        self.socket = os.path.join(self.dir, "sock")
        self.default_network = default_network
        run("ip", "netns", "add", self.ns)
        run("ip", "netns", "add", self.world)
        in_ns(self.ns, "ip", "link", "set", "lo", "up")
        in_ns(self.world, "ip", "link", "set", "lo", "up")
        run("ip", "link", "add", "out0", "netns", self.ns, "type", "veth", "peer", "name", "in0", "netns", self.world)
        in_ns(self.ns, "ip", "addr", "add", WORLD_HOST + "/24", "dev", "out0")
        in_ns(self.ns, "ip", "link", "set", "out0", "up")
        in_ns(self.world, "ip", "addr", "add", WORLD_PEER + "/24", "dev", "in0")
        in_ns(self.world, "ip", "link", "set", "in0", "up")
        self.log = open(os.path.join(self.dir, "corrald.log"), "a")
        self.process = None
        try:
            self.launch()
        except BaseException:
            self.close()
            raise

    @property
    def uri(self):
        return f"qemu+unix:///system?socket={self.socket}"

    def launch(self):
        seed_probe_cache(os.path.join(self.dir, "state"))
        args = ["ip", "netns", "exec", self.ns, binary("corrald"), "--socket", self.socket, "--socket-ro", self.socket + "-ro",
                "--state-dir", os.path.join(self.dir, "state"), "--run-dir", os.path.join(self.dir, "run")]
        if not self.default_network:
            args.append("--no-default-network")
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(self.socket) or self.process.poll() is not None, timeout=20, what="corrald")
        assert self.process.poll() is None, open(self.log.name).read()

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        for path in (self.socket, self.socket + "-ro"):
            if os.path.exists(path):
                os.unlink(path)

    def virsh(self, *args, check=True):
        return run("virsh", "-c", self.uri, *args, check=check)

    def links(self):
        return in_ns(self.ns, "ip", "-o", "link", "show").stdout

    def tables(self):
        return in_ns(self.ns, "nft", "list", "tables").stdout

    def dnsmasq_pids(self):
        found = []
        for pid in run("ip", "netns", "pids", self.ns).stdout.split():
            try:
                if open(f"/proc/{pid}/comm").read().strip() == "dnsmasq":
                    found.append(int(pid))
            except OSError:
                pass
        return found

    def close(self):
        conn = None
        try:
            conn = libvirt.open(self.uri)
            for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
                dom.destroy()
        except libvirt.libvirtError:
            pass
        finally:
            if conn:
                conn.close()
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        for pid in run("ip", "netns", "pids", self.ns, check=False).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
        run("ip", "netns", "del", self.ns, check=False)
        run("ip", "netns", "del", self.world, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def netns_daemon(tmp_path):
    daemon = NamespacedDaemon(tmp_path)
    yield daemon
    daemon.close()


@pytest.fixture
def bare_netns_daemon(tmp_path):
    daemon = NamespacedDaemon(tmp_path, default_network=False)
    yield daemon
    daemon.close()


def guest_on(daemon, name, tmp_path, interfaces):
    serial = str(tmp_path / f"{name}.serial")
    xml = domain_xml(name, serial, devices=interfaces + AGENT)
    (tmp_path / f"{name}.xml").write_text(xml)
    daemon.virsh("define", str(tmp_path / f"{name}.xml"))
    daemon.virsh("start", name)
    return serial


def leased_address(daemon, network, mac, timeout=90):
    found = {}

    def has_lease():
        out = daemon.virsh("net-dhcp-leases", network, "--mac", mac).stdout
        for line in out.splitlines():
            if mac in line:
                found["ip"] = line.split()[4].split("/")[0]
                found["line"] = line
                return True
        return False
    wait_for(has_lease, timeout=timeout, what=f"a DHCP lease for {mac} on {network}")
    return found["ip"], found["line"]


def guest_exec(daemon, name, path, *args, timeout=30):
    """Runs a program in the guest through its agent (guest-exec); returns (exit code, output)."""
    wait_for(lambda: daemon.virsh("qemu-agent-command", name, '{"execute":"guest-ping"}', check=False).returncode == 0,
             timeout=60, what="the guest agent")
    command = {"execute": "guest-exec", "arguments": {"path": path, "arg": list(args), "capture-output": True}}
    pid = json.loads(daemon.virsh("qemu-agent-command", name, json.dumps(command)).stdout)["return"]["pid"]
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = json.loads(daemon.virsh("qemu-agent-command", name, json.dumps({"execute": "guest-exec-status", "arguments": {"pid": pid}})).stdout)
        if status["return"]["exited"]:
            return status["return"].get("exitcode"), base64.b64decode(status["return"].get("out-data", "")).decode(errors="replace")
        time.sleep(0.2)
    raise AssertionError(f"{path} did not finish in the guest")


def reaches(daemon, ip):
    """The host side reaches `ip` (a guest that may still be configuring its lease)."""
    wait_for(lambda: in_ns(daemon.ns, "ping", "-c", "1", "-W", "1", ip, check=False).returncode == 0, timeout=30, what=f"{ip} to answer")


def world_listener(daemon):
    """A TCP listener in the outside-world namespace; returns (thread, result dict)."""
    result = {}
    script = ("import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
              f"s.bind(('{WORLD_PEER}', 8080)); s.listen(); s.settimeout(60); c, a = s.accept(); print(a[0]); "
              "c.sendall(b'HTTP/1.0 200 OK\\r\\n\\r\\nhello-from-world\\n'); c.close()")
    process = subprocess.Popen(["ip", "netns", "exec", daemon.world, "python3", "-c", script], stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    return process


def test_default_network_gives_a_guest_a_lease_and_nat_to_the_world(netns_daemon, tmp_path):
    d = netns_daemon
    # The first start defined and started libvirt's default network.
    listing = d.virsh("net-list", "--all").stdout
    assert "default" in listing and "active" in listing and "yes" in listing
    xml = d.virsh("net-dumpxml", "default").stdout
    assert "<forward mode='nat'/>" in xml and "<bridge name='virbr0' stp='on' delay='0'/>" in xml
    assert "<range start='192.168.122.2' end='192.168.122.254'/>" in xml
    assert "192.168.122.1/24" in in_ns(d.ns, "ip", "-o", "addr", "show", "virbr0").stdout
    assert d.virsh("net-info", "default").stdout.count("yes") == 3
    assert len(d.dnsmasq_pids()) == 1

    mac = "52:54:00:ab:cd:01"
    guest_on(d, "natguest", tmp_path, f"<interface type='network'><source network='default'/><mac address='{mac}'/><model type='virtio'/>"
                                      "<bandwidth><inbound average='500'/></bandwidth></interface>")
    live = d.virsh("dumpxml", "natguest").stdout
    assert "<target dev='vnet0'/>" in live and "bridge='virbr0'" in live and "portid=" in live
    assert "master virbr0" in in_ns(d.ns, "ip", "-o", "link", "show", "vnet0").stdout
    assert "<target dev=" not in d.virsh("dumpxml", "--inactive", "natguest").stdout
    ip, line = leased_address(d, "default", mac)
    assert ip.startswith("192.168.122.") and "corral-guest" in line
    # domifaddr from the lease, and the hostname the guest sent.
    addresses = d.virsh("domifaddr", "natguest", "--source", "lease").stdout
    assert "vnet0" in addresses and mac in addresses and ip + "/24" in addresses
    assert d.virsh("domhostname", "natguest", "--source", "lease").stdout.strip() == "corral-guest"
    # The host side reaches the guest over the bridge.
    reaches(d, ip)
    # The guest reaches the outside world, masqueraded behind the host's address there.
    listener = world_listener(d)
    code, output = guest_exec(d, "natguest", "/bin/wget", "-q", "-O-", f"http://{WORLD_PEER}:8080/")
    peer = listener.communicate(timeout=30)[0].strip()
    assert code == 0 and "hello-from-world" in output
    assert peer == WORLD_HOST
    # The port the guest holds.
    ports = d.virsh("net-port-list", "default").stdout.split()
    port_uuid = [p for p in ports if p.count("-") == 4]
    assert len(port_uuid) == 1
    port_xml = d.virsh("net-port-dumpxml", "default", port_uuid[0]).stdout
    assert "<name>natguest</name>" in port_xml and f"<mac address='{mac}'/>" in port_xml and "bridge='virbr0'" in port_xml
    assert "connections='1'" in d.virsh("net-dumpxml", "default").stdout
    # A port made by a client, as libvirt's other drivers make them; its parameters; its removal.
    (tmp_path / "port.xml").write_text("<networkport><owner><name>other</name><uuid>7b06a4c4-4d2a-4bd6-a5a8-6ab1e0f0c1d2</uuid></owner>"
                                       "<mac address='52:54:00:ab:cd:99'/></networkport>")
    made = d.virsh("net-port-create", "default", str(tmp_path / "port.xml")).stdout
    made_uuid = made.split()[2] if "created" in made else made.split()[-1]
    assert made_uuid.count("-") == 4 and "connections='2'" in d.virsh("net-dumpxml", "default").stdout
    conn = libvirt.open(d.uri)
    try:
        port = conn.networkLookupByName("default").portLookupByUUIDString(made_uuid)
        assert port.parameters() == {} and "<name>other</name>" in port.XMLDesc()
        # The guest's port: bandwidth set through its parameters reaches its tap at once.
        guest_port = conn.networkLookupByName("default").portLookupByUUIDString(port_uuid[0])
        assert guest_port.parameters()["inbound.average"] == 500 and "rate 4Mbit" in in_ns(d.ns, "tc", "class", "show", "dev", "vnet0").stdout
        guest_port.setParameters({"inbound.average": 1000, "inbound.peak": 3000})
        assert guest_port.parameters()["inbound.average"] == 1000 and "<inbound average='1000' peak='3000'/>" in guest_port.XMLDesc()
        assert "rate 8Mbit ceil 24Mbit" in in_ns(d.ns, "tc", "class", "show", "dev", "vnet0").stdout
        guest_port.setParameters({"inbound.average": 0})
        assert "htb" not in in_ns(d.ns, "tc", "qdisc", "show", "dev", "vnet0").stdout
        port.delete()
        with pytest.raises(libvirt.libvirtError) as gone:
            conn.networkLookupByName("default").portLookupByUUIDString(made_uuid)
        assert gone.value.get_error_code() == libvirt.VIR_ERR_NO_NETWORK_PORT
    finally:
        conn.close()
    # Its tap and port go with the guest.
    d.virsh("destroy", "natguest")
    wait_for(lambda: "vnet0" not in d.links(), timeout=10, what="the tap to go")
    assert not [p for p in d.virsh("net-port-list", "default").stdout.split() if p.count("-") == 4]
    # net-destroy leaves nothing behind: bridge, table, dnsmasq.
    d.virsh("net-destroy", "default")
    assert "virbr0" not in d.links() and "corral_" not in d.tables() and d.dnsmasq_pids() == []


def network_xml(name, forward="", ip="", bridge="", extra=""):
    return f"<network><name>{name}</name>{forward}{bridge}{ip}{extra}</network>"


def test_procedures_from_libvirt_python_with_events(bare_netns_daemon):
    d = bare_netns_daemon
    libvirt.virEventRegisterDefaultImpl()
    conn = libvirt.open(d.uri)
    events = []
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            libvirt.virEventRunDefaultImpl()
    callback = conn.networkEventRegisterAny(None, libvirt.VIR_NETWORK_EVENT_ID_LIFECYCLE,
                                            lambda c, net, event, detail, opaque: events.append((net.name(), event)), None)
    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        assert conn.listAllNetworks() == [] and conn.numOfNetworks() == 0
        net = conn.networkDefineXML(network_xml("p1", "<forward mode='route'/>", "<ip address='10.50.0.1' prefix='24'><dhcp><range start='10.50.0.10' end='10.50.0.20'/></dhcp></ip>"))
        assert not net.isActive() and net.isPersistent() and not net.autostart()
        bridge = net.bridgeName()
        assert bridge == "virbr0"
        net.setAutostart(1)
        assert net.autostart()
        net.create()
        assert net.isActive() and conn.numOfNetworks() == 1 and conn.numOfDefinedNetworks() == 0
        assert conn.networkLookupByUUIDString(net.UUIDString()).name() == "p1"
        flags = libvirt.VIR_CONNECT_LIST_NETWORKS_ACTIVE | libvirt.VIR_CONNECT_LIST_NETWORKS_AUTOSTART
        assert [n.name() for n in conn.listAllNetworks(flags)] == ["p1"]
        assert conn.listAllNetworks(libvirt.VIR_CONNECT_LIST_NETWORKS_TRANSIENT) == []
        # A route network's table: forwarding both ways, no masquerade.
        rules = in_ns(d.ns, "nft", "list", "ruleset").stdout
        assert "ip daddr 10.50.0.0/24 accept" in rules and "masquerade" not in rules
        assert in_ns(d.ns, "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"
        # net-update, live and config: the host goes to dnsmasq's hosts file and both definitions.
        host = "<host mac='52:54:00:00:00:42' name='fixed' ip='10.50.0.42'/>"
        net.update(libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST, -1, host,
                   libvirt.VIR_NETWORK_UPDATE_AFFECT_LIVE | libvirt.VIR_NETWORK_UPDATE_AFFECT_CONFIG)
        assert host.replace("/>", "/>") in net.XMLDesc(0) and "10.50.0.42" in net.XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE)
        hostsfile = open(os.path.join(d.dir, "run", "networks", "p1", "dnsmasq.hostsfile")).read()
        assert "52:54:00:00:00:42,10.50.0.42,fixed" in hostsfile and len(d.dnsmasq_pids()) == 1
        with pytest.raises(libvirt.libvirtError, match="there is an existing dhcp host entry"):
            net.update(libvirt.VIR_NETWORK_UPDATE_COMMAND_ADD_LAST, libvirt.VIR_NETWORK_SECTION_IP_DHCP_HOST, -1, host, 0)
        with pytest.raises(libvirt.libvirtError, match="can't update 'bridge' section"):
            net.update(libvirt.VIR_NETWORK_UPDATE_COMMAND_MODIFY, libvirt.VIR_NETWORK_SECTION_BRIDGE, -1, "<bridge name='x'/>", 0)
        # A definition given while it runs waits for the next start.
        conn.networkDefineXML(net.XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE).replace("10.50.0.20", "10.50.0.30"))
        assert "10.50.0.20'" in net.XMLDesc(0) and "10.50.0.30'" in net.XMLDesc(libvirt.VIR_NETWORK_XML_INACTIVE)
        # Refusals, as libvirt words them.
        with pytest.raises(libvirt.libvirtError, match="network is already active"):
            net.create()
        with pytest.raises(libvirt.libvirtError, match="network 'p1' is already defined with uuid"):
            conn.networkDefineXML(network_xml("p1"))
        with pytest.raises(libvirt.libvirtError, match="Extra element bogus"):
            conn.networkDefineXMLFlags(network_xml("p3", extra="<bogus/>"), libvirt.VIR_NETWORK_DEFINE_VALIDATE)
        with pytest.raises(libvirt.libvirtError, match="bridge name 'virbr0' already in use"):
            conn.networkDefineXML(network_xml("p2", bridge="<bridge name='virbr0'/>"))
        # Undefining a running network makes it transient; stopping it then removes it.
        net.undefine()
        assert net.isActive() and not net.isPersistent()
        with pytest.raises(libvirt.libvirtError, match="can't undefine transient network"):
            net.undefine()
        net.destroy()
        with pytest.raises(libvirt.libvirtError) as missing:
            conn.networkLookupByName("p1")
        assert missing.value.get_error_code() == libvirt.VIR_ERR_NO_NETWORK
        # A transient network.
        transient = conn.networkCreateXML(network_xml("t1", ip="<ip address='10.51.0.1' prefix='24'/>"))
        assert transient.isActive() and not transient.isPersistent() and transient.bridgeName() == "virbr0"
        assert "connections" not in transient.XMLDesc(0)
        transient.destroy()
        assert conn.listAllNetworks() == [] and "corral_" not in d.tables() and d.dnsmasq_pids() == []
        wait_for(lambda: len(events) >= 7, timeout=10, what="network events")
        defined, undefined, started, stopped = (libvirt.VIR_NETWORK_EVENT_DEFINED, libvirt.VIR_NETWORK_EVENT_UNDEFINED,
                                                libvirt.VIR_NETWORK_EVENT_STARTED, libvirt.VIR_NETWORK_EVENT_STOPPED)
        assert events == [("p1", defined), ("p1", started), ("p1", defined), ("p1", undefined), ("p1", stopped), ("t1", started), ("t1", stopped)]
    finally:
        stop.set()
        conn.networkEventDeregisterAny(callback)
        conn.close()


def test_forward_modes_bridges_tables_and_refusals(bare_netns_daemon, tmp_path):
    d = bare_netns_daemon
    # Isolated: DHCP for guests, nothing forwarded.
    for name, xml, has_table in [
        ("iso", network_xml("iso", ip="<ip address='10.60.0.1' prefix='24'><dhcp><range start='10.60.0.2' end='10.60.0.9'/></dhcp></ip>"), True),
        ("open", network_xml("open", "<forward mode='open'/>", "<ip address='10.61.0.1' prefix='24'/>",
                             extra="<bandwidth><inbound average='2000'/></bandwidth>"), False),
    ]:
        (tmp_path / f"{name}.xml").write_text(xml)
        d.virsh("net-create", str(tmp_path / f"{name}.xml"))
        uuid = d.virsh("net-uuid", name).stdout.strip().replace("-", "")
        assert (f"corral_{uuid}" in d.tables()) == has_table
    iso_rules = in_ns(d.ns, "nft", "list", "ruleset").stdout
    assert "reject" in iso_rules and "masquerade" not in iso_rules and "daddr 10.60.0.0/24" not in iso_rules
    isolated_dnsmasq = open(os.path.join(d.dir, "run", "networks", "iso", "dnsmasq.conf")).read()
    assert "dhcp-option=3\nno-resolv\n" in isolated_dnsmasq
    # Bridge mode: an existing host bridge, no dnsmasq, no table.
    in_ns(d.ns, "ip", "link", "add", "hostbr", "type", "bridge")
    in_ns(d.ns, "ip", "link", "set", "hostbr", "up")
    (tmp_path / "br.xml").write_text(network_xml("br", "<forward mode='bridge'/>", bridge="<bridge name='hostbr'/>"))
    d.virsh("net-create", str(tmp_path / "br.xml"))
    # A private (macvtap) network starts, but a guest cannot use it without host devices.
    (tmp_path / "mv.xml").write_text(network_xml("mv", "<forward mode='private'><interface dev='eth9'/></forward>"))
    d.virsh("net-create", str(tmp_path / "mv.xml"))
    # dnsmasq for the isolated network (DHCP and DNS) and the open one (DNS), none for the others.
    assert len(d.dnsmasq_pids()) == 2
    # Guests on the isolated, open and bridge networks: each tap on its bridge.
    mac_iso, mac_br = "52:54:00:ab:cd:11", "52:54:00:ab:cd:12"
    guest_on(d, "multi", tmp_path,
             f"<interface type='network'><source network='iso'/><mac address='{mac_iso}'/>"
             "<bandwidth><inbound average='1000' peak='2000' burst='64'/></bandwidth></interface>"
             "<interface type='network'><source network='open'/><mac address='52:54:00:ab:cd:13'/></interface>"
             f"<interface type='bridge'><source bridge='hostbr'/><mac address='{mac_br}'/></interface>")
    bridges = {line.split()[1].rstrip(":"): line for line in d.links().splitlines()}
    taps = [name for name in bridges if name.startswith("vnet")]
    assert len(taps) == 3
    masters = sorted(line.split("master ")[1].split()[0] for name, line in bridges.items() if name.startswith("vnet"))
    assert masters == sorted([d.virsh("net-info", "iso").stdout.split("Bridge:")[1].split()[0],
                              d.virsh("net-info", "open").stdout.split("Bridge:")[1].split()[0], "hostbr"])
    ip, _ = leased_address(d, "iso", mac_iso)
    reaches(d, ip)
    # <bandwidth> as traffic control: the interface's on its tap, the open network's on its bridge
    # (kilobytes per second: 1000 → 8 Mbit).
    iso_tap = [n for n, line in bridges.items() if n.startswith("vnet") and "master " + d.virsh("net-info", "iso").stdout.split("Bridge:")[1].split()[0] in line][0]
    assert "rate 8Mbit ceil 16Mbit" in in_ns(d.ns, "tc", "class", "show", "dev", iso_tap).stdout
    open_bridge = d.virsh("net-info", "open").stdout.split("Bridge:")[1].split()[0]
    assert "rate 16Mbit" in in_ns(d.ns, "tc", "class", "show", "dev", open_bridge).stdout
    # Outbound traffic is policed where the kernel has tc's u32 classifier and police action;
    # where it has not (this kind of minimal kernel), the network is refused with that reason.
    in_ns(d.ns, "ip", "link", "add", "probebr", "type", "bridge")
    in_ns(d.ns, "tc", "qdisc", "add", "dev", "probebr", "ingress")
    police = in_ns(d.ns, "tc", "filter", "add", "dev", "probebr", "parent", "ffff:", "protocol", "all", "u32", "match", "u32", "0", "0",
                   "police", "rate", "100kbps", "burst", "10kb", "drop", check=False).returncode == 0
    in_ns(d.ns, "ip", "link", "del", "probebr")
    (tmp_path / "out.xml").write_text(network_xml("out", ip="<ip address='10.62.0.1' prefix='24'/>",
                                                  extra="<bandwidth><outbound average='1000' burst='256'/></bandwidth>"))
    outbound = d.virsh("net-create", str(tmp_path / "out.xml"), check=False)
    if police:
        assert outbound.returncode == 0
        out_bridge = d.virsh("net-info", "out").stdout.split("Bridge:")[1].split()[0]
        assert "police" in in_ns(d.ns, "tc", "filter", "show", "dev", out_bridge, "parent", "ffff:").stdout
        d.virsh("net-destroy", "out")
    else:
        assert outbound.returncode != 0 and "outbound bandwidth cannot be applied" in outbound.stderr
        assert "out" not in d.virsh("net-list", "--all", "--name").stdout.split()
    assert "<bandwidth>\n        <inbound average='1000' peak='2000' burst='64'/>" in d.virsh("dumpxml", "--inactive", "multi").stdout
    # Isolated: the outside world stays out of reach.
    code, _ = guest_exec(d, "multi", "/bin/wget", "-q", "-T", "3", "-O-", f"http://{WORLD_PEER}:8080/")
    assert code != 0
    (tmp_path / "mvguest.xml").write_text(domain_xml("mvguest", str(tmp_path / "mv.serial"),
                                                     devices="<interface type='network'><source network='mv'/></interface>"))
    d.virsh("define", str(tmp_path / "mvguest.xml"))
    refused = d.virsh("start", "mvguest", check=False)
    assert refused.returncode != 0 and "forward mode 'private'" in refused.stderr
    assert "mvguest" in d.virsh("list", "--all").stdout and len([n for n in d.links().split() if n.startswith("vnet")]) == 3
    d.virsh("destroy", "multi")
    wait_for(lambda: "vnet" not in d.links(), timeout=10, what="the taps to go")
    for name in ("iso", "open", "br", "mv"):
        d.virsh("net-destroy", name)
    assert "hostbr" in d.links(), "a bridge mode network leaves the host's bridge alone"
    assert "corral_" not in d.tables() and d.dnsmasq_pids() == []


def test_killed_daemon_finds_its_networks_and_guests_ports_again(netns_daemon, tmp_path):
    d = netns_daemon
    mac = "52:54:00:ab:cd:21"
    guest_on(d, "survivor", tmp_path, f"<interface type='network'><source network='default'/><mac address='{mac}'/></interface>")
    ip, _ = leased_address(d, "default", mac)
    dnsmasq = d.dnsmasq_pids()
    d.kill()
    d.launch()
    assert "active" in d.virsh("net-list").stdout and d.dnsmasq_pids() == dnsmasq
    assert "connections='1'" in d.virsh("net-dumpxml", "default").stdout
    assert ip in d.virsh("domifaddr", "survivor", "--source", "lease").stdout
    # dnsmasq killed while the daemon was down is started again.
    d.kill()
    for pid in dnsmasq:
        os.kill(pid, signal.SIGKILL)
    d.launch()
    assert len(d.dnsmasq_pids()) == 1 and d.dnsmasq_pids() != dnsmasq
    d.virsh("destroy", "survivor")
    d.virsh("net-destroy", "default")
    assert "virbr0" not in d.links() and "vnet" not in d.links() and "corral_" not in d.tables() and d.dnsmasq_pids() == []
    # Autostart brings it back at the next start.
    d.kill()
    d.launch()
    assert "active" in d.virsh("net-list").stdout and "virbr0" in d.links()


def test_dumpxml_matches_libvirtd(bare_netns_daemon, libvirtd, tmp_path):
    """The same definitions on both daemons (defined, not started, so libvirtd touches nothing):
    `net-dumpxml --inactive` is equal."""
    d = bare_netns_daemon
    golden = os.path.join(os.path.dirname(__file__), "..", "Tests", "CorralNetworkTests", "Golden")
    checked = 0
    for case in ["nat-full", "route-dev", "open", "bridge", "hostdev", "private"]:
        xml = open(os.path.join(golden, case + ".in.xml")).read()
        path = tmp_path / (case + ".xml")
        path.write_text(xml)
        ours = run("virsh", "-c", d.uri, "net-define", str(path), check=False)
        theirs = run("virsh", "-c", libvirtd, "net-define", str(path), check=False)
        if theirs.returncode != 0:
            # libvirtd checks hostdev devices against the host's PCI functions.
            assert case == "hostdev" and "SR-IOV" in theirs.stderr or "pci" in theirs.stderr.lower(), theirs.stderr
            continue
        assert ours.returncode == 0, ours.stderr
        name = xml.split("<name>")[1].split("</name>")[0]
        try:
            mine = run("virsh", "-c", d.uri, "net-dumpxml", "--inactive", name).stdout
            reference = run("virsh", "-c", libvirtd, "net-dumpxml", "--inactive", name).stdout
            assert mine == reference, f"{case}:\n{mine}\n---\n{reference}"
            checked += 1
        finally:
            run("virsh", "-c", libvirtd, "net-undefine", name, check=False)
    assert checked >= 5


def test_the_daemon_refuses_bad_network_calls_itself(bare_netns_daemon):
    d = bare_netns_daemon
    client = RawClient(d.socket).open()
    try:
        # NETWORK_DEFINE_XML_FLAGS (432) with an unknown flag, and with XML that is not a network.
        header, payload = client.call(REMOTE, 432, xdr_string("<network><name>x</name></network>") + struct.pack(">I", 4))
        assert header["status"] == ERROR and parse_error(payload)[0] == 8
        header, payload = client.call(REMOTE, 41, xdr_string("<domain/>"))
        assert header["status"] == ERROR and "expecting <network>" in parse_error(payload)[2]
        header, payload = client.call(REMOTE, 41, xdr_string("<network><name>x</name><ip address='10.0.0.1' prefix='999'/></network>"))
        assert header["status"] == ERROR and "Invalid IPv4 prefix" in parse_error(payload)[2]
        # NETWORK_UPDATE (291) of a missing network, and GET_DHCP_LEASES (341) with a flag.
        missing = xdr_string("nope") + b"\x01" * 16
        header, payload = client.call(REMOTE, 291, missing + struct.pack(">IIi", 3, 4, -1) + xdr_string("<host/>") + struct.pack(">I", 0))
        assert header["status"] == ERROR and parse_error(payload)[0] == 43
        header, payload = client.call(REMOTE, 341, missing + struct.pack(">I", 0) + struct.pack(">iI", 1, 1))
        assert header["status"] == ERROR and parse_error(payload)[0] == 8
        # A bridge name that would change the meaning of a firewall rule never reaches nft.
        xml = "<network><name>evil</name><bridge name='a\" accept'/><ip address='10.70.0.1' prefix='24'/></network>"
        header, payload = client.call(REMOTE, 40, xdr_string(xml))
        assert header["status"] == ERROR
    finally:
        client.close()
    assert d.process.poll() is None and "corral_" not in d.tables()


def test_network_interfaces_hotplug_and_unplug(netns_daemon, tmp_path):
    d = netns_daemon
    guest_on(d, "hot", tmp_path, "<interface type='network'><source network='default'/><mac address='52:54:00:ab:cd:31'/></interface>"
             + "".join(f"<controller type='pci' index='{n}' model='pcie-root-port'/>" for n in range(1, 7)))
    wait_for(lambda: booted_enough(d, "hot"), timeout=90, what="the guest to boot")
    (tmp_path / "nic.xml").write_text("<interface type='network'><source network='default'/><mac address='52:54:00:ab:cd:32'/><model type='virtio'/></interface>")
    d.virsh("attach-device", "hot", str(tmp_path / "nic.xml"), "--live")
    assert "master virbr0" in in_ns(d.ns, "ip", "-o", "link", "show", "vnet1").stdout
    assert "connections='2'" in d.virsh("net-dumpxml", "default").stdout
    live = d.virsh("dumpxml", "hot").stdout
    assert "<target dev='vnet1'/>" in live and live.count("portid=") == 2
    # The new interface (the guest's eth1) gets its own lease.
    code, _ = guest_exec(d, "hot", "/bin/udhcpc", "-i", "eth1", "-n", "-q", "-t", "10", "-s", "/etc/udhcpc.script")
    assert code == 0
    leased_address(d, "default", "52:54:00:ab:cd:32", timeout=10)
    d.virsh("detach-interface", "hot", "network", "--mac", "52:54:00:ab:cd:32", "--live")
    wait_for(lambda: "vnet1" not in d.links(), timeout=15, what="the unplugged interface's tap to go")
    assert "connections='1'" in d.virsh("net-dumpxml", "default").stdout and "vnet0" in d.links()
    # A network that does not run cannot take a new interface.
    (tmp_path / "nic2.xml").write_text("<interface type='network'><source network='nowhere'/></interface>")
    refused = d.virsh("attach-device", "hot", str(tmp_path / "nic2.xml"), "--live", check=False)
    assert refused.returncode != 0 and "no network with matching name 'nowhere'" in refused.stderr
    assert "vnet1" not in d.links()


def booted_enough(daemon, name):
    return daemon.virsh("qemu-agent-command", name, '{"execute":"guest-ping"}', check=False).returncode == 0


def test_multiqueue_nic_with_its_own_mtu(netns_daemon, tmp_path):
    """<driver queues='2'>, <mtu size='1400'> and <coalesce>: the daemon makes a multi-queue tap
    with that MTU and batching 7 received frames, QEMU's virtio NIC gets two queue pairs and
    host_mtu, the guest's NIC comes up with both and the MTU, and still gets its lease."""
    d = netns_daemon
    # Two vCPUs: Linux's virtio-net uses as many queue pairs as it has CPUs.
    nic = ("<interface type='network'><source network='default'/><mac address='52:54:00:ab:cd:41'/>"
           "<model type='virtio'/><driver queues='2' rx_queue_size='512'/><mtu size='1400'/>"
           "<coalesce><rx><frames max='7'/></rx></coalesce></interface>")
    (tmp_path / "mq.xml").write_text(domain_xml("mq", str(tmp_path / "mq.serial"), extra="<vcpu>2</vcpu>", devices=nic + AGENT))
    d.virsh("define", str(tmp_path / "mq.xml"))
    d.virsh("start", "mq")
    wait_for(lambda: booted_enough(d, "mq"), timeout=90, what="the guest to boot")
    tap = in_ns(d.ns, "ip", "-d", "link", "show", "vnet0").stdout
    assert "mtu 1400" in tap and "multi_queue" in tap and "master virbr0" in tap, tap
    coalescing = in_ns(d.ns, "ethtool", "-c", "vnet0").stdout
    assert re.search(r"^rx-frames:\s+7$", coalescing, re.M), coalescing

    def qom(prop):
        message = {"execute": "qom-get", "arguments": {"path": "/machine/peripheral/net0", "property": prop}}
        return json.loads(d.virsh("qemu-monitor-command", "mq", json.dumps(message)).stdout)["return"]
    assert qom("mq") is True and qom("host_mtu") == 1400 and qom("rx_queue_size") == 512 and qom("vectors") == 6
    code, out = guest_exec(d, "mq", "/bin/cat", "/sys/class/net/eth0/mtu")
    assert code == 0 and out.strip() == "1400"
    code, out = guest_exec(d, "mq", "/bin/ls", "/sys/class/net/eth0/queues")
    assert code == 0 and {"rx-0", "rx-1", "tx-0", "tx-1"} <= set(out.split()), out
    leased_address(d, "default", "52:54:00:ab:cd:41")
    xml = d.virsh("dumpxml", "mq").stdout
    assert "<driver queues='2' rx_queue_size='512'/>" in xml and "<mtu size='1400'/>" in xml
    assert re.search(r"<coalesce>\s*<rx>\s*<frames max='7'/>", xml), xml


def test_ethernet_scripts_run_with_the_tap(bare_netns_daemon, tmp_path):
    """An ethernet interface's <script> runs with the new tap's name (the tap already there),
    its <downscript> when the guest lets go of it (at stop and at unplug); a script that fails
    fails the start, leaving no tap; a script on another interface type is refused."""
    d = bare_netns_daemon
    log = tmp_path / "scripts.log"
    for name, word in (("up.sh", "up"), ("down.sh", "down")):
        script = tmp_path / name
        script.write_text(f"#!/bin/sh\nip -o link show \"$1\" >/dev/null && echo \"{word} $1\" >> {log}\n")
        script.chmod(0o755)
    failing = tmp_path / "fail.sh"
    failing.write_text("#!/bin/sh\nexit 3\n")
    failing.chmod(0o755)
    nic = (f"<interface type='ethernet'><mac address='52:54:00:ab:cd:61'/><script path='{tmp_path}/up.sh'/>"
           f"<downscript path='{tmp_path}/down.sh'/><model type='virtio'/></interface>")
    guest_on(d, "scripted", tmp_path, nic + "".join(f"<controller type='pci' index='{n}' model='pcie-root-port'/>" for n in range(1, 7)))
    assert log.read_text().splitlines() == ["up vnet0"]
    inactive = d.virsh("dumpxml", "--inactive", "scripted").stdout
    assert f"<script path='{tmp_path}/up.sh'/>\n      <downscript path='{tmp_path}/down.sh'/>" in inactive
    # Plugged and unplugged live: the scripts run for that tap too (the guest, booted, lets go).
    wait_for(lambda: booted_enough(d, "scripted"), timeout=90, what="the guest to boot")
    (tmp_path / "nic.xml").write_text(nic.replace("52:54:00:ab:cd:61", "52:54:00:ab:cd:62"))
    d.virsh("attach-device", "scripted", str(tmp_path / "nic.xml"), "--live")
    assert log.read_text().splitlines()[-1] == "up vnet1"
    d.virsh("detach-interface", "scripted", "ethernet", "--mac", "52:54:00:ab:cd:62", "--live")
    wait_for(lambda: "vnet1" not in d.links(), timeout=20, what="the unplugged tap to go")
    assert "down vnet1" in log.read_text().splitlines()
    d.virsh("destroy", "scripted")
    assert log.read_text().splitlines()[-1] == "down vnet0"
    assert "vnet0" not in d.links()
    # A script that fails: the start fails in libvirt's words and leaves no tap behind.
    (tmp_path / "failing.xml").write_text(domain_xml("failing", None, devices=nic.replace("up.sh", "fail.sh")))
    d.virsh("define", str(tmp_path / "failing.xml"))
    refused = d.virsh("start", "failing", check=False)
    assert refused.returncode != 0 and f"Child process ({tmp_path}/fail.sh vnet0) unexpected exit status 3" in refused.stderr, refused.stderr
    assert "vnet0" not in d.links()
    # Only an ethernet interface runs scripts.
    (tmp_path / "user.xml").write_text(domain_xml("userscript", None, devices=f"<interface type='user'><script path='{tmp_path}/up.sh'/></interface>"))
    d.virsh("define", str(tmp_path / "user.xml"))
    refused = d.virsh("start", "userscript", check=False)
    assert refused.returncode != 0 and "scripts are not supported on interfaces of type user" in refused.stderr
    assert d.process.poll() is None


def test_isolated_ports_from_the_interface_or_its_network(bare_netns_daemon, tmp_path):
    """`<port isolated='yes'/>` makes the guest's tap an isolated port of its bridge (the
    kernel's brport/isolated), from the interface or, when it does not say, from its network;
    the network port says so; a hot-plugged interface gets it too."""
    d = bare_netns_daemon
    (tmp_path / "iso.xml").write_text(network_xml("iso", bridge="<bridge name='iso0'/>", ip="<ip address='192.168.150.1' prefix='24'/>",
                                                  extra="<port isolated='yes'/>"))
    d.virsh("net-define", str(tmp_path / "iso.xml"))
    d.virsh("net-start", "iso")
    in_ns(d.ns, "ip", "link", "add", "hostbr0", "type", "bridge")
    in_ns(d.ns, "ip", "link", "set", "hostbr0", "up")
    nics = ("<interface type='network'><mac address='52:54:00:15:00:01'/><source network='iso'/><model type='virtio'/></interface>"
            "<interface type='network'><mac address='52:54:00:15:00:02'/><source network='iso'/><port isolated='no'/><model type='virtio'/></interface>"
            "<interface type='bridge'><mac address='52:54:00:15:00:03'/><source bridge='hostbr0'/><port isolated='yes'/><model type='virtio'/></interface>"
            + "".join(f"<controller type='pci' index='{n}' model='pcie-root-port'/>" for n in range(1, 8)))
    guest_on(d, "isolated", tmp_path, nics)

    def isolation():
        live = d.virsh("dumpxml", "isolated").stdout
        taps = re.findall(r"<mac address='(52:54:00:15:00:0\d)'/>.*?<target dev='(vnet\d+)'/>", live, re.S)
        return {mac: in_ns(d.ns, "cat", f"/sys/class/net/{tap}/brport/isolated").stdout.strip() for mac, tap in taps}

    assert isolation() == {"52:54:00:15:00:01": "1", "52:54:00:15:00:02": "0", "52:54:00:15:00:03": "1"}
    ports = d.virsh("net-port-list", "iso", "--uuid").stdout.split()
    described = [d.virsh("net-port-dumpxml", "iso", port).stdout for port in ports]
    assert sorted(re.search(r"<port isolated='(\w+)'/>", text).group(1) for text in described) == ["no", "yes"], described
    (tmp_path / "nic.xml").write_text("<interface type='network'><mac address='52:54:00:15:00:04'/><source network='iso'/><model type='virtio'/></interface>")
    d.virsh("attach-device", "isolated", str(tmp_path / "nic.xml"), "--live")
    assert isolation()["52:54:00:15:00:04"] == "1"
    # update-device changes a running port's isolation: the bridge interface's off, and the
    # second network interface's back to its network's (on) once it no longer says.
    (tmp_path / "bridge.xml").write_text("<interface type='bridge'><mac address='52:54:00:15:00:03'/><source bridge='hostbr0'/>"
                                         "<port isolated='no'/><model type='virtio'/></interface>")
    d.virsh("update-device", "isolated", str(tmp_path / "bridge.xml"), "--live")
    (tmp_path / "second.xml").write_text("<interface type='network'><mac address='52:54:00:15:00:02'/><source network='iso'/><model type='virtio'/></interface>")
    d.virsh("update-device", "isolated", str(tmp_path / "second.xml"), "--live")
    assert isolation() == {"52:54:00:15:00:01": "1", "52:54:00:15:00:02": "1", "52:54:00:15:00:03": "0", "52:54:00:15:00:04": "1"}
    live = d.virsh("dumpxml", "isolated").stdout
    assert re.search(r"<mac address='52:54:00:15:00:03'/>.*?<port isolated='no'/>", live, re.S), live
    d.virsh("destroy", "isolated")


def test_a_tap_opened_through_another_tun_node(netns_daemon, tmp_path):
    """`<backend tap='NODE'/>`: the daemon opens the guest's tap through that copy of
    /dev/net/tun (once per queue) and QEMU takes the descriptors, at start and at hot-plug; the
    guest's traffic flows and its statistics are read; a node that is not tun's, or is missing,
    fails the start in libvirt's words and leaves no tap."""
    d = netns_daemon
    node = tmp_path / "tun-copy"
    run("mknod", "-m", "0600", str(node), "c", "10", "200")
    nic = (f"<interface type='network'><source network='default'/><mac address='52:54:00:ab:cd:71'/><model type='virtio'/>"
           f"<driver queues='2'/><backend tap='{node}'/></interface>")
    (tmp_path / "tn.xml").write_text(domain_xml("tn", str(tmp_path / "tn.serial"), extra="<vcpu>2</vcpu>",
                                                devices=nic + AGENT + "".join(f"<controller type='pci' index='{n}' model='pcie-root-port'/>" for n in range(1, 7))))
    d.virsh("define", str(tmp_path / "tn.xml"))
    assert f"<backend tap='{node}'/>" in d.virsh("dumpxml", "--inactive", "tn").stdout
    d.virsh("start", "tn")
    pid = qemu_pid(d, "tn")

    def tun_descriptors():
        targets = []
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                pass
        return targets.count(str(node)), targets.count("/dev/net/tun")
    # Both queues through the copy; QEMU opened no tun device itself.
    assert tun_descriptors() == (2, 0)
    assert "multi_queue" in in_ns(d.ns, "ip", "-d", "link", "show", "vnet0").stdout
    wait_for(lambda: booted_enough(d, "tn"), timeout=90, what="the guest to boot")
    leased_address(d, "default", "52:54:00:ab:cd:71")
    stats = d.virsh("domifstat", "tn", "vnet0").stdout
    assert int(re.search(r"vnet0 rx_bytes (\d+)", stats).group(1)) > 0, stats
    # Hot-plugged: one descriptor more, by the monitor; the guest's eth1 gets its own lease.
    (tmp_path / "nic.xml").write_text(nic.replace("52:54:00:ab:cd:71", "52:54:00:ab:cd:72").replace("<driver queues='2'/>", ""))
    d.virsh("attach-device", "tn", str(tmp_path / "nic.xml"), "--live")
    assert tun_descriptors() == (3, 0)
    code, _ = guest_exec(d, "tn", "/bin/udhcpc", "-i", "eth1", "-n", "-q", "-t", "10", "-s", "/etc/udhcpc.script")
    assert code == 0
    leased_address(d, "default", "52:54:00:ab:cd:72", timeout=10)
    d.virsh("detach-interface", "tn", "network", "--mac", "52:54:00:ab:cd:72", "--live")
    wait_for(lambda: tun_descriptors() == (2, 0), timeout=20, what="QEMU to let go of the unplugged tap")
    d.virsh("destroy", "tn")
    assert "vnet0" not in d.links()
    # Not a tun device, or no node at all: the start fails and leaves no tap.
    for name, path, message in (("nottun", "/dev/null", "Unable to create tap device vnet0: Inappropriate ioctl for device"),
                                ("notnode", str(tmp_path / "missing"), f"Unable to open {tmp_path}/missing, is tun module loaded?: No such file or directory")):
        (tmp_path / "bad.xml").write_text(domain_xml(name, None, devices=nic.replace(str(node), path)))
        d.virsh("define", str(tmp_path / "bad.xml"))
        refused = d.virsh("start", name, check=False)
        assert refused.returncode != 0 and message in refused.stderr, refused.stderr
        assert "vnet0" not in d.links()
    # Only taps: a user interface with a tap node is refused at start, in libvirt's words.
    (tmp_path / "user.xml").write_text(domain_xml("usertap", None, devices=f"<interface type='user'><mac address='52:54:00:ab:cd:73'/><backend tap='{node}'/></interface>"))
    d.virsh("define", str(tmp_path / "user.xml"))
    refused = d.virsh("start", "usertap", check=False)
    assert "interface 52:54:00:ab:cd:73 - custom tap device path is not supported for network interfaces of type user" in refused.stderr
    assert d.process.poll() is None
