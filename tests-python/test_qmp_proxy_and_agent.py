"""The QMP proxy (qmp-shell and qemu.qmp through corrald while virsh manages the guest), the
guest agent passthrough, `corral qemu-monitor-event`, and the remaining QEMU-program calls."""
import asyncio
import json
import os
import re
import subprocess
import time

import libvirt
import libvirt_qemu
import pytest

from conftest import binary, run
from guest import domain_xml, wait_for, wait_for_boot

try:
    from qemu.qmp import QMPClient
except ImportError:  # pragma: no cover - Scripts/install-dependencies.sh installs it
    QMPClient = None

AGENT = "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>"


def need_qemu_qmp():
    if QMPClient is None:
        pytest.fail("qemu.qmp is missing: Scripts/install-dependencies.sh installs it from PyPI")


@pytest.fixture
def guest(daemon, tmp_path):
    serial = str(tmp_path / "serial.log")
    (tmp_path / "g.xml").write_text(domain_xml("px", serial, devices=AGENT))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "g.xml"))
    run("virsh", "-c", daemon.uri, "start", "px")
    daemon.serial = serial
    yield daemon
    run("virsh", "-c", daemon.uri, "destroy", "px", check=False)


@pytest.fixture
def proxy(guest, tmp_path):
    socket = str(tmp_path / "qmp.sock")
    process = subprocess.Popen([binary("corral"), "-c", guest.uri, "qmp-proxy", "px", "--socket", socket],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: os.path.exists(socket) or process.poll() is not None, timeout=20, what="the proxy socket")
    assert process.poll() is None, process.communicate()
    assert oct(os.stat(socket).st_mode & 0o777) == "0o600"
    yield socket
    process.terminate()
    process.wait(10)
    assert not os.path.exists(socket), "the proxy removes its socket when interrupted"


def qmp_shell(socket, commands):
    result = subprocess.run(["/usr/bin/python3", "-m", "qemu.qmp.qmp_shell", socket], input="\n".join(commands) + "\n",
                            capture_output=True, text=True, timeout=60)
    replies = [json.loads(m) for m in re.findall(r"\(QEMU\) (\{.*\})", result.stdout)]
    return result, replies


def test_qmp_shell_drives_the_guest_through_the_proxy_while_virsh_manages_it(guest, proxy):
    need_qemu_qmp()
    result, replies = qmp_shell(proxy, ["query-status", "stop", "query-name", "qom-list path=/machine/peripheral-anon"])
    assert "Connected to QEMU 7." in result.stdout, result.stdout + result.stderr
    assert replies[0]["return"]["status"] == "running"
    assert replies[1] == {"return": {}}
    assert replies[2] == {"return": {"name": "px"}}
    assert isinstance(replies[3]["return"], list)
    # The daemon noticed the pause qmp-shell caused (a pause it did not ask for: libvirt's
    # reason is "unknown"), and virsh manages the same guest meanwhile.
    assert run("virsh", "-c", guest.uri, "domstate", "px", "--reason").stdout.strip() == "paused (unknown)"
    run("virsh", "-c", guest.uri, "resume", "px")
    _, replies = qmp_shell(proxy, ["query-status"])
    assert replies[0]["return"]["status"] == "running"
    assert "custom monitor control commands issued" in run("virsh", "-c", guest.uri, "dominfo", "px").stdout


