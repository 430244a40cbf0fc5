"""`direct` interfaces (macvtap), end to end inside network namespaces these tests make: corrald
runs in a namespace of its own ("the host") whose device out0 is one end of a veth pair; the other
end, in0, is in a second namespace ("the outside world") where dnsmasq hands out addresses. A
guest's macvtap on out0 puts the guest on that outside network with its own MAC address, as a
macvtap on a host's NIC does. Covers the live XML, the macvtap's mode and address, a DHCP lease
and pings through it, interface statistics, hot-plug and unplug, a daemon restart, clean-up, and
libvirt's refusals."""
import re
import subprocess
import time

import pytest

from guest import domain_xml, wait_for
from test_networks import AGENT, WORLD_PEER, NamespacedDaemon, guest_exec, in_ns

GUEST_MAC = "52:54:00:d1:00:01"
HOTPLUG_MAC = "52:54:00:d1:00:02"


@pytest.fixture
def world(tmp_path):
    """corrald in its namespace, and dnsmasq serving DHCP on the outside world's side of out0."""
    daemon = NamespacedDaemon(tmp_path, default_network=False)
    leases = tmp_path / "world.leases"
    dnsmasq = subprocess.Popen(
        ["ip", "netns", "exec", daemon.world, "/usr/sbin/dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
         "--interface=in0", "--bind-interfaces", "--except-interface=lo", "--dhcp-range=10.99.0.100,10.99.0.150,1h",
         f"--dhcp-leasefile={leases}", f"--pid-file={tmp_path / 'world.pid'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    daemon.leases = leases
    try:
        yield daemon
    finally:
        dnsmasq.terminate()
        dnsmasq.wait(10)
        daemon.close()


def direct_interface(mac, mode=None, dev="out0"):
    mode_attribute = f" mode='{mode}'" if mode else ""
    return f"<interface type='direct'><mac address='{mac}'/><source dev='{dev}'{mode_attribute}/><model type='virtio'/></interface>"


def define(daemon, tmp_path, name, interfaces):
    xml = domain_xml(name, str(tmp_path / f"{name}.serial"), devices=interfaces + AGENT)
    (tmp_path / f"{name}.xml").write_text(xml)
    return daemon.virsh("define", str(tmp_path / f"{name}.xml"))


def leased_ip(daemon, mac, timeout=90):
    found = {}

    def leased():
        text = daemon.leases.read_text() if daemon.leases.exists() else ""
        for line in text.splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[1].lower() == mac:
                found["ip"] = fields[2]
                return True
        return False
    wait_for(leased, timeout=timeout, what=f"the outside world's DHCP lease for {mac}")
    return found["ip"]


def macvtap(daemon, name):
    """`ip -d link show NAME` in the daemon's namespace, or None when there is no such device."""
    shown = in_ns(daemon.ns, "ip", "-d", "link", "show", name, check=False)
    return shown.stdout if shown.returncode == 0 else None


def test_a_guest_on_a_macvtap_reaches_the_outside_network_with_its_own_address(world, tmp_path):
    define(world, tmp_path, "mv", direct_interface(GUEST_MAC, mode="bridge"))
    inactive = world.virsh("dumpxml", "mv", "--inactive").stdout
    assert "<source dev='out0' mode='bridge'/>" in inactive and "<target dev" not in inactive
    world.virsh("start", "mv")

    live = world.virsh("dumpxml", "mv").stdout
    assert re.search(r"<source dev='out0' mode='bridge'/>\s*<target dev='macvtap0'/>", live), live
    link = macvtap(world, "macvtap0")
    assert link and "macvtap0@out0" in link and "macvtap mode bridge" in link and GUEST_MAC in link, link

    # The guest's own MAC leases an address on the outside network, which answers it there.
    ip = leased_ip(world, GUEST_MAC)
    wait_for(lambda: in_ns(world.world, "ping", "-c", "1", "-W", "1", ip, check=False).returncode == 0, timeout=30, what=f"{ip} to answer")
    code, output = guest_exec(world, "mv", "/bin/ping", "-c", "2", "-W", "2", WORLD_PEER)
    assert code == 0, output

    # Statistics from the guest's side: a macvtap is not swapped as a tap is.
    stats = world.virsh("domifstat", "mv", "macvtap0").stdout
    counters = {m.group(1): int(m.group(2)) for m in re.finditer(r"macvtap0 (\w+) (\d+)", stats)}
    assert counters["rx_packets"] >= 2 and counters["tx_packets"] >= 2, stats
    host = in_ns(world.ns, "cat", "/sys/class/net/macvtap0/statistics/tx_packets").stdout
    assert abs(int(host) - counters["tx_packets"]) <= 4, (host, stats)  # the guest's sends are the macvtap's

    # A daemon that went away and came back still knows the macvtap, and removes it at the end.
    world.kill()
    world.launch()
    assert "<target dev='macvtap0'/>" in world.virsh("dumpxml", "mv").stdout
    world.virsh("destroy", "mv")
    wait_for(lambda: macvtap(world, "macvtap0") is None, timeout=10, what="the macvtap to go")


def test_a_macvtap_plugs_into_a_running_guest_and_unplugs(world, tmp_path):
    define(world, tmp_path, "hot", "")
    world.virsh("start", "hot")
    (tmp_path / "nic.xml").write_text(direct_interface(HOTPLUG_MAC))
    world.virsh("attach-device", "hot", str(tmp_path / "nic.xml"), "--live")
    live = world.virsh("dumpxml", "hot").stdout
    assert re.search(r"<source dev='out0' mode='vepa'/>\s*<target dev='macvtap0'/>", live), live
    link = macvtap(world, "macvtap0")
    assert link and "macvtap mode vepa" in link and HOTPLUG_MAC in link, link
    # The guest drives the new NIC: it leases an address through it.
    code, output = guest_exec(world, "hot", "/bin/sh", "-c", "udhcpc -i eth0 -n -q -s /etc/udhcpc.script >/dev/null 2>&1; cat /sys/class/net/eth0/address")
    assert output.strip() == HOTPLUG_MAC, output
    ip = leased_ip(world, HOTPLUG_MAC)
    wait_for(lambda: in_ns(world.world, "ping", "-c", "1", "-W", "1", ip, check=False).returncode == 0, timeout=30, what=f"{ip} to answer")

    world.virsh("detach-device", "hot", str(tmp_path / "nic.xml"), "--live")
    wait_for(lambda: "type='direct'" not in world.virsh("dumpxml", "hot").stdout, timeout=30, what="the NIC to go")
    wait_for(lambda: macvtap(world, "macvtap0") is None, timeout=10, what="the macvtap to go")
    world.virsh("destroy", "hot")


def test_refusals_are_libvirts_and_leave_nothing_behind(world, tmp_path):
    for interface, message in [
        ("<interface type='direct'><model type='virtio'/></interface>", "interface type='direct' requires a 'source' element"),
        ("<interface type='direct'><source mode='bridge'/></interface>", "Missing required attribute 'dev' in element 'source'"),
        ("<interface type='direct'><source dev='out0' mode='switch'/></interface>", "Invalid value for attribute 'mode' in element 'source': 'switch'"),
    ]:
        (tmp_path / "bad.xml").write_text(domain_xml("bad", str(tmp_path / "bad.serial"), devices=interface))
        refused = world.virsh("define", str(tmp_path / "bad.xml"), check=False)
        assert refused.returncode != 0 and message in refused.stderr, refused.stderr

    define(world, tmp_path, "nodev", direct_interface(GUEST_MAC, dev="nosuch0"))
    refused = world.virsh("start", "nodev", check=False)
    assert refused.returncode != 0 and "error creating macvtap interface macvtap0@nosuch0" in refused.stderr, refused.stderr
    define(world, tmp_path, "owner", direct_interface(GUEST_MAC, mode="passthrough"))
    refused = world.virsh("start", "owner", check=False)
    assert refused.returncode != 0 and "macvtap mode 'passthrough' is not supported" in refused.stderr, refused.stderr
    assert world.virsh("list", "--name").stdout.split() == []
    assert "macvtap" not in world.links()
