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


def test_update_device_changes_the_vnc_password_of_a_running_guest(daemon, libvirtd, tmp_path):
    """`virsh update-device --live` with a new passwd: the VNC server takes the new password and
    refuses the old one, the live XML names it (the persistent definition keeps the old one); a
    new expiry in the past locks clients out; a changed port, keymap or listen address is refused
    in libvirt's words, on both daemons."""
    graphics = "<graphics type='vnc' port='{port}' autoport='no' listen='127.0.0.1' keymap='en-us' passwd='{password}'{extra}/>"
    (tmp_path / "g.xml").write_text(domain_xml("rotate", None, devices=graphics.format(port=5977, password="first", extra="")))
    try:
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "g.xml"))
        run("virsh", "-c", daemon.uri, "start", "rotate", "--paused")
        port = vnc_port(daemon.uri, "rotate")
        assert vnc_login(port, "first")
        (tmp_path / "new.xml").write_text(graphics.format(port=5977, password="second", extra=""))
        run("virsh", "-c", daemon.uri, "update-device", "rotate", str(tmp_path / "new.xml"), "--live")
        assert vnc_login(port, "second") and not vnc_login(port, "first")
        assert "passwd='second'" in run("virsh", "-c", daemon.uri, "dumpxml", "--security-info", "rotate").stdout
        assert "passwd='first'" in run("virsh", "-c", daemon.uri, "dumpxml", "--inactive", "--security-info", "rotate").stdout
        (tmp_path / "expired.xml").write_text(graphics.format(port=5977, password="third", extra=" passwdValidTo='2001-01-01T00:00:00'"))
        run("virsh", "-c", daemon.uri, "update-device", "rotate", str(tmp_path / "expired.xml"), "--live")
        assert not vnc_login(port, "third")
        assert "passwdValidTo='2001-01-01T00:00:00'" in run("virsh", "-c", daemon.uri, "dumpxml", "--security-info", "rotate").stdout
    finally:
        remove_guests(daemon, "rotate")
    # What cannot change live: the same refusals from libvirtd (with a guest of its own).
    for uri in (daemon.uri, libvirtd):
        (tmp_path / "g.xml").write_text(domain_xml("fixed", None, devices=graphics.format(port=5978, password="pw", extra="")))
        try:
            run("virsh", "-c", uri, "define", str(tmp_path / "g.xml"))
            run("virsh", "-c", uri, "start", "fixed", "--paused")
            for changed, message in ((graphics.format(port=5979, password="pw", extra=""), "cannot change port settings on vnc graphics"),
                                     (graphics.format(port=5978, password="pw", extra="").replace("en-us", "de"), "cannot change keymap setting on vnc graphics"),
                                     # The address given at start must be given again.
                                     (graphics.format(port=5978, password="pw", extra="").replace(" listen='127.0.0.1'", ""),
                                      "cannot change listen address setting on 'vnc' graphics")):
                (tmp_path / "changed.xml").write_text(changed)
                refused = run("virsh", "-c", uri, "update-device", "fixed", str(tmp_path / "changed.xml"), "--live", check=False)
                assert refused.returncode != 0 and message in refused.stderr, (uri, refused.stderr)
            (tmp_path / "spice.xml").write_text("<graphics type='spice' autoport='yes'/>")
            refused = run("virsh", "-c", uri, "update-device", "fixed", str(tmp_path / "spice.xml"), "--live", check=False)
            assert "cannot find existing graphics device to modify of type 'spice'" in refused.stderr, (uri, refused.stderr)
        finally:
            run("virsh", "-c", uri, "destroy", "fixed", check=False)
            run("virsh", "-c", uri, "undefine", "fixed", check=False)