def test_qmp_clients_are_independent_and_get_events(guest, proxy):
    need_qemu_qmp()

    async def scenario():
        first, second = QMPClient("first"), QMPClient("second")
        await first.connect(proxy)
        await second.connect(proxy)
        assert first.greeting is not None and first.greeting.QMP.version["qemu"]["major"] >= 7
        events = []

        async def listen():
            with second.listener() as listener:
                async for event in listener:
                    events.append(event["event"])
                    if event["event"] == "RESUME":
                        return

        listening = asyncio.create_task(listen())
        await asyncio.sleep(0.2)
        # Each client has its own ids and gets its own replies.
        a, b = await asyncio.gather(first.execute("query-name"), second.execute("query-status"))
        assert a == {"name": "px"} and b["status"] == "running"
        # virsh pauses and resumes: the proxy's clients see QEMU's events.
        await asyncio.to_thread(run, "virsh", "-c", guest.uri, "suspend", "px")
        await asyncio.to_thread(run, "virsh", "-c", guest.uri, "resume", "px")
        await asyncio.wait_for(listening, 15)
        assert events[:2] == ["STOP", "RESUME"]
        # QEMU's own errors come back as QMP errors.
        from qemu.qmp import ExecuteError
        with pytest.raises(ExecuteError) as error:
            await first.execute("no-such-command")
        assert error.value.error_class == "CommandNotFound"
        await first.disconnect()
        # The other client is unaffected by the first leaving.
        assert (await second.execute("query-status"))["status"] == "running"
        await second.disconnect()

    asyncio.run(scenario())


def test_the_proxy_speaks_qmp_as_qemu_does_to_raw_clients(guest, proxy):
    import socket as sockets
    s = sockets.socket(sockets.AF_UNIX)
    s.connect(proxy)
    f = s.makefile("rwb")

    def send(text):
        f.write(text.encode())
        f.flush()
        return json.loads(f.readline())

    greeting = json.loads(f.readline())
    assert greeting["QMP"]["version"]["qemu"]["major"] >= 7 and greeting["QMP"]["capabilities"] == []
    refused = send('{"execute":"query-status","id":1}')
    assert refused == {"error": {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}, "id": 1}
    assert send("{nonsense}\n")["error"]["class"] == "GenericError"
    assert send('[1,2]')["error"]["desc"] == "QMP input must be a JSON object"
    # Negotiation, then two commands in one write, no newlines: replies in order, ids kept.
    assert send('{"execute":"qmp_capabilities"}') == {"return": {}}
    f.write(b'{"execute":"query-name","id":"a"}{"execute":"query-status","id":{"nested":[1]}}')
    f.flush()
    one, two = json.loads(f.readline()), json.loads(f.readline())
    assert one == {"return": {"name": "px"}, "id": "a"}
    assert two["id"] == {"nested": [1]} and two["return"]["status"] == "running"
    # Many commands sent at once (the proxy stops reading at 8 waiting, as QEMU does, and reads
    # on as they finish): every one answered, in order.
    f.write(b"".join(b'{"execute":"query-name","id":%d}' % i for i in range(60)))
    f.flush()
    assert [json.loads(f.readline())["id"] for _ in range(60)] == list(range(60))
    again = send('{"execute":"qmp_capabilities","id":7}')
    assert again["error"]["class"] == "CommandNotFound" and again["id"] == 7
    s.close()


