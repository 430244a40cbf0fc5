"""libvirt's calls the guest agent answers, with the test guest's real qemu-ga: `domtime`,
`domhostname`, `domifaddr --source agent|lease|arp`, `domfsinfo`, `domfsfreeze`/`domfsthaw`,
`set-user-password`, and their refusals."""
import os
import struct
import subprocess
import time

import libvirt
import pytest

import rawrpc
from conftest import run
from guest import domain_xml, wait_for

AGENT = "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"


@pytest.fixture
def agent_guest(daemon, tmp_path):
    serial = str(tmp_path / "serial.log")
    (tmp_path / "g.xml").write_text(domain_xml("ga", serial, devices=AGENT))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "g.xml"))
    run("virsh", "-c", daemon.uri, "start", "ga")
    wait_for(lambda: "agent=/dev/vport" in open(serial, errors="replace").read() if os.path.exists(serial) else False,
             timeout=90, what="the guest agent")
    # The agent answers once it runs.
    wait_for(lambda: run("virsh", "-c", daemon.uri, "qemu-agent-command", "ga", '{"execute":"guest-ping"}', check=False).returncode == 0,
             timeout=30, what="guest-ping")
    yield daemon
    run("virsh", "-c", daemon.uri, "destroy", "ga", check=False)


def test_time_hostname_and_interfaces_from_the_agent(agent_guest):
    uri = agent_guest.uri
    out = run("virsh", "-c", uri, "domtime", "ga").stdout
    seconds = int(out.split(":")[1])
    assert abs(seconds - time.time()) < 120, out
    conn = libvirt.open(uri)
    dom = conn.lookupByName("ga")
    guest_time = dom.getTime()
    assert set(guest_time) == {"seconds", "nseconds"} and 0 <= guest_time["nseconds"] < 1_000_000_000
    hostname = run("virsh", "-c", uri, "domhostname", "ga").stdout.strip()
    # What the guest's gethostname() says, as the agent reports it.
    reply = run("virsh", "-c", uri, "qemu-agent-command", "ga", '{"execute":"guest-get-host-name"}').stdout
    assert f'"host-name":"{hostname}"' in reply.replace(" ", "")
    addresses = dom.interfaceAddresses(libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT)
    assert "lo" in addresses and {"addr": "127.0.0.1", "prefix": 8, "type": libvirt.VIR_IP_ADDR_TYPE_IPV4} in addresses["lo"]["addrs"]
    agent_table = run("virsh", "-c", uri, "domifaddr", "ga", "--source", "agent").stdout
    assert "127.0.0.1/8" in agent_table
    # No libvirt network carries the guest's NIC: no leases; its MAC is in no ARP table.
    assert dom.interfaceAddresses(libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE) == {}
    assert dom.interfaceAddresses(libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP) == {}
    with pytest.raises(libvirt.libvirtError, match="no hostname found"):
        dom.hostname(libvirt.VIR_DOMAIN_GET_HOSTNAME_LEASE)
    conn.close()


def test_filesystems_freeze_and_password(agent_guest):
    uri = agent_guest.uri
    conn = libvirt.open(uri)
    dom = conn.lookupByName("ga")
    # The guest's agent reports its mounts (an initramfs has no disk-backed ones); whatever it
    # says arrives as a list of (mountpoint, name, type, disks).
    info = dom.fsInfo()
    assert isinstance(info, list) and all(len(entry) == 4 for entry in info)
    # Freezing what can be frozen, then thawing: counts as the agent gives them.
    frozen = dom.fsFreeze()
    assert frozen >= 0
    assert dom.fsThaw() >= 0
    # The agent's own refusal comes back as libvirt's error.
    with pytest.raises(libvirt.libvirtError, match="unable to execute QEMU agent command 'guest-set-user-password'"):
        dom.setUserPassword("nosuchuser", "secret", 0)
    conn.close()


