"""Serial ports over UDP and named pipes on a real guest: the guest's console reaches a UDP
socket of the test's (the connect side) from the port of the bind side, and dumpxml writes both
sides as libvirt does; a `pipe` serial port's console comes out of a named pipe and takes
keystrokes from the other; a `dev` serial port drives a host serial line (a pseudo-terminal
here) both ways."""
import os
import socket

from conftest import run
from guest import guest_files, read_until


def guest_with_serial(name, serial):
    """The test guest with `serial` as its only serial port (its console, with kernel messages)."""
    kernel, initrd = guest_files()
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <os><type arch='x86_64' machine='q35'>hvm</type><kernel>{kernel}</kernel><initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 panic=-1</cmdline></os>
  <features><acpi/></features>
  <devices>
    {serial}
  </devices>
</domain>"""


def test_the_guest_console_arrives_as_udp_datagrams(daemon, tmp_path):
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(60)
    port = receiver.getsockname()[1]
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind(("127.0.0.1", 0))
    local_port = sender.getsockname()[1]
    sender.close()  # the port QEMU binds: free a moment ago
    (tmp_path / "udp.xml").write_text(guest_with_serial("udpserial", f"""<serial type='udp'>
      <source mode='connect' host='127.0.0.1' service='{port}'/>
      <source mode='bind' host='127.0.0.1' service='{local_port}'/>
    </serial>"""))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "udp.xml"))
    try:
        dumped = run("virsh", "-c", daemon.uri, "dumpxml", "udpserial").stdout
        assert (f"<source mode='bind' host='127.0.0.1' service='{local_port}'/>\n"
                f"      <source mode='connect' host='127.0.0.1' service='{port}'/>") in dumped, dumped
        run("virsh", "-c", daemon.uri, "start", "udpserial")
        received = b""
        while b"Linux version" not in received:
            data, sender_address = receiver.recvfrom(65536)
            assert sender_address == ("127.0.0.1", local_port)
            received += data
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "udpserial", check=False)
        run("virsh", "-c", daemon.uri, "undefine", "udpserial", check=False)
        receiver.close()


def console_answers(daemon, tmp_path, name, serial, output, keyboard, word):
    """Defines and starts the test guest with `serial` as its console; checks that its boot
    comes out of `output` and that its shell answers a command typed into `keyboard` with
    `word`-42; returns the live XML."""
    (tmp_path / f"{name}.xml").write_text(guest_with_serial(name, serial))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / f"{name}.xml"))
    run("virsh", "-c", daemon.uri, "start", name)
    live = run("virsh", "-c", daemon.uri, "dumpxml", name).stdout
    assert b"Linux version" in read_until(output, b"/ # ")
    os.write(keyboard, f"echo {word}-$((6*7))\r".encode())
    read_until(output, f"{word}-42".encode(), timeout=30)
    return live


def test_the_guest_console_comes_out_of_a_named_pipe(daemon, tmp_path):
    """A `pipe` serial port: QEMU opens the named pipe (PATH.in and PATH.out when both exist,
    else PATH itself); the guest's console comes out of PATH.out and its input goes in at PATH.in."""
    base = str(tmp_path / "console")
    os.mkfifo(base + ".in")
    os.mkfifo(base + ".out")
    # Opened read-write so neither open waits for QEMU.
    out = os.open(base + ".out", os.O_RDWR | os.O_NONBLOCK)
    keep_in = os.open(base + ".in", os.O_RDWR | os.O_NONBLOCK)
    try:
        live = console_answers(daemon, tmp_path, "pipeserial", f"<serial type='pipe'><source path='{base}'/></serial>", out, keep_in, "piped")
        assert f"<serial type='pipe'>\n      <source path='{base}'/>" in live
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "pipeserial", check=False)
        run("virsh", "-c", daemon.uri, "undefine", "pipeserial", check=False)
        os.close(out)
        os.close(keep_in)


def test_the_guest_console_on_a_host_serial_port(daemon, tmp_path):
    """A `dev` serial port: QEMU drives a host serial line (here a pseudo-terminal the test holds
    the other side of, as a null-modem cable would): the guest's console comes out of it, and its
    shell answers what is typed into it."""
    controller, line = os.openpty()
    try:
        os.set_blocking(controller, False)
        device = os.ttyname(line)
        live = console_answers(daemon, tmp_path, "devserial", f"<serial type='dev'><source path='{device}'/></serial>", controller, controller, "serial")
        assert f"<serial type='dev'>\n      <source path='{device}'/>" in live and f"<console type='dev'>\n      <source path='{device}'/>" in live, live
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "devserial", check=False)
        run("virsh", "-c", daemon.uri, "undefine", "devserial", check=False)
        os.close(controller)
        os.close(line)
