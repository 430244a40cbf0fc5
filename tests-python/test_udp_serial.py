"""A `udp` serial port on a real guest: the guest's console reaches a UDP socket of the test's
(the connect side) from the port of the bind side, and dumpxml writes both sides as libvirt
does."""
import socket

from conftest import run
from guest import guest_files


def test_the_guest_console_arrives_as_udp_datagrams(daemon, tmp_path):
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(60)
    port = receiver.getsockname()[1]
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind(("127.0.0.1", 0))
    local_port = sender.getsockname()[1]
    sender.close()  # the port QEMU binds: free a moment ago
    kernel, initrd = guest_files()
    (tmp_path / "udp.xml").write_text(f"""<domain type='qemu'>
  <name>udpserial</name>
  <memory unit='MiB'>128</memory>
  <os><type arch='x86_64' machine='q35'>hvm</type><kernel>{kernel}</kernel><initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 panic=-1</cmdline></os>
  <devices>
    <serial type='udp'>
      <source mode='connect' host='127.0.0.1' service='{port}'/>
      <source mode='bind' host='127.0.0.1' service='{local_port}'/>
    </serial>
  </devices>
</domain>""")
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