def test_refusals(daemon, agent_guest, tmp_path):
    uri = daemon.uri
    # A guest without an agent channel.
    (tmp_path / "n.xml").write_text(domain_xml("noagent", str(tmp_path / "n.log")))
    run("virsh", "-c", uri, "define", str(tmp_path / "n.xml"))
    run("virsh", "-c", uri, "start", "noagent")
    try:
        result = run("virsh", "-c", uri, "domtime", "noagent", check=False)
        assert result.returncode != 0 and "QEMU guest agent is not configured" in result.stderr
    finally:
        run("virsh", "-c", uri, "destroy", "noagent", check=False)
    client = rawrpc.RawClient(daemon.socket)
    client.open()
    conn = libvirt.open(uri)
    uuid = conn.lookupByName("ga").UUID()
    dom = rawrpc.xdr_domain("ga", uuid)
    cases = [
        (338, dom + struct.pack(">qII", 1, 1_000_000_000, 0), "nseconds in virDomainSetTime must be less than 1000000000"),
        (338, dom + struct.pack(">qII", 2**62, 0, 0), "is too big"),
        (353, dom + struct.pack(">II", 7, 0), "Unknown IP address data source 7"),
        (277, dom + struct.pack(">I", 3), "mutually exclusive"),
    ]
    for procedure, body, message in cases:
        header, payload = client.call(rawrpc.REMOTE, procedure, body)
        assert header["status"] == rawrpc.ERROR and message in rawrpc.parse_error(payload)[2], (procedure, rawrpc.parse_error(payload))
    client.close()
    # Reading addresses is allowed on a read-only connection, except from the agent.
    readonly = rawrpc.RawClient(daemon.socket_ro)
    readonly.open(read_only=True)
    header, _ = readonly.call(rawrpc.REMOTE, 353, dom + struct.pack(">II", 0, 0))
    assert header["status"] == rawrpc.OK
    header, payload = readonly.call(rawrpc.REMOTE, 353, dom + struct.pack(">II", 1, 0))
    assert header["status"] == rawrpc.ERROR and "read only access prevents virDomainInterfaceAddresses" in rawrpc.parse_error(payload)[2]
    readonly.close()
    conn.close()
    assert daemon.alive()


def test_guestinfo_reports_what_the_agent_knows(agent_guest):
    uri = agent_guest.uri
    conn = libvirt.open(uri)
    dom = conn.lookupByName("ga")
    hostname = run("virsh", "-c", uri, "domhostname", "ga").stdout.strip()
    info = dom.guestInfo(libvirt.VIR_DOMAIN_GUEST_INFO_HOSTNAME | libvirt.VIR_DOMAIN_GUEST_INFO_INTERFACES)
    assert info["hostname"] == hostname
    names = [info[f"if.{i}.name"] for i in range(info["if.count"])]
    assert "lo" in names
    lo = names.index("lo")
    assert info[f"if.{lo}.addr.0.addr"] == "127.0.0.1" and info[f"if.{lo}.addr.0.prefix"] == 8
    # Everything at once: what the agent cannot tell is left out, not an error.
    everything = run("virsh", "-c", uri, "guestinfo", "ga").stdout
    assert f"hostname            : {hostname}" in everything and "if.count" in everything
    timezone = dom.guestInfo(libvirt.VIR_DOMAIN_GUEST_INFO_TIMEZONE)
    assert "timezone.offset" in timezone
    with pytest.raises(libvirt.libvirtError, match="unsupported guest information types '0x80'"):
        dom.guestInfo(0x80)
    conn.close()


def test_the_agent_channel_state_and_lifecycle_event(daemon, tmp_path):
    serial = str(tmp_path / "serial.log")
    (tmp_path / "g.xml").write_text(domain_xml("gl", serial, devices=AGENT))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "g.xml"))
    run("virsh", "-c", daemon.uri, "start", "gl", "--paused")
    watcher = subprocess.Popen(["virsh", "-c", daemon.uri, "event", "gl", "--event", "agent-lifecycle", "--timeout", "90"],
                               stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    run("virsh", "-c", daemon.uri, "resume", "gl")
    events = watcher.communicate(timeout=120)[0]
    assert "agent-lifecycle" in events and "state: 'connected'" in events and "reason: 'channel event'" in events
    assert "state='connected'" in run("virsh", "-c", daemon.uri, "dumpxml", "gl").stdout
    run("virsh", "-c", daemon.uri, "destroy", "gl")
