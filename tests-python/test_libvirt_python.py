"""libvirt-python (Debian's python3-libvirt) against corrald, and the corral CLI against libvirtd."""
import socket

import libvirt
import pytest

from conftest import binary, run


def test_open_and_query(daemon):
    conn = libvirt.open(daemon.uri)
    try:
        assert conn.getType() == "QEMU"
        version = conn.getVersion()
        out = run("qemu-system-x86_64", "--version").stdout
        assert f"{version // 1000000}.{version // 1000 % 1000}.{version % 1000}" in out
        assert conn.getHostname() == socket.gethostname()
        assert "<capabilities>" in conn.getCapabilities()
        assert conn.listAllDomains() == []
        assert conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_INACTIVE) == []
        assert conn.getLibVersion() == 9000000
        assert conn.isSecure() == 1
        assert conn.getInfo()[0] == "x86_64"
    finally:
        conn.close()


def test_open_read_only(daemon):
    conn = libvirt.openReadOnly(daemon.uri_ro)
    try:
        assert conn.getType() == "QEMU"
        assert conn.listAllDomains() == []
        assert conn.getHostname() == socket.gethostname()
    finally:
        conn.close()


def test_errors_are_libvirt_errors(daemon):
    conn = libvirt.open(daemon.uri)
    try:
        with pytest.raises(libvirt.libvirtError) as info:
            conn.listAllDomains(1 << 30)
        assert info.value.get_error_code() == libvirt.VIR_ERR_INVALID_ARG
    finally:
        conn.close()


def test_event_loop_client_keepalive(daemon):
    """With an event loop, libvirt-python asks about keepalive before open and can enable it."""
    libvirt.virEventRegisterDefaultImpl()
    conn = libvirt.open(daemon.uri)
    try:
        assert conn.setKeepAlive(5, 3) == 0
        assert conn.isAlive() == 1
    finally:
        conn.close()


def test_corral_list_matches_virsh_against_libvirtd(libvirtd, tmp_path):
    name = "corral-pytest-listed"
    xml = tmp_path / "d.xml"
    xml.write_text(f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory>"
                   "<os><type arch='x86_64'>hvm</type></os></domain>")
    run("virsh", "-c", libvirtd, "define", str(xml))
    try:
        ours = run(binary("corral"), "-c", libvirtd, "list", "--all").stdout
        theirs = run("virsh", "-c", libvirtd, "list", "--all").stdout
        assert ours == theirs
        assert name in ours
    finally:
        run("virsh", "-c", libvirtd, "undefine", name, check=False)