def test_the_proxy_never_replaces_a_file_or_a_live_socket(guest, proxy, tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    result = run(binary("corral"), "-c", guest.uri, "qmp-proxy", "px", "--socket", str(precious), check=False)
    assert result.returncode != 0 and "is not a socket" in result.stderr
    assert precious.read_text() == "keep me"
    # The running proxy's socket is live: a second proxy on it is refused, the first unharmed.
    result = run(binary("corral"), "-c", guest.uri, "qmp-proxy", "px", "--socket", proxy, check=False)
    assert result.returncode != 0 and "already listening" in result.stderr
    _, replies = qmp_shell(proxy, ["query-name"])
    assert replies == [{"return": {"name": "px"}}]


def test_the_proxy_ends_when_the_guest_stops(guest, tmp_path):
    socket = str(tmp_path / "ending.sock")
    process = subprocess.Popen([binary("corral"), "-c", guest.uri, "qmp-proxy", "px", "--socket", socket],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: os.path.exists(socket) or process.poll() is not None, timeout=20, what="the proxy socket")
    import socket as sockets
    client = sockets.socket(sockets.AF_UNIX)
    client.connect(socket)
    client.settimeout(20)
    reader = client.makefile("rb")
    assert b"QMP" in reader.readline()
    run("virsh", "-c", guest.uri, "destroy", "px")
    # As with QEMU's own socket: the client sees the end of the stream, the proxy exits.
    assert reader.readline() == b""
    out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "closed" in out and not os.path.exists(socket)


def test_corral_qemu_monitor_event(guest):
    events = subprocess.Popen([binary("corral"), "-c", guest.uri, "qemu-monitor-event", "px", "--loop", "--timeout", "6"],
                              stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    run("virsh", "-c", guest.uri, "suspend", "px")
    run("virsh", "-c", guest.uri, "resume", "px")
    out = events.communicate(timeout=30)[0]
    assert events.returncode == 0
    assert re.search(r"^event STOP at \d+\.\d{6} for domain 'px': \(null\)$", out, re.M), out
    assert re.search(r"^event RESUME at \d+\.\d{6} for domain 'px'", out, re.M), out
    assert re.search(r"^events received: [2-9]", out, re.M), out
    # An event name filter (regex, any case), and the exit status when nothing came.
    quiet = run(binary("corral"), "-c", guest.uri, "qemu-monitor-event", "--event", "^nothing", "--regex", "--no-case", "--timeout", "1", check=False)
    assert quiet.returncode != 0 and "events received: 0" in quiet.stdout


def test_guest_agent_command(guest):
    wait_for_boot(guest.serial, timeout=90, what="the guest to boot")
    assert "agent=/dev/vport" in open(guest.serial).read()
    out = run("virsh", "-c", guest.uri, "qemu-agent-command", "px", '{"execute":"guest-ping"}').stdout
    assert json.loads(out) == {"return": {}}
    info = json.loads(run(binary("corral"), "-c", guest.uri, "qemu-agent-command", "px", '{"execute":"guest-info"}').stdout)
    assert "guest-ping" in [c["name"] for c in info["return"]["supported_commands"]]
    failed = run("virsh", "-c", guest.uri, "qemu-agent-command", "px", '{"execute":"guest-no-such"}', check=False)
    assert failed.returncode != 0 and "unable to execute QEMU agent command 'guest-no-such'" in failed.stderr
    assert "custom guest agent control commands issued" in run("virsh", "-c", guest.uri, "dominfo", "px").stdout
    conn = libvirt.open(guest.uri)
    try:
        dom = conn.lookupByName("px")
        assert json.loads(libvirt_qemu.qemuAgentCommand(dom, '{"execute":"guest-ping"}', 10, 0)) == {"return": {}}
    finally:
        conn.close()


def test_agent_errors(daemon, tmp_path):
    (tmp_path / "g.xml").write_text(domain_xml("noagent", str(tmp_path / "s.log")))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "g.xml"))
    off = run("virsh", "-c", daemon.uri, "qemu-agent-command", "noagent", '{"execute":"guest-ping"}', check=False)
    assert "domain is not running" in off.stderr
    run("virsh", "-c", daemon.uri, "start", "noagent")
    try:
        missing = run("virsh", "-c", daemon.uri, "qemu-agent-command", "noagent", '{"execute":"guest-ping"}', check=False)
        assert "QEMU guest agent is not configured" in missing.stderr
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "noagent")


def test_an_agent_that_never_answers_times_out(daemon, tmp_path):
    # The channel exists but nothing in this guest runs an agent before it boots: the sync
    # handshake is bounded by the timeout.
    xml = domain_xml("silent", str(tmp_path / "s.log"), devices=AGENT).replace("<kernel>", "<kernel>").replace(
        "<cmdline>console=ttyS0 quiet panic=-1</cmdline>", "<cmdline>console=ttyS0 quiet panic=-1 rdinit=/bin/sh</cmdline>")
    (tmp_path / "g.xml").write_text(xml)
    run("virsh", "-c", daemon.uri, "create", str(tmp_path / "g.xml"))
    try:
        started = time.time()
        result = run("virsh", "-c", daemon.uri, "qemu-agent-command", "silent", "--timeout", "2", '{"execute":"guest-ping"}', check=False)
        assert result.returncode != 0 and "Guest agent is not responding" in result.stderr
        assert time.time() - started < 15
        # The daemon still serves.
        assert run("virsh", "-c", daemon.uri, "domstate", "silent").stdout.strip() == "running"
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "silent", check=False)


