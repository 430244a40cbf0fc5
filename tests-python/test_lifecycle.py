"""Running guests through the real virsh: passthrough applied, the lifecycle, events, restart."""
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import Daemon, binary, run
from guest import booted, domain_xml, qemu_pid, wait_for, wait_for_boot

NS = """
  <qemu:commandline>
    <qemu:arg value='-device'/>
    <qemu:arg value='pvpanic'/>
    <qemu:env name='CORRAL_PASSTHROUGH' value='hello'/>
    <qemu:alter option='-device'>
      <qemu:match>virtio-balloon</qemu:match>
      <qemu:remove/>
    </qemu:alter>
    <qemu:alter option='-rtc'>
      <qemu:modify>driftfix=slew</qemu:modify>
    </qemu:alter>
  </qemu:commandline>
  <qemu:override>
    <qemu:device alias='ua-net0'>
      <qemu:frontend><qemu:property name='x-txburst' type='unsigned' value='128'/></qemu:frontend>
    </qemu:device>
  </qemu:override>
  <qemu:object id='rng-from-cfg'><qom-type>rng-random</qom-type><filename>/dev/urandom</filename></qemu:object>
"""


def qmp(sock_path, *commands):
    """Runs QMP commands on a monitor socket (the passthrough one, which the daemon leaves free)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sock_path)
    f = s.makefile("rwb")
    json.loads(f.readline())
    results = []
    for command in [{"execute": "qmp_capabilities"}] + list(commands):
        f.write((json.dumps(command) + "\n").encode())
        f.flush()
        while True:
            message = json.loads(f.readline())
            if "event" in message:
                continue
            results.append(message)
            break
    s.close()
    return results[1:]


def pid_of(daemon, name):
    return qemu_pid(daemon, name)


def test_start_applies_passthrough_and_taints(daemon, tmp_path):
    serial = str(tmp_path / "serial.log")
    xml = domain_xml("pt", serial, namespace=NS, devices="<interface type='user'><model type='virtio'/><alias name='ua-net0'/></interface>")
    (tmp_path / "pt.xml").write_text(xml)
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "pt.xml"))
    assert "Domain 'pt' started" in run("virsh", "-c", daemon.uri, "start", "pt").stdout
    try:
        pid = pid_of(daemon, "pt")
        argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[:-1]
        argv = [a.decode() for a in argv]
        env = dict(e.decode().split("=", 1) for e in open(f"/proc/{pid}/environ", "rb").read().split(b"\0") if b"=" in e)
        # Extra args after the generated devices, before -sandbox; extra env present.
        assert argv[argv.index("-sandbox") - 2:argv.index("-sandbox")] == ["-device", "pvpanic"]
        assert argv.index("-readconfig") < argv.index("pvpanic")
        assert env["CORRAL_PASSTHROUGH"] == "hello" and env["LC_ALL"] == "C"
        # Alteration rules: the balloon is gone, -rtc was modified.
        assert not any("virtio-balloon" in a for a in argv)
        assert argv[argv.index("-rtc") + 1] == "base=utc,driftfix=slew"
        passthrough = os.path.join(daemon.dir, "run", "domains", "pt", "passthrough.sock")
        objects, burst, status = qmp(passthrough, {"execute": "qom-list", "arguments": {"path": "/objects"}},
                                     {"execute": "qom-get", "arguments": {"path": "/machine/peripheral/ua-net0", "property": "x-txburst"}},
                                     {"execute": "query-status"})
        assert "rng-from-cfg" in [o["name"] for o in objects["return"]]  # the config section took effect
        assert burst["return"] == 128  # the override changed the device property
        assert status["return"]["status"] == "running"
        info = run("virsh", "-c", daemon.uri, "dominfo", "pt").stdout
        assert "tainted: custom configuration parameters specified" in info
        assert "tainted: custom device configuration" in info
        assert re.search(r"^Id:\s+\d+$", info, re.M)
        log = open(os.path.join(daemon.dir, "run", "domains", "pt", "qemu.log")).read()
        assert "is tainted: custom-argv" in log
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "pt", check=False)
    # Taints are cleared when the guest stops.
    assert "tainted" not in run("virsh", "-c", daemon.uri, "dominfo", "pt").stdout


def test_lifecycle_states_and_events(daemon, tmp_path):
    serial = str(tmp_path / "serial.log")
    (tmp_path / "g.xml").write_text(domain_xml("life", serial))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "g.xml"))
    events = subprocess.Popen(["virsh", "-c", daemon.uri, "event", "--all", "--loop"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        state = lambda: run("virsh", "-c", daemon.uri, "domstate", "life", "--reason").stdout.strip()
        run("virsh", "-c", daemon.uri, "start", "life")
        assert state() == "running (booted)"
        wait_for_boot(serial, what="the guest to boot")
        run("virsh", "-c", daemon.uri, "suspend", "life")
        assert state() == "paused (user)"
        run("virsh", "-c", daemon.uri, "resume", "life")
        assert state() == "running (unpaused)"
        run("virsh", "-c", daemon.uri, "reboot", "life")
        wait_for(lambda: open(serial).read().count("CORRAL-GUEST-BOOTED") == 2, what="the guest to reboot")
        wait_for(lambda: booted(serial) and open(serial).read().count("button=/dev") == 2, what="the rebooted guest")
        run("virsh", "-c", daemon.uri, "shutdown", "life")
        wait_for(lambda: state() == "shut off (shutdown)", what="the guest to power off")
        run("virsh", "-c", daemon.uri, "start", "life")
        run("virsh", "-c", daemon.uri, "destroy", "life")
        assert state() == "shut off (destroyed)"
        assert sorted(os.listdir(os.path.join(daemon.dir, "run", "domains", "life"))) == ["qemu.log"]
        time.sleep(0.5)
    finally:
        events.send_signal(signal.SIGINT)
        out = events.communicate(timeout=10)[0]
    expected = ["Started Booted", "Suspended Paused", "Resumed Unpaused", "reboot", "Shutdown Finished after guest request",
                "Stopped Shutdown", "Started Booted", "Stopped Destroyed"]
    seen = [line for line in out.splitlines() if line.startswith("event")]
    positions = []
    for e in expected:
        hits = [i for i, line in enumerate(seen) if e in line and i not in positions and (not positions or i > positions[-1])]
        assert hits, f"missing event {e!r} in {seen}"
        positions.append(hits[0])


def test_guest_powering_itself_off_and_qemu_killed_are_noticed(daemon, tmp_path):
    serial = str(tmp_path / "serial.log")
    (tmp_path / "g.xml").write_text(domain_xml("noticed", serial))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "g.xml"))
    run("virsh", "-c", daemon.uri, "start", "noticed")
    pid = pid_of(daemon, "noticed")
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: "shut off" in run("virsh", "-c", daemon.uri, "domstate", "noticed").stdout, timeout=10, what="the kill to be noticed")
    assert run("virsh", "-c", daemon.uri, "domstate", "noticed", "--reason").stdout.strip() == "shut off (crashed)"
    assert sorted(os.listdir(os.path.join(daemon.dir, "run", "domains", "noticed"))) == ["qemu.log"]


def test_daemon_killed_and_restarted_finds_its_guests(tmp_path):
    daemon = Daemon()
    try:
        for name in ("keep1", "keep2"):
            (tmp_path / f"{name}.xml").write_text(domain_xml(name, str(tmp_path / f"{name}.log")))
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "keep1.xml"))
        run("virsh", "-c", daemon.uri, "start", "keep1")
        run("virsh", "-c", daemon.uri, "create", str(tmp_path / "keep2.xml"))  # transient
        before = run("virsh", "-c", daemon.uri, "list").stdout
        daemon.process.kill()
        daemon.process.wait()
        os.unlink(daemon.socket)
        os.unlink(daemon.socket_ro)
        restarted = subprocess.Popen(
            [binary("corrald"), "--socket", daemon.socket, "--socket-ro", daemon.socket_ro,
             "--state-dir", os.path.join(daemon.dir, "state"), "--run-dir", os.path.join(daemon.dir, "run"), "--no-default-network"],
            stdout=daemon.log, stderr=subprocess.STDOUT)
        daemon.process = restarted
        wait_for(lambda: os.path.exists(daemon.socket), what="the daemon to restart")
        after = run("virsh", "-c", daemon.uri, "list").stdout
        assert after == before
        run("virsh", "-c", daemon.uri, "suspend", "keep1")
        assert run("virsh", "-c", daemon.uri, "domstate", "keep1").stdout.strip() == "paused"
        run("virsh", "-c", daemon.uri, "destroy", "keep1")
        run("virsh", "-c", daemon.uri, "destroy", "keep2")
        assert run("virsh", "-c", daemon.uri, "list", "--all", "--name").stdout.split() == ["keep1"]
    finally:
        daemon.stop()


@pytest.mark.parametrize("problem,devices,namespace,words", [
    ("bad-arg", "", "<qemu:commandline><qemu:arg value='-no-such-option'/></qemu:commandline>", "-no-such-option"),
    ("missing-disk", "<disk type='file' device='disk'><source file='/nonexistent/disk.qcow2'/><target dev='vda'/><driver type='qcow2'/></disk>", "", "/nonexistent/disk.qcow2"),
    ("alter-nothing", "", "<qemu:commandline><qemu:alter option='-netdev'><qemu:remove/></qemu:alter></qemu:commandline>", "matches no generated option"),
    ("override-nothing", "", "<qemu:override><qemu:device alias='ua-none'><qemu:frontend><qemu:property name='a' type='bool' value='true'/></qemu:frontend></qemu:device></qemu:override>", "ua-none"),
    ("bad-section", "", "<qemu:audiodev id='a0'><driver>none</driver></qemu:audiodev>", "audiodev"),
])
def test_qemu_that_cannot_start_gives_a_clear_error_and_leaves_nothing(daemon, tmp_path, problem, devices, namespace, words):
    (tmp_path / "bad.xml").write_text(domain_xml(problem, str(tmp_path / "s.log"), devices=devices, namespace=namespace))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "bad.xml"))
    result = run("virsh", "-c", daemon.uri, "start", problem, check=False)
    assert result.returncode != 0
    assert words in result.stderr, result.stderr
    assert run("virsh", "-c", daemon.uri, "domstate", problem).stdout.strip() == "shut off"
    directory = os.path.join(daemon.dir, "run", "domains", problem)
    leftovers = [f for f in os.listdir(directory) if f != "qemu.log"] if os.path.exists(directory) else []
    assert leftovers == []
    assert not subprocess.run(["pgrep", "-f", f"guest={problem},"], capture_output=True).stdout


def test_kvm_domain_without_kvm_is_refused_clearly(daemon, tmp_path):
    from conftest import run as r
    caps = r("virsh", "-c", daemon.uri, "capabilities").stdout
    xml = domain_xml("kvmguest", str(tmp_path / "s.log")).replace("type='qemu'", "type='kvm'", 1)
    (tmp_path / "k.xml").write_text(xml)
    r("virsh", "-c", daemon.uri, "define", str(tmp_path / "k.xml"))
    result = r("virsh", "-c", daemon.uri, "start", "kvmguest", check=False)
    if "<domain type='kvm'/>" in caps:
        assert result.returncode == 0
        r("virsh", "-c", daemon.uri, "destroy", "kvmguest")
    else:
        assert result.returncode != 0 and "Domain requires KVM, but it is not available" in result.stderr


def test_domxml_to_native(daemon, tmp_path):
    (tmp_path / "n.xml").write_text(domain_xml("native", str(tmp_path / "s.log"), namespace=NS,
                                               extra="<uuid>0b7d3e46-8f07-4ad4-9c66-3f7a1c0e2d11</uuid>",
                                               devices="<interface type='user'><mac address='52:54:00:aa:bb:cc'/><model type='virtio'/><alias name='ua-net0'/></interface>"))
    out = run("virsh", "-c", daemon.uri, "domxml-to-native", "qemu-argv", str(tmp_path / "n.xml")).stdout
    assert out.startswith("LC_ALL=C ")
    assert "CORRAL_PASSTHROUGH=hello" in out and "-name guest=native,debug-threads=on" in out
    assert '"x-txburst":128' in out and "-device pvpanic -sandbox" in out
    ours = run(binary("corral"), "-c", daemon.uri, "domxml-to-native", "qemu-argv", str(tmp_path / "n.xml")).stdout
    assert ours.strip() == out.strip()
    bad = run("virsh", "-c", daemon.uri, "domxml-to-native", "xen-xm", str(tmp_path / "n.xml"), check=False)
    assert "unsupported config type xen-xm" in bad.stderr


def test_autostart_domains_start_with_the_daemon(tmp_path):
    daemon = Daemon()
    try:
        (tmp_path / "a.xml").write_text(domain_xml("auto", str(tmp_path / "a.log")))
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "a.xml"))
        run("virsh", "-c", daemon.uri, "autostart", "auto")
        daemon.process.terminate()
        daemon.process.wait(10)
        restarted = subprocess.Popen(
            [binary("corrald"), "--socket", daemon.socket, "--socket-ro", daemon.socket_ro,
             "--state-dir", os.path.join(daemon.dir, "state"), "--run-dir", os.path.join(daemon.dir, "run"), "--no-default-network"],
            stdout=daemon.log, stderr=subprocess.STDOUT)
        daemon.process = restarted
        wait_for(lambda: os.path.exists(daemon.socket), what="the daemon to restart")
        wait_for(lambda: "running" in run("virsh", "-c", daemon.uri, "domstate", "auto").stdout, timeout=20, what="autostart")
        run("virsh", "-c", daemon.uri, "destroy", "auto")
    finally:
        daemon.stop()


@pytest.mark.parametrize("append, boots", [(False, 1), (True, 2)])
def test_a_serial_file_is_truncated_at_each_start_unless_appended_to(daemon, tmp_path, append, boots):
    """As libvirt opens a file character device: truncated at start, unless `append='on'`."""
    serial = str(tmp_path / "serial.log")
    (tmp_path / "g.xml").write_text(domain_xml("trunc", serial, serial_append=append))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "g.xml"))
    try:
        def boot_lines():
            return open(serial, errors="replace").read().count("CORRAL-GUEST-BOOTED") if os.path.exists(serial) else 0

        for run_number in (1, 2):
            run("virsh", "-c", daemon.uri, "start", "trunc")
            # The first start's line is gone at once when truncated, still there when appended.
            wait_for(lambda: boot_lines() == (run_number if append else 1), timeout=60, what=f"boot {run_number}")
            run("virsh", "-c", daemon.uri, "destroy", "trunc")
        assert boot_lines() == boots
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "trunc", check=False)
        run("virsh", "-c", daemon.uri, "undefine", "trunc", check=False)
