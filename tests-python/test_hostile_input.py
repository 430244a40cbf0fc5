"""Hostile input (issue 9): every case drives the running daemon, most with raw frames, so what is
checked is the daemon's own answer, not libvirt's client-side refusals."""
import json
import resource
import os
import struct
import time

import libvirt
import pytest

from conftest import Daemon, run
from guest import definition_files, domain_xml, wait_for, wait_for_boot
from rawrpc import (ERROR, OK, QEMU, REMOTE, PROGRAMS, RawClient, default_body, parse_error,
                    procedures, read_string, xdr_domain, xdr_string)

READ_ONLY_DENIED = 29  # VIR_ERR_OPERATION_DENIED
LIBVIRTD_RO_SOCKET = "/run/libvirt/libvirt-sock-ro"


def answer(socket_path, program, number, body, read_only_open=False):
    """The daemon's reply to one call on a fresh connection: (status, error code, message)."""
    client = RawClient(socket_path).open(read_only=read_only_open)
    try:
        reply = client.call(program, number, body)
        if reply is None:
            return None
        header, payload = reply
        if header["status"] == OK:
            return (OK, None, None)
        code, _, message = parse_error(payload)
        return (ERROR, code, message)
    finally:
        client.close()


def is_denied(result):
    return result is not None and result[0] == ERROR and result[1] == READ_ONLY_DENIED


def test_read_only_matrix_matches_libvirtd(daemon, libvirtd):
    """Every procedure in the table, as a raw frame on the read-only socket of corrald and of
    libvirtd: each refuses exactly the same ones."""
    if not os.path.exists(LIBVIRTD_RO_SOCKET):
        pytest.fail(f"libvirtd's read-only socket {LIBVIRTD_RO_SOCKET} is missing")
    mismatches = []
    denied = []
    for program, number, name, access, args in procedures():
        if (program, number) == ("remote", 1):
            continue  # the open itself
        body = default_body(args)
        ours = answer(daemon.socket_ro, PROGRAMS[program], number, body)
        theirs = answer(LIBVIRTD_RO_SOCKET, PROGRAMS[program], number, body, read_only_open=True)
        if name != "ConnectClose":
            assert ours is not None, f"corrald gave no answer to {name}"
        if is_denied(ours) != is_denied(theirs):
            mismatches.append((name, ours, theirs))
        if is_denied(ours):
            denied.append(name)
            assert access.startswith("write"), f"{name} is denied but declared {access}"
            assert "read only access prevents" in ours[2]
    assert not mismatches, mismatches
    assert "ConnectDomainXMLToNative" in denied and "DomainDefineXML" in denied and "DomainMonitorCommand" in denied
    assert "DomainGetXMLDesc" not in denied and "ConnectListAllDomains" not in denied
    assert daemon.alive()


GRAPHICS = "<graphics type='vnc' port='-1' autoport='yes' passwd='s3cret'/>"


def test_secure_xml_and_secrets(daemon, tmp_path):
    xml = domain_xml("secret", str(tmp_path / "serial.log"), devices=GRAPHICS)
    conn = libvirt.open(daemon.uri)
    dom = conn.defineXML(xml)
    assert "passwd='s3cret'" in dom.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE)
    assert "s3cret" not in dom.XMLDesc(0)
    # The daemon's own answers on the read-only socket.
    client = RawClient(daemon.socket_ro).open()
    handle = xdr_domain("secret", bytes.fromhex(dom.UUIDString().replace("-", "")), -1)
    header, payload = client.call(REMOTE, 14, handle + struct.pack(">I", 1))
    assert header["status"] == ERROR
    code, _, message = parse_error(payload)
    assert code == READ_ONLY_DENIED and "virDomainGetXMLDesc with secure flag" in message
    header, payload = client.call(REMOTE, 14, handle + struct.pack(">I", 0))
    assert header["status"] == OK
    text, _ = read_string(payload)
    assert "<graphics type='vnc'" in text and "s3cret" not in text
    conn.close()


def test_xml_to_native_is_a_write_and_bad_targets_are_errors(daemon, tmp_path):
    xml = domain_xml("native", str(tmp_path / "serial.log"),
                     devices="<disk type='file' device='disk'><source file='/x'/><target dev='vdabcdefghijklmnop' bus='virtio'/></disk>")
    body = xdr_string("qemu-argv") + xdr_string(xml) + struct.pack(">I", 0)
    result = answer(daemon.socket_ro, REMOTE, 136, body)
    assert is_denied(result) and "virConnectDomainXMLToNative" in result[2]
    result = answer(daemon.socket, REMOTE, 136, body)
    assert result[0] == ERROR and "invalid disk target" in result[2]
    assert daemon.alive()
    # A good one still converts.
    good = domain_xml("native", str(tmp_path / "serial.log"))
    assert answer(daemon.socket, REMOTE, 136, xdr_string("qemu-argv") + xdr_string(good) + struct.pack(">I", 0))[0] == OK


