"""Domain definitions through the real virsh and libvirt-python (acceptance of the definitions issue)."""
import os
import re
import subprocess
import xml.etree.ElementTree as ET

import libvirt
import pytest

from conftest import Daemon, binary, run
from guest import definition_files, wait_for

QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"

NAMESPACED = """<domain type='kvm' xmlns:q9='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>2</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><source file='/var/lib/images/x.qcow2'/><target dev='vda' bus='virtio'/><driver type='qcow2'/><alias name='ua-disk0'/></disk>
    <interface type='user'><model type='virtio'/><alias name='ua-net0'/></interface>
  </devices>
  <q9:commandline>
    <q9:arg value='-newarg'/>
    <q9:arg value='parameter'/>
    <q9:env name='NS' value='ns'/>
    <q9:env name='BAR'/>
    <q9:alter option='device'>
      <q9:match>virtio-net</q9:match>
      <q9:modify>romfile=</q9:modify>
      <q9:extra>-boot</q9:extra>
    </q9:alter>
  </q9:commandline>
  <q9:capabilities><q9:add capability='vnc-colon'/><q9:del capability='name'/></q9:capabilities>
  <q9:override><q9:device alias='ua-net0'><q9:frontend>
    <q9:property name='romfile' type='string' value=''/>
    <q9:property name='x-txburst' type='unsigned' value='128'/>
    <q9:property name='old' type='remove'/>
  </q9:frontend></q9:device></q9:override>
  <q9:deprecation behavior='reject'/>
  <q9:object id='rng0'><qom-type>rng-random</qom-type><filename>/dev/urandom</filename></q9:object>
  <q9:global><driver>virtio-net-pci</driver><property>x-mtu-bypass-backend</property><value>off</value></q9:global>
</domain>
"""


def q(tag):
    return "{%s}%s" % (QEMU_NS, tag)


def check_namespace(xml):
    assert "xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'" in xml
    assert "q9:" not in xml
    root = ET.fromstring(xml)
    cmd = root.find(q("commandline"))
    assert [a.get("value") for a in cmd.findall(q("arg"))] == ["-newarg", "parameter"]
    assert [(e.get("name"), e.get("value")) for e in cmd.findall(q("env"))] == [("NS", "ns"), ("BAR", None)]
    alter = cmd.find(q("alter"))
    assert alter.get("option") == "-device"
    assert alter.find(q("match")).text == "virtio-net" and alter.find(q("modify")).text == "romfile="
    assert alter.find(q("extra")).text == "-boot"
    caps = root.find(q("capabilities"))
    assert [c.get("capability") for c in caps.findall(q("add"))] == ["vnc-colon"]
    assert [c.get("capability") for c in caps.findall(q("del"))] == ["name"]
    props = root.find(q("override")).find(q("device")).find(q("frontend")).findall(q("property"))
    assert [(p.get("name"), p.get("type"), p.get("value")) for p in props] == [
        ("romfile", "string", ""), ("x-txburst", "unsigned", "128"), ("old", "remove", None)]
    assert root.find(q("deprecation")).get("behavior") == "reject"
    obj = root.find(q("object"))
    assert obj.get("id") == "rng0" and [(c.tag, c.text) for c in obj] == [("qom-type", "rng-random"), ("filename", "/dev/urandom")]
    assert [c.tag for c in root.find(q("global"))] == ["driver", "property", "value"]
    # libvirt's order: devices, then commandline, capabilities, override, deprecation; then sections.
    tags = [c.tag for c in root]
    assert tags.index("devices") < tags.index(q("commandline")) < tags.index(q("capabilities")) < tags.index(q("override")) \
        < tags.index(q("deprecation")) < tags.index(q("object")) < tags.index(q("global"))


