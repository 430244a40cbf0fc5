"""<pstore backend='acpi-erst'>: the guest kernel's crash records land in a host file. The test
guest is made to panic; its kernel's pstore writes the end of its log through ACPI ERST into
QEMU's acpi-erst device, whose records QEMU keeps in the file the XML names; the daemon serves
on."""
import json
import zlib

from conftest import run
from guest import domain_xml, remove_guests, wait_for
from test_guest_events import boot_with_agent, guest_shell


def qmp(uri, name, command, arguments=None):
    message = {"execute": command, **({"arguments": arguments} if arguments else {})}
    return json.loads(run("virsh", "-c", uri, "qemu-monitor-command", name, json.dumps(message)).stdout)["return"]


def logged_records(store):
    """The kernel log text of each pstore record in an ERST store file: after each CPER record's
    header and section descriptor, the log compressed with raw deflate (the kernel's pstore
    default); found by trying the offsets after the record's signature."""
    data, texts, start = store.read_bytes(), [], 0
    while (at := data.find(b"CPER", start)) >= 0:
        for offset in range(at, min(at + 512, len(data))):
            try:
                text = zlib.decompressobj(-15).decompress(data[offset:offset + 16384])
            except zlib.error:
                continue
            if len(text) > 64:
                texts.append(text.decode(errors="replace"))
                break
        start = at + 4
    return texts


def test_a_guest_panic_is_recorded_in_the_pstore_file(daemon, tmp_path):
    store = tmp_path / "pstore.raw"
    serial = str(tmp_path / "ps.log")
    devices = f"<pstore backend='acpi-erst'><path>{store}</path><size unit='KiB'>64</size></pstore>"
    try:
        boot_with_agent(daemon.uri, "ps", serial, tmp_path, devices=devices)
        assert qmp(daemon.uri, "ps", "qom-get", {"path": "/machine/peripheral/pstore0", "property": "memdev"}) == "/objects/mempstore0"
        assert store.stat().st_size == 64 * 1024
        live = run("virsh", "-c", daemon.uri, "dumpxml", "ps").stdout
        assert "<alias name='pstore0'/>" in live.split("<pstore")[1]
        # The kernel's ERST backend registers with pstore; a panic writes the log's end there.
        assert store.read_bytes()[:8] == b"ERSTSTOR" and not logged_records(store)
        guest_shell(daemon.uri, "ps", "echo c > /proc/sysrq-trigger")
        wait_for(lambda: any("sysrq triggered crash" in text for text in logged_records(store)), timeout=60,
                 what="the panic's log in the pstore file")
    finally:
        remove_guests(daemon, "ps")
    assert daemon.alive()
