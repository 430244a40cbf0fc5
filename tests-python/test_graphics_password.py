"""A display password's expiry (<graphics passwdValidTo>), as QEMU's VNC server applies it: a
client that gives the password gets in while it is valid and is refused once it has expired,
and the live XML keeps the expiry as libvirt writes it."""
import re
import socket
import warnings

from conftest import run
from guest import domain_xml, remove_guests

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def vnc_response(password, challenge):
    """The VNC authentication response: the challenge DES-encrypted with the password, each
    key byte's bits reversed (RFB 7.2.2)."""
    key = bytes(int(f"{byte:08b}"[::-1], 2) for byte in password.encode()[:8].ljust(8, b"\0"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        encryptor = Cipher(algorithms.TripleDES(key), modes.ECB()).encryptor()
    return encryptor.update(challenge) + encryptor.finalize()


def vnc_login(port, password):
    """Whether the VNC server on `port` lets a client in with `password`."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        assert connection.recv(12).startswith(b"RFB 003.")
        connection.sendall(b"RFB 003.008\n")
        count = connection.recv(1)[0]
        assert 2 in connection.recv(count)
        connection.sendall(bytes([2]))
        challenge = b""
        while len(challenge) < 16:
            challenge += connection.recv(16 - len(challenge))
        connection.sendall(vnc_response(password, challenge))
        result = connection.recv(4)
        return result == b"\0\0\0\0"


def vnc_port(uri, name):
    return int(re.search(r"<graphics type='vnc' port='(\d+)'", run("virsh", "-c", uri, "dumpxml", name).stdout).group(1))


def test_a_vnc_password_works_until_it_expires(daemon, tmp_path):
    guests = {"valid": "2099-12-31T23:59:59", "expired": "2001-01-01T00:00:00"}
    try:
        for name, valid_to in guests.items():
            graphics = f"<graphics type='vnc' autoport='yes' passwd='s3cret' passwdValidTo='{valid_to}' connected='keep'/>"
            (tmp_path / f"{name}.xml").write_text(domain_xml(name, None, devices=graphics))
            run("virsh", "-c", daemon.uri, "define", str(tmp_path / f"{name}.xml"))
            run("virsh", "-c", daemon.uri, "start", name, "--paused")
            assert f"passwdValidTo='{valid_to}' connected='keep'" in run("virsh", "-c", daemon.uri, "dumpxml", name).stdout
        assert vnc_login(vnc_port(daemon.uri, "valid"), "s3cret")
        assert not vnc_login(vnc_port(daemon.uri, "valid"), "wrong")
        assert not vnc_login(vnc_port(daemon.uri, "expired"), "s3cret")
    finally:
        remove_guests(daemon, *guests)
    assert daemon.alive()
