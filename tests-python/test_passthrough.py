"""Monitor passthrough through the QEMU program: virsh qemu-monitor-command and libvirt_qemu."""
import json
import re

import libvirt
import libvirt_qemu
import pytest

from conftest import binary, run
from guest import domain_xml


@pytest.fixture
def running(daemon, tmp_path):
    (tmp_path / "g.xml").write_text(domain_xml("mon", str(tmp_path / "serial.log")))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "g.xml"))
    run("virsh", "-c", daemon.uri, "start", "mon")
    yield daemon
    run("virsh", "-c", daemon.uri, "destroy", "mon", check=False)


def test_qmp_and_hmp_through_virsh(running):
    daemon = running
    out = run("virsh", "-c", daemon.uri, "qemu-monitor-command", "mon", '{"execute":"query-status"}').stdout
    reply = json.loads(out)
    assert reply["return"]["status"] == "running" and reply["id"].startswith("libvirt-")
    own = json.loads(run("virsh", "-c", daemon.uri, "qemu-monitor-command", "mon", '{"execute":"query-status","id":"mine"}').stdout)
    assert own["id"] == "mine"
    error = json.loads(run("virsh", "-c", daemon.uri, "qemu-monitor-command", "mon", '{"execute":"no-such-command"}').stdout)
    assert error["error"]["class"] == "CommandNotFound"
    hmp = run("virsh", "-c", daemon.uri, "qemu-monitor-command", "mon", "--hmp", "info status").stdout
    assert "VM status: running" in hmp
    # A pause through passthrough is noticed by the daemon (its own session sees the event).
    run("virsh", "-c", daemon.uri, "qemu-monitor-command", "mon", '{"execute":"stop"}')
    assert run("virsh", "-c", daemon.uri, "domstate", "mon", "--reason").stdout.strip().startswith("paused")
    run("virsh", "-c", daemon.uri, "qemu-monitor-command", "mon", "--hmp", "cont")
    assert run("virsh", "-c", daemon.uri, "domstate", "mon").stdout.strip() == "running"
    assert "tainted: custom monitor control commands issued" in run("virsh", "-c", daemon.uri, "dominfo", "mon").stdout
    ours = run(binary("corral"), "-c", daemon.uri, "qemu-monitor-command", "mon", "--return-value", '{"execute":"query-status"}').stdout
    assert json.loads(ours)["status"] == "running"


def test_libvirt_qemu_monitor_command(running):
    conn = libvirt.open(running.uri)
    try:
        dom = conn.lookupByName("mon")
        reply = json.loads(libvirt_qemu.qemuMonitorCommand(dom, '{"execute":"query-version"}', 0))
        assert reply["return"]["qemu"]["major"] >= 7
        assert "running" in libvirt_qemu.qemuMonitorCommand(dom, "info status", libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP)
    finally:
        conn.close()


def test_read_only_refuses_passthrough(running):
    result = run("virsh", "-r", "-c", running.uri_ro, "qemu-monitor-command", "mon", '{"execute":"query-status"}', check=False)
    assert result.returncode != 0
    assert "read only access prevents virDomainQemuMonitorCommand" in result.stderr


def test_passthrough_needs_a_running_guest(daemon, tmp_path):
    (tmp_path / "g.xml").write_text(domain_xml("off", str(tmp_path / "s.log")))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "g.xml"))
    result = run("virsh", "-c", daemon.uri, "qemu-monitor-command", "off", '{"execute":"query-status"}', check=False)
    assert "domain is not running" in result.stderr
