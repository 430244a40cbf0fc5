"""The secret driver: virsh's and libvirt-python's secret calls against corrald, with libvirtd's
XML and errors; values kept 0600 and across restarts (ephemeral ones not); private values, the
read-only socket's refusals (raw frames) and secret events."""
import base64
import os
import struct
import threading

import libvirt
import pytest

from conftest import run
from rawrpc import ERROR, OK, REMOTE, RawClient, parse_error, xdr_string

CEPH = """<secret ephemeral='no' private='no'>
  <description>the cluster's admin key</description>
  <usage type='ceph'><name>client.admin secret</name></usage>
</secret>"""


def define(conn, xml):
    return conn.secretDefineXML(xml)


def test_define_value_list_and_undefine_match_libvirtd(daemon, libvirtd, tmp_path):
    """The same calls on both daemons give the same XML, listing, value and errors."""
    results = {}
    for name, uri in (("corrald", daemon.uri), ("libvirtd", libvirtd)):
        conn = libvirt.open(uri)
        secret = define(conn, CEPH.replace("<description>", "<uuid>0a81f5b2-8403-7b23-c8d6-21ccc2f80d6b</uuid><description>"))
        try:
            secret.setValue(b"\x01\x02key")
            listed = [(s.UUIDString(), s.usageType(), s.usageID()) for s in conn.listAllSecrets(libvirt.VIR_CONNECT_LIST_SECRETS_NO_EPHEMERAL)]
            errors = []
            for xml in ("<secret><usage type='ceph'><name>client.admin secret</name></usage></secret>",  # usage taken
                        "<secret><usage type='bogus'/></secret>", "<secret ephemeral='maybe'/>", "<secret><usage type='iscsi'/></secret>",
                        "<secret><uuid>not-a-uuid</uuid></secret>", "<domain/>"):
                with pytest.raises(libvirt.libvirtError) as caught:
                    conn.secretDefineXML(xml)
                errors.append((caught.value.get_error_code(), str(caught.value).split(":")[0]))
            results[name] = (secret.XMLDesc(0), listed, secret.value(), conn.secretLookupByUsage(libvirt.VIR_SECRET_USAGE_TYPE_CEPH, "client.admin secret").UUIDString(),
                             errors)
        finally:
            secret.undefine()
        with pytest.raises(libvirt.libvirtError, match="no secret with matching uuid") as caught:
            conn.secretLookupByUUIDString("0a81f5b2-8403-7b23-c8d6-21ccc2f80d6b")
        assert caught.value.get_error_code() == libvirt.VIR_ERR_NO_SECRET
        conn.close()
    assert results["corrald"] == results["libvirtd"]


def test_values_are_kept_0600_across_a_restart_and_ephemeral_ones_are_not(daemon, tmp_path):
    conn = libvirt.open(daemon.uri)
    kept = define(conn, "<secret><usage type='volume'><volume>/var/lib/images/a.luks</volume></usage></secret>")
    kept.setValue(b"passphrase")
    gone = define(conn, "<secret ephemeral='yes'><usage type='iscsi'><target>scratch</target></usage></secret>")
    gone.setValue(b"temporary")
    directory = os.path.join(daemon.dir, "state", "secrets")
    files = sorted(os.listdir(directory))
    assert files == [f"{kept.UUIDString()}.base64", f"{kept.UUIDString()}.xml"]
    for name in files:
        assert os.stat(os.path.join(directory, name)).st_mode & 0o777 == 0o600
    assert base64.b64decode(open(os.path.join(directory, files[0])).read()) == b"passphrase"
    conn.close()
    daemon.restart()
    conn = libvirt.open(daemon.uri)
    assert [s.UUIDString() for s in conn.listAllSecrets()] == [kept.UUIDString()]
    assert conn.secretLookupByUUIDString(kept.UUIDString()).value() == b"passphrase"
    # virsh's view, and undefine taking the files.
    out = run("virsh", "-c", daemon.uri, "secret-list").stdout
    assert kept.UUIDString() in out and "volume /var/lib/images/a.luks" in out
    run("virsh", "-c", daemon.uri, "secret-undefine", kept.UUIDString())
    assert os.listdir(directory) == []
    conn.close()


