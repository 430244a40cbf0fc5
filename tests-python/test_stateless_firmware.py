"""<loader stateless='yes'>: firmware that keeps no variable store. A stateless pflash loader
runs with its code image only (no <nvram>, no store file made); `firmware='efi'` with a
stateless loader takes only a stateless flash from the host's firmware descriptors, and
refuses the start, as libvirtd does, when the host has none; a stateless loader given a
variable store is refused at define with libvirt's words and error code."""
import json
import os

import libvirt
import pytest

from conftest import run
from guest import remove_guests

OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"


def firmware_guest(name, os_element):
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  {os_element}
  <features><acpi/></features>
  <devices><graphics type='vnc' autoport='yes'/></devices>
</domain>"""


def stateless_descriptor_on_host():
    for directory in ("/etc/qemu/firmware", "/usr/share/qemu/firmware"):
        for name in os.listdir(directory) if os.path.isdir(directory) else []:
            try:
                mapping = json.load(open(os.path.join(directory, name))).get("mapping", {})
            except (OSError, ValueError):
                continue
            if mapping.get("device") == "flash" and mapping.get("mode") == "stateless":
                return True
    return False


def test_a_stateless_pflash_loader_runs_without_a_variable_store(daemon, tmp_path):
    if not os.path.exists(OVMF_CODE):
        pytest.fail(f"{OVMF_CODE} is missing: Scripts/install-dependencies.sh installs ovmf")
    loader = f"<loader readonly='yes' type='pflash' stateless='yes'>{OVMF_CODE}</loader>"
    (tmp_path / "sl.xml").write_text(firmware_guest("sl", f"<os><type arch='x86_64' machine='q35'>hvm</type>{loader}</os>"))
    try:
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "sl.xml"))
        run("virsh", "-c", daemon.uri, "start", "sl")
        live = run("virsh", "-c", daemon.uri, "dumpxml", "sl").stdout
        assert "stateless='yes'" in live and "<nvram" not in live, live
        # QEMU has the code image as its only flash device.
        blocks = json.loads(run("virsh", "-c", daemon.uri, "qemu-monitor-command", "sl", '{"execute":"query-block"}').stdout)["return"]
        flashes = [block for block in blocks if block.get("inserted", {}).get("file") and "pflash" in block["device"]]
        assert [block["inserted"]["file"] for block in flashes] == [OVMF_CODE], blocks
        assert not os.path.exists(os.path.join(daemon.dir, "state", "nvram", "sl_VARS.fd"))
    finally:
        remove_guests(daemon, "sl")
    assert daemon.alive()


def test_firmware_autoselection_of_a_stateless_loader_as_libvirtd(daemon, libvirtd, tmp_path):
    (tmp_path / "sa.xml").write_text(firmware_guest("sa", "<os firmware='efi'><type arch='x86_64' machine='q35'>hvm</type><loader stateless='yes'/></os>"))
    results = {}
    for uri in (daemon.uri, libvirtd):
        run("virsh", "-c", uri, "define", str(tmp_path / "sa.xml"))
        try:
            results[uri] = run("virsh", "-c", uri, "start", "sa", check=False)
            assert "<loader stateless='yes'/>" in run("virsh", "-c", uri, "dumpxml", "sa", "--inactive").stdout
        finally:
            run("virsh", "-c", uri, "destroy", "sa", check=False)
            run("virsh", "-c", uri, "undefine", "--nvram", "sa", check=False)
    if stateless_descriptor_on_host():
        assert all(result.returncode == 0 for result in results.values()), results
    else:
        # Debian's edk2 descriptors are all split flashes: neither daemon finds one.
        for uri, result in results.items():
            assert result.returncode != 0 and "Unable to find any firmware to satisfy 'efi'" in result.stderr, (uri, result.stderr)
    assert daemon.alive()


@pytest.mark.parametrize("store, message", [
    ("<nvram>/tmp/x_VARS.fd</nvram>", "NVRAM is not permitted when loader is stateless"),
    ("<nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'/>", "NVRAM template is not permitted when loader is stateless"),
])
def test_a_stateless_loader_with_a_variable_store_is_refused_as_libvirtd_refuses_it(daemon, libvirtd, store, message):
    xml = firmware_guest("sv", f"<os><type arch='x86_64' machine='q35'>hvm</type>"
                               f"<loader readonly='yes' type='pflash' stateless='yes'>{OVMF_CODE}</loader>{store}</os>")
    for uri in (daemon.uri, libvirtd):
        conn = libvirt.open(uri)
        try:
            with pytest.raises(libvirt.libvirtError) as refused:
                conn.defineXML(xml)
            assert refused.value.get_error_code() == libvirt.VIR_ERR_XML_DETAIL, (uri, refused.value)
            assert message in str(refused.value), (uri, refused.value)
        finally:
            conn.close()
    assert daemon.alive()


def test_a_variable_store_named_by_its_source_is_made_used_and_removed(daemon, tmp_path):
    """libvirt 9.0's `<nvram type='file'><source file/></nvram>`: the store is made from the
    template at start, QEMU's second flash is that file, and `undefine --nvram` removes it."""
    vars_file = tmp_path / "guest_VARS.fd"
    nvram = f"<nvram type='file' template='/usr/share/OVMF/OVMF_VARS_4M.fd'><source file='{vars_file}'/></nvram>"
    loader = f"<loader readonly='yes' type='pflash'>{OVMF_CODE}</loader>"
    (tmp_path / "nf.xml").write_text(firmware_guest("nf", f"<os><type arch='x86_64' machine='q35'>hvm</type>{loader}{nvram}</os>"))
    try:
        run("virsh", "-c", daemon.uri, "define", str(tmp_path / "nf.xml"))
        run("virsh", "-c", daemon.uri, "start", "nf", "--paused")
        assert vars_file.stat().st_size == os.path.getsize("/usr/share/OVMF/OVMF_VARS_4M.fd")
        blocks = json.loads(run("virsh", "-c", daemon.uri, "qemu-monitor-command", "nf", '{"execute":"query-block"}').stdout)["return"]
        assert [block["inserted"]["file"] for block in blocks if "pflash" in block["device"]] == [OVMF_CODE, str(vars_file)], blocks
        run("virsh", "-c", daemon.uri, "destroy", "nf")
        run("virsh", "-c", daemon.uri, "undefine", "--nvram", "nf")
        assert not vars_file.exists()
    finally:
        remove_guests(daemon, "nf")
    assert daemon.alive()