def test_read_only_refuses_every_qemu_call(guest):
    ro = ["virsh", "-r", "-c", guest.uri_ro]
    for args, api in [
        (["qemu-monitor-command", "px", '{"execute":"query-status"}'], "virDomainQemuMonitorCommand"),
        (["qemu-monitor-command", "px", "--hmp", "info status"], "virDomainQemuMonitorCommand"),
        (["qemu-agent-command", "px", '{"execute":"guest-ping"}'], "virDomainQemuAgentCommand"),
        (["qemu-monitor-event", "--timeout", "1"], "virConnectDomainQemuMonitorEventRegister"),
    ]:
        result = run(*ro, *args, check=False)
        assert result.returncode != 0 and f"read only access prevents {api}" in result.stderr, (args, result.stderr)
    # libvirt's client checks read-only itself; the daemon must refuse too, whatever the client.
    ours = run(binary("corral"), "-c", guest.uri_ro, "qemu-agent-command", "px", '{"execute":"guest-ping"}', check=False)
    assert "read only access prevents virDomainQemuAgentCommand" in ours.stderr
    ours = run(binary("corral"), "-c", guest.uri_ro, "qmp-proxy", "px", "--socket", "/tmp/corral-ro-proxy.sock", check=False)
    assert ours.returncode != 0 and "read only access prevents" in ours.stderr


def test_qemu_attach_is_not_supported(daemon):
    result = run("virsh", "-c", daemon.uri, "qemu-attach", "1", check=False)
    assert result.returncode != 0
    assert "this function is not supported by the connection driver: virDomainQemuAttach" in result.stderr


def test_monitor_command_with_files_is_refused_cleanly(guest):
    # Corral's server does not take file descriptors over its socket (FD_PASSING is answered
    # false), so libvirt's client refuses before sending, with its own clear error.
    conn = libvirt.open(guest.uri)
    try:
        dom = conn.lookupByName("px")
        with pytest.raises(libvirt.libvirtError) as error:
            libvirt_qemu.qemuMonitorCommandWithFiles(dom, '{"execute":"query-status"}', [], 0)
        assert "fd passing is not supported by this connection" in str(error.value)
        # The connection keeps working.
        assert json.loads(libvirt_qemu.qemuMonitorCommand(dom, '{"execute":"query-status"}', 0))["return"]["status"] == "running"
    finally:
        conn.close()


def test_the_proxy_works_against_a_real_libvirtd_too(libvirtd, tmp_path):
    need_qemu_qmp()
    name = "corral-proxy-test"
    xml = (f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory>"
           "<os><type arch='x86_64' machine='q35'>hvm</type></os><devices><memballoon model='none'/></devices></domain>")
    (tmp_path / "g.xml").write_text(xml)
    run("virsh", "-c", libvirtd, "destroy", name, check=False)
    run("virsh", "-c", libvirtd, "create", str(tmp_path / "g.xml"), "--paused")
    socket = str(tmp_path / "qmp.sock")
    process = subprocess.Popen([binary("corral"), "-c", libvirtd, "qmp-proxy", name, "--socket", socket],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: os.path.exists(socket) or process.poll() is not None, timeout=20, what="the proxy socket")
        assert process.poll() is None, process.communicate()
        result, replies = qmp_shell(socket, ["query-status", "query-name"])
        # libvirtd never ran `cont` on a guest created paused: QEMU says "prelaunch".
        assert replies[0]["return"]["running"] is False, result.stdout + result.stderr
        assert replies[1] == {"return": {"name": name}}
    finally:
        process.terminate()
        process.wait(10)
        run("virsh", "-c", libvirtd, "destroy", name, check=False)