def test_virsh_define_dumpxml_namespace_and_restart(tmp_path):
    daemon = Daemon()
    try:
        f = tmp_path / "d.xml"
        f.write_text(NAMESPACED.format(name="nsdemo"))
        out = run("virsh", "-c", daemon.uri, "define", str(f)).stdout
        assert "Domain 'nsdemo' defined from" in out
        first = run("virsh", "-c", daemon.uri, "dumpxml", "nsdemo").stdout
        check_namespace(first)
        assert "<memory unit='KiB'>131072</memory>" in first
        assert re.search(r"<type arch='x86_64' machine='pc-q35-[0-9.]+'>hvm</type>", first)
        state_dir = os.path.join(daemon.dir, "state")
        wait_for(lambda: definition_files(state_dir) == ["nsdemo.xml"], 10, "the definition's file")
        # Restart the daemon on the same directories: the definition is still there, unchanged.
        daemon.process.terminate()
        daemon.process.wait(10)
        daemon.log.close()
        again = Daemon.__new__(Daemon)
        again.dir = daemon.dir
        again.socket, again.socket_ro = daemon.socket, daemon.socket_ro
        again.log = open(os.path.join(daemon.dir, "corrald2.log"), "w")
        again.process = subprocess.Popen(
            [binary("corrald"), "--socket", daemon.socket, "--socket-ro", daemon.socket_ro,
             "--state-dir", state_dir, "--run-dir", os.path.join(daemon.dir, "run"), "--no-default-network"],
            stdout=again.log, stderr=subprocess.STDOUT)
        import time
        deadline = time.time() + 20
        while not os.path.exists(daemon.socket):
            assert time.time() < deadline
            time.sleep(0.02)
        daemon = again
        assert run("virsh", "-c", daemon.uri, "list", "--all", "--name").stdout.split() == ["nsdemo"]
        assert run("virsh", "-c", daemon.uri, "dumpxml", "nsdemo").stdout == first
        info = run("virsh", "-c", daemon.uri, "dominfo", "nsdemo").stdout
        assert re.search(r"^State:\s+shut off$", info, re.M) and re.search(r"^CPU\(s\):\s+2$", info, re.M)
        assert run("virsh", "-c", daemon.uri, "domstate", "nsdemo", "--reason").stdout.strip() == "shut off (unknown)"
        uuid = run("virsh", "-c", daemon.uri, "domuuid", "nsdemo").stdout.strip()
        assert run("virsh", "-c", daemon.uri, "domname", uuid).stdout.strip() == "nsdemo"
        assert run("virsh", "-c", daemon.uri, "domid", "nsdemo").stdout.strip() == "-"
        assert "marked as autostarted" in run("virsh", "-c", daemon.uri, "autostart", "nsdemo").stdout
        assert re.search(r"^Autostart:\s+enable$", run("virsh", "-c", daemon.uri, "dominfo", "nsdemo").stdout, re.M)
        assert "has been undefined" in run("virsh", "-c", daemon.uri, "undefine", "nsdemo").stdout
        assert run("virsh", "-c", daemon.uri, "list", "--all", "--name").stdout.strip() == ""
        wait_for(lambda: definition_files(state_dir) == [], 10, "the definition's file to go")
    finally:
        daemon.stop()


def test_libvirt_python_define_xmldesc_list_undefine(daemon):
    conn = libvirt.open(daemon.uri)
    try:
        dom = conn.defineXML(NAMESPACED.format(name="pydemo"))
        assert dom.name() == "pydemo" and len(dom.UUIDString()) == 36
        check_namespace(dom.XMLDesc())
        assert [d.name() for d in conn.listAllDomains()] == ["pydemo"]  # flags 0: all
        assert conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE) == []
        assert [d.name() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_INACTIVE)] == ["pydemo"]
        assert conn.numOfDefinedDomains() == 1 and conn.numOfDomains() == 0
        assert conn.listDefinedDomains() == ["pydemo"]
        assert dom.isActive() == 0 and dom.isPersistent() == 1
        assert dom.state() == [libvirt.VIR_DOMAIN_SHUTOFF, 0]
        info = dom.info()
        assert info[0] == libvirt.VIR_DOMAIN_SHUTOFF and info[1] == 131072 and info[3] == 2
        assert conn.lookupByUUIDString(dom.UUIDString()).name() == "pydemo"
        # Redefinition with the same name and UUID updates it.
        updated = dom.XMLDesc().replace("<vcpu placement='static'>2</vcpu>", "<vcpu placement='static'>3</vcpu>")
        assert conn.defineXML(updated).info()[3] == 3
        # A name or UUID clash is an error.
        clash = dom.XMLDesc().replace("<name>pydemo</name>", "<name>other</name>")
        with pytest.raises(libvirt.libvirtError) as err:
            conn.defineXML(clash)
        assert "already defined with uuid" in str(err.value)
        fresh = NAMESPACED.format(name="pydemo")
        with pytest.raises(libvirt.libvirtError) as err:
            conn.defineXML(fresh)
        assert "already exists with uuid" in str(err.value)
        dom.undefine()
        assert conn.listAllDomains() == []
        with pytest.raises(libvirt.libvirtError) as err:
            conn.lookupByName("pydemo")
        assert err.value.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN
        assert "Domain not found: no domain with matching name 'pydemo'" in str(err.value)
    finally:
        conn.close()


