"""Socket interfaces (`<interface type='server'|'client'|'mcast'|'udp'>`): QEMU's socket netdev
joins two guests' NICs with no host networking at all. corrald runs in a network namespace of the
test's, so the multicast group's traffic stays on that namespace's loopback device. Two guests
ping each other over a server/client pair and over a multicast group; a client NIC hot-plugs
into a running guest (libvirt 9.0 refuses that hot-plug) and unplugs; libvirt's refusals."""
import pytest

from guest import domain_xml, wait_for
from test_networks import AGENT, NamespacedDaemon, guest_exec, in_ns


@pytest.fixture
def daemon(tmp_path):
    daemon = NamespacedDaemon(tmp_path, default_network=False)
    in_ns(daemon.ns, "ip", "link", "set", "lo", "multicast", "on")
    in_ns(daemon.ns, "ip", "route", "add", "224.0.0.0/4", "dev", "lo")
    yield daemon
    daemon.close()


def nic(kind, mac, source):
    return f"<interface type='{kind}'><mac address='{mac}'/>{source}<model type='virtio'/></interface>"


def define(daemon, tmp_path, name, interfaces):
    (tmp_path / f"{name}.xml").write_text(domain_xml(name, str(tmp_path / f"{name}.serial"), devices=interfaces + AGENT))
    daemon.virsh("define", str(tmp_path / f"{name}.xml"))


def configure(daemon, name, mac, ip):
    """Gives the guest's NIC with `mac` the address `ip`/24 (through the guest agent)."""
    script = (f"for d in /sys/class/net/eth*; do [ \"$(cat $d/address)\" = {mac} ] && "
              f"ifconfig $(basename $d) {ip} netmask 255.255.255.0 up && echo configured; done")
    wait_for(lambda: "configured" in guest_exec(daemon, name, "/bin/sh", "-c", script)[1], timeout=60, what=f"{name}'s NIC {mac}")


def pings(daemon, name, ip):
    return guest_exec(daemon, name, "/bin/ping", "-c", "2", "-W", "2", ip)[0] == 0


def test_two_guests_talk_over_a_server_client_pair_and_a_multicast_group(daemon, tmp_path):
    define(daemon, tmp_path, "left", nic("server", "52:54:00:5c:00:01", "<source address='127.0.0.1' port='5600'/>")
           + nic("mcast", "52:54:00:5c:00:02", "<source address='230.0.0.7' port='5601'/>"))
    define(daemon, tmp_path, "right", nic("client", "52:54:00:5c:00:03", "<source address='127.0.0.1' port='5600'/>")
           + nic("mcast", "52:54:00:5c:00:04", "<source address='230.0.0.7' port='5601'/>"))
    # The server first: QEMU's client connects once, at start.
    daemon.virsh("start", "left")
    daemon.virsh("start", "right")
    live = daemon.virsh("dumpxml", "right").stdout
    assert "<source address='127.0.0.1' port='5600'/>" in live and "<source address='230.0.0.7' port='5601'/>" in live, live
    configure(daemon, "left", "52:54:00:5c:00:01", "10.56.0.1")
    configure(daemon, "left", "52:54:00:5c:00:02", "10.57.0.1")
    configure(daemon, "right", "52:54:00:5c:00:03", "10.56.0.2")
    configure(daemon, "right", "52:54:00:5c:00:04", "10.57.0.2")
    wait_for(lambda: pings(daemon, "right", "10.56.0.1"), timeout=30, what="the server/client link")
    wait_for(lambda: pings(daemon, "left", "10.57.0.2"), timeout=30, what="the multicast link")
    for name in ("left", "right"):
        daemon.virsh("destroy", name)


def test_a_client_nic_plugs_into_a_running_guest_and_unplugs(daemon, tmp_path):
    define(daemon, tmp_path, "peer", nic("server", "52:54:00:5c:00:11", "<source address='127.0.0.1' port='5610'/>"))
    define(daemon, tmp_path, "hot", "")
    daemon.virsh("start", "peer")
    daemon.virsh("start", "hot")
    (tmp_path / "nic.xml").write_text(nic("client", "52:54:00:5c:00:12", "<source address='127.0.0.1' port='5610'/>"))
    daemon.virsh("attach-device", "hot", str(tmp_path / "nic.xml"), "--live")
    assert "<interface type='client'>" in daemon.virsh("dumpxml", "hot").stdout
    configure(daemon, "peer", "52:54:00:5c:00:11", "10.58.0.1")
    configure(daemon, "hot", "52:54:00:5c:00:12", "10.58.0.2")
    wait_for(lambda: pings(daemon, "hot", "10.58.0.1"), timeout=30, what="the hot-plugged link")
    daemon.virsh("detach-device", "hot", str(tmp_path / "nic.xml"), "--live")
    wait_for(lambda: "type='client'" not in daemon.virsh("dumpxml", "hot").stdout, timeout=30, what="the NIC to go")
    assert not pings(daemon, "hot", "10.58.0.1")
    for name in ("hot", "peer"):
        daemon.virsh("destroy", name)


def test_refusals_are_libvirts(daemon, tmp_path):
    for interface, message in [
        ("<interface type='client'><source port='5600'/></interface>", "Missing required attribute 'address' in element 'source'"),
        ("<interface type='server'/>", "interface type='server' requires a 'source' element"),
        ("<interface type='mcast'><source address='230.0.0.7' port='x'/></interface>", "Invalid value for attribute 'port' in element 'source': 'x'"),
        ("<interface type='udp'><source address='127.0.0.1' port='5600'/></interface>", "'<local>' element missing for 'udp' socket interface"),
    ]:
        (tmp_path / "bad.xml").write_text(domain_xml("bad", str(tmp_path / "bad.serial"), devices=interface))
        refused = daemon.virsh("define", str(tmp_path / "bad.xml"), check=False)
        assert refused.returncode != 0 and message in refused.stderr, (interface, refused.stderr)
