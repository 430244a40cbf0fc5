"""Consoles and channels: `virsh console` and `corral console` through real pseudo-terminals,
one client per console (`--force` takes over), consoles across guest resets, a channel stream
both ways, and libvirt's refusals."""
import os
import pty
import select
import signal
import struct
import threading
import time

import libvirt
import pytest

import rawrpc
from conftest import binary, run
from guest import guest_files


class Terminal:
    """A program on a pseudo-terminal of its own, as a person at a terminal would run it."""

    def __init__(self, argv):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvp(argv[0], argv)
        self.output = b""
        self.status = None

    def read_for(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                self.output += chunk

    def expect(self, text, timeout=60):
        needle = text.encode()
        end = time.time() + timeout
        while needle not in self.output and time.time() < end:
            self.read_for(0.2)
            if self.exited():
                self.read_for(0.2)
                break
        assert needle in self.output, f"{text!r} not seen; output: {self.output.decode(errors='replace')[-1500:]}"

    def type(self, text, timeout=10):
        """Types `text`; fails (never blocks) when the program has ended or stopped reading."""
        data = text.encode() if isinstance(text, str) else text
        end = time.time() + timeout
        while data:
            assert not self.exited(), f"the program ended (status {self.status}); output: {self.output.decode(errors='replace')[-800:]}"
            _, writable, _ = select.select([], [self.fd], [], 0.1)
            if writable:
                # A non-blocking write: a full terminal buffer must not hang the test.
                os.set_blocking(self.fd, False)
                try:
                    data = data[os.write(self.fd, data):]
                except BlockingIOError:
                    pass
                finally:
                    os.set_blocking(self.fd, True)
            assert time.time() < end, f"the program stopped reading its terminal; output: {self.output.decode(errors='replace')[-800:]}"

    def exited(self):
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
        return self.status is not None

    def wait(self, timeout=20):
        end = time.time() + timeout
        while not self.exited() and time.time() < end:
            self.read_for(0.1)
        assert self.exited(), f"still running; output: {self.output.decode(errors='replace')[-800:]}"
        self.read_for(0.3)  # what it wrote last
        return self.status

    def close(self):
        if not self.exited():
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


def console_xml(name, devices="<serial type='pty'/>"):
    kernel, initrd = guest_files()
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <os><type arch='x86_64' machine='q35'>hvm</type><kernel>{kernel}</kernel><initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 quiet panic=-1</cmdline></os>
  <features><acpi/></features>
  <devices>{devices}</devices>
</domain>"""


@pytest.fixture
def paused_guest(daemon, tmp_path):
    """corrald with "con" defined with a pty serial console and started paused."""
    (tmp_path / "con.xml").write_text(console_xml("con"))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "con.xml"))
    run("virsh", "-c", daemon.uri, "start", "con", "--paused")
    terminals = []
    yield daemon, terminals
    for terminal in terminals:
        terminal.close()
    run("virsh", "-c", daemon.uri, "destroy", "con", check=False)


def test_virsh_console_shows_the_boot_and_runs_a_command(paused_guest):
    daemon, terminals = paused_guest
    xml = run("virsh", "-c", daemon.uri, "dumpxml", "con").stdout
    # The live XML names the pseudo-terminal as libvirt's does.
    assert "<console type='pty' tty='/dev/pts/" in xml and "<alias name='serial0'/>" in xml
    console = Terminal(["virsh", "-c", daemon.uri, "console", "con"])
    terminals.append(console)
    console.expect("Escape character is ^] (Ctrl + ])")
    run("virsh", "-c", daemon.uri, "resume", "con")
    console.expect("CORRAL-GUEST-BOOTED")
    console.expect("/ # ")
    console.type("echo console-$((6*7))-ok\r")
    console.expect("console-42-ok")
    console.type(b"\x1d")
    assert console.wait() == 0
    assert daemon.alive()


def test_one_console_client_at_a_time_and_force_takes_over(paused_guest):
    daemon, terminals = paused_guest
    run("virsh", "-c", daemon.uri, "resume", "con")
    first = Terminal([binary("corral"), "-c", daemon.uri, "console", "con"])
    terminals.append(first)
    first.expect("Escape character is ^] (Ctrl + ])")
    first.type("\r")
    first.expect("/ # ")
    second = Terminal(["virsh", "-c", daemon.uri, "console", "con"])
    terminals.append(second)
    assert second.wait() != 0
    assert b"operation failed: Active console session exists for this domain" in second.output
    forced = Terminal(["virsh", "-c", daemon.uri, "console", "con", "--force"])
    terminals.append(forced)
    forced.expect("Escape character is ^] (Ctrl + ])")
    # The first client is told it lost the console, and ends.
    assert first.wait() != 0
    assert b"taken over" in first.output
    forced.type("echo forced-$((7*7))\r")
    forced.expect("forced-49")
    forced.type(b"\x1d")
    assert forced.wait() == 0


def test_console_survives_a_guest_reset_and_ends_when_the_guest_stops(paused_guest):
    daemon, terminals = paused_guest
    console = Terminal([binary("corral"), "-c", daemon.uri, "console", "con"])
    terminals.append(console)
    console.expect("Escape character is ^] (Ctrl + ])")
    run("virsh", "-c", daemon.uri, "resume", "con")
    console.expect("CORRAL-GUEST-BOOTED")
    seen = console.output.count(b"CORRAL-GUEST-BOOTED")
    run("virsh", "-c", daemon.uri, "reset", "con")
    deadline = time.time() + 60
    while console.output.count(b"CORRAL-GUEST-BOOTED") <= seen and time.time() < deadline:
        console.read_for(0.5)
    assert console.output.count(b"CORRAL-GUEST-BOOTED") > seen, "the console did not see the guest boot again"
    run("virsh", "-c", daemon.uri, "destroy", "con")
    # The guest's end is the console's end; the client leaves by itself.
    console.wait()
    assert daemon.alive()
    assert "con" not in run("virsh", "-c", daemon.uri, "list", "--name").stdout.split()


def test_a_file_serial_is_refused_as_libvirt_refuses_it(running):
    for argv, message in (([], b"internal error: character device serial0 is not using a PTY"),
                          (["--devname", "nosuch"], b"internal error: cannot find character device nosuch")):
        terminal = Terminal(["virsh", "-c", running.uri, "console", "mon"] + argv)
        try:
            assert terminal.wait() != 0
            assert message in terminal.output
        finally:
            terminal.close()


def test_a_stopped_guest_and_a_read_only_connection_are_refused_on_the_wire(daemon, tmp_path):
    (tmp_path / "con.xml").write_text(console_xml("off"))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "con.xml"))
    conn = libvirt.open(daemon.uri)
    uuid = conn.lookupByName("off").UUID()
    client = rawrpc.RawClient(daemon.socket)
    client.open()
    body = rawrpc.xdr_domain("off", uuid) + struct.pack(">I", 0) + struct.pack(">I", 0)
    header, payload = client.call(rawrpc.REMOTE, 201, body)
    assert header["status"] == rawrpc.ERROR
    assert "domain is not running" in rawrpc.parse_error(payload)[2]
    # Unknown flags: libvirt's check, before anything else.
    header, payload = client.call(rawrpc.REMOTE, 201, rawrpc.xdr_domain("off", uuid) + struct.pack(">II", 0, 8))
    assert header["status"] == rawrpc.ERROR and "unsupported flags (0x8)" in rawrpc.parse_error(payload)[2]
    client.close()
    readonly = rawrpc.RawClient(daemon.socket_ro)
    readonly.open(read_only=True)
    header, payload = readonly.call(rawrpc.REMOTE, 296, body)
    assert header["status"] == rawrpc.ERROR
    assert "read only access prevents virDomainOpenChannel" in rawrpc.parse_error(payload)[2]
    readonly.close()
    conn.close()


def test_a_channel_stream_carries_bytes_both_ways(daemon, tmp_path):
    """A unix channel opened with libvirt-python's openChannel: what the client sends comes out
    of the guest's virtio port, and what the guest writes to the port reaches the client."""
    devices = ("<serial type='pty'/><channel type='unix'><target type='virtio' name='org.corral.test.0'/></channel>"
               "<controller type='virtio-serial' index='0'/>")
    (tmp_path / "ch.xml").write_text(console_xml("ch", devices))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "ch.xml"))
    run("virsh", "-c", daemon.uri, "start", "ch")
    console = Terminal(["virsh", "-c", daemon.uri, "console", "ch"])
    try:
        console.expect("CORRAL-GUEST-BOOTED")
        console.type("\r")
        console.expect("/ # ")
        conn = libvirt.open(daemon.uri)
        dom = conn.lookupByName("ch")
        stream = conn.newStream(0)
        # Opened before the guest reads: a virtio port reads end-of-file while no host is connected.
        dom.openChannel("org.corral.test.0", stream, 0)
        # In the guest: find the port by name, echo what arrives on it back with a prefix.
        console.type("for p in /sys/class/virtio-ports/*; do [ \"$(cat $p/name)\" = org.corral.test.0 ] && port=/dev/${p##*/}; done;"
                     " echo port=$port; (read line < $port; echo \"guest-got:$line\" > $port) &\r")
        console.expect("port=/dev/vport")
        received = []

        def receive():
            data = b""
            while b"guest-got:hello-from-client" not in data:
                chunk = stream.recv(4096)
                if not isinstance(chunk, bytes) or not chunk:
                    break
                data += chunk
            received.append(data)

        receiver = threading.Thread(target=receive, daemon=True)
        receiver.start()
        stream.send(b"hello-from-client\n")
        receiver.join(30)
        assert received and b"guest-got:hello-from-client" in received[0], received
        # A second opener is refused while the first holds the channel.
        other = conn.newStream(0)
        with pytest.raises(libvirt.libvirtError, match="Active channel stream exists for this domain"):
            dom.openChannel("org.corral.test.0", other, 0)
        stream.finish()
        conn.close()
    finally:
        console.close()
        run("virsh", "-c", daemon.uri, "destroy", "ch", check=False)