HOSTILE = [
    ("<!DOCTYPE domain [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]><domain type='kvm'><name>&xxe;</name></domain>", "DTD"),
    ("<!DOCTYPE d [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;'>]><domain type='kvm'><name>&b;</name></domain>", "DTD"),
    ("<domain type='kvm'><name>x</name><memory>1</memory>", "never closed"),
    ("not xml at all", "before the root element"),
    ("<domain type='kvm'><name>x</name><memory>1</memory><os><type>hvm</type></os>"
     "<qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><qemu:env name='9X'/></qemu:commandline></domain>",
     "must begin with a letter or underscore"),
    ("<domain type='kvm'><name>x</name><memory>1</memory><os><type>hvm</type></os>"
     "<qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><qemu:alter option='-device'>"
     "<qemu:match>(unclosed</qemu:match><qemu:remove/></qemu:alter></qemu:commandline></domain>", "does not compile"),
    ("<domain type='kvm'><name>x</name><memory>1</memory><os><type>hvm</type></os>"
     "<qemu:object xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0' id='o'><k>a\"b</k></qemu:object></domain>", "double quote"),
    ("<domain type='kvm'>" + "<a>" * 200 + "</a>" * 200 + "</domain>", "deeper"),
]


@pytest.mark.parametrize("xml,words", HOSTILE)
def test_hostile_and_malformed_xml_change_nothing(daemon, tmp_path, xml, words):
    good = tmp_path / "good.xml"
    good.write_text(NAMESPACED.format(name="keeper"))
    run("virsh", "-c", daemon.uri, "define", str(good))
    state = os.path.join(daemon.dir, "state")
    domains = os.path.join(state, "domains")
    wait_for(lambda: definition_files(state) == ["keeper.xml"], 10, "the definition's file")
    # Nothing changes: not the definitions' files, nor the journal in front of them.
    before = {n: open(os.path.join(domains, n), "rb").read() for n in os.listdir(domains)}
    assert ".journal-0" in before
    bad = tmp_path / "bad.xml"
    bad.write_text(xml)
    result = run("virsh", "-c", daemon.uri, "define", str(bad), check=False)
    assert result.returncode != 0
    assert words in result.stderr, result.stderr
    after = {n: open(os.path.join(domains, n), "rb").read() for n in os.listdir(domains)}
    assert after == before
    assert run("virsh", "-c", daemon.uri, "list", "--all", "--name").stdout.split() == ["keeper"]


def test_read_only_may_look_but_not_change(daemon, tmp_path):
    f = tmp_path / "d.xml"
    f.write_text(NAMESPACED.format(name="rodemo"))
    run("virsh", "-c", daemon.uri, "define", str(f))
    for args, api in ((["define", str(f)], "virDomainDefineXML"), (["undefine", "rodemo"], "virDomainUndefineFlags"),
                      (["autostart", "rodemo"], "virDomainSetAutostart")):
        result = run("virsh", "-r", "-c", daemon.uri_ro, *args, check=False)
        assert result.returncode != 0
        assert f"operation forbidden: read only access prevents {api}" in result.stderr
    assert "rodemo" in run("virsh", "-r", "-c", daemon.uri_ro, "list", "--all").stdout
    assert "<name>rodemo</name>" in run("virsh", "-r", "-c", daemon.uri_ro, "dumpxml", "rodemo").stdout


