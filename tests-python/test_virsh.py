"""An unmodified virsh against corrald (acceptance of the foundation issue)."""
import os
import re
import socket
import struct
import subprocess
import time

from conftest import run


def qemu_version():
    out = run("qemu-system-x86_64", "--version").stdout
    return re.search(r"version (\d+\.\d+\.\d+)", out).group(1)


def test_version_reports_qemu_and_its_true_version(daemon):
    out = run("virsh", "-c", daemon.uri, "version", "--daemon").stdout
    assert f"Running hypervisor: QEMU {qemu_version()}" in out
    assert "Running against daemon: 9.0.0" in out


def test_hostname(daemon):
    assert run("virsh", "-c", daemon.uri, "hostname").stdout.strip() == socket.gethostname()


def test_list_all_is_empty_table(daemon):
    out = run("virsh", "-c", daemon.uri, "list", "--all").stdout
    assert out.splitlines()[0].split() == ["Id", "Name", "State"]
    assert len([l for l in out.splitlines() if l.strip()]) == 2


def test_capabilities_describe_host_and_emulator(daemon):
    out = run("virsh", "-c", daemon.uri, "capabilities").stdout
    assert "<arch>x86_64</arch>" in out
    assert "<arch name='x86_64'>" in out
    assert "<emulator>/usr/bin/qemu-system-x86_64</emulator>" in out
    machines = run("qemu-system-x86_64", "-machine", "help").stdout
    for name in ("pc-q35-7.2", "q35", "pc"):
        if re.search(rf"^{re.escape(name)}\s", machines, re.M):
            assert f">{name}</machine>" in out


def test_nodeinfo(daemon):
    out = run("virsh", "-c", daemon.uri, "nodeinfo").stdout
    assert re.search(rf"^CPU\(s\):\s+{os.cpu_count()}$", out, re.M)
    mem = int(re.search(r"^Memory size:\s+(\d+) KiB", out, re.M).group(1))
    meminfo = int(re.search(r"MemTotal:\s+(\d+)", open("/proc/meminfo").read()).group(1))
    assert mem == meminfo


def test_read_only_connection(daemon):
    out = run("virsh", "-r", "-c", daemon.uri_ro, "list", "--all").stdout
    assert "Id" in out
    assert run("virsh", "-r", "-c", daemon.uri_ro, "hostname").stdout.strip() == socket.gethostname()
    # The read-write socket opened with the read-only flag works too.
    assert run("virsh", "-r", "-c", daemon.uri, "hostname").returncode == 0


def test_uri_is_answered_locally(daemon):
    assert run("virsh", "-c", daemon.uri, "uri").stdout.strip() == daemon.uri


def test_corral_cli_matches_virsh(daemon):
    from conftest import binary
    for command in (["hostname"], ["nodeinfo"], ["list", "--all"], ["capabilities"], ["uri"]):
        ours = run(binary("corral"), "-c", daemon.uri, *command).stdout
        theirs = run("virsh", "-c", daemon.uri, *command).stdout
        assert ours == theirs, command
    assert "Running hypervisor: QEMU " + qemu_version() in run(binary("corral"), "-c", daemon.uri, "version").stdout


def test_idle_interactive_virsh_stays_connected(daemon):
    """virsh left idle longer than its keepalive window must still be connected: the daemon
    answers every probe. virsh's own window (a probe every 5 s, given up after 6 unanswered:
    30 s) is shortened with its -k/-K options to a probe a second, given up after 2 unanswered."""
    proc = subprocess.Popen(["virsh", "-k", "1", "-K", "2", "-c", daemon.uri], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(6)
        out, err = proc.communicate("hostname\nquit\n", timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert socket.gethostname() in out, err
    assert "error" not in err.lower(), err


def frame(program, procedure, serial, payload=b"", mtype=0):
    body = struct.pack(">IIiIIi", program, 1, procedure, mtype, serial, 0) + payload
    return struct.pack(">I", 4 + len(body)) + body


def test_hostile_clients_do_not_disturb_others(daemon):
    victims = []
    for payload in (b"\xff" * 64, frame(0x20008086, 66, 0)[:10], struct.pack(">I", 1 << 30)):
        s = socket.socket(socket.AF_UNIX)
        s.connect(daemon.socket)
        s.sendall(payload)
        victims.append(s)
    # An unknown procedure gets libvirt's error, and that client keeps working.
    s = socket.socket(socket.AF_UNIX)
    s.connect(daemon.socket)
    s.sendall(frame(0x20008086, 9999, 5))
    reply = s.recv(4096)
    length, prog, vers, proc, mtype, serial, status = struct.unpack(">IIIiIIi", reply[:28])
    assert (proc, mtype, serial, status) == (9999, 1, 5, 1)
    code, domain = struct.unpack(">ii", reply[28:36])
    assert (code, domain) == (39, 7)
    assert b"unknown procedure: 9999" in reply
    s.sendall(frame(0x20008086, 66, 6))
    reply = s.recv(4096)
    assert struct.unpack(">IIIiIIi", reply[:28])[5:] == (6, 0)
    # Everyone else is still served.
    assert run("virsh", "-c", daemon.uri, "hostname").stdout.strip() == socket.gethostname()
    assert daemon.alive()
    for v in victims:
        v.close()
    s.close()
