"""TLS on QEMU's own endpoints, set up as qemu.conf sets it up for libvirt: NBD disks (`nbd_tls`,
`nbd_tls_x509_cert_dir`) and TCP character devices (`chardev_tls`, `chardev_tls_x509_cert_dir`,
`chardev_tls_x509_verify`), each overridden per device by its source's `tls`. The guest reads
disks from a qemu-nbd that accepts TLS clients only, at start and hot-plugged; a serial port
QEMU serves over TLS talks to a client holding a certificate of the CA and not to one without;
a serial port QEMU connects with reaches a TLS server that asks for QEMU's certificate; the
daemon serves on."""
import os
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import Daemon, free_port, run
from guest import domain_xml, remove_guests, wait_for
from test_guest_events import boot_with_agent, guest_shell, log_text


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a server certificate for localhost and 127.0.0.1, and a client certificate, named
    as QEMU's tls-creds-x509 reads them."""
    d = str(tmp_path_factory.mktemp("qemu-pki"))
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Corral TLS test CA",
            "-keyout", f"{d}/ca-key.pem", "-out", f"{d}/ca-cert.pem")
    for end, extra in (("server", ["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]), ("client", [])):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=corral-{end}", *extra,
                "-keyout", f"{d}/{end}-key.pem", "-out", f"{d}/{end}.csr")
        openssl("x509", "-req", "-in", f"{d}/{end}.csr", "-CA", f"{d}/ca-cert.pem", "-CAkey", f"{d}/ca-key.pem",
                "-CAcreateserial", "-copy_extensions", "copyall", "-days", "2", "-out", f"{d}/{end}-cert.pem")
    return d


@pytest.fixture(scope="module")
def tls_daemon(pki, tmp_path_factory):
    """A corrald whose NBD disks speak TLS unless they say otherwise, and whose character
    devices speak TLS when they say so, checking their peers' certificates."""
    config = tmp_path_factory.mktemp("tls-conf") / "corrald.conf"
    config.write_text(f'nbd_tls = 1\nnbd_tls_x509_cert_dir = "{pki}"\n'
                      f'chardev_tls = 0\nchardev_tls_x509_cert_dir = "{pki}"\nchardev_tls_x509_verify = 1\n')
    daemon = Daemon(extra_args=["--config", str(config)])
    yield daemon
    daemon.stop()


def tls_nbd_server(pki, tmp_path, name, marker):
    """A qemu-nbd serving a raw image that starts with `marker` to TLS clients only; (process, port)."""
    image = tmp_path / f"{name}.img"
    image.write_bytes(marker.encode() + b"\0" * (1024 * 1024 - len(marker)))
    port = free_port()
    server = subprocess.Popen([
        "qemu-nbd", "--persistent", "--shared=4", "-f", "raw", "-x", name, "-b", "127.0.0.1", "-p", str(port),
        "--object", f"tls-creds-x509,id=tls0,endpoint=server,dir={pki}", "--tls-creds", "tls0", str(image)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return server, port
        time.sleep(0.05)
    server.kill()
    raise AssertionError("qemu-nbd did not listen")


def nbd_disk(name, port, target, tls=None):
    attribute = "" if tls is None else f" tls='{tls}'"
    return (f"<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
            f"<source protocol='nbd' name='{name}'{attribute}><host name='127.0.0.1' port='{port}'/></source>"
            f"<target dev='{target}' bus='virtio'/></disk>")


def test_nbd_disks_speak_tls_at_start_and_hot_plugged(tls_daemon, pki, tmp_path):
    serial = str(tmp_path / "nbd.log")
    first, first_port = tls_nbd_server(pki, tmp_path, "first", "CORRAL-NBD-FIRST")
    second, second_port = tls_nbd_server(pki, tmp_path, "second", "CORRAL-NBD-SECOND")
    uri = tls_daemon.uri
    try:
        # No tls attribute: nbd_tls = 1 makes it TLS, which this server insists on.
        boot_with_agent(uri, "nbd", serial, tmp_path, devices=nbd_disk("first", first_port, "vdb"))
        # The guest names its virtio disks in the order they appear: this one is its vda.
        guest_shell(uri, "nbd", "echo GOT $(head -c 16 /dev/vda) > /dev/ttyS0")
        wait_for(lambda: "GOT CORRAL-NBD-FIRST" in log_text(serial), timeout=30, what="the guest reading the TLS NBD disk")
        # libvirt does not write a tls that came from the configuration.
        assert "tls=" not in run("virsh", "-c", uri, "dumpxml", "nbd").stdout.split("<disk")[1]
        # A disk plugged in later gets its own TLS credentials over the monitor.
        (tmp_path / "second.xml").write_text(nbd_disk("second", second_port, "vdc"))
        run("virsh", "-c", uri, "attach-device", "nbd", str(tmp_path / "second.xml"), "--live")
        guest_shell(uri, "nbd", "echo GOT $(head -c 17 /dev/vdb) > /dev/ttyS0")
        wait_for(lambda: "GOT CORRAL-NBD-SECOND" in log_text(serial), timeout=30, what="the guest reading the hot-plugged disk")
        # Unplugged, its credentials go with it: it plugs in again.
        run("virsh", "-c", uri, "detach-device", "nbd", str(tmp_path / "second.xml"), "--live")
        wait_for(lambda: "vdc" not in run("virsh", "-c", uri, "domblklist", "nbd").stdout, timeout=60, what="the unplug")
        objects = run("virsh", "-c", uri, "qemu-monitor-command", "nbd", '{"execute":"qom-list","arguments":{"path":"/objects"}}').stdout
        assert "_tls0" in objects and objects.count("_tls0") == 1, objects
        run("virsh", "-c", uri, "attach-device", "nbd", str(tmp_path / "second.xml"), "--live")
        # tls='no' overrides nbd_tls: the server refuses the plaintext client, so that guest
        # does not start; the first runs on.
        (tmp_path / "plain.xml").write_text(domain_xml("plain", None, devices=nbd_disk("second", second_port, "vda", tls="no")))
        run("virsh", "-c", uri, "define", str(tmp_path / "plain.xml"))
        refused = run("virsh", "-c", uri, "start", "plain", check=False)
        assert refused.returncode != 0 and "TLS" in refused.stderr, refused.stderr
        assert run("virsh", "-c", uri, "domstate", "nbd").stdout.strip() == "running"
    finally:
        remove_guests(tls_daemon, "nbd", "plain")
        first.kill()
        second.kill()
    assert tls_daemon.alive()


def client_context(pki, with_certificate):
    context = ssl.create_default_context(cafile=f"{pki}/ca-cert.pem")
    if with_certificate:
        context.load_cert_chain(f"{pki}/client-cert.pem", f"{pki}/client-key.pem")
    return context


def test_serial_ports_speak_tls_as_server_and_client(tls_daemon, pki, tmp_path):
    serial = str(tmp_path / "chr.log")
    uri = tls_daemon.uri
    served_port, peer_port = free_port(), free_port()
    # The TLS server QEMU's second serial port connects to; it asks for QEMU's certificate.
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(f"{pki}/server-cert.pem", f"{pki}/server-key.pem")
    server_context.load_verify_locations(f"{pki}/ca-cert.pem")
    server_context.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", peer_port))
    received = {"data": b"", "peer": None}

    def serve():
        connection, _ = listener.accept()
        with server_context.wrap_socket(connection, server_side=True) as tls:
            received["peer"] = tls.getpeercert()
            tls.settimeout(60)
            while b"CORRAL-TLS-PEER" not in received["data"]:
                chunk = tls.recv(4096)
                if not chunk:
                    break
                received["data"] += chunk

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    devices = (f"<serial type='tcp'><source mode='bind' host='127.0.0.1' service='{served_port}' tls='yes'/><target port='1'/></serial>"
               f"<serial type='tcp'><source mode='connect' host='127.0.0.1' service='{peer_port}' tls='yes'/><target port='2'/></serial>")
    try:
        boot_with_agent(uri, "chr", serial, tmp_path, devices=devices)
        # A client without a certificate is turned away (chardev_tls_x509_verify = 1).
        with socket.create_connection(("127.0.0.1", served_port)) as raw:
            try:
                with client_context(pki, False).wrap_socket(raw, server_hostname="localhost") as tls:
                    tls.settimeout(10)
                    assert tls.recv(1) == b""
            except (ssl.SSLError, ConnectionResetError):
                pass
        # One with a certificate of the CA reads what the guest writes to the port.
        with socket.create_connection(("127.0.0.1", served_port)) as raw:
            with client_context(pki, True).wrap_socket(raw, server_hostname="localhost") as tls:
                tls.settimeout(30)
                guest_shell(uri, "chr", "echo CORRAL-TLS-SERVED > /dev/ttyS1")
                data = b""
                while b"CORRAL-TLS-SERVED" not in data:
                    chunk = tls.recv(4096)
                    assert chunk, data
                    data += chunk
        # The port QEMU connected with showed its client certificate and carries the guest's words.
        guest_shell(uri, "chr", "echo CORRAL-TLS-PEER > /dev/ttyS2")
        thread.join(60)
        assert b"CORRAL-TLS-PEER" in received["data"], received
        assert dict(x[0] for x in received["peer"]["subject"])["commonName"] == "corral-client"
    finally:
        remove_guests(tls_daemon, "chr")
        listener.close()
    assert tls_daemon.alive()