def test_corrupt_definition_is_skipped_and_the_rest_load(tmp_path):
    state = tmp_path / "state"
    (state / "domains").mkdir(parents=True)
    (state / "domains" / "good.xml").write_text(
        "<domain type='qemu'><name>good</name><memory>1024</memory><os><type>hvm</type></os></domain>")
    (state / "domains" / "broken.xml").write_text("<domain type='qemu'><name>broken</name")
    (state / "domains" / "liar.xml").write_text(
        "<domain type='qemu'><name>notliar</name><memory>1024</memory><os><type>hvm</type></os></domain>")
    log = tmp_path / "log"
    sock = str(tmp_path / "sock")
    proc = subprocess.Popen([binary("corrald"), "--socket", sock, "--socket-ro", sock + "-ro", "--state-dir", str(state),
                             "--run-dir", str(tmp_path / "run"), "--no-default-network"], stdout=open(log, "w"), stderr=subprocess.STDOUT)
    try:
        import time
        deadline = time.time() + 20
        while not os.path.exists(sock):
            assert proc.poll() is None and time.time() < deadline
            time.sleep(0.02)
        names = run("virsh", "-c", f"qemu+unix:///system?socket={sock}", "list", "--all", "--name").stdout.split()
        assert names == ["good"]
        text = log.read_text()
        assert "skipping a corrupt definition" in text and "broken.xml" in text
        assert "does not match its file" in text
    finally:
        proc.terminate()
        proc.wait(10)


def test_full_disk_gives_a_clear_error_and_loses_nothing(tmp_path):
    """The state directory on a tiny tmpfs (room for the emulator probe cache, ~80 KiB, and the
    journal): a define that cannot be written fails cleanly."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)]).returncode != 0:
        pytest.fail("cannot mount a tmpfs (the test needs root, as CI has)")
    sock = str(tmp_path / "sock")
    proc = None
    try:
        proc = subprocess.Popen([binary("corrald"), "--socket", sock, "--socket-ro", sock + "-ro",
                                 "--state-dir", str(mnt / "state"), "--run-dir", str(tmp_path / "run"), "--no-default-network"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import time
        deadline = time.time() + 20
        while not os.path.exists(sock):
            assert proc.poll() is None and time.time() < deadline
            time.sleep(0.02)
        uri = f"qemu+unix:///system?socket={sock}"
        small = tmp_path / "small.xml"
        small.write_text("<domain type='qemu'><name>first</name><memory>1024</memory><os><type>hvm</type></os></domain>")
        run("virsh", "-c", uri, "define", str(small))
        wait_for(lambda: definition_files(str(mnt / "state")) == ["first.xml"], 10, "the definition's file")
        with open(mnt / "filler", "wb") as f:
            try:
                f.write(b"\0" * (1 << 20))
            except OSError:
                pass
        big = tmp_path / "big.xml"
        big.write_text("<domain type='qemu'><name>second</name><description>" + "x" * 100000 +
                       "</description><memory>1024</memory><os><type>hvm</type></os></domain>")
        result = run("virsh", "-c", uri, "define", str(big), check=False)
        assert result.returncode != 0
        assert "No space left on device" in result.stderr, result.stderr
        assert run("virsh", "-c", uri, "list", "--all", "--name").stdout.split() == ["first"]
        # No temporary file left, and the journal holds nothing of the refused definition.
        assert sorted(os.listdir(mnt / "state" / "domains")) == [".journal-0", ".journal-1", "first.xml"]
        os.remove(mnt / "filler")
        run("virsh", "-c", uri, "define", str(big))
        assert run("virsh", "-c", uri, "list", "--all", "--name").stdout.split() == ["first", "second"]
    finally:
        if proc:
            proc.terminate()
            proc.wait(10)
        subprocess.run(["umount", str(mnt)])


ROUND_TRIP = """<domain type='kvm'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <title>Round trip</title>
  <description>compare with libvirtd</description>
  <memory unit='MiB'>256</memory>
  <currentMemory unit='MiB'>128</currentMemory>
  <vcpu>2</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type><boot dev='hd'/><boot dev='cdrom'/></os>
  <features><acpi/><apic/></features>
  <cpu mode='host-passthrough'/>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/var/lib/corral-test/a.qcow2'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='/var/lib/corral-test/b.iso'/><target dev='sda' bus='sata'/><readonly/></disk>
    <interface type='user'><mac address='52:54:00:11:22:33'/><model type='virtio'/></interface>
    <serial type='pty'><target port='0'/></serial>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <input type='tablet' bus='usb'/>
    <graphics type='vnc' port='-1' autoport='yes'/>
    <video><model type='virtio' heads='1' primary='yes'/></video>
    <memballoon model='virtio'/>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
    <watchdog model='i6300esb' action='reset'/>
  </devices>
