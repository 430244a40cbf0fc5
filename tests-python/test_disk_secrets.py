"""Disks that use the secret driver, on real guests: a LUKS image QEMU opens with a passphrase
secret (the guest writes through the decryption), an HTTP disk behind Basic authentication with
the password in a secret, and the refusals when a secret or its value is missing."""
import json
import os
import re
import socket
import subprocess

import libvirt
import pytest

from conftest import ROOT, run, free_port
from block_io import reads
from guest import domain_xml, wait_for, qemu_pid, wait_for_boot




def luks_read(image, passphrase, offset, length):
    """Bytes of the decrypted LUKS image, read with qemu-img dd."""
    out = image + ".plain"
    subprocess.run(["qemu-img", "convert", "-U", "--object", f"secret,id=s0,data={passphrase}", "--image-opts",
                    f"driver=luks,key-secret=s0,file.filename={image}", "-O", "raw", out], check=True, capture_output=True)
    with open(out, "rb") as plain:
        plain.seek(offset)
        return plain.read(length)


def create_encrypted_image(path, passphrase, image_format):
    """An 8 MiB LUKS image (`luks`) or qcow2 image with LUKS inside (`qcow2`) under `passphrase`.
    QEMU times its key derivation in thread CPU milliseconds, which this kernel counts in
    scheduler ticks: a short round often measures 0 ms ("Unable to get accurate CPU usage"), so
    it is tried many times."""
    options = "key-secret=s0,iter-time=10" if image_format == "luks" else "encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10"
    for attempt in range(40):
        made = run("qemu-img", "create", "-q", "--object", f"secret,id=s0,data={passphrase}", "-f", image_format,
                   "-o", options, path, "8M", check=attempt == 39)
        if made.returncode == 0 or "Unable to get accurate CPU usage" not in made.stderr:
            break
    assert made.returncode == 0, made.stderr


def test_guest_writes_through_a_luks_image(daemon, tmp_path):
    image = str(tmp_path / "secure.luks")
    create_encrypted_image(image, "correct horse", "luks")
    conn = libvirt.open(daemon.uri)
    secret = conn.secretDefineXML(f"<secret private='yes'><usage type='volume'><volume>{image}</volume></usage></secret>")
    serial = str(tmp_path / "luks.log")
    disk = (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='{image}'>"
            f"<encryption format='luks'><secret type='passphrase' usage='{image}'/></encryption></source>"
            f"<target dev='vda' bus='virtio'/></disk>")
    xml = domain_xml("luksguest", serial, devices=disk).replace("quiet panic=-1", "quiet panic=-1 corral.counter")
    (tmp_path / "luks.xml").write_text(xml)
    try:
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "luks.xml"))
        # No value yet: the start names what is missing, and nothing runs.
        result = run("virsh", "-c", daemon.uri, "start", "luksguest", check=False)
        assert result.returncode != 0 and f"secret '{secret.UUIDString()}' does not have a value" in result.stderr, result.stderr
        secret.setValue(b"correct horse")
        run("virsh", "-c", daemon.uri, "start", "luksguest")
        wait_for_boot(serial, timeout=60, what="the guest to boot")
        run_dir = os.path.join(daemon.dir, "run", "domains", "luksguest")
        assert "correct horse" not in open(f"/proc/{qemu_pid(daemon, 'luksguest')}/cmdline", "rb").read().decode()
        assert os.stat(os.path.join(run_dir, "libvirt-1-format-encryption-secret0.secret")).st_mode & 0o777 == 0o600
        dumped = run("virsh", "-c", daemon.uri, "dumpxml", "luksguest").stdout
        assert "<encryption format='luks' engine='qemu'>" in dumped
        # The guest's counter, written through QEMU's decryption, is in the plain image.
        wait_for(lambda: os.path.getsize(image) > 0 and luks_read(image, "correct horse", 4 * 512, 9) == b"COUNTER 4", timeout=60,
                 what="the guest's writes through the LUKS layer")
        with open(image, "rb") as raw:
            assert b"COUNTER 4" not in raw.read(), "the image on disk is not encrypted"
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "luksguest", check=False)
        run("virsh", "-c", daemon.uri, "undefine", "luksguest", check=False)
        secret.undefine()
        conn.close()


