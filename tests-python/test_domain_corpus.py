"""The domain XML corpus (Tests/QEMUCommandLineTests/Golden/NAME.xml) through the daemons:

- corrald defines every case its golden files say it defines, and `dumpxml --inactive` gives
  exactly NAME.dumpxml (generated UUIDs, MACs and generation IDs aside);
- libvirtd 9.0 defines each case too, and its `dumpxml --inactive` equals corrald's, or every
  differing line is allowed by an entry of Tests/QEMUCommandLineTests/libvirtd-differences.json,
  which says why; an entry that allows nothing any more fails the test, so the list stays true.
"""
import difflib
import fnmatch
import json
import pathlib
import re

import libvirt
import pytest

from conftest import ROOT, Daemon

GOLDEN = ROOT / "Tests" / "QEMUCommandLineTests" / "Golden"
ALLOWED = json.loads((ROOT / "Tests" / "QEMUCommandLineTests" / "libvirtd-differences.json").read_text())
CASES = sorted(path.stem for path in GOLDEN.glob("*.xml"))


def normalised(xml, source):
    """The document with what the daemon generates (UUID, MACs, an empty genid's ID) replaced,
    where the case's own XML does not give it."""
    if "<uuid>" not in source:
        xml = re.sub(r"<uuid>[^<]*</uuid>", "<uuid>UUID</uuid>", xml)
    if not re.search(r"<genid>\s*[0-9a-f]", source):
        xml = re.sub(r"<genid>[^<]*</genid>", "<genid>GENID</genid>", xml)
    given = set(re.findall(r"mac address='([^']*)'", source))
    return re.sub(r"mac address='([^']*)'", lambda m: m.group(0) if m.group(1) in given else "mac address='MAC'", xml)


def define_and_dump(connection, xml):
    """`dumpxml --inactive` of `xml` once defined on `connection` (the domain undefined again),
    or the daemon's refusal."""
    try:
        domain = connection.defineXML(xml)
    except libvirt.libvirtError as error:
        return None, str(error)
    try:
        return domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE), None
    finally:
        domain.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)


@pytest.fixture(scope="module")
def corrald():
    daemon = Daemon()
    yield daemon
    daemon.stop()


SPICE_TLS_MARKER = "corral-golden: spice-tls"


@pytest.fixture(scope="module")
def corrald_with_spice_tls(tmp_path_factory):
    """A corrald with SPICE's TLS on (`spice_tls = 1`), for the cases that say they need it."""
    config = tmp_path_factory.mktemp("spice-tls") / "corrald.conf"
    config.write_text("spice_tls = 1\nspice_tls_x509_cert_dir = \"/etc/pki/libvirt-spice\"\n")
    daemon = Daemon(extra_args=["--config", str(config)])
    yield daemon
    daemon.stop()


@pytest.fixture(scope="module")
def both(corrald, corrald_with_spice_tls, libvirtd):
    """Each case defined on corrald and on libvirtd: name → (ours, our error, theirs, their error).
    A case that says `corral-golden: spice-tls` is defined on a corrald with SPICE's TLS on;
    libvirtd here keeps Debian's qemu.conf (`spice_tls = 0`)."""
    ours, tls, theirs = libvirt.open(corrald.uri), libvirt.open(corrald_with_spice_tls.uri), libvirt.open(libvirtd)
    results = {}
    for name in CASES:
        xml = (GOLDEN / f"{name}.xml").read_text()
        results[name] = define_and_dump(tls if SPICE_TLS_MARKER in xml else ours, xml) + define_and_dump(theirs, xml)
    ours.close()
    tls.close()
    theirs.close()
    return results


def test_the_corpus_is_large_and_varied():
    assert len(CASES) >= 200
    assert sum((GOLDEN / f"{name}.args").exists() for name in CASES) >= 150