def test_out_of_range_numbers_are_refused_at_define(daemon, tmp_path):
    conn = libvirt.open(daemon.uri)
    for extra, words in [("<vcpu>4294967296</vcpu>", "vcpus"), ("<vcpu>16385</vcpu>", "16384")]:
        with pytest.raises(libvirt.libvirtError, match=words):
            conn.defineXML(domain_xml("numbers", str(tmp_path / "s"), extra=extra))
    with pytest.raises(libvirt.libvirtError, match="too large"):
        conn.defineXML(domain_xml("numbers", str(tmp_path / "s")).replace("<memory unit='MiB'>128</memory>", "<memory unit='EiB'>16</memory>"))
    # The largest count accepted is answered exactly, read-only and raw.
    dom = conn.defineXML(domain_xml("numbers", str(tmp_path / "s"), extra="<vcpu>16384</vcpu>"))
    client = RawClient(daemon.socket_ro).open()
    handle = xdr_domain("numbers", bytes.fromhex(dom.UUIDString().replace("-", "")), -1)
    header, payload = client.call(REMOTE, 200, handle + struct.pack(">I", 0))
    assert header["status"] == OK and struct.unpack(">i", payload[:4])[0] == 16384
    assert daemon.alive()
    conn.close()


def test_a_nul_in_a_name_cannot_overwrite_another_definition(daemon, tmp_path):
    conn = libvirt.open(daemon.uri)
    conn.defineXML(domain_xml("victim", str(tmp_path / "s")))
    path = os.path.join(daemon.dir, "state", "domains", "victim.xml")
    wait_for(lambda: os.path.exists(path), 10, "the definition's file")
    before = open(path).read()
    for name in ["victim.xml\0evil", "victim.xml&#0;evil", "..", ".", "a/b", "x\x01y"]:
        xml = domain_xml(name, str(tmp_path / "s")).replace("<memory unit='MiB'>128</memory>", "<memory unit='MiB'>64</memory>")
        result = answer(daemon.socket, REMOTE, 11, xdr_string(xml))
        assert result[0] == ERROR, name
    assert open(path).read() == before
    assert definition_files(os.path.join(daemon.dir, "state")) == ["victim.xml"]
    assert daemon.alive()
    conn.close()


def test_names_libvirt_accepts_run_and_survive_a_restart(daemon, tmp_path):
    names = ["with,comma", "with space", "ünï-名"]
    conn = libvirt.open(daemon.uri)
    for i, name in enumerate(names):
        conn.defineXML(domain_xml(name, str(tmp_path / f"serial{i}.log")))
        conn.lookupByName(name).create()
    for i, name in enumerate(names):
        wait_for_boot(str(tmp_path / f"serial{i}.log"), timeout=120, what=f"{name} to boot")
    conn.close()
    daemon.restart(kill=True)
    conn = libvirt.open(daemon.uri)
    for name in names:
        dom = conn.lookupByName(name)
        assert dom.isActive() and dom.isPersistent()
        dom.destroy()
    assert sorted(conn.listDefinedDomains()) == sorted(names)
    conn.close()


def test_monitor_ids_surrogates_and_big_numbers(running):
    daemon = running
    bad = run("virsh", "-c", daemon.uri, "qemu-monitor-command", "mon", r'{"execute":"query-status","id":"\ud800\u0041"}', check=False)
    assert bad.returncode != 0 and "surrogate" in bad.stderr
    assert daemon.alive()
    out = run("virsh", "-c", daemon.uri, "qemu-monitor-command", "mon", '{"execute":"query-status","id":18446744073709551615}').stdout
    assert '"id":18446744073709551615' in out.replace(" ", "")
    out = run("virsh", "-c", daemon.uri, "qemu-monitor-command", "mon", '{"execute":"query-status","id":"\\ud83d\\ude00"}').stdout
    assert json.loads(out)["id"] == "\U0001F600"


def test_connection_limits(tmp_path):
    daemon = Daemon(extra_args=["--max-clients", "40", "--open-timeout", "2"])
    try:
        idle = [RawClient(daemon.socket) for _ in range(39)]
        # The 41st connection is closed at once; nothing else is disturbed.
        extra = RawClient(daemon.socket)
        refused = RawClient(daemon.socket)
        assert refused.receive() is None
        for c in idle + [extra]:
            c.close()
        time.sleep(0.3)
        client = RawClient(daemon.socket).open()
        assert client.call(REMOTE, 59)[0]["status"] == OK  # GET_HOSTNAME
        # A connection that never opens is closed after the open timeout.
        lazy = RawClient(daemon.socket, timeout=10)
        started = time.time()
        assert lazy.receive() is None and 1.5 < time.time() - started < 8
        assert client.call(REMOTE, 59)[0]["status"] == OK
        assert "too many clients" in daemon.log_text()
    finally:
        daemon.stop()


def test_a_flood_of_idle_connections_does_not_stop_others(daemon):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    idle = [RawClient(daemon.socket) for _ in range(1500)]
    client = RawClient(daemon.socket_ro).open()
    started = time.time()
    assert client.call(REMOTE, 59)[0]["status"] == OK
    assert time.time() - started < 2
    for c in idle:
        c.close()


def test_pipelined_calls_are_bounded_per_connection(tmp_path):
    """Twenty slow calls (starts of a guest that does not exist) pipelined in one write: all are
    answered, in any order, and the limit of calls in flight never wedges the connection."""
    daemon = Daemon(extra_args=["--max-client-requests", "2"])
    try:
        client = RawClient(daemon.socket).open()
        frames = b"".join(client.frame(REMOTE, 9, xdr_domain("nosuch")) for _ in range(20))
        client.send_raw(frames + client.frame(REMOTE, 59))
        serials = set()
        while len(serials) < 21:
            packet = client.receive()
            assert packet is not None
            serials.add(packet[0]["serial"])
        assert daemon.alive()
    finally:
        daemon.stop()