def test_http_disk_with_basic_authentication(daemon, tmp_path):
    root = tmp_path / "http"
    (root / "images").mkdir(parents=True)
    run("qemu-img", "create", "-q", "-f", "raw", str(root / "images" / "private.img"), "4M")
    port = free_port()
    server = subprocess.Popen(["python3", str(ROOT / "Scripts" / "range-http-server.py"), str(root), str(port), "mirror:hunter2"])
    wait_for(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, what="the HTTP server")
    conn = libvirt.open(daemon.uri)
    secret = conn.secretDefineXML("<secret><usage type='iscsi'><target>mirror-password</target></usage></secret>")
    serial = str(tmp_path / "auth.log")
    disk = (f"<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
            f"<source protocol='http' name='/images/private.img'><host name='127.0.0.1' port='{port}'/>"
            f"<auth username='mirror'><secret type='iscsi' usage='mirror-password'/></auth></source>"
            f"<target dev='vda' bus='virtio'/><readonly/></disk>")
    (tmp_path / "auth.xml").write_text(domain_xml("authguest", serial, devices=disk))
    log = root / "requests.log"
    try:
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "auth.xml"))
        # A wrong password: the server refuses it and QEMU cannot open the disk.
        secret.setValue(b"wrong")
        result = run("virsh", "-c", daemon.uri, "start", "authguest", check=False)
        assert result.returncode != 0 and "401" in result.stderr, result.stderr
        assert "refused" in log.read_text()
        secret.setValue(b"hunter2")
        run("virsh", "-c", daemon.uri, "start", "authguest")
        wait_for_boot(serial, timeout=60, what="the guest to boot")
        wait_for(lambda: "GET /images/private.img" in log.read_text(), what="an authenticated GET")
        assert "hunter2" not in open(f"/proc/{qemu_pid(daemon, 'authguest')}/cmdline", "rb").read().decode()
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "authguest", check=False)
        run("virsh", "-c", daemon.uri, "undefine", "authguest", check=False)
        secret.undefine()
        conn.close()
        server.terminate()
        server.wait()


@pytest.mark.parametrize("auth, message", [
    ("<secret type='iscsi' usage='nobody-defined-this'/>", "no secret with matching usage 'nobody-defined-this'"),
    ("<secret type='iscsi' uuid='7c4f1a6e-1b0a-4d7e-9d4e-000000000001'/>", "no secret with matching uuid"),
])
def test_missing_secrets_refuse_the_start(daemon, tmp_path, auth, message):
    disk = (f"<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
            f"<source protocol='iscsi' name='iqn.2013-07.com.example:t/1'><host name='127.0.0.1'/>"
            f"<auth username='u'>{auth}</auth></source><target dev='vda' bus='virtio'/></disk>")
    (tmp_path / "g.xml").write_text(domain_xml("nosecret", str(tmp_path / "s.log"), devices=disk))
    try:
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "g.xml"))
        result = run("virsh", "-c", daemon.uri, "start", "nosecret", check=False)
        assert result.returncode != 0 and message in result.stderr, result.stderr
    finally:
        run("virsh", "-c", daemon.uri, "undefine", "nosecret", check=False)


def test_a_secret_of_the_wrong_type_is_refused(daemon, tmp_path):
    conn = libvirt.open(daemon.uri)
    secret = conn.secretDefineXML("<secret><usage type='tls'><name>not-for-disks</name></usage></secret>")
    secret.setValue(b"x")
    disk = (f"<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
            f"<source protocol='rbd' name='pool/image'><host name='127.0.0.1'/>"
            f"<auth username='admin'><secret type='ceph' uuid='{secret.UUIDString()}'/></auth></source><target dev='vda' bus='virtio'/></disk>")
    (tmp_path / "g.xml").write_text(domain_xml("wrongtype", str(tmp_path / "s.log"), devices=disk))
    try:
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "g.xml"))
        result = run("virsh", "-c", daemon.uri, "start", "wrongtype", check=False)
        assert result.returncode != 0 and "is of type 'tls' not expected 'ceph' type" in result.stderr, result.stderr
    finally:
        run("virsh", "-c", daemon.uri, "undefine", "wrongtype", check=False)
        secret.undefine()
        conn.close()