@pytest.mark.parametrize("name", CASES)
def test_corrald_dumpxml_equals_the_expected_file(both, name):
    ours, our_error, _, _ = both[name]
    expected = GOLDEN / f"{name}.dumpxml"
    source = (GOLDEN / f"{name}.xml").read_text()
    if not expected.exists():
        assert our_error, f"{name}: corrald defined a case the golden files say define refuses"
        assert (GOLDEN / f"{name}.err").read_text().strip() in our_error
        return
    assert our_error is None, our_error
    assert normalised(ours, source).rstrip("\n") == normalised(expected.read_text(), source).rstrip("\n")


def entries_for(name):
    return [entry for entry in ALLOWED if any(fnmatch.fnmatch(name, pattern) for pattern in entry["cases"])]


def differences(name, result):
    """The lines by which corrald's dumpxml differs from libvirtd's, and whether either refused."""
    ours, our_error, theirs, their_error = result
    source = (GOLDEN / f"{name}.xml").read_text()
    if our_error or their_error:
        if our_error and their_error:
            return []
        return [f"refused by {'corrald' if our_error else 'libvirtd'}"]
    diff = difflib.unified_diff(normalised(theirs, source).splitlines(), normalised(ours, source).splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---"))]


@pytest.mark.parametrize("name", CASES)
def test_libvirtd_dumpxml_equals_corralds_or_the_difference_is_allowed(both, name):
    entries = entries_for(name)
    unexplained = [line for line in differences(name, both[name]) if not any(re.search(entry["lines"], line) for entry in entries)]
    refusal = both[name][1] or both[name][3]
    assert not unexplained, (f"{name}: differs from libvirtd 9.0 without an entry in libvirtd-differences.json:\n" + "\n".join(unexplained)
                             + (f"\n(the refusal: {refusal})" if refusal else ""))


def test_every_allowed_difference_still_occurs(both):
    for entry in ALLOWED:
        assert entry["reason"].strip(), entry
        used = [name for name in CASES if any(fnmatch.fnmatch(name, p) for p in entry["cases"])
                and any(re.search(entry["lines"], line) for line in differences(name, both[name]))]
        assert used, f"the allowed difference {entry['cases']} / {entry['lines']!r} no longer occurs: remove it"


def rfb_security_types(port):
    """The security types a VNC server offers (1: none, 2: VNC password), from its handshake."""
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        version = connection.recv(12)
        assert version.startswith(b"RFB 003."), version
        connection.sendall(b"RFB 003.008\n")
        count = connection.recv(1)[0]
        return set(connection.recv(count))


def test_a_vnc_password_and_websocket_reach_the_running_guest(corrald, tmp_path):
    """passwd is set over QMP before the guest runs: a VNC client is asked for it (never let in
    without), and the WebSocket listener runs on its port; dumpxml hides the password."""
    import json
    import subprocess
    from guest import domain_xml
    xml = domain_xml("vncpw", str(tmp_path / "serial.log"),
                     devices="<graphics type='vnc' port='5987' autoport='no' websocket='5787' passwd='s3cret'/>")
    (tmp_path / "g.xml").write_text(xml)
    uri = corrald.uri
    subprocess.run(["virsh", "-c", uri, "define", str(tmp_path / "g.xml")], check=True, capture_output=True)
    try:
        subprocess.run(["virsh", "-c", uri, "start", "vncpw"], check=True, capture_output=True)
        vnc = json.loads(subprocess.run(["virsh", "-c", uri, "qemu-monitor-command", "vncpw", '{"execute":"query-vnc"}'],
                                        check=True, capture_output=True, text=True).stdout)["return"]
        assert vnc["auth"] == "vnc" and vnc["service"] == "5987"
        assert rfb_security_types(5987) == {2}
        import socket
        socket.create_connection(("127.0.0.1", 5787), timeout=5).close()
        dumped = subprocess.run(["virsh", "-c", uri, "dumpxml", "vncpw"], check=True, capture_output=True, text=True).stdout
        assert "s3cret" not in dumped and "websocket='5787'" in dumped
    finally:
        subprocess.run(["virsh", "-c", uri, "destroy", "vncpw"], capture_output=True)
        subprocess.run(["virsh", "-c", uri, "undefine", "vncpw"], capture_output=True)


def test_a_vnc_socket_the_daemon_chooses_is_named_in_the_live_xml(corrald, tmp_path):
    """<listen type='socket'/> without a path: QEMU's VNC server listens on vnc.sock in the
    guest's run directory, which the live XML names on <graphics> and <listen> (as libvirt's
    does, for virt-manager to connect to); the inactive and saved XML leave it out."""
    import socket
    import subprocess
    from guest import domain_xml
    xml = domain_xml("vncsock", str(tmp_path / "serial.log"), devices="<graphics type='vnc'><listen type='socket'/></graphics>")
    (tmp_path / "g.xml").write_text(xml)
    uri = corrald.uri
    subprocess.run(["virsh", "-c", uri, "define", str(tmp_path / "g.xml")], check=True, capture_output=True)
    try:
        subprocess.run(["virsh", "-c", uri, "start", "--paused", "vncsock"], check=True, capture_output=True)
        path = f"{corrald.dir}/run/domains/vncsock/vnc.sock"
        live = subprocess.run(["virsh", "-c", uri, "dumpxml", "vncsock"], check=True, capture_output=True, text=True).stdout
        assert f"<graphics type='vnc' socket='{path}'>\n      <listen type='socket' socket='{path}'/>" in live, live
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(path)
            assert client.recv(12) == b"RFB 003.008\n"
        inactive = subprocess.run(["virsh", "-c", uri, "dumpxml", "--inactive", "vncsock"], check=True, capture_output=True, text=True).stdout
        assert "vnc.sock" not in inactive and "<listen type='socket'/>" in inactive
        subprocess.run(["virsh", "-c", uri, "save", "vncsock", str(tmp_path / "v.save")], check=True, capture_output=True)
        saved = subprocess.run(["virsh", "-c", uri, "save-image-dumpxml", str(tmp_path / "v.save")], check=True, capture_output=True, text=True).stdout
        assert "vnc.sock" not in saved and "<listen type='socket'/>" in saved
    finally:
        subprocess.run(["virsh", "-c", uri, "destroy", "vncsock"], capture_output=True)
        subprocess.run(["virsh", "-c", uri, "undefine", "vncsock"], capture_output=True)


def test_a_websocket_port_chosen_at_start(daemon, tmp_path):
    """websocket='-1': QEMU's VNC WebSocket listener gets a free port from 5700 up, which the
    live XML names; the inactive and saved XML say -1 again, also after the daemon restarted and
    found the guest (the status file remembers the port was chosen)."""
    import socket
    import subprocess
    from guest import domain_xml
    xml = domain_xml("wsauto", str(tmp_path / "serial.log"), devices="<graphics type='vnc' autoport='yes' websocket='-1'/>")
    (tmp_path / "g.xml").write_text(xml)
    uri = daemon.uri

    def virsh(*args):
        return subprocess.run(["virsh", "-c", uri, *args], check=True, capture_output=True, text=True).stdout

    virsh("define", str(tmp_path / "g.xml"))
    try:
        virsh("start", "--paused", "wsauto")
        live = virsh("dumpxml", "wsauto")
        port = int(re.search(r"<graphics type='vnc' port='\d+' autoport='yes' websocket='(\d+)'", live).group(1))
        assert 5700 <= port < 5800, live
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        assert "websocket='-1'" in virsh("dumpxml", "--inactive", "wsauto")
        daemon.restart()
        assert f"websocket='{port}'" in virsh("dumpxml", "wsauto")
        virsh("save", "wsauto", str(tmp_path / "w.save"))
        saved = virsh("save-image-dumpxml", str(tmp_path / "w.save"))
        assert "websocket='-1'" in saved and f"websocket='{port}'" not in saved, saved
    finally:
        subprocess.run(["virsh", "-c", uri, "destroy", "wsauto"], capture_output=True)
        subprocess.run(["virsh", "-c", uri, "undefine", "wsauto"], capture_output=True)
