"""SPICE over TLS (qemu.conf's `spice_tls`, `spice_tls_x509_cert_dir`, in corrald.conf): an
autoport server gets a plaintext and a TLS port, the live XML names both, the TLS port presents
the configured certificate, and each channel's mode is kept: a secure channel refuses a
plaintext link (SPICE's "need secured"), an `any` one takes it."""
import re
import socket
import ssl
import struct

from conftest import Daemon, run
from guest import domain_xml, remove_guests
from remote_pki import PKI

MAIN, INPUTS = 1, 3
LINK_OK, LINK_NEED_SECURED = 0, 5


def spice_link(connection, channel):
    """SPICE's link handshake for `channel` (no capabilities); the server's error code."""
    message = struct.pack("<IBBIII", 0, channel, 0, 0, 0, 18)
    connection.sendall(b"REDQ" + struct.pack("<III", 2, 2, len(message)) + message)
    header = b""
    while len(header) < 20:
        chunk = connection.recv(20 - len(header))
        assert chunk, "the server closed the link"
        header += chunk
    assert header[:4] == b"REDQ", header
    return struct.unpack("<I", header[16:20])[0]


def test_spice_tls_ports_certificate_and_channel_modes(tmp_path):
    pki = PKI(str(tmp_path / "pki"))
    spice_dir = pki.qemu_dir(pki.client("viewer", "cn = viewer"))
    config = tmp_path / "corrald.conf"
    config.write_text(f"spice_tls = 1\nspice_tls_x509_cert_dir = \"{spice_dir}\"\n")
    daemon = Daemon(extra_args=["--config", str(config)])
    try:
        graphics = "<graphics type='spice' autoport='yes'><channel name='main' mode='secure'/></graphics>"
        (tmp_path / "g.xml").write_text(domain_xml("tls", None, devices=graphics))
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "g.xml"))
        run("virsh", "-c", daemon.uri, "start", "tls", "--paused")
        live = run("virsh", "-c", daemon.uri, "dumpxml", "tls").stdout
        found = re.search(r"<graphics type='spice' port='(\d+)' tlsPort='(\d+)' autoport='yes'", live)
        assert found, live
        port, tls_port = int(found.group(1)), int(found.group(2))
        assert port != tls_port
        # The TLS port presents the server certificate of the configured directory.
        context = ssl.create_default_context(cafile=f"{pki.dir}/cacert.pem")
        with socket.create_connection(("127.0.0.1", tls_port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as secured:
                assert dict(item[0] for item in secured.getpeercert()["subject"])["commonName"] == "localhost"
                assert spice_link(secured, MAIN) == LINK_OK
        # The main channel is secure only; the inputs channel may be plaintext.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as plain:
            assert spice_link(plain, MAIN) == LINK_NEED_SECURED
        with socket.create_connection(("127.0.0.1", port), timeout=10) as plain:
            assert spice_link(plain, INPUTS) == LINK_OK
    finally:
        remove_guests(daemon, "tls")
        daemon.stop()


def test_a_secure_channel_without_spice_tls_is_refused_at_start_as_libvirtd_does(daemon, libvirtd, tmp_path):
    graphics = "<graphics type='spice' autoport='yes'><channel name='main' mode='secure'/></graphics>"
    (tmp_path / "g.xml").write_text(domain_xml("notls", None, devices=graphics))
    for uri in (daemon.uri, libvirtd):
        try:
            run("virsh", "-c", uri, "define", str(tmp_path / "g.xml"))
            refused = run("virsh", "-c", uri, "start", "notls", check=False)
            assert refused.returncode != 0
            assert "Auto allocation of spice TLS port requested but spice TLS is disabled in qemu.conf" in refused.stderr, (uri, refused.stderr)
        finally:
            run("virsh", "-c", uri, "undefine", "notls", check=False)