def test_private_secrets_and_the_read_only_socket(daemon):
    conn = libvirt.open(daemon.uri)
    secret = define(conn, "<secret private='yes'><usage type='iscsi'><target>lab</target></usage></secret>")
    secret.setValue(b"chap-password")
    # This test runs as the daemon's user, to whom libvirt gives private values too.
    assert secret.value() == b"chap-password"
    with pytest.raises(libvirt.libvirtError, match="cannot change private flag on existing secret"):
        conn.secretDefineXML(f"<secret private='no'><uuid>{secret.UUIDString()}</uuid><usage type='iscsi'><target>lab</target></usage></secret>")
    with pytest.raises(libvirt.libvirtError, match="already defined for use with lab"):
        conn.secretDefineXML(f"<secret><uuid>{secret.UUIDString()}</uuid><usage type='iscsi'><target>other</target></usage></secret>")
    handle = bytes.fromhex(secret.UUIDString().replace("-", "")) + struct.pack(">i", libvirt.VIR_SECRET_USAGE_TYPE_ISCSI) + xdr_string("lab")
    # The daemon's own refusals on the read-only socket (libvirt's client would refuse first).
    readonly = RawClient(daemon.socket_ro).open(read_only=True)
    header, payload = readonly.call(REMOTE, 145, handle + struct.pack(">I", 0))
    assert header["status"] == ERROR and "read only access prevents virSecretGetValue" in parse_error(payload)[2]
    header, payload = readonly.call(REMOTE, 144, handle + struct.pack(">I", 3) + b"abc\0" + struct.pack(">I", 0))
    assert header["status"] == ERROR and "read only access prevents virSecretSetValue" in parse_error(payload)[2]
    header, payload = readonly.call(REMOTE, 143, handle + struct.pack(">I", 0))
    assert header["status"] == OK and b"<usage type='iscsi'>" in payload
    readonly.close()
    # A value past the protocol's limit is refused as the frame is read; the daemon goes on.
    writer = RawClient(daemon.socket).open()
    header, payload = writer.call(REMOTE, 144, handle + struct.pack(">I", 65537) + b"\0" * 65540 + struct.pack(">I", 0))
    assert header["status"] == ERROR
    header, payload = writer.call(REMOTE, 145, handle + struct.pack(">I", 0))
    assert header["status"] == OK and b"chap-password" in payload
    writer.close()
    secret.undefine()
    conn.close()


def test_secret_events(daemon):
    libvirt.virEventRegisterDefaultImpl()
    conn = libvirt.open(daemon.uri)
    seen = []
    lifecycle = conn.secretEventRegisterAny(None, libvirt.VIR_SECRET_EVENT_ID_LIFECYCLE,
                                            lambda c, s, event, detail, opaque: seen.append(("lifecycle", s.UUIDString(), event)), None)
    changed = conn.secretEventRegisterAny(None, libvirt.VIR_SECRET_EVENT_ID_VALUE_CHANGED,
                                          lambda c, s, opaque: seen.append(("value", s.UUIDString())), None)
    stop = threading.Event()
    loop = threading.Thread(target=lambda: [libvirt.virEventRunDefaultImpl() for _ in iter(stop.is_set, True)], daemon=True)
    loop.start()
    other = libvirt.open(daemon.uri)
    secret = other.secretDefineXML("<secret><usage type='tls'><name>events</name></usage></secret>")
    uuid = secret.UUIDString()
    secret.setValue(b"x")
    secret.undefine()
    other.close()
    expected = [("lifecycle", uuid, libvirt.VIR_SECRET_EVENT_DEFINED), ("value", uuid), ("lifecycle", uuid, libvirt.VIR_SECRET_EVENT_UNDEFINED)]
    for _ in range(100):
        if len(seen) >= 3:
            break
        threading.Event().wait(0.05)
    stop.set()
    conn.secretEventDeregisterAny(lifecycle)
    conn.secretEventDeregisterAny(changed)
    conn.close()
    assert seen == expected