def test_screenshot_streams_the_display_as_png(daemon, tmp_path):
    (tmp_path / "sc.xml").write_text(console_xml("sc", "<serial type='pty'/><video><model type='vga'/></video>"))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "sc.xml"))
    run("virsh", "-c", daemon.uri, "start", "sc")
    try:
        target = tmp_path / "shot.png"
        out = run("virsh", "-c", daemon.uri, "screenshot", "sc", str(target)).stdout
        assert "Screenshot saved to" in out and "image/png" in out
        data = target.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", data[16:24])
        assert width >= 320 and height >= 200
        # The temporary file in the run directory is gone once streamed.
        assert not [f for f in os.listdir(os.path.join(daemon.dir, "run", "domains", "sc")) if f.startswith("screenshot-")]
        conn = libvirt.open(daemon.uri)
        with pytest.raises(libvirt.libvirtError, match="no screen 1 found"):
            conn.lookupByName("sc").screenshot(conn.newStream(0), 1, 0)
        conn.close()
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "sc", check=False)


def test_with_a_serial_port_the_default_console_is_serial_and_a_virtio_console_opens_by_alias(daemon, tmp_path):
    """libvirt's console rule: a serial port makes the first console the serial one, so
    `virsh console DOM` opens ttyS0 as it does on libvirtd; the virtio console is `console1`."""
    (tmp_path / "vc.xml").write_text(console_xml("vc", "<serial type='pty'/><console type='pty'><target type='virtio'/></console>"))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "vc.xml"))
    inactive = run("virsh", "-c", daemon.uri, "dumpxml", "vc").stdout
    assert inactive.index("<target type='serial' port='0'/>") < inactive.index("<target type='virtio' port='0'/>")
    run("virsh", "-c", daemon.uri, "start", "vc", "--paused")
    serial = Terminal(["virsh", "-c", daemon.uri, "console", "vc"])
    virtio = Terminal(["virsh", "-c", daemon.uri, "console", "vc", "console1"])
    try:
        serial.expect("Escape character is ^] (Ctrl + ])")
        virtio.expect("Escape character is ^] (Ctrl + ])")
        run("virsh", "-c", daemon.uri, "resume", "vc")
        serial.expect("CORRAL-GUEST-BOOTED kernel=")
        virtio.expect("CORRAL-GUEST-BOOTED on hvc0")
        virtio.type("\r")
        virtio.expect("/ # ")
        virtio.type("echo hvc-$((3*5)) $(tty)\r")
        virtio.expect("hvc-15 /dev/hvc0")
        serial.type("\r")
        serial.expect("/ # ")
        serial.type("echo ser-$((2*7)) $(tty)\r")
        serial.expect("ser-14 /dev/ttyS0")
        xml = run("virsh", "-c", daemon.uri, "dumpxml", "vc").stdout
        assert "<target type='serial' port='0'/>\n      <alias name='serial0'/>" in xml
        assert "<target type='virtio' port='0'/>\n      <alias name='console1'/>" in xml
    finally:
        serial.close()
        virtio.close()
        run("virsh", "-c", daemon.uri, "destroy", "vc", check=False)