</domain>
"""


def meaning(xml):
    """The facts both daemons must agree on."""
    r = ET.fromstring(xml)
    dev = r.find("devices")
    return {
        "type": r.get("type"), "name": r.findtext("name"), "uuid": r.findtext("uuid"), "title": r.findtext("title"),
        "description": r.findtext("description"),
        "memory": (r.find("memory").get("unit"), r.findtext("memory")),
        "currentMemory": (r.find("currentMemory").get("unit"), r.findtext("currentMemory")),
        "vcpu": r.findtext("vcpu"), "os_type": r.find("os/type").text, "arch": r.find("os/type").get("arch"),
        "machine": r.find("os/type").get("machine"), "boot": [b.get("dev") for b in r.findall("os/boot")],
        "features": sorted(c.tag for c in r.find("features")), "cpu": r.find("cpu").get("mode"),
        "clock": r.find("clock").get("offset"),
        "events": [r.findtext(e) for e in ("on_poweroff", "on_reboot", "on_crash")],
        "emulator": dev.findtext("emulator"),
        "disks": [(d.get("type"), d.get("device"), d.find("driver").get("type"), d.find("source").get("file"),
                   d.find("target").get("dev"), d.find("target").get("bus"), d.find("readonly") is not None)
                  for d in dev.findall("disk")],
        "interfaces": [(i.get("type"), i.find("mac").get("address"), i.find("model").get("type")) for i in dev.findall("interface")],
        "serials": [s.get("type") for s in dev.findall("serial")],
        "consoles": [(c.get("type"), c.find("target").get("type")) for c in dev.findall("console")],
        "channels": [(c.get("type"), c.find("target").get("name")) for c in dev.findall("channel")],
        "inputs": sorted((i.get("type"), i.get("bus")) for i in dev.findall("input")),
        "graphics": [(g.get("type"), g.get("autoport")) for g in dev.findall("graphics")],
        "video": [v.find("model").get("type") for v in dev.findall("video")],
        "memballoon": dev.find("memballoon").get("model"),
        "rng": [(g.get("model"), g.find("backend").get("model"), g.findtext("backend")) for g in dev.findall("rng")],
        "watchdog": [(w.get("model"), w.get("action")) for w in dev.findall("watchdog")],
        "pci_root": [c.get("model") for c in dev.findall("controller") if c.get("type") == "pci" and c.get("index") == "0"],
    }


def test_round_trip_means_the_same_as_libvirtd(daemon, libvirtd, tmp_path):
    import uuid as uuidlib
    name = "corral-roundtrip"
    xml = ROUND_TRIP.format(name=name, uuid=str(uuidlib.uuid4()))
    f = tmp_path / "rt.xml"
    f.write_text(xml)
    run("virsh", "-c", libvirtd, "define", str(f))
    try:
        theirs = run("virsh", "-c", libvirtd, "dumpxml", "--inactive", name).stdout
    finally:
        run("virsh", "-c", libvirtd, "undefine", name, check=False)
    run("virsh", "-c", daemon.uri, "define", str(f))
    ours = run("virsh", "-c", daemon.uri, "dumpxml", "--inactive", name).stdout
    a, b = meaning(ours), meaning(theirs)
    assert a == b, {k: (a[k], b[k]) for k in a if a[k] != b[k]}


def test_a_qemu_that_dies_at_start_is_reported_and_leaves_nothing(daemon, tmp_path):
    """QEMU exits before its monitor opens (an option it does not know, passed through the qemu
    namespace): the start fails with QEMU's own words, and no run directory or domain state is
    left behind."""
    from guest import domain_xml
    xml = domain_xml("dies", str(tmp_path / "s.log"),
                     namespace="<qemu:commandline><qemu:arg value='-corral-no-such-option'/></qemu:commandline>")
    (tmp_path / "d.xml").write_text(xml)
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "d.xml"))
    result = run("virsh", "-c", daemon.uri, "start", "dies", check=False)
    assert result.returncode != 0 and "qemu unexpectedly closed the monitor" in result.stderr, result.stderr
    assert "-corral-no-such-option" in result.stderr
    assert run("virsh", "-c", daemon.uri, "domstate", "dies").stdout.strip() == "shut off"
    assert not os.path.exists(os.path.join(daemon.dir, "run", "domains", "dies", "qmp.sock"))
    run("virsh", "-c", daemon.uri, "undefine", "dies")


def test_a_guest_with_leases_starts_as_under_libvirts_default_lock_manager(daemon, tmp_path):
    """`<lease>`s are kept and acquired by no lock manager (libvirt's default `nop` manager):
    the guest starts, the live and inactive XML keep them as libvirt writes them, and they
    attach and detach live and in the definition with libvirt's messages."""
    from guest import domain_xml
    lease = ("<lease><target path='/var/lib/sanlock/area' offset='0'/><key>k1</key><lockspace>area</lockspace></lease>"
             "<lease><lockspace>area</lockspace><key>k2</key><target path='/var/lib/sanlock/area' offset='1048576'/></lease>")
    (tmp_path / "leased.xml").write_text(domain_xml("leased", str(tmp_path / "serial.log"), devices=lease))
    run("virsh", "-c", daemon.uri, "define", str(tmp_path / "leased.xml"))
    run("virsh", "-c", daemon.uri, "start", "leased")
    try:
        expected = ("<lease>\n      <lockspace>area</lockspace>\n      <key>k1</key>\n      <target path='/var/lib/sanlock/area'/>\n    </lease>\n"
                    "    <lease>\n      <lockspace>area</lockspace>\n      <key>k2</key>\n"
                    "      <target path='/var/lib/sanlock/area' offset='1048576'/>\n    </lease>")
        for flags in ([], ["--inactive"]):
            assert expected in run("virsh", "-c", daemon.uri, "dumpxml", "leased", *flags).stdout
        assert run("virsh", "-c", daemon.uri, "domstate", "leased").stdout.strip() == "running"
        # Leases attach and detach, live and in the definition, named by key and lock space.
        third = tmp_path / "third.xml"
        third.write_text("<lease><lockspace>area</lockspace><key>k3</key><target path='/var/lib/sanlock/area' offset='2097152'/></lease>")
        run("virsh", "-c", daemon.uri, "attach-device", "leased", str(third), "--live", "--config")
        for flags in ([], ["--inactive"]):
            assert "<key>k3</key>" in run("virsh", "-c", daemon.uri, "dumpxml", "leased", *flags).stdout
        again = run("virsh", "-c", daemon.uri, "attach-device", "leased", str(third), "--live", check=False)
        assert again.returncode != 0 and "Lease k3 in lockspace area already exists" in again.stderr
        first = tmp_path / "first.xml"
        first.write_text("<lease><lockspace>area</lockspace><key>k1</key><target path='/var/lib/sanlock/area'/></lease>")
        run("virsh", "-c", daemon.uri, "detach-device", "leased", str(first), "--live")
        assert "<key>k1</key>" not in run("virsh", "-c", daemon.uri, "dumpxml", "leased").stdout
        assert "<key>k1</key>" in run("virsh", "-c", daemon.uri, "dumpxml", "leased", "--inactive").stdout
        missing = run("virsh", "-c", daemon.uri, "detach-device", "leased", str(first), "--live", check=False)
        assert missing.returncode != 0 and "Lease k1 in lockspace area does not exist" in missing.stderr
    finally:
        run("virsh", "-c", daemon.uri, "destroy", "leased", check=False)


def test_definitions_answered_survive_a_killed_daemon(daemon):
    """A define answers once the daemon's journal holds the definition; the file follows when the
    journal is idle. A daemon killed at once (SIGKILL) before writing any file finds every
    answered definition at its next start, as it was, and writes the files then."""
    conn = libvirt.open(daemon.uri)
    dumped = {}
    for index in range(40):
        name = f"kept{index:02d}"
        dom = conn.defineXML(NAMESPACED.format(name=name))
        dumped[name] = dom.XMLDesc(0)
    conn.lookupByName("kept07").undefine()
    del dumped["kept07"]
    # Redefined with a change after the first define: the later one counts.
    changed = dumped["kept03"].replace("<memory unit='KiB'>131072</memory>", "<memory unit='KiB'>262144</memory>")
    assert changed != dumped["kept03"]
    dumped["kept03"] = conn.defineXML(changed).XMLDesc(0)
    assert "262144" in dumped["kept03"]
    conn.close()
    daemon.restart(kill=True)
    conn = libvirt.open(daemon.uri)
    try:
        assert sorted(d.name() for d in conn.listAllDomains()) == sorted(dumped)
        for name, xml in dumped.items():
            assert conn.lookupByName(name).XMLDesc(0) == xml, name
    finally:
        conn.close()
    state = os.path.join(daemon.dir, "state")
    assert definition_files(state) == sorted(n + ".xml" for n in dumped)