def test_a_backing_layer_on_an_http_server_with_basic_authentication(daemon, tmp_path):
    """A network layer of a described backing chain with its own <auth>: the secret driver's
    value reaches QEMU in a secret object of that layer's (never on the command line), and the
    guest's disk reads the layer's bytes from the server; a missing secret refuses the start."""
    from block_io import BASE_BYTE, make_chain, qemu_io
    base, middle, top = make_chain(tmp_path)
    root = tmp_path / "http"
    (root / "images").mkdir(parents=True)
    os.rename(base, root / "images" / "base.img")
    port = free_port()
    server = subprocess.Popen(["python3", str(ROOT / "Scripts" / "range-http-server.py"), str(root), str(port), "mirror:s3cret-layer"])
    wait_for(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, what="the HTTP server")
    conn = libvirt.open(daemon.uri)
    disk = (f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{top}'/>"
            f"<backingStore type='file'><format type='qcow2'/><source file='{middle}'/>"
            f"<backingStore type='network'><format type='raw'/><source protocol='http' name='/images/base.img'>"
            f"<host name='127.0.0.1' port='{port}'/><auth username='mirror'><secret type='iscsi' usage='layer-password'/></auth>"
            f"</source><backingStore/></backingStore></backingStore><target dev='vda' bus='virtio'/></disk>")
    (tmp_path / "layer.xml").write_text(domain_xml("layerauth", str(tmp_path / "layer.log"), devices=disk))
    secret = None
    try:
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "layer.xml"))
        refused = run("virsh", "-c", daemon.uri, "start", "layerauth", check=False)
        assert refused.returncode != 0 and "no secret with matching usage 'layer-password'" in refused.stderr, refused.stderr
        secret = conn.secretDefineXML("<secret><usage type='iscsi'><target>layer-password</target></usage></secret>")
        secret.setValue(b"s3cret-layer")
        run("virsh", "-c", daemon.uri, "start", "--paused", "layerauth")
        output = qemu_io(daemon, "layerauth", "virtio-disk0", f"read -P {BASE_BYTE} 0 64k")
        assert "read 65536/65536" in output and "Pattern verification failed" not in output, output
        assert "GET /images/base.img" in (root / "requests.log").read_text()
        assert "s3cret-layer" not in open(f"/proc/{qemu_pid(daemon, 'layerauth')}/cmdline", "rb").read().decode()
        assert "libvirt-3-storage-auth-secret0" in open(f"/proc/{qemu_pid(daemon, 'layerauth')}/cmdline", "rb").read().decode()
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "layerauth", check=False)
        run("virsh", "-c", daemon.uri, "undefine", "layerauth", check=False)
        if secret is not None:
            secret.undefine()
        conn.close()
        server.terminate()
        server.wait()


def test_a_described_backing_layer_encrypted_with_luks(daemon, tmp_path):
    """An overlay over a LUKS-encrypted qcow2 base, the chain described in the XML with the
    base's <encryption>: QEMU decrypts the base with its passphrase from the secret driver, and
    the guest's disk reads what was written in it; a wrong passphrase fails the start in QEMU's
    words."""
    base, overlay = str(tmp_path / "base.qcow2"), str(tmp_path / "overlay.qcow2")
    create_encrypted_image(base, "layer passphrase", "qcow2")
    run("qemu-io", "--object", "secret,id=s0,data=layer passphrase", "--image-opts",
        f"driver=qcow2,file.filename={base},encrypt.key-secret=s0", "-c", "write -P 0x5a 0 64k")
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", "-u", overlay, "8M")
    conn = libvirt.open(daemon.uri)
    secret = conn.secretDefineXML(f"<secret private='yes'><usage type='volume'><volume>{base}</volume></usage></secret>")
    secret.setValue(b"layer passphrase")
    disk = (f"<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{overlay}'/>"
            f"<backingStore type='file'><format type='qcow2'/><source file='{base}'>"
            f"<encryption format='luks'><secret type='passphrase' usage='{base}'/></encryption></source><backingStore/></backingStore>"
            f"<target dev='vdb' bus='virtio'/></disk>")
    (tmp_path / "layer.xml").write_text(domain_xml("lukslayer", str(tmp_path / "layer.log"), devices=disk))
    try:
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "layer.xml"))
        inactive = run("virsh", "-c", daemon.uri, "dumpxml", "lukslayer").stdout
        assert f"<source file='{base}'>\n          <encryption format='luks' engine='qemu'>" in inactive, inactive
        run("virsh", "-c", daemon.uri, "start", "lukslayer")
        nodes = json.loads(run("virsh", "-c", daemon.uri, "qemu-monitor-command", "lukslayer",
                               '{"execute":"query-named-block-nodes","arguments":{"flat":true}}').stdout)["return"]
        layer = next(node for node in nodes if node["node-name"] == "libvirt-2-format")
        assert layer["encrypted"] is True and base in layer["file"], layer
        # Read through the overlay: the base's decrypted data.
        assert reads(daemon, "lukslayer", "virtio-disk1", "0x5a")
        run("virsh", "-c", daemon.uri, "destroy", "lukslayer")
        secret.setValue(b"not the passphrase")
        refused = run("virsh", "-c", daemon.uri, "start", "lukslayer", check=False)
        assert refused.returncode != 0 and "Invalid password, cannot unlock any keyslot" in refused.stderr, refused.stderr
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "lukslayer", check=False)
        run("virsh", "-c", daemon.uri, "undefine", "lukslayer", check=False)
        secret.undefine()
        conn.close()
    assert daemon.alive()
